package sensor_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apisensor/apisensor/capture"
	"github.com/apisensor/apisensor/internal/netnstest"
	"github.com/apisensor/apisensor/sensor"
)

// Real kernel TCP, not a replayed file: a net/http server and a client in a
// namespace of their own talk over its loopback while the sensor captures
// "lo" live. The kernel chooses segment sizes (GSO segments up to 64 KiB on
// lo), ACKs and timing; Go's server chooses chunking, 100 Continue and
// close-delimited bodies. Every call the client made must come out once,
// as the client saw it, and every packet sent on lo exactly once: on
// loopback the kernel shows packet sockets each packet both as sent and as
// received, and the sender's copy must be dropped.
func TestLiveLoopbackRealStack(t *testing.T) {
	lo := netnstest.NewLoopback(t)

	var truth []string
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	err := lo.Do(func() error {
		for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				if addr == "[::1]:0" {
					t.Logf("no IPv6 on loopback here (%v): IPv4 only", err)
					continue
				}
				return err
			}
			listeners = append(listeners, l)
			srv := &http.Server{Handler: realStackHandler(), Protocols: new(http.Protocols)}
			srv.Protocols.SetHTTP1(true)
			srv.Protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge, as gRPC without TLS
			go srv.Serve(l)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	lc := capture.DefaultLiveConfig()
	lc.Interface = "lo"
	lc.Workers = 2
	var before, during uint64
	calls, sum := runLive(t, lc, lo.Do, func(*sensor.Sensor) (uint64, error) {
		var err error
		if before, err = lo.SentPackets(); err != nil {
			return 0, err
		}
		err = lo.Do(func() error {
			for _, l := range listeners {
				keys, err := realStackClient(l.Addr().String())
				if err != nil {
					return err
				}
				truth = append(truth, keys...)
			}
			return nil
		})
		if err == nil {
			err = h2cCall(lo, listeners[0].Addr().String())
		}
		if err != nil {
			return 0, err
		}
		after, err := lo.SentPackets()
		during = after - before
		return during, err
	})
	// runLive waited for the packets sent while the client ran; any the
	// server's goroutines sent later and before the sensor stopped may be
	// in too, but a packet read twice breaks the upper bound.
	after, err := lo.SentPackets()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Packets < during || sum.Packets > after-before || sum.KernelDrops != 0 {
		t.Errorf("%d packets read (%d dropped by the kernel); %d were sent on lo while the client ran, %d until the sensor stopped",
			sum.Packets, sum.KernelDrops, during, after-before)
	}
	ra := sum.Reassembly
	if sum.Parser.HTTP2 != 1 {
		t.Errorf("%d HTTP/2 connections counted, want the h2c one", sum.Parser.HTTP2)
	}
	if ra.Retransmits != 0 || ra.SynRetransmits != 0 || ra.MissedBytes != 0 || sum.ParseErrors != 0 {
		t.Errorf("clean loopback traffic gave %d retransmits, %d SYN retransmits, %d bytes missed, %d parse errors: a packet seen twice or lost",
			ra.Retransmits, ra.SynRetransmits, ra.MissedBytes, sum.ParseErrors)
	}
	slices.Sort(truth)
	diffKeys(t, callKeys(calls), truth)
	t.Logf("lo: %d packets, %d connections, %d calls (%d expected), %d bytes delivered",
		sum.Packets, sum.Flows, len(calls), len(truth), ra.DeliveredBytes)
}

// h2cCall makes one HTTP/2 request with prior knowledge (no upgrade), as
// a gRPC client without TLS does, dialling inside the namespace.
func h2cCall(lo *netnstest.Loopback, addr string) error {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	tr.DialContext = func(ctx context.Context, network, a string) (c net.Conn, err error) {
		err = lo.Do(func() error { c, err = net.Dial(network, a); return err })
		return c, err
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/api/users/99")
	if err != nil {
		return fmt.Errorf("h2c: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("h2c: %s %s, want HTTP/2 200", resp.Proto, resp.Status)
	}
	return nil
}

// realStackHandler answers the paths realStackClient asks for, each in the
// way a real server does it.
func realStackHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/users/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"name":"Ada","email":"ada@example.com"}`, strings.TrimPrefix(r.URL.Path, "/api/users/"))
	})
	mux.HandleFunc("POST /api/orders", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"received":%d}`, n)
	})
	mux.HandleFunc("/api/stream", func(w http.ResponseWriter, r *http.Request) {
		// Flushed pieces and no length: chunked on HTTP/1.1, and on
		// HTTP/1.0 a body that ends when the server closes.
		for i := range 6 {
			w.Write(bytes.Repeat([]byte{'a' + byte(i)}, 3000+i))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/api/empty", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/api/cached", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "fresh")
	})
	mux.HandleFunc("PUT /api/upload", func(w http.ResponseWriter, r *http.Request) {
		// Reading the body sends the 100 Continue the client waits for.
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "stored %d", n)
	})
	mux.HandleFunc("/api/report", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/json")
		zw := gzip.NewWriter(w)
		for i := range 400 {
			fmt.Fprintf(zw, `{"row":%d,"value":"%x"},`, i, i*7919)
		}
		zw.Close()
	})
	return mux
}

