package parser

import (
	"sync"
	"unsafe"

	"github.com/apisensor/apisensor/model"
)

// Recycle hands back Calls the sink is done with, so that the parser can
// reuse their memory (a Call with its header fields is 0.7-2.7 KB, the
// biggest allocation per transaction). After Recycle nothing may read the
// Calls: not their header slices either. Strings and body bytes a Call
// pointed to stay valid, unless the parser runs with
// Config.RecycleStrings: then their memory is reused too. Safe to call from
// any goroutine, also while the parser runs, but a given Call from one
// goroutine only (two recycling it at the same moment could release its
// chunks twice; a second hand-back is ignored only until the parser
// reuses the Call, after which it is a use after Recycle). A Call made by
// any Parser may be handed to any other; Calls not made by a parser (Slab
// 0) are ignored.
//
// Reusing instead of allocating, on the 500k-packet bench capture, best
// (median) of 9-11 alternating runs: to calls.jsonl on one core 0.661 ->
// 0.598 s (0.718 -> 0.686), the full pipeline on one core 0.981 -> 0.899 s
// (1.072 -> 0.940), to calls.jsonl with 2 workers 0.410 -> 0.365 s.
func (p *Parser) Recycle(calls ...*model.Call) {
	p.slab.recycle(calls)
}

// callSlab keeps Calls for reuse, one free list per allocation class.
// alloc runs on the parser's goroutine and takes from free; Recycle may run
// on another and puts into back, which alloc swaps in when free runs dry,
// so the lock is taken once per batch, not once per Call.
type callSlab struct {
	free [numSlabClasses][]*model.Call // parser goroutine only
	mu   sync.Mutex
	back [numSlabClasses][]*model.Call
}

const numSlabClasses = 11

// maxSlabFree bounds each of a class's two lists: a burst of calls with
// many fields does not keep their memory for the rest of the run.
const maxSlabFree = 4096

// slabClasses are the allocation classes, by size: class k (Call.Slab) is
// slabClasses[k-1], a callHdrN holding slots header fields next to its Call.
var slabClasses = [numSlabClasses]struct {
	slots int
	alloc func(*callSlab, uint8) (*model.Call, []model.Header)
	zero  func(*model.Call)
}{
	{3, slabAlloc[callHdr3], zeroAs[callHdr3]},
	{7, slabAlloc[callHdr7], zeroAs[callHdr7]},
	{11, slabAlloc[callHdr11], zeroAs[callHdr11]},
	{15, slabAlloc[callHdr15], zeroAs[callHdr15]},
	{19, slabAlloc[callHdr19], zeroAs[callHdr19]},
	{23, slabAlloc[callHdr23], zeroAs[callHdr23]},
	{27, slabAlloc[callHdr27], zeroAs[callHdr27]},
	{35, slabAlloc[callHdr35], zeroAs[callHdr35]},
	{43, slabAlloc[callHdr43], zeroAs[callHdr43]},
	{51, slabAlloc[callHdr51], zeroAs[callHdr51]},
	{63, slabAlloc[callHdr63], zeroAs[callHdr63]},
}

// Bits of Call.Slab above the class while a Call is handed back.
const (
	slabFree   = 0x80 // cleared by Recycle
	slabQueued = 0x40 // in a free list
)

// alloc returns a zero Call and room for at least slots header fields in
// the same allocation (none beyond 63: the fields then get their own
// slices, and the Call comes from the smallest class). Every Call is from
// a class, so that it can hold arena chunks (slabHead).
func (s *callSlab) alloc(slots int) (*model.Call, []model.Header) {
	for i := range slabClasses {
		if slots <= slabClasses[i].slots {
			return slabClasses[i].alloc(s, uint8(i+1))
		}
	}
	c, _ := slabClasses[0].alloc(s, 1)
	return c, nil
}

// slabbed is a callHdrN: a slabHead (whose Call is the first field, so a
// *model.Call from the class is a pointer to the whole) and its header
// array.
type slabbed[T any] interface {
	*T
	parts() (*model.Call, []model.Header)
}

func slabAlloc[T any, P slabbed[T]](s *callSlab, class uint8) (*model.Call, []model.Header) {
	var x P
	if c := s.take(class); c != nil {
		x = P((*T)(unsafe.Pointer(c))) // cleared by recycle
	} else {
		x = P(new(T))
	}
	call, hdr := x.parts()
	call.Slab = class
	return call, hdr
}

