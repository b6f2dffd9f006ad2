package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// ser serialises layers with lengths fixed and checksums computed.
func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

// innerSpec is the TCP/UDP segment a test frame carries innermost.
type innerSpec struct {
	src, dst   netip.Addr
	sport      uint16
	dport      uint16
	udp        bool
	seq, ack   uint32
	flags      uint8
	window     uint16
	payload    []byte
	tcpOptions bool
}

func defaultInner() innerSpec {
	return innerSpec{
		src: netip.MustParseAddr("10.1.2.3"), dst: netip.MustParseAddr("192.168.7.9"),
		sport: 40001, dport: 80, seq: 123456789, ack: 987654321, flags: TCPPsh | TCPAck, window: 4321,
		payload: []byte("GET /api/v1/users/42 HTTP/1.1\r\nHost: x\r\n\r\n"),
	}
}

func (s innerSpec) v6() innerSpec {
	s.src = netip.MustParseAddr("2001:db8::1")
	s.dst = netip.MustParseAddr("2001:db8:ffff::2")
	return s
}

// l4 returns the transport layers of s, with the network layer for the
// pseudo-header checksum.
func (s innerSpec) l4(nl gopacket.NetworkLayer) []gopacket.SerializableLayer {
	if s.udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		u.SetNetworkLayerForChecksum(nl)
		return []gopacket.SerializableLayer{u, gopacket.Payload(s.payload)}
	}
	tc := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: s.seq, Ack: s.ack, Window: s.window,
		FIN: s.flags&TCPFin != 0, SYN: s.flags&TCPSyn != 0, RST: s.flags&TCPRst != 0, PSH: s.flags&TCPPsh != 0, ACK: s.flags&TCPAck != 0, URG: s.flags&TCPUrg != 0}
	if s.tcpOptions {
		tc.Options = []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		}
	}
	tc.SetNetworkLayerForChecksum(nl)
	return []gopacket.SerializableLayer{tc, gopacket.Payload(s.payload)}
}

// ipLayers returns the IP+transport layers of s.
func (s innerSpec) ipLayers() []gopacket.SerializableLayer {
	proto := layers.IPProtocolTCP
	if s.udp {
		proto = layers.IPProtocolUDP
	}
	if s.src.Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 77, Protocol: proto, SrcIP: s.src.AsSlice(), DstIP: s.dst.AsSlice()}
		return append([]gopacket.SerializableLayer{ip}, s.l4(ip)...)
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: s.src.AsSlice(), DstIP: s.dst.AsSlice()}
	return append([]gopacket.SerializableLayer{ip}, s.l4(ip)...)
}

// ip returns the serialised IP packet of s.
func (s innerSpec) ip(t testing.TB) []byte { return ser(t, s.ipLayers()...) }

func (s innerSpec) etherType() layers.EthernetType {
	if s.src.Is4() {
		return layers.EthernetTypeIPv4
	}
	return layers.EthernetTypeIPv6
}

// eth returns an Ethernet frame carrying s.
func (s innerSpec) eth(t testing.TB) []byte {
	return ser(t, append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: s.etherType()}}, s.ipLayers()...)...)
}

// check compares a Decoded with s.
func (s innerSpec) check(t testing.TB, d *Decoded) {
	t.Helper()
	proto := uint8(6)
	if s.udp {
		proto = 17
	}
	if d.Src != s.src || d.Dst != s.dst || d.SrcPort != s.sport || d.DstPort != s.dport || d.Proto != proto {
		t.Fatalf("5-tuple: got %v:%d > %v:%d proto %d, want %v:%d > %v:%d proto %d",
			d.Src, d.SrcPort, d.Dst, d.DstPort, d.Proto, s.src, s.sport, s.dst, s.dport, proto)
	}
	if !s.udp && (d.Seq != s.seq || d.Ack != s.ack || d.Flags != s.flags || d.Window != s.window) {
		t.Fatalf("tcp: got seq %d ack %d flags %#x win %d, want %d %d %#x %d", d.Seq, d.Ack, d.Flags, d.Window, s.seq, s.ack, s.flags, s.window)
	}
	if string(d.Payload) != string(s.payload) {
		t.Fatalf("payload: got %q, want %q", d.Payload, s.payload)
	}
}

