package reassembly

// Why hand-written instead of github.com/gopacket/gopacket/reassembly:
// on the same segment stream (1460-byte in-order segments), CPU time per
// packet (user+sys from /usr/bin/time over 10M packets, -test.cpu 1; the
// shared 2-core AMD EPYC ran at load ~12, so wall-clock ns/op swung 3x
// between runs and CPU time is the stable measure):
//
//	go test -c -o r.test ./capture/reassembly
//	/usr/bin/time -f "%U %S" ./r.test -test.run XXX -test.bench 'BenchmarkInOrder$' -test.benchtime=10000000x -test.cpu 1
//
//	BenchmarkInOrder                       21-27 ns/packet, 0 allocs/op
//	BenchmarkGopacketReassembly           165-222 ns/packet, 0 allocs/op  (6-8x)
//	BenchmarkInOrderManyConns (1024)       89-108 ns/packet, 0 allocs/op
//	BenchmarkGopacketReassemblyManyConns  245-269 ns/packet, 0 allocs/op  (2.4x)
//
// Besides speed, gopacket's assembler needs a layers.TCP per packet, locks a
// mutex per connection (it is built for pools shared between goroutines),
// has no per-assembler byte cap that reports what it skipped as a gap
// count, and ends a stream on the first RST, which RST-injection evasion
// defeats.

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/apisensor/apisensor/capture"
	"github.com/apisensor/apisensor/model"
)

// seqDiff is a-b in serial-number arithmetic (RFC 1982): positive when a is
// after b, correct across the 2^32 wrap as long as they are within 2^31.
func seqDiff(a, b uint32) int32 { return int32(a - b) }

func abs32(v int32) uint32 {
	if v < 0 {
		return uint32(-int64(v))
	}
	return uint32(v)
}

// segment is buffered out-of-order payload. data is a pooled copy.
type segment struct {
	seq  uint32
	data []byte
	ts   time.Time
}

func (s *segment) end() uint32 { return s.seq + uint32(len(s.data)) }

// half is one direction of a connection.
type half struct {
	segs       []segment // sorted, non-overlapping, all after next
	buffered   int
	next       uint32 // next byte to deliver
	isn        uint32
	finSeq     uint32
	started    bool // next is meaningful
	sawSyn     bool
	finPending bool // a FIN was believed at finSeq
	finished   bool // every byte up to finSeq was delivered or gapped
}

type conn struct {
	key       capture.FlowKey
	stream    Stream
	clientIsA bool // the client is key.A
	h         [2]half
	id        uint64 // creation sequence: FlushAll's order
	lastTS    time.Time
	buffered  int
	nsegs     int

	synSeen    bool // client SYN
	synAckSeen bool
	midstream  bool
	reset      bool

	// Links in the Assembler's two lists: lruList (activity, oldest
	// first) and bufList (connections holding segments, oldest first).
	link      [2]struct{ prev, next *conn }
	inBufList bool
}

// established is true once both sides' initial sequence numbers are known
// from a handshake, or the connection was picked up mid-stream. Before that,
// FIN and RST are treated as possibly spurious (bug-3286 style evasion).
func (c *conn) established() bool { return c.synAckSeen || c.midstream }

func (c *conn) dirOf(reversed bool) model.Direction {
	// Not reversed: the packet runs A→B.
	if !reversed == c.clientIsA {
		return model.ClientToServer
	}
	return model.ServerToClient
}

type connList struct{ head, tail *conn }

// The Assembler's lists, by index into conn.link and Assembler.lists.
const (
	lruList = iota
	bufList
)

// Assembler reassembles the TCP connections of one worker. It is not safe
// for concurrent use; it starts no goroutines.
type Assembler struct {
	cfg     Config
	factory StreamFactory
	conns   map[capture.FlowKey]*conn
	lists   [2]connList // lruList, bufList
	pool    bufPool
	free    []*conn            // closed conns kept for reuse, so conn churn does not allocate
	recent  [recentSlots]*conn // recently used conns by port pair (recentSlot)
	nextID  uint64
	minTO   time.Duration
	scratch []*conn
	closed  closedSet
	stats   Stats
}

