package capture

import (
	"net/netip"
	"slices"
	"time"
)

// maxDatagram is the largest IP payload a fragment chain may describe
// (the 16-bit total length / payload length limit); a chain reaching past
// it is the "ping of death" and is dropped.
const maxDatagram = 65535

// recycleMax bounds the free list of datagram records (with their
// buffers, at most maxDatagram bytes each) kept for reuse so that steady
// state reassembly does not allocate.
const recycleMax = 16

// fragKey identifies a datagram's fragments: RFC 791 includes the protocol
// for IPv4; for IPv6 (RFC 8200 §4.5) it is source, destination and
// identification only, proto stays 0 and the Next Header of the offset-0
// fragment is the datagram's (later fragments may carry another, as an
// evasion; the receiving host still reassembles them).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
	v6       bool
}

type span struct{ lo, hi int }

// datagram is one IP datagram being reassembled.
type datagram struct {
	key        fragKey
	first      time.Time // packet time of the first fragment seen
	buf        []byte
	have       []span // received byte ranges, sorted and merged
	nfrags     int
	total      int   // payload length once the last fragment is seen, else -1
	proto      uint8 // upper-layer protocol, from the offset-0 fragment
	prev, next *datagram
}

// defragger reassembles IPv4 and IPv6 fragments. Datagrams sit in a map
// for lookup and in a list in arrival order, which is also timeout order,
// so both expiry and eviction look only at the head.
type defragger struct {
	cfg        DecoderConfig
	m          map[fragKey]*datagram
	head, tail *datagram
	bytes      int // sum of cap(buf) over datagrams in flight
	free       []*datagram
	done       []*datagram // completed during the current packet
}

func newDefragger(cfg DecoderConfig) *defragger {
	return &defragger{cfg: cfg, m: make(map[fragKey]*datagram, min(cfg.MaxFragments, 1024))}
}

// inFlight is the number of datagrams held.
func (f *defragger) inFlight() int { return len(f.m) }

// startPacket recycles the datagrams handed out by the previous packet
// (their payload was valid until now) and expires old ones.
func (f *defragger) startPacket(d *Decoder) {
	for i, g := range f.done {
		f.recycle(g)
		f.done[i] = nil
	}
	f.done = f.done[:0]
	for f.head != nil && d.now.Sub(f.head.first) > f.cfg.FragmentTimeout {
		d.stats.FragmentsTimedOut++
		f.remove(f.head)
	}
}

