package malloc

import (
	"math/bits"
	"sync/atomic"

	"github.com/vmkit/vmkit/mem"
)

// A region is one of glibc's "heaps": a contiguous mapping owned by one
// arena and cut into chunks of whole pages. Every chunk is described out of
// band, in the slices below, never in the memory it describes:
//
//	kind[pg]    the state of every page: pageTop (above top), pageFree,
//	            pageMid (a mid-size block) or pageSpan (a span of small blocks)
//	head[pg]    at a chunk's first page: its length in pages
//	tail[pg]    at a chunk's last page: its length in pages, so that the
//	            chunk below a freed one is found in O(1) for coalescing
//	next, prev  at a free chunk's first page: its neighbours in its bin
//	spans[pg]   for every page of a span: the span (its address: see span)
//
// Pages [0, top) are chunks that tile the range without gaps. Pages
// [top, npages) are the top chunk: free, and clean above dirty. A freed chunk
// merges with free neighbours at once, and with the top chunk when it ends at
// top. All fields are guarded by the arena's mutex.
type region struct {
	owner *Heap
	arena *arena
	base  uintptr // first byte; a multiple of segSize
	end   uintptr // base + npages*pageSize
	state uintptr // one state byte per 16 bytes of the region (see slot states)
	// pcls is one byte per page, in a mapping of its own: the size class
	// of the span on the page, 0 for any other page. Written under the
	// arena lock, read without it by Cache.UnsafeFree, for which it is only
	// a hint (the state byte must agree).
	pcls uintptr

	npages int32
	top    int32 // first page of the top chunk
	dirty  int32 // pages [top, dirty) may hold data and are kept mapped
	hwm    int32 // pages below hwm have been handed out at some time
	// The automatic trims (arena.freeChunk) since the top last grew
	// lowered dirty from trimFrom to trimTo; trimFrom is 0 when there were
	// none (see raiseDirty).
	trimFrom, trimTo int32
	// Pages [0, acc) are readable and writable; the rest of the region is
	// reserved without access (PROT_NONE), as glibc reserves its heaps and
	// grows them with mprotect, so that mlockall and the commit charge see
	// only what is in use. acc >= dirty >= top. For a region on the
	// program break, acc is npages.
	acc int32
	// sacc: the state bytes of pages [0, sacc) are readable and writable.
	// It only grows, so that a cache that remembers the region with an
	// older sacc (see Cache.remember) never reads a state byte that is not
	// mapped. Read without the lock by the free paths; written under it.
	sacc atomic.Int32
	// growErr is why reach last failed.
	growErr error

	kind  []uint8
	head  []int32
	tail  []int32
	next  []int32
	prev  []int32
	spans []uintptr // see above; the *span as an address, so that the slice is not scanned

	bins     [numBins]int32 // first page of each bin's list, or -1
	nonempty [(numBins + 63) / 64]uint64

	freePages  int64 // pages in free chunks below top
	freeChunks int64
	midPages   int64 // pages in mid-size blocks
	midBlocks  int64
	spanPages  int64

	release func() error // unmaps the region and its state bytes
	// releaseData unmaps the region's own pages only, for Trim to retire
	// an empty region (see arena.retireEmpty); releaseMeta then unmaps
	// the state and page-class bytes, at Heap.Close. Nil for the
	// program break, which is never retired.
	releaseData, releaseMeta func() error
	source                   string // "mmap" or "brk"
}

// Page kinds.
const (
	pageTop  = 0
	pageFree = 1
	pageMid  = 2
	pageSpan = 3
)

const (
	pageShift = 12
	pageSize  = 1 << pageShift
	// Bins 0..127 hold free chunks of exactly 1..128 pages; the others hold
	// chunks whose length has the same bit length.
	exactBins = 128
	numBins   = exactBins + 24
)

func binOf(n int32) int {
	if n <= exactBins {
		return int(n - 1)
	}
	return exactBins + bits.Len32(uint32(n)) - 8
}

func newRegionMeta(r *region, npages int32) {
	r.npages = npages
	r.end = r.base + uintptr(npages)<<pageShift
	r.kind = make([]uint8, npages)
	r.head = make([]int32, npages)
	r.tail = make([]int32, npages)
	r.next = make([]int32, npages)
	r.prev = make([]int32, npages)
	r.spans = make([]uintptr, npages)
	for i := range r.bins {
		r.bins[i] = -1
	}
}

func (r *region) addr(pg int32) uintptr { return r.base + uintptr(pg)<<pageShift }

func (r *region) pageOf(p uintptr) int32 { return int32((p - r.base) >> pageShift) }