// New returns an Assembler. It panics on an invalid Config: configuration is
// validated by the caller (sensor.Config.Validate) before workers start, so
// reaching here with a bad one is a programming error.
func New(cfg Config, f StreamFactory) *Assembler {
	if err := cfg.Validate(); err != nil {
		panic(fmt.Errorf("BUG: reassembly.New: %w", err))
	}
	if f == nil {
		panic("BUG: reassembly.New: nil StreamFactory")
	}
	return &Assembler{
		cfg:     cfg,
		factory: f,
		conns:   make(map[capture.FlowKey]*conn),
		minTO:   min(cfg.IdleTimeout, cfg.ClosingTimeout, cfg.HalfOpenTimeout, cfg.ResetTimeout),
		closed:  newClosedSet(min(cfg.MaxConns, 16384)),
	}
}

// Stats returns a snapshot of the counters.
func (a *Assembler) Stats() Stats { return a.stats }

// Packet feeds one decoded TCP packet. d and its Payload are only read during
// the call; in-order payload is passed to Stream.Data without copying.
func (a *Assembler) Packet(d *capture.Decoded) {
	if d.Proto != 6 {
		a.stats.NonTCP++
		return
	}
	a.stats.Packets++
	syn := d.Flags&capture.TCPSyn != 0
	ack := d.Flags&capture.TCPAck != 0
	rst := d.Flags&capture.TCPRst != 0
	fin := d.Flags&capture.TCPFin != 0

	// Match the raw addresses against the connection that last used this
	// port pair's slot before paying for Key's canonical ordering and the
	// map lookup. One slot for the last connection took BenchmarkInOrder
	// from 36-39 to 21-27 ns/packet CPU; a slot per port pair also catches
	// the interleaved flows of a busy link: on the bench capture's 64
	// keep-alive connections, one core, task-clock min (median) of 10
	// interleaved runs 135 -> 118 ms (149 -> 123) to reassembly, 438 ->
	// 410 ms (445 -> 423) to calls.jsonl. Flows that share a slot (ports
	// that hash alike) fall back to the map, no worse than one slot.
	slot := &a.recent[recentSlot(d.SrcPort, d.DstPort)]
	var (
		key      capture.FlowKey
		reversed bool
		c        = *slot
	)
	switch {
	case c != nil && d.Tunnel == c.key.Tunnel && d.SrcPort == c.key.A.Port() && d.DstPort == c.key.B.Port() &&
		d.Src == c.key.A.Addr() && d.Dst == c.key.B.Addr():
		key = c.key
	case c != nil && d.Tunnel == c.key.Tunnel && d.SrcPort == c.key.B.Port() && d.DstPort == c.key.A.Port() &&
		d.Src == c.key.B.Addr() && d.Dst == c.key.A.Addr():
		key, reversed = c.key, true
	default:
		key, reversed = d.Key()
		c = a.conns[key]
	}
	if c != nil && syn && !ack && !rst && a.isPortReuse(c, c.dirOf(reversed), d.Seq) {
		a.stats.PortReuse++
		a.closeConn(c, d.TS)
		c = nil
	}
	if c == nil {
		// Only a SYN or data starts a connection. A pure ACK or FIN after a
		// close, or a RST for something never seen, would otherwise create
		// an empty mid-stream connection that lingers until timeout.
		if rst || (!syn && len(d.Payload) == 0) {
			a.stats.PacketsNoConn++
			return
		}
		if syn {
			a.closed.forget(key)
		} else if a.closed.stale(key, reversed, d.Seq, len(d.Payload), d.TS, a.cfg.ClosingTimeout) {
			a.stats.LateRetransmits++
			return
		}
		c = a.newConn(key, reversed, d)
	}
	*slot = c
	a.touch(c, d.TS)

	dir := c.dirOf(reversed)
	h := &c.h[dir]
	seq := d.Seq
	payload := d.Payload
	if syn {
		if !a.syn(c, dir, d) {
			return
		}
		seq++ // the SYN occupies one sequence number; data (TFO) follows it
	}
	if ack && !syn {
		a.ackAdvance(c, dir.Reverse(), d.Ack, d.TS)
	}
	// Payload on a RST is diagnostic text (RFC 9293 3.5.3), not stream data.
	if (len(payload) > 0 || d.Cut > 0) && !rst {
		if !h.started {
			h.started = true
			h.next = seq
		}
		before := h.next
		if len(payload) > 0 {
			// Fast path: exactly the next bytes and nothing buffered. No copy.
			if seq == h.next && len(h.segs) == 0 && !h.finPending && !c.reset {
				h.next += uint32(len(payload))
				a.stats.DeliveredBytes += uint64(len(payload))
				c.stream.Data(dir, payload, d.TS)
			} else {
				a.data(c, dir, seq, payload, d.TS)
			}
		}
		if d.Cut > 0 {
			a.snapCut(c, dir, before, seq+uint32(len(payload)), d.Cut, d.TS)
		}
	}
	if fin {
		a.fin(c, dir, seq+uint32(len(payload)+d.Cut))
	}
	if rst && a.rst(c, dir, d) {
		return
	}
	a.closeIfFinished(c, d.TS)
}

