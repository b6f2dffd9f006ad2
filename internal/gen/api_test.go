package gen

import (
	"bytes"
	"crypto/sha256"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// wantEncap lists the layers gopacket must find in front of the inner IPv4
// header for each encapsulation.
var wantEncap = map[Encap][]gopacket.LayerType{
	EncapNone:    {layers.LayerTypeEthernet},
	EncapVLAN:    {layers.LayerTypeEthernet, layers.LayerTypeDot1Q},
	EncapQinQ:    {layers.LayerTypeEthernet, layers.LayerTypeDot1Q, layers.LayerTypeDot1Q},
	EncapMPLS:    {layers.LayerTypeEthernet, layers.LayerTypeMPLS},
	EncapVXLAN:   {layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeUDP, layers.LayerTypeVXLAN, layers.LayerTypeEthernet},
	EncapGeneve:  {layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeUDP, layers.LayerTypeGeneve, layers.LayerTypeEthernet},
	EncapGRE:     {layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeGRE},
	EncapERSPAN2: {layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeGRE, layers.LayerTypeERSPANII, layers.LayerTypeEthernet},
	EncapERSPAN3: {layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeGRE, layers.LayerTypeEthernet},
}

func genAPI(t testing.TB, cfg APIConfig) ([]byte, Summary, []Transaction) {
	t.Helper()
	var truth []Transaction
	cfg.Truth = func(tx Transaction) { truth = append(truth, tx) }
	var buf bytes.Buffer
	sum, err := API(&buf, cfg)
	if err != nil {
		t.Fatalf("API: %v", err)
	}
	return buf.Bytes(), sum, truth
}

// checkFrames holds the decoded frames against the summary and the
// encapsulation: count, layers, tunnel ids, time order.
func checkFrames(t *testing.T, cfg Config, sum Summary, frames []frame) {
	t.Helper()
	if int64(len(frames)) != sum.Packets {
		t.Fatalf("pcap holds %d frames, summary says %d", len(frames), sum.Packets)
	}
	if len(frames) == 0 {
		return // an adversarial capture with every part scaled to 0
	}
	tunnels := map[uint32]int{}
	for i, f := range frames {
		if !slices.Equal(f.encap, wantEncap[cfg.Encap]) {
			t.Fatalf("frame %d: layers %v, want %v", i+1, f.encap, wantEncap[cfg.Encap])
		}
		if i > 0 && f.ts.Before(frames[i-1].ts) {
			t.Fatalf("frame %d: timestamp %v before previous %v", i+1, f.ts, frames[i-1].ts)
		}
		tunnels[f.tunnel]++
	}
	want := map[uint32]int{}
	switch {
	case cfg.Encap == EncapNone:
		want[0] = len(frames)
	case cfg.DupTunnelID != 0:
		want[cfg.TunnelID], want[cfg.DupTunnelID] = len(frames)/2, len(frames)/2
	default:
		want[cfg.TunnelID] = len(frames)
	}
	for id, n := range want {
		if tunnels[id] != n || len(tunnels) != len(want) {
			t.Fatalf("frames per tunnel %v, want %v", tunnels, want)
		}
	}
}

func TestAPIEveryEncapMatchesGroundTruth(t *testing.T) {
	for e := EncapNone; e <= EncapMPLS; e++ {
		t.Run(e.String(), func(t *testing.T) {
			cfg := DefaultAPIConfig()
			cfg.Packets = 4000
			cfg.Encap = e
			cfg.Seed = uint64(e) + 7
			pcap, sum, truth := genAPI(t, cfg)
			frames := readFrames(t, pcap)
			checkFrames(t, cfg.Config, sum, frames)
			if int64(len(truth)) != sum.Transactions || len(truth) == 0 {
				t.Fatalf("truth has %d transactions, summary %d", len(truth), sum.Transactions)
			}
			checkTruth(t, truth, reparse(t, frames), true)
		})
	}
}

func TestAPIDupTunnelCarriesSameTuplesTwice(t *testing.T) {
	for _, e := range []Encap{EncapVXLAN, EncapGeneve, EncapVLAN} {
		t.Run(e.String(), func(t *testing.T) {
			cfg := DefaultAPIConfig()
			cfg.Packets = 3000
			cfg.Encap, cfg.TunnelID, cfg.DupTunnelID = e, 42, 43
			pcap, sum, truth := genAPI(t, cfg)
			frames := readFrames(t, pcap)
			checkFrames(t, cfg.Config, sum, frames)
			if int64(len(truth)) != 2*sum.Transactions {
				t.Fatalf("truth has %d records for %d transactions, want one per tunnel", len(truth), sum.Transactions)
			}
			parsed := reparse(t, frames)
			checkTruth(t, truth, parsed, true)
			// Every (src, dst, ts) appears once in each tunnel.
			per := map[uint32][]Transaction{}
			for _, tx := range parsed {
				per[tx.Tunnel] = append(per[tx.Tunnel], tx)
			}
			a, b := per[42], per[43]
			if len(a) != len(b) || len(a) == 0 {
				t.Fatalf("tunnel 42 has %d transactions, 43 has %d", len(a), len(b))
			}
			for i := range a {
				b[i].Tunnel = a[i].Tunnel
				if !sameTx(a[i], b[i]) {
					t.Fatalf("transaction %d differs between tunnels: %+v vs %+v", i, a[i], b[i])
				}
			}
		})
	}
}

func TestAPIShape(t *testing.T) {
	cfg := DefaultAPIConfig()
	cfg.Packets = 30000
	pcap, sum, truth := genAPI(t, cfg)
	frames := readFrames(t, pcap)
	checkFrames(t, cfg.Config, sum, frames)

	var syn, fin, pureAck int
	clients := map[string]bool{}
	for _, f := range frames {
		if f.tcp.SYN && !f.tcp.ACK {
			syn++
			clients[f.src.String()] = true
		}
		if f.tcp.FIN {
			fin++
		}
		if f.tcp.ACK && !f.tcp.SYN && !f.tcp.FIN && len(f.payload) == 0 {
			pureAck++
		}
	}
	if syn != sum.Connections || fin != 2*syn {
		t.Fatalf("%d SYNs, %d FINs for %d connections: every connection must open and close", syn, fin, sum.Connections)
	}
	if syn <= cfg.Clients {
		t.Fatalf("%d connections for %d client slots: some must close and reopen midway", syn, cfg.Clients)
	}
	if len(clients) != syn {
		t.Fatalf("%d distinct client ip:ports for %d connections", len(clients), syn)
	}
	if pureAck == 0 {
		t.Fatal("no pure ACKs")
	}
	var chunked, multi int
	subjects, statuses := map[string]bool{}, map[uint16]int{}
	for _, tx := range truth {
		if tx.Chunked {
			chunked++
		}
		if tx.RespSegments > 1 {
			multi++
		}
		subjects[tx.Principal] = true
		statuses[tx.Status]++
	}
	n := len(truth)
	t.Logf("%d packets, %d transactions (%.2f packets/call), %d chunked, %d multi-segment, statuses %v",
		len(frames), n, float64(len(frames))/float64(n), chunked, multi, statuses)
	if chunked < n/20 || chunked > n/5 {
		t.Errorf("%d of %d responses chunked, want about 10%%", chunked, n)
	}
	if multi < n/20 || multi > n/5 {
		t.Errorf("%d of %d responses span several segments, want about 10%%", multi, n)
	}
	for _, s := range []uint16{200, 201, 204, 304, 404} {
		if statuses[s] == 0 {
			t.Errorf("no %d responses", s)
		}
	}
	if len(subjects) < cfg.Subjects {
		t.Errorf("%d principals, want at least the %d JWT subjects", len(subjects), cfg.Subjects)
	}
}

func TestAPIDeterministic(t *testing.T) {
	cfg := DefaultAPIConfig()
	cfg.Packets = 5000
	cfg.Encap = EncapVXLAN
	a, _, _ := genAPI(t, cfg)
	b, _, _ := genAPI(t, cfg)
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatal("same seed gave different bytes")
	}
	cfg.Seed++
	c, _, _ := genAPI(t, cfg)
	if sha256.Sum256(a) == sha256.Sum256(c) {
		t.Fatal("different seeds gave the same bytes")
	}
}

