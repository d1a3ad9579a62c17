package obstack_test

import (
	"math/rand/v2"
	"testing"

	"github.com/vmkit/vmkit/obstack"
)

// sizes is the benchmark workload of bench/obstack: objects of 8 to 64 bytes.
var sizes = func() []int {
	r := rand.New(rand.NewPCG(1, 2))
	s := make([]int, 1<<16)
	for i := range s {
		s[i] = 8 + r.IntN(57)
	}
	return s
}()

var src [64]byte

func newBench(b *testing.B) *obstack.Obstack {
	o, err := obstack.New(obstack.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(o.Release)
	return o
}

// BenchmarkCopy is the hot path: Copy of 8 to 64 bytes, freeing back to a
// mark every 100,000 objects, as bench/obstack does.
func BenchmarkCopy(b *testing.B) {
	o := newBench(b)
	mark, _ := o.Alloc(0)
	b.ReportAllocs()
	b.SetBytes(36)
	i := 0
	for b.Loop() {
		if _, err := o.Copy(src[:sizes[i&(len(sizes)-1)]]); err != nil {
			b.Fatal(err)
		}
		i++
		if i%100000 == 0 {
			if err := o.Free(mark); err != nil {
				b.Fatal(err)
			}
			mark, _ = o.Alloc(0)
		}
	}
}

// BenchmarkCopyClipped is BenchmarkCopy with source slices whose capacity
// is their length, so that Copy cannot move a whole 64-byte block.
func BenchmarkCopyClipped(b *testing.B) {
	var clipped [65][]byte
	for n := range clipped {
		clipped[n] = make([]byte, n)
	}
	o := newBench(b)
	mark, _ := o.Alloc(0)
	b.ReportAllocs()
	b.SetBytes(36)
	i := 0
	for b.Loop() {
		if _, err := o.Copy(clipped[sizes[i&(len(sizes)-1)]]); err != nil {
			b.Fatal(err)
		}
		i++
		if i%100000 == 0 {
			if err := o.Free(mark); err != nil {
				b.Fatal(err)
			}
			mark, _ = o.Alloc(0)
		}
	}
}

// BenchmarkCopy32 copies 32 bytes at a time: the fast path alone, almost
// never a new chunk.
func BenchmarkCopy32(b *testing.B) {
	o := newBench(b)
	mark, _ := o.Alloc(0)
	b.ReportAllocs()
	b.SetBytes(32)
	i := 0
	for b.Loop() {
		o.Copy(src[:32])
		if i++; i == 100 {
			o.Free(mark)
			mark, _ = o.Alloc(0)
			i = 0
		}
	}
}

// BenchmarkByteFast grows an object byte by byte with the checked fast
// variant, as the package example add_string does.
func BenchmarkByteFast(b *testing.B) {
	o := newBench(b)
	b.ReportAllocs()
	b.SetBytes(1)
	for b.Loop() {
		if o.Room() == 0 {
			o.Free(o.Finish())
		}
		o.ByteFast('x')
	}
}

// BenchmarkByte grows an object byte by byte with Byte.
func BenchmarkByte(b *testing.B) {
	o := newBench(b)
	b.ReportAllocs()
	b.SetBytes(1)
	for b.Loop() {
		if o.ObjectSize() == 1000 {
			o.Free(o.Finish())
		}
		o.Byte('x')
	}
}

type point struct{ X, Y, Z float64 }

// BenchmarkMake allocates a typed slice of 4 points.
func BenchmarkMake(b *testing.B) {
	o := newBench(b)
	mark, _ := o.Alloc(0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := obstack.Make[point](o, 4); err != nil {
			b.Fatal(err)
		}
		if i++; i == 1000 {
			o.Free(mark)
			mark, _ = o.Alloc(0)
			i = 0
		}
	}
}

// BenchmarkWrite is the io.Writer path: Write of 8 to 64 bytes to the
// growing object, finished and freed every 1,000 writes.
func BenchmarkWrite(b *testing.B) {
	o := newBench(b)
	b.ReportAllocs()
	b.SetBytes(36)
	i := 0
	for b.Loop() {
		if _, err := o.Write(src[:sizes[i&(len(sizes)-1)]]); err != nil {
			b.Fatal(err)
		}
		i++
		if i%1000 == 0 {
			if err := o.Free(o.Finish()); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPrintf is obstack_printf: a short formatted token per call,
// finished and freed every 1,000 calls.
func BenchmarkPrintf(b *testing.B) {
	o := newBench(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := o.Printf("t%d:%s;", i&127, "id"); err != nil {
			b.Fatal(err)
		}
		i++
		if i%1000 == 0 {
			if err := o.Free(o.Finish()); err != nil {
				b.Fatal(err)
			}
		}
	}
}
