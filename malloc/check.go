package malloc

import (
	"fmt"
)

// Status is the verdict of Probe, as mprobe(3)'s enum mcheck_status.
type Status int

// The verdicts of Probe.
const (
	// OK: a live block of this heap, guard bytes intact.
	OK Status = iota
	// FREE: the block is free (freed already, or never handed out).
	FREE
	// HEAD: the guard bytes just before the block were overwritten.
	HEAD
	// TAIL: the guard bytes after the requested size were overwritten.
	TAIL
	// INVALID: not the start of a block of this heap.
	INVALID
)

// String is the verdict's name, such as "TAIL".
func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case FREE:
		return "FREE"
	case HEAD:
		return "HEAD"
	case TAIL:
		return "TAIL"
	case INVALID:
		return "INVALID"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Probe checks one block, like mprobe(3). With Options.Guard it also checks
// the guard bytes, so that an overrun of a single byte past the requested
// size is reported as TAIL.
func (h *Heap) Probe(b []byte) Status {
	p := addrOf(b)
	if p == 0 || h.check(nil) != nil {
		return INVALID
	}
	if h.guard {
		h.guards.mu.Lock()
		rec, ok := h.guards.m[p]
		h.guards.mu.Unlock()
		if !ok {
			return INVALID
		}
		if rec.freed {
			return FREE
		}
		return guardStatus(p, rec)
	}
	_, err := h.info("mprobe", p)
	switch {
	case err == nil:
		return OK
	case isDoubleFree(err):
		return FREE
	}
	return INVALID
}

func isDoubleFree(err error) bool {
	for err != nil {
		if err == ErrDoubleFree {
			return true
		}
		u, ok := err.(interface{ Unwrap() []error })
		if ok {
			for _, e := range u.Unwrap() {
				if isDoubleFree(e) {
					return true
				}
			}
			return false
		}
		w, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = w.Unwrap()
	}
	return false
}

