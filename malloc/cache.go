package malloc

import (
	"runtime"
	"unsafe"
)

// entry is a cached free block: its address and the address of its state
// byte, so that handing it out needs no lookup.
type entry struct {
	p, st uintptr
}

// binMax bounds the queue of other arenas' blocks in a cache and the
// batches that carry them home; a power of two so that masking elides
// bounds checks.
const binMax = 64

// binCap bounds every bin: with its header a bin is then 1024 bytes, so
// that the fast paths find a class's bin with a shift rather than a
// multiplication, which Free would otherwise wait for after reading the
// block's state byte.
const binCap = (1024 - 16) / (2 * int(unsafe.Sizeof(uintptr(0))))

// A bin is a stack of cached blocks of one class; ent[:n] are valid.
type bin struct {
	n     uint32
	max   uint32 // the bin holds at most max entries (0 in a closed cache)
	batch uint32 // blocks fetched by the next refill: doubles while refills follow each other, back to minBatch after a flush
	_     uint32
	ent   [binCap]entry
}

// The fast paths rely on this size (see binCap).
var _ = [1]struct{}{}[unsafe.Sizeof(bin{})-1024]

// minBatch is the first refill of a bin of capacity max: a few blocks, so
// that a cache does not hoard blocks of a class it uses little.
func minBatch(m uint32) uint32 { return max(min(m/2, 4), 1) }

// adapt sizes the next refill from the free blocks of the class that the
// arena has left: a quarter of them, between minBatch and half the bin. A
// class with many free blocks in its spans (a burst that made new
// spans, or blocks that other goroutines sent home) is fetched in big
// batches, one lock per many blocks; a class with few is fetched a few at a
// time, so that caches do not hoard what other caches will need.
func (bn *bin) adapt(spare int64) {
	bn.batch = uint32(min(max(spare/4, int64(minBatch(bn.max))), int64(max(bn.max/2, 1))))
}

// cacheState is the memory of a cache. It lives outside the Go heap, so
// that the garbage collector never scans it and statistics may read it while
// its owner runs.
type cacheState struct {
	// mode mirrors Heap.mode for the fast paths (see Heap.setMode). It is
	// the first field, so that reading it also checks the state pointer
	// (a nil pointer faults there), which saves the fast paths an
	// instruction each.
	mode  uint32
	_     [60]byte // the bins on cache lines of their own, their entries on no line boundary
	bins  [64]bin  // indexed by class (a state byte's low six bits); only 1..numClasses-1 are used
	arena int32    // the arena that refills this cache
	// For a per-P cache: the regions of the last blocks freed, as in Cache.
	rbase, rgran, rstate    uintptr
	rbase2, rgran2, rstate2 uintptr
	rpcls, rpcls2           uintptr
	// For a per-P cache: the region of another arena of the last block
	// freed here from elsewhere, as in Cache.
	fbase, fgran, fstate uintptr
	// Blocks of other arenas freed through this cache, marked cached: they
	// go back to their own arenas in batches instead of being reused here,
	// so that a block, and the state bytes around it, stay with the
	// goroutines of one arena.
	nremote uint32
	remote  [binMax]entry
	rcls    [binMax]uint8 // the class of each block in remote
	// Mid-size chunks of the cache's arena held for reuse (see
	// midcache.go), oldest first: mid[:nmid], of midN pages each,
	// midPages in all.
	nmid     uint32
	midPages int32
	mid      [midCap]entry
	midN     [midCap]uint8
}

// binLimit is the capacity of a bin of each class: about 64 KiB of blocks,
// at least 2 and at most binCap blocks. A bin fills that far only when its
// class is freed more than allocated; refills start small (minBatch).
var binLimit = func() (l [numClasses]uint32) {
	for cl := 1; cl < numClasses; cl++ {
		l[cl] = uint32(min(max(65536/int(classSize[cl]), 2), binCap))
	}
	return l
}()

