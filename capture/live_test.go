package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/apisensor/apisensor/internal/netnstest"
)

func TestCompileFilter(t *testing.T) {
	// An expression the built-in compiler knows.
	prog, err := CompileFilter("tcp port 80", 1500)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(disasm(t, prog))
	if err != nil {
		t.Fatal(err)
	}
	in := defaultInner()
	udp := in
	udp.udp = true
	if n, _ := vm.Run(in.eth(t)); n == 0 || n > 1500 {
		t.Fatalf("tcp port 80 frame: filter returned %d", n)
	}
	if n, _ := vm.Run(udp.eth(t)); n != 0 {
		t.Fatalf("udp frame accepted: %d", n)
	}
	// Raw `tcpdump -ddd tcp` output, newline and comma forms; snaplen caps
	// the accepting return.
	raw := "6\n40 0 0 12\n21 0 3 2048\n48 0 0 23\n21 0 1 6\n6 0 0 262144\n6 0 0 0\n"
	for _, s := range []string{raw, strings.ReplaceAll(strings.TrimSpace(raw), "\n", ",")} {
		prog, err := CompileFilter(s, 128)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if len(prog) != 6 || prog[4].K != 128 || prog[1].K != 2048 {
			t.Fatalf("parsed %+v", prog)
		}
		vm, err := bpf.NewVM(disasm(t, prog))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := vm.Run(in.eth(t)); n != 128 {
			t.Fatalf("tcp frame: %d", n)
		}
	}
	// Snaplen alone.
	if prog, err := CompileFilter("", 200); err != nil || len(prog) != 1 || prog[0].K != 200 {
		t.Fatalf("snaplen-only program %+v %v", prog, err)
	}
	if prog, err := CompileFilter("", 0); err != nil || prog != nil {
		t.Fatalf("no program expected without a snaplen: %+v %v", prog, err)
	}
	// Errors.
	for _, bad := range []string{"tcp[tcpflags] & tcp-syn != 0", "vlan and tcp",
		// Known words that are not an expression: the compiler makes a
		// program of each (dropping everything, or keeping too much).
		"tcp port", "port", "tcp and", "and tcp", "(tcp", "tcp)", "port 80 443", "tcp tcp", "src", "net 10.0.0.1",
		// It reads an IPv6 address as host and port.
		"host ::1", "net 2001:db8::/32",
		// An "and" after an "or" compiles to a program that matches
		// nothing; a protocol before host or net is dropped.
		"(tcp or udp) and port 80", "tcp or udp and port 53", "(port 80 or port 53) and tcp",
		"tcp and (port 80 or port 53) and src host 10.1.2.3", "tcp and port 80 or udp and port 53",
		// A level takes its last joiner; what follows a group is read
		// into it; an undirected host or net and-ed with a lone protocol
		// loses the protocol (TestCompileFilterDifferential).
		"tcp and port 80 or udp", "(tcp and port 80) or udp", "tcp and host 10.1.2.3",
		"host 10.1.2.3 and (tcp and tcp)", "(udp) and net 10.0.0.0/8",
		"tcp host 10.1.2.3", "udp net 10.0.0.0/8", "tcp src host 10.1.2.3", "portrange 80-90", "garbage words", "icmp", "not tcp", "tcp and not port 22", "3\n6 0 0 1", "2\n21 5 0 1\n6 0 0 0", "1\n6 0 x 1"} {
		_, err := CompileFilter(bad, 0)
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if !(bad[0] >= '0' && bad[0] <= '9') && !strings.Contains(err.Error(), "tcpdump -ddd") {
			t.Errorf("%q: error does not suggest raw BPF: %v", bad, err)
		}
	}
	// The refusal names what is wrong.
	for expr, want := range map[string]string{
		"port 0":                   `a port number expected at "0"`,
		"port 70000":               `a port number expected at "70000"`,
		"port eighty":              `"eighty" is not supported`,
		"(tcp and port 80) or udp": `"or" after a parenthesised group`,
		"tcp and port 80 or udp":   `"or" after "and" at one level`,
		"tcp and host 10.1.2.3":    `loses the protocol`,
	} {
		if _, err := CompileFilter(expr, 0); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to say %s", expr, err, want)
		}
	}
}

func disasm(t *testing.T, raw []bpf.RawInstruction) []bpf.Instruction {
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("cannot disassemble %+v", raw)
	}
	return ins
}

