package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ForkReadExit forks the calling process the way fork(2) does (a raw
// clone(2) with SIGCHLD and nothing else: the child gets a copy-on-write copy
// of the address space, so MADV_WIPEONFORK and MADV_DONTFORK apply). The
// child writes the n bytes at addr to fd with one write(2) and leaves at once
// with exit_group(2): status 0 when all n bytes were written, 1 when the write
// failed or was short (EFAULT, for example, when addr is not mapped in the
// child). The parent gets the child's pid and must reap it (unix.Wait4).
//
// It exists for tests of package secret, which must observe what a forked
// child sees. A forked child of a Go process has one thread and a runtime
// that believes it has many, so it may run nothing but raw system calls: no
// allocation, no stack growth, no scheduler, no Go memory access that the
// race detector would instrument. Hence nosplit and norace, only locals on
// the stack, and the first act of the child is to block every signal, so
// that no handler of the runtime ever runs in it. Keep n within the pipe's
// capacity (64 KiB by default) or the child blocks until the parent reads.
//
//go:nosplit
//go:norace
func ForkReadExit(addr unsafe.Pointer, n uintptr, fd int) (pid int, err error) {
	r, _, e := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	if r != 0 {
		return int(r), nil
	}
	// The child, on a copy of the parent's stack.
	all := ^uint64(0)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), 0, 8, 0, 0)
	code := uintptr(0)
	w, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(addr), n)
	if e != 0 || w != n {
		code = 1
	}
	for {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, code, 0, 0)
	}
}
