package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/vmkit/vmkit/malloc"
)

func work(n int) {
	c := malloc.NewCache()
	defer c.Close()
	x := uint32(2463534242)
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b, _ := c.Malloc(16 + int(x%1009))
		b[0] = 1
		c.Free(b)
	}
}

func main() {
	const n = 20000000
	for r := 0; r < 3; r++ {
		t0 := time.Now()
		work(n)
		one := time.Since(t0)
		t0 = time.Now()
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); work(n) }()
		}
		wg.Wait()
		two := time.Since(t0)
		fmt.Printf("independent pairs: 1 goroutine %v, 2 goroutines (2x work) %v: scaling %.2fx\n", one, two, 2*one.Seconds()/two.Seconds())
	}
}
