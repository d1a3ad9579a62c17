package malloc

// Mid-size blocks held for reuse.
//
// A mid-size block is a chunk of whole pages that the arena hands out under
// its lock. Freeing one and asking for one of about the same size again, the
// common pattern of a program's buffers and a database's pages, would take
// that lock twice per round and merge and split the same pages each time
// (45 ns per pair, where glibc takes 11 to 27). So freed chunks of up to
// midCachePages pages are held for reuse, and handed out again to a request
// that needs between their length and a quarter less, without the lock:
//
//   - A Cache keeps up to midCap of them, midBudget pages in all, of its own
//     arena, oldest given back first: no atomic operation.
//   - Each arena keeps arenaHeld more in slots that any goroutine takes and
//     fills with a compare-and-swap: the package-level functions (and Heap
//     methods) use these, since their per-P caches cannot be reached from
//     another P (see below); so do the chunks a Cache gives up, and those
//     a Cache of another arena frees, which go home without a lock. A full
//     set gives up one chunk, round robin, to the arena.
//
// Realloc grows a block in place into the free chunk after it. When that
// chunk is held, Realloc takes it back: from the arena's slots with the
// same compare-and-swap, or from the Cache the call came through. A chunk
// held by another Cache counts as in use, and the block moves instead.
//
// The first state byte of a mid-size chunk of up to midCachePages pages
// holds its length in pages while it is in use (1 to 31), or the length with
// midCachedBit while it is held; a longer chunk's is 0. Small-block states
// all have a bit of slotMask set, so the two never meet, and the byte is
// written wherever the chunk's length changes (setChunk, growInPlace) and
// cleared when it is freed (freeChunkAt). Free reads that one byte to know,
// without the lock, that the pointer starts a mid-size chunk in use and how
// long the chunk is; a second Free of a held chunk sees the bit and is
// refused as a double free.

const (
	midCachePages = 31   // the longest chunk held for reuse, in pages (124 KiB)
	midCachedBit  = 0x20 // in a mid-size chunk's state byte: held for reuse (by a Cache or an arena)
	midCap        = 8    // chunks held per cache
	midBudget     = 128  // pages held per cache (512 KiB)
	arenaHeld     = 8    // chunks held per arena
	heldPages     = 0x1f // in an arena slot: the chunk's length in pages
)

// midMark is the state byte of a mid-size chunk of n pages in use.
func midMark(n int32) uint8 {
	if n <= midCachePages {
		return uint8(n)
	}
	return 0
}

// isMidUsed reports whether s is the state byte of a mid-size chunk in use
// that may be held for reuse once freed.
func isMidUsed(s uint8) bool { return s-1 < midCachePages }

// isMidCached reports whether s is the state byte of a mid-size chunk held
// for reuse.
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

// popMid takes a held chunk of need to need+need/4 pages, the last freed
// of those, marks it in use and returns its address, or 0.
func (st *cacheState) popMid(need int32) uintptr {
	// One unsigned compare per entry, rarely true: a scan with a branch
	// per bound mispredicted about half of them, 15 ns of a ring step.
	span := uint32(need / 4)
	best := -1
	for i := int(st.nmid) - 1; i >= 0; i-- {
		if uint32(st.midN[i])-uint32(need) <= span {
			best = i
			break
		}
	}
	if best < 0 {
		return 0
	}
	bestN := int32(st.midN[best])
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
	var outN [midCap]uint8
	copy(out[:], st.mid[:k])
	copy(outN[:], st.midN[:k])
	copy(st.mid[:], st.mid[k:st.nmid])
	copy(st.midN[:], st.midN[k:st.nmid])
	st.nmid -= uint32(k)
	// To the arena's slots, where any goroutine of the arena finds them.
	a := h.arena(int(st.arena))
	for i, e := range out[:k] {
		a.hold(e.p, e.st, int32(outN[i]))
	}
}

// takeMid serves a request of need pages from the chunks held by cache c
// (when not nil), then by a, the arena of c or of the caller's P; 0 if
// none fits.
func takeMid(need int32, c *Cache, a *arena) uintptr {
	if need > midCachePages {
		return 0
	}
	if c != nil {
		if p := c.st.popMid(need); p != 0 {
			return p
		}
	}
	return a.takeHeld(need)
}