func TestOpenLiveErrors(t *testing.T) {
	cfg := DefaultLiveConfig()
	cfg.Interface = "apisensor-nx0"
	_, err := OpenLive(cfg)
	if err == nil || !strings.Contains(err.Error(), `interface "apisensor-nx0" not found (available: `) || !strings.Contains(err.Error(), "lo") {
		t.Fatalf("err = %v", err)
	}
	cfg.Interface = "any"
	if _, err := OpenLive(cfg); err == nil || !strings.Contains(err.Error(), `"any" is not supported`) || !strings.Contains(err.Error(), "lo") {
		t.Fatalf("any: err = %v", err)
	}
	if DefaultLiveConfig().Validate() == nil {
		t.Fatal("config without interface accepted")
	}
	for i, mut := range []func(*LiveConfig){
		func(c *LiveConfig) { c.Workers = 0 },
		func(c *LiveConfig) { c.BlockSizeKB = 3 },
		func(c *LiveConfig) { c.RingSizeMB = 0 },
		func(c *LiveConfig) { c.Snaplen = 10 },
	} {
		c := DefaultLiveConfig()
		c.Interface = "lo"
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("case %d accepted", i)
		}
	}
	if os.Geteuid() != 0 {
		c := DefaultLiveConfig()
		c.Interface = "lo"
		if _, err := OpenLive(c); err == nil || !strings.Contains(err.Error(), "CAP_NET_RAW") {
			t.Fatalf("non-root error does not explain CAP_NET_RAW: %v", err)
		}
	}
}

// flowBytes maps "src:port>dst:port" to the TCP payload bytes in order.
type flowBytes map[string][]byte

func (f flowBytes) add(d *Decoded) {
	if d.Proto != 6 || len(d.Payload) == 0 {
		return
	}
	k := fmt.Sprintf("%v:%d>%v:%d", d.Src, d.SrcPort, d.Dst, d.DstPort)
	f[k] = append(f[k], d.Payload...)
}

// liveTestPcap writes a pcap with a few TCP conversations (plus UDP and
// ARP the filter must drop) between addresses of the benchmarking range
// 198.18.0.0/15, which exist only on the test's veth pair.
func liveTestPcap(t *testing.T) string {
	var pkts []testPkt
	ts := time.Unix(1700000000, 0)
	push := func(frame []byte) {
		pkts = append(pkts, testPkt{data: frame, ts: ts, lt: LinkEthernet})
		ts = ts.Add(time.Millisecond)
	}
	for c := 0; c < 4; c++ {
		cli := defaultInner()
		cli.src = netip.MustParseAddr(fmt.Sprintf("198.18.0.%d", 10+c))
		cli.dst = netip.MustParseAddr("198.18.1.1")
		cli.sport = uint16(41000 + c)
		srv := cli
		srv.src, srv.dst, srv.sport, srv.dport = cli.dst, cli.src, cli.dport, cli.sport
		for i := 0; i < 5; i++ {
			cli.payload = bytes.Repeat([]byte{byte('a' + c), byte('0' + i)}, 100+i*50)
			cli.seq += 1000
			push(cli.eth(t))
			srv.payload = bytes.Repeat([]byte{byte('A' + c), byte('0' + i)}, 100+i*120)
			srv.seq += 5000
			push(srv.eth(t))
		}
	}
	u := defaultInner()
	u.src, u.dst, u.udp = netip.MustParseAddr("198.18.0.99"), netip.MustParseAddr("198.18.1.1"), true
	push(u.eth(t))
	push(ser(t, &layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: macA, SourceProtAddress: []byte{198, 18, 0, 10}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{198, 18, 1, 1}}))
	return writeFile(t, "live.pcap", writePcap(t, pkts, false))
}

// TestLiveVeth replays a pcap into one end of a veth pair (the other end
// in a private network namespace) and captures it with OpenLive: the TCP
// payload per flow must equal what OpenFiles+Decoder read from the pcap.
func TestLiveVeth(t *testing.T) {
	wire := netnstest.New(t)
	hostIf := wire.Host

	path := liveTestPcap(t)
	want := flowBytes{}
	wantPkts := 0
	{
		src, err := OpenFiles([]string{path}, DefaultFileConfig())
		if err != nil {
			t.Fatal(err)
		}
		d := NewDecoder(DefaultDecoderConfig())
		var p Packet
		var out Decoded
		for src.Next(&p) == nil {
			if d.Decode(&p, &out) && out.Proto == 6 {
				want.add(&out)
				wantPkts++
			}
		}
		src.Close()
	}

	srcs := openTestLive(t, hostIf, 2, 2)
	var mu sync.Mutex
	got := flowBytes{}
	gotPkts := 0
	stop := readLive(srcs, func(_ int, p *Packet, d *Decoded) error {
		if p.TS.IsZero() || p.LinkType != LinkEthernet {
			return fmt.Errorf("packet without timestamp or link type: %+v", p)
		}
		mu.Lock()
		got.add(d)
		gotPkts++
		mu.Unlock()
		return nil
	})
	if err := wire.Replay(path); err != nil {
		t.Fatal(err)
	}
	// Wait for the ring's block timeout to hand over the last packets.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := gotPkts
		mu.Unlock()
		if n >= wantPkts {
			break
		}
	}
	var kernel LiveStats
	for _, s := range srcs {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		kernel.Packets += st.Packets
		kernel.Drops += st.Drops
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if kernel.Drops != 0 || kernel.Packets < uint64(wantPkts) {
		t.Errorf("kernel stats %+v, want >= %d packets and no drops", kernel, wantPkts)
	}
	if gotPkts != wantPkts || len(got) != len(want) {
		t.Fatalf("captured %d TCP packets in %d flows, want %d in %d", gotPkts, len(got), wantPkts, len(want))
	}
	for k, w := range want {
		if !bytes.Equal(got[k], w) {
			t.Fatalf("flow %s: captured %d bytes, pcap has %d", k, len(got[k]), len(w))
		}
	}
}

