// Package testcorpus finds the public conformance corpus for tests: the
// suricata-verify captures in ../shared/corpus beside the repository (see
// its INDEX.md). The corpus is read in place, never copied into the repo.
package testcorpus

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Suricata returns the directory holding one folder per suricata-verify
// case (input pcap + expected.json). It skips the test, saying where it
// looked, when the corpus is not there.
func Suricata(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testcorpus: cannot locate the repository")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "corpus", "suricata")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("public test corpus not present at %s (it lives in ../shared beside the repository): %v", dir, err)
	}
	return dir
}
