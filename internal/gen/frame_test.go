package gen

import (
	"io"
	"net/netip"
	"testing"
)

// BenchmarkFrameWrite is the cost of one gopacket-serialized frame (full MSS
// payload, checksums computed) written as a pcap record: the number that
// decides whether hand-built frames would be worth it.
func BenchmarkFrameWrite(b *testing.B) {
	for _, e := range []Encap{EncapNone, EncapVXLAN, EncapERSPAN3} {
		b.Run(e.String(), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Encap = e
			fw, err := newFrameWriter(io.Discard, &cfg)
			if err != nil {
				b.Fatal(err)
			}
			s := seg{src: netip.MustParseAddrPort("10.0.0.1:40000"), dst: netip.MustParseAddrPort("10.0.0.2:80"),
				flags: flagACK | flagPSH, win: window, payload: pattern[:mss]}
			b.ReportAllocs()
			b.SetBytes(mss)
			for b.Loop() {
				s.ts += segGap
				s.seq += mss
				if err := fw.write(&s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
