package capture

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// frag4 builds a raw IPv4 fragment of transport bytes l4[off:off+len(chunk)].
func frag4(src, dst netip.Addr, id uint16, proto uint8, off int, more bool, chunk []byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(chunk)))
	binary.BigEndian.PutUint16(h[4:], id)
	ff := uint16(off / 8)
	if more {
		ff |= 0x2000
	}
	binary.BigEndian.PutUint16(h[6:], ff)
	h[8] = 64
	h[9] = proto
	copy(h[12:], src.AsSlice())
	copy(h[16:], dst.AsSlice())
	return append(h, chunk...)
}

// frag6 builds a raw IPv6 packet with a fragment header.
func frag6(src, dst netip.Addr, id uint32, proto uint8, off int, more bool, chunk []byte) []byte {
	h := make([]byte, 48)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(chunk)))
	h[6] = 44
	h[7] = 64
	copy(h[8:], src.AsSlice())
	copy(h[24:], dst.AsSlice())
	h[40] = proto
	fo := uint16(off)
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(h[42:], fo)
	binary.BigEndian.PutUint32(h[44:], id)
	return append(h, chunk...)
}

type fragPiece struct {
	off  int
	more bool
	data []byte
}

// split cuts l4 into pieces of size n (a multiple of 8).
func split(l4 []byte, n int) []fragPiece {
	var out []fragPiece
	for off := 0; off < len(l4); off += n {
		end := min(off+n, len(l4))
		out = append(out, fragPiece{off, end < len(l4), l4[off:end]})
	}
	return out
}

// bigInner is a TCP segment long enough to need several fragments.
func bigInner(t testing.TB, v6 bool) (innerSpec, []byte) {
	in := defaultInner()
	if v6 {
		in = in.v6()
	}
	in.payload = bytes.Repeat([]byte("0123456789abcdef"), 100)
	ip := in.ip(t)
	hl := 20
	if v6 {
		hl = 40
	}
	return in, ip[hl:]
}

func TestDefragOrders(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		in, l4 := bigInner(t, v6)
		pieces := split(l4, 256)
		build := func(p fragPiece, id uint32) []byte {
			if v6 {
				return frag6(in.src, in.dst, id, 6, p.off, p.more, p.data)
			}
			return frag4(in.src, in.dst, uint16(id), 6, p.off, p.more, p.data)
		}
		orders := map[string][]int{"in-order": nil, "reverse": nil, "middle-first": nil}
		for i := range pieces {
			orders["in-order"] = append(orders["in-order"], i)
			orders["reverse"] = append(orders["reverse"], len(pieces)-1-i)
		}
		orders["middle-first"] = append([]int{len(pieces) / 2, len(pieces) - 1, 0}, orders["in-order"]...)
		orders["middle-first"] = uniq(orders["middle-first"])
		for name, order := range orders {
			d := NewDecoder(DefaultDecoderConfig())
			var out Decoded
			ok := 0
			for i, idx := range order {
				if d.Decode(&Packet{Data: build(pieces[idx], 7), LinkType: LinkRaw, TS: time.Unix(100, int64(i))}, &out) {
					ok++
					if i != len(order)-1 {
						t.Fatalf("v6=%v %s: completed early at %d", v6, name, i)
					}
					in.check(t, &out)
				}
			}
			s := d.Stats()
			if ok != 1 || s.FragmentsReassembled != 1 || s.FragmentHeld != uint64(len(order)-1) || d.frag.inFlight() != 0 {
				t.Fatalf("v6=%v %s: ok=%d stats %+v", v6, name, ok, s)
			}
			if v6 && s.IPv6Fragments != uint64(len(order)) {
				t.Fatalf("IPv6Fragments %d", s.IPv6Fragments)
			}
		}
	}
}

