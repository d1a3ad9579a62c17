package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Values of the System V shared memory ABI that x/sys/unix does not define
// (include/uapi/linux/shm.h). They are the same on every Linux architecture.
const (
	// ShmLock and ShmUnlock are the shmctl(2) commands SHM_LOCK and
	// SHM_UNLOCK.
	ShmLock   = 11
	ShmUnlock = 12
	// ShmRemap is shmat's SHM_REMAP: replace whatever is mapped at addr.
	ShmRemap = 0o40000
	// ShmExec is shmat's SHM_EXEC: map the segment executable.
	ShmExec = 0o100000
	// ShmHugeTLB and ShmNoReserve are shmget(2) flags.
	ShmHugeTLB   = 0o4000
	ShmNoReserve = 0o10000
	// ShmDest and ShmLocked are the bits shmctl(IPC_STAT) sets in
	// shm_perm.mode: the segment is marked for removal, or locked.
	ShmDest   = 0o1000
	ShmLocked = 0o2000
)

// The futex(2) operations vmkit uses, without FUTEX_PRIVATE_FLAG: the words
// live in memory shared between processes.
const (
	futexWait = 0
	futexWake = 1
)

// Shmat is shmat(2) with an explicit address: it attaches System V segment id
// at addr (nil lets the kernel choose) and returns where it landed. x/sys's
// SysvShmAttach cannot be used to attach over a reservation, because on a
// failed IPC_STAT after the attach it detaches on its own and would leave a
// hole inside the caller's mapping.
func Shmat(id int, addr unsafe.Pointer, flags int) (uintptr, error) {
	r, _, e := unix.Syscall(unix.SYS_SHMAT, uintptr(id), uintptr(addr), uintptr(flags))
	if e != 0 {
		return 0, e
	}
	return r, nil
}

// Shmdt is shmdt(2): it detaches the segment attached at addr, an address
// that Shmat returned (memory the garbage collector never sees, hence a
// plain uintptr).
func Shmdt(addr uintptr) error {
	_, _, e := unix.Syscall(unix.SYS_SHMDT, addr, 0, 0)
	return errnoErr(e)
}

// FutexWait is futex(FUTEX_WAIT) on the shared word at addr: it sleeps while
// *addr == val, until a FutexWake on the same word (in any process that maps
// the same page), a signal, or the timeout (nil: none). It returns
// unix.EAGAIN when *addr != val on entry and unix.ETIMEDOUT on timeout; a
// return of nil may still be spurious, so callers re-check the word.
func FutexWait(addr *uint32, val uint32, timeout *unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait, uintptr(val),
		uintptr(unsafe.Pointer(timeout)), 0, 0)
	return errnoErr(e)
}

// FutexWake is futex(FUTEX_WAKE): it wakes up to n waiters on the shared word
// at addr and returns how many it woke. It never blocks, so it is issued as a
// raw system call without telling the scheduler.
func FutexWake(addr *uint32, n int) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, uintptr(n))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
