// Package reassembly turns captured TCP segments into ordered byte streams,
// within fixed memory bounds.
//
// # Input
//
// *capture.Decoded packets with Proto 6, in capture order, from one worker
// (the symmetric flow hash sends both directions of a connection to the same
// worker). Assembler.Packet reads the packet and its Payload only during the
// call. Tick(now) and FlushAll(now) take packet time, never wall time.
//
// # Output
//
// Calls on the Stream a StreamFactory made for each connection:
// Data(dir, b, ts) with the next in-order bytes of one direction, Gap(dir, n,
// ts) for n bytes that will never arrive, and Close(ts) exactly once, after
// which nothing is called. Data's b is valid only during the call: in-order
// segments are passed straight from the packet buffer without copying.
//
// # Ownership and concurrency
//
// One Assembler per worker goroutine. It is not safe for concurrent use,
// starts no goroutines, takes no locks. It owns its connection table and
// out-of-order buffers; Streams are owned by the factory's caller but are
// only called from the goroutine that calls the Assembler.
//
// # Memory rules
//
//   - Connections: at most Config.MaxConns. A new connection at the cap
//     evicts the least recently active one (flushed, Closed, counted in
//     Stats.Evicted). Connection structs are recycled.
//   - Out-of-order bytes: copied into pooled buffers (power-of-two classes,
//     per-Assembler free lists capped at about 1 MiB per class). At most
//     MaxBufferedPerConn bytes and MaxSegmentsPerConn segments per
//     connection, and MaxBufferedTotal bytes per Assembler;
//     Stats.BufferedBytes never exceeds MaxBufferedTotal.
//   - In-order steady state allocates nothing per packet.
//
// # Policies
//
// Overlaps: first copy wins. Bytes already delivered or already buffered are
// kept; a later segment covering them is trimmed, and when its bytes differ
// from a buffered copy it counts in Stats.InconsistentOverlaps (Zeek's
// rexmit_inconsistency; Suricata's "first" stream policy). Delivered bytes
// are not retained, so differences against them cannot be detected: such
// segments count as Retransmits or Overlaps only. Sequence numbers compare
// in serial-number arithmetic (RFC 1982), so streams cross the 2^32 wrap.
//
// Gaps: a hole is skipped (Stream.Gap with the byte count, then the buffered
// bytes after it) when a buffer cap would be exceeded (the connection's own
// oldest hole first; for the global cap, the connection that has been
// buffering longest), when the peer acknowledges bytes beyond the hole (the
// receiver got what the capture lost), and at close, timeout, eviction or
// FlushAll. A FIN whose sequence number lies beyond the last byte seen
// reports the missing tail as a gap at close. Stats.MissedBytes sums all
// gaps (Zeek's content_gap).
//
// Snap length: bytes of a segment the capture cut off (Decoded.Cut: the IP
// length says they were sent, the record says the capture lost them) are a
// gap reported right after the segment's captured bytes, when delivery
// reaches them with it (Stats.SnapCutBytes); buffered bytes inside the cut
// range are delivered in their place, and the range counts for FIN and RST
// like data. Waiting for a hole that never fills would stall the stream at
// every long segment of a capture taken with a short snap length. A cut
// segment buffered behind another hole, or a retransmit delivery already
// passed, leaves its tail to the rules above.
//
// Connection setup: a SYN sets the client's ISN, a SYN-ACK the server's (and
// the client's, from its ACK, when the SYN was not captured; such a
// connection is not Midstream since no byte is missing). Data on a SYN (TCP
// Fast Open) is delivered. A connection first seen on a data segment is
// Midstream: each direction starts at the first sequence number seen, and
// the server is the side with a well-known server port (<1024, 8080, 8443,
// 3000, ...), else the lower port. Only a SYN or a segment with payload
// starts a connection; a pure ACK, bare FIN or RST for an unknown
// connection is counted in Stats.PacketsNoConn.
//
// FIN and RST are believed only within Config.MaxWindow of the expected
// sequence number. On a connection whose handshake has not completed, a FIN
// from a side not seen yet (e.g. the server's FIN before its SYN-ACK) is
// ignored: a spurious FIN before the handshake, an evasion seen in
// suricata-verify bug-3286. Both directions finished closes the
// connection. An RST marks it reset: it is closed ResetTimeout later (Tick),
// or at once if a FIN was already seen on an established connection, but
// data that continues either stream cancels the reset (RST injection). Data
// past a FIN likewise cancels the FIN. A SYN with a new ISN on a connection
// that saw a FIN or RST closes it and starts a new one (port reuse); a SYN
// with the same ISN is a retransmit.
//
// Timeouts (Tick, packet time): IdleTimeout for established connections,
// ClosingTimeout once a FIN was seen, HalfOpenTimeout for a SYN never
// answered, ResetTimeout after an RST. Tick visits connections oldest
// activity first and stops at the first one younger than the shortest
// timeout.
//
// A Stream must not call back into the Assembler.
//
// Determinism: the same packets give the same Stream calls in the same
// order. Tick closes in activity order, FlushAll in creation order; no
// decision depends on Go map iteration.
package reassembly
