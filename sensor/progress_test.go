package sensor_test

import (
	"os"
	"sync"
	"testing"

	"github.com/apisensor/apisensor/internal/gen"
	"github.com/apisensor/apisensor/sensor"
)

// TestProgressWhileRunning reads Progress from another goroutine while Run
// reads a file (what the CLI's progress line does), on the batched and the
// inline path: under -race this must be clean, the file position must
// never go backwards and must end at the file's size.
func TestProgressWhileRunning(t *testing.T) {
	gc := gen.DefaultAPIConfig()
	gc.Packets = 20_000
	path, _ := writeAPICapture(t, t.TempDir(), gc)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []sensor.InlineMode{sensor.InlineNever, sensor.InlineAlways} {
		cfg := testConfig()
		cfg.Files = []string{path}
		cfg.Workers = 1
		cfg.Inline = mode
		s, err := sensor.New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		var backwards int64 = -1
		wg.Go(func() {
			var last int64
			for {
				select {
				case <-done:
					return
				default:
				}
				p := s.Progress()
				if p.FileDone < last {
					backwards = p.FileDone
				}
				last = p.FileDone
			}
		})
		if _, err := s.Run(t.Context(), &memSink{}); err != nil {
			t.Fatal(err)
		}
		close(done)
		wg.Wait()
		if backwards >= 0 {
			t.Errorf("mode %d: file progress went backwards to %d", mode, backwards)
		}
		if p := s.Progress(); p.FileDone != st.Size() || p.FileTotal != st.Size() {
			t.Errorf("mode %d: progress at the end %d/%d, want %d/%d", mode, p.FileDone, p.FileTotal, st.Size(), st.Size())
		}
	}
}
