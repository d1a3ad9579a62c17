package malloc_test

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/vmkit/vmkit/malloc"
)

// FuzzOptionsFromEnv feeds arbitrary values to the environment variables
// the default heap reads. Each value is either refused with an error that
// names the variable, or gives Options that make a working heap.
func FuzzOptionsFromEnv(f *testing.F) {
	for _, s := range [][2]string{
		{"arena_max=2:perturb=0xa5:guard=1", ""},
		{"mmap_threshold=64k:top_pad=1m", "3"},
		{"", "0x10"},
		{"vmkit.malloc.trim_threshold=-1", "-1"},
		{"guard", "9999999999999999999g"},
		{"profile_rate=1k:brk=1", "1G"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, tunables, arenaMax string) {
		env := map[string]string{"VMKIT_MALLOC_TUNABLES": tunables, "VMKIT_MALLOC_ARENA_MAX": arenaMax}
		o, err := malloc.OptionsFromEnv(func(k string) string { return env[k] })
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if o.Brk {
			o.Brk = false // the break is the process's; leave it alone here
		}
		if o.ArenaMax > 4 {
			o.ArenaMax = 4 // keep the fuzzer's heaps small
		}
		h, err := malloc.NewHeap(o)
		if err != nil {
			t.Fatalf("OptionsFromEnv accepted %+v, which NewHeap refuses: %v", o, err)
		}
		defer h.Close()
		b, err := h.Malloc(100)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		b[99] = 1
		if err := h.Free(b); err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if err := h.Check(); err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
	})
}

// FuzzOps reads its input as a program of allocator calls on a fresh heap
// (through a Cache and the Heap): allocate, free, reallocate, calloc,
// aligned allocation, frees of interior and of already freed pointers,
// trims. Every live block keeps the bytes written to it, every misuse gets
// its error, and Check passes at the end with nothing in use.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 10, 0, 0, 200, 1, 1, 0, 2, 0, 3, 3, 0})
	f.Add([]byte{0, 255, 255, 4, 0, 5, 0, 0, 6, 7, 1, 0, 1, 0})
	f.Add([]byte{5, 1, 1, 5, 2, 2, 0, 0, 1, 1, 0, 7, 2, 1, 1, 3, 0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		h, err := malloc.NewHeap(malloc.Options{ArenaMax: 1, MmapThreshold: 256 << 10})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		c := h.NewCache()
		defer c.Close()
		type block struct {
			b    []byte
			seed byte
		}
		var live []block
		var freed [][]byte // freed blocks not yet handed out again
		next := func() int {
			if len(prog) == 0 {
				return 0
			}
			v := int(prog[0])
			prog = prog[1:]
			return v
		}
		fill := func(x block) {
			for i := range x.b {
				x.b[i] = x.seed + byte(i)
			}
		}
		check := func(x block, n int) {
			for i := 0; i < n; i++ {
				if x.b[i] != x.seed+byte(i) {
					t.Fatalf("block %p of %d bytes: byte %d is %d, want %d", unsafe.SliceData(x.b), len(x.b), i, x.b[i], x.seed+byte(i))
				}
			}
		}
		reused := func(b []byte) { // handed out again: no longer a double free
			for i, f := range freed {
				if unsafe.SliceData(f) == unsafe.SliceData(b) {
					freed = append(freed[:i], freed[i+1:]...)
					return
				}
			}
		}
		add := func(b []byte, err error) {
			if err != nil {
				t.Fatal(err)
			}
			reused(b)
			x := block{b, byte(len(live))}
			fill(x)
			live = append(live, x)
		}
		size := func() int { return next()<<(next()%12) + next() }
		for steps := 0; len(prog) > 0 && steps < 200; steps++ {
			switch next() % 8 {
			case 0:
				add(c.Malloc(size()))
			case 1:
				add(h.Malloc(size()))
			case 2:
				if len(live) > 0 {
					i := next() % len(live)
					x := live[i]
					check(x, len(x.b))
					if err := c.Free(x.b); err != nil {
						t.Fatal(err)
					}
					live = append(live[:i], live[i+1:]...)
					freed = append(freed, x.b)
				}
			case 3:
				if len(live) > 0 {
					i := next() % len(live)
					x := live[i]
					n := size()
					nb, err := c.Realloc(x.b, n)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						live = append(live[:i], live[i+1:]...)
						freed = append(freed, x.b)
						continue
					}
					reused(nb)
					if unsafe.SliceData(nb) != unsafe.SliceData(x.b) {
						freed = append(freed, x.b) // moved: the old block is free
					}
					y := block{nb, x.seed}
					check(y, min(len(x.b), n))
					fill(y)
					live[i] = y
				}
			case 4:
				n := next()
				b, err := h.Calloc(n, next()%8+1)
				if err == nil {
					for j, v := range b {
						if v != 0 {
							t.Fatalf("Calloc: byte %d is %d", j, v)
						}
					}
				}
				add(b, err)
			case 5:
				add(c.AlignedAlloc(16<<(next()%10), size()))
			case 6:
				if len(freed) > 0 {
					b := freed[next()%len(freed)]
					if err := h.Free(b); !errors.Is(err, malloc.ErrDoubleFree) && !errors.Is(err, malloc.ErrInvalidPointer) {
						t.Fatalf("second free of %p: %v", unsafe.SliceData(b), err)
					}
				}
				if len(live) > 0 {
					x := live[next()%len(live)]
					if len(x.b) > 1 {
						if err := c.Free(x.b[1:]); !errors.Is(err, malloc.ErrInvalidPointer) {
							t.Fatalf("free of an interior pointer: %v", err)
						}
					}
				}
			case 7:
				h.Trim(next() << 12)
			}
		}
		for _, x := range live {
			check(x, len(x.b))
			if err := h.Free(x.b); err != nil {
				t.Fatal(err)
			}
		}
		c.Flush()
		if err := h.Check(); err != nil {
			t.Fatal(err)
		}
		if s := h.Info(); s.Uordblks != 0 || s.Hblks != 0 {
			t.Fatalf("%d bytes and %d mappings in use at the end", s.Uordblks, s.Hblks)
		}
	})
}
