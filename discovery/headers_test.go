package discovery

import (
	"testing"

	"github.com/apisensor/apisensor/model"
)

func TestSecurityHeaderBits(t *testing.T) {
	if securityHeaders[0] != "Strict-Transport-Security" || 1<<0 != secHSTS {
		t.Fatal("secHSTS does not name Strict-Transport-Security")
	}
	if securityHeaders[2] != "X-Content-Type-Options" || 1<<2 != secXCTO {
		t.Fatal("secXCTO does not name X-Content-Type-Options")
	}
}

// TestScanRespHeadersMatchesHeaders checks the one-pass scan against
// model.Headers.Has/Get, Unicode case folding included.
func TestScanRespHeadersMatchesHeaders(t *testing.T) {
	blocks := []model.Headers{
		nil,
		{{Name: "Content-Type", Value: "application/json"}, {Name: "SERVER", Value: "nginx/1.2"}},
		{{Name: "server", Value: ""}, {Name: "Server", Value: "x/1"}, {Name: "x-powered-by", Value: "PHP/8"}},
		{{Name: "strict-transport-security", Value: "max-age=1"}, {Name: "X-CONTENT-TYPE-OPTIONS", Value: "nosniff"}},
		{{Name: "\u017ferver", Value: "long-s/1"}, {Name: "X-A\u017fpNet-Ver\u017fion", Value: "4.0"}},
		{{Name: "Cache-Control", Value: "no-store"}, {Name: "Cache-Contro", Value: "x"}, {Name: "Cache-Controll", Value: "y"}},
		{{Name: "Access-Control-Allow-Origin", Value: "https://a"}, {Name: "access-control-allow-credentials", Value: " true "},
			{Name: "Access-Control-Allow-Origin", Value: "https://b"}},
		{{Name: "Referrer-Policy", Value: "no-referrer"}, {Name: "Permissions-Policy", Value: "x"}, {Name: "X-Frame-Options", Value: "DENY"},
			{Name: "Content-Security-Policy", Value: "x"}, {Name: "Cross-Origin-Resource-Policy", Value: "x"}, {Name: "Cross-Origin-Opener-Policy", Value: "x"}},
		{{Name: "Content-Type\u212a", Value: "kelvin"}, {Name: "Origin", Value: "o"}, {Name: "\u212a", Value: "k"}},
	}
	names := [numHdrVals]string{"Content-Type", "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Server", "X-Powered-By", "X-AspNet-Version"}
	for i, hs := range blocks {
		r := scanRespHeaders(hs)
		for j, h := range securityHeaders {
			if got := r.sec&(1<<j) != 0; got != hs.Has(h) {
				t.Errorf("block %d: %s present = %v, Has says %v", i, h, got, hs.Has(h))
			}
		}
		for v, n := range names {
			if got := r.get(v); got != hs.Get(n) {
				t.Errorf("block %d: %s = %q, Get says %q", i, n, got, hs.Get(n))
			}
		}
	}
}

func TestContainsPassWordMatchesContainsFold(t *testing.T) {
	for _, s := range []string{"", "p", "pas", "PASS", "xxPaSsword", "pwd", "PW", "pWd!", "secre", "SECRET", "sEcReT1", "0pP", "\xf0pass", "ppwd", "sssecret", "pa\x00ss"} {
		want := containsFold([]byte(s), "pass") || containsFold([]byte(s), "pwd") || containsFold([]byte(s), "secret")
		if got := containsPassWord([]byte(s)); got != want {
			t.Errorf("containsPassWord(%q) = %v, want %v", s, got, want)
		}
	}
}

var benchRespHeaders = model.Headers{
	{Name: "Date", Value: "Mon, 05 Jan 2026 09:00:00 GMT"}, {Name: "Server", Value: "nginx"},
	{Name: "Content-Type", Value: "application/json; charset=utf-8"}, {Name: "Content-Length", Value: "392"},
	{Name: "Connection", Value: "keep-alive"}, {Name: "X-Request-Id", Value: "30"},
}

// BenchmarkScanRespHeaders is the one pass per call.
func BenchmarkScanRespHeaders(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r := scanRespHeaders(benchRespHeaders)
		if r.sec != 0 {
			b.Fatal(r.sec)
		}
	}
}

// BenchmarkHeaderLoops is what the pass replaced: a Has per security
// header and a Get per value read.
func BenchmarkHeaderLoops(b *testing.B) {
	b.ReportAllocs()
	hs := benchRespHeaders
	for i := 0; i < b.N; i++ {
		var sec uint16
		for j, h := range securityHeaders {
			if hs.Has(h) {
				sec |= 1 << j
			}
		}
		_ = hs.Get("Content-Type")
		_ = hs.Has("X-Content-Type-Options")
		_ = hs.Has("Strict-Transport-Security")
		for _, h := range [...]string{"Server", "X-Powered-By", "X-AspNet-Version"} {
			_ = hs.Get(h)
		}
		if sec != 0 {
			b.Fatal(sec)
		}
	}
}
