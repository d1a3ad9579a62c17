package malloc

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/vmkit/vmkit/mem"
)

var osPageSize = os.Getpagesize()

// A Heap is an allocator with its own memory, arenas, tunables and
// statistics. All its methods are safe for concurrent use; small requests
// are served from per-P caches without locks (see the package
// documentation). The zero Heap is not usable: call NewHeap.
type Heap struct {
	// mode is nonzero when hooks, perturbation, guard bytes or profiling
	// are on, or the heap is closed: every call then takes the slow path.
	mode atomic.Uint32

	shards []*cacheState // per-P caches, indexed by P id

	mu        sync.Mutex // guards arenas, caches, states and the fields below
	arenas    atomic.Pointer[[]*arena]
	nextArena int
	caches    map[*cacheState]struct{} // live caches of NewCache
	states    map[*cacheState]*mem.Mapping
	spares    []*cacheState
	closed    bool
	err       error // set when the heap cannot work at all (unsupported system)

	// dropMu keeps a cache's flush out of Close: the cleanup of a Cache
	// dropped without Close runs when the collector says, and must not
	// give blocks back into regions that Close is unmapping.
	dropMu sync.Mutex

	overflowMu sync.Mutex // guards overflow
	overflow   *cacheState

	arenaLimit    atomic.Int32 // arenas in use (M_ARENA_MAX)
	mmapThreshold atomic.Int64
	mmapDynamic   atomic.Bool
	mmapMax       atomic.Int64
	trimThreshold atomic.Int64
	topPad        atomic.Int64
	perturb       atomic.Int32
	guard         bool
	useBrk        bool
	regionSize    int64

	largeCount atomic.Int64 // blocks in their own mapping
	largeBytes atomic.Int64 // bytes mapped for them
	maxMapped  atomic.Int64

	// retired holds the regions Trim unmapped because they were empty:
	// their state and page-class bytes stay mapped until Close, since
	// caches may still remember them (see arena.retireEmpty). Guarded by
	// mu; nretired counts them.
	retired  []*region
	nretired atomic.Int32

	hooks       atomic.Pointer[Hooks]
	hookRun     atomic.Int32
	hookSkipped atomic.Int64

	prof   profiler
	guards guardTable
}

// Mode bits.
const (
	modeHooks = 1 << iota
	modePerturb
	modeGuard
	modeProfile
	modeClosed
)

func (h *Heap) setMode(bit uint32, on bool) {
	for {
		old := h.mode.Load()
		nw := old &^ bit
		if on {
			nw |= bit
		}
		if h.mode.CompareAndSwap(old, nw) {
			break
		}
	}
	// Mirror the mode into every cache, where the fast paths read it
	// without going through the Heap.
	h.mu.Lock()
	m := h.mode.Load()
	for st := range h.states {
		st.mode = m
	}
	h.mu.Unlock()
}

// Defaults, as glibc's on a 64-bit system.
const (
	defaultMmapThreshold = 128 << 10
	maxMmapThreshold     = 32 << 20
	defaultTrimThreshold = 128 << 10
	defaultTopPad        = 128 << 10
	defaultMmapMax       = 65536
	defaultArenaTest     = 8
	defaultRegionSize    = 64 << 20
)

// NewHeap returns a new heap configured by opts; the zero Options give
// glibc's defaults. No memory is mapped until the first allocation. Close a
// heap that is no longer needed: its memory stays mapped until then, even
// when nothing refers to the Heap any more.
func NewHeap(opts Options) (*Heap, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := supported(); err != nil {
		return nil, err
	}
	return newHeap(opts), nil
}

func newHeap(opts Options) *Heap {
	h := &Heap{
		caches: map[*cacheState]struct{}{},
		states: map[*cacheState]*mem.Mapping{},
	}
	h.guards.m = map[uintptr]guardRec{}
	ncpu := runtime.NumCPU()
	limit := opts.ArenaMax
	if limit == 0 {
		test := opts.ArenaTest
		if test == 0 {
			test = defaultArenaTest
		}
		limit = max(1, min(test, ncpu))
	}
	h.arenaLimit.Store(int32(limit))
	h.mmapThreshold.Store(defaultMmapThreshold)
	h.mmapDynamic.Store(true)
	if opts.MmapThreshold != 0 {
		h.mmapThreshold.Store(int64(opts.MmapThreshold))
		h.mmapDynamic.Store(false)
	}
	h.mmapMax.Store(defaultMmapMax)
	if opts.MmapMax != 0 {
		h.mmapMax.Store(int64(max(opts.MmapMax, 0)))
	}
	h.trimThreshold.Store(defaultTrimThreshold)
	if opts.TrimThreshold != 0 {
		h.trimThreshold.Store(int64(opts.TrimThreshold))
		h.mmapDynamic.Store(false)
	}
	h.topPad.Store(defaultTopPad)
	if opts.TopPad != 0 {
		h.topPad.Store(int64(max(opts.TopPad, 0)))
	}
	h.regionSize = defaultRegionSize
	h.useBrk = opts.Brk
	if opts.Perturb != 0 {
		h.perturb.Store(int32(opts.Perturb & 0xff))
		h.setMode(modePerturb, true)
	}
	if opts.Guard {
		h.guard = true
		h.setMode(modeGuard, true)
	}
	if opts.ProfileRate > 0 {
		h.SetProfileRate(opts.ProfileRate)
	}
	nshards := max(runtime.GOMAXPROCS(0), ncpu)
	h.shards = make([]*cacheState, nshards)
	for i := range h.shards {
		st, err := h.newCacheStateFor(i % limit)
		if err != nil {
			h.shards = h.shards[:i]
			break
		}
		h.shards[i] = st
	}
	return h
}

