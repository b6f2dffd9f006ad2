package reassembly

import (
	"testing"

	"github.com/apisensor/apisensor/model"
)

// FuzzAssembler turns bytes into a sequence of segments on one connection
// and checks the invariants: no panic, caps hold after every packet, every
// delivered byte is the byte sent at that position, and at the end
// delivered bytes + gaps == the span each direction sent (with snap cuts:
// at least the captured span, at most the sent one).
//
// Byte 0 selects a mode: even = data and ACKs only (the span invariant is
// exact), odd = SYN/FIN/RST allowed too (connections may close and restart,
// so only caps, no-panic and Close-once are checked). Then 6 bytes per
// segment: direction+flags+snap cut, offset (2), length, ack offset (2).
// The top 3 bits of the first byte are a snap-length cut (Decoded.Cut) of
// 0-21 bytes after the captured ones.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 10, 0, 0, 0, 0, 20, 5, 0, 0, 0, 0, 10, 8, 0, 0})
	f.Add([]byte{0, 0, 0, 30, 10, 0, 0, 1, 0, 0, 50, 0, 40, 0, 0, 10, 20, 0, 0})
	f.Add([]byte{1, 0x40, 0, 0, 0, 0, 0, 0x80, 0, 0, 10, 0, 0, 0x13, 0, 10, 5, 0, 0})
	f.Add([]byte{0, 0, 0xff, 0xf0, 0x40, 0, 0, 0, 0, 0, 0x40, 0, 0, 1, 0, 5, 0xff, 0, 0x10})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 1 {
			return
		}
		flagsMode := in[0]&1 == 1
		in = in[1:]
		cfg := DefaultConfig()
		cfg.MaxBufferedPerConn = 300
		cfg.MaxBufferedTotal = 200
		cfg.MaxSegmentsPerConn = 5
		cfg.MaxWindow = 4000
		fac := &recFactory{t: t, countOnly: true}
		a := New(cfg, fac)
		// Near the wrap, so a long input crosses it.
		isn := [2]uint32{0xFFFFFF00, 0x7FFFFFF0}
		if !flagsMode {
			fac.check = contentChecker(t, func(_ *recStream, dir model.Direction) uint32 { return isn[dir] + 1 })
		}
		c := newConv(t, a)
		c.ciss, c.siss = isn[0], isn[1]
		c.handshake()
		var span, wire [2]uint32       // furthest byte captured; sent (cuts included)
		ordered := [2]bool{true, true} // every segment started where the last one ended
		buf := make([]byte, 256)
		for ; len(in) >= 6; in = in[6:] {
			dir := model.Direction(in[0] & 1)
			off := uint32(in[1])<<8 | uint32(in[2])
			n := int(in[3])
			ackOff := uint32(in[4])<<8 | uint32(in[5])
			flags := uint8(fA)
			if in[0]&2 != 0 {
				flags = fP // no ACK
			}
			if flagsMode {
				flags |= (in[0] >> 2) & (fS | fF | fR)
			}
			seq := isn[dir] + 1 + off
			p := fill(buf[:n], seq)
			from, to := c.cli, c.srv
			if dir == s2c {
				from, to = to, from
			}
			if flags&fS != 0 {
				seq--
			}
			if n+int(in[0]>>5)*3 > 0 && off != wire[dir] {
				ordered[dir] = false
			}
			d := pkt(from, to, seq, isn[dir.Reverse()]+1+ackOff, flags, p, c.step())
			d.Cut = int(in[0]>>5) * 3
			c.send(d)
			if n > 0 {
				span[dir] = max(span[dir], off+uint32(n))
			}
			if n+d.Cut > 0 {
				wire[dir] = max(wire[dir], off+uint32(n+d.Cut))
			}
		}
		a.FlushAll(c.ts)
		checkInvariants(t, a)
		st := a.Stats()
		if st.Conns != 0 || st.BufferedBytes != 0 {
			t.Fatalf("after flush: %+v", st)
		}
		for _, s := range fac.streams {
			if !s.closed {
				t.Fatalf("stream not closed")
			}
		}
		if flagsMode {
			return
		}
		if len(fac.streams) != 1 {
			t.Fatalf("%d streams without SYN/FIN/RST", len(fac.streams))
		}
		s := fac.streams[0]
		for d := range 2 {
			// Every captured byte is delivered or skipped. A cut tail is
			// a gap when delivery reaches it with its segment; one behind
			// a hole is left to the usual hole handling, and the last may
			// stay unknown: so up to the furthest byte sent, not exactly.
			if got := s.bytes[d] + s.gaps[d]; got < int64(span[d]) || got > int64(max(wire[d], span[d])) {
				t.Fatalf("dir %d: delivered %d + gaps %d outside captured span %d .. sent span %d", d, s.bytes[d], s.gaps[d], span[d], wire[d])
			}
			// In order, every cut was reached with its segment: exact.
			if got := s.bytes[d] + s.gaps[d]; ordered[d] && got != int64(wire[d]) {
				t.Fatalf("dir %d in order: delivered %d + gaps %d != sent span %d", d, s.bytes[d], s.gaps[d], wire[d])
			}
		}
		if st.MissedBytes != uint64(s.gaps[0]+s.gaps[1]) || st.DeliveredBytes != uint64(s.bytes[0]+s.bytes[1]) {
			t.Fatalf("stats disagree with the stream: %+v", st)
		}
	})
}
