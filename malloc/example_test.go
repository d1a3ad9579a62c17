package malloc_test

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"sync"
	"unsafe"

	"github.com/vmkit/vmkit/malloc"
)

// Memory from the package-level functions lives outside the Go heap: the
// garbage collector neither scans nor frees it, and Free gives it back.
// Misuse is an error, not corruption.
func Example() {
	b, err := malloc.Malloc(100)
	if err != nil {
		panic(err)
	}
	copy(b, "off the Go heap")
	fmt.Println(len(b), malloc.UsableSize(b), string(b[:15]))
	if err := malloc.Free(b); err != nil {
		panic(err)
	}
	err = malloc.Free(b)
	fmt.Println(errors.Is(err, malloc.ErrDoubleFree))
	// Output:
	// 100 112 off the Go heap
	// true
}

// A Cache is the fast path for one goroutine at a time. A block may be
// freed through any Cache of the same heap: here a consumer frees what a
// producer allocated.
func ExampleCache() {
	h, err := malloc.NewHeap(malloc.Options{})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	blocks := make(chan []byte, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the consumer
		defer wg.Done()
		c := h.NewCache()
		defer c.Close()
		for b := range blocks {
			if err := c.Free(b); err != nil {
				panic(err)
			}
		}
	}()
	c := h.NewCache() // the producer's
	for i := range 1000 {
		b, err := c.Malloc(64 + i%200)
		if err != nil {
			panic(err)
		}
		b[0] = byte(i)
		blocks <- b
	}
	close(blocks)
	wg.Wait()
	c.Close()
	fmt.Println(h.Info().Uordblks, h.Check())
	// Output: 0 <nil>
}

// The typed API allocates values and slices of pointer-free types; it
// refuses a type that holds Go pointers, which the collector would not see.
func ExampleMakeSlice() {
	type point struct{ X, Y float64 }
	pts, err := malloc.MakeSlice[point](3, 1000)
	if err != nil {
		panic(err)
	}
	pts[2] = point{1, 2}
	fmt.Println(len(pts), cap(pts), pts[2])
	if err := malloc.FreeSlice(pts); err != nil {
		panic(err)
	}

	type node struct{ Next *node }
	_, err = malloc.New[node]()
	fmt.Println(errors.Is(err, malloc.ErrPointerType))
	// Output:
	// 3 1000 {1 2}
	// true
}

// With guard bytes on, Probe reports a write one byte past the end of a
// block, as glibc's mprobe does.
func ExampleHeap_Probe() {
	h, err := malloc.NewHeap(malloc.Options{Guard: true})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	b, err := h.Malloc(10)
	if err != nil {
		panic(err)
	}
	fmt.Println(h.Probe(b))
	// Go's bounds checks stop b[10]; a write through a raw pointer, as
	// from C or unsafe code, is what guard bytes catch.
	unsafe.Slice(unsafe.SliceData(b), 11)[10] = 'x'

	fmt.Println(h.Probe(b))
	// Output:
	// OK
	// TAIL
}

// Buffers of a database's page size (here 32 KiB) through a Cache: a freed
// page is held by the Cache and handed out again to the next request of
// about its size, without the arena's lock and without touching new
// memory. Flush gives the held pages back.
func ExampleCache_pages() {
	h, err := malloc.NewHeap(malloc.Options{})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	c := h.NewCache()
	defer c.Close()
	const pageSize = 32 << 10
	first, err := c.Malloc(pageSize)
	if err != nil {
		panic(err)
	}
	copy(first, "page 1")
	if err := c.Free(first); err != nil {
		panic(err)
	}
	second, err := c.Malloc(pageSize)
	if err != nil {
		panic(err)
	}
	fmt.Println(unsafe.SliceData(first) == unsafe.SliceData(second), len(second))
	c.Free(second)
	fmt.Println(h.Info().Uordblks) // a held page counts as free
	c.Flush()
	fmt.Println(h.Check())
	// Output:
	// true 32768
	// 0
	// <nil>
}

// To see which call stacks hold off-heap memory, turn sampling on and serve
// the heap profile next to net/http/pprof's, then read it with
// `go tool pprof http://localhost:6060/debug/vmkit/malloc`. (net/http/pprof
// already serves the runtime/pprof profile ProfileName at
// /debug/pprof/vmkit/malloc, but that one counts samples and carries no
// bytes.) The default heap samples when the program runs with
// VMKIT_MALLOC_PROFILE_RATE set, or after SetProfileRate; a Heap of its own
// with Options.ProfileRate. Without a server, WriteProfile to a file gives
// the same profile, and WriteLeaks at the end of main or of a test lists the
// sampled blocks never freed:
//
//	defer malloc.WriteLeaks(os.Stderr)
func ExampleWriteProfile() {
	malloc.SetProfileRate(512 << 10) // about one sample per 512 KiB allocated

	http.HandleFunc("/debug/vmkit/malloc", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="vmkit-malloc.pb.gz"`)
		if err := malloc.WriteProfile(w); err != nil {
			log.Print(err)
		}
	})
	log.Fatal(http.ListenAndServe("localhost:6060", nil))
}
