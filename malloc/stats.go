package malloc

import (
	"fmt"
	"io"
	"maps"
	"slices"
)

// Stats is mallinfo2(3): the figures glibc reports, with glibc's meanings
// mapped onto this allocator. Small blocks of size classes play the part of
// glibc's fastbin blocks. Under concurrent use the figures are a snapshot
// taken arena by arena; when no other goroutine allocates, they are exact.
type Stats struct {
	// Arena is the memory of the arenas' regions that has been put to use
	// (mapped and touched, up to each region's high-water mark), in bytes.
	Arena int64
	// Ordblks counts the free chunks of mid-size memory, plus one top chunk
	// per region.
	Ordblks int64
	// Smblks counts the free small blocks: free in their spans or held by
	// caches.
	Smblks int64
	// Hblks counts the blocks in their own mappings.
	Hblks int64
	// Hblkhd is the bytes mapped for those blocks.
	Hblkhd int64
	// Usmblks is unused and always 0, as in glibc.
	Usmblks int64
	// Fsmblks is the bytes in free small blocks (Smblks).
	Fsmblks int64
	// Uordblks is the bytes in use in the arenas: the usable size of every
	// live block that is not in its own mapping.
	Uordblks int64
	// Fordblks is the free bytes in the arenas: Arena - Uordblks, which
	// includes Fsmblks, free chunks, mid-size chunks held for reuse, the
	// kept top and the tail of spans.
	Fordblks int64
	// Keepcost is the bytes at the top of the regions that Trim could give
	// back to the system.
	Keepcost int64
}

// cachedCounts adds the small blocks held in every cache of h to n, by
// class, and returns the mid-size chunks the caches hold: how many, and
// their bytes.
func (h *Heap) cachedCounts(n *[numClasses]int64) (midChunks, midBytes int64) {
	h.mu.Lock()
	states := make([]*cacheState, 0, len(h.caches)+len(h.shards)+1)
	for st := range h.caches {
		states = append(states, st)
	}
	h.mu.Unlock()
	states = append(states, h.shards...)
	h.overflowMu.Lock()
	if h.overflow != nil {
		states = append(states, h.overflow)
	}
	h.overflowMu.Unlock()
	for _, st := range states {
		for cl := 1; cl < numClasses; cl++ {
			n[cl] += int64(st.bins[cl].n)
		}
		for _, e := range st.remote[:min(st.nremote, binMax)] {
			n[*(*uint8)(ptr(e.st))&classMask]++
		}
		midChunks += int64(st.nmid)
		midBytes += int64(st.midPages) << pageShift
	}
	for _, a := range h.allArenas() {
		a.mu.Lock()
		a.collect()
		for cl := range a.ret {
			n[cl] += int64(len(a.ret[cl]))
		}
		a.mu.Unlock()
	}
	return midChunks, midBytes
}

type arenaStats struct {
	Stats
	regions, spans int64
	prot           int64 // bytes readable and writable (region.acc)
}

func (a *arena) stats() arenaStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	var s arenaStats
	for _, r := range a.regions {
		s.Arena += int64(r.dirty) << pageShift
		s.Ordblks += r.freeChunks + 1
		s.Uordblks += r.midPages << pageShift
		s.Keepcost += int64(r.dirty-r.top) << pageShift
		s.regions++
	}
	for cl := 1; cl < numClasses; cl++ {
		size := int64(classSize[cl])
		s.Uordblks += (a.slots[cl] - a.freeSlots[cl]) * size
		s.Smblks += a.freeSlots[cl]
		s.Fsmblks += a.freeSlots[cl] * size
	}
	s.spans = a.nspans
	return s
}

