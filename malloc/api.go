package malloc

import (
	"io"
	"os"
	"unsafe"
)

// defaultHeap serves the package-level functions. It is configured from the
// environment (OptionsFromEnv) when the package is initialised; a bad
// variable is reported on standard error and ignored.
var defaultHeap = func() *Heap {
	opts, err := OptionsFromEnv(os.Getenv)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "; using the defaults\n")
		opts = Options{}
	}
	h := newHeap(opts)
	h.err = supported()
	return h
}()

// Default returns the heap behind the package-level functions.
func Default() *Heap { return defaultHeap }

// Malloc allocates size bytes outside the Go heap and returns them as a
// slice of length and capacity size, or an error: ErrNoMemory (which wraps
// ENOMEM) when the system refuses memory, ErrInvalidArgument for a negative
// size. The contents are not initialised. Malloc(0) returns an empty slice
// whose pointer is a unique block that must be freed like any other.
//
// The garbage collector does not scan the memory: never store Go pointers in
// it. Free it with Free (or any Free of the same heap). Safe for concurrent
// use.
func Malloc(size int) ([]byte, error) { return defaultHeap.Malloc(size) }

// Calloc allocates count*size zeroed bytes, refusing with ErrNoMemory a
// product that overflows.
func Calloc(count, size int) ([]byte, error) { return defaultHeap.Calloc(count, size) }

// Realloc changes the size of b's block to size bytes and returns it, moved
// if it could not grow in place (it grows in place when the memory after it
// is free, and a block in its own mapping grows by mremap); the contents up
// to the smaller size are kept. Realloc(nil, n) is Malloc(n); Realloc(b, 0)
// frees b and returns nil. On error b is left as it was.
func Realloc(b []byte, size int) ([]byte, error) { return defaultHeap.Realloc(b, size) }

// ReallocArray is Realloc to count*size bytes with the product checked for
// overflow.
func ReallocArray(b []byte, count, size int) ([]byte, error) {
	return defaultHeap.ReallocArray(b, count, size)
}

// Free frees b's block. Only b's pointer matters: b must start where Malloc's
// result started (its length may differ). Free(nil) does nothing. Anything
// else is refused, never corrupting the heap: a pointer that this heap did
// not return, or into the middle of a block, gives ErrInvalidPointer; a
// block that is already free gives ErrDoubleFree.
func Free(b []byte) error { return defaultHeap.Free(b) }

// AlignedAlloc allocates size bytes at an address that is a multiple of
// alignment, which must be a power of two (else ErrInvalidArgument, EINVAL).
func AlignedAlloc(alignment, size int) ([]byte, error) {
	return defaultHeap.AlignedAlloc(alignment, size)
}

// Memalign allocates size bytes at a multiple of boundary, a power of two.
func Memalign(boundary, size int) ([]byte, error) { return defaultHeap.Memalign(boundary, size) }

// PosixMemalign allocates size bytes at a multiple of alignment, which must
// be a power of two and a multiple of the pointer size.
func PosixMemalign(alignment, size int) ([]byte, error) {
	return defaultHeap.PosixMemalign(alignment, size)
}

// Valloc allocates size bytes aligned to the system page size.
func Valloc(size int) ([]byte, error) { return defaultHeap.Valloc(size) }

// PValloc allocates size bytes rounded up to whole pages (one page for 0),
// page-aligned; the slice has the rounded length.
func PValloc(size int) ([]byte, error) { return defaultHeap.PValloc(size) }

// UsableSize returns the number of bytes b's block can hold, at least the
// size it was allocated with (malloc_usable_size); 0 for nil or for
// anything that is not a live block.
func UsableSize(b []byte) int { return defaultHeap.UsableSize(b) }

// UnsafeMalloc allocates size bytes and returns a bare pointer to them,
// for code that keeps its own lengths.
func UnsafeMalloc(size int) (unsafe.Pointer, error) { return defaultHeap.UnsafeMalloc(size) }

// UnsafeFree frees the block at p, which UnsafeMalloc (or any allocation
// function) returned; nil does nothing.
func UnsafeFree(p unsafe.Pointer) error { return defaultHeap.UnsafeFree(p) }

// Opt sets a tunable of the default heap; see Heap.Opt.
func Opt(param Param, value int) error { return defaultHeap.Opt(param, value) }

// Trim gives free memory of the default heap back to the system, keeping pad
// bytes at the top of each region; see Heap.Trim.
func Trim(pad int) bool { return defaultHeap.Trim(pad) }

// Info returns the statistics of the default heap (mallinfo2).
func Info() Stats { return defaultHeap.Info() }

// WriteStats writes the default heap's statistics as malloc_stats does.
func WriteStats(w io.Writer) { defaultHeap.WriteStats(w) }

// WriteInfo writes the default heap's state as malloc_info's XML.
func WriteInfo(w io.Writer) error { return defaultHeap.WriteInfo(w) }

// Check verifies every invariant of the default heap; see Heap.Check.
func Check() error { return defaultHeap.Check() }

// Probe checks one block of the default heap; see Heap.Probe.
func Probe(b []byte) Status { return defaultHeap.Probe(b) }

// SetHooks installs hooks on the default heap; see Hooks.
func SetHooks(h *Hooks) { defaultHeap.SetHooks(h) }

// SetProfileRate sets the profiling rate of the default heap; see
// Heap.SetProfileRate.
func SetProfileRate(rate int) { defaultHeap.SetProfileRate(rate) }

// WriteLeaks writes the leak report of the default heap; see
// Heap.WriteLeaks.
func WriteLeaks(w io.Writer) error { return defaultHeap.WriteLeaks(w) }
