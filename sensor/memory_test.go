package sensor_test

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/apisensor/apisensor/internal/gen"
	"github.com/apisensor/apisensor/model"
	"github.com/apisensor/apisensor/sensor"
)

// countSink counts calls and keeps only the interesting ones, so the test
// itself holds no memory in proportion to the capture.
type countSink struct {
	calls, noResponse int
	big               *model.Call
}

func (s *countSink) WriteCall(c *model.Call) error {
	s.calls++
	if c.Status == 0 {
		s.noResponse++
	}
	if c.RespBody.Bytes > 1<<20 {
		s.big = c.Clone()
	}
	return nil
}
func (s *countSink) Finish([]model.Endpoint, []model.Finding, []byte) error { return nil }

// The adversarial capture (100k half-open connections, an out-of-order
// storm with holes never filled, one 1 GiB response) stays within the
// configured caps, by the reassembler's own accounting, and the heap stays
// small.
func TestMemoryBoundAdversarial(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 1.1 GB capture; skipped with -short")
	}
	ac := gen.DefaultAdversarialConfig()
	path := filepath.Join(t.TempDir(), "adversarial.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var truth []gen.Transaction
	ac.Truth = func(tx gen.Transaction) { truth = append(truth, tx) }
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := gen.Adversarial(bw, ac); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	cfg := testConfig()
	cfg.Files = []string{path}
	cfg.Reassembly.MaxConns = 20_000
	cfg.Reassembly.MaxBufferedPerConn = 64 << 10
	cfg.Reassembly.MaxBufferedTotal = 8 << 20
	s, err := sensor.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Sample the heap while the run goes on (a memory bound, not a timing).
	var peakHeap uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	})
	var sink countSink
	sum, err := s.Run(t.Context(), &sink)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}

	r := sum.Reassembly
	t.Logf("packets %d, conns created %d, peak conns/worker %d, evicted %d, peak buffered %d B, missed %d B, gaps %d, peak heap %d MiB",
		sum.Packets, r.ConnsCreated, r.PeakConns, r.Evicted, r.PeakBufferedBytes, r.MissedBytes, r.GapEvents, peakHeap>>20)
	if r.PeakConns > cfg.Reassembly.MaxConns {
		t.Errorf("peak connections %d above the cap %d", r.PeakConns, cfg.Reassembly.MaxConns)
	}
	if r.PeakBufferedBytes > cfg.Reassembly.MaxBufferedTotal {
		t.Errorf("peak buffered %d above the cap %d", r.PeakBufferedBytes, cfg.Reassembly.MaxBufferedTotal)
	}
	if r.Evicted == 0 {
		t.Errorf("100k half-open connections over a cap of %d evicted none", cfg.Reassembly.MaxConns)
	}
	if r.MissedBytes == 0 {
		t.Errorf("holes never filled produced no gap accounting")
	}
	if sink.big == nil || sink.big.RespBody.Bytes != ac.BigBody || sink.big.Status != 200 {
		t.Fatalf("the 1 GiB response was not reported whole: %+v", sink.big)
	}
	if n := len(sink.big.RespBody.Data); n > cfg.Parser.MaxBody {
		t.Errorf("kept %d body bytes, cap %d", n, cfg.Parser.MaxBody)
	}
	// Every request the half-open flood carried is reported, unanswered.
	wantNoResp := 0
	for _, tx := range truth {
		if tx.Status == 0 {
			wantNoResp++
		}
	}
	if sink.noResponse != wantNoResp {
		t.Errorf("%d unanswered requests reported, ground truth has %d", sink.noResponse, wantNoResp)
	}
	if peakHeap > 512<<20 {
		t.Errorf("peak heap %d MiB over 512 MiB", peakHeap>>20)
	}
}
