package parser

import (
	"sync/atomic"
	"unsafe"

	"github.com/apisensor/apisensor/model"
)

// arena hands out the memory of header-block strings and bodies when
// Config.RecycleStrings is set: pieces of chunks that come back for reuse
// once every Call holding a piece of them has been Recycled.
//
// The rule that makes reuse safe: every piece is either held by a Call (a
// reference in its slab head, dropped by Recycle), or its chunk is tainted
// and never reused (the GC then frees it once nothing points into it).
// Nothing else in the parser points into a chunk: the Conn's caches keep
// copies (reqSection.store, jwtCache, hmac8). Taking the memory back from the GC this way
// cut the one-core run to calls.jsonl on the bench capture from 580 to
// 473 ms task-clock (perf stat -r 10, prototype with a plain ring), with
// page faults 20.4k -> 11.2k: a Call's strings were ~0.8 KB of the ~1 KB
// allocated per transaction, and with GOGC=400 the heap grew to ~65 MiB of
// pages touched for the first time.
//
// Only the parser's goroutine allocates; Recycle, which may run on another,
// only decrements refs (atomically: the parser reuses a chunk after it has
// seen the count reach zero, so the sink's reads happen before the rewrite).
type arena struct {
	cur    *memChunk
	chunks []*memChunk // reusable chunks, cur included
	// pending is the chunk of the latest block allocation, with the
	// reference that allocation took, until a Call (hold) or a taint takes
	// it over.
	pending *memChunk
	// skip counts allocations left to the heap before the next look for a
	// free chunk, when every chunk was found busy at the cap.
	skip int

	chunkSize int // bytes per chunk
	maxAlloc  int // larger pieces come from the heap
	maxChunks int // cap on chunks (memory the arena may hold)
	scribble  bool
	taints    int // chunks given up because a piece had no holder (tests)
}

// memChunk is one chunk; refs counts the Calls that hold a piece of it.
type memChunk struct {
	buf     []byte
	off     int
	refs    atomic.Int32
	tainted bool // a piece escaped without a holder: never reused
}

const (
	arenaChunkSize = 64 << 10
	arenaMaxAlloc  = 16 << 10
	// arenaMaxChunks bounds the arena at 16 MiB per parser. Calls waiting
	// long for their response pin their chunks; past the cap pieces come
	// from the heap, as without RecycleStrings.
	arenaMaxChunks = 256
	// arenaRetry is how many heap allocations pass before a full, busy
	// arena is searched again for a free chunk.
	arenaRetry = 64
)

func newArena() *arena {
	return &arena{chunkSize: arenaChunkSize, maxAlloc: arenaMaxAlloc, maxChunks: arenaMaxChunks}
}

// alloc returns n bytes of a chunk (contents undefined) and makes its chunk
// pending; nil when the piece must come from the heap. The previous pending
// reference must have been taken over.
func (a *arena) alloc(n int) []byte {
	if n > a.maxAlloc || n == 0 {
		return nil
	}
	if a.cur == nil || a.cur.off+n > len(a.cur.buf) {
		if !a.next() {
			return nil
		}
	}
	ch := a.cur
	b := ch.buf[ch.off : ch.off+n : ch.off+n]
	ch.off += n
	ch.refs.Add(1)
	a.pending = ch
	return b
}

// next makes a free chunk current: a reused one when some chunk has no
// holder left, else a new one below the cap.
func (a *arena) next() bool {
	a.cur = nil
	if a.skip > 0 {
		a.skip--
		return false
	}
	kept := a.chunks[:0]
	var free *memChunk
	for _, ch := range a.chunks {
		if ch.tainted {
			continue // left to the GC
		}
		kept = append(kept, ch)
		if free == nil && ch.refs.Load() == 0 {
			free = ch
		}
	}
	clear(a.chunks[len(kept):])
	a.chunks = kept
	if free == nil {
		if len(a.chunks) >= a.maxChunks {
			a.skip = arenaRetry
			return false
		}
		free = &memChunk{buf: make([]byte, a.chunkSize)}
		a.chunks = append(a.chunks, free)
	} else if a.scribble {
		for i := range free.buf {
			free.buf[i] = '#'
		}
	}
	free.off = 0
	a.cur = free
	return true
}

// taintPending gives up the pending piece's reference and its chunk's
// reuse: used when no holder could take the piece.
func (a *arena) taintPending() {
	if ch := a.pending; ch != nil {
		a.taint(ch)
		ch.refs.Add(-1)
		a.pending = nil
	}
}

func (a *arena) taint(ch *memChunk) {
	if !ch.tainted {
		ch.tainted = true
		a.taints++
	}
}

// dropPending gives up the pending reference of a piece nothing kept.
func (a *arena) dropPending() {
	if ch := a.pending; ch != nil {
		ch.refs.Add(-1)
		a.pending = nil
	}
}

// slabHead starts every slab class (callHdrN): the Call, then the chunks
// whose pieces it holds, two: its request's block and its response's (a
// chunked body usually shares one of them). Recycle drops those
// references.
type slabHead struct {
	call model.Call
	mem  [2]*memChunk
}

func headOf(c *model.Call) *slabHead {
	if c.Slab == 0 {
		return nil
	}
	return (*slabHead)(unsafe.Pointer(c))
}

// hold makes call a holder of ch (one reference, taken by the caller:
// either kept or dropped here when call holds ch already). It reports
// false when call cannot hold another chunk (not from a slab, or two held).
func hold(call *model.Call, ch *memChunk) bool {
	sh := headOf(call)
	if sh == nil {
		return false
	}
	for i, m := range sh.mem {
		if m == ch {
			ch.refs.Add(-1)
			return true
		}
		if m == nil {
			sh.mem[i] = ch
			return true
		}
	}
	return false
}

// holdPending hands the pending piece to call, or taints its chunk when
// call cannot hold it.
func (a *arena) holdPending(call *model.Call) {
	ch := a.pending
	if ch == nil {
		return
	}
	if call != nil && hold(call, ch) {
		a.pending = nil
		return
	}
	a.taintPending()
}

// release drops the references a Call being recycled holds.
func release(c *model.Call) {
	for _, m := range headOf(c).mem { // cleared with the Call by recycle
		if m == nil {
			break
		}
		m.refs.Add(-1)
	}
}
