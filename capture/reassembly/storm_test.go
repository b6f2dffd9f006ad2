package reassembly

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/apisensor/apisensor/capture"
	"github.com/apisensor/apisensor/model"
)

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// content is the byte at absolute sequence number seq in every synthetic
// stream, so any delivered byte can be checked without storing the stream.
func content(seq uint32) byte { return byte(seq*31 ^ seq>>7 ^ seq>>17) }

func fill(b []byte, seq uint32) []byte {
	for i := range b {
		b[i] = content(seq + uint32(i))
	}
	return b
}

func stormClient(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(20000+i%30000))
}

func stormISN(i int, dir model.Direction) uint32 {
	return uint32(i)*2654435761 + uint32(dir)*0x9E3779B9
}

// contentChecker verifies every delivered byte of stream s against content,
// given the stream's first sequence number per direction.
func contentChecker(t testing.TB, base func(s *recStream, dir model.Direction) uint32) func(s *recStream) func(model.Direction, int64, []byte) {
	return func(s *recStream) func(model.Direction, int64, []byte) {
		return func(dir model.Direction, off int64, b []byte) {
			start := base(s, dir) + uint32(off)
			for i, c := range b {
				if c != content(start+uint32(i)) {
					t.Fatalf("stream %v dir %v: byte at offset %d is wrong", s.meta.Client, dir, off+int64(i))
				}
			}
		}
	}
}

// storm sends npkts random packets over nconns connections: handshakes,
// in-order and out-of-order data in both directions, duplicates, FIN and
// RST, checking invariants after each.
func storm(t testing.TB, a *Assembler, seed uint64, npkts, nconns int) {
	r := rand.New(rand.NewPCG(seed, 1))
	srv := mustAP("10.9.9.9:80")
	buf := make([]byte, 2000)
	ts := t0
	for range npkts {
		i := r.IntN(nconns)
		cli := stormClient(i)
		ts = ts.Add(time.Duration(r.IntN(5)) * time.Millisecond)
		var d *capture.Decoded
		switch k := r.IntN(100); {
		case k < 2:
			d = pkt(cli, srv, stormISN(i, c2s), 0, fS, nil, ts)
		case k < 4:
			d = pkt(srv, cli, stormISN(i, s2c), stormISN(i, c2s)+1, fS|fA, nil, ts)
		case k < 5:
			d = pkt(cli, srv, stormISN(i, c2s)+1+uint32(r.IntN(3000)), 0, fF|fA, nil, ts)
		case k < 6:
			d = pkt(srv, cli, stormISN(i, s2c)+1+uint32(r.IntN(3000)), 0, fR, nil, ts)
		default:
			dir := model.Direction(r.IntN(2))
			seq := stormISN(i, dir) + 1 + uint32(r.IntN(20000))
			p := fill(buf[:1+r.IntN(1460)], seq)
			from, to := cli, srv
			if dir == s2c {
				from, to = srv, cli
			}
			ack := stormISN(i, dir.Reverse()) + 1 + uint32(r.IntN(20000))
			d = pkt(from, to, seq, ack, fA, p, ts)
		}
		a.Packet(d)
		checkInvariants(t, a)
	}
}

func TestStormInvariants(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		a, f := newTest(t, func(c *Config) {
			c.MaxConns = 64
			c.MaxBufferedPerConn = 8 << 10
			c.MaxBufferedTotal = 100 << 10
			c.MaxSegmentsPerConn = 32
		})
		storm(t, a, seed, 20000, 100)
		a.FlushAll(t0.Add(time.Hour))
		checkInvariants(t, a)
		for _, s := range f.streams {
			if !s.closed {
				t.Fatalf("stream left open after FlushAll")
			}
		}
		st := a.Stats()
		if st.Conns != 0 || st.BufferedBytes != 0 || st.BufferedSegments != 0 || st.Evicted == 0 {
			t.Fatalf("stats after flush %+v", st)
		}
	}
}

// TestOOOStormCaps: hundreds of connections whose first hole never fills,
// each spraying out-of-order segments. The caps must hold after every
// packet, every delivered byte must be the right one, and delivered bytes
// plus reported gaps must cover exactly the span each direction sent.
func TestOOOStormCaps(t *testing.T) {
	const nconns = 300
	a, f := newTest(t, func(c *Config) {
		c.MaxBufferedPerConn = 16 << 10
		c.MaxBufferedTotal = 512 << 10
		c.MaxSegmentsPerConn = 64
	})
	idx := map[netip.AddrPort]int{}
	for i := range nconns {
		idx[stormClient(i)] = i
	}
	f.check = contentChecker(t, func(s *recStream, dir model.Direction) uint32 {
		return stormISN(idx[s.meta.Client], dir) + 1
	})
	srv := mustAP("10.9.9.9:80")
	ts := t0
	for i := range nconns {
		a.Packet(pkt(stormClient(i), srv, stormISN(i, c2s), 0, fS, nil, ts))
		a.Packet(pkt(srv, stormClient(i), stormISN(i, s2c), stormISN(i, c2s)+1, fS|fA, nil, ts))
	}
	var maxEnd [nconns][2]uint32
	r := rand.New(rand.NewPCG(42, 42))
	buf := make([]byte, 1460)
	for range 100000 {
		i := r.IntN(nconns)
		dir := model.Direction(r.IntN(2))
		off := 100 + uint32(r.IntN(1<<17)) // the first 100 bytes never come
		seq := stormISN(i, dir) + 1 + off
		p := fill(buf[:1+r.IntN(len(buf))], seq)
		from, to := stormClient(i), srv
		if dir == s2c {
			from, to = srv, from
		}
		// No ACK flag: acks would skip holes and hide the caps under test.
		a.Packet(pkt(from, to, seq, 0, fP, p, ts))
		maxEnd[i][dir] = max(maxEnd[i][dir], off+uint32(len(p)))
		if a.Stats().BufferedBytes > a.cfg.MaxBufferedTotal {
			t.Fatalf("BufferedBytes %d over cap", a.Stats().BufferedBytes)
		}
		checkInvariants(t, a)
	}
	st := a.Stats()
	if st.PeakBufferedBytes > a.cfg.MaxBufferedTotal || st.CapGaps == 0 {
		t.Fatalf("stats %+v", st)
	}
	a.FlushAll(ts)
	for _, s := range f.streams {
		i := idx[s.meta.Client]
		for dir := range 2 {
			if got, want := s.bytes[dir]+s.gaps[dir], int64(maxEnd[i][dir]); got != want {
				t.Fatalf("conn %d dir %d: delivered %d + gaps %d != span %d", i, dir, s.bytes[dir], s.gaps[dir], want)
			}
		}
	}
}

