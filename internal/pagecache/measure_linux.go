package pagecache

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/mem"
)

// The measurement is described in the package documentation, "The truth
// about residency".

// cachestatState records whether the kernel has cachestat(2): 0 not tried
// yet, 1 present, 2 absent (ENOSYS).
var cachestatState atomic.Int32

// HaveCachestat reports whether the running kernel has cachestat(2). It is
// known after the first measurement, and probed on stdin's descriptor
// otherwise.
func HaveCachestat() bool {
	switch cachestatState.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	var cs unix.Cachestat_t
	err := unix.Cachestat(0, &unix.CachestatRange{}, &cs, 0)
	if errors.Is(err, unix.ENOSYS) {
		cachestatState.Store(2)
		return false
	}
	cachestatState.Store(1)
	return true
}

// capFowner reports whether the process has CAP_FOWNER, which makes mincore
// truthful on every file.
var capFowner = sync.OnceValue(func() bool {
	c, err := procfs.CapEff(0)
	return err == nil && c&(1<<unix.CAP_FOWNER) != 0
})

// Truthful reports whether mincore(2) on a mapping of e would tell the truth:
// the caller owns the file, has CAP_FOWNER, or may write it. It is the rule
// of Linux 5.2+ (mm/mincore.c, can_do_mincore) applied by hand.
func (e *Entry) Truthful() bool {
	if uint32(os.Geteuid()) == e.Uid || capFowner() {
		return true
	}
	return unix.Faccessat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(e.fd), unix.W_OK, unix.AT_EACCESS) == nil
}

// Measure reads the residency of e's span as o asks: a count through
// cachestat, or the page set through mincore when o.Pages is set or
// cachestat is unavailable. A span the kernel will not describe truthfully
// gives a Result that is not Known.
func (e *Entry) Measure(o *Options) (Result, error) {
	res := Result{Pages: Pages(e.Len)}
	if e.Len == 0 {
		res.Known = true
		if o.Pages {
			s := mem.NewResidency(0)
			res.Set = &s
		}
		return res, nil
	}
	if e.FSType == unix.HUGETLBFS_MAGIC {
		// Step 4: hugetlbfs pages never leave RAM; the blocks are the pages.
		res.Known = true
		res.Resident = min(res.Pages, e.Blocks*512/pageSize)
		return res, nil
	}
	probed := false
	if o.Method != Mincore && cachestatState.Load() != 2 {
		var cs unix.Cachestat_t
		err := unix.Cachestat(uint(e.fd), &unix.CachestatRange{Off: uint64(e.Off), Len: uint64(e.Len)}, &cs, 0)
		switch {
		case err == nil:
			cachestatState.Store(1)
			res.Known, res.Resident, res.Dirty, res.Writeback = true, int64(cs.Cache), int64(cs.Dirty), int64(cs.Writeback)
			res.DirtyKnown = true
			if !o.Pages {
				return res, nil
			}
			probed = true
		case errors.Is(err, unix.EPERM):
			cachestatState.Store(1)
			return res, nil // step 1: the kernel hides it
		case errors.Is(err, unix.ENOSYS):
			cachestatState.Store(2)
			if o.Method == Cachestat {
				return res, &PathError{Op: "cachestat", Path: e.Path, Err: err}
			}
		case errors.Is(err, unix.EOPNOTSUPP) && o.Method != Cachestat:
			// A filesystem cachestat does not serve: mincore and the rule.
		default:
			return res, &PathError{Op: "cachestat", Path: e.Path, Err: err}
		}
	}
	if !probed && !e.Truthful() {
		return res, nil // step 3: mincore would claim every page
	}
	set, err := mincoreSpan(e.fd, e.Off, e.Len)
	if err != nil {
		return res, &PathError{Op: "mincore", Path: e.Path, Err: err}
	}
	res.Known, res.Set, res.Resident = true, &set, int64(set.Count())
	return res, nil
}

// mincoreSpan maps [off, off+n) of fd and reads its page set.
func mincoreSpan(fd int, off, n int64) (mem.Residency, error) {
	if n > int64(^uint(0)>>1) {
		return mem.Residency{}, unix.EFBIG
	}
	b, err := unix.Mmap(fd, off, int(n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return mem.Residency{}, err
	}
	defer unix.Munmap(b)
	return mem.Resident(b)
}

// Evict asks the kernel to drop e's span from the page cache
// (POSIX_FADV_DONTNEED). Pages that are dirty, locked, or mapped by a
// process stay; measure again to see what left.
func (e *Entry) Evict() error {
	if e.Len == 0 {
		return nil // a length of 0 would mean "to the end of the file"
	}
	if err := unix.Fadvise(e.fd, e.Off, e.Len, unix.FADV_DONTNEED); err != nil {
		return &PathError{Op: "posix_fadvise(DONTNEED)", Path: e.Path, Err: err}
	}
	return nil
}

// WriteBack writes e's dirty pages in the span to disk and waits for the
// writes (sync_file_range(2)), so that Evict can drop them.
func (e *Entry) WriteBack() error {
	if e.Len == 0 {
		return nil
	}
	err := unix.SyncFileRange(e.fd, e.Off, e.Len,
		unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
	if err != nil {
		return &PathError{Op: "sync_file_range", Path: e.Path, Err: err}
	}
	return nil
}

// Prefetch asks the kernel to start reading [off, off+n) of the file at
// path into the page cache (POSIX_FADV_WILLNEED) and returns without
// waiting. The read-ahead it starts uses single pages, so it suits small
// files; large ones read faster through the kernel's own read-ahead.
func Prefetch(path string, off, n int64) error {
	if n == 0 {
		return nil
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return &PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fadvise(fd, off, n, unix.FADV_WILLNEED); err != nil {
		return &PathError{Op: "posix_fadvise(WILLNEED)", Path: path, Err: err}
	}
	return nil
}

// ReadSpan reads [off, off+n) of fd into buf, len(buf) bytes at a time, and
// returns how many bytes it read. It stops early, without error, at the end
// of the file.
func ReadSpan(fd int, off, n int64, buf []byte) (int64, error) {
	var done int64
	for done < n {
		k := min(int64(len(buf)), n-done)
		r, err := unix.Pread(fd, buf[:k], off+done)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if r == 0 {
			return done, nil // the file shrank
		}
		done += int64(r)
	}
	return done, nil
}

// Open opens one file for reading by path, as Walk would have found it, for
// work done after a walk. Symbolic links are followed. The caller must Close
// the entry.
func Open(path string, o *Options) (*Entry, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, fileType(st.Mode))}
	}
	var sfs unix.Statfs_t
	var fsType int64
	if unix.Fstatfs(fd, &sfs) == nil {
		fsType = int64(sfs.Type)
	}
	e := &Entry{Path: path, Size: st.Size, Dev: uint64(st.Dev), Ino: st.Ino, Uid: st.Uid, Mode: st.Mode,
		Blocks: st.Blocks, FSType: fsType, fd: fd}
	e.Off, e.Len = o.Range.Span(st.Size)
	return e, nil
}

// Close closes an entry returned by Open.
func (e *Entry) Close() error {
	if e.fd < 0 {
		return nil
	}
	err := unix.Close(e.fd)
	e.fd = -1
	return err
}

// Read reads e's span and returns how many bytes it read.
func (e *Entry) Read(buf []byte) (int64, error) {
	n, err := ReadSpan(e.fd, e.Off, e.Len, buf)
	if err != nil && err != io.EOF {
		return n, &PathError{Op: "read", Path: e.Path, Err: err}
	}
	return n, nil
}
