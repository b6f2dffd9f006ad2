package sensor_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apisensor/apisensor/discovery"
	"github.com/apisensor/apisensor/storage"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The demo capture through the whole pipeline, against the demo spec: the
// four output files must equal the golden copies (go test ./sensor -update
// rewrites them; review the diff).
func TestDemoGolden(t *testing.T) {
	cfg := testConfig()
	cfg.Files = []string{filepath.Join("..", "testdata", "demo", "demo.pcap")}
	spec, err := discovery.ParseSpecArg(filepath.Join("..", "testdata", "demo", "api.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Discovery.Specs = append(cfg.Discovery.Specs, spec)
	dir := t.TempDir()
	sink, err := storage.NewFiles(storage.FilesConfig{Dir: dir, BufferSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	runWith(t, cfg, sink)
	for _, name := range []string{storage.CallsFile, storage.EndpointsFile, storage.FindingsFile, storage.OpenAPIFile} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "demo."+name+".golden")
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./sensor -run DemoGolden -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s:\n%s", name, golden, lineDiff(string(want), string(got)))
		}
	}
}

// lineDiff shows the first differing lines, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)) && len(out) < 12; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			out = append(out, "line "+strconv.Itoa(i+1)+":\n  - "+wl+"\n  + "+gl)
		}
	}
	return strings.Join(out, "\n")
}
