package malloc_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/malloc"
)

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func newHeap(t testing.TB, o malloc.Options) *malloc.Heap {
	t.Helper()
	h, err := malloc.NewHeap(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	return h
}

func mustCheck(t testing.TB, h *malloc.Heap) {
	t.Helper()
	if err := h.Check(); err != nil {
		t.Fatal(err)
	}
}

func fillPattern(b []byte, seed byte) {
	for i := range b {
		b[i] = seed + byte(i*7)
	}
}

func hasPattern(b []byte, seed byte) bool {
	for i := range b {
		if b[i] != seed+byte(i*7) {
			return false
		}
	}
	return true
}

func TestMallocSizes(t *testing.T) {
	tests := map[string]int{
		"zero": 0, "one": 1, "16": 16, "17": 17, "128": 128, "1000": 1000, "1024": 1024, "1025": 1025,
		"4096": 4096, "max small": malloc.MaxSmall, "max small+1": malloc.MaxSmall + 1, "40 KiB": 40 << 10,
		"127 KiB": 127 << 10, "128 KiB (mmap)": 128 << 10, "1 MiB": 1 << 20, "9 MiB": 9 << 20,
	}
	for name, size := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHeap(t, malloc.Options{})
			c := h.NewCache()
			defer c.Close()
			for _, via := range []string{"heap", "cache"} {
				var bs [][]byte
				for i := range 5 {
					var b []byte
					var err error
					if via == "heap" {
						b, err = h.Malloc(size)
					} else {
						b, err = c.Malloc(size)
					}
					if err != nil {
						t.Fatal(err)
					}
					if len(b) != size || cap(b) != size {
						t.Fatalf("len %d cap %d, want %d", len(b), cap(b), size)
					}
					if addr(b) == 0 || addr(b)%16 != 0 {
						t.Fatalf("address %#x not 16-aligned", addr(b))
					}
					if u := h.UsableSize(b); u < size {
						t.Fatalf("UsableSize %d < %d", u, size)
					}
					fillPattern(b, byte(i))
					bs = append(bs, b)
				}
				for i, b := range bs {
					for j, o := range bs {
						if i != j && addr(b) == addr(o) {
							t.Fatalf("blocks %d and %d share %#x", i, j, addr(b))
						}
					}
				}
				mustCheck(t, h)
				for i, b := range bs {
					if !hasPattern(b, byte(i)) {
						t.Fatalf("block %d lost its contents", i)
					}
					if h.Probe(b) != malloc.OK {
						t.Fatalf("Probe = %v", h.Probe(b))
					}
					if err := h.Free(b); err != nil {
						t.Fatal(err)
					}
				}
				mustCheck(t, h)
			}
			c.Flush()
			mustCheck(t, h)
			if s := h.Info(); s.Uordblks != 0 || s.Hblks != 0 {
				t.Fatalf("after freeing everything: %+v", s)
			}
		})
	}
}