// setChunk records a chunk of n pages at pg with kind k.
func (r *region) setChunk(pg, n int32, k uint8) {
	r.head[pg] = n
	r.tail[pg+n-1] = n
	for i := pg; i < pg+n; i++ {
		r.kind[i] = k
	}
	switch k {
	case pageMid:
		r.mark(pg, midMark(n))
	case pageFree:
		r.mark(pg, 0)
	}
}

func (r *region) binInsert(pg, n int32) {
	b := binOf(n)
	r.next[pg] = r.bins[b]
	r.prev[pg] = -1
	if r.bins[b] >= 0 {
		r.prev[r.bins[b]] = pg
	}
	r.bins[b] = pg
	r.nonempty[b/64] |= 1 << (b % 64)
	r.freePages += int64(n)
	r.freeChunks++
}

func (r *region) binRemove(pg, n int32) {
	b := binOf(n)
	if p := r.prev[pg]; p >= 0 {
		r.next[p] = r.next[pg]
	} else {
		r.bins[b] = r.next[pg]
	}
	if nx := r.next[pg]; nx >= 0 {
		r.prev[nx] = r.prev[pg]
	}
	if r.bins[b] < 0 {
		r.nonempty[b/64] &^= 1 << (b % 64)
	}
	r.freePages -= int64(n)
	r.freeChunks--
}

// nextBin returns the first nonempty bin at or after b, or -1.
func (r *region) nextBin(b int) int {
	for w := b / 64; w < len(r.nonempty); w++ {
		m := r.nonempty[w]
		if w == b/64 {
			m &= ^uint64(0) << (b % 64)
		}
		if m != 0 {
			return w*64 + bits.TrailingZeros64(m)
		}
	}
	return -1
}

// allocPages takes a chunk of n pages whose first page is a multiple of align
// pages (a power of two), gives it kind k, and returns its first page or -1.
// Free chunks are tried best fit first; the top chunk last.
func (r *region) allocPages(n, align int32, k uint8) int32 {
	for b := r.nextBin(binOf(n)); b >= 0; b = r.nextBin(b + 1) {
		for pg := r.bins[b]; pg >= 0; pg = r.next[pg] {
			size := r.head[pg]
			start := (pg + align - 1) &^ (align - 1)
			if start+n > pg+size {
				continue
			}
			r.binRemove(pg, size)
			if start > pg {
				r.setChunk(pg, start-pg, pageFree)
				r.binInsert(pg, start-pg)
			}
			if rest := pg + size - (start + n); rest > 0 {
				r.setChunk(start+n, rest, pageFree)
				r.binInsert(start+n, rest)
			}
			r.setChunk(start, n, k)
			return start
		}
	}
	return r.allocTop(n, align, k)
}

// accUnit is the granularity of acc and sacc in pages: a page's 256 state
// bytes and the page itself change protection in whole system pages.
func accUnit() int32 { return int32(max(osPageSize>>8, 1)) }

// reach makes pages [0, to) readable and writable, with pad pages more when
// the region has them (M_TOP_PAD, as glibc's grow_heap), and reports
// whether it could. The arena lock is held.
func (r *region) reach(to, pad int32) bool {
	if to <= r.acc {
		return true
	}
	unit := accUnit()
	n := min(r.npages, (to+pad+unit-1)/unit*unit)
	if n < to {
		return false
	}
	if s := r.sacc.Load(); n > s {
		// The state bytes first: pages are never usable without them.
		if err := mem.Protect(bytesAt(r.state+uintptr(s)<<(pageShift-4), int(n-s)<<(pageShift-4)), mem.Read|mem.Write); err != nil {
			r.growErr = err
			return false
		}
		r.sacc.Store(n)
	}
	if err := mem.Protect(bytesAt(r.addr(r.acc), int(n-r.acc)<<pageShift), mem.Read|mem.Write); err != nil {
		r.growErr = err
		return false
	}
	r.acc = n
	return true
}

// retreat takes access away from the pages at and above from, which the
// caller has decommitted, keeping the state bytes. The arena lock is held.
func (r *region) retreat(from int32) {
	unit := accUnit()
	from = (from + unit - 1) / unit * unit
	if from >= r.acc {
		return
	}
	if mem.Protect(bytesAt(r.addr(from), int(r.acc-from)<<pageShift), mem.None) == nil {
		r.acc = from
	}
}

// granules is the number of 16-byte granules whose state bytes are mapped:
// what a cache may remember of the region (see Cache.remember).
func (r *region) granules() uintptr { return uintptr(r.sacc.Load()) << (pageShift - 4) }

