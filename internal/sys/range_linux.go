package sys

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The range calls below take any pointer and length and widen the range to
// whole pages, as the kernel's mlock does and as mprotect, madvise, msync and
// mincore require. Taking an unsafe.Pointer (not a uintptr) keeps the memory
// alive across the call; the conversion to an address happens right before
// a nosplit system call, where no stack can move.

var pageMask = uintptr(os.Getpagesize() - 1)

// Pages returns the page-aligned bounds of [p, p+n).
func Pages(p unsafe.Pointer, n uintptr) (start, length uintptr) {
	a := uintptr(p)
	start = a &^ pageMask
	end := (a + n + pageMask) &^ pageMask
	return start, end - start
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// Mprotect is mprotect(2) on the pages of [p, p+n).
func Mprotect(p unsafe.Pointer, n uintptr, prot int) error {
	s, l := Pages(p, n)
	_, _, e := unix.Syscall(unix.SYS_MPROTECT, s, l, uintptr(prot))
	return errnoErr(e)
}

// Madvise is madvise(2) on the pages of [p, p+n).
func Madvise(p unsafe.Pointer, n uintptr, advice int) error {
	s, l := Pages(p, n)
	_, _, e := unix.Syscall(unix.SYS_MADVISE, s, l, uintptr(advice))
	return errnoErr(e)
}

// Mlock is mlock2(2) on the pages of [p, p+n); flags is 0 or
// unix.MLOCK_ONFAULT. With flags 0 it is plain mlock(2).
func Mlock(p unsafe.Pointer, n uintptr, flags int) error {
	s, l := Pages(p, n)
	if flags == 0 {
		_, _, e := unix.Syscall(unix.SYS_MLOCK, s, l, 0)
		return errnoErr(e)
	}
	_, _, e := unix.Syscall(sysMlock2, s, l, uintptr(flags))
	return errnoErr(e)
}

// Munlock is munlock(2) on the pages of [p, p+n).
func Munlock(p unsafe.Pointer, n uintptr) error {
	s, l := Pages(p, n)
	_, _, e := unix.Syscall(unix.SYS_MUNLOCK, s, l, 0)
	return errnoErr(e)
}

// Msync is msync(2) on the pages of [p, p+n).
func Msync(p unsafe.Pointer, n uintptr, flags int) error {
	s, l := Pages(p, n)
	_, _, e := unix.Syscall(unix.SYS_MSYNC, s, l, uintptr(flags))
	return errnoErr(e)
}

// MincoreRange is mincore(2) on the pages of [p, p+n): vec must hold one
// byte per page of the widened range.
func MincoreRange(p unsafe.Pointer, n uintptr, vec []byte) error {
	if len(vec) == 0 {
		return nil
	}
	s, l := Pages(p, n)
	if l/(pageMask+1) > uintptr(len(vec)) {
		return unix.EINVAL
	}
	_, _, e := unix.Syscall(sysMincore, s, l, uintptr(unsafe.Pointer(&vec[0])))
	return errnoErr(e)
}

// MincoreRaw is MincoreRange without telling the Go scheduler: no handoff of
// the P, no wake-up on return. mincore never waits for I/O, so for a bounded
// range (the caller keeps each call to a few thousand pages, microseconds
// of kernel time) this is cheaper than the scheduler's bookkeeping, which
// costs a context switch whenever a collection is running.
func MincoreRaw(p unsafe.Pointer, n uintptr, vec []byte) error {
	if len(vec) == 0 {
		return nil
	}
	s, l := Pages(p, n)
	if l/(pageMask+1) > uintptr(len(vec)) {
		return unix.EINVAL
	}
	_, _, e := unix.RawSyscall(sysMincore, s, l, uintptr(unsafe.Pointer(&vec[0])))
	return errnoErr(e)
}
