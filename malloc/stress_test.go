package malloc_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/vmkit/vmkit/malloc"
)

// A stressBlock is a block under test and the seed of its contents.
type stressBlock struct {
	b    []byte
	seed byte
}

// fill writes every step-th byte of the block from its seed.
func (x stressBlock) fill(step int) {
	for i := 0; i < len(x.b); i += step {
		x.b[i] = x.seed + byte(i)
	}
}

// firstFailure reports the first failure of many goroutines and lets the
// others see that one happened.
type firstFailure struct {
	t      *testing.T
	failed atomic.Bool
}

func (f *firstFailure) fail(format string, args ...any) {
	if f.failed.CompareAndSwap(false, true) {
		f.t.Errorf(format, args...)
	}
}

// verify checks every step-th byte of the first n of x, and reports the
// first wrong one.
func (f *firstFailure) verify(x stressBlock, n, step int) bool {
	for i := 0; i < min(n, len(x.b)); i += step {
		if x.b[i] != x.seed+byte(i) {
			f.fail("block %p of %d bytes: byte %d is %d, want %d", unsafe.SliceData(x.b), len(x.b), i, x.b[i], x.seed+byte(i))
			return false
		}
	}
	return true
}

// share offers x to the other goroutines, or keeps it in mine when the
// channel is full.
func share(ch chan stressBlock, mine *[]stressBlock, x stressBlock) {
	select {
	case ch <- x:
	default:
		*mine = append(*mine, x)
	}
}

// pick takes a block another goroutine shared or, when there is none, one
// of mine; false when there is neither.
func pick(ch chan stressBlock, mine *[]stressBlock) (stressBlock, bool) {
	select {
	case y := <-ch:
		return y, true
	default:
	}
	if len(*mine) == 0 {
		return stressBlock{}, false
	}
	y := (*mine)[len(*mine)-1]
	*mine = (*mine)[:len(*mine)-1]
	return y, true
}