// realStackClient makes its calls to the server at addr over raw
// connections, so it controls exactly what goes on the wire (pipelining,
// Expect: 100-continue, HTTP/1.0), and returns the key of each call as the
// client saw it.
func realStackClient(addr string) ([]string, error) {
	host := "API.Test:" + addr[strings.LastIndexByte(addr, ':')+1:] // the sensor keeps "api.test"
	var keys []string
	type req struct {
		method, uri, proto, extra string
		body                      []byte
		expect100                 bool
	}
	jwt := "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"svc-billing"}`)) + ".c2ln"
	basic := base64.StdEncoding.EncodeToString([]byte("alice:secret"))
	conns := [][]req{
		{ // one keep-alive connection, each request after the last answer
			{method: "GET", uri: "/api/users/17", proto: "HTTP/1.1"},
			{method: "GET", uri: "/api/users/18?fields=name", proto: "HTTP/1.1", extra: "Authorization: Bearer " + jwt + "\r\n"},
			{method: "POST", uri: "/api/orders", proto: "HTTP/1.1", extra: "Content-Type: application/json\r\n", body: bytes.Repeat([]byte(`{"sku":"x"},`), 25000)},
			{method: "GET", uri: "/api/stream", proto: "HTTP/1.1"},
			{method: "HEAD", uri: "/api/users/17", proto: "HTTP/1.1"},
			{method: "GET", uri: "/api/empty", proto: "HTTP/1.1"},
			{method: "GET", uri: "/api/cached", proto: "HTTP/1.1", extra: "If-None-Match: \"v1\"\r\n"},
			{method: "PUT", uri: "/api/upload", proto: "HTTP/1.1", extra: "Authorization: Basic " + basic + "\r\n", body: bytes.Repeat([]byte("z"), 70000), expect100: true},
			{method: "GET", uri: "/api/report", proto: "HTTP/1.1", extra: "Accept-Encoding: gzip\r\n"},
		},
		{ // HTTP/1.0: the streamed body ends when the server closes
			{method: "GET", uri: "/api/stream", proto: "HTTP/1.0"},
		},
	}
	for _, reqs := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		src, dst := c.LocalAddr().String(), c.RemoteAddr().String()
		br := bufio.NewReader(c)
		for _, r := range reqs {
			var head strings.Builder
			fmt.Fprintf(&head, "%s %s %s\r\nHost: %s\r\nUser-Agent: realstack-test\r\n%s", r.method, r.uri, r.proto, host, r.extra)
			if r.body != nil {
				fmt.Fprintf(&head, "Content-Length: %d\r\n", len(r.body))
			}
			if r.expect100 {
				head.WriteString("Expect: 100-continue\r\n")
			}
			head.WriteString("\r\n")
			if _, err := io.WriteString(c, head.String()); err != nil {
				return nil, err
			}
			hr, _ := http.NewRequest(r.method, "http://"+addr+r.uri, nil)
			if r.expect100 {
				resp, err := http.ReadResponse(br, hr)
				if err != nil {
					return nil, fmt.Errorf("%s %s: waiting for 100 Continue: %w", r.method, r.uri, err)
				}
				if resp.StatusCode != http.StatusContinue {
					return nil, fmt.Errorf("%s %s: got %s, want 100 Continue", r.method, r.uri, resp.Status)
				}
			}
			if _, err := c.Write(r.body); err != nil {
				return nil, err
			}
			resp, err := http.ReadResponse(br, hr)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", r.method, r.uri, err)
			}
			n, err := io.Copy(io.Discard, resp.Body) // chunked decoded, gzip not: as on the wire
			if err != nil {
				return nil, fmt.Errorf("%s %s: body: %w", r.method, r.uri, err)
			}
			resp.Body.Close()
			principal := "ip:" + c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().String()
			switch {
			case strings.Contains(r.extra, "Bearer"):
				principal = "jwt:svc-billing"
			case strings.Contains(r.extra, "Basic"):
				principal = "basic:alice"
			}
			keys = append(keys, callKey(src, dst, r.method, "api.test", r.uri, uint16(resp.StatusCode), int64(len(r.body)), n, principal))
		}
		// Two requests in one write, answered in order.
		if reqs[0].proto == "HTTP/1.1" {
			var both strings.Builder
			for _, id := range []string{"30", "31"} {
				fmt.Fprintf(&both, "GET /api/users/%s HTTP/1.1\r\nHost: %s\r\n\r\n", id, host)
			}
			if _, err := io.WriteString(c, both.String()); err != nil {
				return nil, err
			}
			for _, id := range []string{"30", "31"} {
				hr, _ := http.NewRequest("GET", "http://"+addr+"/api/users/"+id, nil)
				resp, err := http.ReadResponse(br, hr)
				if err != nil {
					return nil, fmt.Errorf("pipelined GET %s: %w", id, err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				keys = append(keys, callKey(src, dst, "GET", "api.test", "/api/users/"+id, uint16(resp.StatusCode), 0, n,
					"ip:"+c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().String()))
			}
			// Close our side and wait for the server's FIN, so the
			// connection has ended on the wire when this returns.
			c.(*net.TCPConn).CloseWrite()
		}
		io.Copy(io.Discard, br) // until the server closes
		c.Close()
	}
	return keys, nil
}

