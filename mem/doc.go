// Package mem gives Go programs the page layer of their own virtual memory:
// mappings, protection, locking, residency, advice, synchronisation,
// remapping, the program break, and page faults turned into errors.
//
// # Pages and frames
//
// A process sees a linear virtual address space cut into pages of
// PageSize bytes. A page is backed by a frame of RAM, by a file, or by
// nothing yet; touching a page with no frame is a page fault, which the kernel
// resolves (a minor fault when the data is already in RAM, a major one when
// it must be read from disk) or turns into a signal: SIGSEGV when no mapping
// or the protection forbids the access, SIGBUS when the mapping has no page to
// give, such as past the end of a truncated file. Every call in this package
// works on whole pages: a range is widened by rounding its start down and its
// end up to page boundaries, as Linux's own mlock does and as mprotect,
// madvise, msync and mincore require. So mem.Lock(b[100:200]) locks the whole
// page that holds those bytes.
//
// # Mappings
//
// Map and MapFile return a *Mapping, which owns its pages until Close. Its
// methods act on all of it: Protect, Lock, LockOnFault, Unlock, Advise,
// Resident, Sync and Remap. ReadAt and WriteAt copy in and out a page at a
// time and return a *Fault, not a crash, when a page cannot be accessed.
// A Mapping is safe for concurrent use; after Close every method returns
// ErrClosed rather than touching unmapped memory. Bytes exposes the memory
// directly: fast, and as unchecked as a C pointer once the mapping is closed.
//
// The package-level range functions (Protect, Lock, LockOnFault, Unlock,
// Advise, Resident) take any []byte the caller holds, with the page
// widening above. Changing the protection of, or dropping, Go heap memory
// breaks the garbage collector: use them on mapped memory.
//
// # Residency
//
// Resident asks the kernel (mincore) in calls of 64K pages, a byte per page,
// and packs the answer into a Residency. A Residency keeps one bit per page
// only for the 512-page blocks that are partly resident; a wholly resident
// or absent block costs one summary entry, and a range that is wholly in or
// out of RAM costs a few dozen bytes, whatever its size. ResidentInto reuses
// a Residency's storage, for scanners that read many ranges.
//
// # Locking
//
// Lock faults pages in and keeps them in RAM; LockOnFault keeps them once
// touched. Locks do not nest (one Unlock undoes them all), are not inherited
// by children, vanish on exec and on munmap, and count against
// RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK. LockAll locks the
// whole process, but a Go process reserves about 1.2 GB of address space at
// start; LockAll therefore checks the limit before calling the kernel (see
// its documentation), because a refused MCL_FUTURE is far better than one
// that kills the runtime at its next heap growth. Errors of the lock calls
// name the limit, what is locked, and the remedies.
//
// # Faults
//
// Try runs a function with debug.SetPanicOnFault set and converts a SIGSEGV
// or SIGBUS in it into a *Fault with the exact faulting address and the
// mapping it hit. This is the Go form of the SIGSEGV handler in the example
// of the mprotect(2) manual page (see Example_mprotect, and the program
// examples/mprotect): the program reports the address and carries on.
//
// # The program break
//
// Brk and Sbrk move the end of the data segment. A pure Go binary never
// uses it, so vmkit may; in a cgo binary glibc's malloc owns it and both
// return ErrBreakOwned. The kernel reports a refused move only by leaving
// the break where it was; both functions read it back and fail with ENOMEM.
//
// # Errors
//
// A call that the kernel refuses returns an *Error: the system call, the
// page range and the errno, which it wraps (errors.Is(err, unix.ENOMEM)
// holds), with a Hint when vmkit knows the remedy, as for RLIMIT_MEMLOCK.
// Arguments that cannot work (a length that is not positive, an alignment
// that is not a power of two, an unknown Advice or Prot) are refused before
// any system call with an error that names the argument.
// Every method of a closed Mapping returns ErrClosed; a memory access that
// faults inside Try, ReadAt or WriteAt comes back as a *Fault.
//
// # Platforms
//
// Linux is the target. On other systems every call returns an error that
// matches ErrNotSupported. The raw system calls that golang.org/x/sys lacks
// (mincore, mlock2, brk, and address-based forms of the range calls) live in
// internal/sys; this package issues none itself.
package mem
