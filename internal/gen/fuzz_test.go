package gen

import (
	"testing"
)

// FuzzGenerators draws a generator, seed, encapsulation and size, and holds
// every capture to the same invariants as the table tests: it parses with
// gopacket, has the summary's frame count and the encapsulation's layers,
// and an independent reassembly + net/http parse agrees with the ground
// truth.
func FuzzGenerators(f *testing.F) {
	f.Add(uint8(0), uint64(1), uint8(0), uint16(500), uint8(8), false)
	f.Add(uint8(1), uint64(2), uint8(3), uint16(0), uint8(0), true)
	f.Add(uint8(2), uint64(3), uint8(7), uint16(300), uint8(5), false)
	f.Fuzz(func(t *testing.T, kind uint8, seed uint64, encap uint8, size uint16, clients uint8, dup bool) {
		base := DefaultConfig()
		base.Seed = seed
		base.Encap = Encap(encap % uint8(len(encapNames)))
		base.TunnelID = 1 + uint32(seed%1000)
		if dup && base.Encap != EncapNone {
			base.DupTunnelID = base.TunnelID + 1
		}
		switch kind % 3 {
		case 0:
			cfg := DefaultAPIConfig()
			cfg.Config = base
			cfg.Packets = 1 + int64(size%3000)
			cfg.Clients = 1 + int(clients%80)
			cfg.Subjects = 1 + int(size%40)
			cfg.ConnRequestsMin, cfg.ConnRequestsMax = 1, 1+int(clients%50)
			pcap, sum, truth := genAPI(t, cfg)
			frames := readFrames(t, pcap)
			checkFrames(t, cfg.Config, sum, frames)
			if sum.Packets < cfg.Packets {
				t.Fatalf("%d packets, want at least %d", sum.Packets, cfg.Packets)
			}
			checkTruth(t, truth, reparse(t, frames), true)
		case 1:
			cfg := DefaultDemoConfig()
			cfg.Config = base
			cfg.Users, cfg.CallsPerUser, cfg.Enumerate = 1+int(clients%10), 1+int(size%20), 1+int(size%150)
			pcap, sum, truth := genDemo(t, cfg)
			frames := readFrames(t, pcap)
			checkFrames(t, cfg.Config, sum, frames)
			checkTruth(t, truth, reparse(t, frames), true)
		default:
			cfg := DefaultAdversarialConfig()
			cfg.Config = base
			cfg.HalfOpen, cfg.HalfOpenDataEvery = int(size%500), int(clients%4)
			cfg.StormConns, cfg.StormSegments, cfg.StormHoleEvery = int(clients%20), 2+int(size%20), 2+int(seed%5)
			cfg.BigBody = int64(size) * 37
			pcap, sum, truth := genAdversarial(t, cfg)
			frames := readFrames(t, pcap)
			checkFrames(t, cfg.Config, sum, frames)
			var rest []frame
			for _, f := range frames {
				if f.src != advStormSrv && f.dst != advStormSrv {
					rest = append(rest, f)
				}
			}
			checkTruth(t, truth, reparse(t, rest), true)
		}
	})
}
