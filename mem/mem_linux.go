package mem

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/internal/sys"
	"github.com/vmkit/vmkit/proc"
)

// mmapFlags translates Flags into MAP_* bits.
func mmapFlags(f Flags) int {
	fl := unix.MAP_PRIVATE
	if f&Shared != 0 {
		fl = unix.MAP_SHARED
	}
	if f&Populate != 0 {
		fl |= unix.MAP_POPULATE
	}
	if f&NoReserve != 0 {
		fl |= unix.MAP_NORESERVE
	}
	if f&MapLocked != 0 {
		fl |= unix.MAP_LOCKED
	}
	if f&(HugePages|Huge2MB|Huge1GB) != 0 {
		fl |= unix.MAP_HUGETLB
		switch {
		case f&Huge1GB != 0:
			fl |= unix.MAP_HUGE_1GB
		case f&Huge2MB != 0:
			fl |= unix.MAP_HUGE_2MB
		}
	}
	return fl
}

func checkProt(p Prot) error {
	if p&^(Read|Write|Exec) != 0 {
		return fmt.Errorf("mem: invalid protection %#x: combine mem.Read, mem.Write and mem.Exec, or use mem.None", int(p))
	}
	return nil
}

func checkFlags(f Flags) error {
	if f&^(Shared|Populate|NoReserve|MapLocked|HugePages|Huge2MB|Huge1GB) != 0 {
		return fmt.Errorf("mem: invalid flags %#x", uint32(f))
	}
	if f&Huge2MB != 0 && f&Huge1GB != 0 {
		return errors.New("mem: Huge2MB and Huge1GB exclude each other: choose one huge page size")
	}
	return nil
}

// hugePageSize is the size of the huge pages flags ask for: 2 MiB or 1 GiB
// when Huge2MB or Huge1GB names it, else the system's default; 0 when flags
// ask for no huge pages.
func hugePageSize(flags Flags) uintptr {
	switch {
	case flags&Huge1GB != 0:
		return 1 << 30
	case flags&Huge2MB != 0:
		return 2 << 20
	case flags&HugePages != 0:
		return defaultHugePageSize()
	}
	return 0
}

// defaultHugePageSize is Hugepagesize from /proc/meminfo, or PageSize on a
// kernel without huge pages (where mmap then refuses MAP_HUGETLB).
var defaultHugePageSize = sync.OnceValue(func() uintptr {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return uintptr(pageSize)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Hugepagesize:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 32)
			if err != nil || kb == 0 || kb&(kb-1) != 0 || kb<<10 < uint64(pageSize) {
				break
			}
			return uintptr(kb) << 10
		}
	}
	return uintptr(pageSize)
})

// roundTo rounds x up to a multiple of page, a power of two; the result
// wraps to a value below x on overflow.
func roundTo(x, page uintptr) uintptr { return (x + page - 1) &^ (page - 1) }

// Map maps length bytes of anonymous memory, zero-filled, with protection
// prot. The zero Flags give private memory; Shared memory is inherited by
// children made with fork. length is rounded up to whole pages, or to whole
// huge pages with HugePages, Huge2MB or Huge1GB (the kernel maps, unmaps
// and remaps hugetlb memory only so); Len reports length.
func Map(length int, prot Prot, flags Flags) (*Mapping, error) {
	if length <= 0 {
		return nil, fmt.Errorf("mem: Map length %d: the length must be positive", length)
	}
	if err := checkProt(prot); err != nil {
		return nil, err
	}
	if err := checkFlags(flags); err != nil {
		return nil, err
	}
	page := uintptr(pageSize)
	if hp := hugePageSize(flags); hp != 0 {
		page = hp
	}
	size := roundTo(uintptr(length), page)
	if size < uintptr(length) || size > math.MaxInt {
		return nil, &Error{Op: "mmap", Len: length, Err: unix.ENOMEM, Hint: "the length overflows the address space"}
	}
	p, err := unix.MmapPtr(-1, 0, nil, size, int(prot), mmapFlags(flags)|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, &Error{Op: "mmap", Len: int(size), Err: err, Hint: mmapHint(err, flags, int64(size))}
	}
	return &Mapping{base: p, size: size, page: page, length: length, prot: prot, flags: flags}, nil
}

