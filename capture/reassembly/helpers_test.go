package reassembly

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/apisensor/apisensor/capture"
	"github.com/apisensor/apisensor/model"
)

const (
	evData = iota
	evGap
	evClose
)

type event struct {
	kind int
	dir  model.Direction
	data []byte
	n    int
	ts   time.Time
}

// recStream records every call and fails the test on a call after Close.
type recStream struct {
	t      testing.TB
	meta   model.ConnMeta
	events []event
	closed bool
	// count-only mode: keep totals, not bytes (for the 1 GiB test).
	countOnly bool
	bytes     [2]int64
	gaps      [2]int64
	// pos tracks the stream offset per direction for content checks.
	check func(dir model.Direction, off int64, b []byte)
}

func (s *recStream) Data(dir model.Direction, b []byte, ts time.Time) {
	if s.closed {
		s.t.Fatalf("Data after Close")
	}
	if len(b) == 0 {
		s.t.Fatalf("empty Data call")
	}
	if s.check != nil {
		s.check(dir, s.bytes[dir]+s.gaps[dir], b)
	}
	s.bytes[dir] += int64(len(b))
	if !s.countOnly {
		s.events = append(s.events, event{kind: evData, dir: dir, data: append([]byte(nil), b...), ts: ts})
	}
}

func (s *recStream) Gap(dir model.Direction, n int, ts time.Time) {
	if s.closed {
		s.t.Fatalf("Gap after Close")
	}
	if n <= 0 {
		s.t.Fatalf("Gap(%d): non-positive", n)
	}
	s.gaps[dir] += int64(n)
	if !s.countOnly {
		s.events = append(s.events, event{kind: evGap, dir: dir, n: n, ts: ts})
	}
}

func (s *recStream) Close(ts time.Time) {
	if s.closed {
		s.t.Fatalf("Close twice")
	}
	s.closed = true
	if !s.countOnly {
		s.events = append(s.events, event{kind: evClose, ts: ts})
	}
}

// text renders one direction as its bytes with gaps as "[gap N]".
func (s *recStream) text(dir model.Direction) string {
	var b strings.Builder
	for _, e := range s.events {
		if e.dir != dir {
			continue
		}
		switch e.kind {
		case evData:
			b.Write(e.data)
		case evGap:
			fmt.Fprintf(&b, "[gap %d]", e.n)
		}
	}
	return b.String()
}

// log renders every event, for determinism comparisons.
func (s *recStream) log() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %v %v\n", s.meta.Client, s.meta.Server, s.meta.Midstream)
	for _, e := range s.events {
		fmt.Fprintf(&b, "%d %v %q %d %d\n", e.kind, e.dir, e.data, e.n, e.ts.UnixNano())
	}
	return b.String()
}

type recFactory struct {
	t         testing.TB
	streams   []*recStream
	countOnly bool
	check     func(s *recStream) func(dir model.Direction, off int64, b []byte)
}

func (f *recFactory) NewStream(meta model.ConnMeta) Stream {
	s := &recStream{t: f.t, meta: meta, countOnly: f.countOnly}
	if f.check != nil {
		s.check = f.check(s)
	}
	f.streams = append(f.streams, s)
	return s
}

