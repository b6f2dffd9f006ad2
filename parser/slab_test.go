package parser

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/apisensor/apisensor/model"
)

// A recycled Call holds nothing alive while it waits (its header array is
// cleared too), comes back zero, is kept once when handed back twice, and a
// Call the parser did not make is left alone.
func TestRecycle(t *testing.T) {
	p, _ := newTestParser(t, testConfig())
	c, spare := p.slab.alloc(10)
	if c.Slab != 3 || len(spare) != 11 {
		t.Fatalf("class %d with %d slots, want 3 with 11", c.Slab, len(spare))
	}
	c.Method, c.URI, c.ReqBody.Data = "GET", "/x", []byte("body")
	spare[10] = model.Header{Name: "N", Value: "V"}
	c.ReqHeaders = spare[:1]
	p.Recycle(c, c) // twice in one call
	p.Recycle(c)    // and again
	if got := len(p.slab.back[2]); got != 1 {
		t.Fatalf("free list holds %d entries, want 1", got)
	}
	hdr := unsafe.Slice((*model.Header)(unsafe.Add(unsafe.Pointer(c), unsafe.Sizeof(slabHead{}))), 11)
	if c.Method != "" || c.ReqBody.Data != nil || c.ReqHeaders != nil || hdr[10] != (model.Header{}) {
		t.Fatalf("recycled Call not cleared: %+v, last slot %+v", c, hdr[10])
	}
	c2, spare2 := p.slab.alloc(9)
	if c2 != c || c2.Slab != 3 || &spare2[0] != &hdr[0] {
		t.Fatalf("alloc did not reuse the recycled Call")
	}
	if c3, _ := p.slab.alloc(9); c3 == c {
		t.Fatal("one recycled Call handed out twice")
	}

	var plain model.Call
	plain.Method = "GET"
	p.Recycle(&plain, c2.Clone())
	if plain.Method != "GET" || len(p.slab.back[2]) != 0 {
		t.Fatal("a Call not made by a parser was taken")
	}
}

// Each slab class fills its allocator size class exactly, with the 8-byte
// header the allocator puts before an object with pointers above 512
// bytes: a field more in model.Call or slabHead would push every Call into
// the next class.
func TestSlabSizes(t *testing.T) {
	got := []uintptr{
		unsafe.Sizeof(callHdr3{}), unsafe.Sizeof(callHdr7{}), unsafe.Sizeof(callHdr11{}),
		unsafe.Sizeof(callHdr15{}), unsafe.Sizeof(callHdr19{}), unsafe.Sizeof(callHdr23{}),
		unsafe.Sizeof(callHdr27{}), unsafe.Sizeof(callHdr35{}), unsafe.Sizeof(callHdr43{}),
		unsafe.Sizeof(callHdr51{}), unsafe.Sizeof(callHdr63{}),
	}
	want := []uintptr{768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688}
	for i := range want {
		if got[i]+8 != want[i] {
			t.Errorf("class %d (%d slots): %d bytes + 8 header, want %d", i+1, slabClasses[i].slots, got[i], want[i])
		}
	}
}

// holdingRecycler clones each Call and recycles the originals only once
// hold of them are waiting: their arena chunks stay busy meanwhile.
type holdingRecycler struct {
	c    *collect
	p    *Parser
	hold int
	q    []*model.Call
}

func (r *holdingRecycler) Call(c *model.Call) {
	r.c.Call(c.Clone())
	r.q = append(r.q, c)
	if len(r.q) > r.hold {
		r.p.Recycle(r.q[0])
		r.q = r.q[1:]
	}
}

// The arena holds at most maxChunks chunks: when every one is pinned by a
// Call not yet recycled, pieces come from the heap, and the calls are
// those of a parser without an arena.
func TestArenaCapHolds(t *testing.T) {
	cfg := testConfig()
	cfg.RecycleStrings = true
	s := &collect{}
	r := &holdingRecycler{c: s, hold: 40}
	p, err := New(cfg, r)
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	p.mem.chunkSize, p.mem.maxAlloc, p.mem.maxChunks, p.mem.scribble = 256, 256, 3, true
	plain, ps := newTestParser(t, testConfig())
	conns := []*Conn{p.NewConn(defMeta()), plain.NewConn(defMeta())}
	for i := range 300 {
		req := fmt.Sprintf("GET /items/%d HTTP/1.1\r\nHost: a.example\r\nX-Req: %d\r\n\r\n", i, i)
		resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Resp: %d\r\n\r\nok", i)
		ts := t0.Add(timeMs(i))
		for _, c := range conns {
			c.Data(model.ClientToServer, []byte(req), ts)
			c.Data(model.ServerToClient, []byte(resp), ts)
		}
	}
	wantN(t, s.calls, 300)
	if d := diffCalls(ps.calls, s.calls); d != "" {
		t.Fatalf("arena at its cap changes the calls: %s", d)
	}
	if n := len(p.mem.chunks); n != 3 {
		t.Fatalf("%d chunks, want the cap of 3 reached and held", n)
	}
}
