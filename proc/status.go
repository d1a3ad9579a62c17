package proc

// /proc/PID/status; see doc.go.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"

	"github.com/vmkit/vmkit/internal/procfs"
)

// ProcessStatus holds the identity and memory lines of /proc/PID/status.
// (It is not named Status because the function that reads it is.) Sizes are
// bytes. A line the running kernel does not print (RssAnon before Linux 4.5,
// VmPin before 3.2, ...) leaves its field zero.
type ProcessStatus struct {
	// Name is the command name, as the kernel escapes it.
	Name string
	// State is the state line, such as "S (sleeping)".
	State string
	// Pid, PPid and Threads are the process, its parent, and its number of
	// threads.
	Pid, PPid, Threads int

	// VmPeak is the peak virtual size; VmSize the current one.
	VmPeak, VmSize int64
	// VmLck is the locked memory (mlock, mlockall), VmPin the pinned
	// memory (long-term page pins such as RDMA).
	VmLck, VmPin int64
	// VmHWM is the peak resident set ("high water mark"); VmRSS the
	// current one, which is RssAnon + RssFile + RssShmem.
	VmHWM, VmRSS int64
	// RssAnon, RssFile and RssShmem split VmRSS by backing.
	RssAnon, RssFile, RssShmem int64
	// VmData, VmStk and VmExe are the private writable non-stack, stack
	// and text virtual sizes; VmLib the shared library code.
	VmData, VmStk, VmExe, VmLib int64
	// VmPTE is the size of the page tables.
	VmPTE int64
	// VmSwap is the anonymous memory swapped out.
	VmSwap int64
	// HugetlbPages is the hugetlbfs memory mapped.
	HugetlbPages int64

	// Fields holds the raw text of every "Key: value" line, keyed by Key,
	// including the ones above and those this package does not interpret.
	Fields map[string]string
}

// ParseStatus parses text in the format of /proc/PID/status.
func ParseStatus(r io.Reader) (ProcessStatus, error) {
	m := make(map[string]string, 64)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := bytes.Cut(sc.Bytes(), []byte{':'})
		if !ok || len(key) == 0 {
			continue
		}
		m[string(key)] = string(bytes.TrimSpace(val))
	}
	if err := sc.Err(); err != nil {
		return ProcessStatus{}, fmt.Errorf("proc: reading status: %w", err)
	}
	return statusFromFields(m)
}

// statusFromFields interprets the lines of a status file, as returned by
// procfs.StatusFields.
func statusFromFields(m map[string]string) (ProcessStatus, error) {
	s := ProcessStatus{Name: m["Name"], State: m["State"], Fields: m}
	ints := []struct {
		key string
		dst *int
	}{{"Pid", &s.Pid}, {"PPid", &s.PPid}, {"Threads", &s.Threads}}
	for _, f := range ints {
		v, ok := m[f.key]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return ProcessStatus{}, fmt.Errorf("proc: status %s: %w", f.key, err)
		}
		*f.dst = n
	}
	sizes := []struct {
		key string
		dst *int64
	}{
		{"VmPeak", &s.VmPeak}, {"VmSize", &s.VmSize}, {"VmLck", &s.VmLck},
		{"VmPin", &s.VmPin}, {"VmHWM", &s.VmHWM}, {"VmRSS", &s.VmRSS},
		{"RssAnon", &s.RssAnon}, {"RssFile", &s.RssFile}, {"RssShmem", &s.RssShmem},
		{"VmData", &s.VmData}, {"VmStk", &s.VmStk}, {"VmExe", &s.VmExe},
		{"VmLib", &s.VmLib}, {"VmPTE", &s.VmPTE}, {"VmSwap", &s.VmSwap},
		{"HugetlbPages", &s.HugetlbPages},
	}
	for _, f := range sizes {
		v, ok := m[f.key]
		if !ok {
			continue
		}
		n, err := procfs.KiB(v)
		if err != nil {
			return ProcessStatus{}, fmt.Errorf("proc: status %s: %w", f.key, err)
		}
		*f.dst = n
	}
	return s, nil
}
