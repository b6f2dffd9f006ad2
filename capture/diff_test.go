package capture

import (
	"fmt"
	"math/rand"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// randIP returns a random IPv4 or IPv6 address.
func randIP(r *rand.Rand, v6 bool) net.IP {
	if v6 {
		ip := make(net.IP, 16)
		r.Read(ip)
		ip[0] = 0x20 // global unicast, never v4-mapped
		return ip
	}
	return net.IP{byte(1 + r.Intn(223)), byte(r.Intn(256)), byte(r.Intn(256)), byte(1 + r.Intn(254))}
}

// randPort avoids the tunnel ports so the oracle and the decoder agree on
// what a plain datagram is.
func randPort(r *rand.Rand) uint16 {
	for {
		p := uint16(1 + r.Intn(65535))
		switch p {
		case 4789, 8472, 6081, 3544:
			continue
		}
		// gopacket decodes well-known UDP ports (DNS, ...) as application
		// layers, which is fine: the oracle reads the UDP layer itself.
		return p
	}
}

// ipLayer makes an IP header carrying proto.
func ipLayer(r *rand.Rand, v6 bool, proto layers.IPProtocol) gopacket.SerializableLayer {
	if v6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, FlowLabel: uint32(r.Intn(1 << 20)), SrcIP: randIP(r, true), DstIP: randIP(r, true)}
	}
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: uint16(r.Intn(65536)), Protocol: proto, SrcIP: randIP(r, false), DstIP: randIP(r, false)}
}

func ethType(v6 bool) layers.EthernetType {
	if v6 {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

// randFrame builds a random Ethernet frame: VLAN/QinQ tags, MPLS, one or
// two tunnels (GRE with optional key/checksum/sequence and Ethernet or IP
// payload, ERSPAN II, VXLAN, GENEVE, IP-in-IP), and an inner TCP or UDP
// segment with random fields and payload.
func randFrame(r *rand.Rand) (frame []byte, desc string) {
	var ls []gopacket.SerializableLayer
	var names []string
	v6 := r.Intn(2) == 0
	// etherStart appends an Ethernet header plus optional tags ending in
	// the EtherType for an IP header of family v6.
	etherStart := func(v6 bool) {
		tags := r.Intn(3)
		if r.Intn(4) == 0 {
			tags = 0
		}
		first := ethType(v6)
		if tags > 0 {
			first = layers.EthernetTypeDot1Q
			if tags == 2 && r.Intn(2) == 0 {
				first = layers.EthernetTypeQinQ
			}
		}
		ls = append(ls, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: first})
		for i := 0; i < tags; i++ {
			next := layers.EthernetTypeDot1Q
			if i == tags-1 {
				next = ethType(v6)
			}
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(r.Intn(4095)), Priority: uint8(r.Intn(8)), Type: next})
			names = append(names, "vlan")
		}
	}
	// First link: plain or MPLS.
	if r.Intn(5) == 0 {
		ls = append(ls, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeMPLSUnicast})
		n := 1 + r.Intn(3)
		for i := 0; i < n; i++ {
			ls = append(ls, &layers.MPLS{Label: uint32(16 + r.Intn(1<<19)), TTL: 64, StackBottom: i == n-1})
		}
		names = append(names, "mpls")
	} else {
		etherStart(v6)
	}
	tunnels := r.Intn(3)
	for i := 0; i < tunnels; i++ {
		innerV6 := r.Intn(2) == 0
		switch r.Intn(6) {
		case 0: // VXLAN
			ls = append(ls, ipLayer(r, v6, layers.IPProtocolUDP), &layers.UDP{SrcPort: layers.UDPPort(randPort(r)), DstPort: 4789},
				&layers.VXLAN{ValidIDFlag: true, VNI: uint32(r.Intn(1 << 24))})
			names = append(names, "vxlan")
			etherStart(innerV6)
		case 1: // GENEVE, Ethernet or IP inside
			g := &layers.Geneve{VNI: uint32(r.Intn(1 << 24))}
			ls = append(ls, ipLayer(r, v6, layers.IPProtocolUDP), &layers.UDP{SrcPort: layers.UDPPort(randPort(r)), DstPort: 6081}, g)
			if r.Intn(2) == 0 {
				g.Protocol = layers.EthernetTypeTransparentEthernetBridging
				etherStart(innerV6)
			} else {
				g.Protocol = ethType(innerV6)
			}
			names = append(names, "geneve")
		case 2: // GRE with IP payload
			g := &layers.GRE{Protocol: ethType(innerV6), KeyPresent: r.Intn(2) == 0, Key: r.Uint32(),
				SeqPresent: r.Intn(2) == 0, Seq: r.Uint32(), ChecksumPresent: r.Intn(3) == 0}
			ls = append(ls, ipLayer(r, v6, layers.IPProtocolGRE), g)
			names = append(names, "gre")
		case 3: // GRE with Ethernet payload
			g := &layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging, KeyPresent: r.Intn(2) == 0, Key: r.Uint32()}
			ls = append(ls, ipLayer(r, v6, layers.IPProtocolGRE), g)
			names = append(names, "gre-eth")
			etherStart(innerV6)
		case 4: // ERSPAN II
			ls = append(ls, ipLayer(r, v6, layers.IPProtocolGRE),
				&layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true, Seq: r.Uint32()},
				&layers.ERSPANII{Version: 1, SessionID: uint16(r.Intn(1024)), VLANIdentifier: uint16(r.Intn(4096)), Index: uint32(r.Intn(1 << 20))})
			names = append(names, "erspan2")
			etherStart(innerV6)
		case 5: // IP-in-IP
			proto := layers.IPProtocolIPv4
			if innerV6 {
				proto = layers.IPProtocolIPv6
			}
			ls = append(ls, ipLayer(r, v6, proto))
			names = append(names, "ipip")
		}
		v6 = innerV6
	}
	payload := make([]byte, r.Intn(300))
	r.Read(payload)
	if r.Intn(2) == 0 {
		ip := ipLayer(r, v6, layers.IPProtocolTCP)
		tc := &layers.TCP{SrcPort: layers.TCPPort(randPort(r)), DstPort: layers.TCPPort(randPort(r)), Seq: r.Uint32(), Ack: r.Uint32(),
			Window: uint16(r.Intn(65536)), SYN: r.Intn(2) == 0, ACK: r.Intn(2) == 0, PSH: r.Intn(2) == 0, FIN: r.Intn(5) == 0, RST: r.Intn(9) == 0}
		if r.Intn(2) == 0 {
			tc.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}
		}
		ls = append(ls, ip, tc, gopacket.Payload(payload))
		names = append(names, "tcp")
	} else {
		ls = append(ls, ipLayer(r, v6, layers.IPProtocolUDP), &layers.UDP{SrcPort: layers.UDPPort(randPort(r)), DstPort: layers.UDPPort(randPort(r))}, gopacket.Payload(payload))
		names = append(names, "udp")
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		panic(err)
	}
	frame = append([]byte(nil), buf.Bytes()...)
	// Ethernet minimum frame: pad, as a NIC would; the decoder must not
	// hand the padding out as payload.
	if len(frame) < 60 {
		frame = append(frame, make([]byte, 60-len(frame))...)
	}
	return frame, fmt.Sprint(names)
}

