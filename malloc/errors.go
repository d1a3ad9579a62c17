package malloc

import (
	"errors"
	"fmt"
	"syscall"
)

// The errors of package malloc. Returned errors wrap these sentinels, so test
// them with errors.Is. ErrNoMemory also matches syscall.ENOMEM (and
// unix.ENOMEM), and ErrInvalidArgument matches syscall.EINVAL, as the C
// functions report through errno.
var (
	// ErrInvalidPointer: the block was not returned by this heap, or the
	// pointer is not the start of a block (an interior pointer, a slice that
	// was resliced from the front, a Go heap slice, a block of another Heap).
	ErrInvalidPointer = errors.New("malloc: invalid pointer: not the start of a block of this heap")
	// ErrDoubleFree: the block is already free.
	ErrDoubleFree = errors.New("malloc: double free: the block is already free")
	// ErrNoMemory: the system refused the memory (mmap failed with ENOMEM),
	// or the size cannot be represented.
	ErrNoMemory error = &errnoError{"malloc: out of memory", syscall.ENOMEM}
	// ErrInvalidArgument: a negative size, an alignment that is not a power
	// of two, and the like.
	ErrInvalidArgument error = &errnoError{"malloc: invalid argument", syscall.EINVAL}
	// ErrClosed: the Cache or Heap has been closed.
	ErrClosed = errors.New("malloc: use of a closed Cache or Heap")
	// ErrCorrupt: with guard bytes on, the bytes around a block were
	// overwritten (see Probe); or Check found a broken invariant.
	ErrCorrupt = errors.New("malloc: heap corruption detected")
	// ErrPointerType: New, MakeSlice and friends refuse types that hold Go
	// pointers, because the garbage collector does not scan this memory.
	ErrPointerType = errors.New("malloc: type holds Go pointers")
	// ErrNotSupported: the system is not Linux.
	ErrNotSupported = errors.New("malloc: not supported on this system")
)

// errnoError is a sentinel that also matches a system errno.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string { return e.msg }
func (e *errnoError) Unwrap() error { return e.errno }

// noMemory builds the error of a failed allocation of size bytes; cause is
// the system error, if any.
func noMemory(op string, size int, cause error) error {
	if cause == nil {
		return fmt.Errorf("malloc: %s(%d): %w", op, size, ErrNoMemory)
	}
	return fmt.Errorf("malloc: %s(%d): %w: %w", op, size, ErrNoMemory, cause)
}

func invalidArg(op, what string) error {
	return fmt.Errorf("malloc: %s: %s: %w", op, what, ErrInvalidArgument)
}

func invalidPointer(op string, p uintptr, why string) error {
	return fmt.Errorf("malloc: %s(%#x): %s: %w", op, p, why, ErrInvalidPointer)
}

func doubleFree(op string, p uintptr, why string) error {
	return fmt.Errorf("malloc: %s(%#x): %s: %w", op, p, why, ErrDoubleFree)
}
