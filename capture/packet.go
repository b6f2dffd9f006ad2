package capture

import (
	"net/netip"
	"time"
)

// TCP flag bits as they sit in the TCP header's 13th byte.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
	TCPUrg = 0x20
)

// Packet is one captured frame as a Source hands it out. Data points into the
// source's buffer and is valid only until the next call to Next.
type Packet struct {
	Data     []byte
	TS       time.Time
	LinkType uint16 // DLT_* / LINKTYPE_* value of this frame
	OrigLen  int    // length on the wire (Data may be shorter: snaplen)
	Index    uint64 // 1-based position in the whole input (all files), for ordering and error messages
}

// Decoded is a packet after link, tunnel and IP decoding: the innermost IP
// packet's addresses and transport header. Payload points into the packet
// buffer (or a defragmentation buffer owned by the Decoder) and is valid as
// long as that buffer is.
type Decoded struct {
	TS     time.Time
	Index  uint64
	Tunnel uint64 // VLAN ids / VNI / GRE key / ERSPAN session folded together; 0 = none

	Src, Dst netip.Addr
	SrcPort  uint16
	DstPort  uint16
	Proto    uint8 // IP protocol of the innermost transport: 6 TCP, 17 UDP

	// TCP only.
	Seq, Ack uint32
	Flags    uint8
	Window   uint16

	Payload []byte
	// Cut is how many TCP payload bytes the capture's snap length cut off
	// after Payload: the IP length says they were sent, and the record's
	// original length says the capture saw them. Reassembly reports them
	// as a gap at once instead of waiting for a hole that never fills.
	Cut int
}

// FlowKey is a direction-independent-comparable key for one connection: the
// 5-tuple plus tunnel id. Use Key() to get it in canonical order.
type FlowKey struct {
	Tunnel uint64
	A, B   netip.AddrPort
}

// Key returns the flow key in canonical (sorted) order and whether the packet
// runs from B to A in that order.
func (d *Decoded) Key() (k FlowKey, reversed bool) {
	a := netip.AddrPortFrom(d.Src, d.SrcPort)
	b := netip.AddrPortFrom(d.Dst, d.DstPort)
	if a.Compare(b) > 0 {
		return FlowKey{Tunnel: d.Tunnel, A: b, B: a}, true
	}
	return FlowKey{Tunnel: d.Tunnel, A: a, B: b}, false
}
