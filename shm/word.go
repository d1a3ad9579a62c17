package shm

import (
	"strconv"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Word returns the 32-bit word at byte offset off of b, which is normally
// the Bytes of a shared mapping, as an *atomic.Uint32: its Load, Store and
// CompareAndSwap are the atomic operations that processes sharing the page
// synchronise with, and Wait and Wake sleep on it and wake it. off must be a
// multiple of 4 with the word inside b; the word lives as long as the
// mapping, so do not use it after the mapping is closed.
func Word(b []byte, off int) (*atomic.Uint32, error) {
	switch {
	case off < 0 || off > len(b)-4:
		return nil, &Error{Op: "word", Err: syscall.EINVAL, Hint: "offset " + strconv.Itoa(off) + " puts the 4-byte word outside the " + strconv.Itoa(len(b)) + "-byte slice"}
	case (uintptr(unsafe.Pointer(unsafe.SliceData(b)))+uintptr(off))%4 != 0:
		return nil, &Error{Op: "word", Err: syscall.EINVAL, Hint: "offset " + strconv.Itoa(off) + " is not 4-byte aligned: atomic operations and futexes need an aligned word"}
	}
	return (*atomic.Uint32)(unsafe.Pointer(&b[off])), nil
}

// unsafeWord is the address of w's value: atomic.Uint32 holds nothing but
// the uint32.
func unsafeWord(w *atomic.Uint32) unsafe.Pointer { return unsafe.Pointer(w) }