func TestAPINanosecondPcap(t *testing.T) {
	cfg := DefaultAPIConfig()
	cfg.Packets = 2000
	us, _, _ := genAPI(t, cfg)
	cfg.Nanos = true
	ns, _, _ := genAPI(t, cfg)
	fu, fn := readFrames(t, us), readFrames(t, ns)
	if len(fu) != len(fn) {
		t.Fatalf("µs pcap %d frames, ns pcap %d", len(fu), len(fn))
	}
	for i := range fu {
		if !fu[i].ts.Equal(fn[i].ts.Truncate(time.Microsecond)) {
			t.Fatalf("frame %d: µs %v, ns %v", i+1, fu[i].ts, fn[i].ts)
		}
	}
	if bytes.Equal(us[:4], ns[:4]) {
		t.Fatal("nanosecond pcap has the microsecond magic")
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []func(*APIConfig){
		func(c *APIConfig) { c.Packets = 0 },
		func(c *APIConfig) { c.Clients = 0 },
		func(c *APIConfig) { c.Encap = EncapVLAN; c.TunnelID = 5000 },
		func(c *APIConfig) { c.Encap = EncapERSPAN2; c.TunnelID = 1024 },
		func(c *APIConfig) { c.DupTunnelID = 7 }, // no encapsulation
		func(c *APIConfig) { c.Encap = EncapVXLAN; c.DupTunnelID = c.TunnelID },
		func(c *APIConfig) { c.Encap = Encap(99) },
		func(c *APIConfig) { c.ConnRequestsMax = c.ConnRequestsMin - 1 },
	}
	for i, mod := range bad {
		cfg := DefaultAPIConfig()
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("case %d: Validate accepted %+v", i, cfg)
		}
		if _, err := API(io.Discard, cfg); err == nil {
			t.Errorf("case %d: API accepted an invalid config", i)
		}
	}
	def := DefaultAPIConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for e := EncapNone; e <= EncapMPLS; e++ {
		got, err := ParseEncap(e.String())
		if err != nil || got != e {
			t.Errorf("ParseEncap(%q) = %v, %v", e.String(), got, err)
		}
	}
}

// BenchmarkAPI measures generation speed per frame (to io.Discard).
func BenchmarkAPI(b *testing.B) {
	for _, e := range []Encap{EncapNone, EncapVXLAN} {
		b.Run(e.String(), func(b *testing.B) {
			cfg := DefaultAPIConfig()
			cfg.Packets = 100_000
			cfg.Encap = e
			b.ReportAllocs()
			var pk int64
			for b.Loop() {
				s, err := API(io.Discard, cfg)
				if err != nil {
					b.Fatal(err)
				}
				pk += s.Packets
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pk), "ns/frame")
		})
	}
}
