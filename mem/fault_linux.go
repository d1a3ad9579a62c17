package mem

import (
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
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
	case strings.HasPrefix(r.Path, "/") && pastEOF(r, uint64(r.Offset)+uint64(addr-r.Start)):
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
// the file that region r maps; a file that cannot be examined does not
// count. The file is looked up by its path when that still names the same
// inode, else through /proc/self/map_files, which reaches a file that was
// deleted or renamed (and memfds and shared memory) but needs
// CAP_SYS_ADMIN.
func pastEOF(r proc.Region, off uint64) bool {
	size := int64(-1)
	if !r.Deleted {
		if st, err := os.Stat(r.Path); err == nil && st.Mode().IsRegular() {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && uint64(sys.Ino) == r.Inode {
				size = st.Size()
			}
		}
	}
	if size < 0 {
		st, err := os.Stat("/proc/self/map_files/" + strconv.FormatUint(uint64(r.Start), 16) + "-" + strconv.FormatUint(uint64(r.End), 16))
		if err != nil || !st.Mode().IsRegular() {
			return false
		}
		size = st.Size()
	}
	return off >= uint64(roundUp(uintptr(size)))
}