// MapAligned is Map with the start of the mapping on a multiple of align,
// a power of two of at least PageSize: for huge pages, for System V
// segments of huge pages, or for allocators that find a block's header by
// masking its address. It maps length+align bytes and unmaps the slack
// before and after, so no address space is wasted once it returns.
func MapAligned(length, align int, prot Prot, flags Flags) (*Mapping, error) {
	if align < pageSize || align&(align-1) != 0 {
		return nil, fmt.Errorf("mem: MapAligned alignment %d: give a power of two of at least the page size (%d)", align, pageSize)
	}
	if length <= 0 {
		return nil, fmt.Errorf("mem: MapAligned length %d: the length must be positive", length)
	}
	if flags&(HugePages|Huge2MB|Huge1GB) != 0 {
		return nil, errors.New("mem: MapAligned with huge pages: a huge-page mapping is already aligned to its page size; use Map")
	}
	if err := checkProt(prot); err != nil {
		return nil, err
	}
	if err := checkFlags(flags); err != nil {
		return nil, err
	}
	size := roundUp(uintptr(length))
	total := size + uintptr(align)
	if size < uintptr(length) || total < size || total > math.MaxInt {
		return nil, &Error{Op: "mmap", Len: length, Err: unix.ENOMEM, Hint: "the length overflows the address space"}
	}
	// Reserve without access or population, then trim and open the part kept.
	p, err := unix.MmapPtr(-1, 0, nil, total, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, &Error{Op: "mmap", Len: int(total), Err: err, Hint: mmapHint(err, flags, int64(total))}
	}
	head := (uintptr(align) - uintptr(p)%uintptr(align)) % uintptr(align)
	if head > 0 {
		unix.MunmapPtr(p, head)
	}
	base := unsafe.Add(p, head)
	if tail := total - head - size; tail > 0 {
		unix.MunmapPtr(unsafe.Add(base, size), tail)
	}
	// Map the kept range again, fixed, with the asked protection and flags.
	q, err := unix.MmapPtr(-1, 0, base, size, int(prot), mmapFlags(flags)|unix.MAP_ANONYMOUS|unix.MAP_FIXED)
	if err != nil {
		unix.MunmapPtr(base, size)
		return nil, &Error{Op: "mmap", Addr: uintptr(base), Len: int(size), Err: err, Hint: mmapHint(err, flags, int64(size))}
	}
	return &Mapping{base: q, size: size, page: uintptr(pageSize), length: length, prot: prot, flags: flags}, nil
}