// closeIfFinished closes c with a tombstone once both directions saw their
// FIN delivered, so a late retransmit of its data starts no phantom
// connection (closedSet).
func (a *Assembler) closeIfFinished(c *conn, ts time.Time) {
	if !c.h[0].finished || !c.h[1].finished {
		return
	}
	a.stats.ClosedFin++
	a.closed.remember(c, ts)
	a.closeConn(c, ts)
}

// isPortReuse reports whether a SYN starts a new connection on a 4-tuple
// whose previous connection is over (FIN or RST seen): a different ISN
// than the recorded one, or a SYN on a connection that had none.
func (a *Assembler) isPortReuse(c *conn, dir model.Direction, seq uint32) bool {
	over := c.reset || c.h[0].finPending || c.h[1].finPending
	if !over {
		return false
	}
	h := &c.h[dir]
	return !(h.sawSyn && h.isn == seq)
}

// syn records an initial sequence number. It returns false when the SYN is
// to be ignored entirely (including any data on it).
func (a *Assembler) syn(c *conn, dir model.Direction, d *capture.Decoded) bool {
	h := &c.h[dir]
	synAck := d.Flags&capture.TCPAck != 0
	if h.sawSyn {
		if d.Seq == h.isn {
			a.stats.SynRetransmits++
			return true // data on it, if any, is dropped as a retransmit
		}
		// A new ISN before any byte flowed: the sender restarted the
		// handshake (e.g. after a SYN timeout). Adopt it.
		if h.next == h.isn+1 && len(h.segs) == 0 && !c.h[dir.Reverse()].started {
			h.isn = d.Seq
			h.next = d.Seq + 1
			return true
		}
		a.stats.SynIgnored++
		return false
	}
	if h.started && (h.next != d.Seq+1 || len(h.segs) > 0) {
		// Data from this side was seen before its SYN and does not line up
		// with it: keep the stream we have.
		a.stats.SynIgnored++
		return false
	}
	h.sawSyn = true
	h.isn = d.Seq
	h.started = true
	h.next = d.Seq + 1
	if synAck {
		c.synAckSeen = true
		// The SYN-ACK acknowledges the client's ISN: if the SYN was not
		// captured, this is where the client's bytes start.
		p := &c.h[dir.Reverse()]
		if !p.started {
			p.started = true
			p.isn = d.Ack - 1
			p.next = d.Ack
		}
	} else if dir == model.ClientToServer {
		c.synSeen = true
	}
	return true
}

// ackAdvance handles an acknowledgement of direction dir's bytes. When it
// lies beyond a hole the receiver got bytes the capture missed: report the
// hole and deliver what is buffered up to ack.
func (a *Assembler) ackAdvance(c *conn, dir model.Direction, ack uint32, ts time.Time) {
	h := &c.h[dir]
	if !h.started || len(h.segs) == 0 || seqDiff(ack, h.next) <= 0 {
		return
	}
	last := h.segs[len(h.segs)-1].end()
	if over := seqDiff(ack, last); over > 0 {
		if uint32(over) > a.cfg.MaxWindow {
			return // not a plausible acknowledgement
		}
		ack = last // bytes after the buffer: nothing to deliver, next segment decides
	}
	a.stats.AckGaps++
	for len(h.segs) > 0 && seqDiff(ack, h.next) > 0 {
		hole := min(seqDiff(h.segs[0].seq, h.next), seqDiff(ack, h.next))
		if hole > 0 {
			a.gap(c, dir, int(hole), ts)
		}
		a.deliver(c, dir, nil, ts)
	}
}

