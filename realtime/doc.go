// Package realtime is the recipe of the mlock(2) manual page for
// time-critical code: lock everything, then reserve and touch enough stack
// and heap before the critical section, so that not even a copy-on-write
// fault happens inside it.
//
// # The recipe, step by step
//
// Prepare does the work once, before the deadline-bound part of the program:
//
//  1. Unless told otherwise it turns transparent huge pages off for the
//     process (PR_SET_THP_DISABLE): khugepaged collapsing locked pages into
//     a huge page faults a section that touches them meanwhile. Release
//     turns them back on.
//  2. It locks the address space with mem.LockAll(Current|Future), which
//     first checks that the lock can succeed and that the Future mode will
//     not kill the Go runtime at its next heap growth (see mem.LockAll).
//     Locking faults every mapped page in for writing, so copy-on-write
//     is broken now, not later.
//  3. It touches Options.HeapBytes of Go heap and lets the collector free it:
//     the runtime keeps those pages as free, resident, locked spans, and
//     allocations in the critical section are carved from them without a
//     fault. (Locked pages cannot be returned to the OS by the scavenger:
//     madvise(MADV_DONTNEED) refuses locked memory.)
//  4. It grows the calling goroutine's stack by Options.StackBytes and
//     touches every page of it, the Go form of "call a function with a large
//     automatic array and write to it".
//  5. Optionally it sets the GC percentage (Options.GCPercent), for example
//     to -1 so that no collection, and no stack shrinking, runs during the
//     section.
//
// Run executes the section itself on a goroutine locked to its OS thread,
// grows that goroutine's stack the same way, and reports the minor and major
// page faults the thread took while the section ran (getrusage with
// RUSAGE_THREAD). A prepared section that stays within its reserves reports
// zero of each. Release undoes Prepare.
//
// Off-heap memory from package malloc is locked with the rest. Its regions
// are reserved without access and opened as their top grows, so locking
// costs only what the heap uses (after one small Malloc, 192 KiB of the
// region rather than its 64 MiB). Under the Future mode a region that grows
// is faulted in as it opens, inside the section if it grows there: allocate
// and free a reserve of the sizes the section needs before it, as step 3
// does for the Go heap, so that the section's blocks come from pages already
// open.
//
// Some kernel settings still fault locked memory: compaction may migrate
// locked pages (vm.compact_unevictable_allowed), NUMA balancing samples
// pages by unmapping them. Audit lists the ones in force. What remains is
// the scheduler: a real-time program also wants SCHED_FIFO and an isolated
// CPU, which are outside this package.
package realtime
