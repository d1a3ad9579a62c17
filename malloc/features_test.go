package malloc_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/malloc"
	"github.com/vmkit/vmkit/mem"
)

// With guard bytes, an overrun of one byte past the requested size and a
// write just before the block are both seen, by Probe and by Free.
func TestGuardBytes(t *testing.T) {
	h := newHeap(t, malloc.Options{Guard: true})
	for _, size := range []int{1, 13, 100, 5000, 50000, 300000} {
		b, err := h.Malloc(size)
		if err != nil {
			t.Fatal(err)
		}
		if h.Probe(b) != malloc.OK {
			t.Fatalf("fresh block: %v", h.Probe(b))
		}
		over := unsafe.Slice(unsafe.SliceData(b), size+1)
		over[size] = 'x' // one byte past the end
		if got := h.Probe(b); got != malloc.TAIL {
			t.Fatalf("size %d: after a 1-byte overrun Probe = %v, want TAIL", size, got)
		}
		if err := h.Check(); !errors.Is(err, malloc.ErrCorrupt) {
			t.Fatalf("Check after overrun: %v", err)
		}
		if err := h.Free(b); !errors.Is(err, malloc.ErrCorrupt) {
			t.Fatalf("Free after overrun: %v", err)
		}
		if h.Probe(b) != malloc.FREE {
			t.Fatalf("after free: %v", h.Probe(b))
		}
		if err := h.Free(b); !errors.Is(err, malloc.ErrDoubleFree) {
			t.Fatalf("double free in guard mode: %v", err)
		}
		mustCheck(t, h)

		b, _ = h.Malloc(size)
		under := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), -1)), 1)
		under[0] = 'y'
		if got := h.Probe(b); got != malloc.HEAD {
			t.Fatalf("size %d: after a write before the block Probe = %v, want HEAD", size, got)
		}
		h.Free(b)
		mustCheck(t, h)
	}
	if h.Probe(make([]byte, 8)) != malloc.INVALID {
		t.Fatal("a Go slice probed as a block")
	}
}

func TestProbeWithoutGuards(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	for _, size := range []int{10, 30000, 1 << 20} {
		b, _ := h.Malloc(size)
		if h.Probe(b) != malloc.OK {
			t.Fatal(h.Probe(b))
		}
		h.Free(b)
		if got := h.Probe(b); got != malloc.FREE {
			t.Fatalf("size %d freed: %v", size, got)
		}
	}
	if h.Probe(make([]byte, 8)) != malloc.INVALID {
		t.Fatal("Go slice")
	}
}

func TestPerturb(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	if err := h.Opt(malloc.M_PERTURB, 0xA5); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{32, 20000} {
		b, _ := h.Malloc(size)
		for i, v := range b {
			if v != 0x5A {
				t.Fatalf("size %d byte %d = %#x after malloc, want 0x5a", size, i, v)
			}
		}
		view := unsafe.Slice(unsafe.SliceData(b), size) // the memory stays mapped
		if err := h.Free(b); err != nil {
			t.Fatal(err)
		}
		for i, v := range view {
			if v != 0xA5 {
				t.Fatalf("size %d byte %d = %#x after free, want 0xa5", size, i, v)
			}
		}
	}
	if err := h.Opt(malloc.M_PERTURB, 0); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, h)
}

