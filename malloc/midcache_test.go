package malloc_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/vmkit/vmkit/malloc"
)

// A Cache keeps a freed mid-size chunk and hands it out again for a request
// of its length or up to a quarter less, without the arena; the chunk counts
// as free in the statistics while the Cache holds it, and Flush gives it
// back.
func TestMidCacheReuse(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	c := h.NewCache()
	defer c.Close()
	b, err := c.Malloc(40000) // 10 pages
	if err != nil {
		t.Fatal(err)
	}
	p := addr(b)
	fillPattern(b, 1)
	if err := c.Free(b); err != nil {
		t.Fatal(err)
	}
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("a chunk held by the Cache counts as %d bytes in use", s.Uordblks)
	}
	// malloc_info lists it with the free chunks.
	var xml strings.Builder
	if err := h.WriteInfo(&xml); err != nil {
		t.Fatal(err)
	}
	if want := `<size from="40960" to="40960" total="40960" count="1"/>`; !strings.Contains(xml.String(), want) {
		t.Fatalf("WriteInfo does not list the held chunk as %s:\n%s", want, xml.String())
	}
	mustCheck(t, h)
	for _, size := range []int{40000, 33000, 36864, 32768} { // 10, 9, 9 and 8 pages: 10 is within a quarter
		b, err := c.Malloc(size)
		if err != nil {
			t.Fatal(err)
		}
		if addr(b) != p || len(b) != size || cap(b) != size {
			t.Fatalf("Malloc(%d) = %#x (len %d, cap %d), not the held chunk %#x", size, addr(b), len(b), cap(b), p)
		}
		if u := c.UsableSize(b); u != 40960 {
			t.Fatalf("UsableSize of the reused chunk is %d, not its 40960", u)
		}
		if s := h.Info(); s.Uordblks != 40960 {
			t.Fatalf("one 10-page chunk in use, Uordblks %d", s.Uordblks)
		}
		mustCheck(t, h)
		if err := c.Free(b); err != nil {
			t.Fatal(err)
		}
	}
	// 7 and 5 pages: the held chunk is more than a quarter too long.
	var smalls [][]byte
	for _, size := range []int{28000, 20000} {
		small, _ := c.Malloc(size)
		if addr(small) == p {
			t.Fatalf("a %d-byte request took the held 10-page chunk", size)
		}
		smalls = append(smalls, small)
	}
	for _, b := range smalls {
		c.Free(b)
	}
	mustCheck(t, h)
	c.Flush()
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 || s.Fordblks != s.Arena {
		t.Fatalf("after Flush: %+v", s)
	}
}

// A chunk that a Cache holds is free: freeing it again through any front
// end, asking its size, or reallocating it is refused, and the heap stays
// consistent.
func TestMidCacheDoubleFree(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	c := h.NewCache()
	defer c.Close()
	other := h.NewCache()
	defer other.Close()
	b, _ := c.Malloc(50000)
	keep, _ := c.Malloc(50000)
	if err := c.Free(b); err != nil {
		t.Fatal(err)
	}
	for name, free := range map[string]func([]byte) error{
		"the same Cache": c.Free, "another Cache": other.Free, "the Heap": h.Free,
		"UnsafeFree": func(b []byte) error { return c.UnsafeFree(unsafe.Pointer(unsafe.SliceData(b))) },
	} {
		if err := free(b); !errors.Is(err, malloc.ErrDoubleFree) {
			t.Errorf("second free through %s: %v, want ErrDoubleFree", name, err)
		}
	}
	if _, err := c.Realloc(b, 60000); !errors.Is(err, malloc.ErrDoubleFree) {
		t.Errorf("Realloc of a held chunk: %v", err)
	}
	if u := h.UsableSize(b); u != 0 {
		t.Errorf("UsableSize of a held chunk: %d", u)
	}
	// Interior pointers of a held and of a live chunk are refused too.
	for _, q := range [][]byte{b[4096:], b[16:], keep[4096:], keep[16:]} {
		if err := c.Free(q); !errors.Is(err, malloc.ErrInvalidPointer) {
			t.Errorf("free of an interior pointer %#x: %v", addr(q), err)
		}
	}
	mustCheck(t, h)
	if err := c.Free(keep); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, h)
}

