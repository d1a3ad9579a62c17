package shm

import (
	"strconv"
	"strings"
	"syscall"

	"github.com/vmkit/vmkit/mem"
)

// posixName checks a POSIX segment name the way glibc's shm_open does and
// returns the file name under Dir: leading slashes are dropped, and what
// remains must be one non-empty path component of at most NAME_MAX bytes.
func posixName(op, name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	show := strconv.Quote(name)
	switch {
	case name == "":
		return "", &Error{Op: op, Segment: show, Err: syscall.EINVAL, Hint: `empty name: give one such as "/myapp-ring"`}
	case n == "":
		return "", &Error{Op: op, Segment: show, Err: syscall.EINVAL, Hint: `the name is only slashes: give one such as "/myapp-ring"`}
	case strings.IndexByte(n, '/') >= 0:
		return "", &Error{Op: op, Segment: show, Err: syscall.EINVAL, Hint: `a name is one path component after an optional leading slash, such as "/myapp-ring": it must not contain another slash`}
	case strings.IndexByte(n, 0) >= 0:
		return "", &Error{Op: op, Segment: show, Err: syscall.EINVAL, Hint: "the name contains a NUL byte"}
	case n == "." || n == "..":
		return "", &Error{Op: op, Segment: show, Err: syscall.EINVAL, Hint: `"." and ".." name directories, not segments`}
	case len(n) > maxNameLen:
		return "", &Error{Op: op, Segment: show[:20] + `..."`, Err: syscall.ENAMETOOLONG, Hint: "a name has at most " + strconv.Itoa(maxNameLen) + " bytes after the leading slash; this one has " + strconv.Itoa(len(n))}
	}
	return n, nil
}

// memfdName checks the label of an anonymous segment. The kernel would take
// any string of up to 249 bytes; vmkit asks for the same shape as a POSIX
// name (non-empty, no slash) so that the label reads well in
// /proc/PID/maps as "/memfd:NAME".
func memfdName(name string) error {
	show := strconv.Quote(name)
	switch {
	case name == "":
		return &Error{Op: "memfd_create", Segment: show, Err: syscall.EINVAL, Hint: `empty name: give a label such as "frames"; it shows in /proc/PID/maps as /memfd:frames`}
	case strings.IndexByte(name, '/') >= 0:
		return &Error{Op: "memfd_create", Segment: show, Err: syscall.EINVAL, Hint: "the label of an anonymous segment must not contain a slash"}
	case strings.IndexByte(name, 0) >= 0:
		return &Error{Op: "memfd_create", Segment: show, Err: syscall.EINVAL, Hint: "the name contains a NUL byte"}
	case len(name) > maxMemfdNameLen:
		return &Error{Op: "memfd_create", Segment: show[:20] + `..."`, Err: syscall.ENAMETOOLONG, Hint: "a memfd label has at most " + strconv.Itoa(maxMemfdNameLen) + " bytes; this one has " + strconv.Itoa(len(name))}
	}
	return nil
}

// checkSize refuses sizes that are negative or that could not be mapped as
// one []byte.
func checkSize(op, seg string, size int64) error {
	switch {
	case size < 0:
		return &Error{Op: op, Segment: seg, Err: syscall.EINVAL, Hint: "negative size " + strconv.FormatInt(size, 10)}
	case size > maxSize:
		return &Error{Op: op, Segment: seg, Err: syscall.EOVERFLOW, Hint: "size " + strconv.FormatInt(size, 10) + " overflows the address space: a segment must map as one []byte, at most " + strconv.FormatInt(maxSize, 10) + " bytes (" + mem.FormatBytes(maxSize) + ")"}
	}
	return nil
}

func keyString(key int) string {
	if key == Private {
		return "key IPC_PRIVATE"
	}
	return "key 0x" + strconv.FormatUint(uint64(uint32(int32(key))), 16)
}

func idString(id int) string { return "id " + strconv.Itoa(id) }
