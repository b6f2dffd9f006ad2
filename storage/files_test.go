package storage

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteEncodedMatchesWriteCall: a line encoded before discovery (no
// template) and completed by WriteEncoded after it is byte-identical to
// what WriteCall writes for the finished call, for random calls and
// templates that need escaping.
func TestWriteEncodedMatchesWriteCall(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	templates := []string{"", "/users/{id}", `/a"b/{x}`, "/\u2028/{id}", "/caf\xc3\xa9/\xff/{id}", `/\/{id}`}
	dir := t.TempDir()
	write := func(name string, fn func(f *Files)) []byte {
		f, err := NewFiles(FilesConfig{Dir: filepath.Join(dir, name), BufferSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		fn(f)
		if err := f.Finish(nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, name, CallsFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i := 0; i < 300; i++ {
		c := randomCall(r)
		c.Template = ""
		tmpl := templates[i%len(templates)]
		var line []byte
		a := write("a", func(f *Files) {
			line = f.EncodeCall(nil, c)
			c.Template = tmpl // what discovery does after the worker encoded
			if err := f.WriteEncoded(c, line); err != nil {
				t.Fatal(err)
			}
		})
		b := write("b", func(f *Files) {
			if err := f.WriteCall(c); err != nil {
				t.Fatal(err)
			}
		})
		if !bytes.Equal(a, b) {
			t.Fatalf("call %d, template %q:\nencoded+spliced %s\nwritten         %s", i, tmpl, a, b)
		}
	}
}

// A run with no OpenAPI document (stopped before discovery) leaves no
// openapi.json: not an empty file, which is not JSON, and not the one an
// earlier run left in the directory.
func TestFinishWithoutOpenAPI(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, OpenAPIFile)
	if err := os.WriteFile(stale, []byte(`{"openapi":"3.0.3"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := NewFiles(FilesConfig{Dir: dir, BufferSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Finish(nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("openapi.json after a run without discovery: stat error %v, want not-exist", err)
	}
	for _, name := range []string{CallsFile, EndpointsFile, FindingsFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