// Every kind of bad free and realloc gives its error and leaves the heap
// consistent.
func TestMisuse(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	other := newHeap(t, malloc.Options{})
	type tc struct {
		block func() []byte // what to pass
		want  error
	}
	alloc := func(n int) []byte {
		b, err := h.Malloc(n)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	freed := func(n int) func() []byte {
		return func() []byte {
			b := alloc(n)
			if err := h.Free(b); err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	tests := map[string]tc{
		"go heap slice":          {func() []byte { return make([]byte, 64) }, malloc.ErrInvalidPointer},
		"go heap large":          {func() []byte { return make([]byte, 1<<20) }, malloc.ErrInvalidPointer},
		"stack-like global":      {func() []byte { return globalBuf[:] }, malloc.ErrInvalidPointer},
		"interior small":         {func() []byte { return alloc(64)[16:] }, malloc.ErrInvalidPointer},
		"interior small odd":     {func() []byte { return alloc(64)[1:] }, malloc.ErrInvalidPointer},
		"interior mid":           {func() []byte { return alloc(40 << 10)[4096:] }, malloc.ErrInvalidPointer},
		"interior mid unaligned": {func() []byte { return alloc(40 << 10)[32:] }, malloc.ErrInvalidPointer},
		"interior large":         {func() []byte { return alloc(1 << 20)[4096:] }, malloc.ErrInvalidPointer},
		"double small":           {freed(64), malloc.ErrDoubleFree},
		"double 1000":            {freed(1000), malloc.ErrDoubleFree},
		"double mid":             {freed(40 << 10), malloc.ErrDoubleFree},
		"double large":           {freed(1 << 20), malloc.ErrDoubleFree},
		"other heap small": {func() []byte {
			b, _ := other.Malloc(64)
			return b
		}, malloc.ErrInvalidPointer},
		"other heap large": {func() []byte {
			b, _ := other.Malloc(1 << 20)
			return b
		}, malloc.ErrInvalidPointer},
		"never allocated slot": {func() []byte {
			b := alloc(48)
			return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&b[0]), 48*40)), 1)
		}, nil}, // either error, checked below
	}
	for name, tt := range tests {
		for _, op := range []string{"free", "realloc", "cache free"} {
			t.Run(name+"/"+op, func(t *testing.T) {
				b := tt.block()
				var err error
				switch op {
				case "free":
					err = h.Free(b)
				case "realloc":
					var nb []byte
					nb, err = h.Realloc(b, 100)
					if nb != nil {
						t.Fatalf("Realloc returned a block on error")
					}
				case "cache free":
					c := h.NewCache()
					err = c.Free(b)
					c.Close()
				}
				if tt.want == nil {
					if !errors.Is(err, malloc.ErrInvalidPointer) && !errors.Is(err, malloc.ErrDoubleFree) && err != nil {
						t.Fatalf("err = %v", err)
					}
				} else if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				mustCheck(t, h)
				mustCheck(t, other)
			})
		}
	}
	if err := h.Free(nil); err != nil {
		t.Fatalf("Free(nil) = %v", err)
	}
}

var globalBuf [256]byte

func TestDoubleFreeEveryTime(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	c := h.NewCache()
	defer c.Close()
	for i := range 2000 {
		size := 16 + i%2000
		b, err := c.Malloc(size)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Free(b); err != nil {
			t.Fatal(err)
		}
		for _, free := range []func([]byte) error{c.Free, h.Free, malloc.Free} {
			if err := free(b); !errors.Is(err, malloc.ErrDoubleFree) && !(errors.Is(err, malloc.ErrInvalidPointer) && free == nil) {
				if errors.Is(err, malloc.ErrInvalidPointer) && addr(b) != 0 {
					// malloc.Free is the default heap: a block of h is foreign there.
					continue
				}
				t.Fatalf("size %d: second free: %v", size, err)
			}
		}
	}
	mustCheck(t, h)
}

// TestFreeResliced frees blocks through slices whose capacity is not the
// requested size: the fast paths take the class from the capacity, so each
// of these must still land in the right bin (Check verifies every cached
// block's class) and be handed out again.
func TestFreeResliced(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	c := h.NewCache()
	defer c.Close()
	reslices := map[string]func([]byte) []byte{
		"len 0":           func(b []byte) []byte { return b[:0] },
		"cap 0":           func(b []byte) []byte { return b[:0:0] },
		"cap 1":           func(b []byte) []byte { return b[:1:1] },
		"cap of class 16": func(b []byte) []byte { return b[:16:16] },
		"cap one less":    func(b []byte) []byte { return b[: len(b)-1 : len(b)-1] },
		"unsafe free":     nil,
	}
	frees := map[string]struct {
		malloc func(int) ([]byte, error)
		free   func([]byte) error
		ufree  func(unsafe.Pointer) error
	}{
		"cache": {c.Malloc, c.Free, c.UnsafeFree},
		"heap":  {h.Malloc, h.Free, h.UnsafeFree},
	}
	for fname, f := range frees {
		for rname, re := range reslices {
			t.Run(fname+"/"+rname, func(t *testing.T) {
				usable := map[uintptr]int{} // block -> its usable size when first handed out
				for _, size := range []int{17, 100, 1000, 1024, 3000, 16384} {
					for range 100 {
						b, err := f.malloc(size)
						if err != nil {
							t.Fatal(err)
						}
						if _, ok := usable[addr(b)]; !ok {
							usable[addr(b)] = h.UsableSize(b)
						}
						if re == nil {
							err = f.ufree(unsafe.Pointer(unsafe.SliceData(b)))
						} else {
							err = f.free(re(b))
						}
						if err != nil {
							t.Fatalf("size %d: free: %v", size, err)
						}
						if err := f.free(b); !errors.Is(err, malloc.ErrDoubleFree) {
							t.Fatalf("size %d: second free gave %v, want ErrDoubleFree", size, err)
						}
					}
					mustCheck(t, h)
					// The blocks come back with their own size.
					b, err := f.malloc(size)
					if err != nil {
						t.Fatal(err)
					}
					if u, ok := usable[addr(b)]; ok && u != h.UsableSize(b) {
						t.Fatalf("a block of %d usable bytes came back with %d", u, h.UsableSize(b))
					}
					if err := f.free(b); err != nil {
						t.Fatal(err)
					}
				}
				mustCheck(t, h)
			})
		}
	}
}