// snapCut reports the cut bytes [end, end+cut) of a segment whose captured
// part ends at end as gaps, once delivery is inside that range: the
// capture's snap length dropped them, so no later packet brings them, and
// waiting for the hole to fill (or for an acknowledgement beyond it) would
// hold the stream's parser in the middle of a message. Delivery may be past
// end only through this segment (before is h.next before it came), which
// drained buffered bytes that start at end: then only the rest of the range
// is a gap. A segment that delivery has not reached (buffered behind a
// hole) or had already passed (a retransmit) leaves it to the usual hole
// handling. Buffered bytes inside the range are delivered in its place.
func (a *Assembler) snapCut(c *conn, dir model.Direction, before, end uint32, cut int, ts time.Time) {
	h := &c.h[dir]
	stop := end + uint32(cut)
	if seqDiff(h.next, end) < 0 || seqDiff(h.next, stop) >= 0 || h.next != end && seqDiff(end, before) <= 0 {
		return
	}
	// The range is stream bytes like any: they cancel an earlier FIN or
	// RST that they lie beyond (continued), and may complete a FIN
	// (deliver, through skipTo).
	a.continued(c, h, stop)
	missed := a.stats.MissedBytes
	for seqDiff(stop, h.next) > 0 {
		a.skipTo(c, dir, stop, ts)
	}
	a.stats.SnapCutBytes += a.stats.MissedBytes - missed
}

// data handles a payload that is not on the fast path.
func (a *Assembler) data(c *conn, dir model.Direction, seq uint32, p []byte, ts time.Time) {
	h := &c.h[dir]
	if off := seqDiff(seq, h.next); off > 0 {
		// Even a segment far ahead is buffered rather than dropped: after
		// heavy capture loss, dropping would stall the stream for good,
		// while buffering ends at worst in a large reported gap.
		a.stats.OutOfOrderSegments++
		a.buffer(c, dir, seq, p, ts)
		return
	}
	a.inOrder(c, dir, seq, p, ts)
}

// inOrder delivers a payload that starts at or before h.next.
func (a *Assembler) inOrder(c *conn, dir model.Direction, seq uint32, p []byte, ts time.Time) {
	h := &c.h[dir]
	off := seqDiff(seq, h.next) // <= 0
	if int64(off)+int64(len(p)) <= 0 {
		a.stats.Retransmits++
		return
	}
	if off < 0 {
		a.stats.Overlaps++
		p = p[-off:]
	}
	a.continued(c, h, h.next+uint32(len(p)))
	a.deliver(c, dir, p, ts)
}

// continued is called when new bytes up to end are accepted: data after an
// RST or past a FIN means the RST or FIN did not end the stream.
func (a *Assembler) continued(c *conn, h *half, end uint32) {
	if c.reset {
		c.reset = false
		a.stats.ResetsCancelled++
	}
	if h.finPending && seqDiff(end, h.finSeq) > 0 {
		h.finPending = false
		h.finished = false
	}
}