// closedState is the state of a closed Cache: every bin has room for
// nothing, so every call takes the slow path, which reports ErrClosed.
var closedState cacheState

func initState(st *cacheState, arena int) {
	for cl := 1; cl < numClasses; cl++ {
		st.bins[cl].n = 0
		st.bins[cl].max = binLimit[cl]
		st.bins[cl].batch = minBatch(binLimit[cl])
	}
	st.arena = int32(arena)
	st.rbase, st.rgran, st.rstate = 0, 0, 0
	st.rbase2, st.rgran2, st.rstate2 = 0, 0, 0
	st.rpcls, st.rpcls2 = 0, 0
	st.fbase, st.fgran, st.fstate = 0, 0, 0
	st.nremote = 0
	st.nmid, st.midPages = 0, 0
}

// A Cache is a front end to a Heap for one goroutine at a time, like
// glibc's tcache or a mimalloc heap: it keeps free blocks of each small size
// class, and up to 8 freed mid-size chunks (512 KiB in all), so that Malloc
// and Free of small blocks, and mostly of mid-size ones, take no lock and
// make no allocation on the Go heap. It refills from, and overflows into, its arena
// in batches. A block may be freed through any Cache, the Heap, or the
// package-level functions, whichever allocated it.
//
// A Cache must not be used by two goroutines at once. Close gives its blocks
// back; a Cache that is dropped without Close gives them back when the
// garbage collector finds it unreachable. Make one with Heap.NewCache or
// NewCache: the zero Cache is not usable, and its methods panic.
type Cache struct {
	h       *Heap
	st      *cacheState
	cleanup runtime.Cleanup
	// The region of the last block freed through the slow path: frees of
	// blocks in it skip the address map. rbase is its first byte, rgran its
	// length in 16-byte granules (0 until a region is known), rstate its
	// state bytes, one per granule.
	rbase, rgran, rstate    uintptr
	rbase2, rgran2, rstate2 uintptr // the region remembered before
	rpcls, rpcls2           uintptr // their page classes (region.pcls)
	// The region of another arena of the same heap that the last block
	// freed here from elsewhere came from: frees of its blocks go straight
	// to the queue that sends them home (cacheState.remote).
	fbase, fgran, fstate uintptr
}

// NewCache returns a new Cache in front of h.
func (h *Heap) NewCache() *Cache {
	c := &Cache{h: h, st: &closedState}
	if h.check(nil) != nil {
		return c // nil, zero or closed: every call reports why
	}
	st, err := h.newCacheState()
	if err != nil {
		return c // a closed cache: every call reports the error
	}
	c.st = st
	c.cleanup = runtime.AddCleanup(c, func(st *cacheState) { h.dropCacheState(st) }, st)
	return c
}

// NewCache returns a new Cache in front of the default heap.
func NewCache() *Cache { return defaultHeap.NewCache() }

// Heap returns the heap the cache serves.
func (c *Cache) Heap() *Heap { return c.h }

// Flush gives every cached block back to the heap.
func (c *Cache) Flush() {
	if c.st == &closedState {
		return
	}
	c.h.flushState(c.st)
}

// Close flushes the cache and releases it; later calls on it return
// ErrClosed. Blocks it allocated stay valid and may be freed anywhere.
func (c *Cache) Close() error {
	st := c.st
	if st == &closedState {
		return nil
	}
	c.st = &closedState
	// Forget the remembered regions too: their paths would otherwise
	// cache blocks in closedState, which every closed Cache shares.
	c.rgran, c.rgran2, c.fgran = 0, 0, 0
	c.cleanup.Stop()
	c.h.dropCacheState(st)
	return nil
}

