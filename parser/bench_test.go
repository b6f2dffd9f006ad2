package parser

import (
	"strings"
	"testing"
	"time"

	"github.com/apisensor/apisensor/model"
)

type discard struct{ n int }

func (d *discard) Call(*model.Call) { d.n++ }

var benchReq = []byte("GET /api/v1/users/12345/orders?limit=20&offset=40 HTTP/1.1\r\n" +
	"Host: api.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543\r\n" +
	"X-Request-Id: 7d3f0c1e-8a1b-4c2d-9e3f-112233445566\r\n" +
	"Connection: keep-alive\r\n\r\n")

var benchBody = `{"orders":[` + strings.Repeat(`{"id":1234,"total":99.5,"status":"shipped"},`, 8) + `{"id":1}]}`

var benchResp = []byte("HTTP/1.1 200 OK\r\n" +
	"Content-Type: application/json; charset=utf-8\r\n" +
	"Content-Length: " + fmtInt(len(benchBody)) + "\r\n" +
	"Cache-Control: no-store\r\n" +
	"Date: Mon, 23 Nov 2026 20:00:00 GMT\r\n\r\n" + benchBody)

func benchConn(b *testing.B) (*Parser, *Conn) {
	p, err := New(testConfig(), &discard{})
	if err != nil {
		b.Fatal(err)
	}
	return p, p.NewConn(model.ConnMeta{Client: cliAddr, Server: srvAddr})
}

// BenchmarkParseRequestResponse: one keep-alive request+response pair per
// op, each message in one Data call, Call allocation included.
func BenchmarkParseRequestResponse(b *testing.B) {
	benchPairs(b, [][]byte{benchReq}, benchResp)
}

// BenchmarkParseRequestResponseRecycled is the same with each Call handed
// back to the parser once emitted, as the sensor does after the sink.
func BenchmarkParseRequestResponseRecycled(b *testing.B) {
	r := &recycleAll{}
	p, err := New(testConfig(), r)
	if err != nil {
		b.Fatal(err)
	}
	r.p = p
	runPairs(b, p.NewConn(model.ConnMeta{Client: cliAddr, Server: srvAddr}), [][]byte{benchReq}, benchResp)
}

// BenchmarkParseRequestResponseArena is the Recycled one with
// RecycleStrings and SkipBodies, as the sensor runs without discovery:
// the strings' memory comes back too, so a pair allocates nothing.
func BenchmarkParseRequestResponseArena(b *testing.B) {
	r := &recycleAll{}
	cfg := testConfig()
	cfg.RecycleStrings, cfg.SkipBodies = true, true
	p, err := New(cfg, r)
	if err != nil {
		b.Fatal(err)
	}
	r.p = p
	runPairs(b, p.NewConn(model.ConnMeta{Client: cliAddr, Server: srvAddr}), [][]byte{benchReq}, benchResp)
}

type recycleAll struct{ p *Parser }

func (r *recycleAll) Call(c *model.Call) { r.p.Recycle(c) }

// benchPairs feeds request reqs[i%len(reqs)] and resp per op, each message
// in one Data call, on one keep-alive connection.
func benchPairs(b *testing.B, reqs [][]byte, resp []byte) {
	_, c := benchConn(b)
	runPairs(b, c, reqs, resp)
}

// runPairs is benchPairs on a given connection.
func runPairs(b *testing.B, c *Conn, reqs [][]byte, resp []byte) {
	ts := time.Unix(1, 0)
	b.SetBytes(int64(len(reqs[0]) + len(resp)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Data(model.ClientToServer, reqs[i%len(reqs)], ts)
		c.Data(model.ServerToClient, resp, ts)
	}
}

// BenchmarkParseSplit: the same pair delivered in ~100-byte segments, so
// header blocks span Data calls.
func BenchmarkParseSplit(b *testing.B) {
	_, c := benchConn(b)
	ts := time.Unix(1, 0)
	b.SetBytes(int64(len(benchReq) + len(benchResp)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, m := range []struct {
			d model.Direction
			p []byte
		}{{model.ClientToServer, benchReq}, {model.ServerToClient, benchResp}} {
			p := m.p
			for len(p) > 0 {
				k := min(100, len(p))
				c.Data(m.d, p[:k], ts)
				p = p[k:]
			}
		}
	}
}

func BenchmarkChunked(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
	for i := 0; i < 4; i++ {
		sb.WriteString("64;ext=1\r\n" + strings.Repeat("x", 100) + "\r\n")
	}
	sb.WriteString("0\r\n\r\n")
	benchPairs(b, [][]byte{benchReq}, []byte(sb.String()))
}

// BenchmarkParseJWT: the bench capture's shape: a request with an RS256
// bearer JWT (~550 bytes, most of the head) and a 6-field JSON response.
func BenchmarkParseJWT(b *testing.B) {
	tok := "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." +
		"eyJzdWIiOiJ1c2VyLTEyMzQ1IiwiaXNzIjoiaHR0cHM6Ly9hdXRoLmV4YW1wbGUuY29tLyIsImF1ZCI6ImFwaSIsImlhdCI6MTc5MDAwMDAwMCwiZXhwIjoxNzkwMDAzNjAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ." +
		strings.Repeat("Qk1hY0FfU2lnbmF0dXJl", 17) + "QQ"
	req := []byte("GET /api/v1/users/4242/orders?status=open HTTP/1.1\r\n" +
		"Host: shop.example.com\r\n" +
		"User-Agent: shop-app/4.2 (okhttp/4.12.0)\r\n" +
		"Accept: application/json\r\n" +
		"Authorization: Bearer " + tok + "\r\n\r\n")
	body := `{"id":4242,"items":[` + strings.Repeat(`{"sku":"A-1","qty":2},`, 10) + `{"sku":"B"}]}`
	resp := []byte("HTTP/1.1 200 OK\r\n" +
		"Date: Mon, 23 Nov 2026 20:00:00 GMT\r\n" +
		"Server: nginx\r\n" +
		"Content-Type: application/json; charset=utf-8\r\n" +
		"Content-Length: " + fmtInt(len(body)) + "\r\n" +
		"Connection: keep-alive\r\n" +
		"X-Request-Id: 1f3a9c\r\n\r\n" + body)
	benchPairs(b, [][]byte{req}, resp)
}

// BenchmarkParseVarying: as ParseRequestResponse, but the requests differ
// in one field (X-Request-Id, 1000 values), so field sections do not repeat.
func BenchmarkParseVarying(b *testing.B) {
	reqs := make([][]byte, 1000)
	for i := range reqs {
		reqs[i] = []byte(strings.Replace(string(benchReq), "7d3f0c1e", fmtInt(10000000+i), 1))
	}
	benchPairs(b, reqs, benchResp)
}
