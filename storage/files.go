package storage

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/apisensor/apisensor/model"
)

// File names written under --out DIR. They are part of the CLI contract.
const (
	CallsFile     = "calls.jsonl"
	EndpointsFile = "endpoints.json"
	FindingsFile  = "findings.jsonl"
	OpenAPIFile   = "openapi.json"
)

// FilesConfig configures the file sink.
type FilesConfig struct {
	// Dir receives the four output files; "-" writes calls.jsonl to Stdout
	// and skips the other files.
	Dir string
	// Stdout is where calls go when Dir is "-" (os.Stdout when nil).
	Stdout io.Writer
	// BufferSize of the calls writer: 64 KiB, so that one write(2) stays
	// within a sysmon tick (see capture.FileConfig.ReadBufferKB).
	BufferSize int
}

// DefaultFilesConfig writes into ./out.
func DefaultFilesConfig() FilesConfig {
	return FilesConfig{Dir: "out", BufferSize: 64 << 10}
}

// Validate reports a config that cannot work.
func (c FilesConfig) Validate() error {
	if c.Dir == "" {
		return errors.New("storage: output directory is empty (use --out DIR or --out -)")
	}
	if c.BufferSize < 4096 {
		return fmt.Errorf("storage: buffer size %d is below 4096", c.BufferSize)
	}
	return nil
}

// Files is the default sink: JSON files in a directory.
type Files struct {
	cfg   FilesConfig
	calls *os.File // nil when writing to Stdout
	w     *bufio.Writer
	line  []byte
}

// NewFiles creates the output directory and opens calls.jsonl for writing.
func NewFiles(cfg FilesConfig) (*Files, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Files{cfg: cfg, line: make([]byte, 0, 1024)}
	if cfg.Dir == "-" {
		out := cfg.Stdout
		if out == nil {
			out = os.Stdout
		}
		f.w = bufio.NewWriterSize(out, cfg.BufferSize)
		return f, nil
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	path := filepath.Join(cfg.Dir, CallsFile)
	fh, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	f.calls = fh
	f.w = bufio.NewWriterSize(fh, cfg.BufferSize)
	return f, nil
}

// WriteCall appends one line to calls.jsonl.
func (f *Files) WriteCall(c *model.Call) error {
	f.line = f.EncodeCall(f.line[:0], c)
	if _, err := f.w.Write(f.line); err != nil {
		return fmt.Errorf("write %s: %w", f.callsName(), err)
	}
	return nil
}

// EncodeCall appends c's calls.jsonl line, newline included, to dst. It
// touches no sink state, so the sensor's workers call it in parallel and
// hand the line to WriteEncoded: with two workers the single output
// goroutine was the bottleneck, and encoding was most of its work.
func (f *Files) EncodeCall(dst []byte, c *model.Call) []byte {
	return append(AppendCallJSON(dst, c), '\n')
}

// templateEmpty is how EncodeCall writes a call with no template yet. The
// fields before it are JSON strings, in which a raw quote cannot occur, so
// the first match is the field itself.
var templateEmpty = []byte(`,"template":""`)

// WriteEncoded writes a line made by EncodeCall for c. Discovery may have
// set c.Template since: the line then gets it spliced in, and comes out
// byte-identical to what WriteCall writes.
func (f *Files) WriteEncoded(c *model.Call, line []byte) error {
	if c.Template != "" {
		i := bytes.Index(line, templateEmpty)
		if i < 0 {
			return f.WriteCall(c) // not a line of EncodeCall's: encode afresh
		}
		// Written in three pieces rather than assembled first: the
		// buffered writer copies once either way. Its errors are sticky,
		// so the last Write reports a failure of any of them.
		k := i + len(templateEmpty) - 1 // the closing quote
		f.w.Write(line[:k])
		f.line = appendEscaped(f.line[:0], c.Template)
		f.w.Write(f.line)
		line = line[k:]
	}
	if _, err := f.w.Write(line); err != nil {
		return fmt.Errorf("write %s: %w", f.callsName(), err)
	}
	return nil
}

func (f *Files) callsName() string {
	if f.calls == nil {
		return "stdout"
	}
	return f.calls.Name()
}

// Finish flushes calls.jsonl and writes the end-of-run files. Every file is
// written even when an earlier one failed; the first error is returned.
// With no OpenAPI document (a run stopped before discovery) there is no
// openapi.json, and one left by an earlier run is removed: an empty file
// would not be JSON, and a stale one would not describe this run.
func (f *Files) Finish(endpoints []model.Endpoint, findings []model.Finding, openapi []byte) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if err := f.w.Flush(); err != nil {
		keep(fmt.Errorf("write %s: %w", f.callsName(), err))
	}
	if f.calls != nil {
		keep(f.calls.Close())
	}
	if f.cfg.Dir == "-" {
		return first
	}
	keep(writeFileAtomic(filepath.Join(f.cfg.Dir, EndpointsFile), func(w io.Writer) error {
		if endpoints == nil {
			endpoints = []model.Endpoint{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(endpoints)
	}))
	keep(writeFileAtomic(filepath.Join(f.cfg.Dir, FindingsFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for i := range findings {
			if err := enc.Encode(&findings[i]); err != nil {
				return err
			}
		}
		return nil
	}))
	oapi := filepath.Join(f.cfg.Dir, OpenAPIFile)
	if len(openapi) == 0 {
		if err := os.Remove(oapi); err != nil && !errors.Is(err, fs.ErrNotExist) {
			keep(fmt.Errorf("remove stale %s: %w", oapi, err))
		}
		return first
	}
	keep(writeFileAtomic(oapi, func(w io.Writer) error {
		_, err := w.Write(bytes.TrimRight(openapi, "\n"))
		if err == nil {
			_, err = w.Write([]byte{'\n'})
		}
		return err
	}))
	return first
}

// writeFileAtomic writes through a temporary file and renames it, so a
// reader (or a crash) never sees half a file.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	fh, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	bw := bufio.NewWriter(fh)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return nil
}