// Malloc allocates size bytes; see the package-level Malloc.
//
//go:nosplit
func (c *Cache) Malloc(size int) ([]byte, error) {
	if uint(size) <= maxSmall {
		cl := sizeClass(size)
		st := c.st
		bn := &st.bins[cl&classMask]
		if n := bn.n; st.mode == 0 && n > 0 {
			n--
			bn.n = n
			e := bn.ent[n]
			*(*uint8)(ptr(e.st)) = slotUsed | cl
			return unsafe.Slice((*byte)(ptr(e.p)), size), nil
		}
	}
	return c.h.mallocSlow(size, c)
}

// Free frees b, which any Cache or Heap method of the same heap allocated;
// see the package-level Free.
//
//go:nosplit
func (c *Cache) Free(b []byte) error {
	p := addrOf(b)
	cs := c.st
	if g := granule(p - c.rbase); g < c.rgran && cs.mode == 0 {
		st := c.rstate + g
		// The class is taken from b's capacity, which Malloc set to the
		// requested size, so that the bin's address does not wait for the
		// state byte; the state byte must then agree, or b was resliced to
		// another capacity (or is not a used block) and freeOther decides.
		cl := sizeClass(cap(b))
		bn := &cs.bins[cl&classMask]
		if s := *(*uint8)(ptr(st)); s == slotUsed|cl {
			if n := bn.n; n < bn.max {
				*(*uint8)(ptr(st)) = slotCached | cl
				bn.ent[n] = entry{p, st}
				bn.n = n + 1
				return nil
			}
		}
	} else if g := granule(p - c.fbase); g < c.fgran && cs.mode == 0 {
		// A block of the remembered region of another arena, freed by a
		// goroutine other than the one that allocated it: queue it to go
		// home. This path is kept short, because its state byte is in a
		// cache line that the other goroutine's CPU wrote last, and the
		// shorter the path, the more of these misses the CPU overlaps when
		// a goroutine frees many such blocks in a row.
		st := c.fstate + g
		cl := sizeClass(cap(b))
		if s := *(*uint8)(ptr(st)); s == slotUsed|cl {
			*(*uint8)(ptr(st)) = slotCached | cl
			i := cs.nremote & (binMax - 1)
			cs.remote[i] = entry{p, st}
			cs.rcls[i] = cl
			if cs.nremote = i + 1; i+1 == binMax {
				c.h.sendHome(cs.remote[:], cs.rcls[:])
				cs.nremote = 0
			}
			return nil
		}
	}
	return c.freeOther(p)
}

// freeOther frees a block outside the remembered region, or any block the
// fast path cannot take: a block of the remembered region of another arena
// joins the queue that sends such blocks home; otherwise it remembers the
// block's region and caches a used block of it through put, which parks
// half a full bin; anything else takes the slow path.
func (c *Cache) freeOther(p uintptr) error {
	g := granule(p - c.rbase)
	if g >= c.rgran {
		if off := p - c.fbase; off>>4 < c.fgran {
			if g := granule(off); g < c.fgran && c.st.mode == 0 {
				st := c.fstate + g
				if s := *(*uint8)(ptr(st)); s&slotMask == slotUsed {
					c.st.putRemote(c.h, p, st, s)
					return nil
				}
			}
			return c.h.freeSlow(p, c)
		}
		g = c.remember(p)
	}
	if g < c.rgran && c.st.mode == 0 {
		// In the remembered region (perhaps just remembered), with a class
		// that b's capacity did not give, or a full bin: the state byte
		// names the class, and put parks half a full bin.
		st := c.rstate + g
		s := *(*uint8)(ptr(st))
		if s&slotMask == slotUsed {
			c.put(p, st, s)
			return nil
		}
		if isMidUsed(s) && p&(pageSize-1) == 0 {
			// A mid-size chunk of the cache's own arena (see midcache.go).
			c.h.holdMid(c.st, p, st, int32(s))
			return nil
		}
	}
	return c.h.freeSlow(p, c)
}

