package reassembly

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/apisensor/apisensor/model"
)

const (
	c2s = model.ClientToServer
	s2c = model.ServerToClient
)

func only(t *testing.T, f *recFactory) *recStream {
	t.Helper()
	if len(f.streams) != 1 {
		t.Fatalf("got %d streams, want 1", len(f.streams))
	}
	return f.streams[0]
}

func TestInOrderHandshakeAndFinClose(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	req, resp := "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	c.c2s(0, 0, fA|fP, req)
	c.s2c(0, uint32(len(req)), fA|fP, resp)
	c.c2s(uint32(len(req)), uint32(len(resp)), fA|fF, "")
	s := only(t, f)
	if s.closed {
		t.Fatalf("closed after one FIN")
	}
	c.s2c(uint32(len(resp)), uint32(len(req))+1, fA|fF, "")
	if !s.closed {
		t.Fatalf("not closed after both FINs")
	}
	if s.meta.Client != cliAddr || s.meta.Server != srvAddr || s.meta.Midstream {
		t.Fatalf("meta %+v", s.meta)
	}
	if s.text(c2s) != req || s.text(s2c) != resp {
		t.Fatalf("c2s %q s2c %q", s.text(c2s), s.text(s2c))
	}
	st := a.Stats()
	if st.ClosedFin != 1 || st.Conns != 0 || st.OutOfOrderSegments != 0 || st.GapEvents != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The final ACK after the close must not start a new connection.
	c.c2s(uint32(len(req))+1, uint32(len(resp))+1, fA, "")
	if len(f.streams) != 1 || a.Stats().PacketsNoConn != 1 {
		t.Fatalf("trailing ACK created a connection: %d streams", len(f.streams))
	}
}

// chunks splits body into segments of random sizes (1..max).
func chunks(r *rand.Rand, body string, maxLen int) (offs []uint32, parts []string) {
	for o := 0; o < len(body); {
		n := min(1+r.IntN(maxLen), len(body)-o)
		offs = append(offs, uint32(o))
		parts = append(parts, body[o:o+n])
		o += n
	}
	return offs, parts
}

func randBody(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	return string(b)
}

func TestOutOfOrderPermutation(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		a, f := newTest(t, nil)
		c := newConv(t, a)
		c.ciss = r.Uint32()
		c.siss = r.Uint32()
		c.handshake()
		body := randBody(r, 5000)
		offs, parts := chunks(r, body, 300)
		perm := r.Perm(len(offs))
		for _, i := range perm {
			c.c2s(offs[i], 0, fA, parts[i])
		}
		s := only(t, f)
		if got := s.text(c2s); got != body {
			t.Fatalf("seed %d: reassembled %d bytes, differs from the %d sent", seed, len(got), len(body))
		}
		if a.Stats().BufferedBytes != 0 {
			t.Fatalf("seed %d: %d bytes still buffered", seed, a.Stats().BufferedBytes)
		}
		if perm[0] != 0 && a.Stats().OutOfOrderSegments == 0 {
			t.Fatalf("seed %d: no out-of-order segment counted", seed)
		}
	}
}