func TestRealloc(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	b, err := h.Realloc(nil, 10)
	if err != nil || len(b) != 10 {
		t.Fatal(len(b), err)
	}
	fillPattern(b, 3)
	sizes := []int{10, 100, 1000, 5000, 16384, 20000, 100000, 300000, 5 << 20, 200000, 50000, 3000, 17}
	prev := 10
	for _, n := range sizes {
		nb, err := h.Realloc(b, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(nb) != n {
			t.Fatalf("len %d, want %d", len(nb), n)
		}
		if !hasPattern(nb[:min(prev, n)], 3) {
			t.Fatalf("contents lost growing %d -> %d", prev, n)
		}
		fillPattern(nb, 3)
		mustCheck(t, h)
		b, prev = nb, n
	}
	if nb, err := h.Realloc(b, 0); nb != nil || err != nil {
		t.Fatal(nb, err)
	}
	if err := h.Free(b); !errors.Is(err, malloc.ErrDoubleFree) && !errors.Is(err, malloc.ErrInvalidPointer) {
		t.Fatalf("block freed by Realloc(b, 0) frees again: %v", err)
	}
	mustCheck(t, h)
}

// A mid-size block grows in place when the memory after it is free.
func TestReallocInPlace(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	a, _ := h.Malloc(40 << 10)
	b, _ := h.Malloc(40 << 10)
	guard, _ := h.Malloc(40 << 10)
	if err := h.Free(b); err != nil {
		t.Fatal(err)
	}
	na, err := h.Realloc(a, 70<<10)
	if err != nil {
		t.Fatal(err)
	}
	if addr(na) != addr(a) {
		t.Fatalf("moved from %#x to %#x although the next chunk was free", addr(a), addr(na))
	}
	mustCheck(t, h)
	h.Free(na)
	h.Free(guard)
	// A block in its own mapping grows by mremap.
	big, _ := h.Malloc(1 << 20)
	fillPattern(big, 9)
	big2, err := h.Realloc(big, 64<<20)
	if err != nil || !hasPattern(big2[:1<<20], 9) {
		t.Fatal(err)
	}
	h.Free(big2)
	mustCheck(t, h)
}

func TestAligned(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	type fn func(a, n int) ([]byte, error)
	fns := map[string]fn{"AlignedAlloc": h.AlignedAlloc, "Memalign": h.Memalign, "PosixMemalign": h.PosixMemalign}
	for name, f := range fns {
		for _, align := range []int{8, 16, 32, 64, 256, 4096, 8192, 1 << 16, 1 << 21} {
			for _, size := range []int{1, 100, 3000, 20000, 300000} {
				t.Run(fmt.Sprintf("%s/%d/%d", name, align, size), func(t *testing.T) {
					b, err := f(align, size)
					if err != nil {
						t.Fatal(err)
					}
					if addr(b)%uintptr(align) != 0 || len(b) != size {
						t.Fatalf("%#x len %d", addr(b), len(b))
					}
					fillPattern(b, 1)
					mustCheck(t, h)
					if err := h.Free(b); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
	bad := map[string]func() error{
		"aligned 3":       func() error { _, err := h.AlignedAlloc(3, 10); return err },
		"aligned 0":       func() error { _, err := h.AlignedAlloc(0, 10); return err },
		"memalign -8":     func() error { _, err := h.Memalign(-8, 10); return err },
		"posix 4":         func() error { _, err := h.PosixMemalign(4, 10); return err },
		"posix 24":        func() error { _, err := h.PosixMemalign(24, 10); return err },
		"negative size":   func() error { _, err := h.Malloc(-1); return err },
		"negative calloc": func() error { _, err := h.Calloc(-1, 4); return err },
	}
	for name, f := range bad {
		t.Run(name, func(t *testing.T) {
			err := f()
			if !errors.Is(err, malloc.ErrInvalidArgument) || !errors.Is(err, unix.EINVAL) {
				t.Fatalf("err = %v, want EINVAL", err)
			}
		})
	}
	v, _ := h.Valloc(100)
	pv, _ := h.PValloc(100)
	if addr(v)%uintptr(os.Getpagesize()) != 0 || addr(pv)%uintptr(os.Getpagesize()) != 0 || len(pv) != os.Getpagesize() {
		t.Fatalf("valloc %#x pvalloc %#x len %d", addr(v), addr(pv), len(pv))
	}
	h.Free(v)
	h.Free(pv)
	mustCheck(t, h)
}

// PValloc of a size that rounds up past MaxInt is refused as too large
// (ErrNoMemory, ENOMEM), as every allocation function refuses one, not as
// a negative size: the rounded size wrapped.
func TestPVallocHuge(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	c := h.NewCache()
	defer c.Close()
	for _, size := range []int{math.MaxInt, math.MaxInt - 4095} {
		for name, pvalloc := range map[string]func(int) ([]byte, error){"heap": h.PValloc, "cache": c.PValloc, "package": malloc.PValloc} {
			if b, err := pvalloc(size); !errors.Is(err, malloc.ErrNoMemory) || !errors.Is(err, unix.ENOMEM) {
				t.Errorf("%s: PValloc(%d) = len %d, %v; want ErrNoMemory", name, size, len(b), err)
			}
		}
	}
	mustCheck(t, h)
}

func TestCalloc(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	// Dirty some memory first, so that zeroing is needed.
	for range 3 {
		b, _ := h.Malloc(5000)
		for i := range b {
			b[i] = 0xff
		}
		h.Free(b)
	}
	b, err := h.Calloc(100, 50)
	if err != nil || len(b) != 5000 {
		t.Fatal(err)
	}
	for i, v := range b {
		if v != 0 {
			t.Fatalf("byte %d = %#x", i, v)
		}
	}
	h.Free(b)
	_, err = h.Calloc(math.MaxInt/2, 4)
	if !errors.Is(err, malloc.ErrNoMemory) || !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("overflow: %v", err)
	}
	_, err = h.ReallocArray(nil, math.MaxInt/3, 4)
	if !errors.Is(err, malloc.ErrNoMemory) {
		t.Fatalf("overflow: %v", err)
	}
}

// Blocks allocated by one goroutine's Cache and freed by another's, through
// every front end, under -race.
func TestCrossGoroutineFree(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 2})
	const workers = 4
	const rounds = 3000
	ch := make(chan []byte, 256)
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			c := h.NewCache()
			defer c.Close()
			for i := range rounds {
				n := 16 + (i*131+w*7)%3000
				if i%97 == 0 {
					n = 50000
				}
				var b []byte
				var err error
				if i%2 == 0 {
					b, err = c.Malloc(n)
				} else {
					b, err = h.Malloc(n)
				}
				if err != nil {
					errs <- err
					return
				}
				b[0], b[len(b)-1] = byte(w), byte(i)
				ch <- b
			}
		}()
		go func() {
			defer wg.Done()
			c := h.NewCache()
			defer c.Close()
			for i := range rounds {
				b := <-ch
				var err error
				if i%2 == 0 {
					err = c.Free(b)
				} else {
					err = h.Free(b)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("Uordblks = %d after all frees", s.Uordblks)
	}
}

func TestStatsAddUp(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	var live []int
	var bs [][]byte
	want := int64(0)
	for i := range 500 {
		n := 16 + i*97%60000
		b, err := h.Malloc(n)
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
		live = append(live, h.UsableSize(b))
		want += int64(h.UsableSize(b))
	}
	s := h.Info()
	if s.Uordblks != want {
		t.Fatalf("Uordblks %d, want %d", s.Uordblks, want)
	}
	if s.Fordblks != s.Arena-s.Uordblks || s.Arena <= 0 {
		t.Fatalf("Fordblks %d Arena %d", s.Fordblks, s.Arena)
	}
	for i, b := range bs {
		if i%2 == 0 {
			h.Free(b)
			want -= int64(live[i])
		}
	}
	if s := h.Info(); s.Uordblks != want {
		t.Fatalf("after half: Uordblks %d, want %d", s.Uordblks, want)
	}
	var buf bytes.Buffer
	h.WriteStats(&buf)
	if !strings.Contains(buf.String(), "Arena 0:") || !strings.Contains(buf.String(), "in use bytes") {
		t.Fatalf("WriteStats:\n%s", buf.String())
	}
	buf.Reset()
	if err := h.WriteInfo(&buf); err != nil || !strings.HasPrefix(buf.String(), "<malloc version=\"1\">") || !strings.Contains(buf.String(), "<heap nr=\"0\">") {
		t.Fatalf("WriteInfo: %v\n%s", err, buf.String())
	}
	mustCheck(t, h)
}

func TestSizeClassesUpToDate(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "run", "./internal/mksizeclasses", "-check").CombinedOutput()
	if err != nil {
		t.Fatalf("sizeclasses.go is stale (run go generate): %v\n%s", err, out)
	}
}

func unsafeSlice(p uintptr) []byte {
	return unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&p))), 0)
}

