package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/apisensor/apisensor/internal/gen"
)

// TestDemoFlagsReproduceCommittedFiles: the README's regeneration command
// (apisensor-gen -kind demo -o testdata/demo/demo.pcap -truth
// testdata/demo/demo.truth.jsonl) writes the committed files byte for byte.
func TestDemoFlagsReproduceCommittedFiles(t *testing.T) {
	dir := t.TempDir()
	pcap, truth := filepath.Join(dir, "demo.pcap"), filepath.Join(dir, "demo.truth.jsonl")
	var log bytes.Buffer
	if err := run([]string{"-kind", "demo", "-o", pcap, "-truth", truth}, &log); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, name := range []string{"demo.pcap", "demo.truth.jsonl"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s from the CLI differs from the committed file", name)
		}
	}
}

func TestAPIFlags(t *testing.T) {
	dir := t.TempDir()
	pcap, truth := filepath.Join(dir, "api.pcap"), filepath.Join(dir, "api.jsonl")
	args := []string{"-kind", "api", "-packets", "2000", "-seed", "9", "-encap", "geneve",
		"-tunnel-id", "77", "-dup-tunnel-id", "78", "-o", pcap, "-truth", truth}
	var log bytes.Buffer
	if err := run(args, &log); err != nil {
		t.Fatalf("run: %v", err)
	}
	f, err := os.Open(truth)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	txs, err := gen.ReadTruth(f)
	if err != nil {
		t.Fatal(err)
	}
	tunnels := map[uint32]int{}
	for _, tx := range txs {
		tunnels[tx.Tunnel]++
	}
	if len(txs) == 0 || tunnels[77] != tunnels[78] || tunnels[77]*2 != len(txs) {
		t.Fatalf("truth per tunnel %v of %d", tunnels, len(txs))
	}
	// Same flags, same bytes.
	pcap2 := filepath.Join(dir, "api2.pcap")
	args[len(args)-3] = pcap2
	if err := run(args, &log); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(pcap)
	b, _ := os.ReadFile(pcap2)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("two runs with the same flags differ (%d vs %d bytes)", len(a), len(b))
	}
}

func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"-kind", "api"}, // no -o
		{"-kind", "nope", "-o", filepath.Join(dir, "x")},
		{"-kind", "api", "-encap", "ipsec", "-o", filepath.Join(dir, "x")},
		{"-kind", "api", "-packets", "0", "-o", filepath.Join(dir, "x")},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
