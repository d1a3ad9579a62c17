package obstack_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/malloc"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/obstack"
)

func TestModel(t *testing.T) {
	cases := map[string]struct {
		useDefault       bool
		chunkSize, align int
		steps            int
	}{
		"default source, defaults":   {true, 0, 0, 20000},
		"default source, 100 bytes":  {true, 100, 8, 10000},
		"tiny chunks, packed":        {false, 1, 1, 10000},
		"64-byte chunks, align 4":    {false, 64, 4, 10000},
		"100-byte chunks, align 16":  {false, 100, 16, 10000},
		"4096-byte chunks, align 64": {false, 4096, 64, 20000},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for seed := range uint64(6) {
				r := rand.New(rand.NewPCG(seed, 99))
				rnd := func() int { return int(r.Uint32() >> 1) }
				m := newModel(t, rnd, c.useDefault, c.chunkSize, c.align)
				for range c.steps {
					m.step(rnd())
					m.verify()
				}
				m.finish()
			}
		})
	}
}

func mustNew(t *testing.T, opts obstack.Options) *obstack.Obstack {
	t.Helper()
	o, err := obstack.New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(o.Release)
	return o
}

func TestOptions(t *testing.T) {
	alloc := func(n int) ([]byte, error) { return make([]byte, n), nil }
	cases := map[string]struct {
		opts obstack.Options
		want string // "" for valid
	}{
		"zero value":          {obstack.Options{}, ""},
		"all set":             {obstack.Options{ChunkSize: 100, Alignment: 1, ChunkAlloc: alloc, ChunkFree: func([]byte) {}}, ""},
		"negative chunk size": {obstack.Options{ChunkSize: -1}, "ChunkSize -1"},
		"huge chunk size":     {obstack.Options{ChunkSize: obstack.MaxChunkSize + 1}, "up to 1073741824"},
		"alignment 3":         {obstack.Options{Alignment: 3}, "power of two"},
		"alignment 8192":      {obstack.Options{Alignment: 8192}, "up to 4096"},
		"negative alignment":  {obstack.Options{Alignment: -16}, "Alignment -16"},
		"alloc without free":  {obstack.Options{ChunkAlloc: alloc}, "both ChunkAlloc and ChunkFree"},
		"free without alloc":  {obstack.Options{ChunkFree: func([]byte) {}}, "both ChunkAlloc and ChunkFree"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.opts.Validate()
			o, nerr := obstack.New(c.opts)
			if c.want == "" {
				if err != nil || nerr != nil {
					t.Fatalf("Validate: %v, New: %v", err, nerr)
				}
				o.Release()
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate: %v, want an error saying %q", err, c.want)
			}
			if nerr == nil || nerr.Error() != err.Error() {
				t.Fatalf("New: %v, want the error of Validate", nerr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	o := mustNew(t, obstack.Options{})
	if o.ChunkSize() != 4096 || o.AlignmentMask() != 15 {
		t.Fatalf("ChunkSize %d AlignmentMask %d, want 4096 and 15", o.ChunkSize(), o.AlignmentMask())
	}
	if st := o.Stats(); st.Chunks != 1 || st.ChunkBytes != 4096 {
		t.Fatalf("New holds %+v, want one chunk of 4096 bytes, as obstack_init", st)
	}
	if o.Room() != 4096 || o.ObjectSize() != 0 || o.Base() != o.NextFree() || o.NextFree() == nil {
		t.Fatalf("fresh obstack: Room %d ObjectSize %d Base %p NextFree %p", o.Room(), o.ObjectSize(), o.Base(), o.NextFree())
	}
	// The default source gives chunks of exactly ChunkSize, as Options says.
	small := mustNew(t, obstack.Options{ChunkSize: 100})
	if st := small.Stats(); st.ChunkBytes != 100 {
		t.Fatalf("ChunkSize 100: the chunk has %d bytes", st.ChunkBytes)
	}
	// A negative Blank with nothing growing says why it cannot shrink.
	if err := small.Blank(-1); !errors.Is(err, obstack.ErrSize) || !strings.Contains(err.Error(), "no object is growing") {
		t.Fatalf("Blank(-1) with nothing growing: %v", err)
	}
}

func TestAllocCopy(t *testing.T) {
	o := mustNew(t, obstack.Options{})
	a, err := o.Alloc(5)
	if err != nil || len(a) != 5 || cap(a) != 5 {
		t.Fatalf("Alloc(5) = len %d cap %d, %v", len(a), cap(a), err)
	}
	copy(a, "hello")
	b, _ := o.Copy([]byte("world"))
	c, _ := o.Copy0([]byte("C"))
	if string(a) != "hello" || string(b) != "world" || !bytes.Equal(c, []byte{'C', 0}) {
		t.Fatalf("objects hold %q %q %q", a, b, c)
	}
	if addr(b) != addr(a)+16 || addr(c) != addr(b)+16 {
		t.Fatalf("objects at %#x %#x %#x, want 16 bytes apart", addr(a), addr(b), addr(c))
	}
	// append copies rather than overwriting the next object.
	a = append(a, '!')
	if string(b) != "world" || string(a) != "hello!" {
		t.Fatalf("append to an object changed its neighbour: %q %q", a, b)
	}
	if _, err := o.Alloc(-1); !errors.Is(err, obstack.ErrSize) {
		t.Fatalf("Alloc(-1): %v, want ErrSize", err)
	}
	if _, err := o.Alloc(math.MaxInt); !errors.Is(err, obstack.ErrSize) {
		t.Fatalf("Alloc(MaxInt): %v, want ErrSize", err)
	}
	z1, _ := o.Alloc(0)
	z2, _ := o.Copy(nil)
	if z1 == nil || z2 == nil || len(z1) != 0 || addr(z1) != addr(z2) {
		t.Fatalf("empty objects: %v %v at %#x %#x, want non-nil at one address", z1 == nil, z2 == nil, addr(z1), addr(z2))
	}
}

func testRand(seed uint64) func() int {
	r := rand.New(rand.NewPCG(seed, 7))
	return func() int { return int(r.Uint32() >> 1) }
}

// TestAlignment allocates odd sizes at every alignment, from chunks at odd
// addresses and from the page source, and checks every object's address.
func TestAlignment(t *testing.T) {
	for align := 1; align <= obstack.MaxAlignment; align *= 2 {
		for _, def := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/default %v", align, def), func(t *testing.T) {
				opts := obstack.Options{Alignment: align, ChunkSize: 300}
				if !def {
					src := newSource(testRand(uint64(align)))
					opts.ChunkAlloc, opts.ChunkFree = src.alloc, src.free
				}
				o := mustNew(t, opts)
				for i := range 200 {
					b, err := o.Alloc(i * 37 % 101)
					if err != nil {
						t.Fatal(err)
					}
					if int(addr(b))%align != 0 {
						t.Fatalf("object %d at %#x, not aligned to %d", i, addr(b), align)
					}
				}
				if err := o.Blank(3); err != nil {
					t.Fatal(err)
				}
				if g := o.Finish(); int(addr(g))%align != 0 {
					t.Fatalf("finished object at %#x, not aligned to %d", addr(g), align)
				}
				s, _ := obstack.Make[uint64](o, 3)
				if uintptr(unsafe.Pointer(&s[0]))%8 != 0 {
					t.Fatalf("Make[uint64] at %p, not aligned to 8", &s[0])
				}
			})
		}
	}
}

func TestSetters(t *testing.T) {
	o := mustNew(t, obstack.Options{})
	for _, bad := range []int{-1, 2, 6, 4096, 1 << 20} {
		if err := o.SetAlignmentMask(bad); !errors.Is(err, obstack.ErrSize) {
			t.Errorf("SetAlignmentMask(%d): %v, want ErrSize", bad, err)
		}
	}
	for _, bad := range []int{0, -5, obstack.MaxChunkSize + 1} {
		if err := o.SetChunkSize(bad); !errors.Is(err, obstack.ErrSize) {
			t.Errorf("SetChunkSize(%d): %v, want ErrSize", bad, err)
		}
	}
	if o.AlignmentMask() != 15 || o.ChunkSize() != 4096 {
		t.Fatalf("failed setters changed the obstack: mask %d size %d", o.AlignmentMask(), o.ChunkSize())
	}
	o.Alloc(1)
	if err := o.SetAlignmentMask(255); err != nil {
		t.Fatal(err)
	}
	if b, _ := o.Alloc(1); addr(b)%256 != 0 || o.AlignmentMask() != 255 {
		t.Fatalf("after SetAlignmentMask(255) an object is at %#x", addr(b))
	}
	if err := o.SetChunkSize(3 * 4096); err != nil {
		t.Fatal(err)
	}
	o.Alloc(o.Room()) // fill the chunk
	before := o.Stats().ChunkBytes
	o.Alloc(1)
	if got := o.Stats().ChunkBytes - before; got != 3*4096 {
		t.Fatalf("after SetChunkSize(12288) the next chunk has %d bytes", got)
	}
}

// TestChunksComeBack checks that the chunk source gets back every chunk it
// handed out, after Free(nil) and after Release, with objects of every kind
// in between: small ones, ones larger than a chunk, and growing objects
// that moved.
func TestChunksComeBack(t *testing.T) {
	src := newSource(testRand(3))
	o := mustNew(t, src.options(256, 0))
	fill := func() {
		for i := range 500 {
			o.Copy(make([]byte, i%70))
			if i%50 == 0 {
				o.Alloc(1000) // larger than a chunk
			}
			if i%100 == 0 {
				for j := range 600 { // grows past its chunk, several times
					o.Byte(byte(j))
				}
				o.Finish()
			}
		}
	}
	fill()
	if len(src.out) < 10 {
		t.Fatalf("only %d chunks out: the test does not exercise chunking", len(src.out))
	}
	if err := o.Free(nil); err != nil {
		t.Fatal(err)
	}
	if len(src.out) != 0 || src.allocs != src.frees || src.err != nil {
		t.Fatalf("after Free(nil): %d chunks out (%d allocs, %d frees), %v", len(src.out), src.allocs, src.frees, src.err)
	}
	if o.NextFree() != nil || o.Room() != 0 || o.Stats().Chunks != 0 {
		t.Fatalf("after Free(nil): NextFree %p Room %d %+v", o.NextFree(), o.Room(), o.Stats())
	}
	fill() // usable after Free(nil)
	o.Blank(10)
	o.Release()
	if len(src.out) != 0 || src.allocs != src.frees || src.err != nil {
		t.Fatalf("after Release: %d chunks out (%d allocs, %d frees), %v", len(src.out), src.allocs, src.frees, src.err)
	}
	if o.ObjectSize() != 0 {
		t.Fatal("Release left an object growing")
	}
	if b, err := o.Copy([]byte("again")); err != nil || string(b) != "again" {
		t.Fatalf("Copy after Release: %q, %v", b, err)
	}
	st := o.Stats()
	if st.ChunkAllocs != int64(src.allocs) || st.ChunkFrees != int64(src.frees) {
		t.Fatalf("Stats %+v, source %d allocs %d frees", st, src.allocs, src.frees)
	}
}

// TestReleaseReturnsChunks checks on malloc's side that the default source
// gives every chunk back at Release, and a big object's own chunk at once
// when the obstack frees below it: malloc's bytes in use return to where
// they were, and the big chunk (above malloc's mmap threshold) is unmapped.
func TestReleaseReturnsChunks(t *testing.T) {
	inUse := func() int64 { st := malloc.Info(); return st.Uordblks + st.Hblkhd }
	before := inUse()
	o := mustNew(t, obstack.Options{})
	var objs [][]byte
	for range 3000 {
		b, _ := o.Copy(make([]byte, 48))
		objs = append(objs, b)
	}
	if _, err := o.Alloc(1 << 20); err != nil {
		t.Fatal(err)
	}
	st := o.Stats()
	if st.SourceBytes < 3000*48+1<<20 || st.SourceMaps == 0 {
		t.Fatalf("Stats %+v", st)
	}
	if got := inUse() - before; got < st.SourceBytes {
		t.Fatalf("malloc counts %d bytes in use for an obstack holding %d", got, st.SourceBytes)
	}
	held := inUse()
	if err := o.Free(nil); err != nil {
		t.Fatal(err)
	}
	// Free(nil) keeps the small chunks for reuse and gives the big one back
	// to malloc at once (which may unmap it or, once its dynamic mmap
	// threshold has risen, keep it in an arena).
	if err := mem.Try(func() { sink = objs[0][0] }); err != nil {
		t.Fatalf("after Free(nil) a kept chunk faults: %v", err)
	}
	if st := o.Stats(); st.SourceBytes > 3000*48*2 {
		t.Fatalf("after Free(nil) the source still holds %d bytes: the big chunk was kept", st.SourceBytes)
	}
	if freed := held - inUse(); freed < 1<<20 {
		t.Fatalf("Free(nil) gave %d bytes back to malloc, want the 1 MiB chunk", freed)
	}
	o.Release()
	if st := o.Stats(); st.SourceBytes != 0 {
		t.Fatalf("after Release the source holds %d bytes", st.SourceBytes)
	}
	if got := inUse(); got != before {
		t.Fatalf("after Release malloc has %d bytes in use, %d before New", got, before)
	}
	if err := malloc.Check(); err != nil {
		t.Fatal(err)
	}
}

var sink byte

// TestReuseWithoutSyscalls runs the benchmark's pattern and checks that,
// once the obstack has reached its largest size, freeing to a mark and
// allocating again maps nothing.
func TestReuseWithoutSyscalls(t *testing.T) {
	o := mustNew(t, obstack.Options{})
	cycle := func() {
		mark, _ := o.Alloc(0)
		for i := range 100000 {
			o.Copy(src[:8+i%57])
		}
		if err := o.Free(mark); err != nil {
			t.Fatal(err)
		}
	}
	cycle()
	before := o.Stats()
	for range 5 {
		cycle()
	}
	after := o.Stats()
	if after.SourceMaps != before.SourceMaps || after.SourceBytes != before.SourceBytes {
		t.Fatalf("steady state mapped memory: before %+v after %+v", before, after)
	}
	if after.ChunkAllocs-before.ChunkAllocs < 5*900 {
		t.Fatalf("only %d chunk allocations in 5 cycles: the pattern does not cross chunks", after.ChunkAllocs-before.ChunkAllocs)
	}
}

// TestOffHeap checks that obstack memory is outside the Go heap: 64 MiB of
// objects leave the heap's size unchanged, and a collection is not slowed.
func TestOffHeap(t *testing.T) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	o := mustNew(t, obstack.Options{})
	for range 64 << 10 {
		if _, err := o.Alloc(1024); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if grown := int64(m1.HeapSys) - int64(m0.HeapSys); grown > 8<<20 {
		t.Fatalf("the Go heap grew by %s for 64 MiB of obstack objects", mem.FormatBytes(grown))
	}
	if st := o.Stats(); st.SourceBytes < 64<<20 {
		t.Fatalf("the source maps only %s", mem.FormatBytes(st.SourceBytes))
	}
}

func TestMmapFailure(t *testing.T) {
	var handled error
	o := mustNew(t, obstack.Options{OnAllocFailed: func(err error) { handled = err }})
	keep, _ := o.Copy([]byte("kept"))
	if strconv.IntSize < 64 {
		t.Skip("32 TiB is no size on a 32-bit system")
	}
	// 32 TiB, which the kernel refuses to map; the shift is not a
	// constant, so that 32-bit systems compile it.
	shift := 45
	_, err := o.Alloc(1 << shift)
	if !errors.Is(err, unix.ENOMEM) || handled != err {
		t.Fatalf("Alloc(32 TiB): %v (handler got %v), want ENOMEM passed to OnAllocFailed", err, handled)
	}
	var oe *obstack.Error
	if !errors.As(err, &oe) || oe.Size < 1<<shift || !strings.Contains(err.Error(), "new chunk of 32") {
		t.Fatalf("error %q does not name the chunk size", err)
	}
	if string(keep) != "kept" {
		t.Fatal("a failed allocation changed an object")
	}
	if b, err := o.Copy([]byte("still works")); err != nil || string(b) != "still works" {
		t.Fatalf("after a failure: %q %v", b, err)
	}
}

func TestBadSource(t *testing.T) {
	cases := map[string]struct {
		alloc func(int) ([]byte, error)
		want  string
	}{
		"short chunk": {func(n int) ([]byte, error) { return make([]byte, n/2), nil }, "returned 2048 bytes"},
		"nil chunk":   {func(n int) ([]byte, error) { return nil, nil }, "returned 0 bytes"},
		"error":       {func(n int) ([]byte, error) { return nil, errSourceDown }, "out of chunks"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := obstack.New(obstack.Options{ChunkAlloc: c.alloc, ChunkFree: func([]byte) {}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// TestFreeErrors frees addresses the obstack does not hold and checks each
// error: it matches ErrNotAllocated, says where the address lies, and
// leaves the obstack as it was.
func TestFreeErrors(t *testing.T) {
	o := mustNew(t, obstack.Options{ChunkSize: 4096})
	other := mustNew(t, obstack.Options{})
	first, _ := o.Copy([]byte("first"))
	freed, _ := o.Copy([]byte("freed"))
	if err := o.Free(freed); err != nil {
		t.Fatal(err)
	}
	mid, _ := o.Copy([]byte("mid"))
	tail, _ := o.Alloc(o.Room() - 100) // leave 100 bytes
	lastOfLow, _ := o.Copy(make([]byte, 40))
	_, _ = o.Copy(make([]byte, 200)) // does not fit: a new chunk; lastOfLow ends the lower one
	g1, _ := o.Copy([]byte("g"))
	foreign, _ := other.Copy([]byte("other"))
	var goMem [16]byte
	o.Grow([]byte("growing object"))
	cases := map[string]struct {
		obj  []byte
		want string
	}{
		"Go memory":           {goMem[:], "not in any of the 2 chunks"},
		"another obstack":     {foreign, "not in any of the 2 chunks"},
		"inside growing":      {unsafe.Slice((*byte)(unsafe.Add(o.Base(), 3)), 1), "inside the growing object"},
		"above NextFree":      {unsafe.Slice((*byte)(unsafe.Add(o.NextFree(), 16)), 1), "above the allocated end"},
		"unused tail below":   {unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&lastOfLow[0]), 40+16)), 1), "unused tail of a chunk below"},
		"runs past the end":   {unsafe.Slice(&lastOfLow[0], 60), "runs 20 bytes past the allocated end"},
		"a length of garbage": {unsafe.Slice(&mid[0], 1<<20), "past the allocated end"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := o.Free(c.obj)
			if !errors.Is(err, obstack.ErrNotAllocated) || !strings.Contains(err.Error(), c.want) ||
				!strings.Contains(err.Error(), fmt.Sprintf("%#x", addr(c.obj))) {
				t.Fatalf("Free: %v\nwant ErrNotAllocated naming the address and saying %q", err, c.want)
			}
			if string(first) != "first" || string(mid) != "mid" || string(g1) != "g" || o.ObjectSize() != 14 {
				t.Fatal("a failed Free changed the obstack")
			}
		})
	}
	_ = tail
	// Free of the growing object's base abandons it; the lower chunk's
	// objects stay.
	if err := o.Free(g1); err != nil || o.ObjectSize() != 0 {
		t.Fatalf("Free(g1): %v, ObjectSize %d", err, o.ObjectSize())
	}
	if err := o.Free(mid); err != nil || o.NextFree() != unsafe.Pointer(&mid[0]) {
		t.Fatalf("Free(mid): %v, NextFree %p want %p", err, o.NextFree(), &mid[0])
	}
	if string(first) != "first" {
		t.Fatal("Free(mid) changed an older object")
	}
	if err := obstack.FreeSlice[int32](o, nil); !errors.Is(err, obstack.ErrNotAllocated) || !strings.Contains(err.Error(), "Free(nil)") {
		t.Fatalf("FreeSlice(nil): %v", err)
	}
}

// TestGrowingRefusesAllocation: while an object grows, every allocation
// fails with ErrGrowing and leaves the growing object intact.
func TestGrowingRefusesAllocation(t *testing.T) {
	o := mustNew(t, obstack.Options{})
	if err := o.Grow([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"Alloc":  func() error { _, err := o.Alloc(8); return err },
		"Alloc0": func() error { _, err := o.Alloc(0); return err },
		"Copy":   func() error { _, err := o.Copy([]byte("x")); return err },
		"Copy0":  func() error { _, err := o.Copy0([]byte("x")); return err },
		"Make":   func() error { _, err := obstack.Make[int](o, 2); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			err := op()
			if !errors.Is(err, obstack.ErrGrowing) || !strings.Contains(err.Error(), "call Finish") {
				t.Fatalf("%s while growing: %v, want ErrGrowing", name, err)
			}
			if o.ObjectSize() != 3 {
				t.Fatalf("ObjectSize %d after a refused %s", o.ObjectSize(), name)
			}
		})
	}
	if b := o.Finish(); string(b) != "abc" {
		t.Fatalf("Finish = %q", b)
	}
	if _, err := o.Alloc(8); err != nil {
		t.Fatalf("Alloc after Finish: %v", err)
	}
}

// TestGrowingObjectMoves grows objects past their chunk and checks that
// Base moves, the contents follow, and the old chunk goes back to the
// source when nothing else was in it.
func TestGrowingObjectMoves(t *testing.T) {
	src := newSource(testRand(5))
	o := mustNew(t, src.options(128, 8))
	o.Free(nil) // start without a chunk
	want := []byte{}
	var bases []unsafe.Pointer
	for i := range 5000 {
		if err := o.Byte(byte(i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, byte(i))
		if b := o.Base(); len(bases) == 0 || bases[len(bases)-1] != b {
			bases = append(bases, b)
		}
	}
	if len(bases) < 5 || len(bases) > 40 {
		t.Fatalf("the object moved %d times growing to 5000 bytes in 128-byte chunks", len(bases)-1)
	}
	if len(src.out) != 1 {
		t.Fatalf("%d chunks out: the chunks the object left were not given back", len(src.out))
	}
	g := o.Finish()
	if !bytes.Equal(g, want) || unsafe.Pointer(&g[0]) != bases[len(bases)-1] {
		t.Fatal("the finished object lost its contents or is not at the last Base")
	}
	// With an object below it, the chunk stays when the growing one leaves.
	o.Copy([]byte("stay"))
	o.Room()
	for i := range 5000 {
		o.Byte(byte(i))
	}
	if len(src.out) != 2 {
		t.Fatalf("%d chunks out, want the first and the growing object's", len(src.out))
	}
}

// TestFastVariants checks the fast grows against Room and their panic when
// the room is short.
func TestFastVariants(t *testing.T) {
	o := mustNew(t, obstack.Options{ChunkSize: 4096})
	room := o.Room()
	for range room - 16 {
		o.ByteFast('a')
	}
	o.IntFast(-2)
	o.PtrFast(0xdeadbeef)
	if o.ObjectSize() != room || o.Room() != 0 {
		t.Fatalf("ObjectSize %d Room %d, want %d and 0", o.ObjectSize(), o.Room(), room)
	}
	o.BlankFast(-8)
	o.BlankFast(0)
	if o.ObjectSize() != room-8 {
		t.Fatalf("ObjectSize %d after BlankFast(-8)", o.ObjectSize())
	}
	o.BlankFast(8)
	cases := map[string]func(){
		"ByteFast":      func() { o.ByteFast('x') },
		"IntFast":       func() { o.IntFast(1) },
		"PtrFast":       func() { o.PtrFast(1) },
		"BlankFast":     func() { o.BlankFast(1) },
		"BlankFast-all": func() { o.BlankFast(-room - 1) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, "Room() too small") {
					t.Fatalf("recovered %v, want the fast-grow panic", r)
				}
				if o.ObjectSize() != room {
					t.Fatalf("the panic changed the object: size %d", o.ObjectSize())
				}
			}()
			f()
		})
	}
	b := o.Finish()
	if n := len(b); n != room || b[0] != 'a' || b[n-17] != 'a' ||
		*(*int)(unsafe.Pointer(&b[n-16])) != -2 || *(*uintptr)(unsafe.Pointer(&b[n-8])) != 0xdeadbeef {
		t.Fatalf("object of %d bytes ends %x", len(b), b[len(b)-17:])
	}
	// The slow forms grow the chunk instead.
	o.Byte('x')
	if o.ObjectSize() != 1 {
		t.Fatal("Byte with no room did not start an object in a new chunk")
	}
}