// Info returns the heap's statistics (mallinfo2).
func (h *Heap) Info() Stats {
	var s Stats
	if h.check(nil) != nil {
		return s
	}
	var cached [numClasses]int64
	_, midBytes := h.cachedCounts(&cached)
	for _, a := range h.allArenas() {
		as := a.stats()
		s.Arena += as.Arena
		s.Ordblks += as.Ordblks
		s.Smblks += as.Smblks
		s.Fsmblks += as.Fsmblks
		s.Uordblks += as.Uordblks
		s.Keepcost += as.Keepcost
	}
	for cl := 1; cl < numClasses; cl++ {
		b := cached[cl] * int64(classSize[cl])
		s.Smblks += cached[cl]
		s.Fsmblks += b
		s.Uordblks -= b
	}
	s.Uordblks -= midBytes // free, though a cache holds them
	for _, a := range h.allArenas() {
		_, b := a.heldCount()
		s.Uordblks -= b
	}
	s.Hblks = h.largeCount.Load()
	s.Hblkhd = h.largeBytes.Load()
	s.Fordblks = s.Arena - s.Uordblks
	return s
}

// WriteStats writes the heap's statistics in the format of malloc_stats(3):
// per arena, the memory taken from the system and the bytes in use, then the
// totals including mapped blocks.
func (h *Heap) WriteStats(w io.Writer) {
	var cached [numClasses]int64
	var midBytes int64
	if h.check(nil) == nil {
		_, midBytes = h.cachedCounts(&cached)
	} else if h == nil {
		fmt.Fprintln(w, errNilHeap)
		return
	}
	var sys, used int64
	for i, a := range h.allArenas() {
		as := a.stats()
		inUse := as.Uordblks
		_, heldBytes := a.heldCount()
		inUse -= heldBytes
		if i == 0 {
			for cl := 1; cl < numClasses; cl++ {
				inUse -= cached[cl] * int64(classSize[cl])
			}
			inUse -= midBytes
		}
		fmt.Fprintf(w, "Arena %d:\nsystem bytes     = %10d\nin use bytes     = %10d\n", i, as.Arena, inUse)
		sys += as.Arena
		used += inUse
	}
	hb := h.largeBytes.Load()
	fmt.Fprintf(w, "Total (incl. mmap):\nsystem bytes     = %10d\nin use bytes     = %10d\nmax mmap regions = %10d\nmax mmap bytes   = %10d\n",
		sys+hb, used+hb, h.largeCount.Load(), h.maxMapped.Load())
}

// WriteInfo writes the heap's state as the XML of malloc_info(3): for each
// arena the free memory by size, the free totals and the system memory, then
// the totals of the heap.
func (h *Heap) WriteInfo(w io.Writer) error {
	if err := h.check(nil); err != nil {
		return err
	}
	ew := &errWriter{w: w}
	ew.printf("<malloc version=\"1\">\n")
	held := h.heldMidPages() // free mid-size chunks held for reuse, by arena
	var tot arenaStats
	for i, a := range h.allArenas() {
		a.mu.Lock()
		ew.printf("<heap nr=\"%d\">\n<sizes>\n", i)
		var fast, rest, restBytes, fastBytes, system int64
		for cl := 1; cl < numClasses; cl++ {
			if n := a.freeSlots[cl]; n > 0 {
				ew.printf("  <size from=\"%d\" to=\"%d\" total=\"%d\" count=\"%d\"/>\n", classSize[cl], classSize[cl], n*int64(classSize[cl]), n)
				fast += n
				fastBytes += n * int64(classSize[cl])
			}
		}
		bins := map[int32][2]int64{}
		for _, n := range held[a.id] { // free too, listed with the free chunks
			v := bins[n]
			bins[n] = [2]int64{v[0] + 1, v[1] + int64(n)<<pageShift}
			rest++
			restBytes += int64(n) << pageShift
		}
		for _, r := range a.regions {
			for b := range r.bins {
				for pg := r.bins[b]; pg >= 0; pg = r.next[pg] {
					n := r.head[pg]
					v := bins[n]
					bins[n] = [2]int64{v[0] + 1, v[1] + int64(n)<<pageShift}
					rest++
					restBytes += int64(n) << pageShift
				}
			}
			system += int64(r.dirty) << pageShift
		}
		for _, n := range slices.Sorted(maps.Keys(bins)) { // by size, as glibc lists its bins
			v := bins[n]
			ew.printf("  <size from=\"%d\" to=\"%d\" total=\"%d\" count=\"%d\"/>\n", int64(n)<<pageShift, int64(n)<<pageShift, v[1], v[0])
		}
		ew.printf("</sizes>\n<total type=\"fast\" count=\"%d\" size=\"%d\"/>\n<total type=\"rest\" count=\"%d\" size=\"%d\"/>\n", fast, fastBytes, rest, restBytes)
		ew.printf("<system type=\"current\" size=\"%d\"/>\n<system type=\"max\" size=\"%d\"/>\n", system, system)
		var aspace, prot int64
		for _, r := range a.regions {
			aspace += int64(r.npages) << pageShift
			prot += int64(r.acc) << pageShift
		}
		ew.printf("<aspace type=\"total\" size=\"%d\"/>\n<aspace type=\"mprotect\" size=\"%d\"/>\n</heap>\n", aspace, prot)
		a.mu.Unlock()
		tot.Smblks += fast
		tot.Fsmblks += fastBytes
		tot.Ordblks += rest
		tot.Fordblks += restBytes
		tot.Arena += system
		tot.regions += aspace
		tot.prot += prot
	}
	ew.printf("<total type=\"fast\" count=\"%d\" size=\"%d\"/>\n<total type=\"rest\" count=\"%d\" size=\"%d\"/>\n", tot.Smblks, tot.Fsmblks, tot.Ordblks, tot.Fordblks)
	ew.printf("<total type=\"mmap\" count=\"%d\" size=\"%d\"/>\n", h.largeCount.Load(), h.largeBytes.Load())
	ew.printf("<system type=\"current\" size=\"%d\"/>\n<system type=\"max\" size=\"%d\"/>\n", tot.Arena+h.largeBytes.Load(), tot.Arena+h.maxMapped.Load())
	ew.printf("<aspace type=\"total\" size=\"%d\"/>\n<aspace type=\"mprotect\" size=\"%d\"/>\n</malloc>\n", tot.regions, tot.prot)
	return ew.err
}