// oracle decodes frame with gopacket and returns the innermost IP and
// transport fields.
func oracle(frame []byte) (out Decoded, ok bool) {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	var haveNet bool
	var payload []byte
	for _, l := range pkt.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			out.Src, _ = netip.AddrFromSlice(v.SrcIP.To4())
			out.Dst, _ = netip.AddrFromSlice(v.DstIP.To4())
			haveNet = true
		case *layers.IPv6:
			out.Src, _ = netip.AddrFromSlice(v.SrcIP)
			out.Dst, _ = netip.AddrFromSlice(v.DstIP)
			haveNet = true
		case *layers.TCP:
			out.Proto, out.SrcPort, out.DstPort = 6, uint16(v.SrcPort), uint16(v.DstPort)
			out.Seq, out.Ack, out.Window = v.Seq, v.Ack, v.Window
			var f uint8
			for bit, set := range map[uint8]bool{TCPFin: v.FIN, TCPSyn: v.SYN, TCPRst: v.RST, TCPPsh: v.PSH, TCPAck: v.ACK, TCPUrg: v.URG} {
				if set {
					f |= bit
				}
			}
			out.Flags = f
			payload = v.LayerPayload()
		case *layers.UDP:
			out.Proto, out.SrcPort, out.DstPort = 17, uint16(v.SrcPort), uint16(v.DstPort)
			out.Seq, out.Ack, out.Flags, out.Window = 0, 0, 0, 0
			payload = v.LayerPayload()
		}
	}
	out.Payload = payload
	return out, haveNet && out.Proto != 0
}

// TestDifferentialGopacket decodes seeded random encapsulation stacks with
// the Decoder and with gopacket's layer decoding, and compares the inner
// fields.
func TestDifferentialGopacket(t *testing.T) {
	r := rand.New(rand.NewSource(20240501))
	d := NewDecoder(DefaultDecoderConfig())
	kinds := map[string]int{}
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		frame, desc := randFrame(r)
		want, ok := oracle(frame)
		if !ok {
			t.Fatalf("case %d %s: gopacket could not decode the frame", i, desc)
		}
		var got Decoded
		if !d.Decode(&Packet{Data: frame, LinkType: LinkEthernet}, &got) {
			t.Fatalf("case %d %s: Decode failed: %+v", i, desc, d.Stats())
		}
		if got.Src != want.Src || got.Dst != want.Dst || got.SrcPort != want.SrcPort || got.DstPort != want.DstPort ||
			got.Proto != want.Proto || got.Seq != want.Seq || got.Ack != want.Ack || got.Flags != want.Flags ||
			got.Window != want.Window || string(got.Payload) != string(want.Payload) {
			t.Fatalf("case %d %s:\n got %+v\nwant %+v", i, desc, got, want)
		}
		kinds[desc]++
	}
	t.Logf("%d distinct stacks", len(kinds))
}