// arena returns arena i, making it on first use.
func (h *Heap) arena(i int) *arena {
	if as := h.arenas.Load(); as != nil && i < len(*as) {
		return (*as)[i]
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var as []*arena
	if p := h.arenas.Load(); p != nil {
		as = *p
	}
	for len(as) <= i {
		as = append(as, &arena{h: h, id: len(as)})
	}
	h.arenas.Store(&as)
	return as[i]
}

func (h *Heap) allArenas() []*arena {
	if p := h.arenas.Load(); p != nil {
		return *p
	}
	return nil
}

// newCacheState maps the state of a new cache and assigns it an arena
// round-robin.
func (h *Heap) newCacheState() (*cacheState, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	i := h.nextArena % int(h.arenaLimit.Load())
	h.nextArena++
	h.mu.Unlock()
	st, err := h.newCacheStateFor(i)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.caches[st] = struct{}{}
	h.mu.Unlock()
	return st, nil
}

func (h *Heap) newCacheStateFor(arena int) (*cacheState, error) {
	h.mu.Lock()
	if n := len(h.spares); n > 0 {
		st := h.spares[n-1]
		h.spares = h.spares[:n-1]
		h.mu.Unlock()
		initState(st, arena)
		st.mode = h.mode.Load()
		return st, nil
	}
	h.mu.Unlock()
	m, err := mem.Map(int(unsafe.Sizeof(cacheState{})), mem.Read|mem.Write, 0)
	if err != nil {
		return nil, noMemory("NewCache", int(unsafe.Sizeof(cacheState{})), err)
	}
	st := (*cacheState)(unsafe.Pointer(unsafe.SliceData(m.Bytes())))
	initState(st, arena)
	st.mode = h.mode.Load()
	h.mu.Lock()
	h.states[st] = m
	h.mu.Unlock()
	return st, nil
}

// dropCacheState flushes a cache's blocks and keeps its memory for reuse.
func (h *Heap) dropCacheState(st *cacheState) {
	h.dropMu.Lock()
	defer h.dropMu.Unlock()
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return
	}
	h.flushState(st)
	h.mu.Lock()
	delete(h.caches, st)
	h.spares = append(h.spares, st)
	h.mu.Unlock()
}

// flushState gives back every block cached in st.
func (h *Heap) flushState(st *cacheState) {
	h.flushMid(st)
	if st.nremote > 0 {
		h.giveBack(st.remote[:st.nremote])
		st.nremote = 0
	}
	for cl := 1; cl < numClasses; cl++ {
		bn := &st.bins[cl]
		if bn.n > 0 {
			h.giveBack(bn.ent[:bn.n])
			bn.n = 0
		}
	}
}

// giveBack returns cached blocks to their arenas, taking each arena's lock
// once per run of blocks of that arena.
func (h *Heap) giveBack(es []entry) {
	for len(es) > 0 {
		a := lookup(es[0].p).arena
		n := 1
		for n < len(es) && lookup(es[n].p).arena == a {
			n++
		}
		a.mu.Lock()
		a.giveBack(es[:n])
		a.mu.Unlock()
		es = es[n:]
	}
}

// park moves cached blocks of class cl, all of one arena, out of a full or
// overfull cache bin into that arena's ret list of the class, still marked
// cached, where the next refill of any of the arena's caches takes them
// back without searching spans; past retMax blocks parked, the rest go back
// to their spans.
func (h *Heap) park(es []entry, cl uint8) {
	if len(es) == 0 {
		return
	}
	a := lookup(es[0].p).arena
	a.mu.Lock()
	k := max(min(len(es), retMax-a.nret), 0)
	a.ret[cl] = append(a.ret[cl], es[:k]...)
	a.nret += k
	if k < len(es) {
		a.giveBack(es[k:])
	}
	a.mu.Unlock()
}

// sendHome sends cached blocks, whose classes are cls, to the returned
// stacks of their arenas, for caches of those arenas to reuse (see
// arena.returned). No lock is taken, unless an arena has retMax blocks
// waiting already, as when its own goroutines stopped allocating: then the
// blocks go straight back to their spans, so that the stack stays bounded.
func (h *Heap) sendHome(es []entry, cls []uint8) {
	for len(es) > 0 {
		r := lookup(es[0].p)
		a := r.arena
		lo, size := r.base, r.end-r.base // the last region of a seen: most blocks are in it
		b := retPool.Get().(*retBatch)
		b.n = 0
		k := 0
		for i, e := range es {
			mine := e.p-lo < size
			if !mine {
				if r := lookup(e.p); r.arena == a {
					mine, lo, size = true, r.base, r.end-r.base
				}
			}
			if mine {
				b.ent[b.n] = e
				b.cls[b.n] = cls[i]
				b.n++
			} else {
				es[k], cls[k] = e, cls[i]
				k++
			}
		}
		if a.pending.Add(int64(b.n)) > retMax {
			a.pending.Add(-int64(b.n))
			a.mu.Lock()
			a.giveBack(b.ent[:b.n])
			a.mu.Unlock()
			retPool.Put(b)
		} else {
			a.push(b)
		}
		es, cls = es[:k], cls[:k]
	}
}

// maxArenaBytes is the largest block an arena holds, with room for the
// region's alignment: page numbers within a region are int32.
const maxArenaBytes = (1<<31-1)<<pageShift - 2*segSize

// newRegion maps a region of at least minBytes for arena a.
func (h *Heap) newRegion(a *arena, minBytes int64) (*region, error) {
	size := max(h.regionSize, (minBytes+segSize-1)&^(segSize-1))
	need := (minBytes + segSize - 1) &^ (segSize - 1)
	var lastErr error
	for size >= need && size > 0 {
		r, err := h.mapRegion(a, size)
		if err == nil {
			return r, nil
		}
		lastErr = err
		if size == need {
			break
		}
		size = max(size/4, need)
	}
	return nil, lastErr
}