func uniq(xs []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// TestDefragOverlap: IPv4 keeps the first copy of overlapping bytes; IPv6
// drops the datagram (RFC 5722).
func TestDefragOverlap(t *testing.T) {
	in, l4 := bigInner(t, false)
	pieces := split(l4, 512)
	evil := bytes.Repeat([]byte{'X'}, 256)
	d := NewDecoder(DefaultDecoderConfig())
	var out Decoded
	send := func(off int, more bool, data []byte) bool {
		return d.Decode(&Packet{Data: frag4(in.src, in.dst, 9, 6, off, more, data), LinkType: LinkRaw}, &out)
	}
	send(pieces[0].off, true, pieces[0].data)
	send(256, true, evil) // overlaps the second half of piece 0 and the start of piece 1
	done := false
	for _, p := range pieces[1:] {
		done = send(p.off, p.more, p.data)
	}
	if !done {
		t.Fatalf("not completed: %+v", d.Stats())
	}
	in.check(t, &out) // payload intact except where only the evil copy was...
	if d.Stats().FragmentOverlaps == 0 {
		t.Fatal("overlap not counted")
	}

	in6, l46 := bigInner(t, true)
	p6 := split(l46, 512)
	d = NewDecoder(DefaultDecoderConfig())
	d.Decode(&Packet{Data: frag6(in6.src, in6.dst, 9, 6, p6[0].off, true, p6[0].data), LinkType: LinkRaw}, &out)
	if d.Decode(&Packet{Data: frag6(in6.src, in6.dst, 9, 6, 256, true, evil), LinkType: LinkRaw}, &out) {
		t.Fatal("overlapping IPv6 fragment accepted")
	}
	for _, p := range p6[1:] {
		if d.Decode(&Packet{Data: frag6(in6.src, in6.dst, 9, 6, p.off, p.more, p.data), LinkType: LinkRaw}, &out) {
			t.Fatal("IPv6 datagram with overlap completed")
		}
	}
	if s := d.Stats(); s.FragmentOverlaps != 1 || s.FragmentDropped == 0 || s.FragmentsReassembled != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestDefragCapAndTimeout: datagrams never completed are evicted by the
// cap and by packet-time timeout, and the map never exceeds the cap.
func TestDefragCapAndTimeout(t *testing.T) {
	cfg := DefaultDecoderConfig()
	cfg.MaxFragments = 8
	cfg.FragmentTimeout = 10 * time.Second
	d := NewDecoder(cfg)
	in, l4 := bigInner(t, false)
	first := split(l4, 256)[0]
	var out Decoded
	for i := 0; i < 100; i++ {
		d.Decode(&Packet{Data: frag4(in.src, in.dst, uint16(i), 6, 0, true, first.data), LinkType: LinkRaw, TS: time.Unix(1000, int64(i))}, &out)
		if d.frag.inFlight() > cfg.MaxFragments {
			t.Fatalf("in flight %d > cap %d", d.frag.inFlight(), cfg.MaxFragments)
		}
	}
	if s := d.Stats(); s.FragmentsEvicted != 100-8 || s.FragmentHeld != 100 {
		t.Fatalf("stats %+v", s)
	}
	// A later packet (any packet) moves time on and expires the rest.
	d.Decode(&Packet{Data: in.ip(t), LinkType: LinkRaw, TS: time.Unix(1011, 0)}, &out)
	if s := d.Stats(); s.FragmentsTimedOut != 8 || d.frag.inFlight() != 0 || d.frag.bytes != 0 {
		t.Fatalf("after timeout: in flight %d bytes %d stats %+v", d.frag.inFlight(), d.frag.bytes, s)
	}
}

// TestDefragByteCap: the byte cap evicts the oldest datagrams.
func TestDefragByteCap(t *testing.T) {
	cfg := DefaultDecoderConfig()
	cfg.MaxFragmentBytes = 65536
	d := NewDecoder(cfg)
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	chunk := make([]byte, 1024)
	var out Decoded
	for i := 0; i < 50; i++ {
		// A fragment far into the datagram makes the buffer large.
		d.Decode(&Packet{Data: frag4(src, dst, uint16(i), 17, 20000, true, chunk), LinkType: LinkRaw}, &out)
		if d.frag.bytes > cfg.MaxFragmentBytes {
			t.Fatalf("held %d bytes > cap %d", d.frag.bytes, cfg.MaxFragmentBytes)
		}
	}
	if d.Stats().FragmentsEvicted == 0 {
		t.Fatalf("nothing evicted: %+v", d.Stats())
	}
}

func TestDefragBadFragments(t *testing.T) {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	cases := []struct {
		name   string
		frames [][]byte
	}{
		{"past-64k", [][]byte{frag4(src, dst, 1, 17, 65528, false, make([]byte, 16))}},
		{"odd-middle-length", [][]byte{frag4(src, dst, 1, 17, 0, true, make([]byte, 13))}},
		{"two-different-ends", [][]byte{frag4(src, dst, 1, 17, 64, false, make([]byte, 8)), frag4(src, dst, 1, 17, 128, false, make([]byte, 8))}},
		{"data-past-end", [][]byte{frag4(src, dst, 1, 17, 64, false, make([]byte, 8)), frag4(src, dst, 1, 17, 64, true, make([]byte, 16))}},
	}
	for _, tc := range cases {
		d := NewDecoder(DefaultDecoderConfig())
		var out Decoded
		for _, f := range tc.frames {
			if d.Decode(&Packet{Data: f, LinkType: LinkRaw}, &out) {
				t.Fatalf("%s: accepted", tc.name)
			}
		}
		if d.Stats().FragmentDropped != 1 || d.frag.inFlight() != 0 {
			t.Fatalf("%s: %+v in flight %d", tc.name, d.Stats(), d.frag.inFlight())
		}
	}
	// Too many pieces for one datagram.
	cfg := DefaultDecoderConfig()
	cfg.MaxFragmentsPerDatagram = 4
	d := NewDecoder(cfg)
	var out Decoded
	for i := 0; i < 6; i++ {
		d.Decode(&Packet{Data: frag4(src, dst, 1, 17, i*8, true, make([]byte, 8)), LinkType: LinkRaw}, &out)
	}
	if d.Stats().FragmentDropped == 0 {
		t.Fatalf("fragment flood not dropped: %+v", d.Stats())
	}
	// Reassembly off.
	cfg = DefaultDecoderConfig()
	cfg.MaxFragments = 0
	d = NewDecoder(cfg)
	if d.Decode(&Packet{Data: frag4(src, dst, 1, 17, 0, true, make([]byte, 8)), LinkType: LinkRaw}, &out) || d.Stats().FragmentDropped != 1 {
		t.Fatalf("reassembly off: %+v", d.Stats())
	}
}

// TestDefragTunnelInside: a fragmented outer VXLAN datagram carries a
// whole inner frame; the inner segment comes out after reassembly.
func TestDefragTunnelInside(t *testing.T) {
	in := defaultInner()
	in.payload = bytes.Repeat([]byte("z"), 1400)
	vx := outerUDP(t, 9, 4789, slices.Concat(vxlanHdr(5), in.eth(t)))
	ipHdr := vx[14:34]
	l4 := vx[34:]
	src := netip.AddrFrom4([4]byte(ipHdr[12:16]))
	dst := netip.AddrFrom4([4]byte(ipHdr[16:20]))
	d := NewDecoder(DefaultDecoderConfig())
	var out Decoded
	var ok bool
	for _, p := range split(l4, 800) {
		ok = d.Decode(&Packet{Data: slices.Concat(ethHdr(0x0800), frag4(src, dst, 3, 17, p.off, p.more, p.data)), LinkType: LinkEthernet}, &out)
	}
	if !ok {
		t.Fatalf("not decoded: %+v", d.Stats())
	}
	in.check(t, &out)
	if out.Tunnel == 0 || d.Stats().VXLAN != 1 {
		t.Fatalf("tunnel lost: %+v", d.Stats())
	}
}

// RFC 8200 §4.5: IPv6 fragments of one datagram are matched by source,
// destination and identification; the Next Header of the offset-0 fragment
// is the datagram's. Later fragments with another Next Header (an evasion:
// the receiving host reassembles them anyway) still complete it.
func TestDefragIPv6NextHeaderFromFirstFragment(t *testing.T) {
	in, l4 := bigInner(t, true)
	pieces := split(l4, 256)
	for _, firstLast := range []bool{false, true} {
		d := NewDecoder(DefaultDecoderConfig())
		var out Decoded
		ok := 0
		order := make([]int, len(pieces))
		for i := range order {
			order[i] = i
		}
		if firstLast { // the offset-0 fragment arrives last
			order = append(order[1:], 0)
		}
		for i, idx := range order {
			nh := uint8(17) // a lying Next Header on the later fragments
			if idx == 0 {
				nh = 6
			}
			p := pieces[idx]
			if d.Decode(&Packet{Data: frag6(in.src, in.dst, 9, nh, p.off, p.more, p.data), LinkType: LinkRaw, TS: time.Unix(100, int64(i))}, &out) {
				ok++
				in.check(t, &out)
			}
		}
		if ok != 1 || d.Stats().FragmentsReassembled != 1 || d.frag.inFlight() != 0 {
			t.Fatalf("first last %v: reassembled %d, stats %+v", firstLast, ok, d.Stats())
		}
	}
}