// On a link that falls quiet, time still passes: a request the server
// never answers comes out (status 0) once the connection has been idle for
// the idle timeout, while nothing else crosses the link, not only when the
// next packet arrives or the sensor stops.
func TestLiveQuietLinkTimesOut(t *testing.T) {
	lo := netnstest.NewLoopback(t)
	var l net.Listener
	if err := lo.Do(func() (err error) { l, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // reads requests, never answers
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
		}
	}()

	lc := capture.DefaultLiveConfig()
	lc.Interface = "lo"
	cfg := testConfig()
	cfg.Live = &lc
	cfg.Reassembly.IdleTimeout = time.Second
	cfg.TickEvery = 100 * time.Millisecond
	s, err := sensor.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var sink memSink
	done := make(chan error, 1)
	go func() {
		done <- lo.Do(func() error { _, err := s.Run(ctx, &sink); return err })
	}()
	<-s.Ready()
	var c net.Conn
	if err := lo.Do(func() (err error) { c, err = net.Dial("tcp", l.Addr().String()); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close() // open and silent until the test ends
	if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: api.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	for s.Progress().Calls == 0 && time.Since(sent) < 10*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	waited := time.Since(sent)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(sink.calls) != 1 || sink.calls[0].URI != "/slow" || sink.calls[0].Status != 0 {
		t.Fatalf("calls %v", callKeys(sink.calls))
	}
	if waited >= 10*time.Second {
		t.Errorf("the unanswered request came out only when the sensor stopped, not after the 1 s idle timeout")
	}
	t.Logf("unanswered request out %v after it was sent (idle timeout 1 s, idle slack 1 s)", waited.Round(10*time.Millisecond))
}