func (h *Heap) mapRegion(a *arena, size int64) (*region, error) {
	if a.id == 0 && h.useBrk {
		if r, err := h.brkRegion(a, size); err == nil {
			return r, nil
		}
	}
	// An ordinary region reserves address space that its arena commits as
	// it goes (NoReserve). A region made larger for one huge block is a
	// commitment: the kernel's overcommit policy must judge it, as it judges
	// glibc's mmap'd chunks, so that malloc(32 TiB) fails with ENOMEM instead
	// of succeeding and dying when touched.
	flags := mem.NoReserve
	if size > h.regionSize {
		flags = 0
	}
	// Aligned to a segment, so the address map names it; MapAligned gives
	// the slack of the alignment back to the system.
	// Both are reserved without access; region.reach opens them as the
	// top grows.
	m, err := mem.MapAligned(int(size), segSize, mem.None, flags)
	if err != nil {
		return nil, err
	}
	sm, err := mem.Map(int(size>>4), mem.None, mem.NoReserve)
	if err != nil {
		m.Close()
		return nil, err
	}
	pm, err := mem.Map(int(size>>pageShift), mem.Read|mem.Write, mem.NoReserve)
	if err != nil {
		m.Close()
		sm.Close()
		return nil, err
	}
	r := &region{owner: h, arena: a, source: "mmap"}
	r.base = m.Addr()
	r.state = sm.Addr()
	r.pcls = pm.Addr()
	newRegionMeta(r, int32(size>>pageShift))
	r.release = func() error { return errors.Join(m.Close(), sm.Close(), pm.Close()) }
	r.releaseData = m.Close
	r.releaseMeta = func() error { return errors.Join(sm.Close(), pm.Close()) }
	return r, nil
}

// trimTop gives the clean-able pages above top (keeping pad pages) back to
// the system. The arena lock is held.
func (h *Heap) trimTop(r *region, pad int32) bool {
	if pad >= r.dirty-r.top { // and r.top+pad does not overflow
		return false
	}
	from := r.top + pad
	if r.source == "brk" && h.brkShrink(r, from) {
		r.dirty = from
		return true
	}
	start, end := r.addr(from), r.addr(r.dirty)
	if err := decommit(start, end); err != nil {
		return false
	}
	r.dirty = from
	r.retreat(from)
	return true
}

// decommit drops the pages of [start, end), rounded inwards to system pages.
func decommit(start, end uintptr) error {
	ps := uintptr(osPageSize)
	start = (start + ps - 1) &^ (ps - 1)
	end &^= ps - 1
	if end <= start {
		return nil
	}
	return mem.Advise(bytesAt(start, int(end-start)), mem.DontNeed)
}

// sizeClass is the class of a request of size bytes, 0 <= size <= maxSmall.
func sizeClass(size int) uint8 {
	return sizeToClass[uint(size+15)>>4&(sizeTableLen-1)]
}

// alignedClass is the smallest class of at least size bytes whose blocks are
// all aligned to align (a power of two up to a page), or 0.
func alignedClass(size, align int) uint8 {
	for cl := sizeClass(size); cl < numClasses; cl++ {
		if int(classSize[cl])%align == 0 {
			return cl
		}
	}
	return 0
}

// Malloc allocates size bytes; see the package-level Malloc.
//
//go:nosplit
func (h *Heap) Malloc(size int) ([]byte, error) {
	// h is checked before the pin: a fault while pinned would be fatal,
	// where the slow path reports a nil *Heap.
	if uint(size) <= maxSmall && h != nil {
		cl := sizeClass(size)
		pid := procPin()
		shards := h.shards
		if uint(pid) < uint(len(shards)) {
			sh := shards[pid]
			bn := &sh.bins[cl&classMask]
			if n := bn.n; n > 0 && sh.mode == 0 {
				n--
				bn.n = n
				e := bn.ent[n]
				*(*uint8)(ptr(e.st)) = slotUsed | cl
				procUnpin()
				return unsafe.Slice((*byte)(ptr(e.p)), size), nil
			}
		}
		procUnpin()
	}
	return h.mallocSlow(size, nil)
}

// Free frees b; see the package-level Free.
//
//go:nosplit
func (h *Heap) Free(b []byte) error {
	p := addrOf(b)
	if p&15 == 0 && h != nil { // see Malloc
		pid := procPin()
		shards := h.shards
		if uint(pid) < uint(len(shards)) {
			sh := shards[pid]
			g := granule(p - sh.rbase)
			if g >= sh.rgran {
				if g := granule(p - sh.fbase); g < sh.fgran {
					// Another arena's block: queued here in a short path,
					// as in Cache.Free; anything else (not a used block,
					// or a slow mode on) takes the slow path, which
					// reports the error.
					st := sh.fstate + g
					if s := *(*uint8)(ptr(st)); s&slotMask == slotUsed && sh.mode == 0 {
						*(*uint8)(ptr(st)) = s ^ (slotUsed | slotCached)
						i := sh.nremote & (binMax - 1)
						sh.remote[i] = entry{p, st}
						sh.rcls[i] = s & classMask
						if sh.nremote = i + 1; i+1 == binMax {
							return h.sendFull(sh)
						}
						procUnpin()
						return nil
					}
					procUnpin()
					return h.freeSlow(p, nil)
				}
				g = sh.remember(h, p)
			}
			if g < sh.rgran && sh.mode == 0 {
				// The class comes from b's capacity, as in Cache.Free.
				st := sh.rstate + g
				cl := sizeClass(cap(b))
				bn := &sh.bins[cl&classMask]
				s := *(*uint8)(ptr(st))
				if s == slotUsed|cl {
					if n := bn.n; n < bn.max {
						*(*uint8)(ptr(st)) = slotCached | cl
						bn.ent[n] = entry{p, st}
						bn.n = n + 1
						procUnpin()
						return nil
					}
				} else if s&slotMask == slotUsed {
					return h.freeResliced(sh, p, st, s)
				}
			}
		}
		procUnpin()
	}
	return h.freeSlow(p, nil)
}

// freeResliced caches the used block p, whose state byte at st is s, in the
// per-P cache sh when its bin has room: Free's fast path for a block whose
// capacity does not give its class. It runs pinned to sh's P and unpins.
func (h *Heap) freeResliced(sh *cacheState, p, st uintptr, s uint8) error {
	bn := &sh.bins[s&classMask]
	if n := bn.n; n < bn.max {
		*(*uint8)(ptr(st)) = s ^ (slotUsed | slotCached)
		bn.ent[n] = entry{p, st}
		bn.n = n + 1
		procUnpin()
		return nil
	}
	procUnpin()
	return h.freeSlow(p, nil)
}

