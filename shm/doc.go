// Package shm shares memory between processes: POSIX shared memory objects,
// anonymous memfd segments with seals, and System V segments, each mapped as
// a *mem.Mapping so that protection, locking, residency and advice work on it
// as on any other mapping.
//
// # Three kinds of segment
//
// All three are pages of the kernel's shmem (tmpfs) that several processes
// map MAP_SHARED: a store by one is a load away for the others, with no copy
// and no system call. They differ in how a process finds them and in how
// long they live.
//
//   - A POSIX segment (Open) is a file Dir/NAME on tmpfs, found by name,
//     living until Unlink and the last close and unmap. Open follows
//     shm_open(3): "/NAME", whose leading slashes are optional (glibc
//     drops them all), with no other slash; Create, Exclusive, ReadOnly,
//     Truncate.
//   - An anonymous segment (Anonymous) is a memfd (memfd_create(2)) with no
//     name in any directory: only a process holding its file reaches it,
//     which a parent gives to a child with exec.Cmd.ExtraFiles (FromFile on
//     the other side). It can be sealed (Seal): after SealShrink a receiver
//     can map it without fearing SIGBUS, after SealWrite it can trust the
//     contents. It vanishes with its last descriptor and mapping.
//   - A System V segment (SysV) is found by a numeric key or ID and lives
//     in the kernel until Remove and its last detach, even with no process
//     attached. It alone has SHM_LOCK (Lock) and a kernel record of who
//     attached it (Stat).
//
// # States and transitions
//
// A Segment moves Open → Mapped (Map, any number of times) → Closed
// (Close unmaps what Map made and closes the file); its name, for a POSIX
// segment, goes with Unlink at any point. Seals only accumulate.
//
// A SysVSegment moves Detached → Attached (Attach) → Detached (Detach, or
// Close of the *mem.Mapping), and the kernel object moves Live → Removed
// (Remove) → Destroyed (at the last detach). One SysVSegment holds at most
// one attachment; SysVByID gives another handle for another.
//
// # System V attachments as mappings
//
// shmat(2) picks an address and maps the segment there; package mem has no
// way to adopt such an address. Attach therefore reserves the range first
// with mem.Map, which returns a *mem.Mapping, and attaches the segment over
// it with SHM_REMAP: the kernel replaces the reservation by the segment in
// one step, so the Mapping now describes the segment's pages, and munmap of
// the whole range, which Mapping.Close does, is exactly shmdt (the kernel
// drops the attach count when the segment's mapping goes, whatever removes
// it). The tests check both through Stat. A segment of huge pages must sit
// on a huge page boundary: when the kernel refuses the page-aligned
// reservation, Attach reserves one aligned to the huge page size
// (mem.MapAligned) and attaches there.
//
// # Locking
//
// Two locks apply to shared pages. mlock (mem.Mapping.Lock) is per process
// and per mapping: it faults pages in, counts in that process's VmLck, and
// a page mapped by several processes stays locked as long as any one of
// them holds a lock on it; it goes at the last unlock or exit. SHM_LOCK
// (SysVSegment.Lock) is per segment: it faults nothing in, a page is locked
// only once touched, it counts in no process's VmLck, it survives every
// process, and without CAP_IPC_LOCK it is charged to the real user who locked
// it against that user's RLIMIT_MEMLOCK, summed over all the user's locked
// segments. The errors of Lock say so, with the figures.
//
// # Waiting
//
// Word gives an aligned 32-bit word of a shared mapping as an
// *atomic.Uint32; Wait and Wake are the process-shared futex(2) on it, so
// that one process can sleep until another changes the word. A timeout is
// a deadline: FUTEX_WAIT takes a relative time and a signal handler ends
// it with EINTR (which SA_RESTART does not restart), so Wait sleeps again
// for the time left rather than return early or start the full timeout
// over.
//
// # Errors
//
// Every failure is an *Error that names the call and the segment and wraps
// the system error (errors.Is(err, unix.EEXIST), errors.Is(err,
// fs.ErrNotExist)), with a Hint in the caller's terms. Bad names (a slash
// inside, empty, too long), sizes that are negative or cannot be mapped, and
// flag combinations that mean nothing are refused before any system call.
// A call that fails after creating a segment removes it again: a failed
// call leaves nothing behind.
//
// # Platforms
//
// Linux only; elsewhere every call returns an error matching
// ErrNotSupported. The raw system calls x/sys/unix lacks (shmat at a given
// address, shmdt of an address, futex) live in internal/sys.
package shm