// remember makes p's region the first remembered one and returns p's
// granule in it (see granule), or one that fails the range check. Only regions of the
// cache's own arena are remembered as such; a region of another arena is
// remembered as the foreign one, whose blocks are sent home (see
// cacheState.remote).
func (c *Cache) remember(p uintptr) uintptr {
	if off := p - c.rbase2; off>>4 < c.rgran2 {
		c.rbase, c.rbase2 = c.rbase2, c.rbase
		c.rgran, c.rgran2 = c.rgran2, c.rgran
		c.rstate, c.rstate2 = c.rstate2, c.rstate
		c.rpcls, c.rpcls2 = c.rpcls2, c.rpcls
		return granule(off)
	}
	if r := lookup(p); r != nil && r.owner == c.h && c.st != &closedState {
		if r.arena.id != int(c.st.arena) {
			c.fbase, c.fgran, c.fstate = r.base, r.granules(), r.state
			return ^uintptr(0)
		}
		c.rbase2, c.rgran2, c.rstate2, c.rpcls2 = c.rbase, c.rgran, c.rstate, c.rpcls
		c.rbase, c.rgran, c.rstate, c.rpcls = r.base, r.granules(), r.state, r.pcls
		return granule(p - r.base)
	}
	return ^uintptr(0)
}

// UnsafeMalloc is Malloc returning a bare pointer; see the package-level
// UnsafeMalloc. Its fast path is Malloc's, written out again: a helper
// shared by the two costs more than the inliner's budget, and a call here
// would cost what the fast path saves.
//
//go:nosplit
func (c *Cache) UnsafeMalloc(size int) (unsafe.Pointer, error) {
	if uint(size) <= maxSmall {
		cl := sizeClass(size)
		st := c.st
		bn := &st.bins[cl&classMask]
		if n := bn.n; st.mode == 0 && n > 0 {
			n--
			bn.n = n
			e := bn.ent[n]
			*(*uint8)(ptr(e.st)) = slotUsed | cl
			return ptr(e.p), nil
		}
	}
	b, err := c.h.mallocSlow(size, c)
	if err != nil {
		return nil, err
	}
	return unsafe.Pointer(unsafe.SliceData(b)), nil
}

// UnsafeFree frees a block by its pointer; see the package-level UnsafeFree.
// Without a capacity to give the class, its fast path takes it from the
// page-class bytes of the remembered region (region.pcls), a load that does
// not wait for the state byte's; the state byte must then agree.
//
//go:nosplit
func (c *Cache) UnsafeFree(p unsafe.Pointer) error {
	a := uintptr(p)
	cs := c.st
	if g := granule(a - c.rbase); g < c.rgran && cs.mode == 0 {
		st := c.rstate + g
		cl := *(*uint8)(ptr(c.rpcls + g>>(pageShift-4)))
		bn := &cs.bins[cl&classMask]
		if s := *(*uint8)(ptr(st)); s == slotUsed|cl {
			if n := bn.n; n < bn.max {
				*(*uint8)(ptr(st)) = slotCached | cl
				bn.ent[n] = entry{a, st}
				bn.n = n + 1
				return nil
			}
		}
	}
	return c.freeOther(a)
}

// Calloc allocates count*size zeroed bytes; see the package-level Calloc.
func (c *Cache) Calloc(count, size int) ([]byte, error) {
	n, err := mulSize("calloc", count, size)
	if err != nil {
		return nil, err
	}
	b, err := c.Malloc(n)
	if err != nil {
		return nil, err
	}
	clear(b)
	return b, nil
}

// Realloc resizes b; see the package-level Realloc.
func (c *Cache) Realloc(b []byte, size int) ([]byte, error) { return c.h.realloc(b, size, c) }

// ReallocArray resizes b to count*size bytes; see the package-level
// ReallocArray.
func (c *Cache) ReallocArray(b []byte, count, size int) ([]byte, error) {
	n, err := mulSize("reallocarray", count, size)
	if err != nil {
		return nil, err
	}
	return c.h.realloc(b, n, c)
}

