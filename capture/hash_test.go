package capture

import (
	"net/netip"
	"testing"
)

func TestFlowKeyHashSymmetric(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:40000")
	b := netip.MustParseAddrPort("10.0.0.2:80")
	k1 := FlowKey{Tunnel: 7, A: a, B: b}
	k2 := FlowKey{Tunnel: 7, A: b, B: a}
	if k1.Hash() != k2.Hash() {
		t.Fatal("hash depends on direction")
	}
	if (FlowKey{Tunnel: 8, A: a, B: b}).Hash() == k1.Hash() {
		t.Fatal("tunnel ignored")
	}
	// Swapping only the ports is another flow.
	if (FlowKey{Tunnel: 7, A: netip.AddrPortFrom(a.Addr(), 80), B: netip.AddrPortFrom(b.Addr(), 40000)}).Hash() == k1.Hash() {
		t.Fatal("ports swapped between hosts collide")
	}
	// Same endpoints on both sides must not cancel out to a constant.
	if (FlowKey{A: a, B: a}).Hash() == (FlowKey{A: b, B: b}).Hash() {
		t.Fatal("self-flows collide")
	}
}

// TestFlowKeyHashSpread: sequential client ports to one server spread
// evenly over shard counts typical for workers, for IPv4 and IPv6.
func TestFlowKeyHashSpread(t *testing.T) {
	for _, c := range []struct{ srv, client string }{
		{"192.168.1.10:443", "192.168.1.77"},
		{"[2001:db8::10]:443", "2001:db8::77"},
		// An interface ID equal to endpointHash's constant (little
		// endian), which a client may choose: it must spread like any.
		{"[2001:db8::10]:443", "2001:db8::c34c:3775:cc65:9958"},
	} {
		srv := c.srv
		server := netip.MustParseAddrPort(srv)
		client := netip.MustParseAddr(c.client)
		for _, shards := range []int{2, 3, 8, 64} {
			counts := make([]int, shards)
			n := 64000
			for p := 0; p < n; p++ {
				k := FlowKey{A: netip.AddrPortFrom(client, uint16(1024+p)), B: server}
				counts[k.Hash()%uint64(shards)]++
			}
			mean := n / shards
			for i, c := range counts {
				if c < mean*85/100 || c > mean*115/100 {
					t.Fatalf("%s shards=%d: shard %d has %d, mean %d", srv, shards, i, c, mean)
				}
			}
		}
	}
}

// Decoded.Hash is the hash of the packet's flow key, in both directions.
func TestDecodedHashIsKeyHash(t *testing.T) {
	addrs := []string{"10.0.0.1", "10.0.0.2", "2001:db8::1", "2001:db8::2"}
	for i, sa := range addrs {
		for j, da := range addrs {
			d := Decoded{Tunnel: uint64(i * j), Src: netip.MustParseAddr(sa), Dst: netip.MustParseAddr(da),
				SrcPort: uint16(40000 + i), DstPort: uint16(80 + j)}
			k, _ := d.Key()
			if d.Hash() != k.Hash() {
				t.Fatalf("%s -> %s: Decoded.Hash %x, Key().Hash %x", sa, da, d.Hash(), k.Hash())
			}
		}
	}
}