// TestModesChangeUnderLoad runs goroutines that allocate small, mid-size
// and large blocks through Caches and the Heap's methods and free each
// other's blocks, while another goroutine switches hooks, perturbation and
// profiling on and off and reads statistics and trims. Every call must
// succeed, every block must keep its contents, and at the end the heap must
// pass Check with nothing in use and no sampled block left in the profile.
func TestModesChangeUnderLoad(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 2, MmapThreshold: 256 << 10})
	const workers = 4
	rounds := 3000
	if testing.Short() {
		rounds = 500
	}
	ch := make(chan stressBlock, 256)
	f := &firstFailure{t: t}
	fail := f.fail
	verify := func(x stressBlock) bool { return f.verify(x, len(x.b), 997) }
	var hookCalls atomic.Int64
	hooks := &malloc.Hooks{
		Malloc: func(int, unsafe.Pointer, uintptr) { hookCalls.Add(1) },
		Free:   func(unsafe.Pointer, uintptr) { hookCalls.Add(1) },
	}
	done := make(chan struct{})
	var toggler sync.WaitGroup
	toggler.Add(1)
	go func() {
		defer toggler.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				h.SetHooks(nil)
				h.SetProfileRate(0)
				if err := h.Opt(malloc.M_PERTURB, 0); err != nil {
					fail("Opt: %v", err)
				}
				return
			default:
			}
			switch i % 6 {
			case 0:
				h.SetHooks(hooks)
			case 1:
				h.SetHooks(nil)
			case 2:
				if err := h.Opt(malloc.M_PERTURB, 0xa5); err != nil {
					fail("Opt: %v", err)
				}
			case 3:
				if err := h.Opt(malloc.M_PERTURB, 0); err != nil {
					fail("Opt: %v", err)
				}
			case 4:
				h.SetProfileRate(4096)
			case 5:
				h.SetProfileRate(0)
			}
			_ = h.Info()
			if i%16 == 0 {
				h.Trim(0)
				_ = h.WriteInfo(io.Discard)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			c := h.NewCache()
			defer c.Close()
			var mine []stressBlock
			for i := 0; i < rounds && !f.failed.Load(); i++ {
				var size int
				switch r := rng.IntN(100); {
				case r < 85:
					size = 1 + rng.IntN(2048)
				case r < 98:
					size = 16<<10 + rng.IntN(200<<10)
				default:
					size = 300<<10 + rng.IntN(1<<20)
				}
				var b []byte
				var err error
				if i%2 == 0 {
					b, err = c.Malloc(size)
				} else {
					b, err = h.Malloc(size)
				}
				if err != nil {
					fail("Malloc(%d): %v", size, err)
					return
				}
				x := stressBlock{b, byte(rng.Uint32())}
				x.fill(997)
				share(ch, &mine, x)
				if len(mine) > 64 || rng.IntN(3) == 0 {
					y, ok := pick(ch, &mine)
					if !ok {
						continue
					}
					if !verify(y) {
						return
					}
					if rng.IntN(2) == 0 {
						err = c.Free(y.b)
					} else {
						err = h.Free(y.b)
					}
					if err != nil {
						fail("Free of a %d-byte block: %v", len(y.b), err)
						return
					}
				}
			}
			for _, y := range mine {
				verify(y)
				if err := c.Free(y.b); err != nil {
					fail("Free: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	toggler.Wait()
	close(ch)
	for y := range ch {
		verify(y)
		if err := h.Free(y.b); err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 || s.Hblks != 0 {
		t.Fatalf("%d bytes and %d mappings still in use after every block was freed", s.Uordblks, s.Hblks)
	}
	var leaks leakCounter
	if err := h.WriteLeaks(&leaks); err != nil {
		t.Fatal(err)
	}
	if leaks.blocks != 0 {
		t.Fatalf("the profile still holds %d sampled blocks:\n%s", leaks.blocks, leaks.text)
	}
	t.Logf("%d hook calls", hookCalls.Load())
}

// leakCounter reads WriteLeaks' report: its first line gives the count.
type leakCounter struct {
	text   []byte
	blocks int
}

func (l *leakCounter) Write(p []byte) (int, error) {
	l.text = append(l.text, p...)
	var n int
	if _, err := fmtSscanf(string(l.text), "malloc leak report: %d sampled", &n); err == nil {
		l.blocks = n
	}
	return len(p), nil
}

var fmtSscanf = fmt.Sscanf

// TestWildPointers frees, reallocates, probes and sizes pointers at random
// addresses across the heap's first region, through a Cache, the Heap and
// the pointer API: in its spans, its mid-size blocks, its free pages, above
// its top and in the part still reserved without access. Each call on an
// address that is not a live block must be refused without touching the
// heap; a live block's start, when hit, is freed as it should be. Check
// passes after each round and the survivors keep their contents.
func TestWildPointers(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 1, MmapThreshold: 1 << 20})
	c := h.NewCache()
	defer c.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	live := map[uintptr][]byte{}
	var lo uintptr = ^uintptr(0)
	for i := range 3000 {
		size := 16 + rng.IntN(2048)
		if i%50 == 0 {
			size = 20000 + rng.IntN(200000)
		}
		b, err := c.Malloc(size)
		if err != nil {
			t.Fatal(err)
		}
		b[0], b[len(b)-1] = byte(i), byte(i>>8)
		live[addr(b)] = b
		lo = min(lo, addr(b))
		if i%3 == 0 { // leave free blocks and free pages among the live ones
			if err := c.Free(b); err != nil {
				t.Fatal(err)
			}
			delete(live, addr(b))
		}
	}
	base := lo &^ (4<<20 - 1)
	hit := 0
	for round := range 20 {
		for range 5000 {
			off := uintptr(rng.IntN(64 << 20))
			if rng.IntN(2) == 0 {
				off &^= 15
			}
			p := base + off
			b := unsafeSlice(p)
			var err error
			switch rng.IntN(5) {
			case 0:
				err = c.Free(b)
			case 1:
				err = h.Free(b)
			case 2:
				err = c.UnsafeFree(unsafe.Pointer(unsafe.SliceData(b)))
			case 3:
				old, isLive := live[p]
				nb, err := c.Realloc(b, 100)
				switch {
				case isLive && err != nil:
					t.Fatalf("Realloc of the live block %#x: %v", p, err)
				case isLive:
					if nb[0] != old[0] {
						t.Fatalf("Realloc of %#x lost the first byte", p)
					}
					delete(live, p)
					nb[len(nb)-1] = 0
					live[addr(nb)] = nb
					hit++
				case err == nil:
					t.Fatalf("Realloc of the wild pointer %#x succeeded", p)
				}
				continue
			case 4:
				if n := h.UsableSize(b); n != 0 {
					if _, ok := live[p]; !ok {
						t.Fatalf("UsableSize(%#x) = %d for an address that is no live block", p, n)
					}
				}
				continue
			}
			if _, ok := live[p]; ok {
				if err != nil {
					t.Fatalf("free of the live block %#x: %v", p, err)
				}
				delete(live, p)
				hit++
				continue
			}
			if err == nil {
				t.Fatalf("free of the wild pointer %#x (offset %#x in the region) succeeded", p, off)
			}
			if !errors.Is(err, malloc.ErrInvalidPointer) && !errors.Is(err, malloc.ErrDoubleFree) {
				t.Fatalf("free of the wild pointer %#x: %v", p, err)
			}
		}
		if err := h.Check(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	for p, b := range live {
		if err := c.Free(b); err != nil {
			t.Fatalf("free of %#x: %v", p, err)
		}
	}
	mustCheck(t, h)
	t.Logf("%d live block starts hit among the wild pointers", hit)
}

// TestMigratingGoroutines runs many more goroutines than Ps through the
// Heap's methods, so that goroutines move between Ps, whose caches serve
// different arenas, in the middle of refills (which wait for an arena's
// lock) and of frees into full bins. Each goroutine allocates a burst of
// blocks of one class, which empties bins, then frees a burst, half of it
// another goroutine's, which fills them. A cache must hold blocks of its own
// arena only: Check verifies it, and the statistics must come back to zero.
func TestMigratingGoroutines(t *testing.T) {
	// Four Ps on two arenas: two per-P caches serve each arena.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	h := newHeap(t, malloc.Options{ArenaMax: 2})
	const workers = 16
	rounds := 60
	if testing.Short() {
		rounds = 10
	}
	ch := make(chan [][]byte, workers)
	var wg sync.WaitGroup
	var failed atomic.Bool
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; i < rounds && !failed.Load(); i++ {
				size := 16 << rng.IntN(3)
				burst := make([][]byte, 300)
				for j := range burst {
					b, err := h.Malloc(size)
					if err != nil {
						failed.Store(true)
						t.Error(err)
						return
					}
					burst[j] = b
				}
				var other [][]byte
				select {
				case other = <-ch:
				default:
				}
				select {
				case ch <- burst[150:]:
					burst = burst[:150:150] // the rest is the other's now
				default:
				}
				for _, x := range append(burst, other...) {
					if err := h.Free(x); err != nil {
						failed.Store(true)
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(ch)
	for xs := range ch {
		for _, x := range xs {
			if err := h.Free(x); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("%d bytes in use after every block was freed", s.Uordblks)
	}
}

// TestEverythingUnderLoad mixes every allocating call (Malloc, Calloc,
// Realloc growing and shrinking, AlignedAlloc, the pointer API, the typed
// API on the default heap), across Caches that are closed, dropped for the
// garbage collector or kept, while another goroutine trims, changes the
// mmap threshold and reads statistics. Contents survive, alignment holds,
// every free succeeds and the heap ends empty and consistent.
func TestEverythingUnderLoad(t *testing.T) {
	for _, c := range []struct {
		name string
		opts malloc.Options
	}{
		{"plain", malloc.Options{ArenaMax: 2}},
		{"guard", malloc.Options{ArenaMax: 2, Guard: true}},
		{"perturb", malloc.Options{ArenaMax: 2, Perturb: 0x5a}},
	} {
		t.Run(c.name, func(t *testing.T) { everythingUnderLoad(t, c.opts) })
	}
}

func everythingUnderLoad(t *testing.T, opts malloc.Options) {
	h := newHeap(t, opts)
	const workers = 4
	rounds := 4000
	if testing.Short() {
		rounds = 800
	}
	ch := make(chan stressBlock, 512)
	f := &firstFailure{t: t}
	fail := f.fail
	fillBlock := func(x stressBlock) { x.fill(101) }
	verify := func(x stressBlock, n int) bool { return f.verify(x, n, 101) }
	done := make(chan struct{})
	var side sync.WaitGroup
	side.Add(1)
	go func() {
		defer side.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			switch i % 4 {
			case 0:
				h.Trim(0)
			case 1:
				if err := h.Opt(malloc.M_MMAP_THRESHOLD, 64<<10); err != nil {
					fail("Opt: %v", err)
				}
			case 2:
				if err := h.Opt(malloc.M_MMAP_THRESHOLD, 1<<20); err != nil {
					fail("Opt: %v", err)
				}
			case 3:
				_ = h.Info()
			}
			runtime.Gosched()
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			c := h.NewCache()
			var mine []stressBlock
			for i := 0; i < rounds && !f.failed.Load(); i++ {
				if i%500 == 499 {
					// A new cache: close the old one, or drop it for the
					// garbage collector to clean up.
					if rng.IntN(2) == 0 {
						c.Close()
					}
					c = h.NewCache()
					runtime.GC()
				}
				size := 1 + rng.IntN(3000)
				if rng.IntN(20) == 0 {
					size = 20000 + rng.IntN(300000)
				}
				var b []byte
				var err error
				switch rng.IntN(5) {
				case 0:
					b, err = c.Malloc(size)
				case 1:
					b, err = h.Calloc(size, 1)
					if err == nil {
						for j := 0; j < len(b); j += 97 {
							if b[j] != 0 {
								fail("Calloc(%d) byte %d is %d", size, j, b[j])
							}
						}
					}
				case 2:
					align := 16 << rng.IntN(9)
					b, err = c.AlignedAlloc(align, size)
					if err == nil && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%uintptr(align) != 0 {
						fail("AlignedAlloc(%d, %d) = %p", align, size, unsafe.SliceData(b))
					}
				case 3:
					p, perr := c.UnsafeMalloc(size)
					err = perr
					if err == nil {
						b = unsafe.Slice((*byte)(p), size)
					}
				case 4:
					b, err = h.Malloc(size)
				}
				if err != nil {
					fail("allocating %d bytes: %v", size, err)
					return
				}
				x := stressBlock{b, byte(rng.Uint32())}
				fillBlock(x)
				share(ch, &mine, x)
				if len(mine) > 50 || rng.IntN(2) == 0 {
					y, ok := pick(ch, &mine)
					if !ok {
						continue
					}
					if !verify(y, len(y.b)) {
						return
					}
					if opts.Guard {
						if st := h.Probe(y.b); st != malloc.OK {
							fail("Probe of a live %d-byte block: %v", len(y.b), st)
							return
						}
					}
					if rng.IntN(3) == 0 {
						// Grow or shrink it, on this goroutine's cache.
						n := 1 + rng.IntN(2*len(y.b)+64)
						old := len(y.b)
						nb, err := c.Realloc(y.b, n)
						if err != nil {
							fail("Realloc(%d -> %d): %v", old, n, err)
							return
						}
						y.b = nb
						if len(nb) != n {
							fail("Realloc(%d -> %d) returned %d bytes", old, n, len(nb))
							return
						}
						if !verify(y, min(old, n)) {
							return
						}
						fillBlock(y)
						mine = append(mine, y)
						continue
					}
					if rng.IntN(2) == 0 {
						err = c.Free(y.b)
					} else {
						err = h.Free(y.b)
					}
					if err != nil {
						fail("Free of %d bytes: %v", len(y.b), err)
						return
					}
				}
			}
			for _, y := range mine {
				verify(y, len(y.b))
				if err := c.Free(y.b); err != nil {
					fail("Free: %v", err)
				}
			}
			c.Close()
		}()
	}
	wg.Wait()
	close(done)
	side.Wait()
	close(ch)
	for y := range ch {
		verify(y, len(y.b))
		if err := h.Free(y.b); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC() // the dropped caches give their blocks back
	runtime.GC()
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 || s.Hblks != 0 {
		t.Fatalf("%d bytes and %d mappings in use after every block was freed", s.Uordblks, s.Hblks)
	}
}
