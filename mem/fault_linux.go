package mem

import (
	"bytes"
	"os"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/vmkit/vmkit/proc"
)

func swapPanicOnFault(on bool) bool { return debug.SetPanicOnFault(on) }

// classifyFault looks the address up in /proc/self/maps to tell SIGSEGV from
// SIGBUS and to describe the mapping.
func classifyFault(addr uintptr) *Fault {
	f := &Fault{Addr: addr, Signal: syscall.SIGSEGV, Reason: "address is not mapped"}
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		f.Reason = "address could not be looked up: " + err.Error()
		return f
	}
	regions, err := proc.ParseSmaps(bytes.NewReader(data))
	if err != nil {
		f.Reason = "address could not be looked up: " + err.Error()
		return f
	}
	r, ok := proc.Find(regions, addr)
	if !ok {
		return f
	}
	f.Mapped, f.Start, f.End, f.Path = true, r.Start, r.End, r.Path
	if r.Perms.Read {
		f.Prot |= Read
	}
	if r.Perms.Write {
		f.Prot |= Write
	}
	if r.Perms.Exec {
		f.Prot |= Exec
	}
	switch {
	case f.Prot == None:
		f.Reason = "page is inaccessible (PROT_NONE)"
	case strings.HasPrefix(r.Path, "/") && pastEOF(r.Path, uint64(r.Offset)+uint64(addr-r.Start)):
		f.Signal = syscall.SIGBUS
		f.Reason = "page lies past the end of the mapped file"
	case f.Prot&Write == 0:
		f.Reason = "page is read-only"
	case f.Prot&Read == 0:
		f.Reason = "page is write-only"
	default:
		f.Signal = syscall.SIGBUS
		f.Reason = "no page backs the address (truncated shared memory, hugetlb exhaustion or a hardware error)"
	}
	return f
}

// pastEOF reports whether a file offset lies in a page wholly past the end of
// the file at path; a file that cannot be examined does not count.
func pastEOF(path string, off uint64) bool {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	return off >= uint64(roundUp(uintptr(st.Size())))
}