// The package-level functions from many goroutines, with blocks freed by a
// goroutine other than the one that allocated them and statistics read
// meanwhile, under -race.
func TestPackageLevelConcurrent(t *testing.T) {
	base := malloc.Info().Uordblks
	const workers = 6
	ch := make(chan []byte, 1024)
	var wg sync.WaitGroup
	var stop sync.WaitGroup
	done := make(chan struct{})
	stop.Add(1)
	go func() { // a reader of statistics
		defer stop.Done()
		for {
			select {
			case <-done:
				return
			default:
				_ = malloc.Info()
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4000 {
				b, err := malloc.Malloc(16 + (i*37+w)%2048)
				if err != nil {
					t.Error(err)
					return
				}
				b[0] = byte(i)
				select {
				case ch <- b:
				default:
					if err := malloc.Free(b); err != nil {
						t.Error(err)
						return
					}
				}
				if i%3 == 0 {
					select {
					case o := <-ch:
						if err := malloc.Free(o); err != nil {
							t.Error(err)
							return
						}
					default:
					}
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	stop.Wait()
	close(ch)
	for b := range ch {
		if err := malloc.Free(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := malloc.Check(); err != nil {
		t.Fatal(err)
	}
	if got := malloc.Info().Uordblks; got != base {
		t.Fatalf("Uordblks %d, %d before", got, base)
	}
}

// The fast paths allocate nothing on the Go heap.
func TestNoGoAllocations(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	c := h.NewCache()
	defer c.Close()
	sz := sizes(64)
	// Warm the caches so that the measured calls stay on the fast path.
	for _, n := range sz {
		b, _ := c.Malloc(n)
		c.Free(b)
		b, _ = malloc.Malloc(n)
		malloc.Free(b)
	}
	i := 0
	cases := map[string]func(){
		"Cache": func() {
			b, _ := c.Malloc(sz[i%64])
			c.Free(b)
			i++
		},
		"package": func() {
			b, _ := malloc.Malloc(sz[i%64])
			malloc.Free(b)
			i++
		},
		"Cache unsafe": func() {
			p, _ := c.UnsafeMalloc(sz[i%64])
			c.UnsafeFree(p)
			i++
		},
	}
	for name, f := range cases {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v Go allocations per malloc+free", name, n)
		}
	}
}

// Blocks freed through a cache of another arena go home in batches and are
// handed out again by the caches of their own arena.
func TestRemoteFreesGoHome(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 2})
	a, b := h.NewCache(), h.NewCache() // arenas 0 and 1
	defer a.Close()
	defer b.Close()
	freed := map[uintptr]bool{}
	var bs [][]byte
	for range 1000 {
		x, err := a.Malloc(48)
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, x)
	}
	for _, x := range bs {
		// Interior pointers into a block of the other arena's region,
		// which b remembers after the first free, are refused too.
		for _, in := range [][]byte{x[16:], x[1:], x[32:]} {
			if err := b.Free(in); !errors.Is(err, malloc.ErrInvalidPointer) {
				t.Fatalf("free of an interior pointer of a block of another arena: %v", err)
			}
		}
		if err := b.Free(x); err != nil {
			t.Fatal(err)
		}
		freed[addr(x)] = true
	}
	for _, x := range bs {
		if err := b.Free(x); !errors.Is(err, malloc.ErrDoubleFree) {
			t.Fatalf("second free of a block on its way home: %v", err)
		}
	}
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("Uordblks %d with every block freed", s.Uordblks)
	}
	reused := 0
	for range 1000 {
		x, err := a.Malloc(48)
		if err != nil {
			t.Fatal(err)
		}
		if freed[addr(x)] {
			reused++
		}
		defer a.Free(x)
	}
	if reused < 900 {
		t.Fatalf("only %d of 1000 blocks came back to their arena's cache", reused)
	}
	mustCheck(t, h)
}

// TestRemoteFreesResliced frees blocks of one arena through a Cache of
// another as slices resliced in every way a program may reslice them, so
// that the capacity no longer names the class and the short path for the
// other arena's blocks must hand over to the general one. Each is freed
// once, a second free is refused, and the blocks come home and are handed
// out again as used blocks.
func TestRemoteFreesResliced(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 2})
	a, b := h.NewCache(), h.NewCache() // arenas 0 and 1
	defer a.Close()
	defer b.Close()
	reslice := []func([]byte) []byte{
		func(x []byte) []byte { return x },
		func(x []byte) []byte { return x[:0] },
		func(x []byte) []byte { return x[:len(x)/2] },
		func(x []byte) []byte { return x[: len(x)/2 : len(x)/2] },
		func(x []byte) []byte { return x[:1:1] },
		func(x []byte) []byte { return x[:len(x):len(x)] },
	}
	sizes := []int{16, 100, 700, 3000}
	var bs [][]byte
	for i := range 600 {
		x, err := a.Malloc(sizes[i%len(sizes)])
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, x)
	}
	freed := map[uintptr]bool{}
	for i, x := range bs {
		if err := b.Free(reslice[i%len(reslice)](x)); err != nil {
			t.Fatalf("free of block %d (%d bytes), resliced by form %d, through another arena's cache: %v", i, len(x), i%len(reslice), err)
		}
		freed[addr(x)] = true
	}
	for i, x := range bs {
		if err := b.Free(reslice[(i+1)%len(reslice)](x)); !errors.Is(err, malloc.ErrDoubleFree) {
			t.Fatalf("second free of block %d on its way home: %v", i, err)
		}
	}
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("Uordblks %d with every block freed", s.Uordblks)
	}
	reused := 0
	var again [][]byte
	for i := range 600 {
		x, err := a.Malloc(sizes[i%len(sizes)])
		if err != nil {
			t.Fatal(err)
		}
		if freed[addr(x)] {
			reused++
		}
		again = append(again, x)
	}
	if reused < 500 {
		t.Fatalf("only %d of 600 blocks came back to their arena's cache", reused)
	}
	mustCheck(t, h)
	for _, x := range again {
		if err := a.Free(x); err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, h)
}

