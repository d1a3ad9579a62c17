package mem

import (
	"errors"
	"os"
	"strconv"
	"strings"
)

// PageSize returns the size in bytes of a page of virtual memory, the unit in
// which the kernel maps, protects, locks and reports residency.
func PageSize() int { return pageSize }

var pageSize = os.Getpagesize()

// Prot is the access a mapping allows: a bit set of Read, Write and Exec, or
// None. It has the values of PROT_* on Linux.
type Prot int

// The protections of mprotect(2).
const (
	// None forbids every access: any load or store faults.
	None Prot = 0
	// Read allows loads.
	Read Prot = 0x1
	// Write allows stores. On x86 a writable page is also readable.
	Write Prot = 0x2
	// Exec allows instruction fetches.
	Exec Prot = 0x4
)

// String renders p as the three permission letters of /proc/PID/maps,
// such as "rw-" or "---".
func (p Prot) String() string {
	b := []byte("---")
	if p&Read != 0 {
		b[0] = 'r'
	}
	if p&Write != 0 {
		b[1] = 'w'
	}
	if p&Exec != 0 {
		b[2] = 'x'
	}
	if p&^(Read|Write|Exec) != 0 {
		return string(b) + "+?"
	}
	return string(b)
}

// Flags choose the kind of mapping. The zero value is a private mapping:
// copy-on-write for files, process-private for anonymous memory.
type Flags uint32

const (
	// Shared makes writes visible to every process that maps the same pages
	// and, for a file, carries them to the file (MAP_SHARED).
	Shared Flags = 1 << iota
	// Populate faults every page in at map time (MAP_POPULATE), so the first
	// access does not page-fault.
	Populate
	// NoReserve maps without reserving swap space (MAP_NORESERVE); under
	// memory pressure a write may then kill the process instead of the
	// mapping failing up front.
	NoReserve
	// MapLocked locks the pages as they are mapped (MAP_LOCKED), like a
	// Lock right after Map, subject to the same RLIMIT_MEMLOCK.
	MapLocked
	// HugePages backs the mapping with explicit huge pages (MAP_HUGETLB) of
	// the system's default huge page size, or of Huge2MB/Huge1GB when one of
	// those is also set. It needs pages reserved in vm.nr_hugepages; for
	// transparent huge pages use Advise(HugePage) on an ordinary mapping.
	// The mapping is made of whole huge pages: Map rounds the length up to
	// them, and Protect, Lock and the other range calls on part of it must
	// cover whole huge pages too.
	HugePages
	// Huge2MB asks for 2 MiB huge pages; it implies HugePages.
	Huge2MB
	// Huge1GB asks for 1 GiB huge pages; it implies HugePages.
	Huge1GB
)

// String names the flags, such as "shared|populate", or "private".
func (f Flags) String() string {
	names := []string{"shared", "populate", "noreserve", "locked", "hugepages", "huge2mb", "huge1gb"}
	var parts []string
	if f&Shared == 0 {
		parts = append(parts, "private")
	}
	for i, n := range names {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, "|")
}

// Advice tells the kernel how a range will be used (madvise(2)). Some values
// change the contents of memory (DontNeed, Free, Remove, WipeOnFork): read
// their comments before using them on data you want to keep.
type Advice int