func TestRetransmitsAndDuplicates(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	body := randBody(r, 4000)
	offs, parts := chunks(r, body, 200)
	order := r.Perm(len(offs))
	// Every segment twice, the copy at a random later point.
	var seq []int
	for _, i := range order {
		seq = append(seq, i)
		if r.IntN(2) == 0 {
			seq = append(seq, i)
		}
	}
	seq = append(seq, order...)
	for _, i := range seq {
		c.c2s(offs[i], 0, fA, parts[i])
	}
	if got := only(t, f).text(c2s); got != body {
		t.Fatalf("duplicates changed the stream")
	}
	st := a.Stats()
	if st.Retransmits == 0 || st.InconsistentOverlaps != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOverlapFirstCopyWins(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(4, 0, fA, "BBBB")       // buffered first: [4,8)
	c.c2s(6, 0, fA, "xxCC")       // [6,10): 6,7 overlap buffered and differ; 8,9 new
	c.c2s(0, 0, fA, "aaaaXXXXXX") // in order, covers [0,10): buffered copy wins on [4,10)
	c.c2s(8, 0, fA, "ZZZZ")       // [8,12): 8,9 already delivered (trimmed), 10,11 new
	if got, want := only(t, f).text(c2s), "aaaaBBBBCCZZ"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	st := a.Stats()
	if st.InconsistentOverlaps != 2 || st.Overlaps < 3 {
		t.Fatalf("overlaps %d inconsistent %d", st.Overlaps, st.InconsistentOverlaps)
	}
}

func TestGapNeverFilledFlush(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(0, 0, fA, "0123456789")
	c.c2s(20, 0, fA, "KLMNOPQRST")
	c.c2s(35, 0, fA, "xyz")
	s := only(t, f)
	if got := s.text(c2s); got != "0123456789" {
		t.Fatalf("before flush %q", got)
	}
	a.FlushAll(c.ts)
	if got, want := s.text(c2s), "0123456789[gap 10]KLMNOPQRST[gap 5]xyz"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	st := a.Stats()
	if !s.closed || st.MissedBytes != 15 || st.GapEvents != 2 || st.BufferedBytes != 0 || st.Flushed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAckAboveHole(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(0, 0, fA, "seg0-")
	// "seg1-" at 5 is lost by the capture.
	c.c2s(10, 0, fA, "seg2-")
	s := only(t, f)
	if got := s.text(c2s); got != "seg0-" {
		t.Fatalf("before ack %q", got)
	}
	// The server acknowledges all 15 bytes: it got the segment we missed.
	c.s2c(0, 15, fA, "resp")
	if got, want := s.text(c2s), "seg0-[gap 5]seg2-"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	// The client bytes come before the server's response that acked them.
	var order []model.Direction
	for _, e := range s.events {
		order = append(order, e.dir)
	}
	if order[len(order)-1] != s2c || order[len(order)-2] != c2s {
		t.Fatalf("delivery order %v", order)
	}
	if st := a.Stats(); st.AckGaps != 1 || st.MissedBytes != 5 {
		t.Fatalf("stats %+v", st)
	}
	// A late copy of the lost segment is now a retransmit.
	c.c2s(5, 0, fA, "seg1-")
	if a.Stats().Retransmits != 1 {
		t.Fatalf("late segment not dropped")
	}
}

func TestMidstreamPickup(t *testing.T) {
	cases := []struct {
		name         string
		first, other string // sender, receiver of the first packet
		wantClient   string
	}{
		{"wellknown dst", "10.0.0.1:51000", "10.0.0.2:443", "10.0.0.1:51000"},
		{"wellknown src", "10.0.0.2:8080", "10.0.0.1:51000", "10.0.0.1:51000"},
		{"lower port is server", "10.0.0.1:40000", "10.0.0.2:30000", "10.0.0.1:40000"},
		{"both wellknown", "10.0.0.2:80", "10.0.0.1:443", "10.0.0.1:443"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, f := newTest(t, nil)
			src, dst := mustAP(tc.first), mustAP(tc.other)
			a.Packet(pkt(src, dst, 777, 999, fA, []byte("hello"), t0))
			a.Packet(pkt(dst, src, 999, 782, fA, []byte("world"), t0.Add(time.Millisecond)))
			a.Packet(pkt(src, dst, 782, 1004, fA, []byte("!"), t0.Add(2*time.Millisecond)))
			s := only(t, f)
			if !s.meta.Midstream || s.meta.Client.String() != tc.wantClient {
				t.Fatalf("meta %+v", s.meta)
			}
			firstDir := c2s
			if s.meta.Client != src {
				firstDir = s2c
			}
			if s.text(firstDir) != "hello!" || s.text(firstDir.Reverse()) != "world" {
				t.Fatalf("streams %q %q", s.text(firstDir), s.text(firstDir.Reverse()))
			}
		})
	}
}

func TestSynAckFirst(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	// The SYN was not captured.
	c.send(pkt(c.srv, c.cli, c.siss, c.ciss+1, fS|fA, nil, c.step()))
	c.c2s(0, 0, fA, "req")
	c.s2c(0, 3, fA, "resp")
	s := only(t, f)
	if s.meta.Client != cliAddr || s.meta.Midstream || s.text(c2s) != "req" || s.text(s2c) != "resp" {
		t.Fatalf("meta %+v c2s %q s2c %q", s.meta, s.text(c2s), s.text(s2c))
	}
}

func TestFinOutOfOrder(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(0, 0, fA, "abc")
	c.c2s(6, 0, fA|fF, "ghi") // FIN arrives before "def"
	c.s2c(0, 0, fA|fF, "")
	s := only(t, f)
	if s.closed {
		t.Fatalf("closed while client bytes still missing")
	}
	c.c2s(3, 0, fA, "def")
	if !s.closed || s.text(c2s) != "abcdefghi" {
		t.Fatalf("closed %v text %q", s.closed, s.text(c2s))
	}
}

func TestFinWithMissingTailGapsAtClose(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(0, 0, fA, "abc")
	c.c2s(7, 0, fA|fF, "") // FIN says the stream was 7 bytes; 4 never seen
	c.s2c(0, 8, fA|fF, "")
	a.Tick(c.ts.Add(a.cfg.ClosingTimeout))
	s := only(t, f)
	if !s.closed || s.text(c2s) != "abc[gap 4]" {
		t.Fatalf("closed %v text %q", s.closed, s.text(c2s))
	}
}

func TestRstThenDataContinues(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(0, 0, fA, "GET /a ")
	// Injected RST, in window, claiming to be the server.
	c.s2c(0, 7, fR|fA, "")
	c.c2s(7, 0, fA, "HTTP/1.1\r\n\r\n")
	c.s2c(0, 19, fA, "HTTP/1.1 200 OK\r\n\r\n")
	s := only(t, f)
	a.Tick(c.ts.Add(a.cfg.ResetTimeout))
	if s.closed {
		t.Fatalf("RST followed by data closed the stream")
	}
	if s.text(c2s) != "GET /a HTTP/1.1\r\n\r\n" || s.text(s2c) != "HTTP/1.1 200 OK\r\n\r\n" {
		t.Fatalf("streams %q %q", s.text(c2s), s.text(s2c))
	}
	st := a.Stats()
	if st.Resets != 1 || st.ResetsCancelled != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRstClosesAfterResetTimeout(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(0, 0, fA, "abc")
	c.s2c(0, 3, fR|fA, "")
	s := only(t, f)
	a.Tick(c.ts.Add(a.cfg.ResetTimeout - 1))
	if s.closed {
		t.Fatalf("closed before ResetTimeout")
	}
	a.Tick(c.ts.Add(a.cfg.ResetTimeout))
	if !s.closed || a.Stats().ClosedReset != 1 {
		t.Fatalf("not closed after ResetTimeout: %+v", a.Stats())
	}
}

func TestRstOutOfWindowIgnored(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(0, 0, fA, "abc")
	c.send(pkt(c.srv, c.cli, c.siss+1+a.cfg.MaxWindow+100, 0, fR, nil, c.step()))
	a.Tick(c.ts.Add(a.cfg.ResetTimeout))
	if only(t, f).closed || a.Stats().FinRstIgnored != 1 {
		t.Fatalf("blind RST acted on: %+v", a.Stats())
	}
}

func TestFinPlusRstCloses(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(0, 0, fA|fF, "bye")
	c.s2c(0, 4, fR|fA, "")
	if !only(t, f).closed {
		t.Fatalf("FIN + RST did not close")
	}
}

// bug-3286 style: the server's RST and FIN arrive before its SYN-ACK; the
// session that follows must be one stream with all its bytes.
func TestSpuriousRstFinBeforeHandshake(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.send(pkt(c.cli, c.srv, c.ciss, 0, fS, nil, c.step()))
	c.send(pkt(c.srv, c.cli, c.siss+77, c.ciss+1, fR|fA, nil, c.step()))
	c.send(pkt(c.srv, c.cli, c.siss+99, c.ciss+1, fF|fA, nil, c.step()))
	c.send(pkt(c.srv, c.cli, c.siss, c.ciss+1, fS|fA, nil, c.step()))
	c.c2s(0, 0, fA, "")
	c.c2s(0, 0, fA|fP, "GET / HTTP/1.1\r\n\r\n")
	c.s2c(0, 18, fA|fP, "HTTP/1.1 200 OK\r\n\r\n")
	a.Tick(c.ts.Add(a.cfg.ResetTimeout))
	s := only(t, f)
	if s.closed || s.text(c2s) != "GET / HTTP/1.1\r\n\r\n" || s.text(s2c) != "HTTP/1.1 200 OK\r\n\r\n" {
		t.Fatalf("closed %v c2s %q s2c %q", s.closed, s.text(c2s), s.text(s2c))
	}
}

func TestPortReuseAfterRst(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.send(pkt(c.cli, c.srv, c.ciss, 0, fS, nil, c.step()))
	c.send(pkt(c.srv, c.cli, 0, c.ciss+1, fR|fA, nil, c.step())) // refused
	c.send(pkt(c.cli, c.srv, c.ciss, 0, fS, nil, c.step()))      // SYN retransmit: same conn
	if len(f.streams) != 1 {
		t.Fatalf("SYN retransmit started a new connection")
	}
	c.ciss = 90000
	c.handshake()
	c.c2s(0, 0, fA, "GET /")
	if len(f.streams) != 2 || !f.streams[0].closed || f.streams[1].closed {
		t.Fatalf("%d streams", len(f.streams))
	}
	if f.streams[1].text(c2s) != "GET /" || a.Stats().PortReuse != 1 {
		t.Fatalf("new stream %q, stats %+v", f.streams[1].text(c2s), a.Stats())
	}
}

func TestPortReuseAfterFin(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(0, 0, fA|fF, "one")
	// The server's FIN was not captured; a new SYN reuses the ports.
	c.ciss += 100000
	c.handshake()
	c.c2s(0, 0, fA, "two")
	if len(f.streams) != 2 || f.streams[0].text(c2s) != "one" || f.streams[1].text(c2s) != "two" || !f.streams[0].closed {
		t.Fatalf("streams %d", len(f.streams))
	}
}

func TestTCPFastOpen(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.send(pkt(c.cli, c.srv, c.ciss, 0, fS, []byte("GET /tfo"), c.step()))
	c.send(pkt(c.srv, c.cli, c.siss, c.ciss+9, fS|fA, nil, c.step()))
	c.c2s(8, 0, fA, " HTTP/1.1\r\n\r\n")
	// A retransmitted SYN with the same data changes nothing.
	c.send(pkt(c.cli, c.srv, c.ciss, 0, fS, []byte("GET /tfo"), c.step()))
	if got := only(t, f).text(c2s); got != "GET /tfo HTTP/1.1\r\n\r\n" {
		t.Fatalf("got %q", got)
	}
}

func TestSequenceWraparound(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		r := rand.New(rand.NewPCG(seed, 99))
		a, f := newTest(t, nil)
		c := newConv(t, a)
		c.ciss = 0xFFFFFFFF - uint32(r.IntN(2000))
		c.siss = 0xFFFFFFF0
		c.handshake()
		body := randBody(r, 4000)
		offs, parts := chunks(r, body, 150)
		for _, i := range r.Perm(len(offs)) {
			c.c2s(offs[i], 0, fA, parts[i])
		}
		c.s2c(0, uint32(len(body)), fA, "ok")
		s := only(t, f)
		if s.text(c2s) != body || s.text(s2c) != "ok" {
			t.Fatalf("seed %d: wrap broke reassembly", seed)
		}
		if a.Stats().GapEvents != 0 {
			t.Fatalf("seed %d: spurious gap", seed)
		}
	}
}

func TestIdleTimeouts(t *testing.T) {
	cfg := DefaultConfig()
	cases := []struct {
		name string
		run  func(c *conv)
		want time.Duration
	}{
		{"established", func(c *conv) { c.handshake(); c.c2s(0, 0, fA, "x") }, cfg.IdleTimeout},
		{"half-open", func(c *conv) { c.send(pkt(c.cli, c.srv, c.ciss, 0, fS, nil, c.step())) }, cfg.HalfOpenTimeout},
		{"one FIN", func(c *conv) { c.handshake(); c.c2s(0, 0, fA|fF, "x") }, cfg.ClosingTimeout},
		{"reset", func(c *conv) { c.handshake(); c.s2c(0, 0, fR|fA, "") }, cfg.ResetTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, f := newTest(t, nil)
			c := newConv(t, a)
			tc.run(c)
			s := only(t, f)
			a.Tick(c.ts.Add(tc.want - time.Nanosecond))
			if s.closed {
				t.Fatalf("closed before %v", tc.want)
			}
			a.Tick(c.ts.Add(tc.want))
			if !s.closed || a.Stats().Conns != 0 {
				t.Fatalf("open after %v", tc.want)
			}
		})
	}
}

