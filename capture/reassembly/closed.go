package reassembly

import (
	"time"

	"github.com/apisensor/apisensor/capture"
	"github.com/apisensor/apisensor/model"
)

// closedSet remembers, for ClosingTimeout of packet time, the connections
// that ended by FIN or RST, and where each direction's stream ended. A late
// retransmission of their data then is recognised as old and dropped,
// instead of starting a new mid-stream connection whose parser would report
// a phantom response-only call (security-4710-01: the server resends its
// whole response a second after both FINs).
//
// Bounded: at most cap entries; when full, the oldest is forgotten.
type closedSet struct {
	m    map[capture.FlowKey]tombstone
	ring []ringEntry
	head int
	gen  uint64
}

type tombstone struct {
	at        time.Time
	clientIsA bool
	started   [2]bool
	end       [2]uint32 // per direction, the sequence number after the last byte
	gen       uint64
}

type ringEntry struct {
	key capture.FlowKey
	gen uint64
}

func newClosedSet(n int) closedSet {
	return closedSet{m: make(map[capture.FlowKey]tombstone, n), ring: make([]ringEntry, n)}
}

// remember records c as it closes.
func (s *closedSet) remember(c *conn, ts time.Time) {
	if len(s.ring) == 0 {
		return
	}
	s.gen++
	t := tombstone{at: ts, clientIsA: c.clientIsA, gen: s.gen}
	for d := range c.h {
		t.started[d] = c.h[d].started
		t.end[d] = c.h[d].next
		if c.h[d].finPending && seqDiff(c.h[d].finSeq, t.end[d]) > 0 {
			t.end[d] = c.h[d].finSeq
		}
	}
	old := s.ring[s.head]
	if cur, ok := s.m[old.key]; ok && cur.gen == old.gen {
		delete(s.m, old.key)
	}
	s.ring[s.head] = ringEntry{key: c.key, gen: s.gen}
	s.head = (s.head + 1) % len(s.ring)
	s.m[c.key] = t
}

// stale reports whether a packet with no live connection only repeats bytes
// of a connection that closed within timeout. A packet that carries new
// bytes, or comes too late, makes the set forget the connection.
func (s *closedSet) stale(key capture.FlowKey, reversed bool, seq uint32, n int, ts time.Time, timeout time.Duration) bool {
	if len(s.m) == 0 {
		return false
	}
	t, ok := s.m[key]
	if !ok {
		return false
	}
	dir := model.ServerToClient
	if !reversed == t.clientIsA {
		dir = model.ClientToServer
	}
	if ts.Sub(t.at) <= timeout && t.started[dir] && seqDiff(seq+uint32(n), t.end[dir]) <= 0 {
		return true
	}
	delete(s.m, key)
	return false
}

// forget drops key (a new SYN reuses the 4-tuple).
func (s *closedSet) forget(key capture.FlowKey) {
	if len(s.m) > 0 {
		delete(s.m, key)
	}
}

func (s *closedSet) len() int { return len(s.m) }
