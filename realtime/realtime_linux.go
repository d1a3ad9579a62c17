package realtime

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// thpDisabled reports whether transparent huge pages are off for the
// process (prctl PR_GET_THP_DISABLE).
func thpDisabled() (bool, error) {
	r, err := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
	if err != nil {
		return false, fmt.Errorf("prctl(PR_GET_THP_DISABLE): %w", err)
	}
	return r != 0, nil
}

// setTHPDisabled turns transparent huge pages off (or back on) for the
// whole process, so that khugepaged leaves its locked memory alone. The
// setting is inherited by children and survives exec.
func setTHPDisabled(off bool) error {
	v := uintptr(0)
	if off {
		v = 1
	}
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, v, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_THP_DISABLE, %d): %w", v, err)
	}
	return nil
}

// availableMemory is MemAvailable in /proc/meminfo, in bytes: what the
// kernel estimates can be allocated without swapping.
func availableMemory() (int64, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/meminfo: bad MemAvailable %q", strings.TrimSpace(v))
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("/proc/meminfo has no MemAvailable line")
}