// AlignedAlloc allocates size bytes aligned to alignment; see the
// package-level AlignedAlloc.
func (c *Cache) AlignedAlloc(alignment, size int) ([]byte, error) {
	return c.h.aligned("aligned_alloc", alignment, size, c)
}

// Memalign allocates size bytes aligned to boundary; see the package-level
// Memalign.
func (c *Cache) Memalign(boundary, size int) ([]byte, error) {
	return c.h.aligned("memalign", boundary, size, c)
}

// PosixMemalign allocates size bytes aligned to alignment; see the
// package-level PosixMemalign.
func (c *Cache) PosixMemalign(alignment, size int) ([]byte, error) {
	return c.h.aligned("posix_memalign", alignment, size, c)
}

// Valloc allocates size page-aligned bytes; see the package-level Valloc.
func (c *Cache) Valloc(size int) ([]byte, error) {
	return c.h.aligned("valloc", osPageSize, size, c)
}

// PValloc allocates size bytes rounded up to whole pages, page-aligned; see
// the package-level PValloc.
func (c *Cache) PValloc(size int) ([]byte, error) { return c.h.pvalloc(size, c) }

// UsableSize reports how many bytes b's block holds; see the package-level
// UsableSize.
func (c *Cache) UsableSize(b []byte) int { return c.h.UsableSize(b) }

// take pops a block of class cl from c, refilling the bin from the arena
// when it is empty, and marks it used.
func (c *Cache) take(cl uint8) (uintptr, error) {
	bn := &c.st.bins[cl&classMask]
	if bn.n == 0 {
		want := max(min(bn.batch, bn.max), 1)
		n, spare, err := c.h.arena(int(c.st.arena)).refill(cl, bn.ent[:bn.max], int(want))
		bn.n = uint32(n)
		bn.adapt(spare)
		if n == 0 {
			return 0, err
		}
	}
	bn.n--
	e := bn.ent[bn.n]
	*(*uint8)(ptr(e.st)) = slotUsed | cl
	return e.p, nil
}

// putRemote marks the used small block p, of another arena, cached and
// queues it to go home, sending the queue when it is full.
func (st *cacheState) putRemote(h *Heap, p, sp uintptr, s uint8) {
	*(*uint8)(ptr(sp)) = s ^ (slotUsed | slotCached)
	if st.queueRemote(p, sp, s&classMask) {
		h.sendHome(st.remote[:], st.rcls[:])
		st.nremote = 0
	}
}

// queueRemote appends the block p of class cl, whose state byte at sp the
// caller has marked cached, to the queue of other arenas' blocks, and
// reports whether the queue is now full.
func (st *cacheState) queueRemote(p, sp uintptr, cl uint8) bool {
	i := st.nremote & (binMax - 1)
	st.remote[i] = entry{p, sp}
	st.rcls[i] = cl
	st.nremote++
	return st.nremote == binMax
}

// homeBatch is a copy of a full remote queue, taken while pinned to a P
// and sent home after unpinning.
type homeBatch struct {
	ent [binMax]entry
	cls [binMax]uint8
}

// take copies st's full remote queue into b and empties it.
func (b *homeBatch) take(st *cacheState) {
	b.ent = st.remote
	b.cls = st.rcls
	st.nremote = 0
}

// put caches the used small block p, whose state byte is at st, flushing
// half the bin to the arena when it is full.
func (c *Cache) put(p, st uintptr, s uint8) {
	bn := &c.st.bins[s&classMask]
	if bn.n >= bn.max {
		half := bn.max / 2
		c.h.park(bn.ent[:half], s&classMask)
		copy(bn.ent[:], bn.ent[half:bn.n])
		bn.n -= half
		bn.batch = minBatch(bn.max)
	}
	*(*uint8)(ptr(st)) = s ^ (slotUsed | slotCached)
	bn.ent[bn.n] = entry{p, st}
	bn.n++
}
