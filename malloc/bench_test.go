package malloc_test

import (
	"testing"

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