// sendFull sends the full remote queue of the per-P cache sh home, with
// the goroutine pinned to sh's P. It unpins.
func (h *Heap) sendFull(sh *cacheState) error {
	var tmp homeBatch
	tmp.take(sh)
	procUnpin()
	h.sendHome(tmp.ent[:], tmp.cls[:])
	return nil
}

// remember makes p's region the first remembered one of the per-P cache
// and returns p's granule in it, or one that fails the range check. A
// region of another arena is remembered as the foreign one instead.
func (sh *cacheState) remember(h *Heap, p uintptr) uintptr {
	if g := granule(p - sh.rbase2); g < sh.rgran2 {
		sh.rbase, sh.rbase2 = sh.rbase2, sh.rbase
		sh.rgran, sh.rgran2 = sh.rgran2, sh.rgran
		sh.rstate, sh.rstate2 = sh.rstate2, sh.rstate
		sh.rpcls, sh.rpcls2 = sh.rpcls2, sh.rpcls
		return g
	}
	if r := lookup(p); r != nil && r.owner == h {
		if r.arena.id != int(sh.arena) {
			sh.fbase, sh.fgran, sh.fstate = r.base, r.granules(), r.state
			return ^uintptr(0)
		}
		sh.rbase2, sh.rgran2, sh.rstate2, sh.rpcls2 = sh.rbase, sh.rgran, sh.rstate, sh.rpcls
		sh.rbase, sh.rgran, sh.rstate, sh.rpcls = r.base, r.granules(), r.state, r.pcls
		return granule(p - r.base)
	}
	return ^uintptr(0)
}

// check reports why the heap (or cache c) cannot serve a request.
var (
	errNilHeap  = errors.New("malloc: nil *Heap: make one with NewHeap")
	errZeroHeap = errors.New("malloc: the zero Heap is not usable: make one with NewHeap")
)

func (h *Heap) check(c *Cache) error {
	if h == nil {
		return errNilHeap
	}
	if h.err != nil {
		return h.err
	}
	if h.regionSize == 0 {
		return errZeroHeap
	}
	if h.mode.Load()&modeClosed != 0 || (c != nil && c.st == &closedState) {
		return ErrClosed
	}
	return nil
}

func (h *Heap) mallocSlow(size int, c *Cache) ([]byte, error) {
	if err := h.check(c); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, invalidArg(fmt.Sprintf("malloc(%d)", size), "negative size")
	}
	if h.mode.Load() != 0 {
		return h.special(opMalloc, nil, size, 0, c)
	}
	if c != nil && size > maxSmall && int64(size) < h.mmapThreshold.Load() {
		// A mid-size request through a Cache: a held chunk, or the arena.
		pages := int32((size + pageSize - 1) >> pageShift)
		a := h.arena(int(c.st.arena))
		p := takeMid(pages, c, a)
		if p == 0 {
			var err error
			if p, err = allocChunk("malloc", size, pages, 1, a); err != nil {
				return nil, err
			}
		}
		return bytesAt(p, size), nil
	}
	p, err := h.alloc("malloc", size, 0, c)
	if err != nil {
		return nil, err
	}
	return bytesAt(p, size), nil
}

func (h *Heap) freeSlow(p uintptr, c *Cache) error {
	if p == 0 {
		return nil
	}
	if err := h.check(c); err != nil {
		return err
	}

	if h.mode.Load() != 0 {
		_, err := h.special(opFree, bytesAt(p, 0), 0, 0, c)
		return err
	}
	return h.free("free", p, c)
}

// alloc is the allocator without hooks or checks: at least size bytes
// aligned to align (0 for the default 16, else a power of two).
func (h *Heap) alloc(op string, size, align int, c *Cache) (uintptr, error) {
	if size <= maxSmall && align <= osPageSize && align <= pageSize {
		cl := sizeClass(size)
		if align > 16 {
			cl = alignedClass(size, align)
		}
		if cl != 0 {
			p, err := h.takeSmall(cl, c)
			if err != nil {
				return 0, noMemory(op, size, err)
			}
			return p, nil
		}
	}
	if uint64(size) > 1<<46 {
		return 0, tooLarge(op, size, 1<<46)
	}
	var mapErr error
	if (int64(size) >= h.mmapThreshold.Load() || align > segSize) && h.largeCount.Load() < h.mmapMax.Load() {
		p, err := h.allocLarge(size, align)
		if err == nil {
			return p, nil
		}
		// Fall back to an arena, as glibc does when mmap fails.
		mapErr = err
	}
	if int64(size) > maxArenaBytes {
		// An arena counts pages in int32: a larger block would wrap.
		if mapErr != nil {
			return 0, noMemory(op, size, mapErr)
		}
		return 0, &opError{msg: fmt.Sprintf("%s(%d): more than an arena holds, and M_MMAP_MAX blocks have mappings of their own already", op, size), err: ErrNoMemory}
	}
	pages := int32((size + pageSize - 1) >> pageShift)
	if pages == 0 {
		pages = 1
	}
	a := h.arena(h.arenaIndex(c))
	alignPages := int32(1)
	if align > pageSize {
		alignPages = int32(align >> pageShift)
	} else if p := takeMid(pages, c, a); p != 0 {
		return p, nil
	}
	return allocChunk(op, size, pages, alignPages, a)
}

// allocChunk takes a mid-size chunk of pages pages aligned to alignPages
// pages from arena a, under its lock.
func allocChunk(op string, size int, pages, alignPages int32, a *arena) (uintptr, error) {
	a.mu.Lock()
	r, pg, err := a.allocChunk(pages, alignPages, pageMid)
	if err == nil {
		r.midPages += int64(pages)
		r.midBlocks++
	}
	a.mu.Unlock()
	if err != nil {
		return 0, noMemory(op, size, err)
	}
	return r.addr(pg), nil
}

func (h *Heap) arenaIndex(c *Cache) int {
	if c != nil {
		return int(c.st.arena)
	}
	pid := procPin()
	if uint(pid) < uint(len(h.shards)) {
		a := int(h.shards[pid].arena)
		procUnpin()
		return a
	}
	procUnpin()
	return pid % int(h.arenaLimit.Load())
}

