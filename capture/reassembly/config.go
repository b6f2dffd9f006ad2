package reassembly

import (
	"errors"
	"fmt"
	"time"
)

// Config bounds one Assembler. All limits are per Assembler, i.e. per worker
// goroutine; the sensor multiplies them by the number of workers.
type Config struct {
	// MaxConns is the number of connections tracked at once. A new
	// connection at the cap evicts the least recently active one (its
	// buffered data is flushed with gaps, its Stream is closed, and
	// Stats.Evicted counts it).
	MaxConns int
	// MaxBufferedPerConn caps the out-of-order payload bytes one connection
	// holds (both directions together). Hitting it skips the oldest hole.
	MaxBufferedPerConn int
	// MaxSegmentsPerConn caps the number of out-of-order segments one
	// connection holds. Payload bytes alone do not bound memory when a peer
	// sends one-byte segments: each buffered segment also costs a header and
	// a pooled buffer of at least 64 bytes. It also bounds the cost of
	// inserting into the sorted queue (a copy of at most this many headers).
	MaxSegmentsPerConn int
	// MaxBufferedTotal caps the out-of-order payload bytes the whole
	// Assembler holds. Hitting it skips holes in the connection that has
	// been buffering longest. Stats.BufferedBytes never exceeds it.
	MaxBufferedTotal int
	// MaxWindow is how far (in sequence space) a FIN, RST or ACK may lie
	// from what the reassembler expects and still be believed. It is the
	// loose in-window check that keeps a blind injected RST from ending a
	// session, while a legitimate one (at or near the expected sequence)
	// still does.
	MaxWindow uint32

	// IdleTimeout closes an established connection that carried no packet
	// for this long (packet time).
	IdleTimeout time.Duration
	// ClosingTimeout applies once a FIN was seen in either direction: the
	// other side's FIN may never be captured.
	ClosingTimeout time.Duration
	// HalfOpenTimeout applies to a connection that saw a SYN and no answer:
	// scans and refused connections should not hold a slot for minutes.
	HalfOpenTimeout time.Duration
	// ResetTimeout is how long a connection lingers after a believed RST.
	// Data that continues the stream within it cancels the reset (RST
	// injection evasion, spurious RST before the handshake completes).
	ResetTimeout time.Duration
}

// DefaultConfig returns limits sized for one worker on a busy span port:
// 64k connections, 1 MiB of out-of-order data per connection (about 700
// full-size segments, enough to ride out one lost segment in a large
// window), 64 MiB per worker.
func DefaultConfig() Config {
	return Config{
		MaxConns:           65536,
		MaxBufferedPerConn: 1 << 20,
		MaxSegmentsPerConn: 1024,
		MaxBufferedTotal:   64 << 20,
		MaxWindow:          16 << 20,
		IdleTimeout:        2 * time.Minute,
		ClosingTimeout:     10 * time.Second,
		HalfOpenTimeout:    30 * time.Second,
		ResetTimeout:       5 * time.Second,
	}
}

// Validate reports every unusable setting.
func (c Config) Validate() error {
	var errs []error
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("reassembly: MaxConns %d < 1", c.MaxConns))
	}
	if c.MaxBufferedPerConn < 0 {
		errs = append(errs, fmt.Errorf("reassembly: MaxBufferedPerConn %d < 0", c.MaxBufferedPerConn))
	}
	if c.MaxSegmentsPerConn < 0 {
		errs = append(errs, fmt.Errorf("reassembly: MaxSegmentsPerConn %d < 0", c.MaxSegmentsPerConn))
	}
	if c.MaxBufferedTotal < 0 {
		errs = append(errs, fmt.Errorf("reassembly: MaxBufferedTotal %d < 0", c.MaxBufferedTotal))
	}
	// Sequence comparisons use signed 32-bit differences, so anything at or
	// past 2^31 would be ambiguous; 2^30 leaves margin on both sides.
	if c.MaxWindow == 0 || c.MaxWindow > 1<<30 {
		errs = append(errs, fmt.Errorf("reassembly: MaxWindow %d outside 1..2^30", c.MaxWindow))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"IdleTimeout", c.IdleTimeout},
		{"ClosingTimeout", c.ClosingTimeout},
		{"HalfOpenTimeout", c.HalfOpenTimeout},
		{"ResetTimeout", c.ResetTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("reassembly: %s %v must be positive", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Stats are the Assembler's counters. Conns and BufferedBytes are gauges;
// Peak* are high-water marks; the rest only grow.
type Stats struct {
	Conns             int // connections tracked now
	PeakConns         int
	BufferedBytes     int // out-of-order payload bytes held now
	PeakBufferedBytes int
	BufferedSegments  int // out-of-order segments held now

	Packets       uint64 // TCP packets handed to Packet
	NonTCP        uint64 // packets ignored because Proto != 6
	PacketsNoConn uint64 // packets for no tracked connection that cannot start one (pure ACK, RST, empty FIN)
	ConnsCreated  uint64
	Midstream     uint64 // connections created without a handshake

	DeliveredBytes     uint64 // bytes passed to Stream.Data
	MissedBytes        uint64 // bytes reported through Stream.Gap (Zeek's content_gap)
	GapEvents          uint64 // Stream.Gap calls
	AckGaps            uint64 // gaps skipped because the peer acknowledged beyond a hole
	SnapCutBytes       uint64 // bytes of MissedBytes the capture's snap length cut off (Decoded.Cut)
	CapGaps            uint64 // gaps skipped because a buffer cap was hit
	OutOfOrderSegments uint64 // segments that arrived ahead of the next expected byte
	Retransmits        uint64 // segments entirely made of bytes already delivered (dropped)
	Overlaps           uint64 // segments partly or wholly covering bytes already delivered or buffered (trimmed)
	// InconsistentOverlaps counts overlaps whose bytes differ from the
	// buffered copy. Bytes already delivered are not kept (zero copy), so an
	// overlap with delivered data is counted in Overlaps only.
	InconsistentOverlaps uint64
	SynRetransmits       uint64
	SynIgnored           uint64 // SYNs with a new ISN on a live connection that already carried data
	PortReuse            uint64 // new SYN on a finished or reset connection: old one closed, new one started
	Resets               uint64 // RSTs believed (in window)
	ResetsCancelled      uint64 // resets followed by data that continued the stream
	FinRstIgnored        uint64 // FIN/RST out of window or before the handshake completed
	ClosedFin            uint64 // closed because both directions finished, or FIN + RST
	ClosedReset          uint64 // closed ResetTimeout after an RST with no data after it
	Timeouts             uint64 // closed by Tick for idleness
	// LateRetransmits counts packets that only repeated bytes of a
	// connection closed within ClosingTimeout (dropped, no new connection).
	LateRetransmits uint64
	Evicted         uint64 // closed because MaxConns was reached
	Flushed         uint64 // closed by FlushAll
}