func TestGrowForms(t *testing.T) {
	o := mustNew(t, obstack.Options{})
	o.Grow([]byte("ab"))
	o.Grow0([]byte("cd"))
	o.Byte('e')
	// Words of distinct bytes, cut to the width of int and uintptr.
	iw, pw := uint64(0x0102030405060708), uint64(0x1112131415161718)
	o.Int(int(iw))
	o.Ptr(uintptr(pw))
	o.Blank(2)
	o.Blank(-1)
	want := append([]byte("abcd\x00e"), wordBytes(iw, obstack.IntSize)...)
	want = append(want, wordBytes(pw, obstack.PtrSize)...)
	got := o.Finish()
	if len(got) != len(want)+1 || !bytes.Equal(got[:len(want)], want) {
		t.Fatalf("object %x, want %x and one blank byte", got, want)
	}
	if err := o.Blank(-1); !errors.Is(err, obstack.ErrSize) || o.ObjectSize() != 0 {
		t.Fatalf("Blank(-1) with no object: %v, ObjectSize %d", err, o.ObjectSize())
	}
	o.Blank(1)
	if err := o.Blank(-2); !errors.Is(err, obstack.ErrSize) || o.ObjectSize() != 1 {
		t.Fatalf("shrinking below empty: %v, ObjectSize %d", err, o.ObjectSize())
	}
	if e := o.Finish(); len(e) != 1 {
		t.Fatal(len(e))
	}
	if e := o.Finish(); e == nil || len(e) != 0 {
		t.Fatal("Finish with nothing growing did not return an empty object")
	}
}

