package malloc

// Mid-size blocks in caches.
//
// A mid-size block is a chunk of whole pages that the arena hands out under
// its lock. Freeing one and asking for one of about the same size again, the
// common pattern of a program's buffers and a database's pages, would take
// that lock twice per round and merge and split the same pages each time
// (45 ns per pair, where glibc takes 11 without a lock in a single thread).
// So a Cache keeps a few freed chunks of its own arena, up to midCap of
// them and midBudget pages in all, and hands one out again when a request
// needs between its length and a quarter less, without the lock. (The
// per-P caches of the package-level functions do not: a block's Realloc
// grows in place into the free chunk after it, and only the cache holding
// that chunk may give it up; a goroutine may free on one P and realloc on
// another. Realloc through a Cache takes the chunk back from that Cache; a
// chunk held by another Cache counts as in use.)
//
// The first state byte of a mid-size chunk of up to midCachePages pages
// holds its length in pages while it is in use (1 to 31), or the length with
// midCachedBit while a cache holds it; a longer chunk's is 0. Small-block
// states all have a bit of slotMask set, so the two never meet, and the
// byte is written wherever the chunk's length changes (setChunk,
// growInPlace) and cleared when it is freed (freeChunkAt). Free reads that
// one byte to know, without the lock, that the pointer starts a mid-size
// chunk in use and how long the chunk is; a second Free of a chunk that a
// cache holds sees the bit and is refused as a double free.

const (
	midCachePages = 31   // the longest chunk a cache holds, in pages (124 KiB)
	midCachedBit  = 0x20 // in a mid-size chunk's state byte: held by a cache
	midCap        = 8    // chunks held per cache
	midBudget     = 64   // pages held per cache (256 KiB)
)

// midMark is the state byte of a mid-size chunk of n pages in use.
func midMark(n int32) uint8 {
	if n <= midCachePages {
		return uint8(n)
	}
	return 0
}

// isMidUsed reports whether s is the state byte of a mid-size chunk in use
// that a cache may hold.
func isMidUsed(s uint8) bool { return s-1 < midCachePages }

// isMidCached reports whether s is the state byte of a mid-size chunk that
// a cache holds.
func isMidCached(s uint8) bool { return s-(midCachedBit+1) < midCachePages }

// mark sets the state byte of page pg's first granule. The page must be
// below sacc.
func (r *region) mark(pg int32, v uint8) {
	*(*uint8)(ptr(r.state + uintptr(pg)<<(pageShift-4))) = v
}

// stateOfPage is the state byte of page pg's first granule.
func (r *region) stateOfPage(pg int32) uint8 {
	return *(*uint8)(ptr(r.state + uintptr(pg)<<(pageShift-4)))
}

// popMid takes a held chunk of need to need+need/4 pages, the shortest
// (and of those the last freed), marks it in use and returns its address,
// or 0.
func (st *cacheState) popMid(need int32) uintptr {
	best, bestN := -1, int32(need+need/4+1)
	for i := int(st.nmid) - 1; i >= 0; i-- {
		if n := int32(st.midN[i]); n >= need && n < bestN {
			best, bestN = i, n
			if n == need {
				break
			}
		}
	}
	if best < 0 {
		return 0
	}
	e := st.mid[best]
	copy(st.mid[best:st.nmid], st.mid[best+1:st.nmid])
	copy(st.midN[best:st.nmid], st.midN[best+1:st.nmid])
	st.nmid--
	st.midPages -= bestN
	*(*uint8)(ptr(e.st)) = uint8(bestN)
	return e.p
}

// holdMid holds the mid-size chunk p of n pages, whose state byte is at sp
// and says it is in use, in st, giving the oldest chunks back to the arena
// when that makes room.
func (h *Heap) holdMid(st *cacheState, p, sp uintptr, n int32) {
	if st.nmid == midCap || st.midPages+n > midBudget {
		h.evictMid(st, n)
	}
	*(*uint8)(ptr(sp)) = uint8(n) | midCachedBit
	st.mid[st.nmid] = entry{p, sp}
	st.midN[st.nmid] = uint8(n)
	st.nmid++
	st.midPages += n
}

// evictMid gives the oldest chunks st holds back to the arena until a chunk
// of n pages fits.
func (h *Heap) evictMid(st *cacheState, n int32) {
	k := 0
	for st.nmid-uint32(k) == midCap || st.midPages+n > midBudget {
		st.midPages -= int32(st.midN[k])
		*(*uint8)(ptr(st.mid[k].st)) &^= midCachedBit
		k++
	}
	var out [midCap]entry
	copy(out[:], st.mid[:k])
	copy(st.mid[:], st.mid[k:st.nmid])
	copy(st.midN[:], st.midN[k:st.nmid])
	st.nmid -= uint32(k)
	h.freeMids(out[:k])
}

// takeMid serves a request of need pages from the chunks held by cache c;
// 0 if none fits, or c is nil.
func (h *Heap) takeMid(need int32, c *Cache) uintptr {
	if need > midCachePages || c == nil {
		return 0
	}
	return c.st.popMid(need)
}

// putMid holds the mid-size chunk p of n pages of arena arenaID in use, with
// its state byte at sp, in cache c if c serves that arena, and reports
// whether it did. Chunks that made room go back to the arena.
func (h *Heap) putMid(p, sp uintptr, n int32, arenaID int, c *Cache) bool {
	if c == nil || c.st == &closedState || int(c.st.arena) != arenaID {
		return false
	}
	h.holdMid(c.st, p, sp, n)
	return true
}

// removeMid takes the chunk p out of the chunks st holds, marked in use,
// and reports whether st held it.
func (st *cacheState) removeMid(p uintptr) bool {
	for i := range int(st.nmid) {
		if e := st.mid[i]; e.p == p {
			n := st.midN[i]
			copy(st.mid[i:st.nmid], st.mid[i+1:st.nmid])
			copy(st.midN[i:st.nmid], st.midN[i+1:st.nmid])
			st.nmid--
			st.midPages -= int32(n)
			*(*uint8)(ptr(e.st)) = n
			return true
		}
	}
	return false
}

// freeMids gives mid-size chunks in use, all of one arena, back to it.
func (h *Heap) freeMids(es []entry) {
	if len(es) == 0 {
		return
	}
	r := lookup(es[0].p)
	a := r.arena
	a.mu.Lock()
	for _, e := range es {
		r := lookup(e.p)
		pg := r.pageOf(e.p)
		r.midPages -= int64(r.head[pg])
		r.midBlocks--
		a.freeChunk(r, pg)
	}
	a.mu.Unlock()
}

// flushMid gives back every chunk st holds.
func (h *Heap) flushMid(st *cacheState) {
	for i := range st.nmid {
		*(*uint8)(ptr(st.mid[i].st)) &^= midCachedBit
	}
	h.freeMids(st.mid[:st.nmid])
	st.nmid, st.midPages = 0, 0
}
