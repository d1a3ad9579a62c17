package mem

import (
	"errors"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
)

// Fault is a memory access that the hardware refused, turned into an error
// by Try, ReadAt or WriteAt instead of killing the process.
type Fault struct {
	// Addr is the exact address that faulted.
	Addr uintptr
	// Signal is SIGSEGV (no mapping, or the protection forbids the access)
	// or SIGBUS (the mapping exists but has no page behind it, such as a
	// file mapping past the end of a truncated file). The Go runtime does not
	// say which signal it caught, so Signal is inferred from the mapping at
	// Addr: see Reason.
	Signal syscall.Signal
	// Mapped reports whether Addr lay inside a mapping when the fault was
	// examined.
	Mapped bool
	// Prot is the protection of that mapping, valid when Mapped.
	Prot Prot
	// Start and End bound that mapping, valid when Mapped.
	Start, End uintptr
	// Path names the mapping's file or pseudo-file, if any.
	Path string
	// Reason explains the fault in words, such as "page is read-only".
	Reason string
}

// Error reads like "mem: SIGSEGV at 0x7f3a2c002000: page is read-only
// (r-- mapping 0x7f3a2c000000-0x7f3a2c004000)".
func (f *Fault) Error() string {
	s := "mem: " + signalName(f.Signal) + " at 0x" + strconv.FormatUint(uint64(f.Addr), 16)
	if f.Reason != "" {
		s += ": " + f.Reason
	}
	if f.Mapped {
		s += " (" + f.Prot.String() + " mapping 0x" + strconv.FormatUint(uint64(f.Start), 16) +
			"-0x" + strconv.FormatUint(uint64(f.End), 16)
		if f.Path != "" {
			s += " " + f.Path
		}
		s += ")"
	}
	return s
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGBUS:
		return "SIGBUS"
	}
	return s.String()
}

// Try runs fn and turns a memory fault inside it (SIGSEGV or SIGBUS at an
// address of at least 4096) into a *Fault error instead of a crash. Any
// other panic, including a nil pointer dereference, propagates unchanged.
// A nil fn is an error, as for realtime.Run.
//
// Try covers fn's own goroutine only: a fault in a goroutine that fn starts
// still crashes the program. Faults inside the Go runtime while it holds
// locks stay fatal, as do faults in system calls' kernel side, which return
// EFAULT instead.
//
// Try works by debug.SetPanicOnFault, which it restores on return. A fault
// aborts fn at the faulting instruction: stores before it have happened,
// none after it have.
func Try(fn func()) (err error) {
	if fn == nil {
		return errors.New("mem: Try(nil): give the function to run")
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if f := faultOf(r); f != nil {
				err = f
				return
			}
			panic(r)
		}
	}()
	fn()
	return nil
}

// faultOf recognises the runtime's fault panic, which carries the address.
func faultOf(r any) *Fault {
	re, ok := r.(runtime.Error)
	if !ok {
		return nil
	}
	a, ok := re.(interface{ Addr() uintptr })
	if !ok {
		return nil
	}
	return classifyFault(a.Addr())
}