// MapFile maps length bytes of f starting at offset. With Shared, writes
// through the mapping reach the file (Sync makes them durable); without it
// the mapping is private and copy-on-write: writes stay in this process.
//
// offset need not be page aligned: the mapping starts at the page holding
// offset, and Bytes starts at offset itself. length 0 maps from offset to the
// end of the file. A mapping may extend past the end of the file; touching
// whole pages past the end raises SIGBUS, which ReadAt, WriteAt and Try turn
// into a *Fault. The mapping stays valid after f is closed.
//
// A file on hugetlbfs (or a memfd made with MFD_HUGETLB) is mapped in whole
// huge pages: the mapping starts at the huge page holding offset and ends
// at a huge page boundary. The flags HugePages, Huge2MB and Huge1GB are for
// anonymous memory; the kernel refuses them for any other file.
func MapFile(f *os.File, offset int64, length int, prot Prot, flags Flags) (*Mapping, error) {
	if f == nil {
		return nil, errors.New("mem: MapFile of a nil *os.File")
	}
	if offset < 0 {
		return nil, fmt.Errorf("mem: MapFile %s: negative offset %d", f.Name(), offset)
	}
	if length < 0 {
		return nil, fmt.Errorf("mem: MapFile %s: negative length %d", f.Name(), length)
	}
	if err := checkProt(prot); err != nil {
		return nil, err
	}
	if err := checkFlags(flags); err != nil {
		return nil, err
	}
	if length == 0 {
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("mem: MapFile: %w", err)
		}
		if !st.Mode().IsRegular() && st.Mode()&os.ModeDevice == 0 {
			return nil, fmt.Errorf("mem: MapFile %s: not a regular file (%s); give an explicit length to map a device", f.Name(), st.Mode().Type())
		}
		if st.Size() <= offset {
			return nil, fmt.Errorf("mem: MapFile %s: nothing to map: the file has %d bytes and the offset is %d", f.Name(), st.Size(), offset)
		}
		if st.Size()-offset > int64(^uint(0)>>1) {
			return nil, fmt.Errorf("mem: MapFile %s: %d bytes do not fit in an int; map a window with an explicit length", f.Name(), st.Size()-offset)
		}
		length = int(st.Size() - offset)
	}
	var p unsafe.Pointer
	var merr error
	var head, size uintptr
	page := uintptr(pageSize)
	if err := control(f, func(fd int) {
		// A file of huge pages maps, unmaps and remaps in whole huge pages
		// only: align the offset and the size to them.
		var fs unix.Statfs_t
		err := unix.Fstatfs(fd, &fs)
		// Bsize is int64, or uint32 (s390x), or int32 (32-bit systems).
		if bsize := int64(fs.Bsize); err == nil && uint32(fs.Type) == uint32(unix.HUGETLBFS_MAGIC) &&
			bsize > int64(pageSize) && bsize&(bsize-1) == 0 {
			page = uintptr(bsize)
		}
		head = uintptr(offset) & (page - 1)
		size = head + uintptr(length)
		if page > uintptr(pageSize) {
			size = roundTo(size, page)
		}
		if size < uintptr(length) || size > math.MaxInt {
			merr = errOverflow
			return
		}
		p, merr = unix.MmapPtr(fd, offset-int64(head), nil, size, int(prot), mmapFlags(flags))
	}); err != nil {
		return nil, fmt.Errorf("mem: MapFile %s: %w", f.Name(), err)
	}
	if merr == errOverflow {
		return nil, &Error{Op: "mmap", Len: length, Err: unix.ENOMEM, Hint: "the length overflows the address space"}
	}
	if merr != nil {
		e := &Error{Op: "mmap " + f.Name(), Len: int(size), Err: merr, Hint: mmapHint(merr, flags, int64(size))}
		switch {
		case errors.Is(merr, unix.EACCES):
			e.Hint = fileAccessHint(f, prot, flags)
		case errors.Is(merr, unix.ENODEV):
			// mmap gives ENODEV for a directory, a pipe or a socket too,
			// not only for a filesystem without mmap.
			if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() && st.Mode()&os.ModeDevice == 0 {
				e.Hint = "not a regular file (" + st.Mode().Type().String() + "): only regular files and devices can be mapped"
			}
		case errors.Is(merr, unix.EINVAL) && flags&(HugePages|Huge2MB|Huge1GB) != 0 && page == uintptr(pageSize):
			e.Hint = "huge page flags map anonymous memory only: to map a file of huge pages, put it on hugetlbfs (or make a memfd with MFD_HUGETLB) and map it without them"
		}
		return nil, e
	}
	return &Mapping{base: p, size: size, page: page, head: head, length: length, prot: prot, flags: flags, file: true}, nil
}

// Adopt wraps memory that was mapped by other means, such as a System V
// segment attached with shmat(2), as a Mapping, so that protection, locking,
// residency and advice work on it unchanged. b must start on a page
// boundary. Close calls release (for example shmdt) instead of munmap, once;
// Remap is refused. prot should be the protection the memory was mapped
// with; it is what Prot reports until Protect changes it.
func Adopt(b []byte, prot Prot, release func() error) (*Mapping, error) {
	if len(b) == 0 {
		return nil, errors.New("mem: Adopt of empty memory")
	}
	if release == nil {
		return nil, errors.New("mem: Adopt needs a release function that unmaps the memory")
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%uintptr(pageSize) != 0 {
		return nil, fmt.Errorf("mem: Adopt: memory at %#x does not start on a page boundary", uintptr(p))
	}
	if err := checkProt(prot); err != nil {
		return nil, err
	}
	return &Mapping{base: p, size: roundUp(uintptr(len(b))), page: uintptr(pageSize), length: len(b), prot: prot, release: release}, nil
}

// errOverflow marks a size that overflows inside MapFile's control callback.
var errOverflow = errors.New("mem: size overflows")

// control runs fn with f's descriptor without changing its mode (f.Fd would
// make it blocking).
func control(f *os.File, fn func(fd int)) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) })
}

func fileAccessHint(f *os.File, prot Prot, flags Flags) string {
	if flags&Shared != 0 && prot&Write != 0 {
		return "a shared writable mapping needs the file opened read-write: use os.OpenFile(name, os.O_RDWR, 0)"
	}
	return "the file must be opened for reading, on a filesystem mounted without noexec when mem.Exec is asked"
}

