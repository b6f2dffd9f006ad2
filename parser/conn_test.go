package parser

import (
	"strings"
	"testing"

	"github.com/apisensor/apisensor/model"
)

func want(t *testing.T, what string, got, exp any) {
	t.Helper()
	if got != exp {
		t.Errorf("%s = %#v, want %#v", what, got, exp)
	}
}

func wantN(t *testing.T, calls []*model.Call, n int) {
	t.Helper()
	if len(calls) != n {
		for i, c := range calls {
			t.Logf("call %d: %s %s -> %d flags=%v", i, c.Method, c.URI, c.Status, c.Flags.Names())
		}
		t.Fatalf("got %d calls, want %d", len(calls), n)
	}
}

func hasFlag(c *model.Call, f model.CallFlags) bool { return c.Flags&f != 0 }

func TestKeepAliveGETAndPOST(t *testing.T) {
	body := `{"id":42,"name":"x"}`
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /api/users/42?x=1&y=2 HTTP/1.1\r\nHost: API.Example.com:8080\r\nUser-Agent: curl/8\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + fmtInt(len(body)) + "\r\n\r\n" + body),
		c2s("POST /api/users HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 5\r\n\r\nhello"),
		s2c("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
	})
	wantN(t, calls, 2)
	c := calls[0]
	want(t, "method", c.Method, "GET")
	want(t, "uri", c.URI, "/api/users/42?x=1&y=2")
	want(t, "path", c.Path, "/api/users/42")
	want(t, "query", c.Query, "x=1&y=2")
	want(t, "host", c.Host, "api.example.com")
	want(t, "proto", c.Proto, "HTTP/1.1")
	want(t, "ua", c.UserAgent, "curl/8")
	want(t, "status", c.Status, uint16(200))
	want(t, "reason", c.StatusText, "OK")
	want(t, "resp body", string(c.RespBody.Data), body)
	want(t, "resp bytes", c.RespBody.Bytes, int64(len(body)))
	want(t, "ctype", c.RespBody.ContentType, "application/json")
	want(t, "src", c.Src, cliAddr)
	want(t, "dst", c.Dst, srvAddr)
	want(t, "ts", c.TS, t0)
	want(t, "respTS", c.RespTS, t0.Add(1e6))
	want(t, "latency", c.Latency(), c.RespTS.Sub(c.TS))
	want(t, "principal", c.Principal.String(), "ip:10.0.0.1")
	want(t, "req headers", len(c.ReqHeaders), 2)
	want(t, "header case kept", c.ReqHeaders[1].Name, "User-Agent")
	c = calls[1]
	want(t, "method", c.Method, "POST")
	want(t, "req body", string(c.ReqBody.Data), "hello")
	want(t, "status", c.Status, uint16(201))
	want(t, "flags", c.Flags, model.CallFlags(0))
	want(t, "stats calls", st.Calls, uint64(2))
}

func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestPipelining(t *testing.T) {
	var req, resp strings.Builder
	const n = 10
	for i := 0; i < n; i++ {
		req.WriteString("GET /item/" + fmtInt(i) + " HTTP/1.1\r\nHost: h\r\n\r\n")
		resp.WriteString("HTTP/1.1 404 Not Found\r\nContent-Length: " + fmtInt(len(fmtInt(i))) + "\r\n\r\n" + fmtInt(i))
	}
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{c2s(req.String()), s2c(resp.String())})
	wantN(t, calls, n)
	for i, c := range calls {
		want(t, "uri", c.URI, "/item/"+fmtInt(i))
		want(t, "status", c.Status, uint16(404))
		want(t, "body pairs", string(c.RespBody.Data), fmtInt(i))
	}
}

func TestInterim(t *testing.T) {
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
		s2c("HTTP/1.1 100 Continue\r\n\r\n"),
		c2s("data"),
		s2c("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
	})
	wantN(t, calls, 1)
	c := calls[0]
	want(t, "status", c.Status, uint16(200))
	want(t, "interim", len(c.Interim), 4)
	want(t, "interim[2]", c.Interim[2], uint16(102))
	want(t, "flag interim", hasFlag(c, model.FlagInterim), true)
	want(t, "req body", string(c.ReqBody.Data), "data")
	want(t, "respTS is final response", c.RespTS, t0.Add(4e6))
	want(t, "interim stat", st.Interim, uint64(4))
}