// Every advice of madvise(2) that the Linux kernel names. The values are the
// kernel's MADV_* numbers.
const (
	// Normal removes any earlier access-pattern advice.
	Normal Advice = 0
	// Random expects random access: the kernel reads ahead less.
	Random Advice = 1
	// Sequential expects one sequential pass: the kernel reads ahead more and
	// may drop pages soon after they were read.
	Sequential Advice = 2
	// WillNeed asks the kernel to read the pages in ahead of use.
	WillNeed Advice = 3
	// DontNeed drops the pages now. Private anonymous memory then reads back
	// as zeros; a private file mapping reverts to the file's contents; shared
	// memory keeps its contents. It fails on locked pages.
	DontNeed Advice = 4
	// Free lets the kernel reclaim the pages lazily when it needs memory
	// (private anonymous memory only). Until then they keep their contents;
	// a write cancels the free for that page.
	Free Advice = 8
	// Remove frees the pages and their backing store (a hole is punched in
	// a shared file or shmem object): they read back as zeros.
	Remove Advice = 9
	// DontFork keeps the range out of children made by fork: there it is
	// unmapped.
	DontFork Advice = 10
	// DoFork undoes DontFork.
	DoFork Advice = 11
	// Mergeable offers the pages to kernel same-page merging (KSM).
	Mergeable Advice = 12
	// Unmergeable undoes Mergeable.
	Unmergeable Advice = 13
	// HugePage asks for transparent huge pages in the range.
	HugePage Advice = 14
	// NoHugePage forbids transparent huge pages in the range.
	NoHugePage Advice = 15
	// DontDump excludes the range from core dumps.
	DontDump Advice = 16
	// DoDump undoes DontDump.
	DoDump Advice = 17
	// WipeOnFork makes a forked child see the range as zero-filled private
	// memory (private anonymous mappings only). It survives exec-less forks
	// only; exec replaces the address space anyway.
	WipeOnFork Advice = 18
	// KeepOnFork undoes WipeOnFork.
	KeepOnFork Advice = 19
	// Cold deactivates the pages: they become the first candidates for
	// reclaim, contents kept (Linux 5.4+).
	Cold Advice = 20
	// PageOut reclaims the pages now, writing them to swap or their file
	// (Linux 5.4+). Without swap, anonymous pages stay.
	PageOut Advice = 21
	// PopulateRead faults the pages in for reading, like touching each one
	// (Linux 5.14+).
	PopulateRead Advice = 22
	// PopulateWrite faults the pages in for writing, breaking copy-on-write,
	// like writing to each one (Linux 5.14+).
	PopulateWrite Advice = 23
)

var adviceNames = map[Advice]string{
	Normal: "normal", Random: "random", Sequential: "sequential", WillNeed: "willneed",
	DontNeed: "dontneed", Free: "free", Remove: "remove", DontFork: "dontfork", DoFork: "dofork",
	Mergeable: "mergeable", Unmergeable: "unmergeable", HugePage: "hugepage",
	NoHugePage: "nohugepage", DontDump: "dontdump", DoDump: "dodump", WipeOnFork: "wipeonfork",
	KeepOnFork: "keeponfork", Cold: "cold", PageOut: "pageout", PopulateRead: "populate-read",
	PopulateWrite: "populate-write",
}

// String is the advice's name, such as "willneed" or "populate-write".
func (a Advice) String() string {
	if s, ok := adviceNames[a]; ok {
		return s
	}
	return "advice(" + itoa(int64(a)) + ")"
}

// ParseAdvice returns the Advice named s, as printed by Advice.String. An
// unknown name is an error that lists the valid ones.
func ParseAdvice(s string) (Advice, error) {
	for a, n := range adviceNames {
		if n == s {
			return a, nil
		}
	}
	return 0, errors.New("mem: unknown advice " + strconvQuote(s) + "; use one of normal, random, sequential, willneed, dontneed, free, remove, dontfork, dofork, mergeable, unmergeable, hugepage, nohugepage, dontdump, dodump, wipeonfork, keeponfork, cold, pageout, populate-read, populate-write")
}

// FileAdvice tells the kernel how a file will be read (posix_fadvise(2)).
type FileAdvice int

// The POSIX_FADV_* advice. The values are Linux's.
const (
	// FileNormal removes earlier advice.
	FileNormal FileAdvice = 0
	// FileRandom expects random reads: no read-ahead.
	FileRandom FileAdvice = 1
	// FileSequential expects a sequential read: a larger read-ahead.
	FileSequential FileAdvice = 2
	// FileWillNeed starts reading the range into the page cache now.
	FileWillNeed FileAdvice = 3
	// FileDontNeed drops the range's clean pages from the page cache. Dirty
	// pages, and pages locked or mapped by a process, stay.
	FileDontNeed FileAdvice = 4
	// FileNoReuse expects each byte to be read once.
	FileNoReuse FileAdvice = 5
)