// padToPages is a pad of n bytes (M_TOP_PAD, or Trim's argument) in whole
// pages, 0 for a negative n and at most math.MaxInt32, never wrapped: a
// pad that wrapped to a negative count of pages (Trim(1<<31), an M_TOP_PAD
// of 8 TiB) made trimTop give back, and close, live blocks below the top.
func padToPages(n int64) int32 {
	return int32(min((uint64(max(n, 0))+pageSize-1)>>pageShift, 1<<31-1))
}

// topPad is the region's M_TOP_PAD in pages.
func (r *region) topPad() int32 {
	return int32(min(r.owner.topPad.Load()>>pageShift, int64(r.npages)))
}

// allocTop takes the chunk from the top chunk, or returns -1.
func (r *region) allocTop(n, align int32, k uint8) int32 {
	start := (r.top + align - 1) &^ (align - 1)
	if start+n > r.npages || start+n < start {
		return -1
	}
	if !r.reach(start+n, r.topPad()) {
		return -1
	}
	if start > r.top {
		r.setChunk(r.top, start-r.top, pageFree)
		r.binInsert(r.top, start-r.top)
	}
	r.setChunk(start, n, k)
	r.top = start + n
	r.raiseDirty()
	r.hwm = max(r.hwm, r.top)
	return start
}

// raiseDirty notes that the pages below top hold data, now that top has
// risen. While the heap's thresholds are dynamic, a top that grows back over
// more than half of what the automatic trims gave back since it last grew
// means that the program's use swings by more than the trim threshold, and
// every swing would give pages back and fault them in again (a ring of
// mid-size blocks did it on every turn: 276 ns per step, 100 without it, in
// BenchmarkMidRing). The threshold rises to twice the swing, up to
// maxDynamicTrim, as glibc raises its thresholds when a mapped block is
// freed. Trim still gives everything back.
func (r *region) raiseDirty() {
	if r.dirty >= r.top {
		return
	}
	r.dirty = r.top
	if r.trimFrom > 0 && r.top > r.trimTo+(r.trimFrom-r.trimTo)/2 {
		swing := int64(r.trimFrom-r.trimTo) << pageShift
		r.trimFrom = 0
		r.owner.raiseTrim(2 * swing)
	}
}

// freePages returns the chunk at pg to the free pool, merging it with free
// neighbours and with the top chunk. It returns the number of pages that
// joined the top chunk.
func (r *region) freeChunkAt(pg int32) {
	r.mark(pg, 0)
	n := r.head[pg]
	own, ownN := pg, n // the freed chunk itself: the only pages whose kind changes, unless it joins the top
	if pg > 0 && r.kind[pg-1] == pageFree {
		ln := r.tail[pg-1]
		lpg := pg - ln
		r.binRemove(lpg, ln)
		r.head[pg] = 0
		pg, n = lpg, n+ln
	}
	if e := pg + n; e < r.top && r.kind[e] == pageFree {
		rn := r.head[e]
		r.binRemove(e, rn)
		r.head[e] = 0
		n += rn
	}
	if pg+n == r.top {
		for i := pg; i < pg+n; i++ {
			r.kind[i] = pageTop
		}
		r.head[pg] = 0
		r.top = pg
		return
	}
	r.head[pg] = n
	r.tail[pg+n-1] = n
	for i := own; i < own+ownN; i++ {
		r.kind[i] = pageFree
	}
	r.binInsert(pg, n)
}

// growInPlace extends the mid-size chunk at pg to n pages if the pages after
// it are free (or the top chunk), and reports whether it did.
func (r *region) growInPlace(pg, n int32) bool {
	have := r.head[pg]
	if n <= have {
		return true
	}
	e := pg + have
	need := n - have
	switch {
	case e == r.top:
		if e+need > r.npages || !r.reach(e+need, r.topPad()) {
			return false
		}
		r.top = e + need
		r.raiseDirty()
		r.hwm = max(r.hwm, r.top)
	case e < r.top && r.kind[e] == pageFree && r.head[e] >= need:
		fn := r.head[e]
		r.binRemove(e, fn)
		r.head[e] = 0
		if rest := fn - need; rest > 0 {
			r.setChunk(pg+n, rest, pageFree)
			r.binInsert(pg+n, rest)
		}
	default:
		return false
	}
	// Only the added pages change kind.
	r.head[pg] = n
	r.tail[pg+n-1] = n
	r.mark(pg, midMark(n))
	for i := pg + have; i < pg+n; i++ {
		r.kind[i] = pageMid
	}
	return true
}

// shrinkInPlace cuts the mid-size chunk at pg down to n pages and frees the
// rest.
func (r *region) shrinkInPlace(pg, n int32) {
	have := r.head[pg]
	if n >= have {
		return
	}
	r.setChunk(pg, n, pageMid)
	r.setChunk(pg+n, have-n, pageMid)
	r.freeChunkAt(pg + n)
}