func mmapHint(err error, flags Flags, size int64) string {
	switch {
	case errors.Is(err, unix.ENOMEM) && flags&(HugePages|Huge2MB|Huge1GB) != 0:
		return "no free huge pages of that size: reserve some with sysctl vm.nr_hugepages (see HugePages_Free in /proc/meminfo), or map ordinary pages and Advise(HugePage)"
	case errors.Is(err, unix.EAGAIN) && flags&MapLocked != 0, errors.Is(err, unix.EPERM) && flags&MapLocked != 0:
		return lockHint(err, size)
	case errors.Is(err, unix.ENOMEM):
		return "out of address space or over the overcommit limit (see vm.overcommit_memory, vm.max_map_count and ulimit -v)"
	case errors.Is(err, unix.ENODEV):
		return "the file's filesystem does not support memory mapping"
	case errors.Is(err, unix.EINVAL) && flags&(HugePages|Huge2MB|Huge1GB) != 0:
		return "this system has no huge pages of that size: /sys/kernel/mm/hugepages lists the sizes it has"
	}
	return ""
}

// rangeErr builds the *Error of a range operation with the rounded bounds.
func rangeErr(op string, p unsafe.Pointer, n uintptr, err error) *Error {
	s, l := sys.Pages(p, n)
	return &Error{Op: op, Addr: s, Len: int(l), Err: err}
}

// lockHint explains a failed lock: the limit, what is locked, the remedies.
func lockHint(err error, size int64) string {
	lim, lerr := LockLimit()
	locked, _ := Locked()
	if lerr != nil {
		return ""
	}
	switch {
	case errors.Is(err, unix.EPERM):
		return "RLIMIT_MEMLOCK is 0 and the process lacks CAP_IPC_LOCK: raise the limit with `ulimit -l`, prlimit --memlock or systemd's LimitMEMLOCK=, or grant CAP_IPC_LOCK"
	case errors.Is(err, unix.ENOMEM), errors.Is(err, unix.EAGAIN):
		if capEff, err := procfs.CapEff(0); err == nil && capEff&procfs.CapIPCLock != 0 {
			return "the process has CAP_IPC_LOCK, so RLIMIT_MEMLOCK does not apply: part of the range is not mapped, locking it would split mappings past vm.max_map_count, or the kernel is out of memory"
		}
		if lim.Soft != Unlimited && locked+size > lim.Soft {
			return fmt.Sprintf("RLIMIT_MEMLOCK is %s, %s is locked already and the call asked to lock %s: raise the limit with `ulimit -l`, prlimit --memlock or systemd's LimitMEMLOCK=, grant CAP_IPC_LOCK, or lock less",
				limitString(lim.Soft), FormatBytes(locked), FormatBytes(size))
		}
		return "part of the range is not mapped, or the kernel is out of memory"
	}
	return ""
}

// Protect sets the protection of the pages of b (mprotect(2)). Every page
// that holds a byte of b changes: the start is rounded down and the end up to
// page boundaries, as the kernel requires. b must lie in memory mapped with
// Map or MapFile, or otherwise obtained from mmap: changing the protection of
// Go heap memory will crash the garbage collector. A range with a hole in it
// is refused with nothing changed (mprotect itself would change the part
// before the hole).
func Protect(b []byte, p Prot) error {
	if len(b) == 0 {
		return nil
	}
	if err := checkProt(p); err != nil {
		return err
	}
	ptr := unsafe.Pointer(unsafe.SliceData(b))
	// Linux changes the mappings before a hole and then fails: refuse a
	// range with a hole before changing anything (see lockRange).
	if err := sys.Msync(ptr, uintptr(len(b)), unix.MS_ASYNC); errors.Is(err, unix.ENOMEM) {
		e := rangeErr("mprotect", ptr, uintptr(len(b)), err)
		e.Hint = "part of the range is not mapped; no protection was changed"
		return e
	}
	if err := sys.Mprotect(ptr, uintptr(len(b)), int(p)); err != nil {
		e := rangeErr("mprotect", ptr, uintptr(len(b)), err)
		switch {
		case errors.Is(err, unix.ENOMEM):
			e.Hint = "part of the range is not mapped, the change would split a mapping past vm.max_map_count, or making private memory writable exceeds the overcommit limit (vm.overcommit_memory)"
		case errors.Is(err, unix.EACCES):
			e.Hint = protectAccessHint
		}
		return e
	}
	return nil
}

