package parser

import (
	"sync"
	"testing"

	"github.com/apisensor/apisensor/model"
)

// Stats may be read by a metrics goroutine while the worker parses.
func TestStatsConcurrent(t *testing.T) {
	p, s := newTestParser(t, testConfig())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = p.Stats()
			}
		}
	}()
	for i := 0; i < 200; i++ {
		c := p.NewConn(defMeta())
		c.Data(model.ClientToServer, benchReq, t0)
		c.Data(model.ServerToClient, benchResp, t0)
		c.Close(t0)
	}
	close(stop)
	wg.Wait()
	st := p.Stats()
	want(t, "calls", st.Calls, uint64(len(s.calls)))
	want(t, "conns", st.Conns, uint64(200))
	want(t, "calls per conn", len(s.calls), 200)
}
