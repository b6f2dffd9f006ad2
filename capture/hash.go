package capture

import (
	"math/bits"
	"net/netip"
)

// Hash returns a flow hash for sharding: equal for both directions of a
// connection (A and B may be given in either order), different tunnels
// give different values, and the output is fully mixed so that taking it
// modulo a small worker count spreads sequential ports evenly.
func (k FlowKey) Hash() uint64 {
	return flowHash(k.Tunnel, k.A.Addr(), k.A.Port(), k.B.Addr(), k.B.Port())
}

// Hash is the packet's flow hash, Key().Hash() without building the
// canonically ordered key: the hash orders the endpoints itself. The
// dispatcher calls it for every packet.
func (d *Decoded) Hash() uint64 {
	return flowHash(d.Tunnel, d.Src, d.SrcPort, d.Dst, d.DstPort)
}

func flowHash(tunnel uint64, a netip.Addr, ap uint16, b netip.Addr, bp uint16) uint64 {
	ha := endpointHash(a.As16(), ap)
	hb := endpointHash(b.As16(), bp)
	if ha > hb {
		ha, hb = hb, ha
	}
	return mix64(ha ^ bits.RotateLeft64(hb, 29)*0x9e3779b97f4a7c15 ^ mix64(tunnel+0x632be59bd9b4e019))
}

func endpointHash(a [16]byte, port uint16) uint64 {
	hi := uint64(a[0])<<56 | uint64(a[1])<<48 | uint64(a[2])<<40 | uint64(a[3])<<32 |
		uint64(a[4])<<24 | uint64(a[5])<<16 | uint64(a[6])<<8 | uint64(a[7])
	lo := uint64(a[8])<<56 | uint64(a[9])<<48 | uint64(a[10])<<40 | uint64(a[11])<<32 |
		uint64(a[12])<<24 | uint64(a[13])<<16 | uint64(a[14])<<8 | uint64(a[15])
	return mix64(mix64(mix64(hi^0x9e3779b97f4a7c15)^lo) + uint64(port))
}

// mix64 is the splitmix64/murmur3 finalizer: every input bit affects
// every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