// Lock locks the pages of b into RAM (mlock(2)): each is faulted in now and
// stays resident until Unlock, munmap or exit. The range is widened to whole
// pages. Locks do not nest: one Unlock undoes any number of Locks. Without
// CAP_IPC_LOCK the total locked memory of the process is bounded by
// RLIMIT_MEMLOCK; the error then names the limit and the remedies.
//
// A failed Lock has locked nothing, with one exception that the error
// states: when the kernel could lock the range but not fault all of it in,
// as with a file mapping that reaches past the end of its file, Linux leaves
// the range locked, and Unlock releases it.
func Lock(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	ptr := unsafe.Pointer(unsafe.SliceData(b))
	return lockRange("mlock", ptr, uintptr(len(b)), 0)
}

// LockOnFault locks the pages of b as they are first touched
// (mlock2(MLOCK_ONFAULT)): the lock is counted in VmLck at once, but no page
// is faulted in by the call.
func LockOnFault(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	ptr := unsafe.Pointer(unsafe.SliceData(b))
	return lockRange("mlock2(MLOCK_ONFAULT)", ptr, uintptr(len(b)), unix.MLOCK_ONFAULT)
}

// lockRange locks the pages of [p, p+n). Linux sets the lock on every
// mapping before a hole in the range and only then fails with ENOMEM, and
// when it cannot fault the locked pages in (a file mapping that reaches
// past the end of its file) it fails with ENOMEM and leaves them locked.
// lockRange checks for holes first (msync with MS_ASYNC writes nothing and
// fails with ENOMEM on a hole), so a range with a hole is refused with
// nothing locked; the second case is told apart from the limit by reading
// the range's VmFlags.
func lockRange(op string, p unsafe.Pointer, n uintptr, flags int) error {
	if err := sys.Msync(p, n, unix.MS_ASYNC); errors.Is(err, unix.ENOMEM) {
		e := rangeErr(op, p, n, err)
		e.Hint = "part of the range is not mapped; nothing was locked"
		return e
	}
	if err := sys.Mlock(p, n, flags); err != nil {
		e := rangeErr(op, p, n, err)
		if (errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EAGAIN)) && rangeLocked(e.Addr, uintptr(e.Len)) {
			e.Hint = "the range is now locked, but the kernel could not fault all of it in: a file mapping reaches past the end of its file (those pages raise SIGBUS), or memory ran out; Unlock the range, or grow the file first"
		} else {
			e.Hint = lockHint(err, int64(e.Len))
		}
		return e
	}
	return nil
}

// rangeLocked reports whether /proc/self/smaps shows every region of the
// page range [start, start+n) locked, with no hole.
func rangeLocked(start, n uintptr) bool {
	regions, err := proc.Maps(0)
	if err != nil {
		return false
	}
	end := start + n
	for a := start; a < end; {
		r, ok := proc.Find(regions, a)
		if !ok || !r.HasFlag("lo") {
			return false
		}
		a = r.End
	}
	return true
}

// Unlock unlocks the pages of b (munlock(2)). They stay resident until the
// kernel needs the memory.
func Unlock(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	ptr := unsafe.Pointer(unsafe.SliceData(b))
	if err := sys.Munlock(ptr, uintptr(len(b))); err != nil {
		return rangeErr("munlock", ptr, uintptr(len(b)), err)
	}
	return nil
}

// Advise gives the kernel advice a about the pages of b (madvise(2)),
// widened to whole pages. Read the comment of each Advice: some discard
// contents.
func Advise(b []byte, a Advice) error {
	if len(b) == 0 {
		return nil
	}
	ptr := unsafe.Pointer(unsafe.SliceData(b))
	return adviseRange(ptr, uintptr(len(b)), a)
}

func adviseRange(p unsafe.Pointer, n uintptr, a Advice) error {
	if _, ok := adviceNames[a]; !ok {
		return fmt.Errorf("mem: unknown advice %d", int(a))
	}
	if err := sys.Madvise(p, n, int(a)); err != nil {
		e := rangeErr("madvise("+a.String()+")", p, n, err)
		switch {
		case errors.Is(err, unix.EINVAL) && a == DontNeed:
			e.Hint = "locked pages cannot be dropped: Unlock them first"
		case errors.Is(err, unix.EINVAL):
			e.Hint = "this kernel or this kind of mapping does not take that advice"
		case errors.Is(err, unix.ENOMEM):
			e.Hint = "part of the range is not mapped"
		}
		return e
	}
	return nil
}

