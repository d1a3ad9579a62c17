// Command mprotect is the example of the mprotect(2) manual page in Go: it
// fills a four-page buffer whose third page is read-only, reports the
// address of the faulting write, and carries on instead of exiting, where
// the C program's handler exits.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/vmkit/vmkit/mem"
)

func main() {
	pagesize := mem.PageSize()
	m, err := mem.Map(4*pagesize, mem.Read|mem.Write, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer m.Close()
	buffer := m.Bytes()
	fmt.Printf("Start of region: %#x\n", m.Addr())
	if err := mem.Protect(buffer[2*pagesize:3*pagesize], mem.Read); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p := 0
	err = mem.Try(func() {
		for ; ; p++ {
			buffer[p] = 'a'
		}
	})
	var f *mem.Fault
	if !errors.As(err, &f) {
		fmt.Fprintln(os.Stderr, "no fault:", err)
		os.Exit(1)
	}
	fmt.Printf("Got SIGSEGV at address: %#x\n", f.Addr)
	fmt.Println(f)
	fmt.Printf("Loop stopped after %d bytes; carrying on\n", p)
}
