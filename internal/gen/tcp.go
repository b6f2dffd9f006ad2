package gen

import (
	"container/heap"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Simulated network timing, in nanoseconds. A span port sits next to the
// servers, so the round trip between packets is short and server think time
// dominates.
const (
	usec          = int64(time.Microsecond)
	msec          = int64(time.Millisecond)
	rtt           = 250 * usec // client <-> server round trip
	segGap        = 12 * usec  // back-to-back segments of one burst (1 Gb/s)
	delayedAckDur = 40 * msec  // Linux delayed-ACK timer
	window        = 502        // advertised window (scaled by 2^7)
)

// qseg is a queued segment of one connection. Its payload lives in the
// connection's buf (off, n) or, for synthetic bulk bodies, in the shared
// pattern (pat), so queuing never copies payload bytes twice.
type qseg struct {
	ts       int64
	fromSrv  bool
	flags    uint8
	seq, ack uint32
	off, n   int
	pat      bool
	txStart  bool // the request's first byte: release the next ground-truth record
}

// script produces the next batch of a connection's segments when its queue
// runs dry; false ends the connection for good.
type script interface {
	refill(c *conn) bool
}

// conn is one simulated TCP connection (or, for a client slot that reconnects,
// the current one). Segments are queued in small batches and drained through
// the engine's time-ordered heap, so memory stays bounded whatever the
// capture size.
type conn struct {
	e        *engine
	id       int
	cli, srv netip.AddrPort
	cseq     uint32 // next client sequence number
	sseq     uint32 // next server sequence number
	clock    int64  // timestamp of the last queued segment
	q        []qseg
	qi       int
	buf      []byte
	txs      []Transaction // ground truth waiting for its txStart segment
	sc       script
}

// open starts a new connection on this slot: new id, new endpoints, new ISNs.
func (c *conn) open(cli, srv netip.AddrPort, r *rand.Rand) {
	c.e.nextConn++
	c.id = c.e.nextConn
	c.cli, c.srv = cli, srv
	c.cseq, c.sseq = r.Uint32(), r.Uint32()
}

// push queues one segment dt after the previous one and advances the
// sender's sequence number.
func (c *conn) push(dt int64, fromSrv bool, flags uint8, data []byte) *qseg {
	c.clock += dt
	s := qseg{ts: c.clock, fromSrv: fromSrv, flags: flags, off: len(c.buf), n: len(data)}
	c.buf = append(c.buf, data...)
	c.stamp(&s)
	c.q = append(c.q, s)
	c.e.queued++
	return &c.q[len(c.q)-1]
}

// pushPattern queues a segment whose n payload bytes come from the shared
// bulk pattern at offset off (used for bodies too big to hold).
func (c *conn) pushPattern(dt int64, fromSrv bool, flags uint8, off int64, n int) {
	c.clock += dt
	s := qseg{ts: c.clock, fromSrv: fromSrv, flags: flags, off: int(off % patternPeriod), n: n, pat: true}
	c.stamp(&s)
	c.q = append(c.q, s)
	c.e.queued++
}

func (c *conn) stamp(s *qseg) {
	adv := uint32(s.n)
	if s.flags&(flagSYN|flagFIN) != 0 {
		adv++
	}
	if s.fromSrv {
		s.seq, s.ack = c.sseq, c.cseq
		c.sseq += adv
	} else {
		s.seq, s.ack = c.cseq, c.sseq
		c.cseq += adv
	}
	if s.flags&flagACK == 0 {
		s.ack = 0
	}
}

// handshake queues SYN, SYN-ACK, ACK starting dt after the last segment.
func (c *conn) handshake(dt int64) {
	c.push(dt, false, flagSYN, nil)
	c.push(rtt/2, true, flagSYN|flagACK, nil)
	c.push(rtt/2, false, flagACK, nil)
}

// fin queues an orderly close started by the client or the server.
func (c *conn) fin(dt int64, byServer bool) {
	c.push(dt, byServer, flagFIN|flagACK, nil)
	c.push(rtt/2, !byServer, flagFIN|flagACK, nil)
	c.push(rtt/2, byServer, flagACK, nil)
}

// sendParts queues a message written by the application in parts (headers,
// then each chunk...): each part starts a new segment and is cut at the MSS.
// The receiver ACKs every second full-sized segment at once (RFC 1122
// 4.2.3.2), as Linux does. It returns the number of data segments.
func (c *conn) sendParts(dt int64, fromSrv bool, parts ...[]byte) int {
	n, unacked := 0, 0
	for pi, p := range parts {
		for len(p) > 0 {
			k := min(len(p), mss)
			flags := uint8(flagACK)
			if k == len(p) && pi == len(parts)-1 {
				flags |= flagPSH
			}
			c.push(dt, fromSrv, flags, p[:k])
			dt = segGap
			p = p[k:]
			n++
			if k == mss {
				unacked++
			}
			if unacked == 2 {
				c.push(rtt/2, !fromSrv, flagACK, nil)
				dt = segGap
				unacked = 0
			}
		}
	}
	return n
}

// sendBody queues n bytes of pattern payload in full segments (bulk
// transfer), ACKed every second segment; it stops after max segments so a
// huge body is queued in bounded batches. It returns the bytes queued.
func (c *conn) sendBody(fromSrv bool, bodyOff, n int64, maxSegs int) int64 {
	var sent int64
	for i := 0; i < maxSegs && sent < n; i++ {
		k := int(min(n-sent, mss))
		flags := uint8(flagACK)
		if sent+int64(k) == n {
			flags |= flagPSH
		}
		c.pushPattern(segGap, fromSrv, flags, bodyOff+sent, k)
		sent += int64(k)
		if i%2 == 1 {
			c.push(rtt/2, !fromSrv, flagACK, nil)
		}
	}
	return sent
}

// addTx queues ground truth released when the next pushed segment (the
// request's first) is written. Call it right before pushing the request.
func (c *conn) addTx(tx Transaction) {
	tx.Conn = c.id
	tx.Src, tx.Dst = c.cli, c.srv
	c.txs = append(c.txs, tx)
}

// patternPeriod is the period of the bulk payload pattern; pattern holds one
// period plus an MSS so any segment is a plain sub-slice.
const patternPeriod = 1 << 16

var pattern = func() []byte {
	// A fixed printable sequence: bulk bodies look like JSON-ish text to a
	// parser but cost nothing to generate.
	const alphabet = `{"k":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",` + "\n"
	p := make([]byte, patternPeriod+mss)
	for i := range p {
		p[i] = alphabet[(i*7+i/len(alphabet))%len(alphabet)]
	}
	return p
}()

// engine merges every connection's queue by timestamp and writes frames.
type engine struct {
	fw       *frameWriter
	cfg      *Config
	h        connHeap
	nextConn int
	queued   int64 // segments queued but not yet written
	txCount  int64
	seg      seg
}

// newEngine starts a capture on w: the pcap header, then the frames the
// connections queue.
func newEngine(w io.Writer, cfg *Config) (*engine, error) {
	fw, err := newFrameWriter(w, cfg)
	if err != nil {
		return nil, err
	}
	return &engine{fw: fw, cfg: cfg}, nil
}

// framesPerSeg is 2 when every segment is written in two tunnels.
func (e *engine) framesPerSeg() int64 {
	if e.cfg.DupTunnelID != 0 {
		return 2
	}
	return 1
}

// planned is how many frames are written or queued so far.
func (e *engine) planned() int64 {
	return e.fw.packets + e.queued*e.framesPerSeg()
}

// newConn registers a connection driven by sc; it starts at clock start.
func (e *engine) newConn(sc script, start int64) *conn {
	c := &conn{e: e, sc: sc, clock: start}
	return c
}

// start asks c for its first batch and schedules it.
func (e *engine) start(c *conn) {
	if c.sc.refill(c) && len(c.q) > 0 {
		heap.Push(&e.h, c)
	}
}

// run drains all connections in timestamp order.
func (e *engine) run() error {
	for len(e.h) > 0 {
		c := e.h[0]
		q := &c.q[c.qi]
		if err := e.emit(c, q); err != nil {
			return err
		}
		c.qi++
		e.queued--
		if c.qi == len(c.q) {
			c.q, c.qi, c.buf = c.q[:0], 0, c.buf[:0]
			if !c.sc.refill(c) || len(c.q) == 0 {
				heap.Pop(&e.h)
				continue
			}
		}
		heap.Fix(&e.h, 0)
	}
	return e.fw.flush()
}

func (e *engine) emit(c *conn, q *qseg) error {
	s := &e.seg
	ts := q.ts
	if !e.cfg.Nanos {
		// A microsecond pcap cannot hold the nanoseconds; the ground truth
		// must carry the times the file does.
		ts -= ts % usec
	}
	s.ts, s.seq, s.ack, s.flags, s.win = ts, q.seq, q.ack, q.flags, window
	if q.fromSrv {
		s.src, s.dst = c.srv, c.cli
	} else {
		s.src, s.dst = c.cli, c.srv
	}
	if q.pat {
		s.payload = pattern[q.off : q.off+q.n]
	} else {
		s.payload = c.buf[q.off : q.off+q.n]
	}
	if q.txStart {
		if len(c.txs) == 0 {
			return fmt.Errorf("BUG: conn %d: request segment without ground truth", c.id)
		}
		tx := c.txs[0]
		c.txs = c.txs[1:]
		tx.TS = e.fw.epoch.Add(time.Duration(ts))
		e.txCount++
		if e.cfg.Truth != nil {
			tx.Tunnel = e.tunnelOf()
			e.cfg.Truth(tx)
			if e.cfg.DupTunnelID != 0 {
				tx.Tunnel = e.cfg.DupTunnelID
				e.cfg.Truth(tx)
			}
		}
	}
	return e.fw.write(s)
}

func (e *engine) tunnelOf() uint32 {
	if e.cfg.Encap == EncapNone {
		return 0
	}
	return e.cfg.TunnelID
}

// connHeap orders connections by their next segment's timestamp, then by
// id, so ties resolve the same way on every run.
type connHeap []*conn

func (h connHeap) Len() int { return len(h) }
func (h connHeap) Less(i, j int) bool {
	a, b := &h[i].q[h[i].qi], &h[j].q[h[j].qi]
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	return h[i].id < h[j].id
}
func (h connHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
}
func (h *connHeap) Push(x any) {
	c := x.(*conn)
	*h = append(*h, c)
}
func (h *connHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return c
}

// Summary is what a generator wrote.
type Summary struct {
	Packets      int64 // pcap records
	Bytes        int64 // frame bytes (without pcap record headers)
	Transactions int64 // HTTP transactions (counted once even with DupTunnelID)
	Connections  int   // TCP connections opened (SYNs sent)
}

func (e *engine) summary() Summary {
	return Summary{Packets: e.fw.packets, Bytes: e.fw.bytes, Transactions: e.txCount, Connections: e.nextConn}
}

// request queues a request (in parts, as sendParts) and marks its first
// segment as the start of the transaction most recently added with addTx.
func (c *conn) request(dt int64, parts ...[]byte) {
	i := len(c.q)
	c.sendParts(dt, false, parts...)
	c.q[i].txStart = true
}

// exchange queues one request/response pair dt after the last segment: the
// request (ground truth tx released with its first byte), svc of server
// time (past the delayed-ACK timer the server ACKs the request alone), then
// the response parts.
func (c *conn) exchange(dt int64, tx Transaction, req []byte, svc int64, resp [][]byte) {
	c.addTx(tx)
	c.request(dt, req)
	if svc > delayedAckDur {
		c.push(delayedAckDur, true, flagACK, nil)
		svc -= delayedAckDur
	}
	c.txs[len(c.txs)-1].RespSegments = c.sendParts(svc, true, resp...)
}
