package capture

import (
	"reflect"
	"slices"
	"testing"
)

// ethernetView puts the network layer NetworkLayer finds behind a 14-byte
// Ethernet header with its EtherType, as the file filter does.
func ethernetView(t *testing.T, lt uint16, frame []byte) []byte {
	t.Helper()
	et, off, ok := NetworkLayer(lt, frame)
	if !ok {
		t.Fatalf("link type %d: no network layer in % x", lt, frame[:min(len(frame), 24)])
	}
	return slices.Concat(make([]byte, 12), []byte{byte(et >> 8), byte(et)}, frame[off:])
}

// Every decoder test frame, seen through NetworkLayer as an Ethernet frame,
// decodes to exactly what the frame itself decodes to: NetworkLayer reads
// each link header the way the decoder does.
func TestNetworkLayerMatchesDecoder(t *testing.T) {
	seen := map[uint16]bool{}
	for _, tc := range decodeCases(t) {
		var direct, viaEth Decoded
		d := NewDecoder(DefaultDecoderConfig())
		if !d.Decode(&Packet{Data: tc.frame, LinkType: tc.lt}, &direct) {
			t.Fatalf("%s: does not decode", tc.name)
		}
		eth := ethernetView(t, tc.lt, tc.frame)
		if tc.lt == LinkEthernet && !slices.Equal(eth[12:], tc.frame[12:]) {
			t.Fatalf("%s: an Ethernet frame is not reported as it is", tc.name)
		}
		if !NewDecoder(DefaultDecoderConfig()).Decode(&Packet{Data: eth, LinkType: LinkEthernet}, &viaEth) {
			t.Fatalf("%s: the Ethernet view does not decode", tc.name)
		}
		if !reflect.DeepEqual(direct, viaEth) {
			t.Fatalf("%s: decoded %+v, through the Ethernet view %+v", tc.name, direct, viaEth)
		}
		seen[tc.lt] = true
	}
	for _, lt := range fuzzLinkTypes {
		if !seen[lt] {
			t.Errorf("link type %d has no decoder test frame", lt)
		}
	}
	// Frames it cannot place.
	for _, c := range []struct {
		lt    uint16
		frame []byte
	}{
		{LinkEthernet, make([]byte, 13)}, {LinkLinuxSLL, make([]byte, 15)}, {LinkSLL2, make([]byte, 19)},
		{LinkRaw, nil}, {LinkRaw, []byte{0x50}}, {LinkNull, []byte{7, 0, 0, 0}}, {LinkLoop, []byte{0, 0, 0}},
		{LinkPPP, []byte{0xff, 0x03}}, {LinkPPP, []byte{0xc0, 0x21, 1}}, {LinkCHDLC, []byte{0x0f, 0}},
		{147, make([]byte, 64)},
	} {
		if et, off, ok := NetworkLayer(c.lt, c.frame); ok {
			t.Errorf("link type %d, % x: placed at %d as %#04x", c.lt, c.frame, off, et)
		}
	}
}
