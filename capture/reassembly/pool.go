package reassembly

import "math/bits"

// Buffers for out-of-order segments come from per-Assembler free lists in
// power-of-two size classes. A sync.Pool is not needed: an Assembler belongs
// to one goroutine, and a plain free list is deterministic and lock-free.
const (
	minPoolShift = 6  // 64 B: smallest class
	maxPoolShift = 16 // 64 KiB: covers any non-jumbo segment (TSO/GRO captures included)
	// poolClassBytes bounds what each class keeps idle, so the pool can
	// never hold more than about 11 MiB per Assembler after a storm.
	poolClassBytes = 1 << 20
	minPoolKeep    = 16
)

type bufPool struct {
	free [maxPoolShift - minPoolShift + 1][][]byte
}

func poolClass(n int) int {
	if n <= 1<<minPoolShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minPoolShift
}

// get returns a buffer of length n. Larger-than-class requests are allocated
// exactly and never pooled.
func (p *bufPool) get(n int) []byte {
	c := poolClass(n)
	if c >= len(p.free) {
		return make([]byte, n)
	}
	if l := p.free[c]; len(l) > 0 {
		b := l[len(l)-1]
		l[len(l)-1] = nil
		p.free[c] = l[:len(l)-1]
		return b[:n]
	}
	return make([]byte, n, 1<<(c+minPoolShift))
}

func (p *bufPool) put(b []byte) {
	c := poolClass(cap(b))
	if c >= len(p.free) || cap(b) != 1<<(c+minPoolShift) {
		return
	}
	keep := max(poolClassBytes>>(c+minPoolShift), minPoolKeep)
	if len(p.free[c]) >= keep {
		return
	}
	p.free[c] = append(p.free[c], b[:0])
}
