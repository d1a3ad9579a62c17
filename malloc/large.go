package malloc

import (
	"errors"
	"sync"

	"github.com/vmkit/vmkit/mem"
)

// A largeBlock is a block above the mmap threshold, alone in its own
// mapping, which goes back to the system as soon as it is freed.
type largeBlock struct {
	h    *Heap
	m    *mem.Mapping
	p    uintptr // the block; m.Addr() unless it was aligned inside the mapping
	size int     // bytes mapped, whole system pages
}

func (lg *largeBlock) usable() int { return int(lg.m.Addr() + uintptr(lg.size) - lg.p) }

// The registry of large blocks of every heap, keyed by address. A small
// ring remembers recently freed addresses so that freeing one again reports
// a double free rather than a foreign pointer.
var (
	largeMu     sync.Mutex
	largeBlocks = map[uintptr]*largeBlock{}
	recentFreed = map[uintptr]*Heap{}
	recentRing  [1024]uintptr
	recentNext  int
)

func roundPage(n int) int { return (n + osPageSize - 1) &^ (osPageSize - 1) }

// allocLarge maps a block of its own for size bytes aligned to align.
func (h *Heap) allocLarge(size, align int) (uintptr, error) {
	extra := 0
	if align > osPageSize {
		extra = align
	}
	m, err := mem.Map(roundPage(max(size, 1))+extra, mem.Read|mem.Write, 0)
	if err != nil {
		return 0, err
	}
	p := m.Addr()
	if extra > 0 {
		p = (p + uintptr(align) - 1) &^ uintptr(align-1)
	}
	lg := &largeBlock{h: h, m: m, p: p, size: roundPage(max(size, 1)) + extra}
	largeMu.Lock()
	largeBlocks[p] = lg
	delete(recentFreed, p)
	largeMu.Unlock()
	h.largeCount.Add(1)
	h.noteMapped(int64(lg.size))
	return p, nil
}

func (h *Heap) noteMapped(delta int64) {
	n := h.largeBytes.Add(delta)
	for {
		old := h.maxMapped.Load()
		if n <= old || h.maxMapped.CompareAndSwap(old, n) {
			return
		}
	}
}

// findLarge returns the live large block at p.
func (h *Heap) findLarge(op string, p uintptr) (*largeBlock, error) {
	largeMu.Lock()
	defer largeMu.Unlock()
	lg := largeBlocks[p]
	if lg == nil {
		if hh, ok := recentFreed[p]; ok && hh == h {
			return nil, doubleFree(op, p, "the block's mapping was already freed")
		}
		return nil, invalidPointer(op, p, "not a block of this heap")
	}
	if lg.h != h {
		return nil, invalidPointer(op, p, "the block belongs to another Heap")
	}
	return lg, nil
}

// freeLarge unmaps the large block at p. While the mmap threshold is
// dynamic, freeing a block larger than it raises it to the block's size (up
// to 32 MiB), as glibc does: such sizes are then served from the arenas,
// where freeing and reusing them costs no system call.
func (h *Heap) freeLarge(op string, p uintptr) error {
	if _, err := h.findLarge(op, p); err != nil {
		return err
	}
	largeMu.Lock()
	lg := largeBlocks[p]
	if lg == nil || lg.h != h {
		largeMu.Unlock()
		return doubleFree(op, p, "the block's mapping was already freed")
	}
	delete(largeBlocks, p)
	if old := recentRing[recentNext]; old != 0 {
		delete(recentFreed, old)
	}
	recentRing[recentNext] = p
	recentNext = (recentNext + 1) % len(recentRing)
	recentFreed[p] = h
	largeMu.Unlock()
	h.largeCount.Add(-1)
	h.noteMapped(-int64(lg.size))
	if h.mmapDynamic.Load() && int64(lg.size) > h.mmapThreshold.Load() && lg.size <= maxMmapThreshold {
		h.mmapThreshold.Store(int64(lg.size))
		h.trimThreshold.Store(2 * int64(lg.size))
	}
	return lg.m.Close()
}

// maxDynamicTrim bounds the trim threshold that raiseTrim sets: twice the
// largest dynamic mmap threshold, as in glibc.
const maxDynamicTrim = 2 * maxMmapThreshold

// raiseTrim raises the trim threshold to to bytes (at most maxDynamicTrim)
// while the thresholds are dynamic; see region.raiseDirty.
func (h *Heap) raiseTrim(to int64) {
	to = min(to, maxDynamicTrim)
	for h.mmapDynamic.Load() {
		cur := h.trimThreshold.Load()
		if cur < 0 || cur >= to || h.trimThreshold.CompareAndSwap(cur, to) {
			return
		}
	}
}

// reallocLarge resizes a large block with mremap, which moves pages instead
// of copying them.
func (h *Heap) reallocLarge(lg *largeBlock, size int) (uintptr, bool) {
	if size <= lg.usable() && size > lg.usable()/2 {
		return lg.p, true
	}
	if lg.p != lg.m.Addr() || int64(size) < h.mmapThreshold.Load()/2 {
		return 0, false
	}
	largeMu.Lock()
	defer largeMu.Unlock()
	old := lg.p
	if err := lg.m.Remap(roundPage(size)); err != nil {
		return 0, false
	}
	delete(largeBlocks, old)
	lg.p = lg.m.Addr()
	h.noteMapped(int64(roundPage(size) - lg.size))
	lg.size = roundPage(size)
	largeBlocks[lg.p] = lg
	delete(recentFreed, lg.p)
	return lg.p, true
}

// closeLarge unmaps every large block of h.
func (h *Heap) closeLarge() error {
	largeMu.Lock()
	var ms []*mem.Mapping
	for p, lg := range largeBlocks {
		if lg.h == h {
			ms = append(ms, lg.m)
			delete(largeBlocks, p)
		}
	}
	largeMu.Unlock()
	var errs []error
	for _, m := range ms {
		errs = append(errs, m.Close())
	}
	h.largeCount.Store(0)
	h.largeBytes.Store(0)
	return errors.Join(errs...)
}

// largeList returns h's large blocks.
func (h *Heap) largeList() []*largeBlock {
	largeMu.Lock()
	defer largeMu.Unlock()
	var out []*largeBlock
	for _, lg := range largeBlocks {
		if lg.h == h {
			out = append(out, lg)
		}
	}
	return out
}