func TestNoBodyResponses(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("HEAD /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" +
			"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n" +
			"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"),
	})
	wantN(t, calls, 3)
	for i, st := range []uint16{200, 204, 304} {
		want(t, "status", calls[i].Status, st)
		want(t, "no body", calls[i].RespBody.Bytes, int64(0))
	}
}

func TestChunked(t *testing.T) {
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 ; name=\"v\"\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\nX-Other: o\r\n\r\n"),
	})
	wantN(t, calls, 1)
	c := calls[0]
	want(t, "req body", string(c.ReqBody.Data), "abc")
	want(t, "req trailer", c.ReqHeaders.Get("X-Sum"), "9")
	want(t, "resp body", string(c.RespBody.Data), "hello0123456789")
	want(t, "resp bytes", c.RespBody.Bytes, int64(15))
	want(t, "resp trailer", c.RespHeaders.Get("X-Other"), "o")
	want(t, "trailers after fields", c.RespHeaders[len(c.RespHeaders)-1].Name, "X-Other")
	want(t, "no errors", st.Errors, ErrorCounts{})
}

func TestCloseDelimited(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET / HTTP/1.0\r\n\r\n"),
		s2c("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>"),
		s2c("more</html>"),
	})
	wantN(t, calls, 1)
	want(t, "body", string(calls[0].RespBody.Data), "<html>more</html>")
	want(t, "endTS", calls[0].EndTS, t0.Add(2e6))
}

func TestHTTP09(t *testing.T) {
	for _, line := range []string{"GET /", "GET /\r\n"} {
		calls, st := runAll(t, testConfig(), defMeta(), []ev{
			c2s(line),
			s2c("<html>hi</html>"),
		})
		wantN(t, calls, 1)
		c := calls[0]
		want(t, "proto", c.Proto, "HTTP/0.9")
		want(t, "uri", c.URI, "/")
		want(t, "flag", hasFlag(c, model.FlagHTTP09), true)
		want(t, "status", c.Status, uint16(0))
		want(t, "resp bytes", c.RespBody.Bytes, int64(15))
		want(t, "resp data", string(c.RespBody.Data), "<html>hi</html>")
		want(t, "stat", st.HTTP09, uint64(1))
	}
	// Request only: emitted at Close.
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{c2s("GET /x\r\n")})
	wantN(t, calls, 1)
	want(t, "proto", calls[0].Proto, "HTTP/0.9")
	want(t, "no response", hasFlag(calls[0], model.FlagNoResponse), true)
}

// An HTTP/2 connection with prior knowledge (h2c, gRPC without TLS) opens
// with the client preface: it is counted as HTTP/2 and left alone, not
// taken for a bad request line, in whatever pieces the preface comes.
func TestHTTP2Preface(t *testing.T) {
	settings := "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
	headers := "\x00\x00\x05\x01\x05\x00\x00\x00\x01\x82\x86\x84\x41\x8a"
	serverSettings := "\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64"
	client := c2s("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings + headers)
	// A DATA frame whose payload reads like HTTP/1.1.
	data := c2s("\x00\x00\x10\x00\x01\x00\x00\x00\x01GET / HTTP/1.1\r\n")
	for _, order := range [][]ev{
		{client, s2c(serverSettings), data},
		// The server's SETTINGS may come first (grpc-go sends it at once).
		{s2c(serverSettings), client, data},
	} {
		for _, sp := range []splitter{whole, bytewise, randomSplit(7)} {
			calls, st := run(t, testConfig(), defMeta(), order, sp)
			wantN(t, calls, 0)
			want(t, "http2", st.HTTP2, uint64(1))
			want(t, "errors", st.Errors, ErrorCounts{})
			want(t, "abandoned", st.AbandonedConns, uint64(0))
		}
	}
	// The method PRI on HTTP/1.1 is a request like any other.
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("PRI /x HTTP/1.1\r\nHost: a\r\n\r\n"),
		s2c("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"),
	})
	wantN(t, calls, 1)
	want(t, "method", calls[0].Method, "PRI")
	want(t, "status", calls[0].Status, uint16(405))
	want(t, "http2", st.HTTP2, uint64(0))
}

