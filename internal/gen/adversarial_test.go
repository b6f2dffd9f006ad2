package gen

import (
	"bytes"
	"crypto/sha256"
	"io"
	"runtime"
	"testing"
)

func smallAdversarial() AdversarialConfig {
	cfg := DefaultAdversarialConfig()
	cfg.HalfOpen, cfg.StormConns, cfg.StormSegments = 3000, 40, 16
	cfg.BigBody = 3<<20 + 123 // not a multiple of the MSS
	return cfg
}

func genAdversarial(t testing.TB, cfg AdversarialConfig) ([]byte, Summary, []Transaction) {
	t.Helper()
	var truth []Transaction
	cfg.Truth = func(tx Transaction) { truth = append(truth, tx) }
	var buf bytes.Buffer
	sum, err := Adversarial(&buf, cfg)
	if err != nil {
		t.Fatalf("Adversarial: %v", err)
	}
	return buf.Bytes(), sum, truth
}

func TestAdversarial(t *testing.T) {
	for _, e := range []Encap{EncapNone, EncapERSPAN3} {
		t.Run(e.String(), func(t *testing.T) {
			cfg := smallAdversarial()
			cfg.Encap = e
			pcap, sum, truth := genAdversarial(t, cfg)
			frames := readFrames(t, pcap)
			checkFrames(t, cfg.Config, sum, frames)

			// Half-open: one SYN per distinct client, never answered.
			syns, answered := map[string]bool{}, 0
			var storm, rest []frame
			for _, f := range frames {
				switch {
				case f.dst == advHalfOpenSrv && f.tcp.SYN:
					syns[f.src.String()] = true
				case f.src == advHalfOpenSrv:
					answered++
				}
				if f.dst == advStormSrv || f.src == advStormSrv {
					storm = append(storm, f)
				} else {
					rest = append(rest, f)
				}
			}
			if len(syns) != cfg.HalfOpen || answered != 0 {
				t.Fatalf("%d half-open clients (want %d), %d answers (want 0)", len(syns), cfg.HalfOpen, answered)
			}
			checkStorm(t, cfg, storm)

			// Everything else reassembles in order and matches the truth.
			checkTruth(t, truth, reparse(t, rest), true)
			var big int
			for _, tx := range truth {
				if tx.RespBodyBytes == cfg.BigBody && tx.Status == 200 {
					big++
				}
			}
			if big != 1 || len(truth) != 1+cfg.HalfOpen/cfg.HalfOpenDataEvery {
				t.Fatalf("truth: %d big transactions, %d in all", big, len(truth))
			}
		})
	}
}

// checkStorm verifies every storm connection completes its handshake, then
// sends data out of order and never fills its holes.
func checkStorm(t *testing.T, cfg AdversarialConfig, frames []frame) {
	t.Helper()
	type st struct {
		isn      uint32
		last     uint32
		reorder  bool
		have     map[uint32]bool
		synAcked bool
	}
	conns := map[string]*st{}
	for _, f := range frames {
		if f.dst != advStormSrv {
			if f.tcp.SYN && f.tcp.ACK {
				conns[f.dst.String()].synAcked = true
			}
			continue
		}
		if f.tcp.SYN {
			conns[f.src.String()] = &st{isn: f.tcp.Seq, have: map[uint32]bool{}}
			continue
		}
		c := conns[f.src.String()]
		if len(f.payload) == 0 {
			continue
		}
		if f.tcp.Seq < c.last {
			c.reorder = true
		}
		c.last = f.tcp.Seq
		c.have[(f.tcp.Seq-c.isn-1)/mss] = true
	}
	if len(conns) != cfg.StormConns {
		t.Fatalf("%d storm connections, want %d", len(conns), cfg.StormConns)
	}
	for cli, c := range conns {
		if !c.synAcked || !c.reorder || c.have[0] || len(c.have) == 0 || len(c.have) >= cfg.StormSegments {
			t.Fatalf("storm conn %s: handshake %v, reordered %v, head present %v, %d of %d segments",
				cli, c.synAcked, c.reorder, c.have[0], len(c.have), cfg.StormSegments)
		}
	}
}

func TestAdversarialDeterministic(t *testing.T) {
	a, _, _ := genAdversarial(t, smallAdversarial())
	b, _, _ := genAdversarial(t, smallAdversarial())
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatal("same seed gave different bytes")
	}
}

// TestAdversarialBigBodyStreams proves the big body is generated on the fly:
// writing a 256 MiB body allocates a small fraction of it.
func TestAdversarialBigBodyStreams(t *testing.T) {
	cfg := DefaultAdversarialConfig()
	cfg.HalfOpen, cfg.StormConns, cfg.BigBody = 0, 0, 256<<20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sum, err := Adversarial(io.Discard, cfg)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Bytes < cfg.BigBody {
		t.Fatalf("wrote %d frame bytes for a %d-byte body", sum.Bytes, cfg.BigBody)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d frames, %d bytes, %d bytes allocated", sum.Packets, sum.Bytes, alloc)
	if alloc > uint64(cfg.BigBody/8) { // per-frame garbage is fine; holding the body is not
		t.Fatalf("allocated %d bytes for a %d-byte body: generation must stream", alloc, cfg.BigBody)
	}
}

// BenchmarkAdversarialBigBody measures the 1 GiB path per MiB of body.
func BenchmarkAdversarialBigBody(b *testing.B) {
	cfg := DefaultAdversarialConfig()
	cfg.HalfOpen, cfg.StormConns, cfg.BigBody = 0, 0, 64<<20
	b.ReportAllocs()
	b.SetBytes(cfg.BigBody)
	for b.Loop() {
		if _, err := Adversarial(io.Discard, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
