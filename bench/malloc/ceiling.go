package main

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The ceiling of workload (c): an allocator that does as little as any can.
// Each worker owns a slab of 1 KiB slots and a stack of free slots; it
// checks nothing and keeps no metadata. A block that the other worker frees
// goes home in a batch of 64 through a lock-free stack, as vmkit's caches
// send blocks home, so that a block's memory stays with the worker that
// allocates it. What this allocator reaches with two goroutines against one
// is what the harness itself (the rings, the batches and their channels,
// the touch of each block) lets any allocator reach on this machine.

const (
	ceilSlab  = 64 << 20
	ceilSlot  = 1024
	ceilBatch = 64
)

type ceilBatchT struct {
	next *ceilBatchT
	n    int
	p    [ceilBatch][]byte
}

type ceilHeap struct {
	base   uintptr
	slab   []byte
	carve  int      // slots of the slab handed out so far
	free   [][]byte // freed slots of this heap
	out    *ceilBatchT
	spares []*ceilBatchT // emptied batches taken from spare
	other  *ceilHeap
	_      [64]byte
	inbox  atomic.Pointer[ceilBatchT] // batches of this heap's blocks, freed by the other
	_      [64]byte
	spare  atomic.Pointer[ceilBatchT] // emptied batches, back from the other
	_      [64]byte
}

var ceilHeaps [2]ceilHeap

// ceilReset gives both heaps their slabs, empty, before a run.
func ceilReset() {
	for i := range ceilHeaps {
		h := &ceilHeaps[i]
		if h.slab == nil {
			m, err := syscall.Mmap(-1, 0, ceilSlab, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_POPULATE)
			if err != nil {
				panic(err)
			}
			h.slab = m
			h.base = uintptr(unsafe.Pointer(&m[0]))
		}
		h.carve, h.free = 0, nil
		h.out, h.spares = &ceilBatchT{}, nil
		h.inbox.Store(nil)
		h.spare.Store(nil)
		h.other = &ceilHeaps[1-i]
	}
}

func push(s *atomic.Pointer[ceilBatchT], b *ceilBatchT) {
	for {
		old := s.Load()
		b.next = old
		if s.CompareAndSwap(old, b) {
			return
		}
	}
}

func (h *ceilHeap) malloc(n int) []byte {
	// Blocks that came home are taken before the free list runs dry, so
	// that the heap does not carve fresh slots while its own wait there.
	if len(h.free) < ceilBatch && h.inbox.Load() != nil {
		for b := h.inbox.Swap(nil); b != nil; {
			h.free = append(h.free, b.p[:b.n]...)
			next := b.next
			b.n = 0
			push(&h.other.spare, b)
			b = next
		}
	}
	if k := len(h.free) - 1; k >= 0 {
		b := h.free[k]
		h.free = h.free[:k]
		return b[:n]
	}
	if h.carve+ceilSlot > ceilSlab {
		panic("ceiling: slab exhausted")
	}
	b := h.slab[h.carve : h.carve+n : h.carve+ceilSlot]
	h.carve += ceilSlot
	return b
}

func (h *ceilHeap) release(b []byte) {
	if uintptr(unsafe.Pointer(unsafe.SliceData(b)))-h.base < ceilSlab {
		h.free = append(h.free, b)
		return
	}
	o := h.out
	o.p[o.n] = b
	if o.n++; o.n == ceilBatch {
		push(&h.other.inbox, o)
		if len(h.spares) == 0 {
			for s := h.spare.Swap(nil); s != nil; s = s.next {
				h.spares = append(h.spares, s)
			}
		}
		if k := len(h.spares) - 1; k >= 0 {
			h.out = h.spares[k]
			h.spares = h.spares[:k]
		} else {
			h.out = &ceilBatchT{}
		}
	}
}

// ceilNext gives the two workers of a run (the generated larsonCeiling)
// a heap each.
var ceilNext atomic.Int32

// ceiling runs workload (c) on the ceiling allocator with g goroutines.
// It drops the heaps' Go memory after the run (the free lists and batches
// hold tens of thousands of slices), which the collector would otherwise
// scan in every cycle of the workloads that follow, (e) among them.
func ceiling(g, n int) float64 {
	ceilReset()
	v := larson(g, n, larsonCeiling, larsonDrainCeiling)
	for i := range ceilHeaps {
		h := &ceilHeaps[i]
		h.free, h.out, h.spares = nil, nil, nil
		h.inbox.Store(nil)
		h.spare.Store(nil)
	}
	return v
}
