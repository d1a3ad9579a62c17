package sys

import "golang.org/x/sys/unix"

// Syscall numbers that x/sys/unix does not wrap. They are taken from the
// generated tables so that each architecture gets its own.
const (
	sysMincore = unix.SYS_MINCORE
	sysMlock2  = unix.SYS_MLOCK2
	sysBrk     = unix.SYS_BRK
)

// Brk is the raw brk(2) system call: it asks for the program break to move to
// addr and returns the break the kernel actually set. The kernel reports
// failure only by returning the old break, never through errno, so callers
// compare the result with what they asked for. Brk(0) reads the break.
func Brk(addr uintptr) uintptr {
	r, _, _ := unix.RawSyscall(sysBrk, addr, 0, 0)
	return r
}
