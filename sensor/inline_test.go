package sensor_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/apisensor/apisensor/internal/testcorpus"
	"github.com/apisensor/apisensor/sensor"
	"github.com/apisensor/apisensor/storage"
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
			out := t.TempDir()
			sink, err := storage.NewFiles(storage.FilesConfig{Dir: out, BufferSize: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			s, err := sensor.New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			sums[i], err = s.Run(t.Context(), sink)
			if err != nil {
				t.Fatalf("%s: %v", pcap, err)
			}
			for _, f := range []string{storage.CallsFile, storage.EndpointsFile, storage.FindingsFile, storage.OpenAPIFile} {
				b, err := os.ReadFile(filepath.Join(out, f))
				if err != nil {
					t.Fatal(err)
				}
				outs[i] = append(outs[i], b...)
			}
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