// Check verifies every invariant of the heap, like mcheck(3) run over the
// whole heap at once: the chunks of each region tile it without gaps or
// overlaps, no two free chunks touch, every free chunk is in the right bin
// and every bin holds only free chunks, every span covers its pages and its
// slot states agree with its counts, every cached block is marked cached
// exactly once, the statistics agree with the walk, and the guard bytes of
// every block are intact. It returns the first broken invariant, wrapping
// ErrCorrupt. Run it when no other goroutine is allocating from the heap;
// under concurrent use it may report a transient disagreement.
func (h *Heap) Check() error {
	if err := h.check(nil); err != nil {
		return err
	}
	corrupt := func(format string, args ...any) error {
		return &opError{msg: "check: " + fmt.Sprintf(format, args...), err: ErrCorrupt}
	}
	// Take in the blocks sent home first: collecting gives some back to
	// their spans (past retMax), which would change the states counted
	// below while the counting of the caches collects.
	for _, a := range h.allArenas() {
		a.mu.Lock()
		a.collect()
		a.mu.Unlock()
	}
	var cachedStates, cachedMids int64
	for _, a := range h.allArenas() {
		if err := a.check(corrupt, &cachedStates, &cachedMids); err != nil {
			return err
		}
	}
	// Every cached entry must be a cached slot, and listed once.
	var cached [numClasses]int64
	midChunks, _ := h.cachedCounts(&cached)
	seen := map[uintptr]bool{}
	for _, a := range h.allArenas() {
		for i := range a.held {
			v := a.held[i].Load()
			if v == 0 {
				continue
			}
			p, n := v&^heldPages, int32(v&heldPages)
			r := lookup(p)
			if r == nil || r.arena != a || p&(pageSize-1) != 0 {
				return corrupt("held mid-size chunk %#x is not a chunk of arena %d", p, a.id)
			}
			if s := *(*uint8)(ptr(r.state + (p-r.base)>>4)); s != uint8(n)|midCachedBit {
				return corrupt("held mid-size chunk %#x of %d pages has state %#x", p, n, s)
			}
			if seen[p] {
				return corrupt("mid-size chunk %#x is held twice", p)
			}
			seen[p] = true
			midChunks++
		}
	}
	if midChunks != cachedMids {
		return corrupt("%d mid-size chunks are marked held by a cache but the caches hold %d", cachedMids, midChunks)
	}
	var total int64
	for cl := 1; cl < numClasses; cl++ {
		total += cached[cl]
	}
	if total != cachedStates {
		return corrupt("%d blocks are marked cached but the caches hold %d", cachedStates, total)
	}
	h.mu.Lock()
	states := make([]*cacheState, 0, len(h.caches)+len(h.shards))
	for st := range h.caches {
		states = append(states, st)
	}
	h.mu.Unlock()
	states = append(states, h.shards...)
	for _, st := range states {
		if st.nmid > midCap {
			return corrupt("a cache holds %d mid-size chunks", st.nmid)
		}
		var pages int32
		for i, e := range st.mid[:st.nmid] {
			r := lookup(e.p)
			if r == nil || r.owner != h || e.st != r.state+(e.p-r.base)>>4 || e.p&(pageSize-1) != 0 {
				return corrupt("held mid-size chunk %#x is not a chunk of this heap", e.p)
			}
			if r.arena.id != int(st.arena) {
				return corrupt("held mid-size chunk %#x of arena %d is in a cache of arena %d", e.p, r.arena.id, st.arena)
			}
			n := int32(st.midN[i])
			if s := *(*uint8)(ptr(e.st)); s != uint8(n)|midCachedBit {
				return corrupt("held mid-size chunk %#x of %d pages has state %#x", e.p, n, s)
			}
			if seen[e.p] {
				return corrupt("block %#x is cached twice", e.p)
			}
			seen[e.p] = true
			pages += n
		}
		if pages != st.midPages || pages > midBudget {
			return corrupt("a cache holds %d pages of mid-size chunks and counts %d", pages, st.midPages)
		}
		if st.nremote > binMax {
			return corrupt("a cache's queue of other arenas' blocks holds %d", st.nremote)
		}
		for _, e := range st.remote[:st.nremote] {
			r := lookup(e.p)
			if r == nil || r.owner != h || e.st != r.state+(e.p-r.base)>>4 {
				return corrupt("queued block %#x is not a block of this heap", e.p)
			}
			if s := *(*uint8)(ptr(e.st)); s&slotMask != slotCached {
				return corrupt("queued block %#x has state %#x", e.p, s)
			}
			if seen[e.p] {
				return corrupt("block %#x is cached twice", e.p)
			}
			seen[e.p] = true
		}
		for cl := 1; cl < numClasses; cl++ {
			bn := &st.bins[cl]
			if bn.n > bn.max || int(bn.max) > binCap {
				return corrupt("a cache bin of class %d holds %d of %d", cl, bn.n, bn.max)
			}
			for _, e := range bn.ent[:bn.n] {
				r := lookup(e.p)
				if r == nil || r.owner != h || e.st != r.state+(e.p-r.base)>>4 {
					return corrupt("cached block %#x is not a block of this heap", e.p)
				}
				if r.arena.id != int(st.arena) {
					return corrupt("cached block %#x of arena %d is in a cache of arena %d", e.p, r.arena.id, st.arena)
				}
				if s := *(*uint8)(ptr(e.st)); s != slotCached|uint8(cl) {
					return corrupt("cached block %#x of class %d has state %#x", e.p, cl, s)
				}
				if seen[e.p] {
					return corrupt("block %#x is cached twice", e.p)
				}
				seen[e.p] = true
			}
		}
	}
	for _, a := range h.allArenas() {
		a.mu.Lock()
		for cl := range a.ret {
			for _, e := range a.ret[cl] {
				r := lookup(e.p)
				if r == nil || r.arena != a || e.st != r.state+(e.p-r.base)>>4 {
					a.mu.Unlock()
					return corrupt("returned block %#x is not a block of arena %d", e.p, a.id)
				}
				if s := *(*uint8)(ptr(e.st)); s != slotCached|uint8(cl) {
					a.mu.Unlock()
					return corrupt("returned block %#x of class %d has state %#x", e.p, cl, s)
				}
				if seen[e.p] {
					a.mu.Unlock()
					return corrupt("block %#x is cached twice", e.p)
				}
				seen[e.p] = true
			}
		}
		a.mu.Unlock()
	}
	for _, lg := range h.largeList() {
		if lg.p < lg.m.Addr() || lg.usable() <= 0 {
			return corrupt("mapped block %#x lies outside its mapping", lg.p)
		}
	}
	if h.guard {
		h.guards.mu.Lock()
		defer h.guards.mu.Unlock()
		for p, rec := range h.guards.m {
			if rec.freed {
				continue
			}
			if st := guardStatus(p, rec); st != OK {
				return corrupt("block %#x of %d bytes: %v guard overwritten", p, rec.size, st)
			}
		}
	}
	return nil
}

