package proc_test

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/proc"
)

func ExampleMaps() {
	regions, err := proc.Maps(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	stack := false
	for _, r := range regions {
		if r.Kind == proc.KindStack {
			stack = true
		}
	}
	fmt.Println("stack found:", stack)
	fmt.Println("resident:", proc.Total(regions).Rss > 0)
	// Output:
	// stack found: true
	// resident: true
}

func ExampleStatus() {
	s, err := proc.Status(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("me:", s.Pid == os.Getpid())
	fmt.Println("VmSize >= VmRSS > 0:", s.VmSize >= s.VmRSS && s.VmRSS > 0)
	// Output:
	// me: true
	// VmSize >= VmRSS > 0: true
}

func ExampleFaults() {
	const n = 16
	b, err := unix.Mmap(-1, 0, n*os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Munmap(b)
	unix.Madvise(b, unix.MADV_NOHUGEPAGE)

	before, _ := proc.Faults()
	for i := 0; i < len(b); i += os.Getpagesize() {
		b[i] = 1 // first touch: one minor fault per page
	}
	after, _ := proc.Faults()
	fmt.Println("at least one fault per page:", after.Sub(before).Minor >= n)
	// Output: at least one fault per page: true
}