func (f *defragger) unlink(g *datagram) {
	if g.prev != nil {
		g.prev.next = g.next
	} else {
		f.head = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else {
		f.tail = g.prev
	}
	g.prev, g.next = nil, nil
	delete(f.m, g.key)
	f.bytes -= cap(g.buf)
}

// remove drops a datagram and recycles it.
func (f *defragger) remove(g *datagram) {
	f.unlink(g)
	f.recycle(g)
}

func (f *defragger) recycle(g *datagram) {
	if len(f.free) < recycleMax {
		g.buf = g.buf[:0]
		g.have = g.have[:0]
		f.free = append(f.free, g)
	}
}

func (f *defragger) get() *datagram {
	if n := len(f.free); n > 0 {
		g := f.free[n-1]
		f.free[n-1] = nil
		f.free = f.free[:n-1]
		return g
	}
	return &datagram{}
}

// add stores one fragment carrying protocol proto. Once the datagram is
// complete it returns the whole payload (valid until the next packet) and
// the protocol of its offset-0 fragment; otherwise resFragHeld or
// resFragDropped.
//
// Overlaps: IPv6 drops the whole datagram (RFC 5722); IPv4 keeps the bytes
// that arrived first and counts the overlap, so a later fragment cannot
// rewrite what an earlier one delivered (the classic IDS evasion).
func (f *defragger) add(d *Decoder, key fragKey, off int, more bool, data []byte, proto uint8) ([]byte, uint8, result) {
	end := off + len(data)
	g := f.m[key]
	bad := end > maxDatagram || (more && len(data)%8 != 0) || (more && len(data) == 0)
	if bad {
		if g != nil {
			f.remove(g)
		}
		return nil, 0, resFragDropped
	}
	if g == nil {
		if len(f.m) >= f.cfg.MaxFragments {
			d.stats.FragmentsEvicted++
			f.remove(f.head)
		}
		g = f.get()
		if f.bytes+cap(g.buf) > f.cfg.MaxFragmentBytes {
			g.buf = nil // a recycled buffer must not break the byte cap; grow evicts first
		}
		g.key = key
		g.first = d.now
		g.nfrags = 0
		g.total = -1
		f.m[key] = g
		f.bytes += cap(g.buf)
		if f.tail == nil {
			f.head, f.tail = g, g
		} else {
			g.prev = f.tail
			f.tail.next = g
			f.tail = g
		}
	}
	g.nfrags++
	if off == 0 {
		g.proto = proto
	}
	if g.nfrags > f.cfg.MaxFragmentsPerDatagram {
		f.remove(g)
		return nil, 0, resFragDropped
	}
	if !more {
		if g.total >= 0 && g.total != end {
			f.remove(g)
			return nil, 0, resFragDropped
		}
		g.total = end
	}
	if g.total >= 0 && (end > g.total || (len(g.have) > 0 && g.have[len(g.have)-1].hi > g.total)) {
		f.remove(g)
		return nil, 0, resFragDropped
	}
	overlap := false
	for _, s := range g.have {
		if s.lo < end && off < s.hi {
			overlap = true
			break
		}
	}
	if overlap {
		d.stats.FragmentOverlaps++
		if key.v6 {
			f.remove(g)
			return nil, 0, resFragDropped
		}
	}
	if !f.grow(d, g, end) {
		return nil, 0, resFragDropped
	}
	// Copy only the bytes not already held (first wins).
	c := off
	for _, s := range g.have {
		if s.hi <= c || s.lo >= end {
			continue
		}
		if s.lo > c {
			copy(g.buf[c:s.lo], data[c-off:s.lo-off])
		}
		c = max(c, s.hi)
	}
	if c < end {
		copy(g.buf[c:end], data[c-off:])
	}
	g.have = insertSpan(g.have, span{off, end})
	if g.total >= 0 && len(g.have) == 1 && g.have[0].lo == 0 && g.have[0].hi == g.total {
		f.unlink(g)
		f.done = append(f.done, g)
		d.stats.FragmentsReassembled++
		return g.buf[:g.total], g.proto, resOK
	}
	return nil, 0, resFragHeld
}

// grow makes g.buf at least n long, evicting the oldest other datagrams
// when the byte cap would be exceeded. false: g was dropped.
func (f *defragger) grow(d *Decoder, g *datagram, n int) bool {
	if n <= len(g.buf) {
		return true
	}
	if n <= cap(g.buf) {
		g.buf = g.buf[:n]
		return true
	}
	newCap := max(n, 2*cap(g.buf), 2048)
	newCap = min(newCap, maxDatagram)
	for f.bytes+newCap-cap(g.buf) > f.cfg.MaxFragmentBytes && f.head != nil && f.head != g {
		d.stats.FragmentsEvicted++
		f.remove(f.head)
	}
	if f.bytes+newCap-cap(g.buf) > f.cfg.MaxFragmentBytes {
		f.remove(g)
		return false
	}
	nb := make([]byte, n, newCap)
	copy(nb, g.buf)
	f.bytes += newCap - cap(g.buf)
	g.buf = nb
	return true
}

// insertSpan adds s to the sorted, merged list.
func insertSpan(have []span, s span) []span {
	i := 0
	for i < len(have) && have[i].hi < s.lo {
		i++
	}
	j := i
	for j < len(have) && have[j].lo <= s.hi {
		s.lo = min(s.lo, have[j].lo)
		s.hi = max(s.hi, have[j].hi)
		j++
	}
	if i == j {
		return slices.Insert(have, i, s)
	}
	have[i] = s
	return slices.Delete(have, i+1, j)
}