func TestPerConnCapSkipsOldestHole(t *testing.T) {
	a, f := newTest(t, func(c *Config) { c.MaxBufferedPerConn = 10 })
	c := newConv(t, a)
	c.handshake()
	c.c2s(0, 0, fA, "ab")
	c.c2s(4, 0, fA, "efgh")   // hole [2,4), 4 buffered
	c.c2s(10, 0, fA, "klmn")  // hole [8,10), 8 buffered
	c.c2s(16, 0, fA, "qrstu") // would be 13 > 10: skip the hole at 2
	s := only(t, f)
	if got, want := s.text(c2s), "ab[gap 2]efgh"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	if st := a.Stats(); st.CapGaps != 1 || st.BufferedBytes != 9 {
		t.Fatalf("stats %+v", st)
	}
	a.FlushAll(c.ts)
	if got, want := s.text(c2s), "ab[gap 2]efgh[gap 2]klmn[gap 2]qrstu"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestSegmentCap(t *testing.T) {
	a, f := newTest(t, func(c *Config) { c.MaxSegmentsPerConn = 3 })
	c := newConv(t, a)
	c.handshake()
	for i := uint32(1); i <= 5; i++ {
		c.c2s(2*i, 0, fA, "x")
	}
	if got, want := only(t, f).text(c2s), "[gap 2]x[gap 1]x"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestTotalCapFlushesOldestBufferingConn(t *testing.T) {
	a, f := newTest(t, func(c *Config) { c.MaxBufferedTotal = 10 })
	c1 := newConv(t, a)
	c1.handshake()
	c1.c2s(2, 0, fA, "AAAAAA") // conn 1 buffers 6
	c2 := newConv(t, a)
	c2.cli = mustAP("10.0.0.9:40001")
	c2.ts = c1.ts
	c2.handshake()
	c2.c2s(2, 0, fA, "BBBBBB") // 12 > 10: conn 1's hole is skipped
	if f.streams[0].text(c2s) != "[gap 2]AAAAAA" || f.streams[1].text(c2s) != "" {
		t.Fatalf("s1 %q s2 %q", f.streams[0].text(c2s), f.streams[1].text(c2s))
	}
	if a.Stats().BufferedBytes != 6 {
		t.Fatalf("buffered %d", a.Stats().BufferedBytes)
	}
}

func TestHugeSegmentBeyondCapsDeliveredDirectly(t *testing.T) {
	a, f := newTest(t, func(c *Config) { c.MaxBufferedPerConn = 4; c.MaxBufferedTotal = 4 })
	c := newConv(t, a)
	c.handshake()
	c.c2s(3, 0, fA, "0123456789")
	if got := only(t, f).text(c2s); got != "[gap 3]0123456789" {
		t.Fatalf("got %q", got)
	}
}

func TestDeterministic(t *testing.T) {
	run := func() string {
		a, f := newTest(t, func(c *Config) { c.MaxBufferedTotal = 4096; c.MaxConns = 40 })
		storm(t, a, 11, 3000, 60)
		a.FlushAll(t0.Add(time.Hour))
		var b strings.Builder
		for _, s := range f.streams {
			b.WriteString(s.log())
		}
		return b.String()
	}
	if x, y := run(), run(); x != y {
		t.Fatalf("two runs of the same packets differ")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	bad := []func(*Config){
		func(c *Config) { c.MaxConns = 0 },
		func(c *Config) { c.MaxBufferedPerConn = -1 },
		func(c *Config) { c.MaxBufferedTotal = -1 },
		func(c *Config) { c.MaxSegmentsPerConn = -1 },
		func(c *Config) { c.MaxWindow = 0 },
		func(c *Config) { c.MaxWindow = 1<<30 + 1 },
		func(c *Config) { c.IdleTimeout = 0 },
		func(c *Config) { c.ResetTimeout = -time.Second },
	}
	for i, mod := range bad {
		c := DefaultConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("case %d: invalid config accepted", i)
		}
	}
}

func TestNonTCPIgnored(t *testing.T) {
	a, f := newTest(t, nil)
	d := pkt(cliAddr, srvAddr, 1, 1, 0, []byte("udp"), t0)
	d.Proto = 17
	a.Packet(d)
	if len(f.streams) != 0 || a.Stats().NonTCP != 1 {
		t.Fatalf("UDP packet handled")
	}
}

// After both FINs, a retransmission of the server's response (as in
// security-4710-01) is recognised as old bytes of the closed connection:
// no new mid-stream connection, no phantom second response. New bytes, or
// the same packet after ClosingTimeout, do start a connection.
func TestLateRetransmitAfterClose(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(0, 0, fA, "GET / HTTP/1.1\r\n\r\n")
	c.s2c(0, 18, fA, "HTTP/1.1 200 OK\r\n\r\n")
	c.s2c(19, 18, fA|fF, "")
	c.c2s(18, 20, fA|fF, "")
	if len(f.streams) != 1 || !f.streams[0].closed {
		t.Fatalf("connection not closed by the FINs: %d streams", len(f.streams))
	}
	c.s2c(0, 19, fA|fP|fF, "HTTP/1.1 200 OK\r\n\r\n") // the whole response again
	if len(f.streams) != 1 || a.Stats().LateRetransmits != 1 {
		t.Fatalf("late retransmit: %d streams, stats %+v", len(f.streams), a.Stats())
	}
	c.ts = c.ts.Add(a.cfg.ClosingTimeout + time.Second)
	c.s2c(0, 19, fA|fP, "HTTP/1.1 200 OK\r\n\r\n")
	if len(f.streams) != 2 {
		t.Fatalf("after the closing timeout the same bytes should start a connection: %d streams", len(f.streams))
	}
}

// The set of closed connections is bounded.
func TestClosedSetCap(t *testing.T) {
	a, _ := newTest(t, func(c *Config) { c.MaxConns = 100 })
	for i := 0; i < 1000; i++ {
		c := newConv(t, a)
		c.cli = netip.AddrPortFrom(c.cli.Addr(), uint16(10000+i))
		c.handshake()
		c.c2s(0, 0, fA|fF, "x")
		c.s2c(0, 2, fA|fF, "")
		if n := a.closed.len(); n > 100 {
			t.Fatalf("closed set holds %d entries, cap 100", n)
		}
	}
	if a.Stats().ClosedFin != 1000 {
		t.Fatalf("closed %d", a.Stats().ClosedFin)
	}
}

// A connection that the total buffer cap finishes (its hole skipped, its
// buffered FIN delivered) is closed with a tombstone like any other: a late
// retransmit of its data starts no new connection.
func TestTotalCapCloseLeavesTombstone(t *testing.T) {
	a, f := newTest(t, func(c *Config) { c.MaxBufferedTotal = 10 })
	c1 := newConv(t, a)
	c1.handshake()
	c1.c2s(0, 0, fA|fF, "GET")    // client done
	c1.s2c(2, 4, fA|fF, "XXXXXX") // server data behind a hole, with its FIN
	c2 := newConv(t, a)
	c2.cli = mustAP("10.0.0.9:40001")
	c2.ts = c1.ts
	c2.handshake()
	c2.c2s(2, 0, fA, "BBBBBB") // 12 > 10: c1's hole is skipped, c1 finishes
	if !f.streams[0].closed || a.Stats().ClosedFin != 1 {
		t.Fatalf("c1 not closed by the cap: closed %v, stats %+v", f.streams[0].closed, a.Stats())
	}
	n := len(f.streams)
	c1.s2c(2, 4, fA, "XXXXXX") // a late retransmit of c1's server data
	if len(f.streams) != n || a.Stats().LateRetransmits != 1 {
		t.Fatalf("late retransmit after a cap close: %d streams (want %d), stats %+v", len(f.streams), n, a.Stats())
	}
}

// Flows that share a recent-connection slot (the same port pair from
// other clients or in another tunnel, or ports that hash alike) interleave
// packet by packet, and a flow closed by port reuse is replaced in its
// slot: each stream gets exactly its own bytes.
func TestRecentSlotSharedByFlows(t *testing.T) {
	a, f := newTest(t, nil)
	port := uint16(40001) // another client port whose pair shares the slot
	for recentSlot(port, 80) != recentSlot(cliAddr.Port(), 80) {
		port++
	}
	flows := []struct {
		cli    netip.AddrPort
		tunnel uint64
	}{
		{cliAddr, 0},
		{netip.MustParseAddrPort("10.0.0.9:40000"), 0}, // same ports, other client
		{netip.AddrPortFrom(cliAddr.Addr(), port), 0},
		{netip.MustParseAddrPort("[fd00::1]:40000"), 0}, // IPv6, same ports
		{cliAddr, 7}, // the first flow's 4-tuple in another tunnel
	}
	var convs []*conv
	for _, fl := range flows {
		c := newConv(t, a)
		c.cli, c.tunnel = fl.cli, fl.tunnel
		if fl.cli.Addr().Is6() {
			c.srv = netip.MustParseAddrPort("[fd00::2]:80")
		}
		c.handshake()
		convs = append(convs, c)
	}
	for i := range 3 {
		for k, c := range convs {
			c.c2s(uint32(i*2), 0, fA|fP, string(rune('a'+k))+"x")
		}
	}
	// A RST marks flow 1 reset (it closes later, at ResetTimeout); a SYN on
	// its 4-tuple then counts as port reuse and closes it at once.
	convs[1].c2s(6, 0, fA|fR, "")
	convs[1].ciss = 9000
	convs[1].handshake()
	convs[1].c2s(0, 0, fA|fP, "new")
	if st := a.Stats(); st.PortReuse != 1 || len(f.streams) != len(flows)+1 {
		t.Fatalf("%d streams, %d port reuses; want %d and 1", len(f.streams), st.PortReuse, len(flows)+1)
	}
	k, _ := pkt(convs[1].cli, convs[1].srv, 0, 0, 0, nil, t0).Key()
	if c := a.conns[k]; c == nil || a.recent[recentSlot(40000, 80)] != c {
		t.Fatalf("the slot does not hold the new flow of %v", convs[1].cli)
	}
	for k, s := range f.streams[:len(flows)] {
		if want := strings.Repeat(string(rune('a'+k))+"x", 3); s.text(c2s) != want {
			t.Errorf("stream %d (%v): %q, want %q", k, s.meta.Client, s.text(c2s), want)
		}
	}
	if got := f.streams[len(flows)].text(c2s); got != "new" {
		t.Errorf("flow after the port reuse: %q", got)
	}
}

// cut sends client bytes at relative offset off whose last cut bytes the
// capture's snap length dropped (Decoded.Cut).
func (c *conv) cut(off uint32, flags uint8, data string, cut int) {
	c.t.Helper()
	d := pkt(c.cli, c.srv, c.ciss+1+off, c.siss+1, flags, []byte(data), c.step())
	d.Cut = cut
	c.send(d)
}

// A segment cut by the snap length is a gap known at once: the stream gets
// it right after the captured bytes, with no later packet or ACK needed,
// and the next segment continues in order. A retransmit of the cut segment
// is not a second gap; bytes already buffered inside the cut range are
// delivered instead of being counted missing; a FIN after a cut tail closes
// without a gap of its own.
func TestSnapCut(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.cut(0, fA|fP, "GET /x HTTP/1.1\r\nHo", 10)
	s := only(t, f)
	if got, want := s.text(c2s), "GET /x HTTP/1.1\r\nHo[gap 10]"; got != want {
		t.Fatalf("after the cut segment %q, want %q", got, want)
	}
	c.cut(0, fA|fP, "GET /x HTTP/1.1\r\nHo", 10) // retransmitted, cut the same way
	c.c2s(29, 0, fA|fP, "GET /y")
	if got, want := s.text(c2s), "GET /x HTTP/1.1\r\nHo[gap 10]GET /y"; got != want {
		t.Fatalf("after the next segment %q, want %q", got, want)
	}
	// A smaller segment inside the next cut range came first (out of order).
	c.c2s(39, 0, fA, "efgh")
	c.cut(35, fA, "ab", 10)
	if got, want := s.text(c2s), "GET /x HTTP/1.1\r\nHo[gap 10]GET /y"+"ab[gap 2]efgh[gap 4]"; got != want {
		t.Fatalf("with a buffered segment in the cut range %q, want %q", got, want)
	}
	// The rest of that cut range is a gap too, up to 47, where the next
	// segment starts; a FIN-carrying cut segment ends the stream.
	c.cut(47, fA|fF, "tail", 6)
	c.s2c(0, 57, fA|fF, "")
	st := a.Stats()
	if !s.closed || st.SnapCutBytes != 22 || st.MissedBytes != 22 || st.GapEvents != 4 || st.AckGaps != 0 || st.Retransmits != 1 {
		t.Fatalf("closed %v, stats %+v", s.closed, st)
	}
	if got, want := s.text(c2s), "GET /x HTTP/1.1\r\nHo[gap 10]GET /yab[gap 2]efgh[gap 4]tail[gap 6]"; got != want {
		t.Fatalf("at close %q, want %q", got, want)
	}
}

// A cut range that completes a stream whose FIN came early closes the
// connection at once (the FIN is covered), without waiting for a timeout.
func TestSnapCutCompletesFin(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(0, 0, fA, "abc")
	c.c2s(13, 0, fA|fF, "") // the FIN overtook the cut segment
	c.s2c(0, 14, fA|fF, "")
	c.cut(3, fA, "def", 7)
	s := only(t, f)
	if !s.closed || s.text(c2s) != "abcdef[gap 7]" {
		t.Fatalf("closed %v text %q", s.closed, s.text(c2s))
	}
	if st := a.Stats(); st.ClosedFin != 1 || st.SnapCutBytes != 7 || st.MissedBytes != 7 {
		t.Fatalf("stats %+v", st)
	}
}

// A buffered segment that starts right where the cut segment's captured
// bytes end is delivered with it; the rest of the cut range is the gap.
// A retransmit whose cut range delivery already passed adds no gap.
func TestSnapCutAfterBufferedTail(t *testing.T) {
	a, f := newTest(t, nil)
	c := newConv(t, a)
	c.handshake()
	c.c2s(5, 0, fA, "XY")
	c.cut(0, fA, "abcde", 10)
	s := only(t, f)
	if got, want := s.text(c2s), "abcdeXY[gap 8]"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	c.c2s(15, 0, fA, "0123456789")
	c.cut(0, fA, "abcde", 20) // retransmitted, cut shorter: its range is behind delivery
	if got, want := s.text(c2s), "abcdeXY[gap 8]0123456789"; got != want {
		t.Fatalf("after the retransmit %q want %q", got, want)
	}
	if st := a.Stats(); st.SnapCutBytes != 8 || st.MissedBytes != 8 || st.Retransmits != 1 {
		t.Fatalf("stats %+v", st)
	}
}