func (a *arena) check(corrupt func(string, ...any) error, cachedStates, cachedMids *int64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var slots, freeSlots [numClasses]int64
	var nspans int64
	for ri, r := range a.regions {
		if r.arena != a || lookup(r.base) != r || lookup(r.end-1) != r {
			return corrupt("arena %d region %d is not mapped to itself", a.id, ri)
		}
		if r.top < 0 || r.top > r.dirty || r.dirty > r.acc || r.acc > r.sacc.Load() || r.sacc.Load() > r.npages {
			return corrupt("region %#x: top %d, dirty %d, accessible %d (state bytes %d), %d pages", r.base, r.top, r.dirty, r.acc, r.sacc.Load(), r.npages)
		}
		var freePages, freeChunks, midPages, midBlocks, spanPages int64
		prevFree := false
		for pg := int32(0); pg < r.top; {
			n := r.head[pg]
			if n <= 0 || pg+n > r.top {
				return corrupt("region %#x page %d: chunk of %d pages does not fit below top %d", r.base, pg, n, r.top)
			}
			if r.tail[pg+n-1] != n {
				return corrupt("region %#x page %d: tail says %d pages, head %d", r.base, pg, r.tail[pg+n-1], n)
			}
			k := r.kind[pg]
			for i := pg; i < pg+n; i++ {
				if r.kind[i] != k {
					return corrupt("region %#x page %d: kind %d inside a chunk of kind %d", r.base, i, r.kind[i], k)
				}
				if i > pg && r.head[i] != 0 && k != pageSpan {
					return corrupt("region %#x page %d: a chunk head inside the chunk at %d", r.base, i, pg)
				}
			}
			switch k {
			case pageFree:
				if prevFree {
					return corrupt("region %#x page %d: two free chunks touch", r.base, pg)
				}
				freePages += int64(n)
				freeChunks++
			case pageMid:
				midPages += int64(n)
				midBlocks++
				switch s := r.stateOfPage(pg); {
				case s == midMark(n):
				case s == midMark(n)|midCachedBit && n <= midCachePages:
					*cachedMids++
				default:
					return corrupt("region %#x page %d: a mid-size chunk of %d pages has state %#x", r.base, pg, n, s)
				}
			case pageSpan:
				s := spanAt(r.spans[pg])
				if s == nil || s.page != pg || s.region() != r || int32(classPages[s.class]) != n {
					return corrupt("region %#x page %d: span record disagrees with its chunk", r.base, pg)
				}
				for i := pg; i < pg+n; i++ {
					if spanAt(r.spans[i]) != s {
						return corrupt("region %#x page %d: page not mapped to its span", r.base, i)
					}
					if c := *(*uint8)(ptr(r.pcls + uintptr(i))); c != s.class {
						return corrupt("region %#x page %d: page class %d in a span of class %d", r.base, i, c, s.class)
					}
				}
				spanPages += int64(n)
				nspans++
				if err := a.checkSpan(s, corrupt, cachedStates); err != nil {
					return err
				}
				slots[s.class] += int64(s.nslots)
				freeSlots[s.class] += int64(s.nfree)
			default:
				return corrupt("region %#x page %d: page kind %d below top", r.base, pg, k)
			}
			if k != pageSpan {
				for i := pg; i < pg+n; i++ {
					if r.spans[i] != 0 || *(*uint8)(ptr(r.pcls + uintptr(i))) != 0 {
						return corrupt("region %#x page %d: a span record or class on a page of kind %d", r.base, i, k)
					}
					// Only a mid-size chunk's first page carries its
					// mark: one anywhere else would let Free take
					// that page for a chunk without the lock.
					if s := r.stateOfPage(i); (i > pg || k == pageFree) && (isMidUsed(s) || isMidCached(s)) {
						return corrupt("region %#x page %d: state %#x marks a mid-size chunk inside a chunk of kind %d at page %d", r.base, i, s, k, pg)
					}
				}
			}
			prevFree = k == pageFree
			pg += n
		}
		if prevFree {
			return corrupt("region %#x: a free chunk touches the top chunk", r.base)
		}
		for pg := r.top; pg < r.npages; pg++ {
			if r.kind[pg] != pageTop {
				return corrupt("region %#x page %d: kind %d above top", r.base, pg, r.kind[pg])
			}
		}
		// Every bin lists free chunks of its size, each once.
		var listed int64
		for b := range r.bins {
			prev := int32(-1)
			for pg := r.bins[b]; pg >= 0; pg = r.next[pg] {
				if pg >= r.top || r.kind[pg] != pageFree || binOf(r.head[pg]) != b || r.prev[pg] != prev {
					return corrupt("region %#x bin %d: entry %d is not a free chunk of that bin", r.base, b, pg)
				}
				listed++
				if listed > freeChunks {
					return corrupt("region %#x: the bins list more chunks than there are free", r.base)
				}
				prev = pg
			}
			if (r.bins[b] >= 0) != (r.nonempty[b/64]&(1<<(b%64)) != 0) {
				return corrupt("region %#x bin %d: nonempty bit wrong", r.base, b)
			}
		}
		if listed != freeChunks || freeChunks != r.freeChunks || freePages != r.freePages ||
			midPages != r.midPages || midBlocks != r.midBlocks || spanPages != r.spanPages {
			return corrupt("region %#x: counts disagree with the walk (free %d/%d chunks %d/%d listed %d, mid %d/%d pages %d/%d blocks, spans %d/%d pages)",
				r.base, freePages, r.freePages, freeChunks, r.freeChunks, listed, midPages, r.midPages, midBlocks, r.midBlocks, spanPages, r.spanPages)
		}
	}
	for cl := 1; cl < numClasses; cl++ {
		if slots[cl] != a.slots[cl] || freeSlots[cl] != a.freeSlots[cl] {
			return corrupt("arena %d class %d: %d slots %d free by walk, %d and %d by count", a.id, cl, slots[cl], freeSlots[cl], a.slots[cl], a.freeSlots[cl])
		}
		empty := int32(0)
		for s := a.partial[cl]; s != nil; s = s.next() {
			if s.class != uint8(cl) || s.nfree == 0 || !s.linked || s.rp == 0 {
				return corrupt("arena %d class %d: a span in the partial list is full or foreign", a.id, cl)
			}
			if s.nfree == s.nslots {
				empty++
			}
		}
		if empty != a.empty[cl] || empty > 1 {
			return corrupt("arena %d class %d: %d empty spans by walk, %d by count (at most 1 is kept)", a.id, cl, empty, a.empty[cl])
		}
	}
	if nspans != a.nspans {
		return corrupt("arena %d: %d spans by walk, %d by count", a.id, nspans, a.nspans)
	}
	return nil
}