type node struct {
	Next  int32 // an index, not a pointer
	Value [2]float64
}

type bad struct {
	ID    int
	Items [2]struct {
		Name string
	}
}

func TestMake(t *testing.T) {
	o := mustNew(t, obstack.Options{Alignment: 1})
	o.Alloc(3) // make the next address odd
	nodes, err := obstack.Make[node](o, 10)
	if err != nil || len(nodes) != 10 || cap(nodes) != 10 {
		t.Fatalf("Make[node]: len %d, %v", len(nodes), err)
	}
	if uintptr(unsafe.Pointer(&nodes[0]))%8 != 0 {
		t.Fatalf("nodes at %p, not aligned for float64", &nodes[0])
	}
	nodes[9].Value[1] = 2.5
	more, _ := obstack.Make[struct{}](o, 1000)
	if len(more) != 1000 {
		t.Fatal(len(more))
	}
	if err := obstack.FreeSlice(o, nodes); err != nil || nodes[9].Value[1] != 2.5 && false {
		t.Fatalf("FreeSlice: %v", err)
	}
	if o.NextFree() != unsafe.Pointer(&nodes[0]) {
		t.Fatal("FreeSlice did not free back to the slice")
	}
	again, _ := obstack.Make[node](o, 10)
	if again[9] != (node{}) {
		t.Fatal("Make returned values that are not zero")
	}
	if _, err := obstack.Make[node](o, -1); !errors.Is(err, obstack.ErrSize) {
		t.Fatalf("Make(-1): %v", err)
	}
	if _, err := obstack.Make[[1 << 20]byte](o, math.MaxInt>>10); !errors.Is(err, obstack.ErrSize) {
		t.Fatalf("Make of 2^60 bytes: %v", err)
	}
}

