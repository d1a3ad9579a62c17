package proc

// The functions that read a live process on Linux; see doc.go.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/procfs"
)

// path returns /proc/self/NAME for pid 0 and /proc/PID/NAME otherwise.
func path(pid int, name string) string {
	if pid == 0 {
		return "/proc/self/" + name
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + name
}

// openErr explains a failure to read /proc/PID: no such process, or no
// right to read it. The error still wraps the original (fs.ErrNotExist,
// fs.ErrPermission).
func openErr(pid int, err error) error {
	switch {
	case pid != 0 && errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("proc: no process %d (it has exited, or the pid is wrong): %w", pid, err)
	case pid != 0 && errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("proc: cannot read process %d: %w; a process of another user needs root or CAP_SYS_PTRACE", pid, err)
	}
	return fmt.Errorf("proc: %w", err)
}

// bufPool holds scanner buffers for Maps, so that a monitoring loop does not
// allocate 64 KiB per call.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// readSmaps parses the smaps-format file name of pid.
func readSmaps(pid int, name string) ([]Region, error) {
	f, err := os.Open(path(pid, name))
	if err != nil {
		return nil, openErr(pid, err)
	}
	defer f.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	rs, err := parseSmaps(f, *bp)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, f.Name())
	}
	return rs, nil
}

// Maps returns the regions of the address space of process pid (0 for the
// caller) from /proc/PID/smaps, sorted by address and classified. Reading
// another process needs ptrace access to it (same user, or
// CAP_SYS_PTRACE). A pid that does not exist gives an error that wraps
// fs.ErrNotExist.
func Maps(pid int) ([]Region, error) {
	return readSmaps(pid, "smaps")
}

// Rollup returns the counters of the whole address space of process pid (0
// for the caller) from /proc/PID/smaps_rollup, which the kernel sums in one
// pass, far cheaper than Total(Maps(pid)). Its Size is zero: smaps_rollup
// does not print one; Status(pid).VmSize is the virtual size. A process
// without an address space (a kernel thread, or a zombie not yet reaped)
// has zero counters, as Maps gives it no regions.
func Rollup(pid int) (Usage, error) {
	rs, err := readSmaps(pid, "smaps_rollup")
	if errors.Is(err, unix.ESRCH) {
		// The kernel refuses to open smaps_rollup of a live task that has
		// no mm; a pid that does not exist gives ENOENT instead.
		return Usage{}, nil
	}
	if err != nil {
		return Usage{}, err
	}
	if len(rs) != 1 {
		return Usage{}, fmt.Errorf("proc: %s holds %d mappings, want 1", path(pid, "smaps_rollup"), len(rs))
	}
	return rs[0].Usage, nil
}

// Status reads /proc/PID/status (pid 0 for the caller). A pid that does not
// exist gives an error that wraps fs.ErrNotExist.
func Status(pid int) (ProcessStatus, error) {
	m, err := procfs.StatusFields(pid)
	if err != nil {
		return ProcessStatus{}, openErr(pid, err)
	}
	return statusFromFields(m)
}

// Faults returns the page faults of the calling process, and of the calling
// OS thread, from getrusage(2) with RUSAGE_THREAD and RUSAGE_SELF. The
// thread is read first, so Minor >= ThreadMinor always holds. Lock the
// goroutine to its thread (runtime.LockOSThread) around two readings whose
// thread counts are compared.
func Faults() (PageFaults, error) {
	var th, self unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &th); err != nil {
		return PageFaults{}, fmt.Errorf("proc: getrusage(RUSAGE_THREAD): %w", err)
	}
	if err := unix.Getrusage(unix.RUSAGE_SELF, &self); err != nil {
		return PageFaults{}, fmt.Errorf("proc: getrusage(RUSAGE_SELF): %w", err)
	}
	return PageFaults{
		Minor:       int64(self.Minflt),
		Major:       int64(self.Majflt),
		ThreadMinor: int64(th.Minflt),
		ThreadMajor: int64(th.Majflt),
	}, nil
}

// FaultsOf returns the page faults of process pid (0 for the caller) from
// fields 10 (minflt) and 12 (majflt) of /proc/PID/stat. Its thread fields
// are zero. A pid that does not exist gives an error that wraps
// fs.ErrNotExist.
func FaultsOf(pid int) (PageFaults, error) {
	s, err := StatOf(pid)
	if err != nil {
		return PageFaults{}, err
	}
	return PageFaults{Minor: s.MinFlt, Major: s.MajFlt}, nil
}

// StatOf reads and parses /proc/PID/stat (pid 0 for the caller). A pid that
// does not exist gives an error that wraps fs.ErrNotExist; a line it cannot
// read, a *SyntaxError.
func StatOf(pid int) (Stat, error) {
	data, err := os.ReadFile(path(pid, "stat"))
	if err != nil {
		return Stat{}, openErr(pid, err)
	}
	return ParseStat(data)
}