// putMid holds the mid-size chunk p of n pages of arena arenaID in use, with
// its state byte at sp: in cache c if c serves that arena, else in the
// arena's slots (a chunk that a goroutine of another arena frees goes home
// without its arena's lock). Chunks that made room go back to the arena.
func (h *Heap) putMid(p, sp uintptr, n int32, arenaID int, c *Cache) {
	if c != nil && c.st != &closedState && int(c.st.arena) == arenaID {
		h.holdMid(c.st, p, sp, n)
		return
	}
	h.arena(arenaID).hold(p, sp, n)
}

// takeHeld takes a chunk of need to need+need/4 pages from the arena's
// slots, marks it in use and returns its address, or 0.
func (a *arena) takeHeld(need int32) uintptr {
	span := uintptr(need / 4)
	for i := range a.held {
		// One unsigned compare, as in popMid; an empty slot (0) fails it.
		v := a.held[i].Load()
		if n := v & heldPages; n-uintptr(need) <= span && a.held[i].CompareAndSwap(v, 0) {
			p := v &^ heldPages
			r := lookup(p)
			*(*uint8)(ptr(r.state + (p-r.base)>>4)) = uint8(n)
			return p
		}
	}
	return 0
}

// hold puts the chunk p of n pages of this arena, in use, with its state
// byte at sp, in a slot. When every slot is taken, it takes the place of
// one of them, round robin, which goes back to the arena.
func (a *arena) hold(p, sp uintptr, n int32) {
	*(*uint8)(ptr(sp)) = uint8(n) | midCachedBit
	v := p | uintptr(n)
	for i := range a.held {
		if a.held[i].Load() == 0 && a.held[i].CompareAndSwap(0, v) {
			return
		}
	}
	i := a.heldNext.Add(1) % arenaHeld
	if old := a.held[i].Swap(v); old != 0 {
		a.freeHeld([]uintptr{old})
	}
}

// takeAllHeld empties the arena's slots into buf and returns the chunks it
// took.
func (a *arena) takeAllHeld(buf *[arenaHeld]uintptr) []uintptr {
	k := 0
	for i := range a.held {
		if v := a.held[i].Swap(0); v != 0 {
			buf[k] = v
			k++
		}
	}
	return buf[:k]
}

// freeHeld gives chunks taken from the slots (address | pages) back to the
// arena, which must not be locked.
func (a *arena) freeHeld(vs []uintptr) {
	if len(vs) == 0 {
		return
	}
	a.mu.Lock()
	a.freeHeldLocked(vs)
	a.mu.Unlock()
}

// freeHeldLocked is freeHeld with a.mu held.
func (a *arena) freeHeldLocked(vs []uintptr) {
	for _, v := range vs {
		p := v &^ heldPages
		r := lookup(p)
		a.freeMid(r, r.pageOf(p))
	}
}

// freeMid returns the mid-size chunk at page pg of r to the arena, its
// statistics with it. a.mu is held.
func (a *arena) freeMid(r *region, pg int32) {
	r.midPages -= int64(r.head[pg])
	r.midBlocks--
	a.freeChunk(r, pg)
}

// takeBackHeld takes the chunk p of n pages out of the arena's slots, if
// one holds it, for Realloc to grow into; it reports whether it did.
func (a *arena) takeBackHeld(p uintptr, n int32) bool {
	v := p | uintptr(n)
	for i := range a.held {
		if a.held[i].Load() == v && a.held[i].CompareAndSwap(v, 0) {
			return true
		}
	}
	return false
}

// heldCount returns the chunks in the arena's slots and their bytes.
func (a *arena) heldCount() (chunks, bytes int64) {
	for i := range a.held {
		if v := a.held[i].Load(); v != 0 {
			chunks++
			bytes += int64(v&heldPages) << pageShift
		}
	}
	return chunks, bytes
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
		a.freeMid(r, r.pageOf(e.p))
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
