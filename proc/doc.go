// Package proc reads a process's address space and its page-fault counters
// from the kernel: what is mapped where, how much of it is resident, locked,
// dirty or swapped, and how many page faults it took to get there.
//
// # Structures
//
// A process's virtual address space is a sorted list of non-overlapping
// virtual memory areas (VMAs). The kernel prints one paragraph per VMA in
// /proc/PID/smaps: a header line
//
//	7f3184bbc000-7f3184bcc000 rw-p 00000000 00:00 0        /path/or/[name]
//
// followed by "Key: value" lines (Size, Rss, Pss, ..., Locked) and a final
// VmFlags line of two-letter flags ("rd wr mr mw me lo ac dd"). Package proc
// turns each paragraph into a [Region]: the header fields (Start, End, [Perms],
// Offset, [Dev], Inode, Path), the byte counters, gathered in an embedded
// [Usage] so that they can be summed with [Total] and [ByKind], the VmFlags,
// and a [Kind] that names the segment the region belongs to.
//
// The files:
//
//   - region.go: Region, Perms, Dev, Kind, Usage; Total, ByKind and Find.
//   - smaps.go: ParseSmaps, the parser, and the classification below. It is
//     pure text processing, portable, and fuzzed by FuzzParseSmaps.
//   - stat.go: ParseStat for a /proc/PID/stat line, and PageFaults, the
//     counters returned by Faults and FaultsOf.
//   - status.go: ProcessStatus, the identity and memory lines of
//     /proc/PID/status, and ParseStatus.
//   - proc_linux.go: the functions that read a live process: Maps, Rollup,
//     Status, Faults, FaultsOf and StatOf.
//   - proc_other.go: the same functions on other systems, where they return
//     an error that says "proc: not supported on GOOS" and wraps
//     errors.ErrUnsupported.
//
// The types that Status and Faults return are named ProcessStatus and
// PageFaults, because a Go package cannot hold a type and a function of the
// same name.
//
// # Reading smaps
//
//  1. Maps opens /proc/self/smaps (pid 0) or /proc/PID/smaps and hands it to
//     the parser through a pooled 64 KiB buffer. The kernel builds the text
//     as it is read and drops mmap_lock between reads, so a process that maps
//     or unmaps concurrently can see a region split, merged or missing; every
//     region returned was nonetheless real at some moment of the read.
//  2. A line whose first byte is a lowercase hex digit is a header. Its fields
//     are separated by single blanks; after the inode the kernel pads with
//     blanks to a fixed column and prints the path verbatim to the end of the
//     line, so a path may contain blanks and parentheses. A file path always
//     starts with '/' and a special name with '[', so skipping the padding
//     never eats part of a path. A trailing " (deleted)" is removed from Path
//     and reported in Deleted. The kernel escapes a newline in a path as
//     "\012" and nothing else; Path keeps that escape.
//  3. Any other line is "Key: value". Known keys fill their field; values in
//     "kB" become bytes. Unknown keys are skipped without looking at their
//     value, so a newer kernel that adds a key does not break the parser.
//  4. When the text is read, a second pass classifies every region, because
//     the executable mapping of an object can come after its first read-only
//     one.
//
// The parser allocates little: one slice of regions, one string per distinct
// path (consecutive regions of one object share it), and VmFlags carved out of
// a shared backing array with the known two-letter flags interned.
//
// # Classification
//
// The GNU C Library manual ("Process Memory Concepts") names the segments of
// a process: text (the instructions, literals and constants, made by exec and
// unchanged), data (made by exec, writable) and stack. On a modern ELF system every loaded
// object (the executable and each shared library) is mapped as a few private
// file mappings of the same file, plus, for the zero-initialised tail of its
// data (bss), an anonymous mapping that follows its data mapping directly.
// The rules, first match wins:
//
//  1. Special names: "[heap]" is KindHeap (the program-break area),
//     "[stack]" (and the old "[stack:TID]") KindStack, "[vdso]" KindVDSO,
//     "[vvar]" and "[vvar_vclock]" KindVVar, "[vsyscall]" KindVsyscall,
//     "[anon:NAME]" (prctl PR_SET_VMA_ANON_NAME) KindAnonymous and
//     "[anon_shmem:NAME]" KindShm. Other bracketed names ("[uprobes]",
//     "[rollup]") are KindOther.
//  2. Shared memory, KindShm: paths under /dev/shm/ (POSIX shm_open),
//     "/memfd:NAME" (memfd_create), "/SYSV%08x" (SysV shmget, always shown
//     "(deleted)"), "/secretmem" (memfd_secret), and "/dev/zero (deleted)"
//     mapped shared, which is how MAP_SHARED|MAP_ANONYMOUS memory appears.
//  3. A private mapping with no access at all ("---p") is KindGuard, with or
//     without a file. The kernel cannot tell the two uses apart, and both
//     occur: guard pages below thread stacks and the holes of shared
//     libraries are small, while the Go runtime reserves about 1.2 GB of
//     PROT_NONE address space for its heap arenas and maps parts of it in
//     as it grows. Either way nothing can touch such a region, and it costs
//     address space (and VmLck under mlockall) but no memory.
//  4. An anonymous region (no path) that is private and read-write and
//     starts exactly where a KindData region ends is KindBSS. Any other
//     anonymous region is KindAnonymous: Go heap arenas, goroutine and thread
//     stacks, malloc arenas, mmap(MAP_ANONYMOUS).
//  5. A file is an object image when some private mapping of it (same device,
//     inode and path) is executable. Its private mappings are KindText when
//     executable, KindData when writable, and KindROData when read-only
//     (.rodata, and the RELRO part of .data that the dynamic loader
//     write-protects after relocation). KindROData is an extension: the manual
//     counts constants as part of text, and KindROData.Segment() says so.
//  6. Any other file mapping is KindFile.
//
// Rules 4 and 5 are inferences, not kernel facts: a program that maps a file
// PROT_EXEC makes it an image, and an anonymous mapping that the kernel
// happens to place right after a library's data mapping is taken for bss.
// The kernel itself offers nothing better, and on the layouts that exec and
// ld.so produce the rules are exact (see the captured testdata).
//
// # Counters
//
// [Rollup] reads /proc/PID/smaps_rollup, the kernel's own sum of every
// region, far cheaper than [Total] of [Maps]. [Status] reads the Vm* and Rss*
// lines of /proc/PID/status through internal/procfs (lines an older kernel
// does not print read as zero). [Faults] reads the minor and major fault
// counts of the process and of the calling thread through getrusage(2)
// (RUSAGE_SELF and RUSAGE_THREAD); a thread's count is only meaningful to a
// goroutine that called runtime.LockOSThread. [FaultsOf] reads fields 10 and
// 12 of /proc/PID/stat, whose second field, the command name, may itself
// contain blanks and parentheses: [ParseStat] splits at the last ')'.
package proc