// Blocks allocated on one goroutine and freed through the heap's per-P
// caches on another (so, mostly, through a P of another arena) are freed
// once: interior pointers and, once all are free, second frees are refused.
// TestRemoteFreesBounded frees many blocks of one arena through a cache of
// another while the owner never allocates again: the blocks on their way
// home must not pile up on the Go heap (the queue is bounded), and they
// must all be free afterwards.
func TestRemoteFreesBounded(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 2})
	a, b := h.NewCache(), h.NewCache() // arenas 0 and 1
	defer a.Close()
	defer b.Close()
	const n = 400_000
	bs := make([]unsafe.Pointer, n)
	for i := range bs {
		p, err := a.UnsafeMalloc(64)
		if err != nil {
			t.Fatal(err)
		}
		bs[i] = p
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, p := range bs {
		if err := b.UnsafeFree(p); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Unbounded, the batches carrying the blocks home would hold about
	// n*17 bytes (6.8 MB) of the Go heap.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Fatalf("the Go heap grew by %d bytes while %d blocks went home", grew, n)
	}
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("Uordblks %d with every block freed", s.Uordblks)
	}
}

// TestMetadataNotScanned allocates 64 MiB of small blocks and checks that
// the allocator's bookkeeping for them adds next to nothing to the part of
// the Go heap the garbage collector scans: the span records and the page
// maps hold no Go pointers.
func TestMetadataNotScanned(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	c := h.NewCache()
	defer c.Close()
	scannable := func() uint64 {
		runtime.GC()
		s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	const n = 1 << 20
	ps := make([]uintptr, n) // pointer-free, allocated before the first reading
	before := scannable()
	for i := range ps {
		p, err := c.UnsafeMalloc(64)
		if err != nil {
			t.Fatal(err)
		}
		ps[i] = uintptr(p)
	}
	after := scannable()
	// With a Go pointer in each of the 16,384 span records, they alone
	// would add over 1 MiB.
	if grew := int64(after) - int64(before); grew > 256<<10 {
		t.Fatalf("the scannable Go heap grew by %d bytes for %d small blocks", grew, n)
	}
	for _, p := range ps {
		if err := c.UnsafeFree(ptrOf(p)); err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, h)
}

// ptrOf turns an address of off-heap memory back into a pointer.
func ptrOf(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

// TestParkedBlocksComeBack frees far more blocks through one cache than its
// bins hold: the overflow is parked in the arena (or, past its bound, put
// back into spans). Every block must come back to the next allocations,
// the statistics must add up at each step, and Trim must leave nothing
// parked.
func TestParkedBlocksComeBack(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	c := h.NewCache()
	defer c.Close()
	const n = 10000
	alloc := func() map[uintptr]bool {
		got := map[uintptr]bool{}
		for range n {
			b, err := c.Malloc(100)
			if err != nil {
				t.Fatal(err)
			}
			got[addr(b)] = true
		}
		return got
	}
	freeAll := func(m map[uintptr]bool) {
		for a := range m {
			if err := c.UnsafeFree(ptrOf(a)); err != nil {
				t.Fatal(err)
			}
		}
	}
	first := alloc()
	grown := h.Info().Arena
	freeAll(first)
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 || s.Fsmblks < n*100 {
		t.Fatalf("after freeing %d blocks: Uordblks %d, Fsmblks %d", n, s.Uordblks, s.Fsmblks)
	}
	second := alloc()
	mustCheck(t, h)
	if a := h.Info().Arena; a != grown {
		t.Fatalf("the second %d blocks needed more memory: Arena %d, was %d", n, a, grown)
	}
	reused := 0
	for a := range second {
		if first[a] {
			reused++
		}
	}
	if reused < n/2 {
		t.Fatalf("only %d of %d blocks were reused", reused, n)
	}
	freeAll(second)
	c.Flush()
	h.Trim(0)
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 || s.Smblks != 0 {
		t.Fatalf("after Flush and Trim: Uordblks %d, Smblks %d (free small blocks left in spans or parked)", s.Uordblks, s.Smblks)
	}
}

// TestGuardCatchesConcurrentDoubleFree: with guard bytes on, every free
// claims its block under a lock, so of two goroutines freeing one block at
// the same moment exactly one succeeds and the other gets ErrDoubleFree,
// through Caches as through the Heap.
func TestGuardCatchesConcurrentDoubleFree(t *testing.T) {
	h := newHeap(t, malloc.Options{Guard: true})
	c1, c2 := h.NewCache(), h.NewCache()
	defer c1.Close()
	defer c2.Close()
	frees := [][2]func([]byte) error{{c1.Free, c2.Free}, {h.Free, h.Free}, {c1.Free, h.Free}}
	for i := range 3000 {
		b, err := h.Malloc(16 + i%500)
		if err != nil {
			t.Fatal(err)
		}
		pair := frees[i%len(frees)]
		var errs [2]error
		var start, done sync.WaitGroup
		start.Add(1)
		done.Add(2)
		for k := range 2 {
			go func() {
				defer done.Done()
				start.Wait()
				errs[k] = pair[k](b)
			}()
		}
		start.Done()
		done.Wait()
		ok, dbl := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, malloc.ErrDoubleFree):
				dbl++
			default:
				t.Fatalf("round %d: %v", i, err)
			}
		}
		if ok != 1 || dbl != 1 {
			t.Fatalf("round %d: two concurrent frees gave %v", i, errs)
		}
	}
	mustCheck(t, h)
	if u := h.Info().Uordblks; u != 0 {
		t.Fatalf("Uordblks %d after every block was freed once", u)
	}
}