// takeSmall hands out a block of class cl from cache c, or from the per-P
// cache when c is nil.
func (h *Heap) takeSmall(cl uint8, c *Cache) (uintptr, error) {
	if c != nil {
		return c.take(cl)
	}
	pid := procPin()
	if uint(pid) < uint(len(h.shards)) {
		bn := &h.shards[pid].bins[cl]
		if n := bn.n; n > 0 {
			n--
			bn.n = n
			e := bn.ent[n]
			procUnpin()
			*(*uint8)(ptr(e.st)) = slotUsed | cl
			return e.p, nil
		}
	} else {
		procUnpin()
		return h.overflowTake(cl)
	}
	want := max(min(h.shards[pid].bins[cl&classMask].batch, binLimit[cl]), 1)
	ai := h.shards[pid].arena
	procUnpin()
	// Refill: fetch a batch from the P's arena with the P unpinned (the
	// arena lock may block), then pin again and keep what the P's bin has
	// room for. The goroutine may be on another P by then, whose cache
	// serves another arena: a cache holds blocks of its own arena only
	// (park and the remote queues rely on it), so the batch is then parked.
	var tmp [binMax / 2]entry
	n, spare, err := h.arena(int(ai)).refill(cl, tmp[:], int(want))
	if n == 0 {
		return 0, err
	}
	e := tmp[n-1]
	rest := tmp[:n-1]
	pid = procPin()
	if uint(pid) < uint(len(h.shards)) && h.shards[pid].arena == ai {
		bn := &h.shards[pid].bins[cl&classMask]
		bn.adapt(spare)
		k := min(uint32(len(rest)), bn.max-bn.n)
		copy(bn.ent[bn.n:], rest[:k])
		bn.n += k
		rest = rest[k:]
	}
	procUnpin()
	h.park(rest, cl)
	*(*uint8)(ptr(e.st)) = slotUsed | cl
	return e.p, nil
}

// overflowTake serves a goroutine on a P beyond the per-P caches (after
// GOMAXPROCS grew) from one shared cache under a mutex.
func (h *Heap) overflowTake(cl uint8) (uintptr, error) {
	h.overflowMu.Lock()
	defer h.overflowMu.Unlock()
	if h.overflow == nil {
		st, err := h.newCacheStateFor(0)
		if err != nil {
			return 0, err
		}
		h.overflow = st
	}
	c := Cache{h: h, st: h.overflow}
	return c.take(cl)
}

// putSmall caches the used small block p with state s at st.
func (h *Heap) putSmall(p, st uintptr, s uint8, c *Cache, arenaID int) {
	if c != nil {
		if arenaID != int(c.st.arena) {
			c.st.putRemote(h, p, st, s)
			return
		}
		c.put(p, st, s)
		return
	}
	cl := s & classMask
	pid := procPin()
	if uint(pid) < uint(len(h.shards)) && arenaID != int(h.shards[pid].arena) {
		h.queueHome(h.shards[pid], p, st, s)
		return
	}
	if uint(pid) >= uint(len(h.shards)) {
		procUnpin()
		h.overflowMu.Lock()
		if h.overflow == nil || int(h.overflow.arena) != arenaID {
			// No cache, or one of another arena: give the block
			// straight back.
			h.overflowMu.Unlock()
			*(*uint8)(ptr(st)) = slotCached | cl
			h.giveBack([]entry{{p, st}})
			return
		}
		oc := Cache{h: h, st: h.overflow}
		oc.put(p, st, s)
		h.overflowMu.Unlock()
		return
	}
	bn := &h.shards[pid].bins[cl]
	if bn.n >= bn.max {
		procUnpin()
		h.putSmallFull(p, st, s, arenaID)
		return
	}
	*(*uint8)(ptr(st)) = s ^ (slotUsed | slotCached)
	bn.ent[bn.n] = entry{p, st}
	bn.n++
	procUnpin()
}

// queueHome marks the used block p (state s at st), of another arena than
// the per-P cache sh serves, cached and queues it to go home, sending the
// queue when it is full. It runs pinned to sh's P and unpins.
func (h *Heap) queueHome(sh *cacheState, p, st uintptr, s uint8) {
	*(*uint8)(ptr(st)) = s ^ (slotUsed | slotCached)
	if !sh.queueRemote(p, st, s&classMask) {
		procUnpin()
		return
	}
	var batch homeBatch
	batch.take(sh)
	procUnpin()
	h.sendHome(batch.ent[:], batch.cls[:])
}

// putSmallFull caches p, a used block of arena arenaID, in the per-P bin
// after moving the older half of the bin back to the arena. The goroutine
// pins again here and may be on another P than the caller saw: if that P's
// cache serves another arena, p is queued to go home instead, as putSmall
// does, since a cache holds blocks of its own arena only.
func (h *Heap) putSmallFull(p, st uintptr, s uint8, arenaID int) {
	var tmp [binMax / 2]entry
	k := uint32(0)
	pid := procPin()
	switch {
	case uint(pid) < uint(len(h.shards)) && int(h.shards[pid].arena) == arenaID:
		bn := &h.shards[pid].bins[s&classMask]
		if bn.n >= bn.max {
			k = bn.max / 2
			copy(tmp[:], bn.ent[:k])
			copy(bn.ent[:], bn.ent[k:bn.n])
			bn.n -= k
			bn.batch = minBatch(bn.max)
		}
		*(*uint8)(ptr(st)) = s ^ (slotUsed | slotCached)
		bn.ent[bn.n] = entry{p, st}
		bn.n++
		procUnpin()
	case uint(pid) < uint(len(h.shards)):
		h.queueHome(h.shards[pid], p, st, s)
		return
	default:
		// No per-P cache: straight back to the span.
		procUnpin()
		*(*uint8)(ptr(st)) = s ^ (slotUsed | slotCached)
		h.giveBack([]entry{{p, st}})
		return
	}
	h.park(tmp[:k], s&classMask)
}