func TestMakeRejectsPointers(t *testing.T) {
	check := func(name string, err error, want string) {
		t.Helper()
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			return
		}
		if !errors.Is(err, obstack.ErrPointers) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v\nwant ErrPointers saying %q", name, err, want)
		}
	}
	o := mustNew(t, obstack.Options{})
	mk := func(f func() error) error { return f() }
	check("*int", mk(func() error { _, err := obstack.Make[*int](o, 1); return err }), "holds a Go pointer (*int)")
	check("string", mk(func() error { _, err := obstack.Make[string](o, 1); return err }), "(string)")
	check("[]byte", mk(func() error { _, err := obstack.Make[[]byte](o, 1); return err }), "([]uint8)")
	check("map", mk(func() error { _, err := obstack.Make[map[int]int](o, 1); return err }), "(map[int]int)")
	check("chan", mk(func() error { _, err := obstack.Make[chan int](o, 1); return err }), "(chan int)")
	check("func", mk(func() error { _, err := obstack.Make[func()](o, 1); return err }), "(func())")
	check("any", mk(func() error { _, err := obstack.Make[any](o, 1); return err }), "(interface {})")
	check("unsafe.Pointer", mk(func() error { _, err := obstack.Make[unsafe.Pointer](o, 1); return err }), "(unsafe.Pointer)")
	check("nested", mk(func() error { _, err := obstack.Make[bad](o, 1); return err }), "(string in field Items, array element, field Name)")
	check("error", mk(func() error { _, err := obstack.Make[error](o, 1); return err }), "(error)")
	check("FreeSlice", obstack.FreeSlice(o, []*int{nil}), "(*int)")
	check("int", mk(func() error { _, err := obstack.Make[int](o, 1); return err }), "")
	check("node", mk(func() error { _, err := obstack.Make[node](o, 1); return err }), "")
	check("[0]*int", mk(func() error { _, err := obstack.Make[[0]*int](o, 1); return err }), "")
	check("complex128", mk(func() error { _, err := obstack.Make[complex128](o, 1); return err }), "")
	check("uintptr", mk(func() error { _, err := obstack.Make[uintptr](o, 1); return err }), "")
	// The check is cached: asking again gives the same answer.
	_, e1 := obstack.Make[bad](o, 1)
	_, e2 := obstack.Make[bad](o, 1)
	if e1 == nil || e1.Error() != e2.Error() {
		t.Fatalf("second check of bad: %v vs %v", e1, e2)
	}
}