// TestRemoteFreesOfTwoArenas frees, through a cache of a third arena,
// blocks of two other arenas interleaved: the queue home mixes them, and
// each block must reach its own arena (Check verifies every returned block
// against its arena) and be reused there.
func TestRemoteFreesOfTwoArenas(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 3})
	a0, a1, a2 := h.NewCache(), h.NewCache(), h.NewCache() // arenas 0, 1 and 2
	defer a0.Close()
	defer a1.Close()
	defer a2.Close()
	var bs [][]byte
	for i := range 2000 {
		c := a0
		if i%2 == 1 {
			c = a1
		}
		b, err := c.Malloc(32 + i%300)
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	for _, b := range bs {
		if err := a2.Free(b); err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, h)
	if u := h.Info().Uordblks; u != 0 {
		t.Fatalf("Uordblks %d with every block freed", u)
	}
	for range 2 {
		for _, c := range []*malloc.Cache{a0, a1} {
			for i := range 1000 {
				b, err := c.Malloc(32 + i%300)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Free(b)
			}
		}
		mustCheck(t, h)
	}
}

func TestCrossGoroutineHeapFrees(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two Ps")
	}
	h := newHeap(t, malloc.Options{ArenaMax: 2})
	ch := make(chan []byte, 64)
	done := make(chan error)
	var freed [][]byte
	go func() {
		// Poll without blocking, so that this goroutine keeps its P and
		// the allocating one runs on the other P, of the other arena.
		for {
			var x []byte
			select {
			case y, ok := <-ch:
				if !ok {
					done <- nil
					return
				}
				x = y
			default:
				continue
			}
			for _, in := range [][]byte{x[16:], x[1:]} {
				if err := h.Free(in); !errors.Is(err, malloc.ErrInvalidPointer) {
					done <- fmt.Errorf("free of an interior pointer: %v", err)
					return
				}
			}
			if err := h.Free(x); err != nil {
				done <- err
				return
			}
			freed = append(freed, x)
		}
	}()
	for i := range 20000 {
		x, err := h.Malloc(32 + i%200)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case ch <- x:
		case err := <-done:
			t.Fatal(err) // the freeing goroutine stopped early
		}
	}
	close(ch)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Every block is free now (a block the allocating goroutine got again
	// was freed again), so each free is a double free.
	for _, x := range freed {
		if err := h.Free(x); !errors.Is(err, malloc.ErrDoubleFree) {
			t.Fatalf("second free: %v", err)
		}
	}
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("Uordblks %d with every block freed", s.Uordblks)
	}
}