func TestNot09(t *testing.T) {
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /\nFakeHeader\nHost: localhost\nUser-Agent: myscript\n\n"),
		s2c("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
	})
	wantN(t, calls, 1)
	c := calls[0]
	want(t, "ua", c.UserAgent, "myscript")
	want(t, "not 0.9", hasFlag(c, model.FlagHTTP09), false)
	want(t, "proto", c.Proto, "HTTP/1.0")
	want(t, "bad header flag", hasFlag(c, model.FlagBadHeader), true)
	want(t, "status", c.Status, uint16(200))
	want(t, "bad header count", st.Error(ReasonBadHeader), uint64(1))
}

func TestConnectInnerHTTP(t *testing.T) {
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("CONNECT www.example.com:80 HTTP/1.1\r\nHost: www.example.com:80\r\n\r\n"),
		s2c("HTTP/1.1 200 Connection established\r\n\r\n"),
		c2s("GE"),
		c2s("T /inner HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
	})
	wantN(t, calls, 2)
	want(t, "connect", calls[0].Method, "CONNECT")
	want(t, "connect uri", calls[0].URI, "www.example.com:80")
	want(t, "connect host", calls[0].Host, "www.example.com")
	want(t, "flag", hasFlag(calls[0], model.FlagConnect), true)
	want(t, "inner", calls[1].URI, "/inner")
	want(t, "inner status", calls[1].Status, uint16(200))
	want(t, "inner body", string(calls[1].RespBody.Data), "abc")
	want(t, "tunnels", st.Tunnels, uint64(1))
}

func TestConnectTLS(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("CONNECT secure.example.com:443 HTTP/1.1\r\nHost: secure.example.com:443\r\n\r\n"),
		s2c("HTTP/1.1 200 Connection established\r\n\r\n"),
		c2s("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03GET / HTTP/1.1\r\n\r\n"),
		s2c("\x16\x03\x03\x00\x5a\x02HTTP/1.1 200 OK\r\n\r\n"),
	})
	wantN(t, calls, 1)
	want(t, "connect", hasFlag(calls[0], model.FlagConnect), true)
}

func TestConnectTLSBeforeReply(t *testing.T) {
	// bug-2512: the ClientHello follows CONNECT at once; the reply is lost.
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("CONNECT secure.example.com:443 HTTP/1.0\r\n\r\n\x16\x03\x01\x00\xa5\x01\x00"),
		gap(model.ServerToClient, 95),
		s2c("\x16\x03\x03\x00\x5a\x02\x00\x00"),
	})
	wantN(t, calls, 1)
	want(t, "uri", calls[0].URI, "secure.example.com:443")
	want(t, "no response", hasFlag(calls[0], model.FlagNoResponse), true)
}

func TestUpgrade(t *testing.T) {
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n"),
		s2c("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00"),
		c2s("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
	})
	wantN(t, calls, 1)
	want(t, "status", calls[0].Status, uint16(101))
	want(t, "upgrade", hasFlag(calls[0], model.FlagUpgrade), true)
	want(t, "upgrades", st.Upgrades, uint64(1))
	want(t, "requests", st.Requests, uint64(1))
}

func TestUnsolicited101HasBody(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /f HTTP/1.1\r\nHost: h\r\n\r\n"),
		s2c("HTTP/1.1 101 ok\r\nContent-length: 4\r\n\r\nbody"),
	})
	wantN(t, calls, 1)
	want(t, "upgrade", hasFlag(calls[0], model.FlagUpgrade), false)
	want(t, "body", string(calls[0].RespBody.Data), "body")
}

func TestTEAndCL(t *testing.T) {
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-length: 68\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
	})
	wantN(t, calls, 1)
	want(t, "ambiguous", hasFlag(calls[0], model.FlagAmbiguousLength), true)
	want(t, "req body (TE wins)", string(calls[0].ReqBody.Data), "ab")
	want(t, "resp body (TE wins)", string(calls[0].RespBody.Data), "ok")
	want(t, "count", st.Error(ReasonAmbiguousLength), uint64(2))
}

