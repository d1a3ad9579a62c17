package malloc

import (
	"errors"
	"fmt"
	"strings"
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
	ErrInvalidPointer = errors.New("malloc: invalid pointer")
	// ErrDoubleFree: the block is already free.
	ErrDoubleFree = errors.New("malloc: double free")
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
	// ErrNotSupported: the system is not Linux, or not a 64-bit one.
	ErrNotSupported = errors.New("malloc: not supported on this system")
)

// errnoError is a sentinel that also matches a system errno.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string { return e.msg }
func (e *errnoError) Unwrap() error { return e.errno }

// An opError is an error of one call: the call and its argument, the
// reason, and the sentinel it wraps, printed without the sentinel's own
// "malloc: " prefix, so that the message names the package once:
//
//	malloc: free(0xc000012345): not the start of a block (interior pointer): invalid pointer
type opError struct {
	msg   string // the call and the reason
	err   error  // the sentinel
	cause error  // the system's error, if any
}

func (e *opError) Error() string {
	s := "malloc: " + e.msg + ": " + strings.TrimPrefix(e.err.Error(), "malloc: ")
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

func (e *opError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.err, e.cause}
	}
	return []error{e.err}
}

// noMemory builds the error of a failed allocation of size bytes; cause is
// the system error, if any.
func noMemory(op string, size int, cause error) error {
	return &opError{msg: fmt.Sprintf("%s(%d)", op, size), err: ErrNoMemory, cause: cause}
}

// tooLarge is the error of a request larger than any mapping can be.
func tooLarge(op string, size int, limit uint64) error {
	return &opError{msg: fmt.Sprintf("%s(%d): more than the %d bytes a block may have", op, size, limit), err: ErrNoMemory}
}

func invalidArg(op, what string) error {
	return &opError{msg: op + ": " + what, err: ErrInvalidArgument}
}

func invalidPointer(op string, p uintptr, why string) error {
	return &opError{msg: fmt.Sprintf("%s(%#x): %s", op, p, why), err: ErrInvalidPointer}
}

func doubleFree(op string, p uintptr, why string) error {
	return &opError{msg: fmt.Sprintf("%s(%#x): %s", op, p, why), err: ErrDoubleFree}
}