// filterCase is an expression and the frames of filterSemanticsCases it
// accepts.
type filterCase struct {
	expr   string
	accept []string // frames accepted; the rest must be refused
}

// filterSemanticsCases gives frames and, for every primitive the built-in
// compiler is allowed to handle, which of them an expression accepts.
func filterSemanticsCases(t *testing.T) (map[string][]byte, []filterCase) {
	tcp4 := defaultInner() // 10.1.2.3:40001 > 192.168.7.9:80
	udp4 := tcp4
	udp4.udp, udp4.sport, udp4.dport = true, 5353, 53
	tcp6 := tcp4.v6()
	icmp := ser(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, IHL: 5, TTL: 1, Protocol: layers.IPProtocolICMPv4, SrcIP: tcp4.src.AsSlice(), DstIP: tcp4.dst.AsSlice()},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})
	frames := map[string][]byte{"tcp4": tcp4.eth(t), "udp4": udp4.eth(t), "tcp6": tcp6.eth(t), "icmp": icmp}
	cases := []filterCase{
		{"tcp", []string{"tcp4", "tcp6"}},
		{"udp", []string{"udp4"}},
		{"tcp or udp", []string{"tcp4", "tcp6", "udp4"}},
		{"port 80", []string{"tcp4", "tcp6"}},
		{"port 53", []string{"udp4"}},
		{"src host 10.1.2.3", []string{"tcp4", "udp4", "icmp"}},
		{"dst host 10.1.2.3", nil},
		{"host 192.168.7.9 and (port 80 or port 443)", []string{"tcp4"}},
		{"net 10.0.0.0/8", []string{"tcp4", "udp4", "icmp"}},
		{"net 11.0.0.0/8", nil},
		{"tcp dst port 80", []string{"tcp4", "tcp6"}},
		{"tcp src port 80", nil},
		{"TCP Dst Port 80 AND Host 192.168.7.9", []string{"tcp4"}},
		{"udp or (tcp and port 80)", []string{"tcp4", "tcp6", "udp4"}},
		{"tcp and (src host 10.1.2.3 or dst host 10.1.2.3)", []string{"tcp4"}},
		{"udp and src net 10.0.0.0/8", []string{"udp4"}},
		{"tcp and (host 10.1.2.3 or host 11.0.0.1)", []string{"tcp4"}},
	}
	return frames, cases
}

// TestCompileFilterSemantics runs every primitive the built-in compiler
// is allowed to handle against frames in the BPF VM, so a compiler that
// silently drops part of an expression is caught.
func TestCompileFilterSemantics(t *testing.T) {
	frames, cases := filterSemanticsCases(t)
	for _, tc := range cases {
		prog, err := CompileFilter(tc.expr, 0)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		vm, err := bpf.NewVM(disasm(t, prog))
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		for name, f := range frames {
			want := false
			for _, a := range tc.accept {
				want = want || a == name
			}
			n, err := vm.Run(f)
			if err != nil {
				t.Fatalf("%q on %s: %v", tc.expr, name, err)
			}
			if (n > 0) != want {
				t.Errorf("%q on %s: accepted=%v, want %v", tc.expr, name, n > 0, want)
			}
		}
	}
}

