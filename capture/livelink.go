package capture

import (
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// interfaceLink returns the link type of the frames an AF_PACKET socket on
// the interface reads: LinkEthernet for Ethernet-framed interfaces
// (physical NICs, bridges, VLAN, bond, veth, VXLAN devices, loopback), and
// LinkRaw for interfaces whose packets start at the IP header: tun devices
// and WireGuard (ARPHRD_NONE), IPIP (Calico's tunl0), SIT and ip6tnl
// tunnels, raw-IP modems and PPP. Other hardware types are refused, not
// decoded as Ethernet: every frame would be counted as malformed.
func interfaceLink(name string) (uint16, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("capture: socket for the link type of %s: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, fmt.Errorf("capture: interface %q: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, fmt.Errorf("capture: link type of %s (SIOCGIFHWADDR): %w", name, err)
	}
	hw := ifr.Uint16() // ifr_hwaddr.sa_family: the ARPHRD_* type
	if lt, ok := linkForARPHRD(hw); ok {
		return lt, nil
	}
	return 0, fmt.Errorf("capture: interface %s has hardware type %d (ARPHRD_*), which live capture does not decode: "+
		"it reads Ethernet-framed interfaces and raw-IP ones (tun, WireGuard, IPIP, SIT, PPP); "+
		"capture on the interface that carries this one's traffic instead (the decoder unwraps VLAN, VXLAN, GENEVE, GRE and IP-in-IP)",
		name, hw)
}

// linkForARPHRD maps a Linux hardware type to the link type of what an
// AF_PACKET SOCK_RAW socket reads on it.
func linkForARPHRD(hw uint16) (uint16, bool) {
	switch hw {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		return LinkEthernet, true
	case unix.ARPHRD_NONE, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT,
		unix.ARPHRD_RAWIP, unix.ARPHRD_PPP:
		// No header_ops: the socket gets the packet from its IP header.
		// (Not ARPHRD_IPGRE: a GRE device without a remote address has a
		// link header of its own.)
		return LinkRaw, true
	}
	return 0, false
}

// compileFor is CompileFilter for a socket reading link type lt. The
// built-in compiler writes offsets for Ethernet frames; on a raw-IP
// interface its program is rebased to start at the IP header. A raw
// program is taken as given: it was compiled for the interface (`tcpdump
// -ddd -i tun0 ...`).
func compileFor(expr string, snaplen int, lt uint16) ([]bpf.RawInstruction, error) {
	prog, err := CompileFilter(expr, snaplen)
	if err != nil || lt == LinkEthernet || IsRawBPF(expr) {
		return prog, err
	}
	out, err := rebaseToNetwork(prog)
	if err != nil {
		return nil, fmt.Errorf("capture: filter %q on a raw-IP interface: %w", expr, err)
	}
	return out, nil
}

// dropOutgoing puts in front of prog a check that rejects packets the
// socket sees leaving the interface (SKF_AD_PKTTYPE == PACKET_OUTGOING).
// On loopback the kernel hands every packet to packet sockets twice, once
// as sent and once as received, so without it each segment would arrive
// twice (counted as a retransmit, and the packet rate doubled); libpcap
// drops the same copies, in user space. prog must end in a return, as
// CompileFilter's programs do; its jumps are relative, so the prefix
// leaves them as they are.
func dropOutgoing(prog []bpf.RawInstruction) ([]bpf.RawInstruction, error) {
	pre, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return nil, err
	}
	return append(pre, prog...), nil
}

// ethHeaderLen is what an Ethernet program's packet offsets count before the
// network header.
const ethHeaderLen = 14

// rebaseToNetwork turns a program written for Ethernet frames into one for
// packets that start at the network header: every packet load moves back
// by the 14-byte Ethernet header, and the EtherType load (ldh [12]) becomes
// the kernel's load of the packet's protocol (SKF_AD_PROTOCOL, the same
// 16-bit EtherType). A load of other link-header bytes (MAC addresses), or
// of the kernel's negative special offsets, has no meaning here and is
// refused.
func rebaseToNetwork(prog []bpf.RawInstruction) ([]bpf.RawInstruction, error) {
	ins, ok := bpf.Disassemble(prog)
	if !ok {
		return nil, fmt.Errorf("program has instructions the BPF package does not know")
	}
	rebase := func(i int, off uint32) (uint32, error) {
		if off < ethHeaderLen || off >= 0x80000000 {
			return 0, fmt.Errorf("instruction %d loads link-header bytes (offset %d), which a raw-IP interface does not have", i, int32(off))
		}
		return off - ethHeaderLen, nil
	}
	for i, in := range ins {
		var err error
		switch in := in.(type) {
		case bpf.LoadAbsolute:
			if in.Off == 12 && in.Size == 2 {
				ins[i] = bpf.LoadExtension{Num: bpf.ExtProto}
				continue
			}
			in.Off, err = rebase(i, in.Off)
			ins[i] = in
		case bpf.LoadIndirect:
			in.Off, err = rebase(i, in.Off)
			ins[i] = in
		case bpf.LoadMemShift:
			in.Off, err = rebase(i, in.Off)
			ins[i] = in
		}
		if err != nil {
			return nil, err
		}
	}
	return bpf.Assemble(ins)
}