// zeroAs clears a Call of class T with its header array, so that a Call
// waiting for reuse holds no strings or bodies alive.
func zeroAs[T any](c *model.Call) { *(*T)(unsafe.Pointer(c)) = *new(T) }

// take pops a free Call of the class, or returns nil.
func (s *callSlab) take(class uint8) *model.Call {
	f := s.free[class-1]
	if len(f) == 0 {
		s.mu.Lock()
		f, s.back[class-1] = s.back[class-1], f
		s.mu.Unlock()
		if len(f) == 0 {
			s.free[class-1] = f
			return nil
		}
	}
	c := f[len(f)-1]
	f[len(f)-1] = nil
	s.free[class-1] = f[:len(f)-1]
	return c
}

// recycle clears the calls outside the lock (up to 2.7 KB each, and the
// parser's take may be waiting), then queues them. A Call handed back twice
// is queued once; one not made by a parser (Slab 0) is left alone.
func (s *callSlab) recycle(calls []*model.Call) {
	for _, c := range calls {
		if k := c.Slab; k != 0 && k&slabFree == 0 && int(k) <= len(slabClasses) {
			release(c)
			slabClasses[k-1].zero(c)
			c.Slab = k | slabFree
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range calls {
		k := c.Slab &^ (slabFree | slabQueued)
		if c.Slab&(slabFree|slabQueued) != slabFree || len(s.back[k-1]) >= maxSlabFree {
			continue // not cleared here, already queued, or left to the GC
		}
		c.Slab |= slabQueued
		s.back[k-1] = append(s.back[k-1], c)
	}
}

// A Call allocated together with the backing array of its header fields:
// one allocation instead of three (Call, ReqHeaders, RespHeaders). With the
// body sharing the response block's allocation (onHead) this took
// BenchmarkParseRequestResponse from 6 to 3 allocs/op. The array lengths fill the
// allocator's size classes (slabHead is 664 bytes: a 648-byte Call and two
// chunk references; a Header is 32; objects with pointers above 512 bytes
// carry an 8-byte allocation header): 768, 896, 1024, 1152, 1280, 1408,
// 1536, 1792, 2048, 2304 and 2688 bytes, exactly (TestSlabSizes). A slot costs
// GC work for the Call's whole life, so the classes are all used: a typical
// API pair (4-7 request and 6 response fields) fits 1024 bytes, not 1152
// (BenchmarkParseRequestResponse 2112 -> 1984 B/op).
type (
	callHdr3 struct {
		slabHead
		hdr [3]model.Header
	}
	callHdr7 struct {
		slabHead
		hdr [7]model.Header
	}
	callHdr11 struct {
		slabHead
		hdr [11]model.Header
	}
	callHdr15 struct {
		slabHead
		hdr [15]model.Header
	}
	callHdr19 struct {
		slabHead
		hdr [19]model.Header
	}
	callHdr23 struct {
		slabHead
		hdr [23]model.Header
	}
	callHdr27 struct {
		slabHead
		hdr [27]model.Header
	}
	callHdr35 struct {
		slabHead
		hdr [35]model.Header
	}
	callHdr43 struct {
		slabHead
		hdr [43]model.Header
	}
	callHdr51 struct {
		slabHead
		hdr [51]model.Header
	}
	callHdr63 struct {
		slabHead
		hdr [63]model.Header
	}
)

func (x *callHdr3) parts() (*model.Call, []model.Header)  { return &x.call, x.hdr[:] }
func (x *callHdr7) parts() (*model.Call, []model.Header)  { return &x.call, x.hdr[:] }
func (x *callHdr11) parts() (*model.Call, []model.Header) { return &x.call, x.hdr[:] }
func (x *callHdr15) parts() (*model.Call, []model.Header) { return &x.call, x.hdr[:] }
func (x *callHdr19) parts() (*model.Call, []model.Header) { return &x.call, x.hdr[:] }
func (x *callHdr23) parts() (*model.Call, []model.Header) { return &x.call, x.hdr[:] }
func (x *callHdr27) parts() (*model.Call, []model.Header) { return &x.call, x.hdr[:] }
func (x *callHdr35) parts() (*model.Call, []model.Header) { return &x.call, x.hdr[:] }
func (x *callHdr43) parts() (*model.Call, []model.Header) { return &x.call, x.hdr[:] }
func (x *callHdr51) parts() (*model.Call, []model.Header) { return &x.call, x.hdr[:] }
func (x *callHdr63) parts() (*model.Call, []model.Header) { return &x.call, x.hdr[:] }