func TestObsFoldTE(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"),
		s2c("HTTP/1.1 200 ok\r\nConnection: close\r\nTransfer-Encoding\n :chunked\r\nX-A: 1\r\n\tcontinued\r\n\r\n4\r\nX5O!\r\n0\r\n\r\n"),
	})
	wantN(t, calls, 1)
	want(t, "body", string(calls[0].RespBody.Data), "X5O!")
	want(t, "folded", calls[0].RespHeaders.Get("X-A"), "1 continued")
}

func TestDuplicateCL(t *testing.T) {
	// Equal duplicates are fine; differing ones are ambiguous.
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"),
		s2c("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 2\r\n\r\nhello"),
	})
	wantN(t, calls, 2)
	want(t, "dup equal ok", hasFlag(calls[0], model.FlagAmbiguousLength), false)
	want(t, "req body", string(calls[0].ReqBody.Data), "abc")
	want(t, "differing", hasFlag(calls[1], model.FlagAmbiguousLength), true)
	want(t, "read to close", string(calls[1].RespBody.Data), "hello")
	want(t, "count", st.Error(ReasonAmbiguousLength), uint64(1))

	// A request with differing CLs: no body taken, resync to the next request.
	calls, _ = runAll(t, testConfig(), defMeta(), []ev{
		c2s("POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc\r\nGET /b HTTP/1.1\r\n\r\n"),
	})
	wantN(t, calls, 2)
	want(t, "smuggle flag", hasFlag(calls[0], model.FlagAmbiguousLength), true)
	want(t, "next found", calls[1].URI, "/b")
}

func TestBadChunk(t *testing.T) {
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\njunk\r\n"),
		s2c("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
	})
	wantN(t, calls, 2)
	want(t, "bad chunk flag", hasFlag(calls[0], model.FlagBadChunk), true)
	want(t, "second paired", calls[1].URI, "/b")
	want(t, "second status", calls[1].Status, uint16(200))
	want(t, "count", st.Error(ReasonBadChunk), uint64(1))
}

func TestGapInBodyExact(t *testing.T) {
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /1 HTTP/1.1\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
		gap(model.ServerToClient, 4),
		s2c("hij"),
		c2s("GET /2 HTTP/1.1\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nab"),
		gap(model.ServerToClient, 2),
		s2c("ef\r\n0\r\n\r\n"),
	})
	wantN(t, calls, 2)
	c := calls[0]
	want(t, "bytes", c.RespBody.Bytes, int64(10))
	want(t, "data stops at hole", string(c.RespBody.Data), "abc")
	want(t, "truncated", c.RespBody.Truncated, true)
	want(t, "gap flag", hasFlag(c, model.FlagRespGap), true)
	want(t, "chunk bytes", calls[1].RespBody.Bytes, int64(6))
	want(t, "chunk gap flag", hasFlag(calls[1], model.FlagRespGap), true)
	want(t, "no resync", st.Resyncs, uint64(0))
}

func TestGapBeyondBody(t *testing.T) {
	// http-gap-beyond-body: response 1's tail and response 2's start are
	// lost; response 3 must still pair with /3 (non-pipelined client).
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /1 HTTP/1.0\r\n\r\n"),
		s2c("HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
		c2s("GET /2 HTTP/1.0\r\n\r\n"),
		c2s("GET /3 HTTP/1.0\r\n\r\n"),
		gap(model.ServerToClient, 30),
		s2c("ength: 2\r\n\r\nokHTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nthree"),
	})
	wantN(t, calls, 3)
	want(t, "1", calls[0].URI, "/1")
	want(t, "1 status", calls[0].Status, uint16(200))
	want(t, "2", calls[1].URI, "/2")
	want(t, "2 no response", hasFlag(calls[1], model.FlagNoResponse), true)
	want(t, "3", calls[2].URI, "/3")
	want(t, "3 status", calls[2].Status, uint16(200))
	want(t, "3 body", string(calls[2].RespBody.Data), "three")
	want(t, "resync counted", st.Resyncs >= 1, true)
	want(t, "skipped", st.SkippedBytes > 0, true)
}

