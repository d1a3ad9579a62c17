package proc

import (
	"sort"
	"strconv"
)

// Region is one virtual memory area of a process, as /proc/PID/smaps shows it.
// See the package documentation for how Kind is decided.
type Region struct {
	// Start is the first address of the region; End is one past its last.
	// Both are page aligned and Start < End.
	Start, End uintptr
	// Perms are the access permissions, and whether the mapping is shared.
	Perms Perms
	// Offset is the offset in the mapped file of the byte at Start (zero,
	// or a kernel cookie, for anonymous memory).
	Offset int64
	// Dev is the device of the mapped file; zero for anonymous memory.
	Dev Dev
	// Inode is the inode of the mapped file; zero for anonymous memory.
	Inode uint64
	// Path is the mapped file's path, a special name such as "[heap]", or
	// empty for anonymous memory. A " (deleted)" suffix is not part of it.
	Path string
	// Deleted is set when the kernel printed the path with " (deleted)":
	// the file was unlinked (SysV segments, memfds and shared anonymous
	// memory are always shown this way).
	Deleted bool
	// Kind names the segment the region belongs to.
	Kind Kind

	// Usage holds the byte counters of the region.
	Usage

	// KernelPageSize is the page size the kernel uses for the region (4096
	// unless it is hugetlbfs); MMUPageSize is the one the MMU uses.
	KernelPageSize, MMUPageSize int64
	// THPEligible reports whether transparent huge pages may back the region.
	THPEligible bool
	// ProtectionKey is the memory protection key of the region, or 0 when
	// the kernel does not print one.
	ProtectionKey int
	// VmFlags are the two-letter flags of the VMA ("rd", "wr", "lo", "dd",
	// "wf", ...), in the kernel's order. They are documented in proc(5).
	VmFlags []string
}

// Len returns End - Start.
func (r Region) Len() uintptr { return r.End - r.Start }

// Contains reports whether addr lies in [Start, End).
func (r Region) Contains(addr uintptr) bool { return r.Start <= addr && addr < r.End }

// HasFlag reports whether flag, such as "lo" (locked) or "dd" (excluded from
// core dumps), is among the region's VmFlags.
func (r Region) HasFlag(flag string) bool {
	for _, f := range r.VmFlags {
		if f == flag {
			return true
		}
	}
	return false
}

// Find returns the region of regions, which must be sorted by address as Maps
// and ParseSmaps return them, that contains addr.
func Find(regions []Region, addr uintptr) (Region, bool) {
	i := sort.Search(len(regions), func(i int) bool { return regions[i].End > addr })
	if i < len(regions) && regions[i].Contains(addr) {
		return regions[i], true
	}
	return Region{}, false
}

// Perms are the permissions of a mapping, printed "rwxp" in smaps.
type Perms struct {
	Read, Write, Exec bool
	// Shared is set for a MAP_SHARED mapping ('s'); a private,
	// copy-on-write mapping prints 'p'.
	Shared bool
}

// String returns the permissions as smaps prints them, such as "rw-p".
func (p Perms) String() string {
	b := [4]byte{'-', '-', '-', 'p'}
	if p.Read {
		b[0] = 'r'
	}
	if p.Write {
		b[1] = 'w'
	}
	if p.Exec {
		b[2] = 'x'
	}
	if p.Shared {
		b[3] = 's'
	}
	return string(b[:])
}

// None reports whether the mapping allows no access at all (PROT_NONE).
func (p Perms) None() bool { return !p.Read && !p.Write && !p.Exec }

// Dev is a device number, printed "major:minor" in hexadecimal.
type Dev struct {
	Major, Minor uint32
}

// String returns the device as smaps prints it, such as "fe:00".
func (d Dev) String() string {
	return hex2(d.Major) + ":" + hex2(d.Minor)
}

func hex2(v uint32) string {
	s := strconv.FormatUint(uint64(v), 16)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}

// Kind names the segment a region belongs to. The rules that decide it are in
// the package documentation.
type Kind uint8

// The kinds of region. The zero Kind is KindOther.
const (
	// KindOther is a region none of the rules below covers, such as
	// "[uprobes]" or the "[rollup]" line of smaps_rollup.
	KindOther Kind = iota
	// KindText is an executable private mapping of an object image: code.
	KindText
	// KindROData is a read-only private mapping of an object image:
	// constants, and relocated data write-protected after loading (RELRO).
	KindROData
	// KindData is a writable private mapping of an object image:
	// initialised variables.
	KindData
	// KindBSS is the anonymous private read-write mapping that directly
	// follows a KindData mapping: zero-initialised variables.
	KindBSS
	// KindHeap is "[heap]", the area between the start of the program
	// break and the break (brk/sbrk).
	KindHeap
	// KindStack is "[stack]", the main thread's stack.
	KindStack
	// KindVDSO is "[vdso]", the code the kernel maps into every process.
	KindVDSO
	// KindVVar is "[vvar]" or "[vvar_vclock]", the read-only data of the
	// vDSO.
	KindVVar
	// KindVsyscall is "[vsyscall]", the legacy fixed-address page.
	KindVsyscall
	// KindAnonymous is anonymous private memory: mmap(MAP_ANONYMOUS), Go
	// heap arenas and goroutine stacks, thread stacks, malloc arenas.
	KindAnonymous
	// KindFile is a file mapping that is not part of an object image.
	KindFile
	// KindShm is shared memory without a file in the usual sense: POSIX
	// shm (/dev/shm), memfds, SysV segments, memfd_secret and shared
	// anonymous memory.
	KindShm
	// KindGuard is a private mapping with no access (PROT_NONE): guard
	// pages, holes in shared libraries, and address space reserved, as the
	// Go runtime reserves its arenas. It is also the "reserved" kind.
	KindGuard

	numKinds
)

