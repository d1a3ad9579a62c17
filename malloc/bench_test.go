package malloc_test

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/vmkit/vmkit/malloc"
)

// sizes is the fixed xorshift sequence of workload (a): sizes in [16, 1024].
func sizes(n int) []int {
	out := make([]int, n)
	x := uint32(2463534242)
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = 16 + int(x%1009)
	}
	return out
}

func BenchmarkCachePairs(b *testing.B) {
	c := malloc.NewCache()
	defer c.Close()
	sz := sizes(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := c.Malloc(sz[i&4095])
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Free(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeapPairs(b *testing.B) {
	sz := sizes(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := malloc.Malloc(sz[i&4095])
		if err != nil {
			b.Fatal(err)
		}
		if err := malloc.Free(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheRing(b *testing.B) {
	c := malloc.NewCache()
	defer c.Close()
	sz := sizes(4096)
	var ring [1000][]byte
	for i := range ring {
		ring[i], _ = c.Malloc(sz[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	j := 0
	for i := 0; i < b.N; i++ {
		if err := c.Free(ring[j]); err != nil {
			b.Fatal(err)
		}
		p, err := c.Malloc(sz[i&4095])
		if err != nil {
			b.Fatal(err)
		}
		ring[j] = p
		j++
		if j == len(ring) {
			j = 0
		}
	}
	b.StopTimer()
	for _, p := range ring {
		c.Free(p)
	}
}

func BenchmarkHeapRing(b *testing.B) {
	sz := sizes(4096)
	var ring [1000][]byte
	for i := range ring {
		ring[i], _ = malloc.Malloc(sz[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	j := 0
	for i := 0; i < b.N; i++ {
		if err := malloc.Free(ring[j]); err != nil {
			b.Fatal(err)
		}
		p, err := malloc.Malloc(sz[i&4095])
		if err != nil {
			b.Fatal(err)
		}
		ring[j] = p
		j++
		if j == len(ring) {
			j = 0
		}
	}
	b.StopTimer()
	for _, p := range ring {
		malloc.Free(p)
	}
}

func benchRealloc(b *testing.B, realloc func([]byte, int) ([]byte, error), mallocf func(int) ([]byte, error), free func([]byte) error) {
	b.ReportAllocs()
	ops := 0
	for ops < b.N {
		size := 16
		v, err := mallocf(size)
		if err != nil {
			b.Fatal(err)
		}
		for size < 1<<20 {
			size += size/4 + 16
			v, err = realloc(v, size)
			if err != nil {
				b.Fatal(err)
			}
			v[size-1] = 1
			ops++
		}
		free(v)
	}
}

func BenchmarkCacheRealloc(b *testing.B) {
	c := malloc.NewCache()
	defer c.Close()
	benchRealloc(b, c.Realloc, c.Malloc, c.Free)
}

func BenchmarkHeapRealloc(b *testing.B) {
	benchRealloc(b, malloc.Realloc, malloc.Malloc, malloc.Free)
}

// BenchmarkBurst allocates 100,000 blocks in a row, then frees them: the
// refill batches grow while a class grows.
func BenchmarkBurst(b *testing.B) {
	c := malloc.NewCache()
	defer c.Close()
	bs := make([][]byte, 100000)
	b.ResetTimer()
	for i := 0; i < b.N; {
		for j := range bs {
			bs[j], _ = c.Malloc(64)
		}
		for j := range bs {
			c.Free(bs[j])
		}
		i += len(bs)
	}
}

// midSizes are mid-size requests (above MaxSmall, below the default mmap
// threshold), as a database's pages and a server's buffers are.
var midSizes = []int{16385, 24576, 32768, 65536, 100000}

// BenchmarkMidPairs is workload (a) for mid-size blocks: malloc then free
// of one size.
func BenchmarkMidPairs(b *testing.B) {
	for _, front := range []string{"cache", "heap"} {
		for _, size := range midSizes {
			b.Run(fmt.Sprintf("%s/%d", front, size), func(b *testing.B) {
				mallocf, free, done := frontEnd(front)
				defer done()
				for i := 0; i < b.N; i++ {
					p, err := mallocf(size)
					if err != nil {
						b.Fatal(err)
					}
					p[0] = byte(i)
					if err := free(p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMidRing is workload (b) for mid-size blocks: a ring of 64 live
// blocks of 16 to 128 KiB, free the oldest and allocate a new one.
func BenchmarkMidRing(b *testing.B) {
	for _, front := range []string{"cache", "heap"} {
		b.Run(front, func(b *testing.B) {
			mallocf, free, done := frontEnd(front)
			defer done()
			var ring [64][]byte
			x := uint32(2463534242)
			next := func() int {
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				return 16384 + int(x%(131072-16384))
			}
			for j := range ring {
				ring[j], _ = mallocf(next())
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i & 63
				if err := free(ring[j]); err != nil {
					b.Fatal(err)
				}
				p, err := mallocf(next())
				if err != nil {
					b.Fatal(err)
				}
				p[0] = 1
				ring[j] = p
			}
			b.StopTimer()
			for _, p := range ring {
				free(p)
			}
		})
	}
}

// frontEnd returns Malloc and Free of a new Cache ("cache") or of the
// package ("heap"), and what to call when done.
func frontEnd(front string) (func(int) ([]byte, error), func([]byte) error, func()) {
	if front == "cache" {
		c := malloc.NewCache()
		return c.Malloc, c.Free, func() { c.Close() }
	}
	return malloc.Malloc, malloc.Free, func() {}
}

// The pointer API (UnsafeMalloc, UnsafeFree) on workloads (a) and (b),
// called directly (a func value would add an indirect call per operation).
func BenchmarkCacheUnsafePairs(b *testing.B) {
	c := malloc.NewCache()
	defer c.Close()
	sz := sizes(4096)
	for i := 0; i < b.N; i++ {
		p, err := c.UnsafeMalloc(sz[i&4095])
		if err != nil {
			b.Fatal(err)
		}
		*(*byte)(p) = byte(i)
		if err := c.UnsafeFree(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeapUnsafePairs(b *testing.B) {
	sz := sizes(4096)
	for i := 0; i < b.N; i++ {
		p, err := malloc.UnsafeMalloc(sz[i&4095])
		if err != nil {
			b.Fatal(err)
		}
		*(*byte)(p) = byte(i)
		if err := malloc.UnsafeFree(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheUnsafeRing(b *testing.B) {
	c := malloc.NewCache()
	defer c.Close()
	sz := sizes(4096)
	var ring [1000]unsafe.Pointer
	for i := range ring {
		ring[i], _ = c.UnsafeMalloc(sz[i])
	}
	b.ResetTimer()
	j := 0
	for i := 0; i < b.N; i++ {
		if err := c.UnsafeFree(ring[j]); err != nil {
			b.Fatal(err)
		}
		p, err := c.UnsafeMalloc(sz[i&4095])
		if err != nil {
			b.Fatal(err)
		}
		ring[j] = p
		if j++; j == len(ring) {
			j = 0
		}
	}
	b.StopTimer()
	for _, p := range ring {
		c.UnsafeFree(p)
	}
}

func BenchmarkHeapUnsafeRing(b *testing.B) {
	sz := sizes(4096)
	var ring [1000]unsafe.Pointer
	for i := range ring {
		ring[i], _ = malloc.UnsafeMalloc(sz[i])
	}
	b.ResetTimer()
	j := 0
	for i := 0; i < b.N; i++ {
		if err := malloc.UnsafeFree(ring[j]); err != nil {
			b.Fatal(err)
		}
		p, err := malloc.UnsafeMalloc(sz[i&4095])
		if err != nil {
			b.Fatal(err)
		}
		ring[j] = p
		if j++; j == len(ring) {
			j = 0
		}
	}
	b.StopTimer()
	for _, p := range ring {
		malloc.UnsafeFree(p)
	}
}
