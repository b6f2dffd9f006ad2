package parser

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/apisensor/apisensor/model"
)

// runPlain feeds evs whole to a Parser that takes no shortcut (no
// credential cut, no section reuse): the reference those must match.
func runPlain(t *testing.T, cfg Config, evs []ev) ([]*model.Call, Stats) {
	t.Helper()
	p, s := newTestParser(t, cfg)
	p.plain = true
	c := p.NewConn(defMeta())
	for i, e := range evs {
		c.Data(e.dir, []byte(e.data), t0.Add(timeMs(i)))
	}
	c.Close(t0.Add(timeMs(len(evs))))
	return s.calls, p.Stats()
}

// TestAuthCut: a block parsed in place drops its credential from the kept
// copy (prescan); the Calls must equal those of a Parser that does not, and
// runAll scribbles every input buffer after use.
func TestAuthCut(t *testing.T) {
	long := strings.Repeat("tok3n-", 20)
	tok := jwt(`{"alg":"RS256","typ":"JWT"}`, `{"sub":"carol","exp":1893456000}`) + strings.Repeat("s", 300)
	tok2 := jwt(`{"alg":"RS256"}`, `{"sub":"dave"}`) + strings.Repeat("t", 200)
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	heads := []string{
		"Authorization: Bearer " + tok,
		"authorization :\tBearer   " + tok + " \t",
		"AUTHORIZATION: " + long,
		"Authorization: Digest username=\"bob\", realm=\"r\", response=\"" + long + "\"",
		"Authorization: Basic " + strings.Repeat("YWxpY2U6cHc=", 1) + strings.Repeat("=", 20),
		"Authorization: Basic YWxpY2U6aHVudGVyMnB3aHVudGVyMnB3aHVudGVyMnB3",
		"Authorization: Bearer " + tok + "\r\nAuthorization: Bearer " + tok2,
		"Authorization:\r\nAuthorization: Bearer " + tok2,
		"Authorization: Bearer " + tok + "\r\n  folded-on",
		"X-Foo: a\r\n b\r\nAuthorization: Bearer " + tok,
		"Authorization\r\n : Bearer " + tok + "\r\nAuthorization: Bearer " + tok2,
		"Authorization: Bearer short",
		"Authorization: Bearer a b c d e f g h i j k l m n o p q r s t u v",
		"Authorization: Custom\t" + long,
		"Authorization: x " + long,
	}
	for _, hd := range heads {
		for _, withBody := range []bool{false, true} {
			req := "GET /a?x=1 HTTP/1.1\r\nHost: h.example\r\n" + hd + "\r\nX-After: 1\r\n"
			if withBody {
				req = "POST /a HTTP/1.1\r\nHost: h.example\r\n" + hd + "\r\nContent-Length: 3\r\nX-After: 1\r\n\r\nabc"
			} else {
				req += "\r\n"
			}
			other := strings.Replace(req, tok, tok2, 1)
			evs := []ev{c2s(req), s2c(resp), c2s(req), s2c(resp), c2s(other), s2c(resp), c2s(req), s2c(resp)}
			calls, _ := runAll(t, testConfig(), defMeta(), evs)
			wantN(t, calls, 4)
			ref, _ := runPlain(t, testConfig(), evs)
			if d := diffCalls(ref, calls); d != "" {
				t.Fatalf("%q: cut differs from uncut: %s", hd, d)
			}
			for _, c := range calls {
				noSecret(t, c, tok[len(tok)-300:], long)
				if got := c.ReqHeaders.Get("X-After"); got != "1" {
					t.Fatalf("%q: X-After %q", hd, got)
				}
			}
		}
	}
	// Authorization configured as an API-key header: the cut changes
	// nothing there either (the principal comes from the whole value).
	cfg := testConfig()
	cfg.APIKeyHeaders = append(cfg.APIKeyHeaders, "authorization")
	evs := []ev{c2s("GET / HTTP/1.1\r\nAuthorization: Bearer " + tok + "\r\n\r\n"), s2c(resp)}
	calls, _ := runAll(t, cfg, defMeta(), evs)
	wantN(t, calls, 1)
	if ref, _ := runPlain(t, cfg, evs); diffCalls(ref, calls) != "" {
		t.Fatalf("cut differs from uncut with Authorization as an API-key header: %s", diffCalls(ref, calls))
	}
	want(t, "redacted", calls[0].ReqHeaders.Get("Authorization"), "[redacted]")
}