// TestGapInHeadersResync: a hole inside a header block (a snap length
// cutting the segment, a lost packet) keeps the request as it arrived,
// start line and complete fields, flagged req_gap; the rest of the block is
// lost, so parsing resyncs at the next request after the hole, and the
// server's answers pair in order (it did get the whole request).
func TestGapInHeadersResync(t *testing.T) {
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /1 HTTP/1.1\r\nHost: h\r\nX-Long: aaaa"),
		gap(model.ClientToServer, 100),
		c2s("bbbb GET /spliced HTTP/1.1\r\nX: y\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
		s2c("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
	})
	wantN(t, calls, 2)
	c := calls[0]
	want(t, "partial request kept", c.URI, "/1")
	want(t, "its complete field", c.Host, "h")
	want(t, "cut field dropped", len(c.ReqHeaders), 1)
	want(t, "gap flag", hasFlag(c, model.FlagReqGap), true)
	want(t, "answered in order", c.Status, uint16(200))
	want(t, "clean request after the hole", calls[1].URI, "/2")
	want(t, "not flagged", hasFlag(calls[1], model.FlagReqGap), false)
	want(t, "its answer", calls[1].Status, uint16(404))
	// The cut line, the rest of the line the hole ended in, and the
	// spliced request's field lines up to /2.
	want(t, "skipped", st.SkippedBytes, uint64(len("X-Long: aaaa")+len("bbbb GET /spliced HTTP/1.1\r\n")+len("X: y\r\n\r\n")))
}

// TestGapInResponseHead: a status line and Content-Type that arrived before
// a hole in the response's header block are kept; the body's framing is
// unknown, so the next response is found by resyncing.
func TestGapInResponseHead(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"),
		c2s("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"),
		s2c("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Len"),
		gap(model.ServerToClient, 40),
		s2c("HTTP/1.1 204 No Content\r\n\r\n"),
	})
	wantN(t, calls, 2)
	c := calls[0]
	want(t, "status from the cut head", c.Status, uint16(201))
	want(t, "content type from the cut head", c.RespBody.ContentType, "application/json")
	want(t, "gap flag", hasFlag(c, model.FlagRespGap), true)
	want(t, "body unknown", c.RespBody.Truncated, true)
	want(t, "second", calls[1].Status, uint16(204))
	want(t, "second not flagged", hasFlag(calls[1], model.FlagRespGap), false)
}

// TestGapInStartLine: a hole inside the request line leaves nothing to
// record; the request is lost and parsing resyncs.
func TestGapInStartLine(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /api/v1/orders/6"),
		gap(model.ClientToServer, 60),
		c2s("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"),
		s2c("HTTP/1.1 204 No Content\r\n\r\n"),
	})
	wantN(t, calls, 1)
	want(t, "only the whole request", calls[0].URI, "/2")
}

func TestOneSided(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
	})
	wantN(t, calls, 2)
	for _, c := range calls {
		want(t, "no response", hasFlag(c, model.FlagNoResponse), true)
		want(t, "status", c.Status, uint16(0))
	}
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		s2c("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
	})
	wantN(t, calls, 2)
	want(t, "no request", hasFlag(calls[0], model.FlagNoRequest), true)
	want(t, "method", calls[0].Method, "")
	want(t, "status", calls[1].Status, uint16(404))
	want(t, "src is client", calls[0].Src, cliAddr)
	want(t, "stat", st.NoRequest, uint64(2))
}

func TestRoleSwap(t *testing.T) {
	// The reassembler guessed backwards: its "client" sends responses.
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		s2c("GET /swap HTTP/1.1\r\nHost: h\r\n\r\n"),
		c2s("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
	})
	wantN(t, calls, 1)
	want(t, "src", calls[0].Src, srvAddr)
	want(t, "dst", calls[0].Dst, cliAddr)
	want(t, "client ip", calls[0].ClientIP, srvAddr.Addr())
	want(t, "status", calls[0].Status, uint16(200))
	// Mid-stream pickup starting with the response on the "client" side.
	calls, _ = runAll(t, testConfig(), defMeta(), []ev{
		c2s("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
	})
	wantN(t, calls, 1)
	want(t, "src swapped", calls[0].Src, srvAddr)
}

