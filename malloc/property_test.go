package malloc_test

import (
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/vmkit/vmkit/malloc"
)

// A model of the heap: every live block with its size, usable size, the
// seed of its contents and whether it has its own mapping.
type liveBlock struct {
	b      []byte
	usable int
	seed   byte
	large  bool
}

// worker runs calls on its own goroutine with its own Cache, so that blocks
// travel between goroutines as they would in a program.
type worker struct {
	c   *malloc.Cache
	run chan func(c *malloc.Cache)
	ack chan struct{}
}

func newWorker(h *malloc.Heap) *worker {
	w := &worker{run: make(chan func(*malloc.Cache)), ack: make(chan struct{})}
	go func() {
		w.c = h.NewCache()
		for f := range w.run {
			f(w.c)
			w.ack <- struct{}{}
		}
		w.c.Close()
		close(w.ack)
	}()
	return w
}

func (w *worker) do(f func(c *malloc.Cache)) {
	w.run <- f
	<-w.ack
}

const propThreshold = 256 << 10

// TestProperties runs random sequences of every operation, spread over
// three goroutines with their own caches and the Heap's own methods, against
// the model: live blocks never overlap, contents survive Realloc, alignments
// hold, the statistics add up, misuse is refused, and Check passes after
// every step.
func TestProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h, err := malloc.NewHeap(malloc.Options{MmapThreshold: propThreshold, ArenaMax: 2})
		if err != nil {
			rt.Fatal(err)
		}
		workers := []*worker{newWorker(h), newWorker(h), newWorker(h)}
		defer func() {
			for _, w := range workers {
				close(w.run)
				<-w.ack
			}
			h.Close()
		}()
		live := map[uintptr]*liveBlock{}
		var freed []uintptr
		seed := byte(0)

		genSize := rapid.OneOf(rapid.IntRange(0, 1100), rapid.IntRange(1, malloc.MaxSmall+100), rapid.IntRange(malloc.MaxSmall, 400<<10))
		// front picks who runs a call: a worker's Cache, or the Heap itself
		// from a worker goroutine.
		type frontEnd struct {
			w     *worker
			cache bool
		}
		genFront := rapid.Custom(func(t *rapid.T) frontEnd {
			return frontEnd{workers[rapid.IntRange(0, 2).Draw(t, "worker")], rapid.Bool().Draw(t, "cache")}
		})
		hblks := func() int64 { return h.Info().Hblks }
		checkNoOverlap := func(rt *rapid.T, b []byte) {
			p := addr(b)
			for q, o := range live {
				if q == p && q != 0 {
					rt.Fatalf("address %#x handed out twice", p)
				}
				if len(b) > 0 && len(o.b) > 0 && p < q+uintptr(len(o.b)) && q < p+uintptr(len(b)) {
					rt.Fatalf("block %#x+%d overlaps live block %#x+%d", p, len(b), q, len(o.b))
				}
			}
		}
		add := func(rt *rapid.T, b []byte, large bool) {
			checkNoOverlap(rt, b)
			seed++
			fillPattern(b, seed)
			live[addr(b)] = &liveBlock{b: b, usable: h.UsableSize(b), seed: seed, large: large}
			if u := h.UsableSize(b); u < len(b) {
				rt.Fatalf("UsableSize %d < %d", u, len(b))
			}
		}
		pick := func(rt *rapid.T) (uintptr, *liveBlock) {
			keys := make([]uintptr, 0, len(live))
			for k := range live {
				keys = append(keys, k)
			}
			sortUintptrs(keys)
			k := rapid.SampledFrom(keys).Draw(rt, "block")
			return k, live[k]
		}
		ops := map[string]func(*rapid.T){
			"malloc": func(rt *rapid.T) {
				n, f := genSize.Draw(rt, "size"), genFront.Draw(rt, "front")
				var b []byte
				var err error
				before := hblks()
				f.w.do(func(c *malloc.Cache) {
					if f.cache {
						b, err = c.Malloc(n)
					} else {
						b, err = h.Malloc(n)
					}
				})
				if err != nil || len(b) != n || addr(b)%16 != 0 {
					rt.Fatalf("Malloc(%d) = %#x len %d, %v", n, addr(b), len(b), err)
				}
				add(rt, b, hblks() > before)
			},
			"calloc": func(rt *rapid.T) {
				n := genSize.Draw(rt, "size")
				before := hblks()
				b, err := h.Calloc(1, n)
				if err != nil {
					rt.Fatal(err)
				}
				for i, v := range b {
					if v != 0 {
						rt.Fatalf("Calloc byte %d = %#x", i, v)
					}
				}
				add(rt, b, hblks() > before)
			},
			"aligned": func(rt *rapid.T) {
				align := 1 << rapid.IntRange(3, 16).Draw(rt, "log2 alignment")
				n, f := genSize.Draw(rt, "size"), genFront.Draw(rt, "front")
				var b []byte
				var err error
				before := hblks()
				f.w.do(func(c *malloc.Cache) {
					if f.cache {
						b, err = c.AlignedAlloc(align, n)
					} else {
						b, err = h.PosixMemalign(align, n)
					}
				})
				if err != nil || addr(b)%uintptr(align) != 0 {
					rt.Fatalf("aligned(%d, %d) = %#x, %v", align, n, addr(b), err)
				}
				add(rt, b, hblks() > before)
			},
			"free": func(rt *rapid.T) {
				if len(live) == 0 {
					rt.Skip("nothing live")
				}
				p, lb := pick(rt)
				f := genFront.Draw(rt, "front")
				if !hasPattern(lb.b, lb.seed) {
					rt.Fatalf("block %#x lost its contents", p)
				}
				var err error
				f.w.do(func(c *malloc.Cache) {
					if f.cache {
						err = c.Free(lb.b)
					} else {
						err = h.Free(lb.b)
					}
				})
				if err != nil {
					rt.Fatal(err)
				}
				delete(live, p)
				freed = append(freed, p)
			},
			"realloc": func(rt *rapid.T) {
				if len(live) == 0 {
					rt.Skip("nothing live")
				}
				p, lb := pick(rt)
				n, f := genSize.Draw(rt, "size"), genFront.Draw(rt, "front")
				if n == 0 {
					n = 1
				}
				before := hblks()
				var nb []byte
				var err error
				f.w.do(func(c *malloc.Cache) {
					if f.cache {
						nb, err = c.Realloc(lb.b, n)
					} else {
						nb, err = h.Realloc(lb.b, n)
					}
				})
				if err != nil || len(nb) != n {
					rt.Fatalf("Realloc(%#x, %d): len %d, %v", p, n, len(nb), err)
				}
				if !hasPattern(nb[:min(n, len(lb.b))], lb.seed) {
					rt.Fatalf("Realloc %d -> %d lost the contents", len(lb.b), n)
				}
				delete(live, p)
				if addr(nb) != p {
					freed = append(freed, p)
				}
				large := lb.large
				if d := hblks() - before; d != 0 {
					large = d > 0
				}
				add(rt, nb, large)
			},
			"double free": func(rt *rapid.T) {
				if len(freed) == 0 {
					rt.Skip("nothing freed")
				}
				p := rapid.SampledFrom(freed).Draw(rt, "freed")
				if _, again := live[p]; again {
					rt.Skip("address reused")
				}
				err := h.Free(unsafeSlice(p))
				if !errors.Is(err, malloc.ErrDoubleFree) && !errors.Is(err, malloc.ErrInvalidPointer) {
					rt.Fatalf("second free of %#x: %v", p, err)
				}
			},
			"interior free": func(rt *rapid.T) {
				if len(live) == 0 {
					rt.Skip("nothing live")
				}
				_, lb := pick(rt)
				if len(lb.b) < 2 {
					rt.Skip("too small")
				}
				off := rapid.IntRange(1, len(lb.b)-1).Draw(rt, "offset")
				if err := h.Free(lb.b[off:]); !errors.Is(err, malloc.ErrInvalidPointer) {
					rt.Fatalf("interior free at +%d of %d: %v", off, len(lb.b), err)
				}
			},
			"": func(rt *rapid.T) {
				if err := h.Check(); err != nil {
					rt.Fatal(err)
				}
				// The workers are idle: the statistics are exact.
				var want, large int64
				for _, lb := range live {
					if lb.large {
						large++
					} else {
						want += int64(lb.usable)
					}
				}
				s := h.Info()
				if s.Uordblks != want || s.Hblks != large {
					rt.Fatalf("Info: Uordblks %d Hblks %d, model %d and %d (%s)", s.Uordblks, s.Hblks, want, large, fmt.Sprint(len(live), " live"))
				}
				if s.Fordblks != s.Arena-s.Uordblks {
					rt.Fatalf("Fordblks %d != Arena %d - Uordblks %d", s.Fordblks, s.Arena, s.Uordblks)
				}
			},
		}
		rt.Repeat(ops)
	})
}

func sortUintptrs(k []uintptr) {
	for i := 1; i < len(k); i++ {
		for j := i; j > 0 && k[j] < k[j-1]; j-- {
			k[j], k[j-1] = k[j-1], k[j]
		}
	}
}
