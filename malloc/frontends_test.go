package malloc_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/vmkit/vmkit/malloc"
)

// frontAPI is the allocating API shared by the package, a Heap and a Cache.
type frontAPI struct {
	Malloc        func(int) ([]byte, error)
	Calloc        func(int, int) ([]byte, error)
	Realloc       func([]byte, int) ([]byte, error)
	ReallocArray  func([]byte, int, int) ([]byte, error)
	Free          func([]byte) error
	AlignedAlloc  func(int, int) ([]byte, error)
	Memalign      func(int, int) ([]byte, error)
	PosixMemalign func(int, int) ([]byte, error)
	Valloc        func(int) ([]byte, error)
	PValloc       func(int) ([]byte, error)
	UsableSize    func([]byte) int
}

// Every allocating function, through each front end: the package, a Heap
// and a Cache. Each is wired to the right call and keeps its contract
// (zeroing, alignment, contents across Realloc, refusals), so that a
// wrapper calling the wrong method cannot pass unnoticed.
func TestEveryFrontEnd(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	c := h.NewCache()
	defer c.Close()
	if c.Heap() != h {
		t.Fatal("Cache.Heap is not the Heap that made it")
	}
	fronts := map[string]frontAPI{
		"package": {malloc.Malloc, malloc.Calloc, malloc.Realloc, malloc.ReallocArray, malloc.Free, malloc.AlignedAlloc,
			malloc.Memalign, malloc.PosixMemalign, malloc.Valloc, malloc.PValloc, malloc.UsableSize},
		"heap": {h.Malloc, h.Calloc, h.Realloc, h.ReallocArray, h.Free, h.AlignedAlloc,
			h.Memalign, h.PosixMemalign, h.Valloc, h.PValloc, h.UsableSize},
		"cache": {c.Malloc, c.Calloc, c.Realloc, c.ReallocArray, c.Free, c.AlignedAlloc,
			c.Memalign, c.PosixMemalign, c.Valloc, c.PValloc, c.UsableSize},
	}
	page := os.Getpagesize()
	aligned := func(b []byte, a int) bool { return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%uintptr(a) == 0 }
	for name, f := range fronts {
		t.Run(name, func(t *testing.T) {
			var live [][]byte
			keep := func(b []byte, err error) []byte {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				live = append(live, b)
				return b
			}
			for _, size := range []int{24, 3000, 40000} {
				// Dirty a block, free it, and ask Calloc for the same size:
				// it must come back zeroed even if it is the same block.
				d, err := f.Malloc(size)
				if err != nil {
					t.Fatal(err)
				}
				fillPattern(d, 7)
				f.Free(d)
				z := keep(f.Calloc(size/8, 8))
				if len(z) != size/8*8 || !bytes.Equal(z, make([]byte, len(z))) {
					t.Fatalf("Calloc(%d, 8): %d bytes, not all zero", size/8, len(z))
				}
				if u := f.UsableSize(z); u < len(z) {
					t.Fatalf("UsableSize %d < %d", u, len(z))
				}
			}
			r := keep(f.Malloc(100))
			fillPattern(r, 3)
			live = live[:len(live)-1]
			r, err := f.Realloc(r, 50000)
			if err != nil || len(r) != 50000 || !hasPattern(r[:100], 3) {
				t.Fatalf("Realloc to 50000: len %d, %v", len(r), err)
			}
			r, err = f.ReallocArray(r, 100, 10)
			if err != nil || len(r) != 1000 || !hasPattern(r[:100], 3) {
				t.Fatalf("ReallocArray(100, 10): len %d, %v", len(r), err)
			}
			if _, err := f.ReallocArray(r, math.MaxInt/2, 3); !errors.Is(err, malloc.ErrNoMemory) {
				t.Fatalf("ReallocArray overflowing: %v", err)
			}
			live = append(live, r)
			for _, al := range []int{32, 64, 4096, 65536} {
				if b := keep(f.AlignedAlloc(al, 100)); !aligned(b, al) || len(b) != 100 {
					t.Fatalf("AlignedAlloc(%d, 100) = %p, len %d", al, unsafe.SliceData(b), len(b))
				}
				if b := keep(f.Memalign(al, 10)); !aligned(b, al) {
					t.Fatalf("Memalign(%d, 10) = %p", al, unsafe.SliceData(b))
				}
				if b := keep(f.PosixMemalign(al, 1000)); !aligned(b, al) {
					t.Fatalf("PosixMemalign(%d, 1000) = %p", al, unsafe.SliceData(b))
				}
			}
			if _, err := f.AlignedAlloc(48, 10); !errors.Is(err, malloc.ErrInvalidArgument) {
				t.Fatalf("AlignedAlloc(48): %v", err)
			}
			if _, err := f.PosixMemalign(4, 10); !errors.Is(err, malloc.ErrInvalidArgument) {
				t.Fatalf("PosixMemalign(4): %v", err)
			}
			if b := keep(f.Valloc(100)); !aligned(b, page) || len(b) != 100 {
				t.Fatalf("Valloc(100) = %p, len %d", unsafe.SliceData(b), len(b))
			}
			if b := keep(f.PValloc(100)); !aligned(b, page) || len(b) != page {
				t.Fatalf("PValloc(100) = %p, len %d: want a whole page", unsafe.SliceData(b), len(b))
			}
			for _, b := range live {
				if err := f.Free(b); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Free(live[0]); !errors.Is(err, malloc.ErrDoubleFree) {
				t.Fatalf("second free: %v", err)
			}
		})
	}
	mustCheck(t, h)
	if err := malloc.Check(); err != nil {
		t.Fatal(err)
	}
}

// The package-level functions that are not allocations reach the default
// heap: statistics, tuning, checks, hooks and profiles.
func TestPackageLevelFunctions(t *testing.T) {
	b, err := malloc.Malloc(100)
	if err != nil {
		t.Fatal(err)
	}
	if s := malloc.Probe(b); s != malloc.OK {
		t.Fatalf("Probe of a live block: %v", s)
	}
	if s := malloc.Info(); s.Uordblks < 100 || s.Arena < s.Uordblks {
		t.Fatalf("Info with a live 100-byte block: %+v", s)
	}
	var out bytes.Buffer
	malloc.WriteStats(&out)
	if !bytes.Contains(out.Bytes(), []byte("in use bytes")) {
		t.Fatalf("WriteStats: %q", out.String())
	}
	out.Reset()
	if err := malloc.WriteInfo(&out); err != nil || !bytes.HasPrefix(out.Bytes(), []byte("<malloc version=\"1\">")) {
		t.Fatalf("WriteInfo: %v %q", err, out.String())
	}
	var seen atomic.Int32
	target := unsafe.Pointer(unsafe.SliceData(b))
	malloc.SetHooks(&malloc.Hooks{Free: func(p unsafe.Pointer, caller uintptr) {
		if p == target { // other goroutines may use the default heap too
			seen.Add(1)
		}
	}})
	malloc.Free(b)
	malloc.SetHooks(nil)
	if n := seen.Load(); n != 1 {
		t.Fatalf("the free hook saw the block freed %d times", n)
	}
	malloc.SetProfileRate(1)
	p, _ := malloc.Malloc(64)
	out.Reset()
	if err := malloc.WriteLeaks(&out); err != nil || out.Len() == 0 {
		t.Fatalf("WriteLeaks with a sampled live block: %v %q", err, out.String())
	}
	malloc.Free(p)
	malloc.SetProfileRate(0)
	if err := malloc.Opt(malloc.M_PERTURB, 999); !errors.Is(err, malloc.ErrInvalidArgument) {
		t.Fatalf("Opt(M_PERTURB, 999): %v", err)
	}
	malloc.Trim(0)
	if err := malloc.Check(); err != nil {
		t.Fatal(err)
	}
}

// A heap made when GOMAXPROCS was small serves goroutines on the Ps added
// later (beyond its per-P caches) through its shared overflow cache:
// blocks stay intact and the heap ends consistent and empty.
func TestMoreProcsThanCaches(t *testing.T) {
	old := runtime.GOMAXPROCS(1)
	h := newHeap(t, malloc.Options{ArenaMax: 2})
	runtime.GOMAXPROCS(max(old, runtime.NumCPU()) + 6)
	defer runtime.GOMAXPROCS(old)
	const workers = 12
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			var live [][]byte
			for i := range 20000 {
				b, err := h.Malloc(16 + (i*37+w)%2000)
				if err != nil {
					errs <- err
					return
				}
				fillPattern(b, byte(w))
				live = append(live, b)
				if len(live) > 50 {
					if !hasPattern(live[0], byte(w)) {
						errs <- fmt.Errorf("worker %d: a block changed while live", w)
						return
					}
					if err := h.Free(live[0]); err != nil {
						errs <- err
						return
					}
					live = live[1:]
				}
				if i%1000 == 0 {
					runtime.Gosched() // move between Ps
				}
			}
			for _, b := range live {
				if err := h.Free(b); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("%d bytes in use after every block was freed", s.Uordblks)
	}
}

// A nil *Heap and the zero Heap are refused with an error that says to use
// NewHeap, by every method that returns an error; none of them may crash
// the process or leave a lock held. A nil *Heap's Malloc used to fault with
// the goroutine pinned to its P, which the runtime cannot turn into a panic:
// the process died with "unexpected signal during runtime execution". The
// zero Heap's NewCache panicked (integer divide by zero) with the heap's
// mutex held, so that its Close then hung.
func TestNilAndZeroHeap(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    *malloc.Heap
	}{{"nil", nil}, {"zero", new(malloc.Heap)}} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			calls := map[string]func() error{
				"Malloc":        func() error { _, err := h.Malloc(10); return err },
				"Malloc(large)": func() error { _, err := h.Malloc(1 << 20); return err },
				"Calloc":        func() error { _, err := h.Calloc(2, 8); return err },
				"Realloc":       func() error { _, err := h.Realloc(nil, 10); return err },
				"AlignedAlloc":  func() error { _, err := h.AlignedAlloc(64, 10); return err },
				"UnsafeMalloc":  func() error { _, err := h.UnsafeMalloc(10); return err },
				"Free":          func() error { return h.Free(make([]byte, 16)) },
				"Opt":           func() error { return h.Opt(malloc.M_TOP_PAD, 0) },
				"Check":         func() error { return h.Check() },
				"WriteInfo":     func() error { return h.WriteInfo(&bytes.Buffer{}) },
				"NewCache":      func() error { _, err := h.NewCache().Malloc(10); return err },
				"Close":         func() error { return h.Close() },
			}
			if tc.name == "nil" {
				calls["WriteLeaks"] = func() error { return h.WriteLeaks(&bytes.Buffer{}) }
				calls["WriteProfile"] = func() error { return h.WriteProfile(&bytes.Buffer{}) }
			}
			for name, call := range calls {
				if err := call(); err == nil || !strings.Contains(err.Error(), "NewHeap") {
					t.Errorf("%s on a %s heap: %v, want an error that says to use NewHeap", name, tc.name, err)
				}
			}
			if h.UsableSize(make([]byte, 16)) != 0 || h.Trim(0) || h.Info() != (malloc.Stats{}) {
				t.Error("a heap that NewHeap did not make reports memory")
			}
		})
	}
}
