package capture

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

var fuzzLinkTypes = []uint16{LinkNull, LinkEthernet, LinkPPP, LinkRaw12, LinkRaw14, LinkPPPHDLC, LinkRaw, LinkCHDLC, LinkLoop, LinkLinuxSLL, LinkIPv4, LinkIPv6, LinkSLL2}

// FuzzDecode feeds arbitrary bytes under a chosen link type. Invariants:
// no panic, the stats add up, a decoded payload never exceeds the
// captured frame (or the largest reassembled datagram), and a snap cut is
// TCP's only and never more than the record lost.
func FuzzDecode(f *testing.F) {
	for _, tc := range decodeCases(f) {
		for i, lt := range fuzzLinkTypes {
			if lt == tc.lt {
				f.Add(uint8(i), tc.frame)
			}
		}
	}
	cfg := DefaultDecoderConfig()
	cfg.MaxFragments = 4
	cfg.MaxFragmentBytes = 1 << 17
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		d := NewDecoder(cfg)
		var out Decoded
		lt := fuzzLinkTypes[int(sel)%len(fuzzLinkTypes)]
		// Twice, with time moving, so a fragment held by the first call
		// can meet itself (overlap) and then time out.
		for i := 0; i < 3; i++ {
			// The selector's high bits say how much a snap length cut.
			p := Packet{Data: data, LinkType: lt, TS: time.Unix(int64(i*20), 0), OrigLen: len(data) + int(sel>>4)*97}
			if d.Decode(&p, &out) {
				if out.Proto != 6 && out.Proto != 17 {
					t.Fatalf("ok with proto %d", out.Proto)
				}
				if out.Cut < 0 || out.Cut > p.OrigLen-len(data) || out.Cut > 0 && out.Proto != 6 {
					t.Fatalf("Cut %d (proto %d) from a record cut by %d bytes", out.Cut, out.Proto, p.OrigLen-len(data))
				}
				if len(out.Payload) > len(data) && len(out.Payload) > maxDatagram {
					t.Fatalf("payload %d bytes from a %d-byte frame", len(out.Payload), len(data))
				}
			}
		}
		s := d.Stats()
		sum := s.Decoded + s.Truncated + s.UnknownLinkType + s.NonIP + s.OtherProto + s.Malformed + s.TooDeep + s.FragmentHeld + s.FragmentDropped
		if sum != s.Packets || s.Packets != 3 {
			t.Fatalf("stats don't add up: %+v", s)
		}
		if d.frag != nil && d.frag.inFlight() > cfg.MaxFragments {
			t.Fatalf("fragment cap broken: %d", d.frag.inFlight())
		}
	})
}

// FuzzFileSource reads arbitrary bytes as a capture file: no panic, and
// any error other than io.EOF is a *FileError naming the file.
func FuzzFileSource(f *testing.F) {
	pk := addPcapSeeds(f)
	f.Add(writeNg(f, pk, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw}))
	f.Add(gz(f, writePcap(f, pk, false)))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultFileConfig()
		cfg.Stdin = bytes.NewReader(data)
		s, err := OpenFiles([]string{"-"}, cfg)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || fe.Path != "stdin" {
				t.Fatalf("open error %T %v", err, err)
			}
			return
		}
		defer s.Close()
		var p Packet
		for i := uint64(1); ; i++ {
			err := s.Next(&p)
			if err == io.EOF {
				return
			}
			if err != nil {
				var fe *FileError
				if !errors.As(err, &fe) || fe.Packet != i-1 {
					t.Fatalf("error %T %v after %d packets", err, err, i-1)
				}
				return
			}
			if p.Index != i {
				t.Fatalf("index %d, want %d", p.Index, i)
			}
		}
	})
}

// addPcapSeeds adds three small classic pcaps (microsecond, nanosecond,
// big-endian) to a fuzz corpus and returns their packets.
func addPcapSeeds(f *testing.F) []testPkt {
	pk := mkPackets(3, LinkEthernet, time.Unix(1700000000, 0), time.Millisecond)
	f.Add(writePcap(f, pk, false))
	f.Add(writePcap(f, pk, true))
	f.Add(swapPcap(writePcap(f, pk, false)))
	return pk
}