// Raw header builders for encapsulations gopacket cannot serialise.

func ethHdr(et uint16) []byte {
	b := make([]byte, 14)
	copy(b, macB)
	copy(b[6:], macA)
	binary.BigEndian.PutUint16(b[12:], et)
	return b
}

// outerUDP wraps payload in Ethernet/IPv4/UDP with the given ports.
func outerUDP(t testing.TB, sport, dport uint16, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP{172, 16, 0, 1}, DstIP: net.IP{172, 16, 0, 2}}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return ser(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, u, gopacket.Payload(payload))
}

// outerIP wraps payload in Ethernet/IPv4 (or IPv6) with an IP protocol.
func outerIP(t testing.TB, v6 bool, proto layers.IPProtocol, payload []byte) []byte {
	if v6 {
		return ser(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6},
			&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")},
			gopacket.Payload(payload))
	}
	return ser(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.IP{172, 16, 0, 1}, DstIP: net.IP{172, 16, 0, 2}},
		gopacket.Payload(payload))
}

func vxlanHdr(vni uint32) []byte {
	return []byte{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
}

// geneveHdr builds a GENEVE header with optWords 4-byte option words.
func geneveHdr(vni uint32, proto uint16, optWords int) []byte {
	b := []byte{byte(optWords), 0, byte(proto >> 8), byte(proto), byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	for i := 0; i < optWords; i++ {
		if i == 0 { // option class/type/len header
			b = append(b, 0x01, 0x02, 0x80, byte(optWords-1))
		} else {
			b = append(b, 0xaa, 0xbb, 0xcc, 0xdd)
		}
	}
	return b
}

// greHdr builds a GRE header; key/seq/csum optional (nil/negative = absent).
func greHdr(proto uint16, csum bool, key *uint32, seq *uint32) []byte {
	var flags uint16
	b := []byte{0, 0, byte(proto >> 8), byte(proto)}
	if csum {
		flags |= 0x8000
		b = append(b, 0, 0, 0, 0)
	}
	if key != nil {
		flags |= 0x2000
		b = binary.BigEndian.AppendUint32(b, *key)
	}
	if seq != nil {
		flags |= 0x1000
		b = binary.BigEndian.AppendUint32(b, *seq)
	}
	binary.BigEndian.PutUint16(b, flags)
	return b
}

func erspan2Hdr(session uint16) []byte {
	return []byte{0x10, 0x05, byte(session>>8) & 0x03, byte(session), 0, 0, 0, 7}
}

// erspan3Hdr builds an ERSPAN type III header; ft is the frame type (0
// Ethernet, 2 IP); sub appends the 8-byte platform subheader (O bit).
func erspan3Hdr(session uint16, ft uint32, sub bool) []byte {
	b := []byte{0x20, 0x05, byte(session>>8) & 0x03, byte(session), 1, 2, 3, 4}
	w := uint32(0xabcd)<<16 | ft<<10 | 5<<4
	if sub {
		w |= 1
	}
	b = binary.BigEndian.AppendUint32(b, w)
	if sub {
		b = append(b, 0x0c, 0, 0, 0, 0, 0, 0, 1)
	}
	return b
}

func vlanTag(id uint16, next uint16) []byte {
	return []byte{byte(id >> 8), byte(id), byte(next >> 8), byte(next)}
}

func u32p(v uint32) *uint32 { return &v }

func netipFrom(ip net.IP) (netip.Addr, bool) {
	if v4 := ip.To4(); v4 != nil {
		return netip.AddrFrom4([4]byte(v4)), true
	}
	return netip.AddrFromSlice(ip)
}
