//go:build !linux

package mem

import (
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
)

// errNotSupported names the system and matches ErrNotSupported.
var errNotSupported error = notSupported{}

type notSupported struct{}

func (notSupported) Error() string {
	return "mem: not supported on " + runtime.GOOS + ": vmkit targets Linux"
}
func (notSupported) Is(target error) bool { return target == ErrNotSupported }

func swapPanicOnFault(on bool) bool { return debug.SetPanicOnFault(on) }

func classifyFault(addr uintptr) *Fault {
	return &Fault{Addr: addr, Signal: syscall.SIGSEGV, Reason: "fault (mapping details are known on Linux only)"}
}

// Map is not supported on this system.
func Map(length int, prot Prot, flags Flags) (*Mapping, error) { return nil, errNotSupported }

// MapFile is not supported on this system.
func MapFile(f *os.File, offset int64, length int, prot Prot, flags Flags) (*Mapping, error) {
	return nil, errNotSupported
}

// Protect is not supported on this system.
func Protect(b []byte, p Prot) error { return errNotSupported }

// Lock is not supported on this system.
func Lock(b []byte) error { return errNotSupported }

// LockOnFault is not supported on this system.
func LockOnFault(b []byte) error { return errNotSupported }

// Unlock is not supported on this system.
func Unlock(b []byte) error { return errNotSupported }

// Advise is not supported on this system.
func Advise(b []byte, a Advice) error { return errNotSupported }

// Resident is not supported on this system.
func Resident(b []byte) (Residency, error) { return Residency{}, errNotSupported }

// FileAdvise is not supported on this system.
func FileAdvise(f *os.File, offset, length int64, a FileAdvice) error { return errNotSupported }

// LockAll is not supported on this system.
func LockAll(flags LockAllFlags) error { return errNotSupported }

// CanLockAll is not supported on this system.
func CanLockAll(flags LockAllFlags) error { return errNotSupported }

// LockAllHeadroom is the growth room LockAll demands above VmSize on Linux.
func LockAllHeadroom(vmSize int64) int64 { return max(256<<20, vmSize/4) }

// UnlockAll is not supported on this system.
func UnlockAll() error { return errNotSupported }

// LockLimit is not supported on this system.
func LockLimit() (Limit, error) { return Limit{}, errNotSupported }

// SetLockLimit is not supported on this system.
func SetLockLimit(l Limit) error { return errNotSupported }

// Locked is not supported on this system.
func Locked() (int64, error) { return 0, errNotSupported }

// Brk is not supported on this system.
func Brk(addr uintptr) error { return errNotSupported }

// Sbrk is not supported on this system.
func Sbrk(delta int) (uintptr, error) { return 0, errNotSupported }

// Protect is not supported on this system.
func (m *Mapping) Protect(p Prot) error { return errNotSupported }

// Lock is not supported on this system.
func (m *Mapping) Lock() error { return errNotSupported }

// LockOnFault is not supported on this system.
func (m *Mapping) LockOnFault() error { return errNotSupported }

// Unlock is not supported on this system.
func (m *Mapping) Unlock() error { return errNotSupported }

// Advise is not supported on this system.
func (m *Mapping) Advise(a Advice) error { return errNotSupported }

// Resident is not supported on this system.
func (m *Mapping) Resident() (Residency, error) { return Residency{}, errNotSupported }

// Sync is not supported on this system.
func (m *Mapping) Sync(flags SyncFlags) error { return errNotSupported }

// Remap is not supported on this system.
func (m *Mapping) Remap(newLength int) error { return errNotSupported }

// Close is not supported on this system; a Mapping cannot exist here.
func (m *Mapping) Close() error { return nil }

// ReadAt is not supported on this system.
func (m *Mapping) ReadAt(p []byte, off int64) (int, error) { return 0, errNotSupported }

// WriteAt is not supported on this system.
func (m *Mapping) WriteAt(p []byte, off int64) (int, error) { return 0, errNotSupported }

// Adopt is not supported on this system.
func Adopt(b []byte, prot Prot, release func() error) (*Mapping, error) { return nil, errNotSupported }

// ResidentInto is not supported on this system.
func ResidentInto(dst *Residency, b []byte) error { return errNotSupported }

// MapAligned is not supported on this system.
func MapAligned(length, align int, prot Prot, flags Flags) (*Mapping, error) {
	return nil, errNotSupported
}
