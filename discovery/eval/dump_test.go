package eval

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apisensor/apisensor/discovery"
)

// TestDump prints every missed and extra template of the specs named by
// APISENSOR_EVAL_DUMP (comma-separated): the tool for diagnosing a score.
func TestDump(t *testing.T) {
	dir, only := os.Getenv("APISENSOR_OPENAPI_DIR"), os.Getenv("APISENSOR_EVAL_DUMP")
	if dir == "" || only == "" {
		t.Skip("set APISENSOR_OPENAPI_DIR and APISENSOR_EVAL_DUMP=spec[,spec]")
	}
	for _, name := range strings.Split(only, ",") {
		doc, err := discovery.LoadSpecFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s, err := Evaluate(doc, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: ops=%d inferred=%d P=%.3f R=%.3f F1=%.3f", name, s.Ops, s.Inferred, s.P, s.R, s.F1)
		for _, m := range s.Missed {
			t.Logf("  missed %s", m)
		}
		for _, e := range s.Extra {
			t.Logf("  extra  %s", e)
		}
	}
}