// TestAllocsOnHotPath: Copy, Alloc, the fast grows and the writers
// allocate nothing on the Go heap.
func TestAllocsOnHotPath(t *testing.T) {
	o := mustNew(t, obstack.Options{})
	buf := make([]byte, 64)
	n := testing.AllocsPerRun(1000, func() {
		if o.Room() < 300 {
			o.Free(nil)
		}
		o.Copy(buf[:20])
		o.Copy(buf[:20:20])
		o.Alloc(30)
		o.ByteFast(1)
		o.IntFast(2)
		o.Finish()
		o.Write(buf[:20])
		o.WriteString("twenty bytes, twenty")
		o.WriteByte('b')
		o.Printf("%s=%d", "small", 7) // constants and small ints box without allocating
		o.Finish()
	})
	if n != 0 {
		t.Fatalf("%v Go heap allocations per run", n)
	}
}

// TestBigObjectOwnChunk: an object larger than a chunk gets a chunk of its
// own, sized for it, and the objects after it go on in ordinary chunks.
func TestBigObjectOwnChunk(t *testing.T) {
	var asked []int
	o := mustNew(t, obstack.Options{
		ChunkAlloc: func(n int) ([]byte, error) { asked = append(asked, n); return make([]byte, n), nil },
		ChunkFree:  func([]byte) {},
	})
	small, _ := o.Copy([]byte("small"))
	big, err := o.Alloc(10000)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := o.Copy(make([]byte, 40))
	if len(asked) != 3 || asked[0] != 4096 || asked[1] < 10000 || asked[1] > 10000+64 || asked[2] != 4096 {
		t.Fatalf("chunk sizes asked: %v, want 4096, about 10000, 4096", asked)
	}
	if d := addr(big) - addr(small); d < 4096 && d > 0 {
		t.Fatal("the big object shares the first chunk")
	}
	if err := o.Free(big); err != nil || string(small) != "small" || o.Stats().Chunks != 2 {
		t.Fatalf("Free(big): %v; %+v", err, o.Stats())
	}
	_ = after
}

