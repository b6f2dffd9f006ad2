// Command gopacket-decode is bench/run.sh's second read+decode reference:
// the same classic pcap read with gopacket's pcapgo and decoded with its
// DecodingLayerParser (Ethernet, 802.1Q, IPv4, IPv6, TCP, UDP), taking
// from each packet what apisensor's decoder takes (innermost addresses,
// ports, TCP sequence fields, payload). It is what a sensor built on the
// library as it comes would spend before reassembly, so bench/run.sh can
// report the pipeline against it as well as against apisensor's own,
// hand-written and faster, decoder (row a).
//
// It is a benchmark tool, not part of the sensor.
//
//	gopacket-decode capture.pcap
package main

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gopacket-decode capture.pcap")
		os.Exit(2)
	}
	st, err := run(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopacket-decode:", err)
		os.Exit(1)
	}
	fmt.Printf("packets %d, TCP segments %d, TCP payload bytes %d, IPv6 %d (port/seq sum %d)\n",
		st.packets, st.tcp, st.tcpPayload, st.ipv6, st.sum)
}

// stats is what run saw; printed, so no field's decoding is dead code.
type stats struct {
	packets, tcp, tcpPayload, ipv6, sum uint64
}

// run reads and decodes every packet of the classic pcap file path.
func run(path string) (st stats, err error) {
	f, err := os.Open(path)
	if err != nil {
		return st, err
	}
	defer f.Close()
	// 64 KiB, the size apisensor reads with (capture.FileConfig).
	r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return st, fmt.Errorf("%s: %w (classic pcap only)", path, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		return st, fmt.Errorf("%s: link type %v: Ethernet captures only", path, r.LinkType())
	}
	var (
		eth   layers.Ethernet
		dot1q layers.Dot1Q
		ip4   layers.IPv4
		ip6   layers.IPv6
		tcp   layers.TCP
		udp   layers.UDP
		pl    gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &udp, &pl)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	for {
		data, _, err := r.ZeroCopyReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("%s: packet %d: %w", path, st.packets+1, err)
		}
		st.packets++
		if err := parser.DecodeLayers(data, &decoded); err != nil {
			continue // truncated or unsupported: counted as a packet only
		}
		var src, dst netip.Addr
		for _, lt := range decoded {
			switch lt {
			case layers.LayerTypeIPv4:
				src, _ = netip.AddrFromSlice(ip4.SrcIP)
				dst, _ = netip.AddrFromSlice(ip4.DstIP)
			case layers.LayerTypeIPv6:
				src, _ = netip.AddrFromSlice(ip6.SrcIP)
				dst, _ = netip.AddrFromSlice(ip6.DstIP)
				st.ipv6++
			case layers.LayerTypeTCP:
				st.tcp++
				st.tcpPayload += uint64(len(tcp.Payload))
				st.sum += uint64(tcp.SrcPort) + uint64(tcp.DstPort) + uint64(tcp.Seq) + uint64(tcp.Ack)
			}
		}
		if src.IsValid() && dst.IsValid() && src.Is6() {
			st.sum++
		}
	}
	return st, nil
}