func TestOpt(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	good := map[string][2]int{
		"mmap threshold": {int(malloc.M_MMAP_THRESHOLD), 1 << 20}, "mmap max": {int(malloc.M_MMAP_MAX), 0},
		"top pad": {int(malloc.M_TOP_PAD), 4096}, "trim": {int(malloc.M_TRIM_THRESHOLD), 1 << 20},
		"arena max": {int(malloc.M_ARENA_MAX), 3}, "arena test": {int(malloc.M_ARENA_TEST), 2}, "perturb": {int(malloc.M_PERTURB), 0},
	}
	for name, kv := range good {
		if err := h.Opt(malloc.Param(kv[0]), kv[1]); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string][2]int{
		"threshold too big": {int(malloc.M_MMAP_THRESHOLD), 64 << 20}, "negative max": {int(malloc.M_MMAP_MAX), -1},
		"perturb 256": {int(malloc.M_PERTURB), 256}, "arena 0": {int(malloc.M_ARENA_MAX), 0}, "unknown": {-99, 1},
	}
	for name, kv := range bad {
		if err := h.Opt(malloc.Param(kv[0]), kv[1]); !errors.Is(err, malloc.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// With mapped blocks off, a 1 MiB block comes from an arena.
	b, err := h.Malloc(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if s := h.Info(); s.Hblks != 0 || s.Uordblks < 1<<20 {
		t.Fatalf("M_MMAP_MAX 0: %+v", s)
	}
	h.Free(b)
	mustCheck(t, h)
}

func TestOptionsFromEnv(t *testing.T) {
	env := map[string]string{
		"VMKIT_MALLOC_TUNABLES":   "arena_max=3:perturb=0xa5:mmap_threshold=1m",
		"VMKIT_MALLOC_ARENA_MAX":  "2",
		"VMKIT_MALLOC_GUARD":      "1",
		"VMKIT_MALLOC_TOP_PAD":    "64k",
		"VMKIT_MALLOC_MMAP_MAX":   "0",
		"VMKIT_MALLOC_ARENA_TEST": "",
	}
	o, err := malloc.OptionsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := malloc.Options{ArenaMax: 2, Perturb: 0xa5, MmapThreshold: 1 << 20, Guard: true, TopPad: 64 << 10, MmapMax: -1}
	if o != want {
		t.Fatalf("got %+v\nwant %+v", o, want)
	}
	for name, e := range map[string]map[string]string{
		"not a number": {"VMKIT_MALLOC_ARENA_MAX": "lots"},
		"unknown":      {"VMKIT_MALLOC_TUNABLES": "colour=blue"},
		"no equals":    {"VMKIT_MALLOC_TUNABLES": "arena_max"},
		"bad perturb":  {"VMKIT_MALLOC_PERTURB": "300"},
		// A product that wrapped was taken as its remainder: 1024 and 0.
		"overflow k": {"VMKIT_MALLOC_MMAP_THRESHOLD": "18014398509481985k"},
		"overflow g": {"VMKIT_MALLOC_TUNABLES": "mmap_threshold=0x40000000000000g"},
	} {
		if _, err := malloc.OptionsFromEnv(func(k string) string { return e[k] }); !errors.Is(err, malloc.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func rss(t *testing.T) int64 {
	t.Helper()
	v, err := procfs.StatusBytes(0, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

// A block above the mmap threshold has its own mapping, unmapped by Free.
func TestLargeBlockReturnsToSystem(t *testing.T) {
	h := newHeap(t, malloc.Options{MmapThreshold: 1 << 20})
	b, err := h.Malloc(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i += 4096 {
		b[i] = 0xA5
	}
	if r, err := mem.Resident(b); err != nil || !r.All() {
		t.Fatalf("resident: %v %v", r, err)
	}
	view := b
	if err := h.Free(b); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Resident(view); err == nil {
		// Something else in the test binary may have mapped the freed
		// range again at once; then our pages must be gone from it.
		ours := 0
		mem.Try(func() {
			for i := 0; i < len(view); i += 4096 {
				if view[i] == 0xA5 {
					ours++
				}
			}
		})
		if ours == len(view)/4096 {
			t.Fatal("the block's pages are still mapped after Free")
		}
	}
	if s := h.Info(); s.Hblks != 0 || s.Hblkhd != 0 {
		t.Fatalf("%+v", s)
	}
}

// Trim gives freed arena memory back: its pages stop being resident.
// A pad of 2 GiB or more, given to Trim or as M_TOP_PAD, keeps everything
// above the top; it gives back no live block. The pad was converted to
// int32 pages with wrap-around: Trim(1<<31) zeroed the blocks below the
// top (MADV_DONTNEED) and closed them (PROT_NONE), and so did every
// automatic trim with an M_TOP_PAD of 16 TiB - 40 KiB.
func TestHugePad(t *testing.T) {
	// uint64, converted at run time: the tests compile on 32-bit systems.
	pads := []uint64{1 << 31, 1<<32 - 1, 1 << 43, (1<<32 - 10) << 12, math.MaxInt64}
	for _, p := range pads {
		pad := int(p)
		t.Run(fmt.Sprintf("Trim(%d)", pad), func(t *testing.T) {
			h := newHeap(t, malloc.Options{})
			b, err := h.Malloc(40000)
			if err != nil {
				t.Fatal(err)
			}
			fillPattern(b, 3)
			h.Trim(pad)
			if !hasPattern(b, 3) {
				t.Fatal("a live block lost its contents")
			}
			mustCheck(t, h)
		})
		t.Run(fmt.Sprintf("M_TOP_PAD=%d", pad), func(t *testing.T) {
			h := newHeap(t, malloc.Options{MmapThreshold: 1 << 20, TrimThreshold: 1})
			if err := h.Opt(malloc.M_TOP_PAD, pad); err != nil {
				t.Fatal(err)
			}
			b, err := h.Malloc(40000)
			if err != nil {
				t.Fatal(err)
			}
			fillPattern(b, 3)
			// Two chunks past the held sizes, freed from the top down:
			// the top falls past the trim threshold, and the region is
			// trimmed down to the pad.
			c, _ := h.Malloc(200000)
			d, _ := h.Malloc(200000)
			h.Free(d)
			h.Free(c)
			if !hasPattern(b, 3) {
				t.Fatal("a live block lost its contents")
			}
			mustCheck(t, h)
		})
	}
}

// A trim threshold of 16 TiB + 4 KiB keeps the top: it was converted to
// int32 pages with wrap-around, to 1 page, and every free trimmed.
func TestHugeTrimThreshold(t *testing.T) {
	h := newHeap(t, malloc.Options{MmapThreshold: 4 << 20})
	huge := uint64(1<<32+1) << 12 // converted at run time: the tests compile on 32-bit systems
	if err := h.Opt(malloc.M_TRIM_THRESHOLD, int(huge)); err != nil {
		t.Fatal(err)
	}
	b, err := h.Malloc(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Free(b); err != nil {
		t.Fatal(err)
	}
	if kc := h.Info().Keepcost; kc < 1<<20 {
		t.Fatalf("Keepcost %d after freeing 1 MiB at the top under a 16 TiB trim threshold", kc)
	}
	mustCheck(t, h)
}

func TestTrim(t *testing.T) {
	h := newHeap(t, malloc.Options{MmapThreshold: 32 << 20, TrimThreshold: -1})
	var bs [][]byte
	for range 64 {
		b, err := h.Malloc(256 << 10)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		bs = append(bs, b)
	}
	keep := bs[0]
	views := bs[1:]
	for _, b := range views {
		h.Free(b)
	}
	before := rss(t)
	if !h.Trim(0) {
		t.Fatal("Trim released nothing")
	}
	after := rss(t)
	if before-after < 8<<20 {
		t.Fatalf("RSS went from %d to %d after trimming 16 MiB of free blocks", before, after)
	}
	for _, b := range views {
		if r, err := mem.Resident(b); err != nil || r.Count() != 0 {
			t.Fatalf("freed block still resident after Trim: %v %v", r, err)
		}
	}
	if keep[0] != 1 {
		t.Fatal("live block damaged")
	}
	mustCheck(t, h)
}

// While the thresholds are dynamic, a top that is trimmed and then grows
// back raises the trim threshold, so that the next swing of the same size
// keeps its pages; a threshold that was set stays where it was, as in glibc.
func TestTrimThresholdRises(t *testing.T) {
	// Mid-size blocks of 32 pages: below the 128 KiB mmap threshold, and
	// too long to be held for reuse (midcache.go), so that each free
	// reaches the arena.
	const block, n = 127 << 10, 8
	swing := func(h *malloc.Heap) (first, second int64) {
		c := h.NewCache()
		defer c.Close()
		var bs [n][]byte
		alloc := func(from int) {
			for i := from; i < n; i++ {
				b, err := c.Malloc(block)
				if err != nil {
					t.Fatal(err)
				}
				b[0] = 1
				bs[i] = b
			}
		}
		free := func(from int) int64 {
			for i := n - 1; i >= from; i-- {
				if err := c.Free(bs[i]); err != nil {
					t.Fatal(err)
				}
			}
			return h.Info().Keepcost
		}
		alloc(0)
		first = free(2) // 768 KiB above the top: over 128 KiB, trimmed
		alloc(2)        // grown back
		second = free(2)
		mustCheck(t, h)
		return first, second
	}
	const pad = 128 << 10 // M_TOP_PAD's default: what a trim keeps
	first, second := swing(newHeap(t, malloc.Options{}))
	if first > pad+4096 {
		t.Fatalf("the first swing kept %d bytes above the top; a trim keeps %d", first, pad)
	}
	if second < 6*block {
		t.Fatalf("after the top grew back, the same swing kept only %d bytes above the top: the trim threshold did not rise", second)
	}
	first, second = swing(newHeap(t, malloc.Options{TrimThreshold: 128 << 10}))
	if first > pad+4096 || second > pad+4096 {
		t.Fatalf("with M_TRIM_THRESHOLD set, the swings kept %d and %d bytes above the top; a trim keeps %d", first, second, pad)
	}
}

func TestHooks(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	var mallocs, frees, reallocs, memaligns atomic.Int64
	var inner []byte
	var callerOK atomic.Bool
	here := func() uintptr { pc, _, _, _ := runtime.Caller(1); return pc }()
	fn := runtime.FuncForPC(here).Name()
	h.SetHooks(&malloc.Hooks{
		Malloc: func(size int, p unsafe.Pointer, caller uintptr) {
			mallocs.Add(1)
			if f := runtime.FuncForPC(caller); f != nil && f.Name() == fn {
				callerOK.Store(true)
			}
			// A hook may allocate: this does not call the hook again.
			b, err := h.Malloc(16)
			if err != nil {
				panic(err)
			}
			inner = append(inner[:0], b...)
			h.Free(b)
		},
		Free:     func(p unsafe.Pointer, caller uintptr) { frees.Add(1) },
		Realloc:  func(old unsafe.Pointer, size int, p unsafe.Pointer, caller uintptr) { reallocs.Add(1) },
		Memalign: func(align, size int, p unsafe.Pointer, caller uintptr) { memaligns.Add(1) },
	})
	b, _ := h.Malloc(100)
	b, _ = h.Realloc(b, 200)
	h.Free(b)
	a, _ := h.AlignedAlloc(64, 10)
	h.Free(a)
	if mallocs.Load() != 1 || frees.Load() != 2 || reallocs.Load() != 1 || memaligns.Load() != 1 {
		t.Fatalf("hooks saw %d mallocs, %d frees, %d reallocs, %d memaligns", mallocs.Load(), frees.Load(), reallocs.Load(), memaligns.Load())
	}
	if h.HooksSkipped() != 2 {
		t.Fatalf("skipped %d calls made by the hook, want 2", h.HooksSkipped())
	}
	if !callerOK.Load() {
		t.Fatal("the caller PC is not the test function")
	}
	h.SetHooks(nil)
	b, _ = h.Malloc(10)
	h.Free(b)
	if mallocs.Load() != 1 {
		t.Fatal("hook called after removal")
	}
	mustCheck(t, h)
}

func allocForProfile(h *malloc.Heap, n int) [][]byte {
	var out [][]byte
	for range n {
		b, _ := h.Malloc(1000)
		out = append(out, b)
	}
	return out
}

// A heap closed with sampled blocks still live takes them out of the
// profile, which every heap shares, keyed by address. Before the fix they
// stayed, and the next heap, mapped at the same addresses, panicked in its
// first sampled Malloc (pprof: Profile.Add of duplicate value).
func TestProfileAfterClose(t *testing.T) {
	for round := range 3 {
		h, err := malloc.NewHeap(malloc.Options{ProfileRate: 1})
		if err != nil {
			t.Fatal(err)
		}
		p := pprof.Lookup(malloc.ProfileName)
		before := p.Count()
		for _, size := range []int{100, 100, 40000, 1 << 20} {
			if _, err := h.Malloc(size); err != nil {
				t.Fatal(err)
			}
		}
		if got := p.Count() - before; got != 4 {
			t.Fatalf("round %d: profile grew by %d, want 4", round, got)
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		if got := p.Count(); got != before {
			t.Fatalf("round %d: the profile has %d samples after Close, want %d", round, got, before)
		}
	}
}

func TestProfile(t *testing.T) {
	h := newHeap(t, malloc.Options{ProfileRate: 1})
	p := pprof.Lookup(malloc.ProfileName)
	if p == nil {
		t.Fatal("no profile")
	}
	before := p.Count()
	bs := allocForProfile(h, 10)
	if got := p.Count() - before; got != 10 {
		t.Fatalf("profile grew by %d, want 10 with rate 1", got)
	}
	var buf bytes.Buffer
	if err := p.WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "allocForProfile") {
		t.Fatalf("profile lacks the allocating function:\n%s", buf.String())
	}
	buf.Reset()
	if err := h.WriteLeaks(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "10 blocks, 10000 bytes") || !strings.Contains(buf.String(), "allocForProfile") {
		t.Fatalf("leak report:\n%s", buf.String())
	}
	// Sampling stops, but the sampled blocks still leave the profile when
	// freed.
	h.SetProfileRate(0)
	for _, b := range bs {
		h.Free(b)
	}
	if got := p.Count() - before; got != 0 {
		t.Fatalf("%d samples left after freeing everything", got)
	}
	if testing.Verbose() {
		p.WriteTo(os.Stderr, 1)
	}
}

type plain struct {
	A int64
	B [4]float64
	C struct{ D, E uint32 }
}

func TestTyped(t *testing.T) {
	p, err := malloc.New[plain]()
	if err != nil {
		t.Fatal(err)
	}
	if *p != (plain{}) {
		t.Fatal("New is not zeroed")
	}
	p.A, p.B[3], p.C.E = 1, 2, 3
	if err := malloc.Delete(p); err != nil {
		t.Fatal(err)
	}
	s, err := malloc.MakeSlice[plain](3, 10)
	if err != nil || len(s) != 3 || cap(s) != 10 {
		t.Fatal(len(s), cap(s), err)
	}
	s = append(s, plain{A: 7})
	if err := malloc.FreeSlice(s); err != nil {
		t.Fatal(err)
	}
	if err := malloc.FreeSlice(s); !errors.Is(err, malloc.ErrDoubleFree) {
		t.Fatalf("second FreeSlice: %v", err)
	}
	refused := map[string]func() error{
		"pointer":   func() error { _, err := malloc.New[*int](); return err },
		"string":    func() error { _, err := malloc.New[string](); return err },
		"slice":     func() error { _, err := malloc.MakeSlice[[]byte](1, 1); return err },
		"map":       func() error { _, err := malloc.New[map[int]int](); return err },
		"chan":      func() error { _, err := malloc.New[chan int](); return err },
		"func":      func() error { _, err := malloc.New[func()](); return err },
		"interface": func() error { _, err := malloc.New[error](); return err },
		"unsafe":    func() error { _, err := malloc.New[unsafe.Pointer](); return err },
		"nested":    func() error { _, err := malloc.New[struct{ A [2]struct{ S string } }](); return err },
	}
	for name, f := range refused {
		t.Run(name, func(t *testing.T) {
			err := f()
			if !errors.Is(err, malloc.ErrPointerType) {
				t.Fatalf("err = %v", err)
			}
			if err2 := f(); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("second check differs: %v", err2)
			}
		})
	}
	if _, err := malloc.MakeSlice[int](5, 2); !errors.Is(err, malloc.ErrInvalidArgument) {
		t.Fatal(err)
	}
}

func TestClosed(t *testing.T) {
	h, err := malloc.NewHeap(malloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := h.NewCache()
	b, _ := c.Malloc(10)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Malloc(10); !errors.Is(err, malloc.ErrClosed) {
		t.Fatal(err)
	}
	if _, err := c.Malloc(10); !errors.Is(err, malloc.ErrClosed) {
		t.Fatal(err)
	}
	if err := h.Free(b); !errors.Is(err, malloc.ErrClosed) && !errors.Is(err, malloc.ErrInvalidPointer) {
		t.Fatal(err)
	}
	c2 := malloc.NewCache()
	c2.Close()
	if _, err := c2.Malloc(10); !errors.Is(err, malloc.ErrClosed) {
		t.Fatal(err)
	}
	if err := malloc.Default().Close(); err == nil {
		t.Fatal("closed the default heap")
	}
}

// A Cache closed after it freed blocks (and so remembers their region)
// refuses later frees with ErrClosed and holds nothing: the blocks stay
// live, and free through the heap. Before the fix, such a free parked the
// block in the state that every closed Cache shares.
func TestClosedCacheRemembersNothing(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	c := h.NewCache()
	var small, mid [3][]byte
	for i := range small {
		small[i], _ = c.Malloc(100)
		mid[i], _ = c.Malloc(40000)
	}
	c.Free(small[0])
	c.Free(mid[0])
	c.Close()
	for _, b := range [][]byte{small[1], mid[1]} {
		if err := c.Free(b); !errors.Is(err, malloc.ErrClosed) {
			t.Fatalf("free of a %d-byte block through a closed Cache: %v", len(b), err)
		}
	}
	mustCheck(t, h)
	for _, b := range [][]byte{small[1], small[2], mid[1], mid[2]} {
		if err := h.Free(b); err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("%d bytes in use after every block was freed", s.Uordblks)
	}
}

// Free after Close of a block of another arena than the caller's P serves
// reports ErrClosed. The per-P cache remembered that arena's region, and
// Heap.Free's short path for such blocks read the region's state byte,
// unmapped by Close, before it looked at the mode: the program died with
// SIGSEGV while pinned to its P.
func TestFreeAfterCloseOtherArena(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one per-P cache: arena 0's
	h, err := malloc.NewHeap(malloc.Options{ArenaMax: 2})
	if err != nil {
		t.Fatal(err)
	}
	c0, c1 := h.NewCache(), h.NewCache() // arenas 0 and 1, round robin
	var bs [][]byte
	for range 8 {
		for _, c := range []*malloc.Cache{c0, c1} {
			b, err := c.Malloc(64)
			if err != nil {
				t.Fatal(err)
			}
			bs = append(bs, b)
		}
	}
	for _, b := range bs[:4] { // the per-P cache remembers both arenas' regions
		if err := h.Free(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs[4:] {
		if err := h.Free(b); !errors.Is(err, malloc.ErrClosed) {
			t.Fatalf("free after Close: %v", err)
		}
		if err := h.UnsafeFree(unsafe.Pointer(unsafe.SliceData(b))); !errors.Is(err, malloc.ErrClosed) {
			t.Fatalf("UnsafeFree after Close: %v", err)
		}
	}
}

// dropCaches makes n Caches of h that hold blocks of many classes and
// drops them without Close.
//
//go:noinline
func dropCaches(h *malloc.Heap, n int) {
	for range n {
		c := h.NewCache()
		var bs [][]byte
		for i := range 200 {
			b, err := c.Malloc(16 + i*8)
			if err != nil {
				panic(err)
			}
			bs = append(bs, b)
		}
		for _, b := range bs {
			c.Free(b)
		}
	}
}

// The cleanup of a Cache dropped without Close, which runs when the
// collector decides, may meet Heap.Close: it must not give its blocks back
// into regions Close is unmapping. Before the fix the cleanup goroutine
// crashed the program (a nil region in arena.giveBack, or a fault in
// unmapped state bytes) within a few rounds.
func TestDroppedCacheDuringClose(t *testing.T) {
	for range 100 {
		h, err := malloc.NewHeap(malloc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		dropCaches(h, 20)
		runtime.GC() // queues the cleanups
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestValidateOptions(t *testing.T) {
	bad := map[string]malloc.Options{
		"arena max": {ArenaMax: -1}, "threshold": {MmapThreshold: 1 << 30}, "perturb": {Perturb: 999},
		"top pad": {TopPad: -5}, "rate": {ProfileRate: -1}, "arena test": {ArenaTest: -2},
	}
	for name, o := range bad {
		if _, err := malloc.NewHeap(o); !errors.Is(err, malloc.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// In a binary without cgo the first arena may take its region from the
// program break; with cgo (glibc owns the break) it falls back to mmap.
func TestBrkRegion(t *testing.T) {
	before, err := mem.Sbrk(0)
	if errors.Is(err, mem.ErrBreakOwned) {
		t.Skip("cgo binary: the break belongs to glibc")
	}
	if err != nil {
		t.Fatal(err)
	}
	h, err := malloc.NewHeap(malloc.Options{Brk: true, ArenaMax: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := h.NewCache()
	b, err := c.Malloc(20000)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := mem.Sbrk(0)
	if addr(b) < before || addr(b) >= after {
		t.Fatalf("block %#x is not in the break's range [%#x, %#x)", addr(b), before, after)
	}
	fillPattern(b, 1)
	mustCheck(t, h)
	c.Free(b)
	c.Close()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if now, _ := mem.Sbrk(0); now != before {
		t.Fatalf("Close left the break at %#x, it was %#x", now, before)
	}
}

// TestErrorMessages checks that each refusal says what was called, why it
// was refused and what kind of error it is, naming the package once, and
// still matches its sentinel (and errno) with errors.Is.
func TestErrorMessages(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	b, err := h.Malloc(100)
	if err != nil {
		t.Fatal(err)
	}
	goMem := make([]byte, 64)
	cases := []struct {
		name string
		call func() error
		is   []error
		want []string
	}{
		{"negative size", func() error { _, err := h.Malloc(-1); return err },
			[]error{malloc.ErrInvalidArgument, syscall.EINVAL}, []string{"malloc(-1)", "negative size", "invalid argument"}},
		{"huge size", func() error { _, err := h.Malloc(math.MaxInt); return err },
			[]error{malloc.ErrNoMemory, syscall.ENOMEM}, []string{fmt.Sprintf("malloc(%d)", math.MaxInt), "bytes a block may have", "out of memory"}},
		{"calloc overflow", func() error { _, err := h.Calloc(math.MaxInt/2, 3); return err },
			[]error{malloc.ErrNoMemory}, []string{fmt.Sprintf("calloc(%d, 3)", math.MaxInt/2), "overflows"}},
		{"alignment", func() error { _, err := h.AlignedAlloc(3, 10); return err },
			[]error{malloc.ErrInvalidArgument}, []string{"aligned_alloc", "alignment 3 is not a power of two"}},
		{"Go memory", func() error { return h.Free(goMem) },
			[]error{malloc.ErrInvalidPointer}, []string{"free(0x", "not a block of this heap", "invalid pointer"}},
		{"interior", func() error { return h.Free(b[16:]) },
			[]error{malloc.ErrInvalidPointer}, []string{"interior pointer"}},
		{"double free", func() error {
			if err := h.Free(b); err != nil {
				return err
			}
			return h.Free(b)
		}, []error{malloc.ErrDoubleFree}, []string{"already free", "double free"}},
		{"pointer type", func() error { _, err := malloc.New[struct{ p *int }](); return err },
			[]error{malloc.ErrPointerType}, []string{"holds a Go pointer at", ".p", "keep such values on the Go heap"}},
		{"slice shape", func() error { _, err := malloc.MakeSlice[int](5, 2); return err },
			[]error{malloc.ErrInvalidArgument}, []string{"MakeSlice", "len 5, cap 2", "want 0 <= len <= cap"}},
	}
	for _, c := range cases {
		err := c.call()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if n := strings.Count(msg, "malloc:"); n != 1 {
			t.Errorf("%s: %q names the package %d times", c.name, msg, n)
		}
		for _, target := range c.is {
			if !errors.Is(err, target) {
				t.Errorf("%s: %q does not match %v", c.name, msg, target)
			}
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q does not say %q", c.name, msg, w)
			}
		}
	}
	mustCheck(t, h)
}

// TestWriteInfoXML reads WriteInfo's output back with encoding/xml: it is
// well-formed, lists each heap's free sizes in order, and its totals agree
// with the heaps' and with Info.
func TestWriteInfoXML(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 1, MmapThreshold: 256 << 10})
	// Free chunks of many sizes, kept apart by live blocks so that they do
	// not merge; free small blocks; and a few blocks in their own mappings.
	var keep [][]byte
	for i := range 600 {
		size := 16 + i*37%4000
		switch {
		case i%100 == 0:
			size = 300 << 10
		case i%10 == 0:
			size = 20000 + (i/10*7)%40*4096
		case i%10 == 1:
			size = 17000
		}
		b, err := h.Malloc(size)
		if err != nil {
			t.Fatal(err)
		}
		keep = append(keep, b)
	}
	for i, b := range keep {
		if i%10 == 0 && i%100 != 0 || i%10 > 1 && i%3 == 0 {
			if err := h.Free(b); err != nil {
				t.Fatal(err)
			}
			keep[i] = nil
		}
	}
	type size struct {
		From  int64 `xml:"from,attr"`
		To    int64 `xml:"to,attr"`
		Total int64 `xml:"total,attr"`
		Count int64 `xml:"count,attr"`
	}
	type typed struct {
		Type  string `xml:"type,attr"`
		Count int64  `xml:"count,attr"`
		Size  int64  `xml:"size,attr"`
	}
	type heap struct {
		Nr     int     `xml:"nr,attr"`
		Sizes  []size  `xml:"sizes>size"`
		Total  []typed `xml:"total"`
		System []typed `xml:"system"`
		Aspace []typed `xml:"aspace"`
	}
	var doc struct {
		XMLName xml.Name `xml:"malloc"`
		Version string   `xml:"version,attr"`
		Heaps   []heap   `xml:"heap"`
		Total   []typed  `xml:"total"`
		System  []typed  `xml:"system"`
		Aspace  []typed  `xml:"aspace"`
	}
	var buf bytes.Buffer
	if err := h.WriteInfo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("WriteInfo is not well-formed XML: %v\n%s", err, buf.String())
	}
	get := func(ts []typed, typ string) typed {
		for _, x := range ts {
			if x.Type == typ {
				return x
			}
		}
		t.Fatalf("no %q entry in %+v", typ, ts)
		return typed{}
	}
	if doc.Version != "1" || len(doc.Heaps) != 1 {
		t.Fatalf("version %q, %d heaps", doc.Version, len(doc.Heaps))
	}
	var fast, rest, system typed
	for _, hp := range doc.Heaps {
		// Two ascending runs: the size classes, then the free chunks.
		var sum int64
		descents := 0
		for i, sz := range hp.Sizes {
			if sz.From > sz.To || sz.Total != sz.Count*sz.From {
				t.Errorf("heap %d: size entry %+v does not add up", hp.Nr, sz)
			}
			if i > 0 && sz.From <= hp.Sizes[i-1].From {
				descents++
			}
			sum += sz.Total
		}
		if descents > 1 {
			t.Errorf("heap %d: sizes are not in order: %+v", hp.Nr, hp.Sizes)
		}
		f, r := get(hp.Total, "fast"), get(hp.Total, "rest")
		if sum != f.Size+r.Size {
			t.Errorf("heap %d: sizes add up to %d, totals to %d", hp.Nr, sum, f.Size+r.Size)
		}
		fast.Count, fast.Size = fast.Count+f.Count, fast.Size+f.Size
		rest.Count, rest.Size = rest.Count+r.Count, rest.Size+r.Size
		system.Size += get(hp.System, "current").Size
		if p, tot := get(hp.Aspace, "mprotect").Size, get(hp.Aspace, "total").Size; p > tot || p < get(hp.System, "current").Size {
			t.Errorf("heap %d: mprotect %d, total %d, system %d", hp.Nr, p, tot, get(hp.System, "current").Size)
		}
	}
	if f := get(doc.Total, "fast"); f != (typed{"fast", fast.Count, fast.Size}) {
		t.Errorf("total fast %+v, heaps add up to %+v", f, fast)
	}
	if r := get(doc.Total, "rest"); r != (typed{"rest", rest.Count, rest.Size}) {
		t.Errorf("total rest %+v, heaps add up to %+v", r, rest)
	}
	info := h.Info()
	if m := get(doc.Total, "mmap"); m.Count != info.Hblks || m.Size != info.Hblkhd || m.Count == 0 {
		t.Errorf("mmap %+v, Info has %d blocks of %d bytes", m, info.Hblks, info.Hblkhd)
	}
	if cur := get(doc.System, "current").Size; cur != info.Arena+info.Hblkhd || cur != system.Size+info.Hblkhd {
		t.Errorf("system current %d, Info Arena+Hblkhd %d, heaps %d", cur, info.Arena+info.Hblkhd, system.Size)
	}
	if r := get(doc.Total, "rest"); r.Count < 20 {
		t.Errorf("only %d free chunks: the test no longer checks their order", r.Count)
	}
	for _, b := range keep {
		if b != nil {
			if err := h.Free(b); err != nil {
				t.Fatal(err)
			}
		}
	}
}