// The obstack is an io.Writer, io.StringWriter and io.ByteWriter on its
// growing object, and Printf is GNU's obstack_printf: text from fmt, io.Copy
// and a bufio.Writer ends up in one object, in order, across chunk moves.
func TestWriter(t *testing.T) {
	var (
		_ io.Writer       = (*obstack.Obstack)(nil)
		_ io.StringWriter = (*obstack.Obstack)(nil)
		_ io.ByteWriter   = (*obstack.Obstack)(nil)
	)
	o := mustNew(t, obstack.Options{ChunkSize: 64}) // small: the object moves
	keep, _ := o.Copy([]byte("kept"))
	var want strings.Builder
	n, err := fmt.Fprintf(o, "%s=%d;", "x", 42)
	fmt.Fprintf(&want, "%s=%d;", "x", 42)
	if err != nil || n != 5 || o.ObjectSize() != 5 {
		t.Fatalf("Fprintf: %d, %v, ObjectSize %d", n, err, o.ObjectSize())
	}
	for i := range 20 {
		k, err := o.Printf("[%03d %q]", i, "s")
		w, _ := fmt.Fprintf(&want, "[%03d %q]", i, "s")
		if err != nil || k != w {
			t.Fatalf("Printf: %d, %v; want %d", k, err, w)
		}
	}
	if k, err := o.WriteString(" tail "); err != nil || k != 6 {
		t.Fatalf("WriteString: %d, %v", k, err)
	}
	want.WriteString(" tail ")
	if err := o.WriteByte('!'); err != nil {
		t.Fatal(err)
	}
	want.WriteByte('!')
	if k, err := io.Copy(o, strings.NewReader(strings.Repeat("r", 300))); err != nil || k != 300 {
		t.Fatalf("io.Copy: %d, %v", k, err)
	}
	want.WriteString(strings.Repeat("r", 300))
	// Write of a piece of the growing object itself, which moves it.
	self := unsafe.Slice((*byte)(o.Base()), o.ObjectSize())[:10]
	if k, err := o.Write(self); err != nil || k != 10 {
		t.Fatalf("Write(self): %d, %v", k, err)
	}
	want.WriteString(want.String()[:10])
	got := o.Finish()
	if string(got) != want.String() || string(keep) != "kept" {
		t.Fatalf("object %q\nwant   %q", got, want.String())
	}
	// Write starts an object when none grows; Finish makes it an object.
	o.Write([]byte("ab"))
	o.WriteString("cd")
	if got := o.Finish(); string(got) != "abcd" {
		t.Fatalf("second object %q", got)
	}
}

