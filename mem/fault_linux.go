package mem

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
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
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		dash := strings.IndexByte(fields[0], '-')
		if dash < 0 {
			continue
		}
		start, err1 := strconv.ParseUint(fields[0][:dash], 16, 64)
		end, err2 := strconv.ParseUint(fields[0][dash+1:], 16, 64)
		if err1 != nil || err2 != nil || uint64(addr) < start || uint64(addr) >= end {
			continue
		}
		f.Mapped, f.Start, f.End = true, uintptr(start), uintptr(end)
		perms := fields[1]
		if len(perms) >= 3 {
			if perms[0] == 'r' {
				f.Prot |= Read
			}
			if perms[1] == 'w' {
				f.Prot |= Write
			}
			if perms[2] == 'x' {
				f.Prot |= Exec
			}
		}
		if len(fields) >= 6 {
			f.Path = strings.Join(fields[5:], " ")
		}
		off, _ := strconv.ParseUint(fields[2], 16, 64)
		switch {
		case f.Prot == None:
			f.Reason = "page is inaccessible (PROT_NONE)"
		case strings.HasPrefix(f.Path, "/") && pastEOF(f.Path, off+uint64(addr)-start):
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
	return f
}

// pastEOF reports whether a file offset lies in a page wholly past the end of
// the file at path; a file that cannot be examined does not count.
func pastEOF(path string, off uint64) bool {
	path = strings.TrimSuffix(path, " (deleted)")
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	return off >= uint64(roundUp(uintptr(st.Size())))
}