func (a *arena) checkSpan(s *span, corrupt func(string, ...any) error, cachedStates *int64) error {
	r := s.region()
	size := uintptr(classSize[s.class])
	var free int32
	next := s.base // next slot start
	end := s.base + uintptr(classPages[s.class])<<pageShift
	for g := s.base; g < end; g += 16 {
		st := *(*uint8)(ptr(a.stateOf(r, g)))
		k := int32((g - s.base) / size)
		isSlot := g == next && k < s.nslots
		if g == next {
			next += size
		}
		if !isSlot || k >= s.fresh {
			if st != 0 {
				return corrupt("span %#x: state %#x at %#x, which is no handed-out slot", s.base, st, g)
			}
			continue
		}
		if st&classMask != s.class {
			return corrupt("span %#x: slot %#x has class %d, span %d", s.base, g, st&classMask, s.class)
		}
		switch st & slotMask {
		case slotFree:
			free++
		case slotCached:
			*cachedStates++
		case slotUsed:
		default:
			return corrupt("span %#x: slot %#x has state %#x", s.base, g, st)
		}
	}
	if free+s.nslots-s.fresh != s.nfree {
		return corrupt("span %#x of class %d: %d free slots by walk, %d by count", s.base, s.class, free+s.nslots-s.fresh, s.nfree)
	}
	if (s.nfree > 0) != s.linked {
		return corrupt("span %#x: %d free slots but linked=%v", s.base, s.nfree, s.linked)
	}
	return nil
}
