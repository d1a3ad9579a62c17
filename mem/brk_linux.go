package mem

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/sys"
)

// brkMu serialises every move of the program break: the break is one value
// per process, and sbrk's read-then-move must not interleave.
var brkMu sync.Mutex

// Brk sets the program break, the end of the data segment (brk(2);
// "Resizing the Data Segment" in the GNU C Library manual), to addr. Memory
// between the start of the heap segment and the break is usable,
// zero-filled when first grown. The kernel gives no errno when it
// refuses: Brk detects failure by reading back the break and returns an
// *Error wrapping unix.ENOMEM.
//
// The break belongs to whoever allocates from it. In a pure Go binary
// (CGO_ENABLED=0) nobody does, and vmkit may use it; in a binary with cgo the
// C library's malloc owns it, and Brk returns ErrBreakOwned.
func Brk(addr uintptr) error {
	if sys.CgoLinked() {
		return ErrBreakOwned
	}
	brkMu.Lock()
	defer brkMu.Unlock()
	if got := sys.Brk(addr); got != addr {
		return &Error{Op: "brk", Addr: addr, Err: unix.ENOMEM,
			Hint: fmt.Sprintf("the kernel left the break at %#x: the address is below the start of the heap segment, collides with another mapping, or exceeds RLIMIT_DATA", got)}
	}
	return nil
}

// Sbrk moves the program break by delta bytes and returns the old break,
// which is the start of the new memory when delta > 0. Sbrk(0) returns the
// current break. See Brk for who owns the break.
func Sbrk(delta int) (uintptr, error) {
	if sys.CgoLinked() {
		return 0, ErrBreakOwned
	}
	brkMu.Lock()
	defer brkMu.Unlock()
	cur := sys.Brk(0)
	if delta == 0 {
		return cur, nil
	}
	want := cur + uintptr(delta)
	if (delta > 0 && want < cur) || (delta < 0 && want > cur) {
		return 0, &Error{Op: "sbrk", Addr: cur, Len: delta, Err: unix.ENOMEM, Hint: "the delta overflows the address space"}
	}
	if got := sys.Brk(want); got != want {
		return 0, &Error{Op: "sbrk", Addr: cur, Len: delta, Err: unix.ENOMEM,
			Hint: fmt.Sprintf("the kernel left the break at %#x: shrinking below the heap start, growing into another mapping, or past RLIMIT_DATA", got)}
	}
	return cur, nil
}