var (
	cliAddr = netip.MustParseAddrPort("10.0.0.1:40000")
	srvAddr = netip.MustParseAddrPort("10.0.0.2:80")
	t0      = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

const (
	fS = capture.TCPSyn
	fA = capture.TCPAck
	fF = capture.TCPFin
	fR = capture.TCPRst
	fP = capture.TCPPsh
)

// pkt builds a TCP packet from src to dst.
func pkt(src, dst netip.AddrPort, seq, ack uint32, flags uint8, payload []byte, ts time.Time) *capture.Decoded {
	return &capture.Decoded{
		TS: ts, Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(), Proto: 6,
		Seq: seq, Ack: ack, Flags: flags, Payload: payload,
	}
}

// conv drives one client/server conversation with relative sequence numbers.
type conv struct {
	t        testing.TB
	a        *Assembler
	cli, srv netip.AddrPort
	ciss     uint32 // client ISN
	siss     uint32 // server ISN
	tunnel   uint64 // Decoded.Tunnel of every packet
	ts       time.Time
}

func newConv(t testing.TB, a *Assembler) *conv {
	return &conv{t: t, a: a, cli: cliAddr, srv: srvAddr, ciss: 1000, siss: 5000, ts: t0}
}

func (c *conv) step() time.Time { c.ts = c.ts.Add(time.Millisecond); return c.ts }

// c2s sends client bytes at relative offset off (0 = first data byte) and
// acks server offset sack.
func (c *conv) c2s(off, sack uint32, flags uint8, data string) {
	c.t.Helper()
	c.send(pkt(c.cli, c.srv, c.ciss+1+off, c.siss+1+sack, flags, []byte(data), c.step()))
}

func (c *conv) s2c(off, cack uint32, flags uint8, data string) {
	c.t.Helper()
	c.send(pkt(c.srv, c.cli, c.siss+1+off, c.ciss+1+cack, flags, []byte(data), c.step()))
}

func (c *conv) send(d *capture.Decoded) {
	c.t.Helper()
	d.Tunnel = c.tunnel
	c.a.Packet(d)
	checkInvariants(c.t, c.a)
}

func (c *conv) handshake() {
	c.t.Helper()
	c.send(pkt(c.cli, c.srv, c.ciss, 0, fS, nil, c.step()))
	c.send(pkt(c.srv, c.cli, c.siss, c.ciss+1, fS|fA, nil, c.step()))
	c.c2s(0, 0, fA, "")
}

// checkInvariants verifies the bounds and internal consistency after every
// packet: caps hold, per-connection accounting adds up, buffered segments are
// sorted, non-overlapping and all after the next expected byte.
func checkInvariants(t testing.TB, a *Assembler) {
	t.Helper()
	st := a.stats
	if st.BufferedBytes > a.cfg.MaxBufferedTotal || st.BufferedBytes < 0 {
		t.Fatalf("BufferedBytes %d outside 0..%d", st.BufferedBytes, a.cfg.MaxBufferedTotal)
	}
	if st.Conns != len(a.conns) || st.Conns > a.cfg.MaxConns {
		t.Fatalf("Conns %d, map %d, cap %d", st.Conns, len(a.conns), a.cfg.MaxConns)
	}
	if len(a.conns) > 50 && a.stats.Packets%512 != 0 {
		return // the full walk below is costly over a storm; the gauges above hold on every packet
	}
	total, segs := 0, 0
	for _, c := range a.conns {
		cb, cs := 0, 0
		for d := range c.h {
			h := &c.h[d]
			hb := 0
			for i := range h.segs {
				s := &h.segs[i]
				if len(s.data) == 0 {
					t.Fatalf("empty buffered segment")
				}
				if seqDiff(s.seq, h.next) <= 0 {
					t.Fatalf("buffered segment at %d not after next %d", s.seq, h.next)
				}
				if i > 0 && seqDiff(s.seq, h.segs[i-1].end()) < 0 {
					t.Fatalf("buffered segments overlap or unsorted")
				}
				hb += len(s.data)
			}
			if hb != h.buffered {
				t.Fatalf("half buffered %d, counted %d", h.buffered, hb)
			}
			cb += hb
			cs += len(h.segs)
		}
		if cb != c.buffered || cs != c.nsegs {
			t.Fatalf("conn buffered %d/%d segs %d/%d", c.buffered, cb, c.nsegs, cs)
		}
		if cb > a.cfg.MaxBufferedPerConn || cs > a.cfg.MaxSegmentsPerConn {
			t.Fatalf("conn over cap: %d bytes, %d segs", cb, cs)
		}
		if (cb > 0) != c.inBufList {
			t.Fatalf("buffering list membership %v with %d bytes", c.inBufList, cb)
		}
		total += cb
		segs += cs
	}
	if total != st.BufferedBytes || segs != st.BufferedSegments {
		t.Fatalf("assembler buffered %d/%d segs %d/%d", st.BufferedBytes, total, st.BufferedSegments, segs)
	}
}

func newTest(t testing.TB, mod func(*Config)) (*Assembler, *recFactory) {
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	f := &recFactory{t: t}
	return New(cfg, f), f
}