// A Cache holds at most 8 chunks and 128 pages; the oldest go back to the
// arena as new ones come in.
func TestMidCacheBudget(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	c := h.NewCache()
	defer c.Close()
	var bs [][]byte
	for i := range 40 {
		b, err := c.Malloc(16385 + i*2000) // 5 to 24 pages
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	for _, b := range bs {
		if err := c.Free(b); err != nil {
			t.Fatal(err)
		}
		mustCheck(t, h) // which checks the count and the pages held
	}
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("%d bytes in use after every block was freed", s.Uordblks)
	}
	c.Flush() // into the arena's slots, or the arena
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("%d bytes in use after Flush", s.Uordblks)
	}
	// Trim takes the arena's slots back too: everything merges into the
	// top chunk of the region.
	h.Trim(0)
	mustCheck(t, h)
	if s := h.Info(); s.Ordblks != 1 {
		t.Fatalf("after Trim, %d free chunks besides the top", s.Ordblks-1)
	}
}

// Realloc through a Cache grows a block in place into the chunk after it
// when that Cache holds the chunk; through another Cache the block moves,
// contents kept.
func TestMidCacheReallocInPlace(t *testing.T) {
	h := newHeap(t, malloc.Options{})
	c := h.NewCache()
	defer c.Close()
	a, _ := c.Malloc(40 << 10)
	b, _ := c.Malloc(40 << 10)
	guard, _ := c.Malloc(40 << 10)
	fillPattern(a, 4)
	if err := c.Free(b); err != nil { // held by c
		t.Fatal(err)
	}
	na, err := c.Realloc(a, 70<<10)
	if err != nil {
		t.Fatal(err)
	}
	if addr(na) != addr(a) || !hasPattern(na[:40<<10], 4) {
		t.Fatalf("moved from %#x to %#x although the next chunk was free in the same Cache", addr(a), addr(na))
	}
	mustCheck(t, h)

	other := h.NewCache()
	defer other.Close()
	x, _ := other.Malloc(40 << 10)
	y, _ := other.Malloc(40 << 10)
	fillPattern(x, 5)
	c.Free(y) // held by c, which is not the Cache that reallocates
	nx, err := other.Realloc(x, 70<<10)
	if err != nil || !hasPattern(nx[:40<<10], 5) {
		t.Fatal(err)
	}
	mustCheck(t, h)
	for _, b := range [][]byte{na, guard, nx} {
		if err := c.Free(b); err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, h)
}

// The package-level functions (and Heap methods) hold freed mid-size chunks
// in their arena's slots: the next request of about the size takes the same
// chunk back without the arena lock, a second free of it is refused, and
// Trim gives the slots' chunks back.
func TestArenaHeldReuse(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 1})
	b, _ := h.Malloc(70000) // 18 pages
	p := addr(b)
	if err := h.Free(b); err != nil {
		t.Fatal(err)
	}
	if err := h.Free(b); !errors.Is(err, malloc.ErrDoubleFree) {
		t.Fatalf("second free of a held chunk: %v", err)
	}
	c := h.NewCache()
	defer c.Close()
	if err := c.Free(b); !errors.Is(err, malloc.ErrDoubleFree) {
		t.Fatalf("free through a Cache of a chunk the arena holds: %v", err)
	}
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("a held chunk counts as %d bytes in use", s.Uordblks)
	}
	mustCheck(t, h)
	b2, _ := h.Malloc(60000) // 15 pages: the 18-page chunk is within a quarter
	if addr(b2) != p || h.UsableSize(b2) != 18<<12 {
		t.Fatalf("Malloc(60000) = %#x of %d usable, not the held chunk %#x", addr(b2), h.UsableSize(b2), p)
	}
	mustCheck(t, h)
	h.Free(b2)
	keep, _ := h.Malloc(20000)
	top := h.Info().Keepcost
	if !h.Trim(0) {
		t.Fatal("Trim released nothing")
	}
	mustCheck(t, h)
	// The held chunk is a free chunk again, below keep's.
	if s := h.Info(); s.Ordblks != 2 || s.Uordblks != 20480 {
		t.Fatalf("after Trim: %d free chunks besides the top, %d bytes in use (top before %d)", s.Ordblks-1, s.Uordblks, top)
	}
	h.Free(keep)
}

