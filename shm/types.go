package shm

import (
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmkit/vmkit/mem"
)

// Dir is where POSIX shared memory objects live on Linux: a tmpfs on which
// shm_open(3) creates files, and where Open looks.
const Dir = "/dev/shm"

// OpenFlags choose how Open finds or makes a POSIX segment. The zero value
// opens an existing segment for reading and writing.
type OpenFlags uint32

const (
	// Create makes the segment when it does not exist (O_CREAT).
	Create OpenFlags = 1 << iota
	// Exclusive, with Create, fails with EEXIST when the segment exists
	// already (O_EXCL), so that exactly one process creates it.
	Exclusive
	// ReadOnly opens the segment for reading only (O_RDONLY): Map then
	// takes mem.Read only, and the segment cannot be sized.
	ReadOnly
	// Truncate empties an existing segment before sizing it (O_TRUNC).
	Truncate
)

// String names the flags, such as "create|exclusive", or "open".
func (f OpenFlags) String() string {
	return flagString(uint64(f), []string{"create", "exclusive", "readonly", "truncate"}, "open")
}

// SealFlags are the seals of a memfd segment (fcntl F_ADD_SEALS): each
// forbids one kind of change, for every process that holds the file, for
// the rest of the file's life. The values are Linux's F_SEAL_*.
type SealFlags uint32

const (
	// SealSeal forbids adding further seals.
	SealSeal SealFlags = 0x1
	// SealShrink forbids making the file smaller, so a receiver that
	// checked the size can map it without fearing SIGBUS.
	SealShrink SealFlags = 0x2
	// SealGrow forbids making the file larger.
	SealGrow SealFlags = 0x4
	// SealWrite forbids every write: write(2), and new or existing
	// writable shared mappings. It can only be added while no process has
	// the segment mapped shared and writable.
	SealWrite SealFlags = 0x8
	// SealFutureWrite forbids new writes and new writable mappings but lets
	// mappings that exist already keep writing: the sender keeps its
	// writable view, receivers get a read-only one (Linux 5.1+).
	SealFutureWrite SealFlags = 0x10
	// SealExec forbids changing the file's exec permission bits (Linux
	// 6.3+). Anonymous sets it on kernels that know it, since a segment is
	// data, never code.
	SealExec SealFlags = 0x20
)

const allSeals = SealSeal | SealShrink | SealGrow | SealWrite | SealFutureWrite | SealExec

// String names the seals, such as "shrink|write", or "none".
func (f SealFlags) String() string {
	return flagString(uint64(f), []string{"seal", "shrink", "grow", "write", "future-write", "exec"}, "none")
}

// SysVFlags choose how SysV finds or makes a System V segment. The low nine
// bits are the permission bits of a new segment, as in shmget(2)
// (for example SysVCreate|0o600); a new segment with none gets 0o600. The
// other values are the kernel's.
type SysVFlags uint32

const (
	// SysVCreate makes the segment when the key has none (IPC_CREAT).
	SysVCreate SysVFlags = 0o1000
	// SysVExclusive, with SysVCreate, fails with EEXIST when the key has a
	// segment already (IPC_EXCL).
	SysVExclusive SysVFlags = 0o2000
	// SysVHugePages backs the segment with huge pages (SHM_HUGETLB); they
	// must be reserved in vm.nr_hugepages, and creating such a segment needs
	// CAP_IPC_LOCK or vm.hugetlb_shm_group. Attach places it on a huge page
	// boundary.
	SysVHugePages SysVFlags = 0o4000
	// SysVNoReserve reserves no swap for the segment (SHM_NORESERVE).
	SysVNoReserve SysVFlags = 0o10000
)

// Private is the key that always makes a new segment, known only by its ID
// (IPC_PRIVATE). Children learn the ID from their parent and use SysVByID.
const Private = 0

const sysvPerm = 0o777

// String names the flags and the permission, such as "create|exclusive|0600".
func (f SysVFlags) String() string {
	known := SysVCreate | SysVExclusive | SysVHugePages | SysVNoReserve
	s := flagString(uint64(f&known>>9), []string{"create", "exclusive", "hugepages", "noreserve"}, "")
	if rest := f &^ (known | sysvPerm); rest != 0 {
		if s != "" {
			s += "|"
		}
		s += "0x" + strconv.FormatUint(uint64(rest), 16)
	}
	perm := strconv.FormatUint(uint64(f&sysvPerm), 8)
	perm = strings.Repeat("0", 4-len(perm)) + perm
	if s == "" {
		return perm
	}
	return s + "|" + perm
}

func flagString(v uint64, names []string, zero string) string {
	var parts []string
	for i, n := range names {
		if v&(1<<i) != 0 {
			parts = append(parts, n)
			v &^= 1 << i
		}
	}
	if v != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(v, 16))
	}
	if len(parts) == 0 {
		return zero
	}
	return strings.Join(parts, "|")
}

