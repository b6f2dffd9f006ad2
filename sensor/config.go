package sensor

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/apisensor/apisensor/capture"
	"github.com/apisensor/apisensor/capture/reassembly"
	"github.com/apisensor/apisensor/discovery"
	"github.com/apisensor/apisensor/parser"
)

// Stage is where a run stops; everything after it is skipped. Used by the
// benchmarks (decode-only reference) and for triage.
type Stage uint8

const (
	StageAll        Stage = iota // the full pipeline
	StageDecode                  // read and decode packets only
	StageReassemble              // + TCP reassembly
	StageParse                   // + HTTP parsing: calls.jsonl, no discovery
)

// ParseStage maps the --stop-after words.
func ParseStage(s string) (Stage, error) {
	switch s {
	case "", "all", "none":
		return StageAll, nil
	case "decode":
		return StageDecode, nil
	case "reassemble", "reassembly":
		return StageReassemble, nil
	case "parse":
		return StageParse, nil
	}
	return 0, fmt.Errorf("unknown stage %q (want decode, reassemble, parse)", s)
}

// Config is everything a run needs. cmd/apisensor builds it from flags and
// the config file; nothing in here reads the environment.
type Config struct {
	Files []string            // pcap/pcapng files in order; "-" is stdin
	Live  *capture.LiveConfig // live capture instead of files
	File  capture.FileConfig  // file reading options
	// FileFilter is a tcpdump-syntax BPF expression applied to packets read
	// from files (live capture applies Live.Filter in the kernel).
	FileFilter string
	Dec        capture.DecoderConfig

	Workers    int           // flow-sharded workers; default: GOMAXPROCS (the CPUs the process may use, cgroup quota included)
	BatchSize  int           // packets a dispatch batch holds
	QueueDepth int           // batches queued per worker
	TickEvery  time.Duration // packet time between idle-timeout sweeps
	// Inline decides whether one worker reading files runs in the reader's
	// goroutine (no batches handed between goroutines, no payload copy):
	// InlineAuto does so when the process has one CPU (GOMAXPROCS 1),
	// where the hand-offs buy no parallelism. Output is the same either way.
	Inline InlineMode

	Reassembly reassembly.Config
	// Parser's RecycleStrings and SkipBodies are set by Run: on exactly
	// when discovery is off (StopAfter StageParse), as nothing then reads
	// a Call's strings past the sink or its body bytes at all.
	Parser    parser.Config
	Discovery discovery.Config

	StopAfter Stage
}

// InlineMode is Config.Inline.
type InlineMode int8

const (
	InlineAuto   InlineMode = iota // inline with one worker on one CPU
	InlineAlways                   // inline whenever one worker reads files
	InlineNever                    // always batch through goroutines
)

// DefaultConfig is a sane single-node setup.
func DefaultConfig() Config {
	return Config{
		File:       capture.DefaultFileConfig(),
		Dec:        capture.DefaultDecoderConfig(),
		Workers:    runtime.GOMAXPROCS(0),
		BatchSize:  512,
		QueueDepth: 8,
		TickEvery:  time.Second,
		Reassembly: reassembly.DefaultConfig(),
		Parser:     parser.DefaultConfig(),
		Discovery:  discovery.DefaultConfig(),
	}
}

// Validate checks the config and the stage configs it carries.
func (c Config) Validate() error {
	if len(c.Files) == 0 && c.Live == nil {
		return errors.New("no input: give -r FILE or -i IFACE")
	}
	if len(c.Files) > 0 && c.Live != nil {
		return errors.New("give either -r FILE or -i IFACE, not both")
	}
	if c.Workers < 1 || c.Workers > 1024 {
		return fmt.Errorf("workers %d out of range 1..1024", c.Workers)
	}
	if c.BatchSize < 1 || c.QueueDepth < 1 {
		return fmt.Errorf("batch size %d and queue depth %d must be positive", c.BatchSize, c.QueueDepth)
	}
	if c.TickEvery <= 0 {
		return fmt.Errorf("tick interval %v must be positive", c.TickEvery)
	}
	if c.FileFilter != "" {
		if _, err := newFileFilter(c.FileFilter); err != nil {
			return err
		}
	}
	if c.Live != nil {
		if err := c.Live.Validate(); err != nil {
			return err
		}
	}
	for _, v := range []interface{ Validate() error }{c.File, c.Dec, c.Reassembly, c.Parser, c.Discovery} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return nil
}
