package capture

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// runRebased runs a program rebased for raw-IP packets on the network layer
// of an Ethernet frame. The BPF interpreter has no SKF_AD_PROTOCOL, so the
// protocol load is replaced by a constant load of the frame's EtherType,
// what the kernel gives it.
func runRebased(t *testing.T, prog []bpf.RawInstruction, eth []byte) int {
	t.Helper()
	proto, _ := bpf.LoadExtension{Num: bpf.ExtProto}.Assemble()
	ins := disasm(t, prog)
	for i, raw := range prog {
		if raw == proto {
			ins[i] = bpf.LoadConstant{Dst: bpf.RegA, Val: uint32(eth[12])<<8 | uint32(eth[13])}
		}
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	n, err := vm.Run(eth[14:])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A filter compiled for a raw-IP interface accepts the IP packets its
// Ethernet form accepts in the same frames, for every primitive the
// compiler handles.
func TestRebaseToNetwork(t *testing.T) {
	frames, cases := filterSemanticsCases(t)
	for _, tc := range cases {
		ethProg, err := compileFor(tc.expr, 1500, LinkEthernet)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		rawProg, err := compileFor(tc.expr, 1500, LinkRaw)
		if err != nil {
			t.Fatalf("%q for raw IP: %v", tc.expr, err)
		}
		if slices.Equal(ethProg, rawProg) {
			t.Fatalf("%q: not rebased", tc.expr)
		}
		vm, err := bpf.NewVM(disasm(t, ethProg))
		if err != nil {
			t.Fatal(err)
		}
		for name, f := range frames {
			want, _ := vm.Run(f)
			if got := runRebased(t, rawProg, f); got != want {
				t.Errorf("%q on %s as raw IP: returned %d, on the Ethernet frame %d", tc.expr, name, got, want)
			}
		}
	}
	// No filter and raw programs are left as they are.
	for _, expr := range []string{"", "6\n40 0 0 12\n21 0 3 2048\n48 0 0 23\n21 0 1 6\n6 0 0 262144\n6 0 0 0\n"} {
		e, _ := compileFor(expr, 200, LinkEthernet)
		r, err := compileFor(expr, 200, LinkRaw)
		if err != nil || !slices.Equal(e, r) {
			t.Errorf("%q: rebased (%v)", expr, err)
		}
	}
	// A load of link-header bytes has no raw-IP meaning.
	if _, err := rebaseToNetwork([]bpf.RawInstruction{{Op: 0x28, K: 6}, {Op: 0x06, K: 1}}); err == nil || !strings.Contains(err.Error(), "link-header") {
		t.Errorf("a MAC address load was rebased: %v", err)
	}
}

func TestLinkForARPHRD(t *testing.T) {
	for hw, want := range map[uint16]uint16{
		unix.ARPHRD_ETHER: LinkEthernet, unix.ARPHRD_LOOPBACK: LinkEthernet,
		unix.ARPHRD_NONE: LinkRaw, unix.ARPHRD_TUNNEL: LinkRaw, unix.ARPHRD_TUNNEL6: LinkRaw,
		unix.ARPHRD_SIT: LinkRaw, unix.ARPHRD_RAWIP: LinkRaw, unix.ARPHRD_PPP: LinkRaw,
	} {
		if got, ok := linkForARPHRD(hw); !ok || got != want {
			t.Errorf("ARPHRD %d: %d %v, want %d", hw, got, ok, want)
		}
	}
	for _, hw := range []uint16{unix.ARPHRD_IEEE80211_RADIOTAP, unix.ARPHRD_INFINIBAND, unix.ARPHRD_IPGRE} {
		if lt, ok := linkForARPHRD(hw); ok {
			t.Errorf("ARPHRD %d taken as link type %d", hw, lt)
		}
	}
	if lt, err := interfaceLink("lo"); err != nil || lt != LinkEthernet {
		t.Errorf("lo: %d %v", lt, err)
	}
	if _, err := interfaceLink("no-such-if0"); err == nil || !strings.Contains(err.Error(), "no-such-if0") {
		t.Errorf("missing interface: %v", err)
	}
}

// On loopback the filter rejects the copy of a packet seen as sent and
// otherwise decides as before, for every primitive and for a raw program.
// The BPF interpreter has no SKF_AD_PKTTYPE: the packet type load is
// replaced by a constant, what the kernel gives it.
func TestDropOutgoing(t *testing.T) {
	frames, cases := filterSemanticsCases(t)
	pkttype, _ := bpf.LoadExtension{Num: bpf.ExtType}.Assemble()
	cases = append(cases, filterCase{"4,40 0 0 12,21 0 1 2048,6 0 0 262144,6 0 0 0", []string{"tcp4", "udp4", "icmp"}})
	for _, tc := range cases {
		prog, err := compileFor(tc.expr, 1500, LinkEthernet)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		lo, err := dropOutgoing(prog)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		if lo[0] != pkttype {
			t.Fatalf("%q: first instruction %+v, want the packet type load", tc.expr, lo[0])
		}
		for _, typ := range []uint32{unix.PACKET_HOST, unix.PACKET_OUTGOING} {
			ins := disasm(t, lo)
			ins[0] = bpf.LoadConstant{Dst: bpf.RegA, Val: typ}
			vm, err := bpf.NewVM(ins)
			if err != nil {
				t.Fatalf("%q: %v", tc.expr, err)
			}
			for name, frame := range frames {
				n, err := vm.Run(frame)
				if err != nil {
					t.Fatal(err)
				}
				want := typ != unix.PACKET_OUTGOING && slices.Contains(tc.accept, name)
				if (n > 0) != want {
					t.Errorf("%q, packet type %d, %s: accepted %d bytes, want accepted %v", tc.expr, typ, name, n, want)
				}
			}
		}
	}
}
