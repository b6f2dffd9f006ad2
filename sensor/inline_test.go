package sensor_test

import (
	"path/filepath"
	"testing"

	"github.com/apisensor/apisensor/internal/testcorpus"
	"github.com/apisensor/apisensor/sensor"
)

// TestInlineMatchesBatched runs every public corpus capture with one
// worker twice, inline and batched through goroutines: the four output
// files and every counter of the summary must be the same. (The corpus has
// gaps, evasions, several link types and truncated files; the API capture
// in TestDeterministicOutput adds idle-timeout ticks.)
func TestInlineMatchesBatched(t *testing.T) {
	dir := testcorpus.Suricata(t)
	pcaps, err := filepath.Glob(filepath.Join(dir, "*", "*.pcap"))
	if err != nil || len(pcaps) == 0 {
		t.Fatalf("no corpus pcaps under %s: %v", dir, err)
	}
	for _, pcap := range pcaps {
		var outs [2][]byte
		var sums [2]sensor.Summary
		for i, mode := range []sensor.InlineMode{sensor.InlineNever, sensor.InlineAlways} {
			cfg := testConfig()
			cfg.Files = []string{pcap}
			cfg.Workers = 1
			cfg.Inline = mode
			outs[i], sums[i] = runToFiles(t, cfg)
		}
		name := filepath.Base(filepath.Dir(pcap))
		if string(outs[0]) != string(outs[1]) {
			t.Errorf("%s: inline output differs from batched (%d vs %d bytes)", name, len(outs[1]), len(outs[0]))
		}
		if sums[0] != sums[1] {
			t.Errorf("%s: summaries differ:\nbatched %+v\ninline  %+v", name, sums[0], sums[1])
		}
	}
}