func TestNonHTTPAbandoned(t *testing.T) {
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("\x16\x03\x01\x00\xa5\x01\x00\x00"),
		s2c("\x16\x03\x03\x00\x5a"),
		c2s(strings.Repeat("x", 10000)),
	})
	wantN(t, calls, 0)
	want(t, "abandoned", st.AbandonedConns, uint64(1))
	calls, st = runAll(t, testConfig(), defMeta(), []ev{c2s("GET\x00 /images.gif HTTP/1.1\r\n\r\n")})
	wantN(t, calls, 0)
	want(t, "abandoned NUL method", st.AbandonedConns, uint64(1))
	calls, _ = runAll(t, testConfig(), defMeta(), []ev{s2c("220 smtp ready\r\n"), c2s("EHLO x\r\n")})
	wantN(t, calls, 0)
}

func TestHugeHeaderBounded(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHeaderBytes = 1024
	huge := "GET /big HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 5000) + "\r\n\r\n"
	calls, st := run(t, cfg, defMeta(), []ev{
		c2s(huge + "GET /ok HTTP/1.1\r\n\r\n"),
	}, bytewise)
	wantN(t, calls, 1)
	want(t, "next request parsed", calls[0].URI, "/ok")
	want(t, "counted", st.Error(ReasonHeaderTooLarge), uint64(1))
	p, _ := newTestParser(t, cfg)
	c := p.NewConn(defMeta())
	c.Data(model.ClientToServer, []byte(huge[:3000]), t0)
	if n := cap(c.h[0].buf); n > 4*cfg.MaxHeaderBytes {
		t.Fatalf("header buffer grew to %d bytes, cap %d", n, cfg.MaxHeaderBytes)
	}
}

func TestBodyCap(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBody = 8
	long := strings.Repeat("0123456789", 10)
	calls, _ := runAll(t, cfg, defMeta(), []ev{
		c2s("POST /a HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + long),
		s2c("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + long + "\r\n0\r\n\r\n"),
	})
	wantN(t, calls, 1)
	c := calls[0]
	want(t, "req bytes full", c.ReqBody.Bytes, int64(100))
	want(t, "req data capped", string(c.ReqBody.Data), long[:8])
	want(t, "req flag", hasFlag(c, model.FlagReqBodyTruncated), true)
	want(t, "resp bytes full", c.RespBody.Bytes, int64(100))
	want(t, "resp data capped", string(c.RespBody.Data), long[:8])
	want(t, "resp truncated", c.RespBody.Truncated, true)
}

func TestPipelineCap(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPipeline = 4
	var req strings.Builder
	for i := 0; i < 20; i++ {
		req.WriteString("GET /" + fmtInt(i) + " HTTP/1.1\r\n\r\n")
	}
	p, s := newTestParser(t, cfg)
	c := p.NewConn(defMeta())
	c.Data(model.ClientToServer, []byte(req.String()), t0)
	if len(c.q) > cfg.MaxPipeline {
		t.Fatalf("queue holds %d, cap %d", len(c.q), cfg.MaxPipeline)
	}
	want(t, "overflow emitted early", len(s.calls), 16)
	want(t, "overflow count", p.Stats().Error(ReasonPipelineOverflow), uint64(16))
	c.Close(t0)
	want(t, "all emitted", len(s.calls), 20)
	for i, call := range s.calls {
		want(t, "order", call.URI, "/"+fmtInt(i))
	}
}

func TestHostForms(t *testing.T) {
	cases := []struct{ req, host, path, query string }{
		{"GET / HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n", "[::1]", "/", ""},
		{"GET / HTTP/1.1\r\nHost: [fd00:2:1::2]\r\n\r\n", "[fd00:2:1::2]", "/", ""},
		{"GET http://Proxy.Example.COM:3128/p/q?z=1 HTTP/1.1\r\nHost: other\r\n\r\n", "proxy.example.com", "/p/q", "z=1"},
		{"GET http://h.example HTTP/1.1\r\n\r\n", "h.example", "/", ""},
		{"OPTIONS * HTTP/1.1\r\nHost: h.example\r\n\r\n", "h.example", "*", ""},
		{"GET //index.php?page=../../../etc/passwd HTTP/1.1\r\nHost: a.b.\r\n\r\n", "a.b", "//index.php", "page=../../../etc/passwd"},
	}
	for _, tc := range cases {
		calls, _ := runAll(t, testConfig(), defMeta(), []ev{c2s(tc.req)})
		wantN(t, calls, 1)
		want(t, "host", calls[0].Host, tc.host)
		want(t, "path", calls[0].Path, tc.path)
		want(t, "query", calls[0].Query, tc.query)
	}
}

func TestNonNumericStatus(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET / HTTP/1.1\r\n\r\n"),
		s2c("HTTP/1.1 2XX OK\r\nContent-Length: 2\r\n\r\nok"),
	})
	wantN(t, calls, 1)
	want(t, "status", calls[0].Status, uint16(0))
	want(t, "status text", calls[0].StatusText, "2XX")
	want(t, "body", string(calls[0].RespBody.Data), "ok")
}

