// footsim simulates workload (b) of bench/malloc, the ring of 1,000 live
// blocks, on an allocator of size-classed spans, to see which footprint
// (high-water pages over live bytes at the end) a span policy can reach:
//
//	go run ./footsim -p lifo     # the partial span most recently freed into first (vmkit's)
//	go run ./footsim -p low      # the lowest-address partial span first
//	go run ./footsim -p fullest  # the fullest partial span first
//	go run ./footsim -p lb       # lower bound: each class packed perfectly at every instant
//	go run ./footsim -p fit      # no size classes: one coalescing best-fit heap of 16-byte granules
//
// -onepage gives every class one-page spans; -fine uses 8 classes per
// doubling above 128 bytes; -unit 2048 (or 1024) makes spans out of units
// smaller than a page, as few as hold one block; -borrow 1.25 lets a
// request whose class has no free slot take one of a class up to 1.25
// times larger before a new span is made; with -p fit, -above 256 sends
// only blocks of 256 bytes and more to the coalescing heap. Cache bins are
// not modelled.
package main

import (
	"flag"
	"fmt"
	"sort"
)

// unit is the span granularity in bytes (-unit).
var unit = 4096

var classSize = []int{0, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024}
var classPages = []int{0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2}

type span struct {
	cl, page, np, nslots, nfree int
	free                        []int // free slot indices (stack)
	used                        []bool
}

func main() {
	policy := flag.String("p", "lifo", "lifo|low|fullest|lb|fit")
	onepage := flag.Bool("onepage", false, "")
	fine := flag.Bool("fine", false, "")
	unitFlag := flag.Int("unit", 4096, "span granularity in bytes (4096: pages)")
	above := flag.Int("above", 0, "with -p fit: blocks of at least this many bytes go to the coalescing heap, smaller ones to size classes")
	borrow := flag.Float64("borrow", 0, "before making a span, take a free slot of a larger class up to this factor of the request's class size (0: never)")
	flag.Parse()
	if *fine {
		classSize = []int{0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 832, 896, 960, 1024}
		classPages = make([]int, len(classSize))
		for i := range classPages {
			classPages[i] = 1
			if classSize[i] > 512 && !*onepage {
				classPages[i] = 2
			}
		}
	}
	unit = *unitFlag
	if unit != 4096 {
		// The fewest units that hold a block.
		for i := 1; i < len(classSize); i++ {
			classPages[i] = (classSize[i] + unit - 1) / unit
		}
	}
	if *onepage {
		for i := range classPages {
			classPages[i] = 1
		}
	}
	sizes := make([]int, 4096)
	x := uint32(2463534242)
	for i := range sizes {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		sizes[i] = 16 + int(x%1009)
	}
	classOf := func(s int) int {
		for c := 1; ; c++ {
			if classSize[c] >= s {
				return c
			}
		}
	}
	pages := []bool{}
	hw := 0
	allocPages := func(np int) int {
		for p := 0; ; p++ {
			ok := true
			for k := 0; k < np; k++ {
				if p+k < len(pages) && pages[p+k] {
					ok = false
					break
				}
			}
			if ok {
				for len(pages) < p+np {
					pages = append(pages, false)
				}
				for k := 0; k < np; k++ {
					pages[p+k] = true
				}
				hw = max(hw, p+np)
				return p
			}
		}
	}
	partial := make([][]*span, len(classSize)) // spans with free slots
	type blk struct {
		s    *span
		slot int
	}
	alloc := func(sz int) blk {
		cl := classOf(sz)
		ps := partial[cl]
		var s *span
		if len(ps) == 0 && *borrow > 0 {
			for c2 := cl + 1; c2 < len(classSize) && float64(classSize[c2]) <= *borrow*float64(classSize[cl]); c2++ {
				if len(partial[c2]) > 0 {
					cl, ps = c2, partial[c2]
					break
				}
			}
		}
		if len(ps) == 0 {
			np := classPages[cl]
			n := np * unit / classSize[cl]
			s = &span{cl: cl, page: allocPages(np), np: np, nslots: n, nfree: n, used: make([]bool, n)}
			for i := n - 1; i >= 0; i-- {
				s.free = append(s.free, i)
			}
			partial[cl] = append(partial[cl], s)
			ps = partial[cl]
		}
		idx := len(ps) - 1 // lifo: most recently added
		switch *policy {
		case "low":
			idx = 0
			for i, t := range ps {
				if t.page < ps[idx].page {
					idx = i
				}
			}
		case "fifo":
			idx = 0
		case "fullest":
			idx = 0
			for i, t := range ps {
				if t.nfree < ps[idx].nfree || (t.nfree == ps[idx].nfree && t.page < ps[idx].page) {
					idx = i
				}
			}
		}
		s = ps[idx]
		slot := s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
		s.used[slot] = true
		s.nfree--
		if s.nfree == 0 {
			partial[cl] = append(ps[:idx], ps[idx+1:]...)
		}
		return blk{s, slot}
	}
	free := func(b blk) {
		s := b.s
		s.used[b.slot] = false
		s.free = append(s.free, b.slot)
		if *policy == "low" {
			sort.Sort(sort.Reverse(sort.IntSlice(s.free)))
		}
		s.nfree++
		cl := s.cl
		if s.nfree == 1 {
			partial[cl] = append(partial[cl], s)
		}
		if s.nfree == s.nslots && len(partial[cl]) > 1 {
			for i, t := range partial[cl] {
				if t == s {
					partial[cl] = append(partial[cl][:i], partial[cl][i+1:]...)
					break
				}
			}
			for k := 0; k < s.np; k++ {
				pages[s.page+k] = false
			}
		}
	}
	if *policy == "fit" {
		fitSim(sizes, *above)
		return
	}
	if *policy == "lb" {
		lowerBound(sizes, classOf)
		return
	}
	var r [1000]blk
	var rs [1000]int
	live := 0
	for j := range r {
		r[j] = alloc(sizes[j])
		rs[j] = sizes[j]
		live += rs[j]
	}
	j := 0
	for i := 0; i < 2000000; i++ {
		free(r[j])
		s := sizes[i&4095]
		live += s - rs[j]
		rs[j] = s
		r[j] = alloc(s)
		j = (j + 1) % 1000
	}
	usable := 0
	for j := range r {
		usable += classSize[r[j].s.cl]
	}
	fmt.Printf("policy=%s onepage=%v fine=%v hw=%d units of %d B ratio=%.3f usable=%.3f\n", *policy, *onepage, *fine, hw, unit, float64(hw*unit)/float64(live), float64(hw*unit)/float64(usable))
}

