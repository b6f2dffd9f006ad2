package discovery

import (
	"net/netip"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/apisensor/apisensor/model"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// call builds a synthetic transaction; i orders it in time.
func call(i int, host, method, path string, status uint16, body string) *model.Call {
	c := &model.Call{
		TS: t0.Add(time.Duration(i) * time.Second), Host: host, Method: method, Path: path, URI: path,
		Status: status, Proto: "HTTP/1.1",
		Src: netip.MustParseAddrPort("10.0.0.7:41000"), Dst: netip.MustParseAddrPort("10.0.0.1:80"),
	}
	c.RespTS = c.TS.Add(time.Duration(5+i%20) * time.Millisecond)
	c.ClientIP = c.Src.Addr()
	if body != "" {
		c.RespBody = model.Body{Data: []byte(body), Bytes: int64(len(body)), ContentType: "application/json"}
		c.RespHeaders = model.Headers{{Name: "Content-Type", Value: "application/json"}}
	}
	return c
}

func newInv(t testing.TB, mod func(*Config)) *Inventory {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	inv, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// repoRoot is the module root, computed from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func specPath(name string) string { return filepath.Join(repoRoot(), "testdata", "specs", name) }

func endpointByTemplate(eps []model.Endpoint, host, method, tmpl string) *model.Endpoint {
	for i := range eps {
		if eps[i].Host == host && eps[i].Method == method && eps[i].Template == tmpl {
			return &eps[i]
		}
	}
	return nil
}
