package discovery

import (
	"strings"
	"testing"

	"github.com/apisensor/apisensor/model"
)

// FuzzObserve feeds arbitrary paths, methods, statuses and bodies: no
// panic, and a template always has as many segments as its path.
func FuzzObserve(f *testing.F) {
	f.Add("/api/v2/orders/83121", "GET", uint16(200), `{"a":1}`)
	f.Add("/files/report.pdf", "POST", uint16(201), `[{"card":"4111111111111111"}]`)
	f.Add("//a//b/", "DELETE", uint16(404), "")
	f.Add("/v1/x:cancel/%41", "PATCH", uint16(500), "Traceback (most recent call last)")
	inv := newInv(f, func(c *Config) { c.MaxNodesPerHost = 256; c.MaxEndpointsPerHost = 64; c.SampleEvery = 1 })
	i := 0
	f.Fuzz(func(t *testing.T, path, method string, status uint16, body string) {
		i++
		c := call(i, "fuzz.test", method, path, status, body)
		inv.Observe(c)
		if st := inv.Stats(); st.CounterResyncs != 0 {
			t.Fatalf("endpoint counters drifted: %+v", st)
		}
		if c.Template == "" {
			return
		}
		p, _, _ := strings.Cut(path, "?")
		if got, want := len(splitPath(c.Template, nil)), len(splitPath(p, nil)); got != want {
			t.Fatalf("path %q → template %q: %d segments, want %d", path, c.Template, got, want)
		}
		if strings.Contains(c.Template, paramPrefix) || strings.Contains(c.Template, fmtKey) {
			t.Fatalf("template %q leaks the internal parameter key", c.Template)
		}
	})
}

// FuzzClassify checks classify and splitExt on arbitrary segments.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"83121", "v1", "report.pdf", "a@b.co", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "x:y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c := classify(s, 2); c >= numSegClasses {
			t.Fatalf("class %d out of range", c)
		}
		n, e := splitExt(s)
		if n+e != s {
			t.Fatalf("splitExt(%q) = %q + %q", s, n, e)
		}
	})
}

// FuzzSensitive: the scanner never returns evidence holding a long digit run
// (an unmasked card number) and never panics.
func FuzzSensitive(f *testing.F) {
	f.Add(`{"pan":"4111 1111 1111 1111","iban":"DE89370400440532013000"}`)
	f.Add(`+14155550123 123-45-6789 AKIAIOSFODNN7EXAMPLE`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, h := range scanSensitive([]byte(s), nil) {
			if h.class == sensEmail {
				continue // the domain is kept as is
			}
			run := 0
			for i := 0; i < len(h.evidence); i++ {
				if isDigit(h.evidence[i]) {
					run++
					if run > 4 {
						t.Fatalf("evidence %q holds more than 4 digits in a row", h.evidence)
					}
				} else {
					run = 0
				}
			}
		}
	})
}

var _ = model.AuthNone
