package capture

import (
	"encoding/binary"
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
	// The sum of the two endpoint hashes does not depend on their order.
	// One 64x64->128 multiply per step (wyhash's mum) instead of seven
	// splitmix finalizers: BenchmarkDecodedHash 47 -> 23 ns; the
	// dispatcher pays it on every packet with more than one worker.
	return mum(endpointHash(a, ap)+endpointHash(b, bp)^0xa0761d6478bd642f, tunnel^0xe7037ed1a0b428db)
}

func endpointHash(a netip.Addr, port uint16) uint64 {
	b := a.As16()
	hi := binary.LittleEndian.Uint64(b[:8])
	lo := binary.LittleEndian.Uint64(b[8:])
	// The port goes with the interface-ID half, which a client picks: with
	// it in the other factor, an interface ID equal to the constant made the
	// product 0 for every port, and all that client's flows one shard's.
	return mum(hi^0x8ebc6af09c88c6e3, lo^uint64(port)^0x589965cc75374cc3)
}

// mum folds the 128-bit product of a and b.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
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