// A Write the chunk source cannot serve returns 0 and the error, as
// io.Writer asks, and leaves the growing object as it was.
func TestWriterSourceFails(t *testing.T) {
	fail := false
	o := mustNew(t, obstack.Options{
		ChunkSize: 64,
		ChunkAlloc: func(n int) ([]byte, error) {
			if fail {
				return nil, errSourceDown
			}
			return make([]byte, n), nil
		},
		ChunkFree: func([]byte) {},
	})
	o.WriteString("start")
	fail = true
	for name, f := range map[string]func() (int, error){
		"Write":       func() (int, error) { return o.Write(make([]byte, 100)) },
		"WriteString": func() (int, error) { return o.WriteString(strings.Repeat("s", 100)) },
		"Printf":      func() (int, error) { return o.Printf("%100s", "p") },
		"WriteByte": func() (int, error) {
			room := o.Room()
			o.BlankFast(room) // fill the chunk, so that the byte needs a new one
			err := o.WriteByte('b')
			o.BlankFast(-room)
			return 0, err
		},
	} {
		n, err := f()
		if n != 0 || !errors.Is(err, errSourceDown) || o.ObjectSize() != 5 {
			t.Errorf("%s with the source down: %d, %v, object of %d bytes", name, n, err, o.ObjectSize())
		}
	}
	if got := string(o.Finish()); got != "start" {
		t.Fatalf("object %q after failed writes", got)
	}
}

// MakeRoom is GNU's obstack_make_room: afterwards Room() >= n, the fast
// grows fit without a panic, and the object's size is unchanged.
func TestMakeRoom(t *testing.T) {
	o := mustNew(t, obstack.Options{ChunkSize: 128})
	o.Grow([]byte("0123456789"))
	base := o.Base()
	if err := o.MakeRoom(10); err != nil || o.Base() != base {
		t.Fatalf("MakeRoom(10) with room: %v; the object moved: %v", err, o.Base() != base)
	}
	if err := o.MakeRoom(1000); err != nil || o.Room() < 1000 || o.ObjectSize() != 10 {
		t.Fatalf("MakeRoom(1000): %v, Room %d, ObjectSize %d", err, o.Room(), o.ObjectSize())
	}
	for i := range 1000 {
		o.ByteFast(byte('a' + i%26))
	}
	b := o.Finish()
	if len(b) != 1010 || string(b[:12]) != "0123456789ab" || b[1009] != byte('a'+999%26) {
		t.Fatalf("object of %d bytes: %q...", len(b), b[:12])
	}
	// With nothing growing, MakeRoom starts no object; the next one fits.
	if err := o.MakeRoom(500); err != nil || o.Room() < 500 || o.ObjectSize() != 0 {
		t.Fatalf("MakeRoom(500), nothing growing: %v, Room %d, ObjectSize %d", err, o.Room(), o.ObjectSize())
	}
	if _, err := o.Alloc(1); err != nil {
		t.Fatalf("Alloc after MakeRoom: %v (an object was left growing?)", err)
	}
	next := o.NextFree()
	o.BlankFast(400)
	if o.Base() != next {
		t.Fatal("the object did not start where MakeRoom made room")
	}
	o.Finish()
	for _, n := range []int{-1, math.MaxInt} {
		if err := o.MakeRoom(n); !errors.Is(err, obstack.ErrSize) {
			t.Errorf("MakeRoom(%d): %v, want ErrSize", n, err)
		}
	}
	// With no chunk at all: MakeRoom(0) takes none, MakeRoom(1) takes one.
	o.Free(nil)
	if err := o.MakeRoom(0); err != nil || o.Stats().Chunks != 0 {
		t.Fatalf("MakeRoom(0) with no chunk: %v, %d chunks", err, o.Stats().Chunks)
	}
	if err := o.MakeRoom(1); err != nil || o.Room() < 1 {
		t.Fatalf("MakeRoom(1) with no chunk: %v, Room %d", err, o.Room())
	}
	o.ByteFast('z')
	if b := o.Finish(); string(b) != "z" {
		t.Fatalf("object %q", b)
	}
}

// Empty is GNU's obstack_empty_p: no object holds a byte. Marks (empty
// objects) and an empty growing object leave it empty.
func TestEmpty(t *testing.T) {
	o := mustNew(t, obstack.Options{ChunkSize: 64})
	check := func(step string, want bool) {
		t.Helper()
		if got := o.Empty(); got != want {
			t.Fatalf("after %s: Empty() = %v, want %v", step, got, want)
		}
	}
	check("New", true)
	mark, _ := o.Alloc(0)
	check("Alloc(0)", true)
	a, _ := o.Copy([]byte("a"))
	check("Copy", false)
	o.Free(a)
	check("Free of the only object", true)
	o.Blank(0)
	check("Blank(0)", true)
	o.Byte('x')
	check("Byte", false)
	o.Blank(-1)
	check("Blank(-1) back to empty", true)
	o.Finish()
	check("Finish of an empty object", true)
	o.SetAlignmentMask(255) // objects start on 256 bytes now
	o.Alloc(0)
	check("Alloc(0) at a new alignment", true)
	big, _ := o.Alloc(1000) // a chunk of its own
	check("Alloc(1000)", false)
	o.Free(big)
	check("Free(big)", true)
	o.SetAlignmentMask(0)
	for range 50 { // several chunks
		o.Copy([]byte("0123456789"))
	}
	check("50 objects", false)
	o.Free(mark)
	check("Free(mark)", true)
	o.Printf("%d", 1)
	check("Printf", false)
	o.Free(nil)
	check("Free(nil)", true)
	o.Grow([]byte("y"))
	o.Release()
	check("Release", true)
}

