package gen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const (
	snapLen = 65535
	// mss is the TCP payload per full segment: 1460 minus the 12 bytes of
	// timestamp option a Linux peer would send (the brief's MSS 1448).
	mss = 1448
	// ethernetTypeERSPAN3 is the GRE protocol type of ERSPAN type III,
	// which gopacket does not define.
	ethernetTypeERSPAN3 layers.EthernetType = 0x22eb
)

var (
	outerSrc = netip.MustParseAddr("192.0.2.1") // mirror source (switch / VPC mirror)
	outerDst = netip.MustParseAddr("192.0.2.2") // sensor's capture address
)

// frameWriter turns TCP segments into encapsulated Ethernet frames and writes
// them as pcap records. All layer structs and the serialize buffer are reused,
// so a frame costs no allocation beyond what gopacket's serializer does.
type frameWriter struct {
	pw    *pcapgo.Writer
	bw    *bufio.Writer
	cfg   *Config
	epoch time.Time

	buf  gopacket.SerializeBuffer
	opts gopacket.SerializeOptions

	eth     layers.Ethernet
	ip      layers.IPv4
	tcp     layers.TCP
	oEth    layers.Ethernet
	oIP     layers.IPv4
	oUDP    layers.UDP
	vxlan   layers.VXLAN
	geneve  layers.Geneve
	gre     layers.GRE
	erspan2 layers.ERSPANII
	erspan3 [12]byte
	dot1q   [2]layers.Dot1Q
	mpls    layers.MPLS
	stack   []gopacket.SerializableLayer

	synOpts []layers.TCPOption
	// Address scratch: net.IP and MAC fields point here, so building a
	// frame allocates no address slices.
	srcIP, dstIP   [4]byte
	srcMAC, dstMAC [6]byte
	ipID           uint16
	greSeq         uint32

	packets, bytes int64
}

func newFrameWriter(w io.Writer, cfg *Config) (*frameWriter, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	var pw *pcapgo.Writer
	if cfg.Nanos {
		pw = pcapgo.NewWriterNanos(bw)
	} else {
		pw = pcapgo.NewWriter(bw)
	}
	if err := pw.WriteFileHeader(snapLen, layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("write pcap header: %w", err)
	}
	f := &frameWriter{
		pw: pw, bw: bw, cfg: cfg, epoch: cfg.epoch(),
		buf:  gopacket.NewSerializeBuffer(),
		opts: gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
	}
	mssOpt := make([]byte, 2)
	binary.BigEndian.PutUint16(mssOpt, mss)
	f.synOpts = []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: mssOpt},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
	f.ip = layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment}
	f.oIP = layers.IPv4{Version: 4, IHL: 5, TTL: 255, Flags: layers.IPv4DontFragment,
		SrcIP: outerSrc.AsSlice(), DstIP: outerDst.AsSlice()}
	f.oEth = layers.Ethernet{SrcMAC: macFor(outerSrc), DstMAC: macFor(outerDst), EthernetType: layers.EthernetTypeIPv4}
	f.vxlan = layers.VXLAN{ValidIDFlag: true}
	f.geneve = layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging}
	f.erspan2 = layers.ERSPANII{Version: 1}
	f.mpls = layers.MPLS{StackBottom: true, TTL: 64}
	return f, nil
}

