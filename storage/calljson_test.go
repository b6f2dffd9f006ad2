package storage

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/apisensor/apisensor/model"
)

func sampleCall() *model.Call {
	ts := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	return &model.Call{
		TS:         ts,
		RespTS:     ts.Add(1500 * time.Microsecond),
		Src:        netip.MustParseAddrPort("10.0.0.1:51234"),
		Dst:        netip.MustParseAddrPort("[2001:db8::1]:443"),
		Host:       "api.example.com",
		Method:     "GET",
		URI:        "/api/v1/users/42?x=<1>&y=\"2\"",
		Path:       "/api/v1/users/42",
		Query:      "x=<1>&y=\"2\"",
		Template:   "/api/v1/users/{userId}",
		Proto:      "HTTP/1.1",
		Status:     200,
		StatusText: "OK",
		ReqBody:    model.Body{Bytes: 0},
		RespBody:   model.Body{Bytes: 321, ContentType: "application/json"},
		UserAgent:  "curl/8.0\t\x01 \u2028 bad:\xff",
		Principal:  model.Principal{Kind: model.PrincipalJWT, ID: "alice"},
		Auth:       model.Auth{Scheme: model.AuthBearerJWT},
		Flags:      model.FlagMidstream | model.FlagInterim,
		Interim:    []uint16{100},
	}
}

// The contract's fields, decoded back with the standard library.
type callLine struct {
	TS            *time.Time `json:"ts"`
	Src           string     `json:"src"`
	Dst           string     `json:"dst"`
	Host          string     `json:"host"`
	Method        string     `json:"method"`
	URI           string     `json:"uri"`
	Path          string     `json:"path"`
	Template      string     `json:"template"`
	Status        uint16     `json:"status"`
	ReqBodyBytes  int64      `json:"req_body_bytes"`
	RespBodyBytes int64      `json:"resp_body_bytes"`
	UserAgent     string     `json:"user_agent"`
	Principal     string     `json:"principal"`
	LatencyMs     float64    `json:"latency_ms"`
	Flags         []string   `json:"flags"`
	Interim       []uint16   `json:"interim"`
}

func TestCallJSONRoundTrip(t *testing.T) {
	c := sampleCall()
	line := AppendCallJSON(nil, c)
	var got callLine
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, line)
	}
	if !got.TS.Equal(c.TS) || got.Src != "10.0.0.1:51234" || got.Dst != "[2001:db8::1]:443" ||
		got.Host != c.Host || got.Method != c.Method || got.URI != c.URI || got.Path != c.Path ||
		got.Template != c.Template || got.Status != 200 || got.RespBodyBytes != 321 ||
		got.Principal != "jwt:alice" || got.LatencyMs != 1.5 {
		t.Fatalf("round trip mismatch: %+v\n%s", got, line)
	}
	if want := strings.ToValidUTF8(c.UserAgent, "\ufffd"); got.UserAgent != want {
		t.Fatalf("user agent %q, want %q", got.UserAgent, want)
	}
	if strings.Join(got.Flags, ",") != "midstream,interim" || len(got.Interim) != 1 {
		t.Fatalf("flags %v interim %v", got.Flags, got.Interim)
	}
}

// Every byte sequence in every string field must come out as valid JSON
// that decodes to the same text (invalid UTF-8 aside).
func TestAppendStringMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		b := make([]byte, r.IntN(24))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		s := string(b)
		enc := appendString(nil, s)
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, enc, err)
		}
		var std bytes.Buffer
		e := json.NewEncoder(&std)
		e.SetEscapeHTML(false)
		e.Encode(s)
		if strings.TrimSuffix(std.String(), "\n") != string(enc) {
			t.Fatalf("%q: got %s, encoding/json %s", s, enc, std.String())
		}
	}
}

func TestResponseOnlyCallHasNullTS(t *testing.T) {
	c := &model.Call{Status: 200, Flags: model.FlagNoRequest}
	var got callLine
	if err := json.Unmarshal(AppendCallJSON(nil, c), &got); err != nil {
		t.Fatal(err)
	}
	if got.TS != nil || got.Status != 200 {
		t.Fatalf("got %+v", got)
	}
}

func BenchmarkCallJSON(b *testing.B) {
	c := sampleCall()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendCallJSON(buf[:0], c)
	}
}

// BenchmarkCallJSONStdlib is the reference the hand-written encoder is
// measured against: the same fields through encoding/json.
func BenchmarkCallJSONStdlib(b *testing.B) {
	c := sampleCall()
	b.ReportAllocs()
	for b.Loop() {
		l := callLine{TS: &c.TS, Src: c.Src.String(), Dst: c.Dst.String(), Host: c.Host, Method: c.Method,
			URI: c.URI, Path: c.Path, Template: c.Template, Status: c.Status, RespBodyBytes: c.RespBody.Bytes,
			UserAgent: c.UserAgent, Principal: c.Principal.String(), LatencyMs: float64(c.Latency().Microseconds()) / 1000,
			Flags: c.Flags.Names(), Interim: c.Interim}
		if _, err := json.Marshal(&l); err != nil {
			b.Fatal(err)
		}
	}
}