// The pointer API of the package and of a Heap: every size kind, contents
// kept, and the same refusals as Free's.
func TestUnsafePointerAPI(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	fronts := []struct {
		name   string
		malloc func(int) (unsafe.Pointer, error)
		free   func(unsafe.Pointer) error
	}{
		{"package", malloc.UnsafeMalloc, malloc.UnsafeFree},
		{"heap", h.UnsafeMalloc, h.UnsafeFree},
	}
	for _, f := range fronts {
		t.Run(f.name, func(t *testing.T) {
			var ps []unsafe.Pointer
			var sizes []int
			for i, size := range []int{0, 1, 16, 100, 1024, 4096, 16384, 16385, 40000, 130000, 300000, 5 << 20} {
				for range 3 {
					p, err := f.malloc(size)
					if err != nil {
						t.Fatalf("UnsafeMalloc(%d): %v", size, err)
					}
					if p == nil {
						t.Fatalf("UnsafeMalloc(%d) = nil", size)
					}
					b := unsafe.Slice((*byte)(p), size)
					fillPattern(b, byte(i))
					ps, sizes = append(ps, p), append(sizes, size)
				}
			}
			for j, p := range ps {
				b := unsafe.Slice((*byte)(p), sizes[j])
				if !hasPattern(b, byte(j/3)) {
					t.Fatalf("block %d of %d bytes lost its contents", j, sizes[j])
				}
				if err := f.free(p); err != nil {
					t.Fatalf("UnsafeFree of a %d-byte block: %v", sizes[j], err)
				}
			}
			// A second free of a small, a mid-size and a large block.
			for _, j := range []int{12, 24, 33} {
				if err := f.free(ps[j]); !errors.Is(err, malloc.ErrDoubleFree) && !errors.Is(err, malloc.ErrInvalidPointer) {
					t.Errorf("second UnsafeFree of a %d-byte block: %v", sizes[j], err)
				}
			}
			var local [64]byte
			if err := f.free(unsafe.Pointer(&local[0])); !errors.Is(err, malloc.ErrInvalidPointer) {
				t.Errorf("UnsafeFree of Go memory: %v", err)
			}
			if err := f.free(nil); err != nil {
				t.Errorf("UnsafeFree(nil): %v", err)
			}
			if _, err := f.malloc(-1); !errors.Is(err, malloc.ErrInvalidArgument) {
				t.Errorf("UnsafeMalloc(-1): %v", err)
			}
		})
	}
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 || s.Hblks != 0 {
		t.Fatalf("%d bytes and %d mappings in use after every block was freed", s.Uordblks, s.Hblks)
	}
}