// TestSectionReuse: requests repeating the previous field section byte for
// byte reuse its fields; Calls and Stats must equal a Parser that parses
// every section.
func TestSectionReuse(t *testing.T) {
	tok := jwt(`{"alg":"RS256"}`, `{"sub":"erin"}`) + strings.Repeat("q", 100)
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	sections := []string{
		"Host: a.example\r\nUser-Agent: ua/1\r\nAccept: */*\r\nAuthorization: Bearer " + tok + "\r\n",
		"Host: a.example\r\nAuthorization: Bearer short\r\nCookie: sid=abc; x=1\r\nX-Api-Key: k-1\r\n",
		"Host: a.example\r\nX-Forwarded-For: 1.2.3.4, 10.0.0.9\r\nContent-Type: text/plain\r\n",
		"Host: a.example\r\nBadline\r\nX-Obs: a\r\n  b\r\n",
		"Host: a.example\r\nBad line\r\n : cont\r\n",
		"Host: a.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
		"Host: a.example\r\nAuthorization: Digest username=\"bob\", response=\"" + strings.Repeat("9", 40) + "\"\r\n",
		"",
	}
	cfg := testConfig()
	cfg.TrustedProxies = append(cfg.TrustedProxies, netip.MustParsePrefix("10.0.0.0/8"))
	for _, sec := range sections {
		var evs []ev
		for i, target := range []string{"/a", "/b?api_key=zz", "/c", "/c"} {
			evs = append(evs, c2s("GET "+target+" HTTP/1.1\r\n"+sec+"\r\n"), s2c(resp))
			if i == 1 {
				evs = append(evs, c2s("POST /p HTTP/1.1\r\n"+sec+"Content-Length: 3\r\n\r\nxyz"), s2c(resp))
				evs = append(evs, c2s("POST /p HTTP/1.1\r\n"+sec+"Transfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\nT: 1\r\n\r\n"), s2c(resp))
			}
		}
		evs = append(evs, evs...)
		calls, st := runAll(t, cfg, defMeta(), evs)
		ref, refSt := runPlain(t, cfg, evs)
		if d := diffCalls(ref, calls); d != "" {
			t.Fatalf("%q: reuse differs from parsing: %s", sec, d)
		}
		if st != refSt {
			t.Fatalf("%q: stats %+v, want %+v", sec, st, refSt)
		}
	}
}

