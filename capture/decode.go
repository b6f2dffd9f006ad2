package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Link types the Decoder understands (LINKTYPE_* values as stored in pcap
// files; where DLT_ and LINKTYPE_ differ both are accepted).
const (
	LinkNull     uint16 = 0   // BSD loopback, host-order address family
	LinkEthernet uint16 = 1   // Ethernet II
	LinkPPP      uint16 = 9   // PPP, optionally with HDLC address/control
	LinkRaw12    uint16 = 12  // DLT_RAW on some BSDs
	LinkRaw14    uint16 = 14  // DLT_RAW on OpenBSD
	LinkPPPHDLC  uint16 = 50  // PPP in HDLC-like framing
	LinkRaw      uint16 = 101 // raw IPv4/IPv6 (version nibble)
	LinkCHDLC    uint16 = 104 // Cisco HDLC
	LinkLoop     uint16 = 108 // OpenBSD loopback, network-order address family
	LinkLinuxSLL uint16 = 113 // Linux cooked v1
	LinkIPv4     uint16 = 228
	LinkIPv6     uint16 = 229
	LinkSLL2     uint16 = 276 // Linux cooked v2
)

// DecoderConfig configures a Decoder.
type DecoderConfig struct {
	// VLANInFlowKey folds 802.1Q/802.1ad VLAN ids into Decoded.Tunnel, so the
	// same 5-tuple on two VLANs is two flows. Turn it off when a span port
	// sees each packet twice with different tags (or once tagged, once not).
	VLANInFlowKey bool
	// MaxDepth bounds nested encapsulations (each MPLS stack, PPPoE,
	// tunnel header and IP-in-IP layer counts one; a run of VLAN tags is
	// bounded separately to 8). Deeper frames are
	// counted as TooDeep: a crafted frame cannot make decoding unbounded.
	MaxDepth int
	// MaxFragments caps IP datagrams being reassembled at once; the oldest
	// is evicted (and counted) to make room. 0 disables reassembly:
	// fragments are counted and dropped.
	MaxFragments int
	// MaxFragmentBytes caps the bytes held in reassembly buffers.
	MaxFragmentBytes int
	// MaxFragmentsPerDatagram bounds the fragment list of one datagram
	// (tiny-fragment floods).
	MaxFragmentsPerDatagram int
	// FragmentTimeout drops a datagram whose first fragment is older than
	// this, measured in packet time.
	FragmentTimeout time.Duration
}

// DefaultDecoderConfig returns the configuration the sensor uses.
func DefaultDecoderConfig() DecoderConfig {
	return DecoderConfig{
		VLANInFlowKey:           true,
		MaxDepth:                8,
		MaxFragments:            1024,
		MaxFragmentBytes:        16 << 20,
		MaxFragmentsPerDatagram: 64,
		FragmentTimeout:         30 * time.Second,
	}
}

// Validate reports a configuration that cannot work.
func (c DecoderConfig) Validate() error {
	switch {
	case c.MaxDepth < 1 || c.MaxDepth > 64:
		return fmt.Errorf("capture: MaxDepth %d out of range [1, 64]", c.MaxDepth)
	case c.MaxFragments < 0:
		return fmt.Errorf("capture: MaxFragments %d is negative", c.MaxFragments)
	case c.MaxFragments > 0 && c.MaxFragmentBytes < 65536:
		return fmt.Errorf("capture: MaxFragmentBytes %d below one maximum datagram (65536)", c.MaxFragmentBytes)
	case c.MaxFragments > 0 && (c.MaxFragmentsPerDatagram < 2 || c.MaxFragmentsPerDatagram > 8192):
		return fmt.Errorf("capture: MaxFragmentsPerDatagram %d out of range [2, 8192]", c.MaxFragmentsPerDatagram)
	case c.MaxFragments > 0 && c.FragmentTimeout <= 0:
		return fmt.Errorf("capture: FragmentTimeout %v must be positive", c.FragmentTimeout)
	}
	return nil
}

// DecodeStats counts what a Decoder saw. Every packet lands in exactly one
// of Decoded, Truncated, UnknownLinkType, NonIP, OtherProto, Malformed,
// TooDeep, FragmentHeld or FragmentDropped; the tunnel counters count
// headers walked and overlap with those.
type DecodeStats struct {
	Packets uint64
	Bytes   uint64 // captured bytes

	Decoded         uint64 // TCP or UDP handed out
	Truncated       uint64 // a header cut off by the snap length or the frame end
	UnknownLinkType uint64
	NonIP           uint64 // ARP, LLDP, unknown EtherType or PPP protocol, ...
	OtherProto      uint64 // IP but not TCP/UDP (ICMP, ESP, OSPF, ...)
	Malformed       uint64 // impossible header values (IHL < 5, TCP offset < 5, ...)
	TooDeep         uint64 // more nested encapsulations than MaxDepth

	FragmentHeld         uint64 // fragment stored, datagram not complete yet
	FragmentDropped      uint64 // fragment refused: disabled, too large, too many pieces, bad overlap
	FragmentsReassembled uint64 // datagrams completed
	FragmentsTimedOut    uint64 // datagrams dropped by FragmentTimeout
	FragmentsEvicted     uint64 // datagrams dropped by MaxFragments/MaxFragmentBytes
	FragmentOverlaps     uint64 // fragments that overlapped data already held
	IPv6Fragments        uint64 // IPv6 fragments seen (also in the counters above)

	VLAN, MPLS, PPPoE, VXLAN, GENEVE, GRE, ERSPAN, IPinIP, Teredo uint64
}

// result is why a decode step ended.
type result uint8

const (
	resOK result = iota
	resTruncated
	resNonIP
	resOtherProto
	resMalformed
	resTooDeep
	resFragHeld
	resFragDropped
)

// Decoder turns frames into Decoded: link layer, encapsulations, IP
// (with fragment reassembly) and TCP/UDP. One per dispatcher goroutine;
// not safe for concurrent use.
//
// It is hand-written rather than gopacket's DecodingLayerParser because it
// is measured several times faster with zero allocations (see
// BenchmarkDecode* vs BenchmarkGopacketDLP* in bench_test.go; the
// numbers are in doc.go), and because DecodingLayerParser has no ERSPAN III,
// Teredo, C-HDLC or SLL2 decoding and stops at the first tunnel it does not
// know. gopacket stays the oracle in the differential test.
type Decoder struct {
	cfg    DecoderConfig
	stats  DecodeStats
	out    *Decoded
	tunnel uint64
	depth  int
	now    time.Time
	frag   *defragger
	// Bytes the record lost to the snap length (original minus captured
	// length), and the innermost IP layer's payload bytes past the frame:
	// both > 0 make Decoded.Cut.
	snapCut, ipCut int
}

// NewDecoder returns a Decoder. It panics on an invalid configuration,
// which is a programming error: callers validate Config at startup.
func NewDecoder(cfg DecoderConfig) *Decoder {
	if err := cfg.Validate(); err != nil {
		panic("BUG: capture.NewDecoder: " + err.Error())
	}
	d := &Decoder{cfg: cfg}
	if cfg.MaxFragments > 0 {
		d.frag = newDefragger(cfg)
	}
	return d
}

// Stats returns the counters so far.
func (d *Decoder) Stats() DecodeStats { return d.stats }

// Decode decodes p into out. It returns false when the packet yields no
// TCP/UDP segment (a skip or error, counted in Stats, or a fragment held
// for reassembly). out.Payload points into p.Data, or into a reassembly
// buffer valid until the next call to Decode.
func (d *Decoder) Decode(p *Packet, out *Decoded) (ok bool) {
	d.stats.Packets++
	d.stats.Bytes += uint64(len(p.Data))
	*out = Decoded{TS: p.TS, Index: p.Index}
	d.out = out
	d.tunnel = 0
	d.depth = 0
	d.now = p.TS
	d.snapCut = p.OrigLen - len(p.Data) // ipCut is set before every transport call
	if d.frag != nil {
		d.frag.startPacket(d)
	}
	var r result
	b := p.Data
	if p.LinkType == LinkEthernet {
		r = d.ethernet(b)
	} else {
		et, off, lr, known := linkHeader(p.LinkType, b)
		if !known {
			d.stats.UnknownLinkType++
			return false
		}
		if r = lr; r == resOK {
			r = d.etherType(et, b[off:])
		}
	}
	switch r {
	case resOK:
		d.stats.Decoded++
		out.Tunnel = d.tunnel
		return true
	case resTruncated:
		d.stats.Truncated++
	case resNonIP:
		d.stats.NonIP++
	case resOtherProto:
		d.stats.OtherProto++
	case resMalformed:
		d.stats.Malformed++
	case resTooDeep:
		d.stats.TooDeep++
	case resFragHeld:
		d.stats.FragmentHeld++
	case resFragDropped:
		d.stats.FragmentDropped++
	}
	return false
}

// Tunnel-id kinds, folded into Decoded.Tunnel together with the id so that
// VLAN 5 and VNI 5 differ.
const (
	tunVLAN   = 1
	tunVXLAN  = 2
	tunGENEVE = 3
	tunGREKey = 4
	tunERSPAN = 5
)

// foldTunnel mixes one tunnel id into the running value. The multiply and
// xor-shift (splitmix64's finalizer) make the stack order matter and keep
// distinct stacks apart; the result is never 0 so "no tunnel" stays unique.
func (d *Decoder) foldTunnel(kind uint64, id uint64) {
	x := mix64(d.tunnel ^ (kind<<56 | id&0x00ffffffffffffff) + 0x9e3779b97f4a7c15)
	if x == 0 {
		x = 1
	}
	d.tunnel = x
}

func (d *Decoder) enter() bool {
	d.depth++
	return d.depth <= d.cfg.MaxDepth
}

// ethernet decodes an Ethernet II header.
func (d *Decoder) ethernet(b []byte) result {
	if len(b) < 14 {
		return resTruncated
	}
	et := binary.BigEndian.Uint16(b[12:14])
	if et < 0x0600 {
		return resNonIP // 802.3 length field: LLC/SNAP (STP, CDP, ...)
	}
	return d.etherType(et, b[14:])
}

// maxVLANTags bounds one run of stacked VLAN tags (QinQ uses two).
const maxVLANTags = 8

// etherType dispatches on an EtherType (also used by SLL, C-HDLC, GRE and
// GENEVE, which carry EtherTypes too).
func (d *Decoder) etherType(et uint16, b []byte) result {
	tags := 0
	for {
		switch et {
		case 0x0800:
			return d.ipv4(b)
		case 0x86dd:
			return d.ipv6(b)
		case 0x8100, 0x88a8, 0x9100:
			// 802.1Q / 802.1ad / old QinQ: TCI then the next EtherType.
			// Tags are a loop, not recursion, so they do not count
			// against MaxDepth; a run of more than maxVLANTags is
			// still refused.
			if tags++; tags > maxVLANTags {
				return resTooDeep
			}
			if len(b) < 4 {
				return resTruncated
			}
			d.stats.VLAN++
			if d.cfg.VLANInFlowKey {
				d.foldTunnel(tunVLAN, uint64(binary.BigEndian.Uint16(b[0:2])&0x0fff))
			}
			et = binary.BigEndian.Uint16(b[2:4])
			b = b[4:]
		case 0x8847, 0x8848:
			return d.mpls(b)
		case 0x8864:
			return d.pppoe(b)
		case 0x6558:
			if !d.enter() {
				return resTooDeep
			}
			return d.ethernet(b)
		default:
			return resNonIP
		}
	}
}

// mpls skips an MPLS label stack (to the bottom-of-stack bit) and guesses
// the payload from the version nibble, as routers do. Pseudowire control
// words (first nibble 0) are not decoded.
func (d *Decoder) mpls(b []byte) result {
	if !d.enter() {
		return resTooDeep
	}
	d.stats.MPLS++
	for i := 0; ; i++ {
		if i >= 16 {
			return resTooDeep
		}
		if len(b) < 4 {
			return resTruncated
		}
		bos := b[2]&1 != 0
		b = b[4:]
		if bos {
			break
		}
	}
	return d.ipByVersion(b)
}

// pppoe decodes a PPPoE session header (RFC 2516) and its PPP protocol.
func (d *Decoder) pppoe(b []byte) result {
	if !d.enter() {
		return resTooDeep
	}
	if len(b) < 6 {
		return resTruncated
	}
	d.stats.PPPoE++
	if b[0] != 0x11 || b[1] != 0 {
		return resNonIP // discovery stage or unknown version
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	b = b[6:]
	if n < len(b) {
		b = b[:n] // drop Ethernet padding
	}
	return d.ppp(b)
}

// ppp decodes a PPP protocol field and what follows.
func (d *Decoder) ppp(b []byte) result {
	et, off, r := pppHeader(b)
	if r != resOK {
		return r
	}
	return d.etherType(et, b[off:])
}

// pppHeader reads a PPP protocol field (1 or 2 bytes, RFC 1661 PFC): the
// EtherType of IPv4, IPv6 or MPLS it names and where the packet starts.
func pppHeader(b []byte) (et uint16, off int, r result) {
	if len(b) < 1 {
		return 0, 0, resTruncated
	}
	proto := uint16(b[0])
	if proto&1 == 1 { // protocol field compressed to one byte
		off = 1
	} else {
		if len(b) < 2 {
			return 0, 0, resTruncated
		}
		proto, off = binary.BigEndian.Uint16(b[0:2]), 2
	}
	switch proto {
	case 0x0021:
		return EtherTypeIPv4, off, resOK
	case 0x0057:
		return EtherTypeIPv6, off, resOK
	case 0x0281:
		return EtherTypeMPLS, off, resOK
	}
	return 0, 0, resNonIP
}

// linkHeader reads the link header of a frame of link type lt other than
// Ethernet: the EtherType of the packet it carries and where that starts.
// r is resTruncated for a frame too short for its header and resNonIP for
// a header naming no protocol decoded here; known is false for a link type
// not decoded at all. Decode and NetworkLayer (the file filter) both read
// link headers through it.
func linkHeader(lt uint16, b []byte) (et uint16, off int, r result, known bool) {
	switch lt {
	case LinkRaw, LinkRaw12, LinkRaw14:
		if len(b) < 1 {
			return 0, 0, resTruncated, true
		}
		switch b[0] >> 4 {
		case 4:
			return EtherTypeIPv4, 0, resOK, true
		case 6:
			return EtherTypeIPv6, 0, resOK, true
		}
		return 0, 0, resNonIP, true
	case LinkIPv4:
		return EtherTypeIPv4, 0, resOK, true
	case LinkIPv6:
		return EtherTypeIPv6, 0, resOK, true
	case LinkLinuxSLL:
		if len(b) < 16 {
			return 0, 0, resTruncated, true
		}
		return binary.BigEndian.Uint16(b[14:16]), 16, resOK, true
	case LinkSLL2:
		if len(b) < 20 {
			return 0, 0, resTruncated, true
		}
		return binary.BigEndian.Uint16(b[0:2]), 20, resOK, true
	case LinkCHDLC:
		if len(b) < 4 {
			return 0, 0, resTruncated, true
		}
		return binary.BigEndian.Uint16(b[2:4]), 4, resOK, true
	case LinkNull, LinkLoop:
		// A 4-byte address family: host order for DLT_NULL (so either),
		// network order for DLT_LOOP.
		if len(b) < 4 {
			return 0, 0, resTruncated, true
		}
		af := binary.BigEndian.Uint32(b[0:4])
		if lt == LinkNull && af > 0xffff {
			af = binary.LittleEndian.Uint32(b[0:4])
		}
		switch af {
		case 2:
			return EtherTypeIPv4, 4, resOK, true
		case 10, 24, 28, 30: // AF_INET6: Linux, NetBSD/OpenBSD, FreeBSD, Darwin
			return EtherTypeIPv6, 4, resOK, true
		}
		return 0, 0, resNonIP, true
	case LinkPPP, LinkPPPHDLC:
		hdlc := 0
		if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
			hdlc = 2
		}
		et, off, r = pppHeader(b[hdlc:])
		return et, hdlc + off, r, true
	}
	return 0, 0, resNonIP, false
}

func (d *Decoder) ipByVersion(b []byte) result {
	if len(b) < 1 {
		return resTruncated
	}
	switch b[0] >> 4 {
	case 4:
		return d.ipv4(b)
	case 6:
		return d.ipv6(b)
	}
	return resNonIP
}

// ipv4 decodes an IPv4 header. The payload ends at the total length, so
// Ethernet padding never reaches the transport; a total length of 0 (TSO
// captures) means "what was captured".
func (d *Decoder) ipv4(b []byte) result {
	if len(b) < 20 {
		return resTruncated
	}
	if b[0]>>4 != 4 {
		return resMalformed
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return resMalformed
	}
	if len(b) < ihl {
		return resTruncated
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total == 0 {
		total = len(b)
	}
	if total < ihl {
		return resMalformed
	}
	if total < len(b) {
		b = b[:total]
	}
	cut := total - len(b) // > 0: cut by the snap length (or a bad length)
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	proto := b[9]
	payload := b[ihl:]
	ff := binary.BigEndian.Uint16(b[6:8])
	if ff&0x3fff != 0 { // MF set or offset != 0
		if d.frag == nil {
			return resFragDropped
		}
		if len(b) < total { // a fragment cut by the snap length cannot be reassembled
			return resTruncated
		}
		id := uint32(binary.BigEndian.Uint16(b[4:6]))
		full, _, r := d.frag.add(d, fragKey{src: src, dst: dst, id: id, proto: proto}, int(ff&0x1fff)*8, ff&0x2000 != 0, payload, proto)
		if r != resOK {
			return r
		}
		payload = full
		cut = 0
	}
	d.ipCut = cut
	return d.transport(proto, src, dst, payload)
}

// ipv6 decodes an IPv6 header and walks its extension headers.
func (d *Decoder) ipv6(b []byte) result {
	if len(b) < 40 {
		return resTruncated
	}
	if b[0]>>4 != 6 {
		return resMalformed
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	rest := b[40:]
	if plen != 0 && plen < len(rest) { // 0: jumbogram or TSO, take what was captured
		rest = rest[:plen]
	}
	truncated := plen != 0 && plen > len(rest)
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	next := b[6]
	for i := 0; ; i++ {
		if i > 8 {
			return resMalformed
		}
		switch next {
		case 0, 43, 60, 51: // hop-by-hop, routing, destination options; AH
			if len(rest) < 8 {
				return resTruncated
			}
			n := (int(rest[1]) + 1) * 8 // in 8-octet units, the first not counted
			if next == 51 {
				n = (int(rest[1]) + 2) * 4 // AH counts 4-octet units, less two (RFC 4302)
			}
			if len(rest) < n {
				return resTruncated
			}
			next = rest[0]
			rest = rest[n:]
			continue
		case 44: // fragment
			if len(rest) < 8 {
				return resTruncated
			}
			d.stats.IPv6Fragments++
			proto := rest[0]
			fo := binary.BigEndian.Uint16(rest[2:4])
			id := binary.BigEndian.Uint32(rest[4:8])
			rest = rest[8:]
			if fo&0xfff9 == 0 { // atomic fragment (RFC 6946): offset 0, no MF
				next = proto
				continue
			}
			if d.frag == nil {
				return resFragDropped
			}
			if truncated {
				return resTruncated
			}
			full, first, r := d.frag.add(d, fragKey{src: src, dst: dst, id: id, v6: true}, int(fo&0xfff8), fo&1 != 0, rest, proto)
			if r != resOK {
				return r
			}
			// Extension headers after the fragment header sit in the
			// reassembled payload; walk them too.
			next, rest = first, full
			continue
		}
		d.ipCut = 0
		if truncated {
			d.ipCut = plen - (len(b) - 40)
		}
		return d.transport(next, src, dst, rest)
	}
}

// transport decodes TCP/UDP, or an IP-in-IP / GRE tunnel.
func (d *Decoder) transport(proto uint8, src, dst netip.Addr, b []byte) result {
	out := d.out
	switch proto {
	case 6:
		if len(b) < 20 {
			return resTruncated
		}
		off := int(b[12]>>4) * 4
		if off < 20 {
			return resMalformed
		}
		if len(b) < off {
			return resTruncated
		}
		out.Src, out.Dst, out.Proto = src, dst, 6
		out.SrcPort = binary.BigEndian.Uint16(b[0:2])
		out.DstPort = binary.BigEndian.Uint16(b[2:4])
		out.Seq = binary.BigEndian.Uint32(b[4:8])
		out.Ack = binary.BigEndian.Uint32(b[8:12])
		out.Flags = b[13]
		out.Window = binary.BigEndian.Uint16(b[14:16])
		out.Payload = b[off:]
		if d.ipCut > 0 && d.snapCut > 0 {
			// Only a record the capture itself shortened: an IP length
			// beyond the frame is otherwise a malformed packet, which a
			// receiver drops, and trusting it would let a sender make
			// the sensor skip stream bytes.
			out.Cut = min(d.ipCut, d.snapCut)
		}
		return resOK
	case 17:
		if len(b) < 8 {
			return resTruncated
		}
		sp := binary.BigEndian.Uint16(b[0:2])
		dp := binary.BigEndian.Uint16(b[2:4])
		payload := b[8:]
		if ul := int(binary.BigEndian.Uint16(b[4:6])); ul >= 8 && ul-8 < len(payload) {
			payload = payload[:ul-8]
		}
		if r, handled := d.udpTunnel(sp, dp, payload); handled {
			return r
		}
		out.Src, out.Dst, out.Proto = src, dst, 17
		out.SrcPort, out.DstPort = sp, dp
		out.Payload = payload
		return resOK
	case 4:
		if !d.enter() {
			return resTooDeep
		}
		d.stats.IPinIP++
		return d.ipv4(b)
	case 41:
		if !d.enter() {
			return resTooDeep
		}
		d.stats.IPinIP++
		return d.ipv6(b)
	case 47:
		return d.gre(b)
	}
	return resOtherProto
}

// udpTunnel decodes VXLAN, GENEVE and Teredo. handled=false means "not a
// tunnel after all, hand out the UDP datagram": a port match alone does not
// make a tunnel, the header has to look right too.
func (d *Decoder) udpTunnel(sp, dp uint16, b []byte) (result, bool) {
	switch {
	case dp == 4789 || dp == 8472:
		// VXLAN (RFC 7348): flags(8, I=0x08) reserved(24) VNI(24) reserved(8)
		if len(b) < 8 || b[0]&0x08 == 0 {
			return 0, false
		}
		if !d.enter() {
			return resTooDeep, true
		}
		d.stats.VXLAN++
		d.foldTunnel(tunVXLAN, uint64(b[4])<<16|uint64(b[5])<<8|uint64(b[6]))
		return d.ethernet(b[8:]), true
	case dp == 6081:
		// GENEVE (RFC 8926): ver(2) optlen(6) O C rsvd(6) proto(16) VNI(24) rsvd(8) options
		if len(b) < 8 || b[0]>>6 != 0 {
			return 0, false
		}
		n := 8 + int(b[0]&0x3f)*4
		if len(b) < n {
			return 0, false
		}
		if !d.enter() {
			return resTooDeep, true
		}
		d.stats.GENEVE++
		d.foldTunnel(tunGENEVE, uint64(b[4])<<16|uint64(b[5])<<8|uint64(b[6]))
		return d.etherType(binary.BigEndian.Uint16(b[2:4]), b[n:]), true
	case sp == 3544 || dp == 3544:
		// Teredo (RFC 4380): optional authentication and origin
		// indication headers, then IPv6. Anything else is plain UDP.
		if len(b) >= 4 && b[0] == 0 && b[1] == 1 {
			n := 4 + int(b[2]) + int(b[3]) + 9
			if len(b) < n {
				return 0, false
			}
			b = b[n:]
		}
		if len(b) >= 8 && b[0] == 0 && b[1] == 0 {
			b = b[8:]
		}
		if len(b) < 40 || b[0]>>4 != 6 || int(binary.BigEndian.Uint16(b[4:6]))+40 > len(b) {
			return 0, false
		}
		if !d.enter() {
			return resTooDeep, true
		}
		d.stats.Teredo++
		return d.ipv6(b), true
	case isTeredoData(b):
		// Teredo data between a client and a relay runs on ports other
		// than 3544 (Zeek finds it the same way): a bare IPv6 packet
		// filling the UDP payload exactly, with a Teredo (2001::/32)
		// address on one side.
		if !d.enter() {
			return resTooDeep, true
		}
		d.stats.Teredo++
		return d.ipv6(b), true
	}
	return 0, false
}

// isTeredoData reports whether a UDP payload is a bare IPv6 packet to or
// from a Teredo address.
func isTeredoData(b []byte) bool {
	if len(b) < 40 || b[0]>>4 != 6 || int(binary.BigEndian.Uint16(b[4:6]))+40 != len(b) {
		return false
	}
	teredo := func(a []byte) bool { return a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0 }
	return teredo(b[8:24]) || teredo(b[24:40])
}

// gre decodes GRE (RFC 2784/2890) and the ERSPAN headers it may carry.
func (d *Decoder) gre(b []byte) result {
	if !d.enter() {
		return resTooDeep
	}
	if len(b) < 4 {
		return resTruncated
	}
	d.stats.GRE++
	flags := binary.BigEndian.Uint16(b[0:2])
	if flags&0x0007 != 0 || flags&0x4000 != 0 {
		// Version 1 (PPTP) or source routing (deprecated, RFC 2784
		// dropped it): not decoded.
		return resNonIP
	}
	proto := binary.BigEndian.Uint16(b[2:4])
	n := 4
	if flags&0x8000 != 0 { // checksum + reserved
		n += 4
	}
	if flags&0x2000 != 0 { // key
		if len(b) < n+4 {
			return resTruncated
		}
		d.foldTunnel(tunGREKey, uint64(binary.BigEndian.Uint32(b[n:n+4])))
		n += 4
	}
	seq := flags&0x1000 != 0
	if seq {
		n += 4
	}
	if len(b) < n {
		return resTruncated
	}
	b = b[n:]
	switch proto {
	case 0x88be:
		if !seq {
			// ERSPAN type I: no ERSPAN header, the mirrored frame follows.
			d.stats.ERSPAN++
			return d.ethernet(b)
		}
		// ERSPAN type II: ver(4) vlan(12) cos(3) en(2) t(1) session(10) reserved(12) index(20)
		if len(b) < 8 {
			return resTruncated
		}
		d.stats.ERSPAN++
		d.foldTunnel(tunERSPAN, uint64(binary.BigEndian.Uint16(b[2:4])&0x03ff))
		return d.ethernet(b[8:])
	case 0x22eb:
		// ERSPAN type III: ver(4) vlan(12) cos(3) bso(2) t(1) session(10)
		// timestamp(32) sgt(16) p(1) ft(5) hwid(6) d(1) gra(2) o(1)
		// [8-byte platform-specific subheader when o=1]
		if len(b) < 12 {
			return resTruncated
		}
		d.stats.ERSPAN++
		d.foldTunnel(tunERSPAN, uint64(binary.BigEndian.Uint16(b[2:4])&0x03ff))
		w := binary.BigEndian.Uint32(b[8:12])
		n := 12
		if w&1 != 0 {
			n += 8
		}
		if len(b) < n {
			return resTruncated
		}
		switch (w >> 10) & 0x1f { // frame type
		case 0:
			return d.ethernet(b[n:])
		case 2:
			return d.ipByVersion(b[n:])
		}
		return resNonIP
	}
	return d.etherType(proto, b)
}
