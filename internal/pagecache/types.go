package pagecache

import (
	"errors"
	"fmt"
	"path"
	"sync/atomic"

	"github.com/vmkit/vmkit/mem"
)

// Method chooses how residency is read.
type Method int

const (
	// Auto uses cachestat(2) for counts and mincore(2) only for page sets,
	// and falls back to mincore with the kernel's permission rule when
	// cachestat is missing.
	Auto Method = iota
	// Cachestat insists on cachestat(2); without it every file is an error.
	// A page set cannot be had this way, so Options.Pages is refused.
	Cachestat
	// Mincore maps every file and reads mincore(2), applying the kernel's
	// permission rule itself to decide whether the answer is true.
	Mincore
)

// String is the method's name as ParseMethod reads it.
func (m Method) String() string {
	switch m {
	case Auto:
		return "auto"
	case Cachestat:
		return "cachestat"
	case Mincore:
		return "mincore"
	}
	return fmt.Sprintf("method(%d)", int(m))
}

// ParseMethod reads "auto", "cachestat" or "mincore".
func ParseMethod(s string) (Method, error) {
	for _, m := range []Method{Auto, Cachestat, Mincore} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown method %q: want auto, cachestat or mincore", s)
}

// Options say what Walk visits and how residency is measured. The zero value
// walks everything below the roots, counts each inode once, stays off
// symlinks and measures with Auto.
type Options struct {
	// Follow follows symbolic links inside the tree (vmtouch -f). Links
	// named as roots are always followed.
	Follow bool
	// OneFilesystem stays on the filesystem of each root (vmtouch -F).
	OneFilesystem bool
	// HardLinks counts every link of a file (vmtouch -h); otherwise each
	// device and inode counts once.
	HardLinks bool
	// Ignore are glob patterns (path.Match) for the names of files and
	// directories to leave out (vmtouch -i).
	Ignore []string
	// Include, when not empty, are glob patterns a file's name must match
	// to be visited (vmtouch -I). Directories are always entered.
	Include []string
	// MaxSize, when positive, skips files larger than this many bytes
	// (vmtouch -m).
	MaxSize int64
	// Range is the part of each file to work on (vmtouch -p).
	Range Range
	// Pages asks Measure for the set of resident pages, not only the count.
	Pages bool
	// Method chooses the system call that reads residency.
	Method Method
	// Workers is the number of parallel walkers; 0 picks a default.
	Workers int
}

// Validate reports the first problem with o: a malformed glob, a negative
// size, or a method that cannot give what is asked.
func (o *Options) Validate() error {
	for _, g := range append(append([]string{}, o.Ignore...), o.Include...) {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("bad pattern %q: %w", g, err)
		}
	}
	if o.MaxSize < 0 {
		return errors.New("negative maximum file size")
	}
	if o.Workers < 0 {
		return errors.New("negative number of workers")
	}
	if o.Method < Auto || o.Method > Mincore {
		return fmt.Errorf("unknown method %d", int(o.Method))
	}
	if o.Method == Cachestat && o.Pages {
		return errors.New("cachestat gives counts only: a page set needs --method=mincore or auto")
	}
	return nil
}