var kindNames = [numKinds]string{
	KindOther:     "other",
	KindText:      "text",
	KindROData:    "rodata",
	KindData:      "data",
	KindBSS:       "bss",
	KindHeap:      "heap",
	KindStack:     "stack",
	KindVDSO:      "vdso",
	KindVVar:      "vvar",
	KindVsyscall:  "vsyscall",
	KindAnonymous: "anonymous",
	KindFile:      "file",
	KindShm:       "shm",
	KindGuard:     "guard",
}

// Kinds returns every Kind, in declaration order.
func Kinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// String returns the lowercase name of the kind, such as "text" or "guard".
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Segment returns the classical segment, as the GNU C Library manual's
// "Process Memory Concepts" names them, that the kind belongs to: "text" for KindText and KindROData (instructions,
// literals and constants), "data" for KindData, KindBSS and KindHeap (the
// data segment, which the program break extends), "stack" for KindStack, and
// "" for the rest.
func (k Kind) Segment() string {
	switch k {
	case KindText, KindROData:
		return "text"
	case KindData, KindBSS, KindHeap:
		return "data"
	case KindStack:
		return "stack"
	}
	return ""
}

// Usage holds the byte counters smaps prints for a region, or their sum over
// many regions. All are bytes, converted from the kernel's "kB".
type Usage struct {
	// Size is the virtual size (End - Start for one region). It is zero in
	// smaps_rollup, which does not print it.
	Size int64
	// Rss is the resident memory: pages mapped into the page table.
	Rss int64
	// Pss is Rss with each page divided by the number of processes
	// mapping it; PssDirty is its dirty part. PssAnon, PssFile and
	// PssShmem split Pss by backing and are only printed by smaps_rollup.
	Pss, PssDirty, PssAnon, PssFile, PssShmem int64
	// SharedClean and SharedDirty are resident pages also mapped by
	// another process; PrivateClean and PrivateDirty are the others.
	// The four add up to Rss.
	SharedClean, SharedDirty, PrivateClean, PrivateDirty int64
	// Referenced is the memory marked accessed since the last reset.
	Referenced int64
	// Anonymous is the memory not backed by a file, including private
	// copies of file pages.
	Anonymous int64
	// KSM is the memory merged by kernel samepage merging.
	KSM int64
	// LazyFree is memory released with MADV_FREE and not yet reclaimed.
	LazyFree int64
	// AnonHugePages, ShmemPmdMapped and FilePmdMapped are the memory
	// backed by transparent huge pages.
	AnonHugePages, ShmemPmdMapped, FilePmdMapped int64
	// SharedHugetlb and PrivateHugetlb are the hugetlbfs memory, which is
	// not counted in Rss.
	SharedHugetlb, PrivateHugetlb int64
	// Swap is the memory swapped out; SwapPss is its proportional share.
	Swap, SwapPss int64
	// Locked is the memory locked in RAM (mlock), proportionally shared.
	Locked int64
}

// Dirty returns SharedDirty + PrivateDirty, the "Dirty" column of pmap -x.
func (u Usage) Dirty() int64 { return u.SharedDirty + u.PrivateDirty }

// Add adds every counter of v to u.
func (u *Usage) Add(v Usage) {
	u.Size += v.Size
	u.Rss += v.Rss
	u.Pss += v.Pss
	u.PssDirty += v.PssDirty
	u.PssAnon += v.PssAnon
	u.PssFile += v.PssFile
	u.PssShmem += v.PssShmem
	u.SharedClean += v.SharedClean
	u.SharedDirty += v.SharedDirty
	u.PrivateClean += v.PrivateClean
	u.PrivateDirty += v.PrivateDirty
	u.Referenced += v.Referenced
	u.Anonymous += v.Anonymous
	u.KSM += v.KSM
	u.LazyFree += v.LazyFree
	u.AnonHugePages += v.AnonHugePages
	u.ShmemPmdMapped += v.ShmemPmdMapped
	u.FilePmdMapped += v.FilePmdMapped
	u.SharedHugetlb += v.SharedHugetlb
	u.PrivateHugetlb += v.PrivateHugetlb
	u.Swap += v.Swap
	u.SwapPss += v.SwapPss
	u.Locked += v.Locked
}

// Total sums the counters of regions: the "total" line of pmap -x.
func Total(regions []Region) Usage {
	var t Usage
	for i := range regions {
		t.Add(regions[i].Usage)
	}
	return t
}

// ByKind sums the counters of regions per Kind. Kinds with no region are
// absent from the map.
func ByKind(regions []Region) map[Kind]Usage {
	m := make(map[Kind]Usage)
	for i := range regions {
		u := m[regions[i].Kind]
		u.Add(regions[i].Usage)
		m[regions[i].Kind] = u
	}
	return m
}