// deliver passes p (which starts exactly at h.next) and every buffered
// segment that becomes contiguous. Where p and a buffered segment cover the
// same bytes, the buffered copy wins (it arrived first).
func (a *Assembler) deliver(c *conn, dir model.Direction, p []byte, ts time.Time) {
	h := &c.h[dir]
	i := 0
	overlap, inconsistent := false, false
	for {
		if i < len(h.segs) {
			s := &h.segs[i]
			off := seqDiff(s.seq, h.next)
			if off <= 0 {
				skip := int(-off)
				if skip < len(s.data) {
					b := s.data[skip:]
					if len(p) > 0 {
						n := min(len(p), len(b))
						overlap = true
						if !bytes.Equal(p[:n], b[:n]) {
							inconsistent = true
						}
						p = p[n:]
					}
					h.next += uint32(len(b))
					a.stats.DeliveredBytes += uint64(len(b))
					c.stream.Data(dir, b, s.ts)
				}
				i++
				continue
			}
			if len(p) > 0 {
				n := min(len(p), int(off))
				h.next += uint32(n)
				a.stats.DeliveredBytes += uint64(n)
				c.stream.Data(dir, p[:n], ts)
				p = p[n:]
				continue
			}
			break
		}
		if len(p) > 0 {
			h.next += uint32(len(p))
			a.stats.DeliveredBytes += uint64(len(p))
			c.stream.Data(dir, p, ts)
		}
		break
	}
	// Counted once per incoming segment, however many buffered ones it spans.
	if overlap {
		a.stats.Overlaps++
	}
	if inconsistent {
		a.stats.InconsistentOverlaps++
	}
	if i > 0 {
		a.dropSegs(c, h, i)
	}
	if h.finPending && seqDiff(h.next, h.finSeq) >= 0 {
		h.finished = true
	}
}

// dropSegs releases the first n buffered segments of h.
func (a *Assembler) dropSegs(c *conn, h *half, n int) {
	freed := 0
	for j := 0; j < n; j++ {
		freed += len(h.segs[j].data)
		a.pool.put(h.segs[j].data)
	}
	k := copy(h.segs, h.segs[n:])
	clear(h.segs[k:])
	h.segs = h.segs[:k]
	h.buffered -= freed
	c.buffered -= freed
	c.nsegs -= n
	a.stats.BufferedBytes -= freed
	a.stats.BufferedSegments -= n
	if c.buffered == 0 && c.inBufList {
		a.unlist(bufList, c)
	}
}

func (a *Assembler) gap(c *conn, dir model.Direction, n int, ts time.Time) {
	c.h[dir].next += uint32(n)
	a.stats.MissedBytes += uint64(n)
	a.stats.GapEvents++
	c.stream.Gap(dir, n, ts)
}

