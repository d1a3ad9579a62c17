package obstack

import (
	"errors"
	"strconv"

	"github.com/vmkit/vmkit/mem"
)

// Errors of package obstack. Every error the package returns is an *Error
// that matches one of these with errors.Is, or wraps the chunk source's
// error (so errors.Is(err, unix.ENOMEM) holds when mmap failed).
var (
	// ErrGrowing: an allocation was asked for while an object is growing.
	// GNU forbids it; Finish the growing object first.
	ErrGrowing = errors.New("obstack: an object is growing")
	// ErrNotAllocated: Free was given an address that is not allocated in
	// this obstack: never allocated here, or already freed.
	ErrNotAllocated = errors.New("obstack: address not allocated in this obstack")
	// ErrSize: a size or alignment out of range.
	ErrSize = errors.New("obstack: invalid size")
	// ErrPointers: Make or FreeSlice was called with a type that holds Go
	// pointers, which obstack memory must not hold.
	ErrPointers = errors.New("obstack: type holds Go pointers")
	// ErrChunkSource: ChunkAlloc broke its contract.
	ErrChunkSource = errors.New("obstack: chunk source returned a bad chunk")
)

// Error describes a failed obstack operation.
type Error struct {
	// Op is the method, such as "Free" or "Copy".
	Op string
	// Addr is the address given to Free, or 0.
	Addr uintptr
	// Size is the chunk size asked of the source, when it failed, or 0.
	Size int
	// Err is one of the Err* values of this package, or the source's error.
	Err error
	// Detail says what went wrong and what to do, or is empty when Err
	// says it all.
	Detail string
}

// Error reads like "obstack: Free 0x7f3a2c000040: the address is 24 bytes
// above the allocated end ..." or "obstack: Copy: new chunk of 8 KiB: mem:
// mmap ...: cannot allocate memory".
func (e *Error) Error() string {
	s := "obstack: " + e.Op
	if e.Addr != 0 {
		s += " 0x" + strconv.FormatUint(uint64(e.Addr), 16)
	}
	if e.Size != 0 {
		s += ": new chunk of " + mem.FormatBytes(int64(e.Size))
	}
	if e.Detail != "" {
		return s + ": " + e.Detail
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }
