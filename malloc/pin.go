package malloc

import _ "unsafe" // for go:linkname

// procPin disables preemption of the calling goroutine and returns the id of
// the P it runs on; procUnpin enables it again. Between the two calls no
// other goroutine can run on that P, so a per-P cache needs no lock. The
// section must be short and must not block, make a system call or allocate
// much: the scheduler and the garbage collector wait for it. sync.Pool uses
// the same pair; the runtime keeps it reachable for packages outside the
// standard library (go.dev/issue/67401).
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()