// TestLiveFanoutOpenDuringTraffic opens four fanout sockets while traffic
// is already flowing. A socket that is bound but not yet in the fanout
// group receives a copy of every packet; OpenLive must not let those
// copies through. Every frame carries a unique number: none may be seen
// twice, and each flow must stay on one socket.
func TestLiveFanoutOpenDuringTraffic(t *testing.T) {
	wire := netnstest.New(t)
	const flows, perFlow = 64, 500
	var pkts []testPkt
	ts := time.Unix(1700000000, 0)
	for i := 0; i < perFlow; i++ {
		for f := 0; f < flows; f++ {
			s := defaultInner()
			s.src = netip.MustParseAddr(fmt.Sprintf("198.18.0.%d", 1+f%200))
			s.dst = netip.MustParseAddr("198.18.1.1")
			s.sport = uint16(40000 + f)
			s.seq = uint32(1000 + 8*i)
			s.payload = binary.BigEndian.AppendUint64(nil, uint64(i*flows+f))
			if i%2 == 1 { // the other direction of the same flow
				s.src, s.dst, s.sport, s.dport = s.dst, s.src, s.dport, s.sport
			}
			pkts = append(pkts, testPkt{data: s.eth(t), ts: ts, lt: LinkEthernet})
			ts = ts.Add(time.Microsecond)
		}
	}
	path := writeFile(t, "unique.pcap", writePcap(t, pkts, false))
	wait := wire.Start(t, path, "--pps=20000") // 32,000 frames: 1.6 s
	time.Sleep(200 * time.Millisecond)

	ended := make(chan struct{})
	go func() { wait(); close(ended) }()
	srcs := openTestLive(t, wire.Host, 4, 4)
	select {
	case <-ended:
		// What is under test (opening while traffic flows) did not happen.
		t.Skip("the replay ended before the sockets were open: this machine is too slow for the test")
	default:
	}
	var mu sync.Mutex
	seen := map[uint64]int{}     // frame number -> socket
	flowSock := map[uint16]int{} // client port -> socket
	var dups, splits []string
	read := make([]uint64, len(srcs)) // frames read per socket
	stop := readLive(srcs, func(si int, _ *Packet, d *Decoded) error {
		mu.Lock()
		defer mu.Unlock()
		read[si]++
		if len(d.Payload) != 8 {
			return nil
		}
		n := binary.BigEndian.Uint64(d.Payload)
		port := max(d.SrcPort, d.DstPort) // the client port
		if prev, ok := seen[n]; ok {
			dups = append(dups, fmt.Sprintf("frame %d on sockets %d and %d", n, prev, si))
		}
		seen[n] = si
		if prev, ok := flowSock[port]; ok && prev != si {
			splits = append(splits, fmt.Sprintf("flow %d on sockets %d and %d", port, prev, si))
		}
		flowSock[port] = si
		return nil
	})
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the ring's block timeout hands over the rest
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(dups) > 0 || len(splits) > 0 {
		t.Errorf("%d duplicate frames, %d split flows; first: %v %v", len(dups), len(splits), first(dups), first(splits))
	}
	if len(seen) == 0 {
		t.Errorf("captured none of %d frames", len(pkts))
	}
	// The kernel's count starts when the group is complete, so it covers
	// every frame Next returned, and none of the early ones it skipped.
	var early uint64
	for si, s := range srcs {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Packets < read[si] {
			t.Errorf("socket %d: kernel counted %d packets, %d were read", si, st.Packets, read[si])
		}
		early += st.Early
	}
	t.Logf("captured %d of %d frames (capture began mid-replay) on %d sockets, %d early frames skipped",
		len(seen), len(pkts), len(srcs), early)
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// openTestLive opens n fanout sockets on iface with small rings and a tcp
// filter; they are closed at the end of the test.
func openTestLive(t *testing.T, iface string, n, ringMB int) []*LiveSource {
	t.Helper()
	cfg := DefaultLiveConfig()
	cfg.Interface = iface
	cfg.Workers = n
	cfg.RingSizeMB = ringMB
	cfg.BlockSizeKB = 64
	cfg.Filter = "tcp"
	srcs, err := OpenLive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range srcs {
			s.Close()
		}
	})
	return srcs
}

// readLive reads each socket on its own goroutine and hands every decoded
// TCP frame to fn with the socket's index; fn runs concurrently for
// different sockets. stop closes the sockets, waits for the readers and
// returns the first error of a read or of fn.
func readLive(srcs []*LiveSource, fn func(sock int, p *Packet, d *Decoded) error) (stop func() error) {
	var wg sync.WaitGroup
	errs := make(chan error, len(srcs))
	for si, s := range srcs {
		wg.Go(func() {
			dec := NewDecoder(DefaultDecoderConfig())
			var p Packet
			var d Decoded
			for {
				err := s.Next(&p)
				switch {
				case errors.Is(err, io.EOF):
					return
				case errors.Is(err, ErrIdle):
					continue
				case err != nil:
					errs <- err
					return
				}
				if dec.Decode(&p, &d) && d.Proto == 6 {
					if err := fn(si, &p, &d); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	return func() error {
		for _, s := range srcs {
			s.Close()
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
}

// The kernel counters stay right across gopacket's 32-bit wrap.
func TestCounterSumAcrossWrap(t *testing.T) {
	var c counterSum
	c.add([3]uint32{math.MaxUint32 - 10, 5, 1})
	got := c.add([3]uint32{20, 7, 1}) // 31 more packets, 2 more drops
	want := LiveStats{Packets: math.MaxUint32 + 21, Drops: 7, QueueFreezes: 1}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
