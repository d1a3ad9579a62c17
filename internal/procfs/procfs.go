// Package procfs reads the few /proc files that several vmkit packages need.
// It parses, it does not interpret: package proc gives the full, documented
// view of a process; this package serves mem and realtime, which must not
// depend on proc's larger API.
package procfs

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
)

// StatusPath is the status file of pid, or of the caller when pid is 0.
func StatusPath(pid int) string {
	if pid == 0 {
		return "/proc/self/status"
	}
	return "/proc/" + strconv.Itoa(pid) + "/status"
}

// StatusFields reads /proc/PID/status and returns the raw text of each
// "Key:\tvalue" line, keyed by Key, with surrounding blanks trimmed.
func StatusFields(pid int) (map[string]string, error) {
	data, err := os.ReadFile(StatusPath(pid))
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, 64)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			continue
		}
		m[string(line[:i])] = string(bytes.TrimSpace(line[i+1:]))
	}
	return m, sc.Err()
}

// KiB parses a status value such as "1234 kB" into bytes. A negative size,
// or one whose byte count overflows an int64, is an error.
func KiB(v string) (int64, error) {
	v = string(bytes.TrimSuffix([]byte(v), []byte(" kB")))
	n, err := strconv.ParseInt(string(bytes.TrimSpace([]byte(v))), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("procfs: bad size %q: %w", v, err)
	}
	if n < 0 || n > math.MaxInt64/1024 {
		return 0, fmt.Errorf("procfs: bad size %q: %w", v, strconv.ErrRange)
	}
	return n * 1024, nil
}

// StatusBytes reads the named "kB" fields (VmSize, VmLck, ...) of pid's
// status file in bytes. A field the kernel does not print is an error.
func StatusBytes(pid int, keys ...string) ([]int64, error) {
	m, err := StatusFields(pid)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(keys))
	for i, k := range keys {
		v, ok := m[k]
		if !ok {
			return nil, fmt.Errorf("procfs: %s has no %s line", StatusPath(pid), k)
		}
		if out[i], err = KiB(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CapEff returns the effective capability set of pid.
func CapEff(pid int) (uint64, error) {
	m, err := StatusFields(pid)
	if err != nil {
		return 0, err
	}
	v, ok := m["CapEff"]
	if !ok {
		return 0, fmt.Errorf("procfs: %s has no CapEff line", StatusPath(pid))
	}
	return strconv.ParseUint(v, 16, 64)
}

// CapIPCLock is the bit of CAP_IPC_LOCK in a capability set.
const CapIPCLock = 1 << 14