// macFor gives every IPv4 address a stable locally administered MAC.
func macFor(a netip.Addr) []byte {
	b := a.As4()
	return []byte{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// seg is one TCP segment to put on the wire.
type seg struct {
	ts       int64 // ns since epoch
	src, dst netip.AddrPort
	seq, ack uint32
	flags    uint8
	win      uint16
	payload  []byte
}

// write emits s once, or twice (once per tunnel) with Config.DupTunnelID.
func (f *frameWriter) write(s *seg) error {
	if err := f.writeIn(s, f.cfg.TunnelID); err != nil {
		return err
	}
	if f.cfg.DupTunnelID != 0 {
		return f.writeIn(s, f.cfg.DupTunnelID)
	}
	return nil
}

func (f *frameWriter) writeIn(s *seg, tunnel uint32) error {
	f.ipID++
	f.ip.Id = f.ipID
	f.srcIP, f.dstIP = s.src.Addr().As4(), s.dst.Addr().As4()
	f.ip.SrcIP, f.ip.DstIP = f.srcIP[:], f.dstIP[:]
	f.srcMAC = [6]byte{0x02, 0x42, f.srcIP[0], f.srcIP[1], f.srcIP[2], f.srcIP[3]}
	f.dstMAC = [6]byte{0x02, 0x42, f.dstIP[0], f.dstIP[1], f.dstIP[2], f.dstIP[3]}
	f.tcp = layers.TCP{
		SrcPort: layers.TCPPort(s.src.Port()), DstPort: layers.TCPPort(s.dst.Port()),
		Seq: s.seq, Ack: s.ack, Window: s.win,
		FIN: s.flags&flagFIN != 0, SYN: s.flags&flagSYN != 0, RST: s.flags&flagRST != 0,
		PSH: s.flags&flagPSH != 0, ACK: s.flags&flagACK != 0,
	}
	if s.flags&flagSYN != 0 {
		f.tcp.Options = f.synOpts
	}
	if err := f.tcp.SetNetworkLayerForChecksum(&f.ip); err != nil {
		return fmt.Errorf("tcp checksum layer: %w", err)
	}
	f.eth = layers.Ethernet{SrcMAC: f.srcMAC[:], DstMAC: f.dstMAC[:], EthernetType: layers.EthernetTypeIPv4}

	st := f.stack[:0]
	inner := func() { st = append(st, &f.eth, &f.ip, &f.tcp, gopacket.Payload(s.payload)) }
	innerIP := func() { st = append(st, &f.ip, &f.tcp, gopacket.Payload(s.payload)) }
	switch f.cfg.Encap {
	case EncapNone:
		inner()
	case EncapVLAN:
		f.eth.EthernetType = layers.EthernetTypeDot1Q
		f.dot1q[0] = layers.Dot1Q{VLANIdentifier: uint16(tunnel), Type: layers.EthernetTypeIPv4}
		st = append(st, &f.eth, &f.dot1q[0])
		innerIP()
	case EncapQinQ:
		f.eth.EthernetType = layers.EthernetTypeQinQ
		f.dot1q[0] = layers.Dot1Q{VLANIdentifier: uint16(tunnel), Type: layers.EthernetTypeDot1Q}
		f.dot1q[1] = layers.Dot1Q{VLANIdentifier: f.cfg.InnerVLAN, Type: layers.EthernetTypeIPv4}
		st = append(st, &f.eth, &f.dot1q[0], &f.dot1q[1])
		innerIP()
	case EncapMPLS:
		f.eth.EthernetType = layers.EthernetTypeMPLSUnicast
		f.mpls.Label = tunnel
		st = append(st, &f.eth, &f.mpls)
		innerIP()
	case EncapVXLAN, EncapGeneve:
		f.oIP.Id = f.ipID
		f.oIP.Protocol = layers.IPProtocolUDP
		// RFC 7348: the outer source port is a hash of the inner flow, so
		// ECMP keeps one flow on one path; both directions hash alike here.
		f.oUDP = layers.UDP{SrcPort: layers.UDPPort(49152 + flowHash(s)%16384), DstPort: 4789}
		if f.cfg.Encap == EncapGeneve {
			f.oUDP.DstPort = 6081
			f.geneve.VNI = tunnel
		} else {
			f.vxlan.VNI = tunnel
		}
		if err := f.oUDP.SetNetworkLayerForChecksum(&f.oIP); err != nil {
			return fmt.Errorf("udp checksum layer: %w", err)
		}
		st = append(st, &f.oEth, &f.oIP, &f.oUDP)
		if f.cfg.Encap == EncapGeneve {
			st = append(st, &f.geneve)
		} else {
			st = append(st, &f.vxlan)
		}
		inner()
	case EncapGRE:
		f.oIP.Id = f.ipID
		f.oIP.Protocol = layers.IPProtocolGRE
		f.gre = layers.GRE{KeyPresent: true, Key: tunnel, Protocol: layers.EthernetTypeIPv4}
		st = append(st, &f.oEth, &f.oIP, &f.gre)
		innerIP()
	case EncapERSPAN2, EncapERSPAN3:
		f.oIP.Id = f.ipID
		f.oIP.Protocol = layers.IPProtocolGRE
		f.greSeq++
		f.gre = layers.GRE{SeqPresent: true, Seq: f.greSeq, Protocol: layers.EthernetTypeERSPAN}
		st = append(st, &f.oEth, &f.oIP, &f.gre)
		if f.cfg.Encap == EncapERSPAN2 {
			f.erspan2.SessionID = uint16(tunnel)
			f.erspan2.Index = f.greSeq & 0xfffff
			st = append(st, &f.erspan2)
		} else {
			f.gre.Protocol = ethernetTypeERSPAN3
			f.putERSPAN3(tunnel, s.ts)
			st = append(st, gopacket.Payload(f.erspan3[:]))
		}
		inner()
	default:
		return fmt.Errorf("BUG: encapsulation %d passed Validate", f.cfg.Encap)
	}
	f.stack = st
	if err := gopacket.SerializeLayers(f.buf, f.opts, st...); err != nil {
		return fmt.Errorf("serialize frame %d: %w", f.packets+1, err)
	}
	data := f.buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: f.epoch.Add(time.Duration(s.ts)), CaptureLength: len(data), Length: len(data)}
	if err := f.pw.WritePacket(ci, data); err != nil {
		return fmt.Errorf("write frame %d: %w", f.packets+1, err)
	}
	f.packets++
	f.bytes += int64(len(data))
	return nil
}

// putERSPAN3 fills the 12-byte ERSPAN type III header (draft-foschiano-erspan
// section 4.3) with no platform sub-header.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Ver  |          VLAN         | COS |BSO|T|     Session ID    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                          Timestamp                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|             SGT               |P|    FT   |   Hw ID   |D|Gra|O|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func (f *frameWriter) putERSPAN3(session uint32, ts int64) {
	h := f.erspan3[:]
	binary.BigEndian.PutUint16(h[0:], 2<<12) // version 2 = type III, VLAN 0
	binary.BigEndian.PutUint16(h[2:], uint16(session&0x3ff))
	binary.BigEndian.PutUint32(h[4:], uint32(ts/100_000)) // Gra=00: 100µs ticks
	binary.BigEndian.PutUint16(h[8:], 0)
	binary.BigEndian.PutUint16(h[10:], 0) // P=0, FT=0 (Ethernet), HwID 0, D=0, Gra=00, O=0
}

// flowHash is symmetric in the two endpoints so both directions of a flow
// take the same outer UDP source port.
func flowHash(s *seg) uint32 {
	a, b := s.src.Addr().As4(), s.dst.Addr().As4()
	h := binary.BigEndian.Uint32(a[:]) ^ binary.BigEndian.Uint32(b[:]) ^ uint32(s.src.Port()) ^ uint32(s.dst.Port())
	h ^= h >> 16
	h *= 0x45d9f3b
	h ^= h >> 16
	return h
}

func (f *frameWriter) flush() error {
	if err := f.bw.Flush(); err != nil {
		return fmt.Errorf("flush pcap: %w", err)
	}
	return nil
}

// TCP flag bits (the TCP header's 13th byte).
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
)