// A Segment is a POSIX shared memory object (Open) or an anonymous memfd
// (Anonymous, FromFile): a file on tmpfs whose pages every process that maps
// it shares. Map maps it as a *mem.Mapping. Close closes the file and
// unmaps every mapping Map made that is still open. A Segment is safe for
// concurrent use.
type Segment struct {
	mu sync.Mutex
	// f is the segment's file; nil once closed.
	f *os.File
	// name is "/NAME" for a POSIX segment, "memfd:NAME" for a memfd.
	name string
	// posix reports whether the segment has a name under Dir.
	posix bool
	// readOnly reports whether f was opened O_RDONLY.
	readOnly bool
	// maps are the mappings made by Map; closed ones are pruned on Map.
	maps []*mem.Mapping
}

// A SysVSegment is a System V shared memory segment (shmget(2)), known to
// the kernel by its ID and, unless Private, by its key. It lives until
// Remove and the last detach, whether or not any process holds it: a
// program that creates one must Remove it. Through one SysVSegment a process
// holds at most one attachment at a time, as a *mem.Mapping; to attach
// the same segment twice, get a second SysVSegment with SysVByID. It is
// safe for concurrent use.
type SysVSegment struct {
	mu sync.Mutex
	// made is set by SysV and SysVByID: a zero SysVSegment has ID 0, which
	// may be some other program's segment, so its methods refuse to act.
	made bool
	id   int
	key  int
	// m is the current attachment, or nil when detached.
	m *mem.Mapping
}

// SysVStat is what the kernel records about a System V segment (struct
// shmid_ds from shmctl IPC_STAT), as Stat and SysVSegments report it.
type SysVStat struct {
	// ID identifies the segment in every process.
	ID int
	// Key is the key it was made with; Private (0) for none.
	Key int
	// Size is the size in bytes asked at creation (not rounded to pages).
	Size int64
	// Perm holds the nine permission bits.
	Perm os.FileMode
	// UID and GID own the segment; CreatorUID and CreatorGID made it.
	UID, GID, CreatorUID, CreatorGID int
	// Attached is the number of attachments, in all processes (shm_nattch).
	Attached int
	// CreatorPID made the segment; LastPID last attached or detached it.
	CreatorPID, LastPID int
	// AttachTime, DetachTime and ChangeTime are the last attach, detach and
	// change (shmctl IPC_SET or creation); zero when it never happened.
	AttachTime, DetachTime, ChangeTime time.Time
	// Locked reports SHM_LOCK: pages stay in RAM once touched.
	Locked bool
	// Removed reports that Remove was called: the segment goes away at its
	// last detach and can no longer be found by key.
	Removed bool
	// Resident and Swapped are the bytes in RAM and in swap. Only
	// SysVSegments fills them (from /proc/sysvipc/shm); Stat leaves 0.
	Resident, Swapped int64
}

// Error records a failed shared memory operation: the system call, the
// segment, the system error, and what to do about it when vmkit knows. It
// wraps the system error, so errors.Is(err, unix.EEXIST) and
// errors.Is(err, fs.ErrNotExist) hold.
type Error struct {
	// Op is the call or step, such as "shm_open", "shmctl(SHM_LOCK)" or
	// "fcntl(F_ADD_SEALS)".
	Op string
	// Segment names the segment: "/NAME", "memfd:NAME", "key 0x2a" or
	// "id 32769".
	Segment string
	// Err is the underlying error, usually a unix.Errno.
	Err error
	// Hint says what went wrong in the caller's terms and how to fix it, or
	// is empty.
	Hint string
}

// Error reads like "shm: shm_open /a/b: invalid argument (a name is ...)".
func (e *Error) Error() string {
	s := "shm: " + e.Op
	if e.Segment != "" {
		s += " " + e.Segment
	}
	s += ": " + e.Err.Error()
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errors that package shm returns itself.
var (
	// ErrClosed is returned by the methods of a Segment after Close.
	ErrClosed = errors.New("shm: segment is closed")
	// ErrAttached is returned by Attach when the SysVSegment is attached
	// already.
	ErrAttached = errors.New("shm: segment is attached already through this SysVSegment; Detach first, or get a second handle with SysVByID")
	// ErrNotAttached is returned by Detach when there is nothing to detach.
	ErrNotAttached = errors.New("shm: segment is not attached through this SysVSegment")
	// ErrNoSegment is returned by the methods of a SysVSegment that SysV or
	// SysVByID did not make.
	ErrNoSegment = errors.New("shm: SysVSegment made without SysV or SysVByID")
	// ErrNotSealed is returned by CheckSeals when a seal is missing.
	ErrNotSealed = errors.New("shm: segment lacks a required seal")
	// ErrTimeout is returned by Wait when the timeout passes first.
	ErrTimeout = errors.New("shm: wait timed out")
	// ErrNotSupported is returned on systems other than Linux.
	ErrNotSupported = errors.New("shm: not supported on this system")
)

// maxSize is the largest segment size vmkit accepts: the whole segment must
// map into one []byte, so its page-rounded size must fit an int.
var maxSize = int64(math.MaxInt &^ (os.Getpagesize() - 1))

// maxNameLen bounds a POSIX name (NAME_MAX); a memfd name has 249 bytes, the
// kernel's 249 = NAME_MAX - len("memfd:").
const (
	maxNameLen      = 255
	maxMemfdNameLen = 249
)