// heldMidPages returns the lengths in pages of the mid-size chunks held for
// reuse, in Caches and in the arenas' slots, by arena.
func (h *Heap) heldMidPages() map[int][]int32 {
	held := map[int][]int32{}
	h.mu.Lock()
	for st := range h.caches {
		for _, n := range st.midN[:min(st.nmid, midCap)] {
			held[int(st.arena)] = append(held[int(st.arena)], int32(n))
		}
	}
	h.mu.Unlock()
	for _, a := range h.allArenas() {
		for i := range a.held {
			if v := a.held[i].Load(); v != 0 {
				held[a.id] = append(held[a.id], int32(v&heldPages))
			}
		}
	}
	return held
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// Trim gives free memory back to the system, like malloc_trim(3): the top
// of every region above pad bytes, and the whole pages of every free chunk
// (MADV_DONTNEED; the addresses stay reserved and read back as zeros),
// after putting the blocks parked in the arenas back into their spans,
// releasing the spans that are then empty, and freeing the mid-size chunks
// the arenas hold for reuse; a region left with no block at all, other than
// each arena's first, is unmapped altogether, address space included (as
// glibc deletes an empty heap of a secondary arena; up to 16 regions per
// heap). Blocks held by Caches stay: Flush them first. It reports whether any memory
// was released.
func (h *Heap) Trim(pad int) bool {
	if h.check(nil) != nil {
		return false
	}
	padPages := padToPages(int64(pad))
	released := false
	for _, a := range h.allArenas() {
		var buf [arenaHeld]uintptr
		held := a.takeAllHeld(&buf)
		a.mu.Lock()
		a.freeHeldLocked(held)
		a.dropReturned()
		a.releaseEmpty()
		retired := a.retireEmpty()
		for _, r := range a.regions {
			if h.trimTop(r, padPages) {
				released = true
			}
			for b := range r.bins {
				for pg := r.bins[b]; pg >= 0; pg = r.next[pg] {
					if decommit(r.addr(pg), r.addr(pg+r.head[pg])) == nil {
						released = true
					}
				}
			}
		}
		a.mu.Unlock()
		if len(retired) > 0 {
			released = true
			h.mu.Lock()
			h.retired = append(h.retired, retired...)
			h.mu.Unlock()
		}
	}
	return released
}
