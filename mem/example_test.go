package mem_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vmkit/vmkit/mem"
)

// The example of the mprotect(2) manual page, in Go: fill a four-page buffer whose
// third page is read-only. The write into that page faults; Try reports the
// address and the program carries on. (examples/mprotect is the same as a
// program that prints the absolute addresses.)
func Example_mprotect() {
	pagesize := mem.PageSize()
	m, err := mem.Map(4*pagesize, mem.Read|mem.Write, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	buffer := m.Bytes()
	if err := mem.Protect(buffer[2*pagesize:3*pagesize], mem.Read); err != nil {
		fmt.Println(err)
		return
	}
	p := 0
	err = mem.Try(func() {
		for ; ; p++ {
			buffer[p] = 'a'
		}
	})
	var f *mem.Fault
	if errors.As(err, &f) {
		fmt.Printf("Got %v at start of region + %d pages\n", f.Signal, (f.Addr-m.Addr())/uintptr(pagesize))
		fmt.Println("bytes written before the fault:", p == 2*pagesize, "reason:", f.Reason)
	}
	fmt.Println("Loop completed")
	// Output:
	// Got segmentation fault at start of region + 2 pages
	// bytes written before the fault: true reason: page is read-only
	// Loop completed
}

// Lock a buffer into RAM and check its residency.
func ExampleLock() {
	m, err := mem.Map(64<<10, mem.Read|mem.Write, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	if err := m.Lock(); err != nil {
		fmt.Println(err) // the error names RLIMIT_MEMLOCK and the remedies
		return
	}
	r, _ := m.Resident()
	fmt.Println(r.All(), r.Len() == (64<<10)/mem.PageSize())
	// Output: true true
}

// Map a file shared, write through the mapping, and make it durable.
func ExampleMapFile() {
	path := filepath.Join(os.TempDir(), "vmkit-example-mapfile")
	defer os.Remove(path)
	os.WriteFile(path, []byte("hello, page cache"), 0o644)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	m, err := mem.MapFile(f, 0, 0, mem.Read|mem.Write, mem.Shared)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	copy(m.Bytes(), "HELLO")
	if err := m.Sync(mem.SyncNow); err != nil {
		fmt.Println(err)
		return
	}
	data, _ := os.ReadFile(path)
	fmt.Println(string(data))
	// Output: HELLO, page cache
}

// Iterate over the resident runs of a mapping.
func ExampleResidency_Runs() {
	ps := mem.PageSize()
	m, _ := mem.Map(16*ps, mem.Read|mem.Write, 0)
	defer m.Close()
	b := m.Bytes()
	for _, page := range []int{2, 3, 4, 9} {
		b[page*ps] = 1
	}
	r, _ := m.Resident()
	for run := range r.Runs() {
		fmt.Printf("pages %d-%d\n", run.Start, run.Start+run.Len-1)
	}
	fmt.Println(r)
	// Output:
	// pages 2-4
	// pages 9-9
	// 4/16 pages resident
}

// LockAll refuses up front when the process could not survive the lock.
func ExampleLockAll() {
	if err := mem.CanLockAll(mem.Current | mem.Future); err != nil {
		fmt.Println("would refuse:", err)
		return
	}
	fmt.Println("LockAll(Current|Future) would be let through")
}