// String is the advice's name, such as "dontneed".
func (a FileAdvice) String() string {
	switch a {
	case FileNormal:
		return "normal"
	case FileRandom:
		return "random"
	case FileSequential:
		return "sequential"
	case FileWillNeed:
		return "willneed"
	case FileDontNeed:
		return "dontneed"
	case FileNoReuse:
		return "noreuse"
	}
	return "fileadvice(" + itoa(int64(a)) + ")"
}

// SyncFlags choose how Sync writes a shared file mapping back (msync(2)).
// The zero value is SyncNow.
type SyncFlags int

const (
	// SyncNow writes the dirty pages and waits for the writes (MS_SYNC).
	SyncNow SyncFlags = 0
	// SyncAsync schedules the writes and returns (MS_ASYNC).
	SyncAsync SyncFlags = 1 << iota
	// SyncInvalidate asks other mappings of the same file to see the new
	// contents (MS_INVALIDATE). It may be combined with the others.
	SyncInvalidate
)

// LockAllFlags choose what LockAll locks (mlockall(2)).
type LockAllFlags int

const (
	// Current locks every page mapped now and faults it in.
	Current LockAllFlags = 1 << iota
	// Future locks every page mapped from now on. Without OnFault, every
	// later mapping is faulted in completely at the moment it is made: a
	// 64 MiB mmap costs 64 MiB of RAM at once, and the Go runtime's heap
	// growth does the same.
	Future
	// OnFault locks pages only as they are first touched (MCL_ONFAULT).
	OnFault
)

// String names the flags, such as "current|future".
func (f LockAllFlags) String() string {
	var parts []string
	for i, n := range []string{"current", "future", "onfault"} {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// Unlimited is the value of a Limit field that means no limit
// (RLIM_INFINITY).
const Unlimited int64 = -1

// Limit is a resource limit in bytes: the soft limit the kernel enforces and
// the hard ceiling up to which an unprivileged process may raise it.
type Limit struct {
	// Soft is enforced; Unlimited means no limit.
	Soft int64
	// Hard bounds Soft; Unlimited means no bound.
	Hard int64
}

// String renders the limit as "soft/hard", such as "8 MiB/8 MiB".
func (l Limit) String() string { return limitString(l.Soft) + "/" + limitString(l.Hard) }

func limitString(v int64) string {
	if v == Unlimited {
		return "unlimited"
	}
	return FormatBytes(v)
}

// Errors that vmkit's mem package returns itself. System errors are wrapped
// in *Error, so errors.Is(err, unix.ENOMEM) and the like hold.
var (
	// ErrClosed is returned by every method of a Mapping after Close.
	ErrClosed = errors.New("mem: mapping is closed")
	// ErrNotSupported is returned on systems other than Linux.
	ErrNotSupported = errors.New("mem: not supported on this system")
	// ErrBreakOwned is returned by Brk and Sbrk in a binary that links the C
	// library's allocator (built with cgo), which owns the program break.
	ErrBreakOwned = errors.New("mem: the program break belongs to the C allocator in a cgo binary; build with CGO_ENABLED=0 or allocate with Map")
)

// roundUp works in whole pages, as the kernel does.
func roundUp(x uintptr) uintptr { return (x + uintptr(pageSize) - 1) &^ uintptr(pageSize-1) }

// FormatBytes renders n bytes in binary units: "64 KiB" when exact,
// "1.5 GiB" (one decimal) otherwise, and plain bytes below 1 KiB.
func FormatBytes(n int64) string {
	if n < 0 {
		// -n overflows for math.MinInt64, but its bits as a uint64 are the
		// magnitude, 1<<63.
		return "-" + formatBytes(uint64(-n))
	}
	return formatBytes(uint64(n))
}

func formatBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for i < len(units)-1 && n >= uint64(1)<<(10*(i+1)) {
		i++
	}
	if i == 0 {
		return strconv.FormatUint(n, 10) + " B"
	}
	unit := uint64(1) << (10 * i)
	if n%unit == 0 {
		return strconv.FormatUint(n/unit, 10) + " " + units[i]
	}
	return strconv.FormatFloat(float64(n)/float64(unit), 'f', 1, 64) + " " + units[i]
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func strconvQuote(s string) string { return strconv.Quote(s) }