// mincoreChunk is how many pages one mincore call covers: a multiple of 512
// so each chunk packs into whole blocks of a Residency, and large enough that
// the kernel's cost per call (about 0.3 µs) is under 1% of the walk of the
// chunk (about 60 µs for 256 MiB of resident pages). The call is an
// ordinary system call, so the scheduler knows a thread is in the kernel
// and a stop-the-world need not wait for it.
const mincoreChunk = 64 << 10

// vecPool keeps mincore's byte-per-page vectors warm: a fresh vector costs
// the kernel a page fault per 4096 entries inside the system call.
var vecPool = sync.Pool{New: func() any { v := make([]byte, mincoreChunk); return &v }}

// Resident reports which pages of b are in RAM (mincore(2)), widened to
// whole pages. For a file mapping it is the page cache's residency, but only
// when the caller owns the file or may write it: otherwise the kernel
// reports every page resident (CVE-2019-5489). The answer may be stale by the
// time it is read.
func Resident(b []byte) (Residency, error) {
	if len(b) == 0 {
		return NewResidency(0), nil
	}
	return residentRange(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
}

// ResidentInto is Resident writing into dst, whose storage it reuses when
// it is large enough: a loop that watches the same range, or a scanner of
// many files, then allocates nothing. On error dst is left empty.
func ResidentInto(dst *Residency, b []byte) error {
	if dst == nil {
		return errors.New("mem: ResidentInto(nil, ...): give a *Residency to fill")
	}
	if len(b) == 0 {
		dst.reset(0)
		return nil
	}
	return residentInto(dst, unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
}

func residentRange(p unsafe.Pointer, n uintptr) (Residency, error) {
	var r Residency
	err := residentInto(&r, p, n)
	return r, err
}

func residentInto(dst *Residency, p unsafe.Pointer, n uintptr) error {
	start, length := sys.Pages(p, n)
	pages := int(length / uintptr(pageSize))
	dst.reset(pages)
	r := *dst
	vp := vecPool.Get().(*[]byte)
	defer vecPool.Put(vp)
	vec := *vp
	head := uintptr(p) - start // p lies head bytes into its first page
	for first := 0; first < pages; first += mincoreChunk {
		cnt := min(mincoreChunk, pages-first)
		// Give the kernel a pointer inside b: for the first chunk b's own
		// start, for later ones the page boundary, which lies inside b.
		cp, cn := p, uintptr(cnt)*uintptr(pageSize)-head
		if first > 0 {
			cp = unsafe.Add(p, uintptr(first)*uintptr(pageSize)-head)
			cn = min(uintptr(cnt)*uintptr(pageSize), n+head-uintptr(first)*uintptr(pageSize))
		}
		if err := sys.MincoreRange(cp, cn, vec[:cnt]); err != nil {
			e := rangeErr("mincore", p, n, err)
			if errors.Is(err, unix.ENOMEM) {
				e.Hint = "part of the range is not mapped"
			}
			dst.reset(0)
			return e
		}
		r.packVec(first, vec[:cnt])
	}
	return nil
}

// FileAdvise gives the kernel advice about a range of f's page cache
// (posix_fadvise(2)). length 0 means to the end of the file.
func FileAdvise(f *os.File, offset, length int64, a FileAdvice) error {
	if f == nil {
		return errors.New("mem: FileAdvise of a nil *os.File")
	}
	if a < FileNormal || a > FileNoReuse {
		return fmt.Errorf("mem: FileAdvise %s: unknown advice %d", f.Name(), int(a))
	}
	if offset < 0 || length < 0 {
		return fmt.Errorf("mem: FileAdvise %s: negative offset or length (%d, %d)", f.Name(), offset, length)
	}
	var ferr error
	if err := control(f, func(fd int) { ferr = unix.Fadvise(fd, offset, length, int(a)) }); err != nil {
		return fmt.Errorf("mem: FileAdvise %s: %w", f.Name(), err)
	}
	if ferr != nil {
		e := &Error{Op: "posix_fadvise(" + a.String() + ") " + f.Name(), Err: ferr}
		if errors.Is(ferr, unix.ESPIPE) {
			e.Hint = "pipes, FIFOs and sockets have no page cache to advise"
		}
		return e
	}
	return nil
}

// protectAccessHint explains mprotect's EACCES, which only file mappings
// give.
const protectAccessHint = "a shared mapping of a file opened read-only cannot be made writable (map a file opened with os.O_RDWR), and one on a filesystem mounted noexec cannot be made executable"

// Protect changes the protection of the whole mapping.
func (m *Mapping) Protect(p Prot) error {
	if err := checkProt(p); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.base == nil {
		return ErrClosed
	}
	if err := sys.Mprotect(m.base, m.size, int(p)); err != nil {
		e := rangeErr("mprotect", m.base, m.size, err)
		if errors.Is(err, unix.EACCES) {
			e.Hint = protectAccessHint
		}
		return e
	}
	m.prot = p
	return nil
}

// Lock locks the whole mapping into RAM; see the package function Lock.
func (m *Mapping) Lock() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.base == nil {
		return ErrClosed
	}
	return lockRange("mlock", m.base, m.size, 0)
}

// LockOnFault locks the whole mapping page by page as it is touched; see the
// package function LockOnFault.
func (m *Mapping) LockOnFault() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.base == nil {
		return ErrClosed
	}
	return lockRange("mlock2(MLOCK_ONFAULT)", m.base, m.size, unix.MLOCK_ONFAULT)
}