// firstEndingAfter returns the index of the first buffered segment that
// ends after seq. Buffered segments are sorted and disjoint, so their ends
// are increasing; a binary search keeps a long queue cheap to probe.
func firstEndingAfter(h *half, seq uint32) int {
	lo, hi := 0, len(h.segs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if seqDiff(h.segs[m].end(), seq) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// uncovered returns how many bytes of [seq, seq+n) are not yet buffered in h
// and in how many pieces.
func uncovered(h *half, seq uint32, n int) (bytes, pieces int) {
	start, end := seq, seq+uint32(n)
	for i := firstEndingAfter(h, seq); i < len(h.segs); i++ {
		s := &h.segs[i]
		if seqDiff(s.seq, end) >= 0 {
			break
		}
		if d := seqDiff(s.seq, start); d > 0 {
			bytes += int(d)
			pieces++
		}
		start = s.end()
		if seqDiff(start, end) >= 0 {
			return bytes, pieces
		}
	}
	if d := seqDiff(end, start); d > 0 {
		bytes += int(d)
		pieces++
	}
	return bytes, pieces
}

// buffer keeps an out-of-order segment, making room under the caps by
// skipping holes (reported as gaps) when needed.
func (a *Assembler) buffer(c *conn, dir model.Direction, seq uint32, p []byte, ts time.Time) {
	h := &c.h[dir]
	for {
		if seqDiff(seq, h.next) <= 0 {
			// A skipped hole made it in order.
			a.inOrder(c, dir, seq, p, ts)
			return
		}
		need, pieces := uncovered(h, seq, len(p))
		if need == 0 {
			// Entirely already buffered: compare for consistency only.
			a.insert(c, h, seq, p, ts)
			return
		}
		if need > a.cfg.MaxBufferedPerConn || need > a.cfg.MaxBufferedTotal || pieces > a.cfg.MaxSegmentsPerConn {
			// Can never fit: skip to it and deliver it directly.
			a.stats.CapGaps++
			a.skipTo(c, dir, seq, ts)
			continue
		}
		overTotal := a.stats.BufferedBytes+need > a.cfg.MaxBufferedTotal
		if c.buffered+need > a.cfg.MaxBufferedPerConn || c.nsegs+pieces > a.cfg.MaxSegmentsPerConn ||
			overTotal && a.lists[bufList].head == c {
			// This connection's own caps, or it is the oldest buffering
			// one: skip its own first hole (the other direction's when this
			// one holds nothing; the caps say one of them holds segments).
			a.stats.CapGaps++
			if len(h.segs) > 0 {
				a.skipTo(c, dir, seq, ts)
			} else {
				o := &c.h[dir.Reverse()]
				a.skipTo(c, dir.Reverse(), o.segs[0].seq, ts)
			}
			continue
		}
		if overTotal {
			// The global cap: the oldest buffering connection gives way.
			a.stats.CapGaps++
			v := a.lists[bufList].head
			vd := model.ClientToServer
			if len(v.h[vd].segs) == 0 {
				vd = model.ServerToClient
			}
			a.skipTo(v, vd, v.h[vd].segs[0].seq, ts)
			a.closeIfFinished(v, ts)
			continue
		}
		a.continued(c, h, seq+uint32(len(p)))
		a.insert(c, h, seq, p, ts)
		return
	}
}

// skipTo skips the first hole of dir, but not past target: it reports the
// gap from h.next to min(first buffered segment, target) and delivers what
// became contiguous. With nothing buffered it skips straight to target.
func (a *Assembler) skipTo(c *conn, dir model.Direction, target uint32, ts time.Time) {
	h := &c.h[dir]
	if len(h.segs) > 0 && seqDiff(h.segs[0].seq, target) < 0 {
		target = h.segs[0].seq
	}
	if n := seqDiff(target, h.next); n > 0 {
		a.gap(c, dir, int(n), ts)
	}
	a.deliver(c, dir, nil, ts)
}

// insert copies the parts of p not already buffered into h, counting
// overlaps with buffered bytes (first copy wins).
func (a *Assembler) insert(c *conn, h *half, seq uint32, p []byte, ts time.Time) {
	overlap, inconsistent := false, false
	i := firstEndingAfter(h, seq)
	added, pieces := 0, 0
	for len(p) > 0 {
		if i < len(h.segs) {
			s := &h.segs[i]
			if d := seqDiff(s.seq, seq); d <= 0 {
				skip := int(-d)
				n := min(len(p), len(s.data)-skip)
				overlap = true
				if !bytes.Equal(p[:n], s.data[skip:skip+n]) {
					inconsistent = true
				}
				p = p[n:]
				seq += uint32(n)
				i++
				continue
			} else {
				n := min(len(p), int(d))
				h.segs = slices.Insert(h.segs, i, a.newSeg(seq, p[:n], ts))
				added += n
				pieces++
				p = p[n:]
				seq += uint32(n)
				i++
				continue
			}
		}
		h.segs = append(h.segs, a.newSeg(seq, p, ts))
		added += len(p)
		pieces++
		break
	}
	if overlap {
		a.stats.Overlaps++
	}
	if inconsistent {
		a.stats.InconsistentOverlaps++
	}
	if added == 0 {
		return
	}
	h.buffered += added
	c.buffered += added
	c.nsegs += pieces
	a.stats.BufferedBytes += added
	a.stats.BufferedSegments += pieces
	a.stats.PeakBufferedBytes = max(a.stats.PeakBufferedBytes, a.stats.BufferedBytes)
	if !c.inBufList {
		a.list(bufList, c)
	}
}

func (a *Assembler) newSeg(seq uint32, p []byte, ts time.Time) segment {
	b := a.pool.get(len(p))
	copy(b, p)
	return segment{seq: seq, data: b, ts: ts}
}

// fin records a FIN at finSeq (the sequence number after the segment's
// data), after a loose in-window check.
func (a *Assembler) fin(c *conn, dir model.Direction, finSeq uint32) {
	h := &c.h[dir]
	if !c.established() && !h.started {
		// A FIN from a side whose handshake we have not seen (e.g. before
		// the SYN-ACK): spurious or injected; ignore it.
		a.stats.FinRstIgnored++
		return
	}
	if !h.started {
		h.started = true
		h.next = finSeq
	}
	if abs32(seqDiff(finSeq, h.next)) > a.cfg.MaxWindow {
		a.stats.FinRstIgnored++
		return
	}
	if h.finPending && h.finSeq == finSeq {
		return
	}
	h.finPending = true
	h.finSeq = finSeq
	if seqDiff(h.next, finSeq) >= 0 {
		h.finished = true
	}
}

// rst handles a RST. A believed RST on an established connection that
// already saw a FIN closes it; otherwise the connection is marked reset and
// closed ResetTimeout later by Tick unless data continues the stream.
// It reports whether it closed c.
func (a *Assembler) rst(c *conn, dir model.Direction, d *capture.Decoded) bool {
	h := &c.h[dir]
	p := &c.h[dir.Reverse()]
	plausible := true
	switch {
	case h.started:
		plausible = abs32(seqDiff(d.Seq, h.next)) <= a.cfg.MaxWindow
	case d.Flags&capture.TCPAck != 0 && p.started:
		plausible = abs32(seqDiff(d.Ack, p.next)) <= a.cfg.MaxWindow
	}
	if !plausible {
		a.stats.FinRstIgnored++
		return false
	}
	a.stats.Resets++
	if c.established() && (c.h[0].finPending || c.h[1].finPending) {
		a.stats.ClosedFin++
		a.closed.remember(c, d.TS)
		a.closeConn(c, d.TS)
		return true
	}
	c.reset = true
	return false
}

// Tick closes connections idle past their timeout, judged by packet time
// now. Connections are visited oldest activity first, so the scan stops at
// the first one younger than the shortest timeout.
func (a *Assembler) Tick(now time.Time) {
	for c := a.lists[lruList].head; c != nil; {
		idle := now.Sub(c.lastTS)
		if idle < a.minTO {
			break
		}
		next := c.link[lruList].next
		if idle >= a.timeout(c) {
			if c.reset {
				a.stats.ClosedReset++
				a.closed.remember(c, now)
			} else {
				a.stats.Timeouts++
			}
			a.closeConn(c, now)
		}
		c = next
	}
}

func (a *Assembler) timeout(c *conn) time.Duration {
	switch {
	case c.reset:
		return a.cfg.ResetTimeout
	case c.h[0].finPending || c.h[1].finPending:
		return a.cfg.ClosingTimeout
	case c.synSeen && !c.h[model.ServerToClient].started:
		return a.cfg.HalfOpenTimeout
	}
	return a.cfg.IdleTimeout
}

// FlushAll ends the input: every connection has its buffered data delivered
// (holes reported as gaps) and is closed, in creation order.
func (a *Assembler) FlushAll(now time.Time) {
	all := a.scratch[:0]
	for c := a.lists[lruList].head; c != nil; c = c.link[lruList].next {
		all = append(all, c)
	}
	slices.SortFunc(all, func(x, y *conn) int { return cmp.Compare(x.id, y.id) })
	for _, c := range all {
		a.stats.Flushed++
		a.closeConn(c, now)
	}
	clear(all)
	a.scratch = all[:0]
}

// closeConn flushes c's buffers (gaps for holes, and for bytes a FIN says
// existed but were never seen), closes its Stream and forgets it.
func (a *Assembler) closeConn(c *conn, ts time.Time) {
	for dir := model.ClientToServer; dir <= model.ServerToClient; dir++ {
		h := &c.h[dir]
		for len(h.segs) > 0 {
			a.skipTo(c, dir, h.segs[0].seq, ts)
		}
		if h.finPending && !h.finished {
			if n := seqDiff(h.finSeq, h.next); n > 0 {
				a.gap(c, dir, int(n), ts)
			}
			h.finished = true
		}
	}
	c.stream.Close(ts)
	delete(a.conns, c.key)
	a.unlist(lruList, c)
	if c.inBufList {
		a.unlist(bufList, c)
	}
	if slot := &a.recent[recentSlot(c.key.A.Port(), c.key.B.Port())]; *slot == c {
		*slot = nil
	}
	a.stats.Conns--
	segs0, segs1 := c.h[0].segs[:0], c.h[1].segs[:0]
	*c = conn{}
	// Keep the segment slices' capacity for the next connection that uses
	// this struct, unless a storm grew them large.
	if cap(segs0) <= 64 {
		c.h[0].segs = segs0
	}
	if cap(segs1) <= 64 {
		c.h[1].segs = segs1
	}
	if len(a.free) < 1024 {
		a.free = append(a.free, c)
	}
}

func (a *Assembler) newConn(key capture.FlowKey, reversed bool, d *capture.Decoded) *conn {
	if len(a.conns) >= a.cfg.MaxConns {
		a.stats.Evicted++
		a.closeConn(a.lists[lruList].head, d.TS)
	}
	var c *conn
	if n := len(a.free); n > 0 {
		c = a.free[n-1]
		a.free[n-1] = nil
		a.free = a.free[:n-1]
	} else {
		c = new(conn)
	}
	c.key = key
	a.nextID++
	c.id = a.nextID
	src := netip.AddrPortFrom(d.Src, d.SrcPort)
	dst := netip.AddrPortFrom(d.Dst, d.DstPort)
	senderIsClient := true
	syn, ack := d.Flags&capture.TCPSyn != 0, d.Flags&capture.TCPAck != 0
	switch {
	case syn && !ack:
	case syn && ack:
		senderIsClient = false
	default:
		senderIsClient = !isServerSide(d.SrcPort, d.DstPort)
		c.midstream = true
		a.stats.Midstream++
	}
	meta := model.ConnMeta{Tunnel: key.Tunnel, Start: d.TS, Midstream: c.midstream}
	if senderIsClient {
		meta.Client, meta.Server = src, dst
	} else {
		meta.Client, meta.Server = dst, src
	}
	// Not reversed: the sender is A.
	c.clientIsA = senderIsClient == !reversed
	c.stream = a.factory.NewStream(meta)
	a.conns[key] = c
	a.list(lruList, c)
	a.stats.ConnsCreated++
	a.stats.Conns++
	a.stats.PeakConns = max(a.stats.PeakConns, a.stats.Conns)
	return c
}

// isServerSide reports whether the port pair says the sender (src) is the
// server: the side with a well-known server port, else the lower port.
func isServerSide(src, dst uint16) bool {
	s, d := wellKnown(src), wellKnown(dst)
	if s != d {
		return s
	}
	return src < dst
}

func wellKnown(p uint16) bool {
	if p < 1024 {
		return true
	}
	switch p {
	case 3000, 4443, 5000, 5601, 6443, 8000, 8001, 8008, 8080, 8081, 8088, 8181,
		8443, 8888, 9000, 9090, 9200, 9443:
		return true
	}
	return false
}

func (a *Assembler) touch(c *conn, ts time.Time) {
	c.lastTS = ts
	if a.lists[lruList].tail == c {
		return
	}
	a.unlist(lruList, c)
	a.list(lruList, c)
}

// list appends c to list l.
func (a *Assembler) list(l int, c *conn) {
	ls, k := &a.lists[l], &c.link[l]
	k.prev, k.next = ls.tail, nil
	if ls.tail != nil {
		ls.tail.link[l].next = c
	} else {
		ls.head = c
	}
	ls.tail = c
	if l == bufList {
		c.inBufList = true
	}
}

// unlist takes c out of list l.
func (a *Assembler) unlist(l int, c *conn) {
	ls, k := &a.lists[l], &c.link[l]
	if k.prev != nil {
		k.prev.link[l].next = k.next
	} else {
		ls.head = k.next
	}
	if k.next != nil {
		k.next.link[l].prev = k.prev
	} else {
		ls.tail = k.prev
	}
	k.prev, k.next = nil, nil
	if l == bufList {
		c.inBufList = false
	}
}

// recentSlots is the size of Assembler.recent.
const recentSlots = 256

// recentSlot hashes a port pair, the same for both directions, to a slot
// of Assembler.recent. Ports tell the flows of one link apart well (each
// client connection has its own ephemeral port); addresses and the tunnel
// id are compared on use.
func recentSlot(p, q uint16) int {
	x := uint32(p ^ q)
	return int((x ^ x>>8) % recentSlots)
}
