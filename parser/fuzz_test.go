package parser

import (
	"testing"

	"github.com/apisensor/apisensor/model"
)

// fuzzRun feeds a two-sided conversation whole and in seeded random splits,
// and checks the invariants: no panic, bounded per-conn state, sane counts
// and results independent of how the bytes were split.
func fuzzRun(t *testing.T, evs []ev, seed int64) {
	cfg := testConfig()
	cfg.MaxHeaderBytes = 512
	cfg.MaxPipeline = 4
	cfg.MaxBody = 64
	ref, st := runBounded(t, cfg, evs, whole, false)
	got, st2 := runBounded(t, cfg, evs, randomSplit(seed), true)
	if d := diffCalls(ref, got); d != "" {
		t.Fatalf("split changes the result: %s", d)
	}
	if st.Errors != st2.Errors {
		t.Fatalf("split changes the error counts: whole %v, split %v", st.Errors, st2.Errors)
	}
	if st.Calls != uint64(len(ref)) {
		t.Fatalf("Stats.Calls %d, sink got %d", st.Calls, len(ref))
	}
	if st.Calls > st.Requests+st.Responses {
		t.Fatalf("more calls (%d) than requests+responses (%d+%d)", st.Calls, st.Requests, st.Responses)
	}
	for _, c := range ref {
		if int64(len(c.ReqBody.Data)) > c.ReqBody.Bytes || len(c.ReqBody.Data) > cfg.MaxBody ||
			int64(len(c.RespBody.Data)) > c.RespBody.Bytes || len(c.RespBody.Data) > cfg.MaxBody {
			t.Fatalf("body accounting broken: %d/%d %d/%d", len(c.ReqBody.Data), c.ReqBody.Bytes, len(c.RespBody.Data), c.RespBody.Bytes)
		}
		if c.Flags&model.FlagNoRequest != 0 && c.Method != "" {
			t.Fatalf("no-request call with method %q", c.Method)
		}
	}
}

// runBounded is run plus a check of per-conn memory after every event.
// With recycle, every call is cloned, scribbled over and handed back to the
// parser as soon as it is emitted (the most eager reuse a sink can do): a
// parser that still read a call after emitting it would give other calls
// than the run without.
func runBounded(t *testing.T, cfg Config, evs []ev, sp splitter, recycle bool) ([]*model.Call, Stats) {
	p, s := newParserMode(t, cfg, recycle)
	c := p.NewConn(defMeta())
	for i, e := range evs {
		ts := t0.Add(timeMs(i))
		if e.gap > 0 {
			c.Gap(e.dir, e.gap, ts)
		} else {
			b := []byte(e.data)
			for _, k := range sp(len(b)) {
				c.Data(e.dir, b[:k], ts)
				b = b[k:]
				if len(c.q) > cfg.MaxPipeline+1 {
					t.Fatalf("queue %d beyond MaxPipeline %d", len(c.q), cfg.MaxPipeline)
				}
				for j := range c.h {
					if len(c.h[j].buf) > cfg.MaxHeaderBytes+maxChunkLine+1 {
						t.Fatalf("buffer %d beyond bounds", len(c.h[j].buf))
					}
				}
			}
		}
	}
	c.Close(t0.Add(timeMs(len(evs))))
	return s.calls, p.Stats()
}

// recycler keeps a clone of each call and recycles the original at once,
// after overwriting everything in it.
type recycler struct {
	c *collect
	p *Parser
}

func (r *recycler) Call(c *model.Call) {
	r.c.Call(c.Clone())
	for _, hs := range []model.Headers{c.ReqHeaders, c.RespHeaders} {
		for i := range hs {
			hs[i] = model.Header{Name: "zz-scribbled", Value: "zz"}
		}
	}
	*c = model.Call{Method: "ZZ", URI: "/zz", Host: "zz", Status: 999, Slab: c.Slab}
	r.p.Recycle(c)
}

func FuzzHTTPRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x?api_key=1 HTTP/1.1\r\nContent-Length: 3\r\nAuthorization: Basic dTpw\r\n\r\nabcGET /y HTTP/1.0\r\n\r\n",
		"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"GET /\nFakeHeader\nHost: x\n\n",
		"GET /",
		"CONNECT h:443 HTTP/1.1\r\n\r\n\x16\x03\x01",
		"GET http://[::1]:80/p HTTP/1.1\r\nCookie: sid=1; a=b\r\nX-Forwarded-For: 1.2.3.4, 10.0.0.9\r\n\r\n",
	} {
		f.Add([]byte(s), int64(1), uint16(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed int64, gapAt uint16) {
		evs := []ev{c2s(string(data))}
		if g := int(gapAt); g > 0 && g < len(data) {
			evs = []ev{c2s(string(data[:g])), gap(model.ClientToServer, 3), c2s(string(data[g:]))}
		}
		evs = append(evs, s2c("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
		fuzzRun(t, evs, seed)
	})
}

func FuzzHTTPResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\nclose",
		"HTTP/1.1 2XX x\r\nTransfer-Encoding\n :chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"HTTP/1.1 101 Switching\r\nUpgrade: h2c\r\n\r\n\x00\x00",
		"<html>0.9</html>",
		"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
	} {
		f.Add([]byte(s), int64(1), uint16(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed int64, gapAt uint16) {
		evs := []ev{
			c2s("GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"),
			s2c(string(data)),
		}
		if g := int(gapAt); g > 0 && g < len(data) {
			evs = []ev{evs[0], s2c(string(data[:g])), gap(model.ServerToClient, int(gapAt%7)+1), s2c(string(data[g:]))}
		}
		fuzzRun(t, evs, seed)
	})
}

func FuzzChunked(f *testing.F) {
	for _, s := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"3;ext=\"a\"\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
		"A \r\n0123456789\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"zz\r\n",
		"fffffffffffffffff\r\n",
	} {
		f.Add([]byte(s), int64(1), uint16(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed int64, gapAt uint16) {
		head := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		evs := []ev{
			c2s("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + string(data) + "GET /b HTTP/1.1\r\n\r\n"),
			s2c(head + string(data)),
		}
		if g := int(gapAt); g > 0 && g < len(data) {
			evs = append(evs[:1], s2c(head+string(data[:g])), gap(model.ServerToClient, int(gapAt%5)+1), s2c(string(data[g:])))
		}
		fuzzRun(t, evs, seed)
	})
}