// Goroutines on one arena allocate, reallocate and free mid-size blocks,
// each other's too, through the package-level path and through Caches, so
// that the arena's slots are filled and emptied concurrently; every block
// keeps its contents, and the heap ends consistent and empty.
func TestArenaHeldConcurrent(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 1})
	const workers, rounds = 4, 3000
	ch := make(chan []byte, 64)
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			var c *malloc.Cache
			mallocf, free, realloc := h.Malloc, h.Free, h.Realloc
			if w%2 == 1 {
				c = h.NewCache()
				defer c.Close()
				mallocf, free, realloc = c.Malloc, c.Free, c.Realloc
			}
			x := uint32(w*7919 + 1)
			var live [][]byte
			for i := range rounds {
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				size := 16385 + int(x%(120<<10))
				b, err := mallocf(size)
				if err != nil {
					errs <- err
					return
				}
				fillPattern(b, byte(w+i))
				if x%3 == 0 {
					if b, err = realloc(b, size+int(x%(40<<10))); err != nil {
						errs <- err
						return
					}
				}
				if !hasPattern(b[:min(len(b), size)], byte(w+i)) {
					errs <- fmt.Errorf("worker %d: block %#x lost its contents", w, addr(b))
					return
				}
				fillPattern(b, byte(w))
				live = append(live, b)
				if len(live) > 8 {
					old := live[0]
					live = live[1:]
					if !hasPattern(old, byte(w)) {
						errs <- fmt.Errorf("worker %d: block %#x changed while live", w, addr(old))
						return
					}
					select {
					case ch <- old: // another worker frees it
					default:
						if err := free(old); err != nil {
							errs <- err
							return
						}
					}
				}
				select {
				case got := <-ch:
					if err := free(got); err != nil {
						errs <- err
						return
					}
				default:
				}
			}
			for _, b := range live {
				if err := free(b); err != nil {
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
	close(ch)
	for b := range ch {
		if err := h.Free(b); err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("%d bytes in use after every block was freed", s.Uordblks)
	}
}

// A mid-size chunk freed through a Cache of another arena goes to its own
// arena's slots, without that arena's lock: held there, refused if freed
// again, and handed back to its arena's next request of the size.
func TestMidCrossArenaFree(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 2})
	c1, c2 := h.NewCache(), h.NewCache() // arenas 0 and 1, round robin
	defer c1.Close()
	defer c2.Close()
	b, _ := c1.Malloc(40000)
	keep, _ := c1.Malloc(40000) // above it: a freed b could not merge with the top
	defer c1.Free(keep)
	p := addr(b)
	if err := c2.Free(b); err != nil {
		t.Fatal(err)
	}
	// Held, not given back: no free chunk besides the top.
	if s := h.Info(); s.Ordblks != 1 {
		t.Fatalf("the chunk went back to its arena's free chunks (%d besides the top)", s.Ordblks-1)
	}
	if err := c2.Free(b); !errors.Is(err, malloc.ErrDoubleFree) {
		t.Fatalf("second free of a chunk held by its arena: %v", err)
	}
	if s := h.Info(); s.Uordblks != 40960 {
		t.Fatalf("one live 10-page chunk and one held: %d bytes in use", s.Uordblks)
	}
	mustCheck(t, h)
	b2, _ := c1.Malloc(40000)
	if addr(b2) != p {
		t.Fatalf("the next 40000-byte request of arena 0 got %#x, not the held chunk %#x", addr(b2), p)
	}
	c1.Free(b2)
	mustCheck(t, h)
}
