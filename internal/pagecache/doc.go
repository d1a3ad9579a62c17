// Package pagecache measures and changes how much of a set of files sits in
// the kernel's page cache: the engine of the vmkit command's resident, touch,
// evict and lock subcommands.
//
// # Structures
//
// A scan starts from root paths and an Options value. Walk visits every
// regular file below the roots exactly once, each as an *Entry: the file is
// open (a raw descriptor, not an *os.File, so that no poller registration
// or finaliser is paid per file), its fstat(2) facts are filled in, and the
// byte span to work on (the whole file, or the part Options.Range selects,
// widened to whole pages) is computed. A Stats value counts directories,
// skipped entries by reason and errors; it is updated atomically because
// the walk runs in parallel.
//
// The residency of an Entry is a Result: the number of pages in the span,
// how many of them are cached, whether the kernel told the truth at all
// (Known), and, when asked, the set of resident pages as a mem.Residency.
//
// # The truth about residency
//
// Since Linux 5.2 (CVE-2019-5489) mincore(2) on a file mapping answers
// truthfully only when the caller owns the file, has CAP_FOWNER or may write
// it; otherwise it reports every page resident and returns no error.
// cachestat(2) (Linux 6.5+) applies the same rule but fails with EPERM. So
// the fast path doubles as the lie detector:
//
//  1. cachestat(fd, span) answers with the number of cached pages: one system
//     call, no mapping, about 170M pages/s. EPERM means the kernel hides the
//     answer: the Result is not Known (printed as "unknown", JSON null).
//  2. When per-page detail is asked for (bars, page ranges), the span is
//     mapped and mincore(2) reads the page set, only after step 1 said the
//     answer is true. mincore runs at 14–20M pages/s and each mapping costs
//     an mmap and a munmap, so it is never used for counts alone.
//  3. Without cachestat (ENOSYS on kernels before 6.5, or Method Mincore)
//     the kernel's rule is applied by hand before trusting mincore: the
//     caller owns the file, has CAP_FOWNER, or faccessat(W_OK, AT_EACCESS)
//     succeeds.
//  4. hugetlbfs has no cachestat (EOPNOTSUPP) and its mincore reports only
//     the caller's own page tables; but its pages are never evicted, so the
//     allocated blocks (st_blocks) are the resident pages. No page set is
//     available there.
//
// # The walk
//
// Directories are read with getdents64(2) into a buffer per worker and the
// entry types come from d_type, so a file costs openat, fstat, the
// measurement and close: four system calls, relative to its directory's
// descriptor so that no path is resolved twice. Workers take jobs from one
// shared LIFO stack; a job is a directory to read or a batch of names in a
// directory already open (a large directory is cut into batches so that all
// workers share it; the directory descriptor is reference counted). A
// directory is entered once per device and inode, which detects symlink
// loops under Options.Follow and repeated roots. Without Options.HardLinks a
// file with more than one link is counted once per device and inode: such
// files are set aside during the walk and visited after it, each under the
// smallest of its paths, so that the name that counts does not depend on
// which worker got there first.
// Special files are skipped and counted; directories of pseudo filesystems
// (proc, sysfs, ...) found inside a tree are skipped; a root that is special
// or on a pseudo filesystem is an error.
//
// # Changing the cache
//
// Evict is posix_fadvise(POSIX_FADV_DONTNEED) over the span, after which the
// caller measures again: pages locked or mapped by another process, and dirty
// pages, stay, and the tool reports what stayed. Touch reads the span with
// pread(2) into a buffer, the plain way a page gets into the cache, in
// chunks so that several workers read one large file in parallel.
package pagecache