// ignored reports whether name matches one of the Ignore patterns.
func (o *Options) ignored(name string) bool {
	for _, g := range o.Ignore {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// included reports whether a file named name passes the Include patterns.
func (o *Options) included(name string) bool {
	if len(o.Include) == 0 {
		return true
	}
	for _, g := range o.Include {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// Entry is a regular file Walk found. It is open and valid only during the
// visit.
type Entry struct {
	// Path is the root as given, joined with the names below it.
	Path string
	// Size is the file's size in bytes at the time it was opened.
	Size int64
	// Off and Len are the byte span to work on: the Range, widened to whole
	// pages and clamped to the file.
	Off, Len int64
	// Dev and Ino identify the file.
	Dev, Ino uint64
	// Uid is the owner; Mode the fstat mode bits.
	Uid, Mode uint32
	// Blocks is st_blocks: 512-byte units allocated on disk (or, on
	// hugetlbfs, in RAM).
	Blocks int64
	// FSType is the statfs magic number of the file's filesystem.
	FSType int64

	fd int // open O_RDONLY; -1 once closed
}

// Fd is the file's descriptor, open for reading during the visit.
func (e *Entry) Fd() int { return e.fd }

// Pages is the number of pages in the span.
func (e *Entry) Pages() int64 { return Pages(e.Len) }

// Result is the residency of an entry's span.
type Result struct {
	// Pages is the number of pages in the span.
	Pages int64
	// Resident is the number of those pages in the page cache; meaningful
	// only when Known.
	Resident int64
	// Dirty is the number of resident pages not yet written back, and
	// Writeback the number being written; meaningful only when
	// DirtyKnown.
	Dirty, Writeback int64
	// DirtyKnown is set when cachestat counted Dirty and Writeback. mincore
	// cannot tell dirty pages from clean ones: without DirtyKnown there may
	// be dirty pages that Dirty does not count.
	DirtyKnown bool
	// Known is false when the kernel will not tell: the caller neither owns
	// the file nor may write it (see the package documentation).
	Known bool
	// Set holds the resident pages when Options.Pages asked for them and the
	// answer is Known; page i is the i-th page of the span. Nil otherwise.
	Set *mem.Residency
}

// SkipReason says why Walk left an entry out.
type SkipReason int

// The reasons an entry is skipped. They are counted in Stats.Skipped.
const (
	// SkipSymlink: a symbolic link inside the tree without Options.Follow.
	SkipSymlink SkipReason = iota
	// SkipSpecial: a FIFO, socket or device inside the tree.
	SkipSpecial
	// SkipHardLink: a further link to a file already counted.
	SkipHardLink
	// SkipIgnored: matched an Ignore pattern, or no Include pattern.
	SkipIgnored
	// SkipTooLarge: larger than Options.MaxSize.
	SkipTooLarge
	// SkipOtherFS: a directory on another filesystem under OneFilesystem.
	SkipOtherFS
	// SkipPseudoFS: a directory of proc, sysfs or a similar filesystem
	// whose files have no page cache.
	SkipPseudoFS
	// SkipVisited: a directory entered already, through a symlink loop or
	// a repeated root.
	SkipVisited

	numSkipReasons
)

var skipNames = [numSkipReasons]string{
	SkipSymlink:  "symlinks",
	SkipSpecial:  "special files",
	SkipHardLink: "hard links",
	SkipIgnored:  "ignored",
	SkipTooLarge: "too large",
	SkipOtherFS:  "other filesystems",
	SkipPseudoFS: "pseudo filesystems",
	SkipVisited:  "visited twice",
}

// SkipReasons lists every reason in order.
func SkipReasons() []SkipReason {
	r := make([]SkipReason, numSkipReasons)
	for i := range r {
		r[i] = SkipReason(i)
	}
	return r
}

// String names the reason, such as "hard links".
func (r SkipReason) String() string {
	if r >= 0 && r < numSkipReasons {
		return skipNames[r]
	}
	return fmt.Sprintf("skip(%d)", int(r))
}

// Stats counts what a walk saw besides the files it visited. It is safe
// for concurrent use.
type Stats struct {
	// Directories entered.
	Directories atomic.Int64
	// Skipped entries, by reason.
	Skipped [numSkipReasons]atomic.Int64
	// Errors: entries that could not be used, each reported once.
	Errors atomic.Int64
}

// TotalSkipped is the sum of Skipped.
func (s *Stats) TotalSkipped() int64 {
	var n int64
	for i := range s.Skipped {
		n += s.Skipped[i].Load()
	}
	return n
}

// ErrNotRegular is wrapped by the error for a root that is neither a regular
// file nor a directory.
var ErrNotRegular = errors.New("not a regular file or directory")

// ErrPseudoFS is wrapped by the error for a root on a filesystem without a
// page cache, such as /proc.
var ErrPseudoFS = errors.New("on a pseudo filesystem with no page cache")

// PathError is an error about one path of a walk.
type PathError struct {
	Op   string
	Path string
	Err  error
}

func (e *PathError) Error() string { return e.Op + " " + e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *PathError) Unwrap() error { return e.Err }
