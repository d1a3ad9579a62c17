package mem

import "strconv"

// Error records a failed memory operation: the system call, the page range it
// covered and the system error, with a remedy when vmkit knows one. It wraps
// the system error, so errors.Is(err, unix.ENOMEM) holds.
type Error struct {
	// Op is the system call or operation, such as "mlock" or "mmap".
	Op string
	// Addr is the first address of the range, after rounding down to a page.
	Addr uintptr
	// Len is the length of the range in bytes, after rounding up to pages.
	Len int
	// Err is the underlying error, usually a unix.Errno.
	Err error
	// Hint says what limit was hit and how to lift it, or is empty.
	Hint string
}

// Error reads like "mem: mlock 0x7f3a2c000000+64 KiB: cannot allocate memory
// (RLIMIT_MEMLOCK is 8 MiB ...)".
func (e *Error) Error() string {
	s := "mem: " + e.Op
	if e.Addr != 0 || e.Len != 0 {
		s += " 0x" + strconv.FormatUint(uint64(e.Addr), 16) + "+" + FormatBytes(int64(e.Len))
	}
	s += ": " + e.Err.Error()
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