// Unlock unlocks the whole mapping.
func (m *Mapping) Unlock() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.base == nil {
		return ErrClosed
	}
	if err := sys.Munlock(m.base, m.size); err != nil {
		return rangeErr("munlock", m.base, m.size, err)
	}
	return nil
}

// Advise gives advice about the whole mapping; see the package function
// Advise.
func (m *Mapping) Advise(a Advice) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.base == nil {
		return ErrClosed
	}
	return adviseRange(m.base, m.size, a)
}

// Resident reports which pages of the mapping are in RAM. Page 0 is the page
// that holds the first byte of Bytes.
func (m *Mapping) Resident() (Residency, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.base == nil {
		return Residency{}, ErrClosed
	}
	return residentRange(m.base, m.size)
}

// Sync writes the dirty pages of a shared file mapping back to the file
// (msync(2)). SyncNow waits for the writes; SyncAsync only starts them.
// On anonymous or private mappings it has nothing to write and succeeds.
func (m *Mapping) Sync(flags SyncFlags) error {
	if flags&^(SyncAsync|SyncInvalidate) != 0 {
		return fmt.Errorf("mem: Sync: invalid flags %#x", int(flags))
	}
	ms := unix.MS_SYNC
	if flags&SyncAsync != 0 {
		ms = unix.MS_ASYNC
	}
	if flags&SyncInvalidate != 0 {
		ms |= unix.MS_INVALIDATE
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.base == nil {
		return ErrClosed
	}
	if err := sys.Msync(m.base, m.size, ms); err != nil {
		e := rangeErr("msync", m.base, m.size, err)
		if errors.Is(err, unix.EBUSY) {
			e.Hint = "SyncInvalidate cannot be used on locked pages"
		}
		return e
	}
	return nil
}

// Remap changes the length of the mapping to newLength (mremap(2)). The
// kernel may move it: Bytes and Addr follow, and slices taken from Bytes
// before the call must not be used again. Growing an anonymous mapping adds
// zero pages; growing a file mapping past the end of the file adds pages that
// fault until the file grows. A mapping that has been split by a partial
// Protect of its pages cannot be remapped (EFAULT). A mapping of huge pages
// changes in whole huge pages, and the kernel only shrinks it (EINVAL).
func (m *Mapping) Remap(newLength int) error {
	if newLength <= 0 {
		return fmt.Errorf("mem: Remap length %d: the length must be positive; use Close to unmap", newLength)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.base == nil {
		return ErrClosed
	}
	if m.release != nil {
		return errors.New("mem: Remap of adopted memory: only memory mapped by Map or MapFile can be remapped")
	}
	newSize := m.head + uintptr(newLength)
	if !m.file || m.page > uintptr(pageSize) {
		newSize = roundTo(newSize, m.page)
	}
	if newSize < uintptr(newLength) || newSize > math.MaxInt {
		return &Error{Op: "mremap", Len: newLength, Err: unix.ENOMEM, Hint: "the length overflows the address space"}
	}
	p, err := unix.MremapPtr(m.base, m.size, nil, newSize, unix.MREMAP_MAYMOVE)
	if err != nil {
		e := &Error{Op: "mremap", Addr: uintptr(m.base), Len: int(m.size), Err: err}
		switch {
		case errors.Is(err, unix.EINVAL) && m.page > uintptr(pageSize) && newSize > m.size:
			e.Hint = "the kernel cannot grow a mapping of huge pages, only shrink it: map a larger one and copy"
		case errors.Is(err, unix.EFAULT):
			e.Hint = "the mapping was split by a partial protection change; restore one protection on all of it first"
		case errors.Is(err, unix.EAGAIN):
			e.Hint = lockHint(unix.ENOMEM, int64(newSize)-int64(m.size))
		}
		return e
	}
	m.base, m.size, m.length = p, newSize, newLength
	return nil
}

// Close unmaps the mapping (munmap(2)), which also removes its locks. It is
// idempotent: later calls return nil, and every other method returns
// ErrClosed.
func (m *Mapping) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.base == nil {
		return nil
	}
	if m.release != nil {
		if err := m.release(); err != nil {
			return fmt.Errorf("mem: Close of adopted memory at %#x: %w", uintptr(m.base), err)
		}
		m.base = nil
		return nil
	}
	if err := unix.MunmapPtr(m.base, m.size); err != nil {
		return &Error{Op: "munmap", Addr: uintptr(m.base), Len: int(m.size), Err: err}
	}
	m.base = nil
	return nil
}

// ReadAt copies len(p) bytes at offset off of the mapping into p, as
// io.ReaderAt. A fault on the way (a page past the end of a truncated file,
// a PROT_NONE or write-only page) stops the copy at that page and returns
// the bytes copied so far with a *Fault, instead of crashing. Reading at or
// past Len returns io.EOF.
func (m *Mapping) ReadAt(p []byte, off int64) (n int, err error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	base, length, err := m.user()
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("mem: ReadAt: negative offset %d", off)
	}
	if off >= int64(length) {
		return 0, io.EOF
	}
	want := len(p)
	if rem := int64(length) - off; int64(want) > rem {
		want = int(rem)
	}
	src := unsafe.Slice((*byte)(unsafe.Add(base, uintptr(off))), want)
	n, err = copyFaulting(p[:want], src, uintptr(unsafe.Pointer(unsafe.SliceData(src))))
	if err == nil && want < len(p) {
		err = io.EOF
	}
	return n, err
}