// free is Free without hooks: it validates p and frees its block.
func (h *Heap) free(op string, p uintptr, c *Cache) error {
	r := lookup(p)
	if r == nil {
		return h.freeLarge(op, p)
	}
	if r.owner != h {
		return invalidPointer(op, p, "the block belongs to another Heap")
	}
	if p&15 != 0 {
		return invalidPointer(op, p, "not the start of a block (interior pointer)")
	}
	if r.pageOf(p) >= r.sacc.Load() {
		return invalidPointer(op, p, "the address was never allocated")
	}
	st := r.state + (p-r.base)>>4
	s := *(*uint8)(ptr(st))
	if s&slotMask == slotUsed {
		h.putSmall(p, st, s, c, r.arena.id)
		return nil
	}
	if isMidUsed(s) && p&(pageSize-1) == 0 {
		h.putMid(p, st, int32(s), r.arena.id, c)
		return nil
	}
	return h.freeLocked(op, r, p, st)
}

// freeLocked is free's path under the arena lock: a mid-size block, or
// whatever the state byte alone cannot decide.
func (h *Heap) freeLocked(op string, r *region, p, st uintptr) error {
	a := r.arena
	a.mu.Lock()
	defer a.mu.Unlock()
	pg := r.pageOf(p)
	switch r.kind[pg] {
	case pageSpan:
		s := *(*uint8)(ptr(st))
		switch s & slotMask {
		case slotCached, slotFree:
			return doubleFree(op, p, "the small block is already free")
		case slotUsed:
			*(*uint8)(ptr(st)) = slotCached | s&classMask
			a.giveBack([]entry{{p, st}})
			return nil
		}
		sp := spanAt(r.spans[pg])
		if (p-sp.base)%uintptr(classSize[sp.class]) == 0 {
			return invalidPointer(op, p, "the block was never allocated")
		}
		return invalidPointer(op, p, "not the start of a block (interior pointer)")
	case pageMid:
		if p&(pageSize-1) != 0 || r.head[pg] == 0 {
			return invalidPointer(op, p, "not the start of a block (interior pointer)")
		}
		if isMidCached(*(*uint8)(ptr(st))) {
			return doubleFree(op, p, "the mid-size block is already free")
		}
		a.freeMid(r, pg)
		return nil
	case pageFree:
		return doubleFree(op, p, "the address lies in free memory of the heap")
	}
	if pg < r.hwm {
		return doubleFree(op, p, "the address lies in free memory of the heap")
	}
	return invalidPointer(op, p, "the address was never allocated")
}

// blockInfo describes a live block: its usable size and kind.
type blockInfo struct {
	kind   uint8 // pageSpan, pageMid, or pageTop for a large block
	usable int
	r      *region
	lg     *largeBlock
}

// info validates p as the start of a live block and describes it.
func (h *Heap) info(op string, p uintptr) (blockInfo, error) {
	r := lookup(p)
	if r == nil {
		lg, err := h.findLarge(op, p)
		if err != nil {
			return blockInfo{}, err
		}
		return blockInfo{kind: pageTop, usable: lg.usable(), lg: lg}, nil
	}
	if r.owner != h {
		return blockInfo{}, invalidPointer(op, p, "the block belongs to another Heap")
	}
	if p&15 != 0 {
		return blockInfo{}, invalidPointer(op, p, "not the start of a block (interior pointer)")
	}
	if r.pageOf(p) >= r.sacc.Load() {
		return blockInfo{}, invalidPointer(op, p, "the address was never allocated")
	}
	st := r.state + (p-r.base)>>4
	if s := *(*uint8)(ptr(st)); s&slotMask == slotUsed {
		return blockInfo{kind: pageSpan, usable: int(classSize[s&classMask]), r: r}, nil
	}
	a := r.arena
	a.mu.Lock()
	defer a.mu.Unlock()
	pg := r.pageOf(p)
	switch r.kind[pg] {
	case pageMid:
		if p&(pageSize-1) == 0 && r.head[pg] != 0 {
			if isMidCached(*(*uint8)(ptr(st))) {
				return blockInfo{}, doubleFree(op, p, "the mid-size block is free")
			}
			return blockInfo{kind: pageMid, usable: int(r.head[pg]) << pageShift, r: r}, nil
		}
	case pageSpan:
		switch *(*uint8)(ptr(st)) & slotMask {
		case slotCached, slotFree:
			return blockInfo{}, doubleFree(op, p, "the small block is free")
		}
	case pageFree:
		return blockInfo{}, doubleFree(op, p, "the address lies in free memory of the heap")
	case pageTop:
		if pg < r.hwm {
			return blockInfo{}, doubleFree(op, p, "the address lies in free memory of the heap")
		}
	}
	return blockInfo{}, invalidPointer(op, p, "not the start of a live block")
}

// UsableSize reports how many bytes b's block holds, at least the size asked
// for (malloc_usable_size). It returns 0 for nil and for anything that is
// not a live block of h.
func (h *Heap) UsableSize(b []byte) int {
	p := addrOf(b)
	if p == 0 || h.check(nil) != nil {
		return 0
	}
	if h.guard {
		if g, ok := h.guards.get(p); ok {
			return g.size
		}
		return 0
	}
	bi, err := h.info("malloc_usable_size", p)
	if err != nil {
		return 0
	}
	return bi.usable
}

// mulSize multiplies count by size, refusing negatives and overflow.
func mulSize(op string, count, size int) (int, error) {
	if count < 0 || size < 0 {
		return 0, invalidArg(op, fmt.Sprintf("negative count or size (%d, %d)", count, size))
	}
	hi, lo := bits.Mul64(uint64(count), uint64(size))
	if hi != 0 || lo > uint64(^uint(0)>>1) {
		return 0, &opError{msg: fmt.Sprintf("%s(%d, %d): the product overflows", op, count, size), err: ErrNoMemory}
	}
	return int(lo), nil
}

// Calloc allocates count*size zeroed bytes; see the package-level Calloc.
func (h *Heap) Calloc(count, size int) ([]byte, error) {
	n, err := mulSize("calloc", count, size)
	if err != nil {
		return nil, err
	}
	b, err := h.Malloc(n)
	if err != nil {
		return nil, err
	}
	clear(b)
	return b, nil
}

// Realloc resizes b; see the package-level Realloc.
func (h *Heap) Realloc(b []byte, size int) ([]byte, error) { return h.realloc(b, size, nil) }