func lowerBound(sizes []int, classOf func(int) int) {
	cnt := make([]int, len(classSize))
	var r [1000]int
	var rs [1000]int
	live := 0
	for j := range r {
		r[j] = classOf(sizes[j])
		cnt[r[j]]++
		rs[j] = sizes[j]
		live += sizes[j]
	}
	pagesNow := func() int {
		t := 0
		for c := 1; c < len(classSize); c++ {
			slots := classPages[c] * unit / classSize[c]
			t += (cnt[c] + slots - 1) / slots * classPages[c]
		}
		return t
	}
	mx := pagesNow()
	j := 0
	for i := 0; i < 2000000; i++ {
		cnt[r[j]]--
		s := sizes[i&4095]
		live += s - rs[j]
		rs[j] = s
		r[j] = classOf(s)
		cnt[r[j]]++
		j = (j + 1) % 1000
		mx = max(mx, pagesNow())
	}
	fmt.Printf("lower bound (perfect per-class packing, peak): %d units of %d B, ratio %.3f\n", mx, unit, float64(mx*unit)/float64(live))
}

// fitSim models a coalescing heap of 16-byte granules with its metadata out
// of band (no headers): a request takes the smallest free extent that holds
// it (the lowest such), or grows the top; a free merges with its free
// neighbours, and a free extent at the top lowers it. Requests below above
// bytes go to size-classed spans instead, modelled by their lower bound
// (perfect per-class packing), so the result is optimistic for them. It
// prints the peak of the heap's top plus the spans' pages over the live
// bytes at the end.
func fitSim(sizes []int, above int) {
	type ext struct{ off, n int }
	var free []ext // sorted by off
	top := 0
	alloc := func(n int) int {
		best := -1
		for i, e := range free {
			if e.n >= n && (best < 0 || e.n < free[best].n) {
				best = i
			}
		}
		if best < 0 {
			off := top
			if k := len(free); k > 0 && free[k-1].off+free[k-1].n == top {
				off = free[k-1].off
				free = free[:k-1]
			}
			top = off + n
			return off
		}
		off := free[best].off
		if free[best].n == n {
			free = append(free[:best], free[best+1:]...)
		} else {
			free[best].off += n
			free[best].n -= n
		}
		return off
	}
	release := func(off, n int) {
		i := sort.Search(len(free), func(i int) bool { return free[i].off > off })
		free = append(free, ext{})
		copy(free[i+1:], free[i:])
		free[i] = ext{off, n}
		if i+1 < len(free) && off+n == free[i+1].off {
			free[i].n += free[i+1].n
			free = append(free[:i+1], free[i+2:]...)
		}
		if i > 0 && free[i-1].off+free[i-1].n == off {
			free[i-1].n += free[i].n
			free = append(free[:i], free[i+1:]...)
			i--
		}
		if free[i].off+free[i].n == top {
			top = free[i].off
			free = free[:i]
		}
	}
	classOf := func(s int) int {
		for c := 1; ; c++ {
			if classSize[c] >= s {
				return c
			}
		}
	}
	cnt := make([]int, len(classSize))
	spanPages := func() int {
		t := 0
		for c := 1; c < len(classSize); c++ {
			slots := classPages[c] * unit / classSize[c]
			t += (cnt[c] + slots - 1) / slots * classPages[c]
		}
		return t
	}
	var off, rs [1000]int
	live, peak := 0, 0
	take := func(j, s int) {
		rs[j] = s
		live += s
		if s >= above {
			off[j] = alloc((s + 15) / 16)
		} else {
			cnt[classOf(s)]++
		}
	}
	drop := func(j int) {
		live -= rs[j]
		if rs[j] >= above {
			release(off[j], (rs[j]+15)/16)
		} else {
			cnt[classOf(rs[j])]--
		}
	}
	for j := range off {
		take(j, sizes[j])
	}
	j := 0
	for i := 0; i < 400000; i++ {
		drop(j)
		take(j, sizes[i&4095])
		j = (j + 1) % 1000
		peak = max(peak, (top*16+unit-1)/unit+spanPages())
	}
	fmt.Printf("fit above %d B: peak %d units of %d B, ratio %.3f\n", above, peak, unit, float64(peak*unit)/float64(live))
}