// TestRecycleStrings: with RecycleStrings the Calls equal those of a parser
// that keeps every string (runAll compares a recycling parser on tiny,
// scribbled chunks), also when a pipelined request holds fields of a
// section the cache has since replaced; and a keep-alive exchange gives
// every block to a Call (no chunk tainted), so the arena stays small.
func TestRecycleStrings(t *testing.T) {
	// The first block nearly fills a 256-byte chunk: the second request's
	// own block lands in another, and its reused fields must not depend on
	// the first (whose Call is recycled at once) nor on the cache entry
	// the misses replace while it waits.
	secA := "Host: a.example\r\nUser-Agent: ua/1\r\nAccept: */*\r\nX-Pad: " + strings.Repeat("p", 160) + "\r\n"
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	evs := []ev{c2s("GET /1 HTTP/1.1\r\n" + secA + "\r\n"), s2c(resp),
		c2s("GET /2 HTTP/1.1\r\n" + secA + "\r\n")} // reuses secA's fields, waits
	for i := range 6 { // misses that replace the cached section
		evs = append(evs, c2s(fmt.Sprintf("GET /m%d HTTP/1.1\r\nHost: b.example\r\nX-N: %d\r\n\r\n", i, i)))
	}
	for range 7 {
		evs = append(evs, s2c(resp))
	}
	calls, _ := runAll(t, testConfig(), defMeta(), evs)
	wantN(t, calls, 8)
	want(t, "reused field", calls[1].ReqHeaders.Get("User-Agent"), "ua/1")

	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	p, s := newTestParser(t, testConfig())
	p.cfg.RecycleStrings = true
	p.mem = newArena()
	p.mem.chunkSize, p.mem.maxAlloc = 4096, 1024
	r := &recycler{c: s, p: p}
	p.sink = r
	c := p.NewConn(defMeta())
	for i := range 2000 {
		c.Data(model.ClientToServer, []byte("GET /x/"+strconv.Itoa(i)+" HTTP/1.1\r\n"+secA+"\r\n"), t0)
		if i%2 == 0 {
			c.Data(model.ServerToClient, []byte(resp), t0)
		} else {
			c.Data(model.ServerToClient, []byte(chunked), t0)
		}
	}
	c.Close(t0)
	wantN(t, s.calls, 2000)
	want(t, "last body", string(s.calls[1999].RespBody.Data), "hello")
	if p.mem.taints != 0 || len(p.mem.chunks) > 3 {
		t.Fatalf("%d chunks tainted, %d in the arena: blocks went to no Call", p.mem.taints, len(p.mem.chunks))
	}
}

// TestSkipBodies: a parser that keeps no body bytes gives the Calls of one
// that does but for Data (nil): the same byte counts, the same Truncated
// and the same truncation flags, at MaxBody 8 so that some bodies outgrow
// it.
func TestSkipBodies(t *testing.T) {
	scripts := [][]ev{
		{c2s("POST /a HTTP/1.1\r\nContent-Length: 8\r\n\r\n12345678"), s2c("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n123456789")},
		{c2s("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n4\r\nabcd\r\n0\r\n\r\n"),
			s2c("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")},
		{c2s("GET /a HTTP/1.1\r\n\r\n"), s2c("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123"), gap(model.ServerToClient, 6), s2c("0123456789")},
		{c2s("GET /a HTTP/1.1\r\n\r\n"), s2c("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n01"), gap(model.ServerToClient, 2), s2c("01")},
		{c2s("GET /a HTTP/1.1\r\n\r\n"), s2c("HTTP/1.0 200 OK\r\n\r\nclose-delimited body"), {close: true}},
		{c2s("GET /a HTTP/1.1\r\n\r\n"), s2c("HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n0123456789"), {close: true}},
		{c2s("GET /a HTTP/1.1\r\n\r\n"), s2c("HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n0123"), gap(model.ServerToClient, 3), {close: true}},
		{c2s("GET /\r\n"), s2c("raw HTTP/0.9 reply"), {close: true}},
		{c2s("POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n"),
			s2c("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world!")},
	}
	cfg := testConfig()
	cfg.MaxBody = 8
	skip := cfg
	skip.SkipBodies = true
	for i, evs := range scripts {
		want, wantSt := run(t, cfg, defMeta(), evs, whole)
		got, st := runMode(t, skip, defMeta(), evs, randomSplit(int64(i)), true)
		flagged := 0
		for _, c := range got {
			if c.ReqBody.Data != nil || c.RespBody.Data != nil {
				t.Fatalf("script %d: body bytes kept: %q %q", i, c.ReqBody.Data, c.RespBody.Data)
			}
			if c.Flags&(model.FlagReqBodyTruncated|model.FlagRespBodyTruncated) != 0 {
				flagged++
			}
		}
		for _, c := range want {
			c.ReqBody.Data, c.RespBody.Data = nil, nil
		}
		if d := diffCalls(want, got); d != "" {
			t.Fatalf("script %d: skipping bodies changes the calls: %s", i, d)
		}
		if st != wantSt {
			t.Fatalf("script %d: stats %+v, want %+v", i, st, wantSt)
		}
		if i == 0 && flagged != 1 {
			t.Fatalf("script 0: %d calls flagged truncated, want the response's", flagged)
		}
	}
}

