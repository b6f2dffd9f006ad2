package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

type decodeCase struct {
	name   string
	lt     uint16
	frame  []byte
	want   innerSpec
	tunnel bool                     // Decoded.Tunnel must be non-zero
	stat   func(DecodeStats) uint64 // counter that must have moved (nil: none)
}

// decodeCases builds one frame per supported link type and encapsulation.
func decodeCases(t testing.TB) []decodeCase {
	in := defaultInner()
	in6 := in.v6()
	opts := in
	opts.tcpOptions = true
	udp := in
	udp.udp = true
	udp.sport, udp.dport = 5353, 53
	inIP, in6IP := in.ip(t), in6.ip(t)
	inEth := in.eth(t)
	et4, et6 := uint16(0x0800), uint16(0x86dd)
	vlan := func(s DecodeStats) uint64 { return s.VLAN }
	mpls := func(s DecodeStats) uint64 { return s.MPLS }
	pppoe := func(s DecodeStats) uint64 { return s.PPPoE }
	vx := func(s DecodeStats) uint64 { return s.VXLAN }
	gen := func(s DecodeStats) uint64 { return s.GENEVE }
	gre := func(s DecodeStats) uint64 { return s.GRE }
	ers := func(s DecodeStats) uint64 { return s.ERSPAN }
	ipip := func(s DecodeStats) uint64 { return s.IPinIP }
	ter := func(s DecodeStats) uint64 { return s.Teredo }

	// Teredo data between client and relay, on neither side port 3544.
	teredoIn := in6
	teredoIn.src = netip.MustParseAddr("2001:0:4137:9e76:3c1f:1234:abcd:ef01")
	teredoIP := teredoIn.ip(t)

	// Ethernet padding: a 1-byte payload in a frame padded to 60 bytes.
	tiny := in
	tiny.payload = []byte("x")
	padded := tiny.eth(t)
	padded = append(padded, make([]byte, 60-len(padded))...)
	padded[len(padded)-1] = 0xee

	// IPv6 with hop-by-hop and destination options before TCP.
	v6ext := slices.Concat(ethHdr(et6), ser(t, append([]gopacket.SerializableLayer{
		&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6HopByHop, SrcIP: in6.src.AsSlice(), DstIP: in6.dst.AsSlice()},
		gopacket.Payload([]byte{60, 0, 1, 4, 0, 0, 0, 0}),                         // hop-by-hop -> dest opts, PadN
		gopacket.Payload([]byte{6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), // dest opts (16 bytes) -> TCP
	}, in6.l4(&layers.IPv6{SrcIP: in6.src.AsSlice(), DstIP: in6.dst.AsSlice()})...)...))

	pppoeFrame := func(ppp uint16, ip []byte) []byte {
		h := []byte{0x11, 0, 0x12, 0x34, 0, 0, byte(ppp >> 8), byte(ppp)}
		binary.BigEndian.PutUint16(h[4:], uint16(len(ip)+2))
		return slices.Concat(ethHdr(0x8864), h, ip)
	}
	sll := make([]byte, 16)
	binary.BigEndian.PutUint16(sll[0:], 0) // to us
	binary.BigEndian.PutUint16(sll[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(sll[4:], 6)
	binary.BigEndian.PutUint16(sll[14:], et4)
	sll2 := make([]byte, 20)
	binary.BigEndian.PutUint16(sll2[0:], et6)
	binary.BigEndian.PutUint32(sll2[4:], 3) // ifindex
	binary.BigEndian.PutUint16(sll2[8:], 1)
	nullLE := binary.LittleEndian.AppendUint32(nil, 2)
	nullBE6 := binary.BigEndian.AppendUint32(nil, 30)
	loop6 := binary.BigEndian.AppendUint32(nil, 24)
	teredoOrigin := []byte{0, 0, 0xff, 0xff, 1, 2, 3, 4}
	teredoAuth := []byte{0, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0}

	return []decodeCase{
		{name: "eth-ipv4-tcp", lt: LinkEthernet, frame: inEth, want: in},
		{name: "eth-ipv4-tcp-options", lt: LinkEthernet, frame: opts.eth(t), want: opts},
		{name: "eth-padding-not-payload", lt: LinkEthernet, frame: padded, want: tiny},
		{name: "eth-ipv6-tcp", lt: LinkEthernet, frame: in6.eth(t), want: in6},
		{name: "eth-ipv6-ext-headers", lt: LinkEthernet, frame: v6ext, want: in6},
		{name: "eth-ipv4-udp", lt: LinkEthernet, frame: udp.eth(t), want: udp},
		{name: "vlan", lt: LinkEthernet, frame: slices.Concat(ethHdr(0x8100), vlanTag(100, et4), inIP), want: in, tunnel: true, stat: vlan},
		{name: "qinq-88a8", lt: LinkEthernet, frame: slices.Concat(ethHdr(0x88a8), vlanTag(10, 0x8100), vlanTag(20, et6), in6IP), want: in6, tunnel: true, stat: vlan},
		{name: "qinq-9100", lt: LinkEthernet, frame: slices.Concat(ethHdr(0x9100), vlanTag(10, 0x8100), vlanTag(20, et4), inIP), want: in, tunnel: true, stat: vlan},
		{name: "mpls-2-labels-ipv4", lt: LinkEthernet, frame: slices.Concat(ethHdr(0x8847), []byte{0, 0x10, 0x00, 64, 0, 0x20, 0x01, 64}, inIP), want: in, stat: mpls},
		{name: "mpls-multicast-ipv6", lt: LinkEthernet, frame: slices.Concat(ethHdr(0x8848), []byte{0, 0x30, 0x01, 64}, in6IP), want: in6, stat: mpls},
		{name: "pppoe-ipv4", lt: LinkEthernet, frame: pppoeFrame(0x0021, inIP), want: in, stat: pppoe},
		{name: "pppoe-ipv6", lt: LinkEthernet, frame: pppoeFrame(0x0057, in6IP), want: in6, stat: pppoe},
		{name: "vxlan-4789", lt: LinkEthernet, frame: outerUDP(t, 55555, 4789, slices.Concat(vxlanHdr(1234), inEth)), want: in, tunnel: true, stat: vx},
		{name: "vxlan-8472-vlan-inside", lt: LinkEthernet, frame: outerUDP(t, 55555, 8472, slices.Concat(vxlanHdr(7), ethHdr(0x8100), vlanTag(5, et6), in6IP)), want: in6, tunnel: true, stat: vx},
		{name: "geneve-eth-options", lt: LinkEthernet, frame: outerUDP(t, 1, 6081, slices.Concat(geneveHdr(99, 0x6558, 3), inEth)), want: in, tunnel: true, stat: gen},
		{name: "geneve-ipv4", lt: LinkEthernet, frame: outerUDP(t, 1, 6081, slices.Concat(geneveHdr(99, et4, 0), inIP)), want: in, tunnel: true, stat: gen},
		{name: "gre-ipv4", lt: LinkEthernet, frame: outerIP(t, false, layers.IPProtocolGRE, slices.Concat(greHdr(et4, false, nil, nil), inIP)), want: in, stat: gre},
		{name: "gre-key-seq-csum-eth", lt: LinkEthernet, frame: outerIP(t, false, layers.IPProtocolGRE, slices.Concat(greHdr(0x6558, true, u32p(42), u32p(9)), inEth)), want: in, tunnel: true, stat: gre},
		{name: "gre-ipv6-over-ipv6", lt: LinkEthernet, frame: outerIP(t, true, layers.IPProtocolGRE, slices.Concat(greHdr(et6, false, u32p(1), nil), in6IP)), want: in6, tunnel: true, stat: gre},
		{name: "erspan-1", lt: LinkEthernet, frame: outerIP(t, false, layers.IPProtocolGRE, slices.Concat(greHdr(0x88be, false, nil, nil), inEth)), want: in, stat: ers},
		{name: "erspan-2", lt: LinkEthernet, frame: outerIP(t, false, layers.IPProtocolGRE, slices.Concat(greHdr(0x88be, false, nil, u32p(1)), erspan2Hdr(300), inEth)), want: in, tunnel: true, stat: ers},
		{name: "erspan-3", lt: LinkEthernet, frame: outerIP(t, false, layers.IPProtocolGRE, slices.Concat(greHdr(0x22eb, false, nil, u32p(1)), erspan3Hdr(301, 0, false), inEth)), want: in, tunnel: true, stat: ers},
		{name: "erspan-3-subheader", lt: LinkEthernet, frame: outerIP(t, false, layers.IPProtocolGRE, slices.Concat(greHdr(0x22eb, false, nil, u32p(1)), erspan3Hdr(302, 0, true), inEth)), want: in, tunnel: true, stat: ers},
		{name: "erspan-3-ip-frame", lt: LinkEthernet, frame: outerIP(t, false, layers.IPProtocolGRE, slices.Concat(greHdr(0x22eb, false, nil, u32p(1)), erspan3Hdr(303, 2, false), in6IP)), want: in6, tunnel: true, stat: ers},
		{name: "ipip-4in4", lt: LinkEthernet, frame: outerIP(t, false, layers.IPProtocolIPv4, inIP), want: in, stat: ipip},
		{name: "ipip-6in4", lt: LinkEthernet, frame: outerIP(t, false, layers.IPProtocolIPv6, in6IP), want: in6, stat: ipip},
		{name: "ipip-4in6", lt: LinkEthernet, frame: outerIP(t, true, layers.IPProtocolIPv4, inIP), want: in, stat: ipip},
		{name: "ipip-6in6", lt: LinkEthernet, frame: outerIP(t, true, layers.IPProtocolIPv6, in6IP), want: in6, stat: ipip},
		{name: "teredo", lt: LinkEthernet, frame: outerUDP(t, 3544, 50000, in6IP), want: in6, stat: ter},
		{name: "teredo-origin", lt: LinkEthernet, frame: outerUDP(t, 3544, 50000, slices.Concat(teredoOrigin, in6IP)), want: in6, stat: ter},
		{name: "teredo-auth-origin", lt: LinkEthernet, frame: outerUDP(t, 50000, 3544, slices.Concat(teredoAuth, teredoOrigin, in6IP)), want: in6, stat: ter},
		{name: "teredo-relay-port", lt: LinkEthernet, frame: outerUDP(t, 3797, 32900, teredoIP), want: teredoIn, stat: ter},
		{name: "sll", lt: LinkLinuxSLL, frame: slices.Concat(sll, inIP), want: in},
		{name: "sll2", lt: LinkSLL2, frame: slices.Concat(sll2, in6IP), want: in6},
		{name: "null-le-ipv4", lt: LinkNull, frame: slices.Concat(nullLE, inIP), want: in},
		{name: "null-be-ipv6", lt: LinkNull, frame: slices.Concat(nullBE6, in6IP), want: in6},
		{name: "loop-ipv6", lt: LinkLoop, frame: slices.Concat(loop6, in6IP), want: in6},
		{name: "chdlc", lt: LinkCHDLC, frame: slices.Concat([]byte{0x0f, 0, 0x08, 0x00}, inIP), want: in},
		{name: "ppp-hdlc", lt: LinkPPP, frame: slices.Concat([]byte{0xff, 0x03, 0x00, 0x21}, inIP), want: in},
		{name: "ppp-pfc", lt: LinkPPP, frame: slices.Concat([]byte{0x57}, in6IP), want: in6},
		{name: "ppp-hdlc-50", lt: LinkPPPHDLC, frame: slices.Concat([]byte{0xff, 0x03, 0x00, 0x57}, in6IP), want: in6},
		{name: "raw-101", lt: LinkRaw, frame: inIP, want: in},
		{name: "raw-12", lt: LinkRaw12, frame: in6IP, want: in6},
		{name: "raw-14", lt: LinkRaw14, frame: inIP, want: in},
		{name: "ipv4-228", lt: LinkIPv4, frame: inIP, want: in},
		{name: "ipv6-229", lt: LinkIPv6, frame: in6IP, want: in6},
	}
}

func TestDecodeLayers(t *testing.T) {
	for _, tc := range decodeCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(DefaultDecoderConfig())
			var out Decoded
			ts := time.Unix(1700000000, 5)
			if !d.Decode(&Packet{Data: tc.frame, LinkType: tc.lt, TS: ts, Index: 9}, &out) {
				t.Fatalf("Decode failed: %+v", d.Stats())
			}
			tc.want.check(t, &out)
			if !out.TS.Equal(ts) || out.Index != 9 {
				t.Fatalf("TS/Index not carried: %v %d", out.TS, out.Index)
			}
			if (out.Tunnel != 0) != tc.tunnel {
				t.Fatalf("Tunnel = %#x, want non-zero %v", out.Tunnel, tc.tunnel)
			}
			if tc.stat != nil && tc.stat(d.Stats()) == 0 {
				t.Fatalf("encapsulation counter did not move: %+v", d.Stats())
			}
			if s := d.Stats(); s.Packets != 1 || s.Decoded != 1 || s.Bytes != uint64(len(tc.frame)) {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// TestDecodeTruncatedNeverPanics cuts every test frame at every length.
// A cut frame either fails (counted) or decodes with a payload that is a
// prefix of the real one: a header is never read past the cut. The frames
// are exact-length copies, so any read past the cut panics.
func TestDecodeTruncatedNeverPanics(t *testing.T) {
	for _, tc := range decodeCases(t) {
		d := NewDecoder(DefaultDecoderConfig())
		snapDec := NewDecoder(DefaultDecoderConfig())
		var out Decoded
		cuts := 0
		for n := 0; n < len(tc.frame); n++ {
			frame := append([]byte(nil), tc.frame[:n]...) // exact-length slice, so a read past it panics
			// A cut tunnel header leaves the outer UDP datagram, which
			// is fine; the inner flow must never get bytes it did not send.
			if d.Decode(&Packet{Data: frame, LinkType: tc.lt}, &out) && out.Src == tc.want.src {
				if len(out.Payload) > len(tc.want.payload) || string(out.Payload) != string(tc.want.payload[:len(out.Payload)]) {
					t.Fatalf("%s cut at %d: payload %q", tc.name, n, out.Payload)
				}
				// The record does not say it was cut: a short frame is
				// not taken for a snap length.
				if out.Cut != 0 {
					t.Fatalf("%s cut at %d without an original length: Cut %d", tc.name, n, out.Cut)
				}
			}
			// The same frame as a capture with snap length n records it:
			// a TCP payload's lost tail is Cut, to the byte.
			if snapDec.Decode(&Packet{Data: frame, LinkType: tc.lt, OrigLen: len(tc.frame)}, &out) &&
				out.Src == tc.want.src && out.Proto == 6 {
				if want := len(tc.want.payload) - len(out.Payload); out.Cut != want {
					t.Fatalf("%s with snap length %d: Cut %d, want %d", tc.name, n, out.Cut, want)
				}
				if out.Cut > 0 {
					cuts++
				}
			}
		}
		// Teredo is only taken for a tunnel when the IPv6 packet fills the
		// UDP payload (else any UDP on 3544 would be): a cut one is UDP.
		if !tc.want.udp && !strings.HasPrefix(tc.name, "teredo") && cuts != len(tc.want.payload) {
			t.Fatalf("%s: %d snap lengths gave a Cut, want one per payload byte (%d)", tc.name, cuts, len(tc.want.payload))
		}
		s := d.Stats()
		fails := s.Truncated + s.NonIP + s.Malformed + s.OtherProto + s.FragmentDropped + s.FragmentHeld
		if s.Packets != uint64(len(tc.frame)) || fails+s.Decoded != s.Packets || fails == 0 {
			t.Fatalf("%s: stats don't add up: %+v", tc.name, s)
		}
	}
}

func TestDecodeSkips(t *testing.T) {
	in := defaultInner()
	icmp := ser(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, IHL: 5, TTL: 1, Protocol: layers.IPProtocolICMPv4, SrcIP: in.src.AsSlice(), DstIP: in.dst.AsSlice()},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, gopacket.Payload([]byte("ping")))
	arp := slices.Concat(ethHdr(0x0806), make([]byte, 28))
	deep := ethHdr(0x8100)
	for i := 0; i < 8; i++ {
		deep = append(deep, vlanTag(uint16(i+1), 0x8100)...)
	}
	badIHL := in.ip(t)
	badIHL[0] = 0x44
	badTCPOff := in.eth(t)
	badTCPOff[14+20+12] = 0x30
	// UDP to the Teredo port that is not IPv6 stays UDP.
	notTeredo := outerUDP(t, 3544, 3544, []byte("hello, not ipv6"))
	notVXLAN := outerUDP(t, 1, 4789, []byte{0, 0, 0, 0, 0, 0, 0, 0, 1})
	// IPv4-in-IPv4 nested past MaxDepth.
	ipip := in.ip(t)
	for i := 0; i < 9; i++ {
		ipip = ser(t, &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolIPv4, SrcIP: in.src.AsSlice(), DstIP: in.dst.AsSlice()}, gopacket.Payload(ipip))
	}
	cases := []struct {
		name  string
		lt    uint16
		frame []byte
		ok    bool
		stat  func(DecodeStats) uint64
	}{
		{"icmp", LinkEthernet, icmp, false, func(s DecodeStats) uint64 { return s.OtherProto }},
		{"arp", LinkEthernet, arp, false, func(s DecodeStats) uint64 { return s.NonIP }},
		{"llc", LinkEthernet, slices.Concat(ethHdr(0x0026), make([]byte, 40)), false, func(s DecodeStats) uint64 { return s.NonIP }},
		{"unknown-link", 147, in.ip(t), false, func(s DecodeStats) uint64 { return s.UnknownLinkType }},
		{"too-deep", LinkEthernet, slices.Concat(deep, vlanTag(99, 0x0800), in.ip(t)), false, func(s DecodeStats) uint64 { return s.TooDeep }},
		{"too-deep-ipip", LinkRaw, ipip, false, func(s DecodeStats) uint64 { return s.TooDeep }},
		{"bad-ihl", LinkRaw, badIHL, false, func(s DecodeStats) uint64 { return s.Malformed }},
		{"bad-tcp-offset", LinkEthernet, badTCPOff, false, func(s DecodeStats) uint64 { return s.Malformed }},
		{"teredo-port-plain-udp", LinkEthernet, notTeredo, true, func(s DecodeStats) uint64 { return s.Decoded }},
		{"vxlan-port-no-I-flag", LinkEthernet, notVXLAN, true, func(s DecodeStats) uint64 { return s.Decoded }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(DefaultDecoderConfig())
			var out Decoded
			if got := d.Decode(&Packet{Data: tc.frame, LinkType: tc.lt}, &out); got != tc.ok {
				t.Fatalf("Decode = %v, want %v (%+v)", got, tc.ok, d.Stats())
			}
			if tc.stat(d.Stats()) != 1 {
				t.Fatalf("counter not 1: %+v", d.Stats())
			}
			if tc.ok && (out.Proto != 17 || out.SrcPort == 0 || d.Stats().Teredo+d.Stats().VXLAN != 0) {
				t.Fatalf("want plain UDP, got %+v", out)
			}
		})
	}
}

// TestTunnelFolding: the same inner 5-tuple in different tunnels gives
// different flow keys; the same tunnel gives the same key both ways.
func TestTunnelFolding(t *testing.T) {
	in := defaultInner()
	inEth := in.eth(t)
	rev := in
	rev.src, rev.dst, rev.sport, rev.dport = in.dst, in.src, in.dport, in.sport
	frames := map[string][]byte{
		"plain":      inEth,
		"vni1":       outerUDP(t, 9, 4789, slices.Concat(vxlanHdr(1), inEth)),
		"vni2":       outerUDP(t, 9, 4789, slices.Concat(vxlanHdr(2), inEth)),
		"vlan1":      slices.Concat(ethHdr(0x8100), vlanTag(1, 0x0800), in.ip(t)),
		"vlan2":      slices.Concat(ethHdr(0x8100), vlanTag(2, 0x0800), in.ip(t)),
		"vlan1-vni1": outerUDP(t, 9, 4789, slices.Concat(vxlanHdr(1), ethHdr(0x8100), vlanTag(1, 0x0800), in.ip(t))),
		"vni1-vlan1": slices.Concat(ethHdr(0x8100), vlanTag(1, 0x0800), outerUDP(t, 9, 4789, slices.Concat(vxlanHdr(1), inEth))[14:]),
		"geneve1":    outerUDP(t, 9, 6081, slices.Concat(geneveHdr(1, 0x6558, 0), inEth)),
		"grekey1":    outerIP(t, false, layers.IPProtocolGRE, slices.Concat(greHdr(0x0800, false, u32p(1), nil), in.ip(t))),
		"erspan1":    outerIP(t, false, layers.IPProtocolGRE, slices.Concat(greHdr(0x88be, false, nil, u32p(1)), erspan2Hdr(1), inEth)),
	}
	d := NewDecoder(DefaultDecoderConfig())
	seen := map[FlowKey]string{}
	var out Decoded
	for name, f := range frames {
		if !d.Decode(&Packet{Data: f, LinkType: LinkEthernet}, &out) {
			t.Fatalf("%s: decode failed", name)
		}
		k, _ := out.Key()
		if other, dup := seen[k]; dup {
			t.Fatalf("%s and %s share flow key %+v", name, other, k)
		}
		seen[k] = name
	}
	// Reverse direction in VNI 1: same key, same hash.
	var fwd, back Decoded
	d.Decode(&Packet{Data: frames["vni1"], LinkType: LinkEthernet}, &fwd)
	d.Decode(&Packet{Data: outerUDP(t, 9, 4789, slices.Concat(vxlanHdr(1), rev.eth(t))), LinkType: LinkEthernet}, &back)
	kf, rf := fwd.Key()
	kb, rb := back.Key()
	if kf != kb || rf == rb || kf.Hash() != kb.Hash() {
		t.Fatalf("directions differ: %+v/%v vs %+v/%v", kf, rf, kb, rb)
	}
	// VLANInFlowKey off: VLAN tags do not split flows.
	cfg := DefaultDecoderConfig()
	cfg.VLANInFlowKey = false
	d2 := NewDecoder(cfg)
	if !d2.Decode(&Packet{Data: frames["vlan1"], LinkType: LinkEthernet}, &out) || out.Tunnel != 0 {
		t.Fatalf("VLANInFlowKey=false: tunnel %#x", out.Tunnel)
	}
}

func TestDecoderConfigValidate(t *testing.T) {
	if err := DefaultDecoderConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for i, mut := range []func(*DecoderConfig){
		func(c *DecoderConfig) { c.MaxDepth = 0 },
		func(c *DecoderConfig) { c.MaxFragments = -1 },
		func(c *DecoderConfig) { c.MaxFragmentBytes = 100 },
		func(c *DecoderConfig) { c.FragmentTimeout = 0 },
		func(c *DecoderConfig) { c.MaxFragmentsPerDatagram = 1 },
	} {
		c := DefaultDecoderConfig()
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("case %d: invalid config accepted: %+v", i, c)
		}
	}
	c := DefaultDecoderConfig()
	c.MaxFragments = 0 // reassembly off is valid
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	_ = fmt.Sprint()
}