func TestLenientVersion(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /x HTTP/1.1\r\n\r\n"),
		s2c("HTTP/1.01 200 ok\r\nContent-length: 3\r\n\r\nabc"),
	})
	wantN(t, calls, 1)
	want(t, "status", calls[0].Status, uint16(200))
}

func TestLeadingCRLFAndJunkResync(t *testing.T) {
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /a HTTP/1.1\r\n\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n\x00\x01junk\r\nGET /c HTTP/1.1\r\n\r\n"),
	})
	wantN(t, calls, 3)
	want(t, "c", calls[2].URI, "/c")
	want(t, "bad line counted", st.Error(ReasonBadRequestLine), uint64(1))
}

func TestDecompressionBomb(t *testing.T) {
	bomb := gzipBytes(t, strings.Repeat("\x00", 10<<20))
	calls, _ := run(t, testConfig(), defMeta(), []ev{
		c2s("GET /bomb HTTP/1.1\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + fmtInt(len(bomb)) + "\r\n\r\n" + string(bomb)),
	}, whole)
	wantN(t, calls, 1)
	b := &calls[0].RespBody
	want(t, "encoding", b.ContentEncoding, "gzip")
	out, err := b.Decoded(1 << 20)
	if err != model.ErrDecodedTooLarge {
		t.Fatalf("Decoded err = %v, want ErrDecodedTooLarge", err)
	}
	want(t, "capped", len(out), 1<<20)
}

// TestSplitInvariantEdges: inputs on which the result used to depend on how
// the bytes were split into segments (found by fuzzing the parser against
// itself): the calls and the error counts must be the same for every split.
func TestSplitInvariantEdges(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	long := "A 00 HTTP/1.00\n00000\n\r\n" + strings.Repeat("A", 35) // a 36-letter "method" forms across events
	cases := map[string][]ev{
		"method-longer-than-32": {c2s(long), s2c(resp), c2s(long), s2c(resp), c2s(long + long)},
		"bad-byte-past-header-cap": {
			c2s("A /" + strings.Repeat("\x88", 600) + "\x00 HTTP/1.1\r\n\r\n"), s2c(resp),
		},
	}
	cfg := testConfig()
	cfg.MaxHeaderBytes = 512
	cfg.MaxPipeline = 4
	cfg.MaxBody = 64
	for name, evs := range cases {
		t.Run(name, func(t *testing.T) {
			ref, st := runBounded(t, cfg, evs, whole, false)
			for seed := int64(0); seed < 40; seed++ {
				got, st2 := runBounded(t, cfg, evs, randomSplit(seed), true)
				if d := diffCalls(ref, got); d != "" {
					t.Fatalf("split seed %d changes the calls: %s", seed, d)
				}
				if st.Errors != st2.Errors {
					t.Fatalf("split seed %d changes the error counts: whole %v, split %v", seed, st.Errors, st2.Errors)
				}
			}
		})
	}
}

// TestCloseInHeaders: a capture that ends inside a header block still
// records the request as it arrived, flagged; a bodiless one too (the flag
// was once set only on a message still open after its head was parsed).
func TestCloseInHeaders(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /1 HTTP/1.1\r\nHost: h\r\nX-Cut: a"),
	})
	wantN(t, calls, 1)
	want(t, "uri", calls[0].URI, "/1")
	want(t, "host", calls[0].Host, "h")
	want(t, "gap flag", hasFlag(calls[0], model.FlagReqGap), true)
	want(t, "no response", hasFlag(calls[0], model.FlagNoResponse), true)
}