// TestMaxConnsHalfOpen: 100k SYNs that are never answered. The table must
// never exceed MaxConns, and every eviction closes its stream.
func TestMaxConnsHalfOpen(t *testing.T) {
	const n, limit = 100000, 1000
	a, f := newTest(t, func(c *Config) { c.MaxConns = limit })
	f.countOnly = true
	srv := mustAP("10.9.9.9:443")
	for i := range n {
		cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000)
		a.Packet(pkt(cli, srv, uint32(i), 0, fS, nil, t0.Add(time.Duration(i)*time.Microsecond)))
		if c := a.Stats().Conns; c > limit || c != len(a.conns) {
			t.Fatalf("after %d SYNs: %d conns (map %d)", i+1, c, len(a.conns))
		}
	}
	st := a.Stats()
	closed := 0
	for _, s := range f.streams {
		if s.closed {
			closed++
		}
	}
	if st.Evicted != n-limit || closed != n-limit || st.PeakConns != limit || len(f.streams) != n {
		t.Fatalf("evicted %d closed %d peak %d streams %d", st.Evicted, closed, st.PeakConns, len(f.streams))
	}
	// The evicted ones are the oldest: the survivors are the last 1000.
	for i, s := range f.streams {
		if s.closed != (i < n-limit) {
			t.Fatalf("stream %d closed=%v: eviction not oldest-first", i, s.closed)
		}
	}
	a.Tick(t0.Add(time.Hour))
	if a.Stats().Conns != 0 || a.Stats().Timeouts != limit {
		t.Fatalf("half-open conns not timed out: %+v", a.Stats())
	}
}

// TestGiBInOrderNoBuffering streams 1 GiB through one connection in order,
// generating segments on the fly: nothing may be buffered or copied.
func TestGiBInOrderNoBuffering(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB stream")
	}
	const total = 1 << 30
	a, f := newTest(t, nil)
	f.countOnly = true
	c := newConv(t, a)
	c.handshake()
	seg := fill(make([]byte, 1460), 0)
	d := pkt(c.cli, c.srv, 0, c.siss+1, fA, nil, t0)
	ackPkt := pkt(c.srv, c.cli, c.siss+1, 0, fA, nil, t0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for off := 0; off < total; off += len(seg) {
		d.Seq = c.ciss + 1 + uint32(off)
		d.Payload = seg[:min(len(seg), total-off)]
		d.TS = d.TS.Add(time.Microsecond)
		a.Packet(d)
		if a.stats.BufferedBytes != 0 {
			t.Fatalf("buffered %d bytes on an in-order stream", a.stats.BufferedBytes)
		}
		if off%(64<<10) == 0 {
			ackPkt.Ack = d.Seq
			ackPkt.TS = d.TS
			a.Packet(ackPkt)
		}
	}
	runtime.ReadMemStats(&after)
	s := only(t, f)
	st := a.Stats()
	if s.bytes[c2s] != total || st.PeakBufferedBytes != 0 || st.DeliveredBytes != total {
		t.Fatalf("delivered %d, peak buffered %d", s.bytes[c2s], st.PeakBufferedBytes)
	}
	// 735k packets: a single allocation per packet would be > 10 MiB.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("allocated %d bytes while streaming", grew)
	}
}

// TestPoolAndFreeListBounded: after storms that buffer and release many
// segments and connections, the idle buffer pool and the recycled
// connection list stay within their caps.
func TestPoolAndFreeListBounded(t *testing.T) {
	a, _ := newTest(t, func(c *Config) {
		c.MaxConns = 2000
		c.MaxBufferedTotal = 64 << 20
		c.MaxBufferedPerConn = 1 << 20
	})
	storm(t, a, 5, 60000, 1500)
	a.FlushAll(t0.Add(time.Hour))
	if a.Stats().PeakBufferedBytes == 0 || a.Stats().ConnsCreated < 1500 {
		t.Fatalf("storm did not exercise the pool: %+v", a.Stats())
	}
	idle := 0
	for c, l := range a.pool.free {
		size := 1 << (c + minPoolShift)
		if len(l) > max(poolClassBytes/size, minPoolKeep) {
			t.Fatalf("pool class %d holds %d buffers", size, len(l))
		}
		idle += len(l) * size
	}
	if idle > (maxPoolShift-minPoolShift+1)*poolClassBytes {
		t.Fatalf("pool holds %d idle bytes", idle)
	}
	if len(a.free) > 1024 {
		t.Fatalf("free conn list %d", len(a.free))
	}
}