// ReallocArray resizes b to count*size bytes; see the package-level
// ReallocArray.
func (h *Heap) ReallocArray(b []byte, count, size int) ([]byte, error) {
	n, err := mulSize("reallocarray", count, size)
	if err != nil {
		return nil, err
	}
	return h.realloc(b, n, nil)
}

func (h *Heap) realloc(b []byte, size int, c *Cache) ([]byte, error) {
	p := addrOf(b)
	if p == 0 {
		if c != nil {
			return c.Malloc(size)
		}
		return h.Malloc(size)
	}
	if err := h.check(c); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, invalidArg("realloc", fmt.Sprintf("negative size %d", size))
	}
	if size == 0 {
		if c != nil {
			return nil, c.Free(b)
		}
		return nil, h.Free(b)
	}
	if h.mode.Load() != 0 {
		return h.special(opRealloc, b, size, 0, c)
	}
	q, err := h.reallocRaw(p, size, c)
	if err != nil {
		return nil, err
	}
	return bytesAt(q, size), nil
}

// reallocRaw resizes the block at p to size bytes, in place when it can.
func (h *Heap) reallocRaw(p uintptr, size int, c *Cache) (uintptr, error) {
	bi, err := h.info("realloc", p)
	if err != nil {
		return 0, err
	}
	switch bi.kind {
	case pageSpan:
		if size <= bi.usable {
			return p, nil
		}
		if size > 1024 && int64(size) < h.mmapThreshold.Load() {
			// A block that grows past 1 KiB is likely to keep growing: give
			// it whole pages at the top of a region, where later growth is
			// in place instead of a copy per size class.
			if q, ok := h.allocMidTop(size, c); ok {
				copy(bytesAt(q, size), bytesAt(p, bi.usable))
				if err := h.free("realloc", p, c); err != nil {
					return 0, err
				}
				return q, nil
			}
		}
	case pageMid:
		if q, ok := h.reallocMid(bi.r, p, size, c); ok {
			return q, nil
		}
	case pageTop:
		if q, ok := h.reallocLarge(bi.lg, size); ok {
			return q, nil
		}
	}
	q, err := h.alloc("realloc", size, 0, c)
	if err != nil {
		return 0, err
	}
	copy(bytesAt(q, size), bytesAt(p, min(bi.usable, size)))
	if err := h.free("realloc", p, c); err != nil {
		return 0, err
	}
	return q, nil
}

// allocMidTop takes a mid-size chunk for size bytes from the top chunk of
// one of the arena's regions.
func (h *Heap) allocMidTop(size int, c *Cache) (uintptr, bool) {
	if int64(size) > maxArenaBytes {
		return 0, false
	}
	a := h.arena(h.arenaIndex(c))
	pages := int32((size + pageSize - 1) >> pageShift)
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.regions) - 1; i >= 0; i-- {
		r := a.regions[i]
		if pg := r.allocTop(pages, 1, pageMid); pg >= 0 {
			r.midPages += int64(pages)
			r.midBlocks++
			return r.addr(pg), true
		}
	}
	return 0, false
}

// reallocMid grows or shrinks a mid-size block in place.
func (h *Heap) reallocMid(r *region, p uintptr, size int, c *Cache) (uintptr, bool) {
	if int64(size) >= h.mmapThreshold.Load() && size > maxSmall*4 && h.largeCount.Load() < h.mmapMax.Load() {
		// Let it move to its own mapping, where it can grow by mremap.
		return 0, false
	}
	if int64(size) > maxArenaBytes {
		return 0, false // too big for an arena: alloc refuses it
	}
	pages := int32((size + pageSize - 1) >> pageShift)
	a := r.arena
	a.mu.Lock()
	defer a.mu.Unlock()
	pg := r.pageOf(p)
	have := r.head[pg]
	if e := pg + have; pages > have && e < r.top && r.kind[e] == pageMid && isMidCached(r.stateOfPage(e)) &&
		(a.takeBackHeld(r.addr(e), r.head[e]) || c != nil && c.st.removeMid(r.addr(e))) {
		// The chunk after it is free, held in the arena's slots or by the
		// Cache the call came through: give it to the arena, so that the
		// block can grow into it. (One held by another Cache counts as in
		// use.)
		a.freeMid(r, e)
	}
	switch {
	case pages == have:
		return p, true
	case pages < have:
		if size <= maxSmall {
			return 0, false // move it into a size class
		}
		r.shrinkInPlace(pg, pages)
		r.midPages -= int64(have - pages)
		return p, true
	case r.growInPlace(pg, pages):
		r.midPages += int64(pages - have)
		return p, true
	}
	// Move it to the top chunk, where the next growth can be in place.
	npg := r.allocTop(pages, 1, pageMid)
	if npg < 0 {
		return 0, false
	}
	q := r.addr(npg)
	copy(bytesAt(q, int(have)<<pageShift), bytesAt(p, int(have)<<pageShift))
	r.midPages += int64(pages - have)
	a.freeChunk(r, pg)
	return q, true
}

// aligned serves the aligned_alloc family.
func (h *Heap) aligned(op string, alignment, size int, c *Cache) ([]byte, error) {
	if err := h.check(c); err != nil {
		return nil, err
	}
	if alignment <= 0 || alignment&(alignment-1) != 0 {
		return nil, invalidArg(op, fmt.Sprintf("alignment %d is not a power of two", alignment))
	}
	if op == "posix_memalign" && alignment%int(unsafe.Sizeof(uintptr(0))) != 0 {
		return nil, invalidArg(op, fmt.Sprintf("alignment %d is not a multiple of the pointer size", alignment))
	}
	if size < 0 {
		return nil, invalidArg(op, fmt.Sprintf("negative size %d", size))
	}
	if uint64(alignment) > 1<<40 {
		return nil, &opError{msg: fmt.Sprintf("%s(%d, %d): alignment above 1 TiB", op, alignment, size), err: ErrNoMemory}
	}
	align := max(alignment, 16)
	if h.mode.Load() != 0 {
		return h.special(opMemalign, nil, size, align, c)
	}
	p, err := h.alloc(op, size, align, c)
	if err != nil {
		return nil, err
	}
	return bytesAt(p, size), nil
}

