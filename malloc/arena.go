package malloc

import (
	"errors"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Slot states: one byte per 16 bytes of a region, at the granule where a
// small block starts; every other state byte of a span is 0. The low six
// bits hold the size class.
const (
	slotUsed   = 0x40 // handed to the program
	slotCached = 0x80 // free, held by a Cache (or a per-P cache of the Heap)
	slotFree   = 0xC0 // free, in its span, available to any cache
	slotMask   = 0xC0
	classMask  = 0x3F
)

// A span is a chunk of pages cut into blocks of one size class. Its blocks
// are either handed out (slotUsed), parked in a cache (slotCached) or free in
// the span (slotFree); slots at or above fresh have never been handed out
// and have state 0. Fields are guarded by the arena's mutex.
//
// A span holds no Go pointers: its region and its neighbours in the partial
// list are kept as addresses, so that the records, which grow with the
// off-heap memory (one per page or few pages of small blocks), live in
// chunks the garbage collector never scans (see arena.spanChunks). The
// region is kept alive by arena.regions, the chunks by arena.spanChunks,
// and the Go heap does not move objects.
type span struct {
	rp     uintptr // the *region
	base   uintptr
	page   int32
	class  uint8
	nslots int32
	nfree  int32   // slots in state slotFree or never handed out
	fresh  int32   // slots [fresh, nslots) have never been handed out
	scan   int32   // where the next search for a slotFree slot starts
	nx, pv uintptr // the next and previous *span in the arena's partial list of this class
	linked bool    // in the partial list
}

// spanChunkLen is the number of span records allocated at once.
const spanChunkLen = 256

// region is the region the span is in.
func (s *span) region() *region { return (*region)(ptr(s.rp)) }

// next is the next span in the partial list, or nil.
func (s *span) next() *span { return (*span)(ptr(s.nx)) }

// prev is the previous span in the partial list, or nil.
func (s *span) prev() *span { return (*span)(ptr(s.pv)) }

// spanAddr is s's address, 0 for nil; spanAt is its inverse.
func spanAddr(s *span) uintptr { return uintptr(unsafe.Pointer(s)) }

func spanAt(a uintptr) *span { return (*span)(ptr(a)) }

// An arena serves one group of caches: it owns regions, and in them the
// spans of small blocks and the mid-size chunks. One mutex guards it all;
// the caches in front of it make small allocations touch it once per batch.
type arena struct {
	mu      sync.Mutex
	h       *Heap
	id      int
	regions []*region
	partial [numClasses]*span // spans with free slots, by class
	spare   []*span           // span records for reuse
	// spanChunks holds every span record of the arena: pointer-free
	// memory, which the garbage collector does not scan. spanChunk is the
	// unused rest of the last one.
	spanChunks [][]span
	spanChunk  []span

	slots     [numClasses]int64 // slots in spans, by class
	freeSlots [numClasses]int64 // slots free in spans (slotFree or fresh)
	nspans    int64
	// empty counts the spans of each class with every slot free, all in
	// the partial list. At most one is kept: a class whose use swings
	// around a span boundary would otherwise release a span and make it
	// again over and over.
	empty [numClasses]int32

	// Blocks of this arena that caches of other arenas freed come home
	// through returned, a lock-free stack of batches pushed by sendHome.
	// Under mu, collect sorts them by class into ret; refill hands them out
	// again as they are, still marked cached, without touching their spans.
	returned atomic.Pointer[retBatch]
	pending  atomic.Int64 // blocks in returned
	ret      [numClasses][]entry
	nret     int // blocks in ret, at most retMax

	// Freed mid-size chunks of this arena held for reuse without the lock
	// (see midcache.go): each slot is a chunk's address with its length in
	// pages in the low bits, or 0. heldNext picks the slot a full set
	// gives up next. On lines of their own, away from mu.
	_        [64]byte
	held     [arenaHeld]atomic.Uintptr
	heldNext atomic.Uint32
	_        [64]byte
}

// A retBatch carries blocks of one arena home, with their classes (so that
// the arena need not read the blocks' state bytes, which the freeing
// goroutine wrote last); it is immutable once pushed.
type retBatch struct {
	next *retBatch
	n    int
	ent  [binMax]entry
	cls  [binMax]uint8
}

var retPool = sync.Pool{New: func() any { return new(retBatch) }}

// retMax bounds the blocks an arena keeps in ret, and those waiting in its
// returned stack; above it, blocks go back to their spans.
const retMax = 4096

// push adds a batch to the returned stack.
func (a *arena) push(b *retBatch) {
	for {
		old := a.returned.Load()
		b.next = old
		if a.returned.CompareAndSwap(old, b) {
			return
		}
	}
}

// collect moves the returned batches into ret. a.mu is held.
// Blocks beyond retMax go back to their spans.
func (a *arena) collect() {
	l := a.returned.Swap(nil)
	for l != nil {
		a.pending.Add(-int64(l.n))
		for i, e := range l.ent[:l.n] {
			if a.nret >= retMax {
				a.giveBack(l.ent[i:l.n])
				break
			}
			cl := l.cls[i]
			a.ret[cl] = append(a.ret[cl], e)
			a.nret++
		}
		next := l.next
		l.next = nil
		retPool.Put(l)
		l = next
	}
}

// dropReturned gives every returned block back to its span. a.mu is held.
func (a *arena) dropReturned() {
	a.collect()
	for cl := range a.ret {
		if len(a.ret[cl]) > 0 {
			a.giveBack(a.ret[cl])
			a.ret[cl] = a.ret[cl][:0]
		}
	}
	a.nret = 0
}

func (a *arena) stateOf(r *region, p uintptr) uintptr { return r.state + (p-r.base)>>4 }

// allocChunk takes n pages aligned to align pages from one of the arena's
// regions, making a new region when none has room. a.mu is held.
func (a *arena) allocChunk(n, align int32, k uint8) (*region, int32, error) {
	for i := len(a.regions) - 1; i >= 0; i-- {
		r := a.regions[i]
		if pg := r.allocPages(n, align, k); pg >= 0 {
			return r, pg, nil
		}
	}
	r, err := a.h.newRegion(a, int64(n+align)<<pageShift)
	if err != nil {
		return nil, -1, err
	}
	pg := r.allocPages(n, align, k)
	if pg < 0 {
		// The pages could not be opened (mprotect refused: the commit
		// charge of a huge region, or vm.max_map_count): give the region
		// back.
		err := r.growErr
		if err == nil {
			err = errors.New("a fresh region has no room for the chunk")
		}
		r.release()
		return nil, -1, err
	}
	// Only now can lookup find it, and a free of a wild pointer into it
	// read its state bytes.
	register(r)
	a.regions = append(a.regions, r)
	return r, pg, nil
}

// freeChunk returns a chunk and trims the region's top if it grew past the
// trim threshold. a.mu is held.
func (a *arena) freeChunk(r *region, pg int32) {
	r.freeChunkAt(pg)
	if r.top < r.dirty {
		// In int64: a threshold of 8 TiB or more wrapped in int32 pages,
		// to a negative one (never trim) or a tiny one (trim at every
		// free).
		thr := a.h.trimThreshold.Load() >> pageShift
		if thr >= 0 && int64(r.dirty-r.top) > thr {
			pad := padToPages(a.h.topPad.Load())
			from := r.dirty
			if r.trimFrom > 0 {
				// Still going down since the last trim: the swing is
				// everything given back since the top last grew.
				from = r.trimFrom
			}
			if a.h.trimTop(r, pad) && a.h.mmapDynamic.Load() {
				r.trimFrom, r.trimTo = from, r.dirty
			}
		}
	}
}

// newSpan makes a span of class cl and links it into the partial list.
func (a *arena) newSpan(cl uint8) (*span, error) {
	np := int32(classPages[cl])
	r, pg, err := a.allocChunk(np, 1, pageSpan)
	if err != nil {
		return nil, err
	}
	var s *span
	if n := len(a.spare); n > 0 {
		s = a.spare[n-1]
		a.spare = a.spare[:n-1]
		*s = span{}
	} else {
		if len(a.spanChunk) == 0 {
			a.spanChunk = make([]span, spanChunkLen)
			a.spanChunks = append(a.spanChunks, a.spanChunk)
		}
		s = &a.spanChunk[0]
		a.spanChunk = a.spanChunk[1:]
	}
	s.rp, s.page, s.class, s.base = uintptr(unsafe.Pointer(r)), pg, cl, r.addr(pg)
	s.nslots = int32(classSlots[cl])
	s.nfree = s.nslots
	for i := pg; i < pg+np; i++ {
		r.spans[i] = spanAddr(s)
		*(*uint8)(ptr(r.pcls + uintptr(i))) = cl
	}
	clear(bytesAt(a.stateOf(r, s.base), int(np)<<(pageShift-4)))
	r.spanPages += int64(np)
	a.slots[cl] += int64(s.nslots)
	a.freeSlots[cl] += int64(s.nslots)
	a.nspans++
	a.empty[cl]++
	a.link(s)
	return s, nil
}

func (a *arena) link(s *span) {
	s.pv = 0
	n := a.partial[s.class]
	s.nx = spanAddr(n)
	if n != nil {
		n.pv = spanAddr(s)
	}
	a.partial[s.class] = s
	s.linked = true
}

func (a *arena) unlink(s *span) {
	if p := s.prev(); p != nil {
		p.nx = s.nx
	} else {
		a.partial[s.class] = s.next()
	}
	if n := s.next(); n != nil {
		n.pv = s.pv
	}
	s.nx, s.pv, s.linked = 0, 0, false
}

// maxRetired bounds the regions a heap retires (see arena.retireEmpty):
// each keeps 1/16 of its size in address space, and two mappings, until
// Heap.Close, so a program that trims after every swing of its use across
// a region does not collect them without end. Past the bound, empty
// regions stay mapped, with their pages given back, as before retirement
// existed.
const maxRetired = 16

// retireEmpty unmaps the regions that hold no chunk at all, other than the
// arena's first and the program break, and returns them: their address
// space goes back to the system, as glibc deletes the empty heaps of its
// secondary arenas. They leave the address map first, so no new lookup
// finds them. Their state and page-class bytes stay mapped until
// Heap.Close, because a cache may still remember such a region (rbase,
// rstate, rpcls and the like) and read those bytes for a wild pointer into
// its old range, or for a block of a region mapped there since; they are
// dropped to zero pages (no memory, and they mark no block), so every such
// read falls through to the address map. a.mu is held.
func (a *arena) retireEmpty() []*region {
	var retired []*region
	for i := len(a.regions) - 1; i >= 1; i-- {
		r := a.regions[i]
		if r.top != 0 || r.releaseData == nil || a.h.nretired.Load() >= maxRetired {
			continue
		}
		unregister(r)
		if err := r.releaseData(); err != nil {
			register(r) // still mapped: keep it
			continue
		}
		decommit(r.state, r.state+uintptr(r.sacc.Load())<<(pageShift-4))
		decommit(r.pcls, r.pcls+uintptr(r.npages))
		a.h.nretired.Add(1)
		a.regions = append(a.regions[:i], a.regions[i+1:]...)
		retired = append(retired, r)
	}
	return retired
}

// releaseEmpty releases every empty span, including the one per class that
// giveBack keeps. a.mu is held.
func (a *arena) releaseEmpty() {
	for cl := 1; cl < numClasses; cl++ {
		for s := a.partial[cl]; s != nil && a.empty[cl] > 0; {
			next := s.next()
			if s.nfree == s.nslots {
				a.empty[cl]--
				a.releaseSpan(s)
			}
			s = next
		}
	}
}

// releaseSpan gives an empty span's pages back to its region.
func (a *arena) releaseSpan(s *span) {
	a.unlink(s)
	r := s.region()
	np := int32(classPages[s.class])
	for i := s.page; i < s.page+np; i++ {
		r.spans[i] = 0
		*(*uint8)(ptr(r.pcls + uintptr(i))) = 0
	}
	r.spanPages -= int64(np)
	a.slots[s.class] -= int64(s.nslots)
	a.freeSlots[s.class] -= int64(s.nslots)
	a.nspans--
	a.freeChunk(r, s.page)
	s.rp = 0
	a.spare = append(a.spare, s)
}

// refill moves free blocks of class cl into out, marking them cached, and
// returns how many it moved: every block of the class that other arenas'
// goroutines sent home (see returned), up to len(out), and if there were
// fewer than want of those, more from the spans, up to want in all.
//
// It also reports how many free blocks of the class the arena has left, for
// the caller to size its next batch.
func (a *arena) refill(cl uint8, out []entry, want int) (n int, spare int64, err error) {
	size := uintptr(classSize[cl])
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.returned.Load() != nil {
		a.collect()
	}
	if k := min(len(a.ret[cl]), len(out)); k > 0 {
		rl := a.ret[cl]
		copy(out, rl[len(rl)-k:])
		// The goroutines that freed these blocks wrote their state bytes
		// last. Writing them again here, all at once, fetches their cache
		// lines in parallel, instead of one miss at each Malloc that hands
		// one out: on two vCPUs this cut workload (c) by a sixth.
		for _, e := range out[:k] {
			*(*uint8)(ptr(e.st)) = slotCached | cl
		}
		a.ret[cl] = rl[:len(rl)-k]
		a.nret -= k
		n = k
	}
	out = out[:max(n, min(want, len(out)))]
	for n < len(out) {
		s := a.partial[cl]
		if s == nil {
			if s, err = a.newSpan(cl); err != nil {
				return n, a.freeSlots[cl] + int64(len(a.ret[cl])), err
			}
		}
		r := s.region()
		if s.nfree == s.nslots {
			a.empty[cl]--
		}
		for n < len(out) && s.nfree > 0 {
			var p uintptr
			if s.fresh < s.nslots {
				p = s.base + uintptr(s.fresh)*size
				s.fresh++
			} else {
				p = a.findFree(s, size)
			}
			st := a.stateOf(r, p)
			*(*uint8)(ptr(st)) = slotCached | cl
			out[n] = entry{p, st}
			n++
			s.nfree--
			a.freeSlots[cl]--
		}
		if s.nfree == 0 {
			a.unlink(s)
		}
	}
	return n, a.freeSlots[cl] + int64(len(a.ret[cl])), nil
}

// findFree returns a slotFree block of s below s.fresh; s.nfree counts at
// least one. It scans the span's state bytes eight at a time from where the
// last search stopped: only slot starts have nonzero states, and a free
// slot is the only state with both top bits set.
func (a *arena) findFree(s *span, size uintptr) uintptr {
	st0 := a.stateOf(s.region(), s.base)
	end := uintptr(s.fresh-1)*size>>4 + 1 // granules that hold handed-out slots
	words := (end + 7) / 8
	start := uintptr(s.scan) / 8
	for i := uintptr(0); i <= words; i++ {
		w := start + i
		if w >= words {
			w -= words
		}
		v := *(*uint64)(ptr(st0 + w*8))
		if m := v & (v << 1) & 0x8080808080808080; m != 0 {
			g := w*8 + uintptr(bits.TrailingZeros64(m)/8)
			s.scan = int32(g)
			return s.base + g<<4
		}
	}
	panic("malloc: internal error: span free count disagrees with its slot states")
}

// giveBack returns cached blocks, all of this arena, to their spans.
// a.mu is held.
func (a *arena) giveBack(es []entry) {
	for _, e := range es {
		r := lookup(e.p)
		s := spanAt(r.spans[r.pageOf(e.p)])
		*(*uint8)(ptr(e.st)) = slotFree | s.class
		s.nfree++
		a.freeSlots[s.class]++
		switch {
		case s.nfree == s.nslots && a.empty[s.class] > 0:
			// Empty, and the class keeps an empty span already: give its
			// pages back.
			if !s.linked {
				a.link(s)
			}
			a.releaseSpan(s)
		case s.nfree == s.nslots:
			a.empty[s.class]++
			if !s.linked {
				a.link(s)
			}
		case !s.linked:
			a.link(s)
		}
	}
}
