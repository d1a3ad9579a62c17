package sys

import "unsafe"

// iscgo is set by package runtime/cgo when it is linked into the binary. The
// runtime keeps it reachable by linkname on purpose (go.dev/issue/67401).
//
//go:linkname iscgo runtime.iscgo
var iscgo bool

// CgoLinked reports whether this binary runs with cgo, and therefore with the C
// library's allocator, which owns the program break.
func CgoLinked() bool { return iscgo }

// Ptr turns the address of memory outside the Go heap (a mapping, the
// program break) into a pointer. Go heap addresses must never pass through
// it: the collector would not know the pointer was derived from an object.
// The double conversion is the form go vet accepts for such addresses.
func Ptr(addr uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }
