package discovery_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apisensor/apisensor/discovery"
	"github.com/apisensor/apisensor/internal/gen"
	"github.com/apisensor/apisensor/model"
	"github.com/apisensor/apisensor/sensor"
)

// collect keeps every call the pipeline produces, in output order.
type collect struct{ calls []*model.Call }

func (s *collect) WriteCall(c *model.Call) error { s.calls = append(s.calls, c.Clone()); return nil }
func (s *collect) Finish([]model.Endpoint, []model.Finding, []byte) error {
	return nil
}

var apiCapture struct {
	once  sync.Once
	calls []*model.Call
	err   error
}

// apiCaptureCalls returns the calls of a 100k-packet bench-shaped capture,
// built once per test binary so -count does not regenerate it.
func apiCaptureCalls(tb testing.TB) []*model.Call {
	apiCapture.once.Do(func() {
		apiCapture.calls, apiCapture.err = pipelineCalls(tb.TempDir(), 100_000)
	})
	if apiCapture.err != nil {
		tb.Fatal(apiCapture.err)
	}
	return apiCapture.calls
}

// pipelineCalls generates a bench-shaped capture (gen.DefaultAPIConfig, seed
// 1) of about the given size into dir and runs it through the sensor,
// collecting the calls its sink receives.
func pipelineCalls(dir string, packets int64) ([]*model.Call, error) {
	path := filepath.Join(dir, "api.pcap")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gcfg := gen.DefaultAPIConfig()
	gcfg.Seed = 1
	gcfg.Packets = packets
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := gen.API(bw, gcfg); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	cfg := sensor.DefaultConfig()
	cfg.Files = []string{path}
	cfg.Parser.HMACKey = []byte("discovery-bench-key")
	s, err := sensor.New(cfg, nil)
	if err != nil {
		return nil, err
	}
	sink := &collect{}
	if _, err := s.Run(context.Background(), sink); err != nil {
		return nil, err
	}
	return sink.calls, nil
}

// BenchmarkObserveAPICapture feeds the calls of a realistic keep-alive JSON
// API capture, in order, to a fresh inventory per pass: the per-call cost the
// pipeline pays (new ids, sampled bodies, security headers, findings).
func BenchmarkObserveAPICapture(b *testing.B) {
	calls := apiCaptureCalls(b)
	if len(calls) == 0 {
		b.Fatal("capture produced no calls")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		inv, err := discovery.New(discovery.DefaultConfig(), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, c := range calls {
			inv.Observe(c)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(calls)), "ns/call")
}