// A start line found while resyncing needs a well-formed field line before
// a hole to be kept: a request or status line quoted in a body and cut by
// the hole is not a message, and must not take another's response.
func TestGapPartialHeadInBody(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("POST /upload HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Len"),
		gap(model.ClientToServer, 100),
		c2s("GET /from/a/log HTTP/1.1\r\nUser-Agent: x"),
		gap(model.ClientToServer, 100),
		s2c("HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-Cu"),
		gap(model.ServerToClient, 100),
		s2c("2024 proxy log: upstream said HTTP/1.1 502 Bad Gateway\r\nretrying"),
		gap(model.ServerToClient, 100),
		c2s("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
	})
	wantN(t, calls, 2)
	want(t, "first", calls[0].URI, "/upload")
	want(t, "its answer", calls[0].Status, uint16(201))
	want(t, "second", calls[1].URI, "/2")
	want(t, "its answer", calls[1].Status, uint16(200))
}

// A head cut after its Content-Length line keeps no buffer for a body that
// never comes.
func TestGapAfterContentLengthAllocatesNoBody(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("POST /up HTTP/1.1\r\nContent-Length: 60000\r\nX-Cu"),
		gap(model.ClientToServer, 100),
	})
	wantN(t, calls, 1)
	want(t, "flagged", hasFlag(calls[0], model.FlagReqGap), true)
	want(t, "body buffer", cap(calls[0].ReqBody.Data), 0)
}

// The same lines found while resyncing, cut by the end of the capture
// instead of a hole: no more evidence of a message, so no call either.
func TestClosePartialHeadInBody(t *testing.T) {
	calls, st := runAll(t, testConfig(), defMeta(), []ev{
		c2s("POST /upload HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Len"),
		gap(model.ClientToServer, 100),
		c2s("GET /from/a/log HTTP/1.1\r\nUser-Agent: x"),
		s2c("HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-Cu"),
		gap(model.ServerToClient, 100),
		s2c("2024 proxy log: upstream said HTTP/1.1 502 Bad Gateway\r\nretrying"),
	})
	wantN(t, calls, 1)
	want(t, "the call", calls[0].URI, "/upload")
	want(t, "its answer", calls[0].Status, uint16(201))
	want(t, "requests", st.Requests, uint64(1))
}

// A CONNECT whose head a hole cut is answered 407 and retried: the retry
// is parsed (the cut CONNECT does not turn the client side into a tunnel).
func TestGapInConnectHead(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\nUser-Ag"),
		gap(model.ClientToServer, 30),
		c2s("t\r\n\r\n"),
		s2c("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"),
		c2s("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"),
		s2c("HTTP/1.1 200 Connection established\r\n\r\n"),
		c2s("\x16\x03\x01\x02\x00"),
	})
	wantN(t, calls, 2)
	want(t, "cut CONNECT answered", calls[0].Status, uint16(407))
	want(t, "cut CONNECT flagged", hasFlag(calls[0], model.FlagReqGap), true)
	want(t, "retry", calls[1].Method, "CONNECT")
	want(t, "retry answered", calls[1].Status, uint16(200))
	want(t, "tunnel", hasFlag(calls[1], model.FlagConnect), true)
}

// "GET /x" and its line end, then a hole: an HTTP/0.9 request, as at a
// close; the raw reply is its body.
func TestGapAfterHTTP09Line(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET /x\r\n"),
		gap(model.ClientToServer, 10),
		s2c("hello world"),
	})
	wantN(t, calls, 1)
	want(t, "proto", calls[0].Proto, "HTTP/0.9")
	want(t, "body", string(calls[0].RespBody.Data), "hello world")
}

// A 100 Continue cut by a hole still counts on the request, with resp_gap.
func TestGapInInterimHead(t *testing.T) {
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"),
		s2c("HTTP/1.1 100 Continue\r\nX-A: b\r\nX-"),
		gap(model.ServerToClient, 5),
		c2s("hi"),
		s2c("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
	})
	wantN(t, calls, 1)
	want(t, "interim", len(calls[0].Interim), 1)
	want(t, "gap flag", hasFlag(calls[0], model.FlagRespGap), true)
	want(t, "final", calls[0].Status, uint16(200))
}