// TestPanicOnAllocFailedLeavesNoObject: OnAllocFailed may panic (GNU's
// handler exits or longjmps), and so may ChunkAlloc. A grow that starts an
// object in a chunk with too little room for it, and then cannot get a new
// chunk, must leave the obstack as it was once the panic is recovered: no
// object growing, so that the next allocation works.
func TestPanicOnAllocFailedLeavesNoObject(t *testing.T) {
	for _, how := range []string{"OnAllocFailed", "ChunkAlloc"} {
		for _, op := range []string{"Grow", "Write", "Blank", "Int", "Printf"} {
			t.Run(how+"/"+op, func(t *testing.T) {
				fail := false
				opts := obstack.Options{
					ChunkSize: 256,
					Alignment: 1,
					ChunkAlloc: func(n int) ([]byte, error) {
						if fail {
							if how == "ChunkAlloc" {
								panic("source down")
							}
							return nil, errSourceDown
						}
						return make([]byte, n), nil
					},
					ChunkFree: func([]byte) {},
				}
				if how == "OnAllocFailed" {
					opts.OnAllocFailed = func(err error) { panic(err) }
				}
				o := mustNew(t, opts)
				if _, err := o.Alloc(o.Room() - 4); err != nil { // 4 bytes of room left
					t.Fatal(err)
				}
				fail = true
				func() {
					defer func() {
						if recover() == nil {
							t.Fatal("no panic")
						}
					}()
					big := make([]byte, 100)
					switch op {
					case "Grow":
						o.Grow(big)
					case "Write":
						o.Write(big)
					case "Blank":
						o.Blank(100)
					case "Int":
						o.Int(1)
					case "Printf":
						o.Printf("%s", big)
					}
				}()
				fail = false
				if n := o.ObjectSize(); n != 0 {
					t.Fatalf("after the panic an object of %d bytes grows", n)
				}
				if b, err := o.Copy([]byte("after")); err != nil || string(b) != "after" {
					t.Fatalf("Copy after the recovered panic: %q, %v", b, err)
				}
			})
		}
	}
}

// TestPanicInChunkFree: a ChunkFree that panics, once recovered, must not
// leave the obstack pointing into the chunk it was giving back: later
// objects would be written into memory the source owns again. Each way a
// chunk goes back is tried: Free to a lower chunk, Free(nil), and a new
// chunk that replaces one holding only the growing object.
func TestPanicInChunkFree(t *testing.T) {
	for _, how := range []string{"Free", "Free(nil)", "grow"} {
		t.Run(how, func(t *testing.T) {
			var freed [][]byte
			panicking := false
			o := mustNew(t, obstack.Options{
				ChunkSize:  64,
				ChunkAlloc: func(n int) ([]byte, error) { return make([]byte, n), nil },
				ChunkFree: func(c []byte) {
					for i := range c {
						c[i] = 0xf0
					}
					freed = append(freed, c)
					if panicking {
						panicking = false
						panic("ChunkFree failed")
					}
				},
			})
			mark, _ := o.Alloc(0)
			for range 3 { // fill the first chunk, then open a second
				o.Copy(bytes.Repeat([]byte{1}, 24))
			}
			panicking = true
			func() {
				defer func() { recover() }()
				switch how {
				case "Free":
					o.Free(mark)
				case "Free(nil)":
					o.Free(nil)
				case "grow":
					o.Grow(make([]byte, 40))  // an object alone in a third chunk,
					o.Grow(make([]byte, 200)) // which moves to a fourth
				}
			}()
			if panicking {
				t.Fatal("ChunkFree was not called")
			}
			if o.ObjectSize() > 0 { // the move happened, the 200 bytes did not
				b := o.Finish()
				for i := range b {
					b[i] = 0x11
				}
			}
			var objs [][]byte
			for i := range 40 {
				b, err := o.Copy(bytes.Repeat([]byte{byte(i)}, 1+i%30))
				if err != nil {
					t.Fatal(err)
				}
				objs = append(objs, b)
			}
			for _, c := range freed {
				for i, v := range c {
					if v != 0xf0 {
						t.Fatalf("byte %d of a chunk given back to the source was written after ChunkFree", i)
					}
				}
			}
			for i, b := range objs {
				if !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, 1+i%30)) {
					t.Fatalf("object %d changed: %x", i, b)
				}
			}
		})
	}
}

// TestSourceReturnsChunkInUse: a ChunkAlloc that returns memory the obstack
// already holds (here the same buffer every time) is refused with
// ErrChunkSource, not used: objects in it would overwrite each other.
func TestSourceReturnsChunkInUse(t *testing.T) {
	buf := make([]byte, 4096)
	var freed int
	o := mustNew(t, obstack.Options{
		ChunkSize:  128,
		ChunkAlloc: func(n int) ([]byte, error) { return buf[:n], nil },
		ChunkFree:  func([]byte) { freed++ },
	})
	a, err := o.Copy(bytes.Repeat([]byte{'a'}, 100))
	if err != nil {
		t.Fatal(err)
	}
	b, err := o.Copy(bytes.Repeat([]byte{'b'}, 100)) // needs a second chunk
	if !errors.Is(err, obstack.ErrChunkSource) || !strings.Contains(fmt.Sprint(err), "overlaps") {
		t.Fatalf("second chunk from the same buffer: %v, want ErrChunkSource", err)
	}
	if b != nil || !bytes.Equal(a, bytes.Repeat([]byte{'a'}, 100)) {
		t.Fatalf("the first object changed: %q", a)
	}
	if freed != 0 {
		t.Fatalf("ChunkFree called %d times with memory in use", freed)
	}
	t.Log(err)
}

// The zero Obstack is documented as unusable; using it must say so, not
// crash on a nil chunk source.
func TestZeroObstack(t *testing.T) {
	var o obstack.Obstack
	if _, err := o.Alloc(10); err == nil || !strings.Contains(err.Error(), "New") {
		t.Fatalf("Alloc on the zero Obstack: %v, want an error that says to call New", err)
	}
	if err := o.Grow([]byte("x")); err == nil {
		t.Fatal("Grow on the zero Obstack succeeded")
	}
	if o.ObjectSize() != 0 {
		t.Fatal("a failed Grow left an object")
	}
	if err := o.MakeRoom(10); err == nil {
		t.Fatal("MakeRoom on the zero Obstack succeeded")
	}
	_ = o.Stats()
	o.Release()
}
