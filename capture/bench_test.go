package capture

import (
	"io"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func benchFrames(b *testing.B) map[string][]byte {
	in := defaultInner()
	in.payload = make([]byte, 512)
	ip := in.ip(b)
	return map[string][]byte{
		"Ethernet": in.eth(b),
		"VLAN":     slices.Concat(ethHdr(0x8100), vlanTag(100, 0x0800), ip),
		"VXLAN":    outerUDP(b, 40000, 4789, slices.Concat(vxlanHdr(77), in.eth(b))),
	}
}

func benchDecode(b *testing.B, name string) {
	frame := benchFrames(b)[name]
	d := NewDecoder(DefaultDecoderConfig())
	p := Packet{Data: frame, LinkType: LinkEthernet, TS: time.Unix(1, 0)}
	var out Decoded
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !d.Decode(&p, &out) {
			b.Fatal("decode failed")
		}
	}
}

func BenchmarkDecodeEthernet(b *testing.B) { benchDecode(b, "Ethernet") }
func BenchmarkDecodeVLAN(b *testing.B)     { benchDecode(b, "VLAN") }
func BenchmarkDecodeVXLAN(b *testing.B)    { benchDecode(b, "VXLAN") }

// benchDLP is the reference: gopacket's DecodingLayerParser on the same
// frames, extracting the same fields (innermost addresses, ports, TCP
// header fields, payload).
func benchDLP(b *testing.B, name string) {
	frame := benchFrames(b)[name]
	var (
		eth   layers.Ethernet
		dot1q layers.Dot1Q
		ip4   layers.IPv4
		ip6   layers.IPv6
		tcp   layers.TCP
		udp   layers.UDP
		vx    layers.VXLAN
		pl    gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &udp, &vx, &pl)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 16)
	var out Decoded
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := parser.DecodeLayers(frame, &decoded); err != nil {
			b.Fatal(err)
		}
		for _, lt := range decoded {
			switch lt {
			case layers.LayerTypeIPv4:
				out.Src, _ = netipFrom(ip4.SrcIP)
				out.Dst, _ = netipFrom(ip4.DstIP)
			case layers.LayerTypeTCP:
				out.SrcPort, out.DstPort, out.Seq, out.Ack, out.Window = uint16(tcp.SrcPort), uint16(tcp.DstPort), tcp.Seq, tcp.Ack, tcp.Window
				out.Payload = tcp.Payload
			}
		}
		if len(out.Payload) == 0 {
			b.Fatal("no payload")
		}
	}
}

func BenchmarkGopacketDLPEthernet(b *testing.B) { benchDLP(b, "Ethernet") }
func BenchmarkGopacketDLPVLAN(b *testing.B)     { benchDLP(b, "VLAN") }
func BenchmarkGopacketDLPVXLAN(b *testing.B)    { benchDLP(b, "VXLAN") }

// BenchmarkDefrag reassembles a 3-fragment datagram per iteration.
func BenchmarkDefrag(b *testing.B) {
	in, l4 := bigInner(b, false)
	var frames [][]byte
	for _, p := range split(l4, 600) {
		frames = append(frames, frag4(in.src, in.dst, 5, 6, p.off, p.more, p.data))
	}
	d := NewDecoder(DefaultDecoderConfig())
	var out Decoded
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, f := range frames {
			d.Decode(&Packet{Data: f, LinkType: LinkRaw}, &out)
		}
	}
	if d.Stats().FragmentsReassembled != uint64(b.N) {
		b.Fatalf("reassembled %d of %d", d.Stats().FragmentsReassembled, b.N)
	}
}

// BenchmarkFileSource reads a 10k-packet pcap from disk per iteration.
func BenchmarkFileSource(b *testing.B) {
	frame := benchFrames(b)["Ethernet"]
	pkts := make([]testPkt, 10000)
	for i := range pkts {
		pkts[i] = testPkt{data: frame, ts: time.Unix(int64(i), 0), lt: LinkEthernet}
	}
	path := writeFile(b, "bench.pcap", writePcap(b, pkts, false))
	b.ReportAllocs()
	b.ResetTimer()
	var p Packet
	for i := 0; i < b.N; i++ {
		s, err := OpenFiles([]string{path}, DefaultFileConfig())
		if err != nil {
			b.Fatal(err)
		}
		for {
			if err := s.Next(&p); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
}

// BenchmarkDecodedHash is the dispatcher's per-packet shard hash.
func BenchmarkDecodedHash(b *testing.B) {
	var d Decoded
	NewDecoder(DefaultDecoderConfig()).Decode(&Packet{Data: benchFrames(b)["Ethernet"], LinkType: LinkEthernet}, &d)
	b.ReportAllocs()
	var sink uint64
	for i := 0; i < b.N; i++ {
		d.SrcPort = uint16(i)
		sink += d.Hash()
	}
	_ = sink
}