func (h *Heap) pvalloc(size int, c *Cache) ([]byte, error) {
	if size < 0 {
		return nil, invalidArg("pvalloc", fmt.Sprintf("negative size %d", size))
	}
	if uint64(size) > 1<<46 {
		// Rounded up, a size near MaxInt would wrap to a negative one.
		return nil, tooLarge("pvalloc", size, 1<<46)
	}
	n := (size + osPageSize - 1) &^ (osPageSize - 1)
	if n == 0 {
		n = osPageSize
	}
	return h.aligned("pvalloc", osPageSize, n, c)
}

// AlignedAlloc allocates size bytes at an address that is a multiple of
// alignment; see the package-level AlignedAlloc.
func (h *Heap) AlignedAlloc(alignment, size int) ([]byte, error) {
	return h.aligned("aligned_alloc", alignment, size, nil)
}

// Memalign allocates size bytes aligned to boundary; see the package-level
// Memalign.
func (h *Heap) Memalign(boundary, size int) ([]byte, error) {
	return h.aligned("memalign", boundary, size, nil)
}

// PosixMemalign allocates size bytes aligned to alignment; see the
// package-level PosixMemalign.
func (h *Heap) PosixMemalign(alignment, size int) ([]byte, error) {
	return h.aligned("posix_memalign", alignment, size, nil)
}

// Valloc allocates size page-aligned bytes; see the package-level Valloc.
func (h *Heap) Valloc(size int) ([]byte, error) {
	return h.aligned("valloc", osPageSize, size, nil)
}

// PValloc allocates size bytes rounded up to whole pages; see the
// package-level PValloc.
func (h *Heap) PValloc(size int) ([]byte, error) { return h.pvalloc(size, nil) }

// UnsafeMalloc is Malloc returning a bare pointer; see the package-level
// UnsafeMalloc. Its fast path is Malloc's, written out again, as in
// Cache.UnsafeMalloc.
//
//go:nosplit
func (h *Heap) UnsafeMalloc(size int) (unsafe.Pointer, error) {
	if uint(size) <= maxSmall && h != nil { // see Malloc
		cl := sizeClass(size)
		pid := procPin()
		shards := h.shards
		if uint(pid) < uint(len(shards)) {
			sh := shards[pid]
			bn := &sh.bins[cl&classMask]
			if n := bn.n; n > 0 && sh.mode == 0 {
				n--
				bn.n = n
				e := bn.ent[n]
				*(*uint8)(ptr(e.st)) = slotUsed | cl
				procUnpin()
				return ptr(e.p), nil
			}
		}
		procUnpin()
	}
	b, err := h.mallocSlow(size, nil)
	if err != nil {
		return nil, err
	}
	return unsafe.Pointer(unsafe.SliceData(b)), nil
}

// UnsafeFree frees the block at p; see the package-level UnsafeFree. Its
// fast path takes the class from the page-class bytes of the per-P cache's
// remembered region, as Cache.UnsafeFree does; everything else goes through
// Free.
//
//go:nosplit
func (h *Heap) UnsafeFree(p unsafe.Pointer) error {
	a := uintptr(p)
	if h == nil { // see Malloc
		return h.Free(unsafe.Slice((*byte)(p), 0))
	}
	pid := procPin()
	shards := h.shards
	if uint(pid) < uint(len(shards)) {
		sh := shards[pid]
		if g := granule(a - sh.rbase); g < sh.rgran && sh.mode == 0 {
			st := sh.rstate + g
			cl := *(*uint8)(ptr(sh.rpcls + g>>(pageShift-4)))
			bn := &sh.bins[cl&classMask]
			if s := *(*uint8)(ptr(st)); s == slotUsed|cl {
				if n := bn.n; n < bn.max {
					*(*uint8)(ptr(st)) = slotCached | cl
					bn.ent[n] = entry{a, st}
					bn.n = n + 1
					procUnpin()
					return nil
				}
			}
		}
	}
	procUnpin()
	return h.Free(unsafe.Slice((*byte)(p), 0))
}

// Close unmaps all of the heap's memory. Every block it allocated becomes
// invalid at once: the caller must make sure nothing uses them and that no
// other goroutine calls the heap during or after Close. Later calls return
// ErrClosed. The default heap cannot be closed.
func (h *Heap) Close() error {
	if h == defaultHeap {
		return errors.New("malloc: the default heap cannot be closed")
	}
	if h == nil {
		return errNilHeap
	}
	if h.regionSize == 0 && h.err == nil {
		return errZeroHeap
	}
	h.dropMu.Lock() // wait for a cache being flushed (see dropCacheState)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.dropMu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	h.dropMu.Unlock()
	h.setMode(modeClosed, true)
	var errs []error
	for _, a := range h.allArenas() {
		a.mu.Lock()
		for _, r := range a.regions {
			unregister(r)
			errs = append(errs, r.release())
		}
		a.regions = nil
		a.mu.Unlock()
	}
	h.mu.Lock()
	for _, r := range h.retired {
		errs = append(errs, r.releaseMeta())
	}
	h.retired = nil
	h.mu.Unlock()
	errs = append(errs, h.closeLarge())
	h.prof.forgetAll()
	// Cache states stay mapped (a Cache may still be referenced) but hold
	// nothing and have no room, so every call on them reports ErrClosed.
	// They forget the regions they remembered, whose state bytes are
	// unmapped now: Heap.Free's path for another arena's block reads the
	// state byte before the mode, and would fault there, pinned.
	h.mu.Lock()
	for st := range h.states {
		for cl := range st.bins {
			st.bins[cl].n, st.bins[cl].max = 0, 0
		}
		st.nremote = 0
		st.nmid, st.midPages = 0, 0
		st.rgran, st.rgran2, st.fgran = 0, 0, 0
	}
	h.mu.Unlock()
	return errors.Join(errs...)
}

// MaxSmall is the largest request served from a size class by a Cache
// without locks; larger requests go to the arenas or to their own mapping.
const MaxSmall = maxSmall