// WriteAt copies p into the mapping at offset off, as io.WriterAt. A fault
// stops the copy at the faulting page and returns a *Fault with the bytes
// written so far. Writing past Len is an error; use Remap to grow.
func (m *Mapping) WriteAt(p []byte, off int64) (n int, err error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	base, length, err := m.user()
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("mem: WriteAt: negative offset %d", off)
	}
	if off > int64(length) || int64(len(p)) > int64(length)-off {
		avail := max(int64(length)-off, 0)
		dst := unsafe.Slice((*byte)(unsafe.Add(base, uintptr(min(off, int64(length))))), avail)
		n, err = copyFaulting(dst, p[:avail], uintptr(unsafe.Pointer(unsafe.SliceData(dst))))
		if err != nil {
			return n, err
		}
		return n, fmt.Errorf("mem: WriteAt %d bytes at offset %d: the mapping has %d bytes; Remap it to grow: %w", len(p), off, length, io.ErrShortWrite)
	}
	dst := unsafe.Slice((*byte)(unsafe.Add(base, uintptr(off))), len(p))
	return copyFaulting(dst, p, uintptr(unsafe.Pointer(unsafe.SliceData(dst))))
}

// copyFaulting copies src to dst a page at a time, so that a fault tells how
// far the copy got: n counts the bytes before the page that faulted. The
// steps follow the page boundaries of the mapping side, whose first byte is
// at mapAddr.
func copyFaulting(dst, src []byte, mapAddr uintptr) (n int, err error) {
	old := swapPanicOnFault(true)
	defer func() {
		swapPanicOnFault(old)
		if r := recover(); r != nil {
			if f := faultOf(r); f != nil {
				err = f
				return
			}
			panic(r)
		}
	}()
	step := pageSize - int(mapAddr&uintptr(pageSize-1))
	for n < len(src) {
		step = min(len(src)-n, step)
		n += copy(dst[n:n+step], src[n:n+step])
		step = pageSize
	}
	return n, nil
}
