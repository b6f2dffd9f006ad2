package parser

import (
	"bytes"
	"fmt"
	"math/rand"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/apisensor/apisensor/model"
)

type collect struct{ calls []*model.Call }

func (s *collect) Call(c *model.Call) { s.calls = append(s.calls, c) }

// ev is one Stream call in a scripted connection.
type ev struct {
	dir   model.Direction
	data  string
	gap   int // >0: a Gap of this many bytes instead of data
	close bool
}

func c2s(s string) ev                 { return ev{dir: model.ClientToServer, data: s} }
func s2c(s string) ev                 { return ev{dir: model.ServerToClient, data: s} }
func gap(d model.Direction, n int) ev { return ev{dir: d, gap: n} }

var (
	cliAddr = netip.MustParseAddrPort("10.0.0.1:40000")
	srvAddr = netip.MustParseAddrPort("10.0.0.2:80")
	t0      = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.HMACKey = []byte("test-key")
	return cfg
}

func newTestParser(t testing.TB, cfg Config) (*Parser, *collect) {
	t.Helper()
	s := &collect{}
	p, err := New(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	return p, s
}

// splitter decides how one Data event is cut into Data calls.
type splitter func(n int) []int // returns cut lengths summing to n

func whole(n int) []int { return []int{n} }
func bytewise(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}
func randomSplit(seed int64) splitter {
	r := rand.New(rand.NewSource(seed))
	return func(n int) []int {
		var out []int
		for n > 0 {
			k := 1 + r.Intn(n)
			if r.Intn(3) == 0 && k > 7 {
				k = 1 + r.Intn(7)
			}
			out = append(out, k)
			n -= k
		}
		return out
	}
}

// run plays evs into a fresh Conn; event i carries timestamp t0+i ms.
func run(t testing.TB, cfg Config, meta model.ConnMeta, evs []ev, sp splitter) ([]*model.Call, Stats) {
	return runMode(t, cfg, meta, evs, sp, false)
}

// runMode is run; with recycle, each Call is cloned and recycled at once by
// a parser with RecycleStrings on tiny, scribbled arena chunks (newRecycling).
func runMode(t testing.TB, cfg Config, meta model.ConnMeta, evs []ev, sp splitter, recycle bool) ([]*model.Call, Stats) {
	t.Helper()
	p, s := newParserMode(t, cfg, recycle)
	c := p.NewConn(meta)
	closed := false
	for i, e := range evs {
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		switch {
		case e.close:
			c.Close(ts)
			closed = true
		case e.gap > 0:
			c.Gap(e.dir, e.gap, ts)
		default:
			b := []byte(e.data)
			for _, k := range sp(len(b)) {
				// A fresh copy per call, scribbled afterwards: proves the
				// parser keeps no reference to b.
				piece := append([]byte(nil), b[:k]...)
				c.Data(e.dir, piece, ts)
				for j := range piece {
					piece[j] = 'Z'
				}
				b = b[k:]
			}
		}
	}
	if !closed {
		c.Close(t0.Add(time.Duration(len(evs)) * time.Millisecond))
	}
	return s.calls, p.Stats()
}

func defMeta() model.ConnMeta { return model.ConnMeta{Client: cliAddr, Server: srvAddr, Start: t0} }

// runAll feeds evs whole, byte by byte and with seeded random splits, and
// fails unless all give identical Calls and Stats.
func runAll(t *testing.T, cfg Config, meta model.ConnMeta, evs []ev) ([]*model.Call, Stats) {
	t.Helper()
	ref, refSt := run(t, cfg, meta, evs, whole)
	check := func(name string, sp splitter) {
		got, st := run(t, cfg, meta, evs, sp)
		if d := diffCalls(ref, got); d != "" {
			t.Fatalf("%s split differs from whole feed: %s", name, d)
		}
		if st.Calls != refSt.Calls || st.Requests != refSt.Requests || st.Responses != refSt.Responses {
			t.Fatalf("%s split stats differ: %+v vs %+v", name, st, refSt)
		}
	}
	check("bytewise", bytewise)
	for seed := int64(1); seed <= 5; seed++ {
		check(fmt.Sprintf("random(%d)", seed), randomSplit(seed))
	}
	for i, sp := range []splitter{whole, randomSplit(6)} {
		got, st := runMode(t, cfg, meta, evs, sp, true)
		if d := diffCalls(ref, got); d != "" {
			t.Fatalf("recycled strings (split %d) differ from kept ones: %s", i, d)
		}
		if i == 0 && st != refSt {
			t.Fatalf("recycled strings change stats: %+v vs %+v", st, refSt)
		}
	}
	return ref, refSt
}

// newParserMode is newTestParser, or newRecycling with recycle.
func newParserMode(t testing.TB, cfg Config, recycle bool) (*Parser, *collect) {
	if recycle {
		return newRecycling(t, cfg)
	}
	return newTestParser(t, cfg)
}

// newRecycling makes a Parser with RecycleStrings whose sink keeps a clone
// of each Call and recycles the original at once (recycler), over arena
// chunks of 256 bytes that are scribbled when reused: a string read after
// its Call was recycled, or kept by the parser without a hold, shows up as
// '#' in the clones.
func newRecycling(t testing.TB, cfg Config) (*Parser, *collect) {
	t.Helper()
	cfg.RecycleStrings = true
	s := &collect{}
	r := &recycler{c: s}
	p, err := New(cfg, r)
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	p.mem.chunkSize, p.mem.maxAlloc, p.mem.scribble = 256, 256, true
	return p, s
}

func diffCalls(a, b []*model.Call) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d calls vs %d", len(a), len(b))
	}
	for i := range a {
		x, y := *a[i], *b[i]
		if !bytes.Equal(x.ReqBody.Data, y.ReqBody.Data) || !bytes.Equal(x.RespBody.Data, y.RespBody.Data) {
			return fmt.Sprintf("call %d: bodies differ: %q/%q vs %q/%q", i, x.ReqBody.Data, x.RespBody.Data, y.ReqBody.Data, y.RespBody.Data)
		}
		x.ReqBody.Data, y.ReqBody.Data, x.RespBody.Data, y.RespBody.Data = nil, nil, nil, nil
		x.Slab, y.Slab = 0, 0 // where the memory came from; a clone has none
		if !reflect.DeepEqual(x, y) {
			return fmt.Sprintf("call %d:\n%+v\nvs\n%+v", i, x, y)
		}
	}
	return ""
}

func timeMs(i int) time.Duration { return time.Duration(i) * time.Millisecond }