// TestSectionCacheOwnsItsCopy: the cached fields of a POST point into the
// cache's own copy of the section, not into the request's block, which
// also holds the Content-Length body (up to MaxBody) and would stay alive
// with the connection.
func TestSectionCacheOwnsItsCopy(t *testing.T) {
	p, s := newTestParser(t, testConfig())
	c := p.NewConn(defMeta())
	body := strings.Repeat("b", 60000)
	head := "POST /u HTTP/1.1\r\nHost: a.example\r\nContent-Length: 60000\r\n\r\n"
	c.Data(model.ClientToServer, []byte(head+body), t0)
	c.Data(model.ServerToClient, []byte("HTTP/1.1 204 No Content\r\n\r\n"), t0)
	wantN(t, s.calls, 1)
	if !c.reqSec.ok || len(c.reqSec.hdrs) == 0 || len(s.calls[0].ReqBody.Data) != len(body) {
		t.Fatal("section not cached, or body not kept")
	}
	// The block's allocation: the head right before the body.
	bodyAt := uintptr(unsafe.Pointer(&s.calls[0].ReqBody.Data[0]))
	blockLo, blockHi := bodyAt-uintptr(len(head)), bodyAt+uintptr(len(body))
	for _, f := range c.reqSec.hdrs {
		for _, s := range []string{f.Name, f.Value} {
			if len(s) == 0 {
				continue
			}
			if n := uintptr(unsafe.Pointer(unsafe.StringData(s))); n >= blockLo && n < blockHi {
				t.Fatalf("cached field %q points into the request's block", s)
			}
		}
	}
}

// TestSectionCacheAlternating: a client alternating one repeated GET with
// POSTs whose Content-Length varies keeps hitting on the GET; a section
// that differs every time fills the empty entry, then replaces it after 2,
// 4, 8, ... misses.
func TestSectionCacheAlternating(t *testing.T) {
	p, _ := newTestParser(t, testConfig())
	c := p.NewConn(defMeta())
	get := "GET /g HTTP/1.1\r\nHost: a.example\r\nUser-Agent: ua/1\r\n\r\n"
	resp := []byte("HTTP/1.1 204 No Content\r\n\r\n")
	for i := range 10 {
		c.Data(model.ClientToServer, []byte(get), t0)
		c.Data(model.ServerToClient, resp, t0)
		if i > 0 && c.reqSec.misses != 0 {
			t.Fatalf("round %d: the GET missed (%d misses)", i, c.reqSec.misses)
		}
		post := fmt.Sprintf("POST /p HTTP/1.1\r\nHost: a.example\r\nContent-Length: %d\r\n\r\n%s", i+1, strings.Repeat("x", i+1))
		c.Data(model.ClientToServer, []byte(post), t0)
		c.Data(model.ServerToClient, resp, t0)
	}
	c = p.NewConn(defMeta())
	var saves []int
	for i := 1; i <= 20; i++ {
		before := string(c.reqSec.raw)
		c.Data(model.ClientToServer, []byte(fmt.Sprintf("GET /v HTTP/1.1\r\nX-Id: %d\r\n\r\n", i)), t0)
		c.Data(model.ServerToClient, resp, t0)
		if string(c.reqSec.raw) != before {
			saves = append(saves, i)
		}
	}
	if want := []int{1, 3, 5, 9, 17}; !slices.Equal(saves, want) {
		t.Fatalf("unique sections replaced the entry at requests %v, want %v", saves, want)
	}
}
