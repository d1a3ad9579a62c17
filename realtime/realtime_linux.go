package realtime

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// threadFaults reads the calling thread's fault counters.
func threadFaults() (Faults, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return Faults{}, fmt.Errorf("realtime: getrusage(RUSAGE_THREAD): %w", err)
	}
	return Faults{Minor: ru.Minflt, Major: ru.Majflt}, nil
}

// disableTHP turns transparent huge pages off for the whole process, so
// that khugepaged leaves its locked memory alone.
func disableTHP() error {
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_THP_DISABLE): %w", err)
	}
	return nil
}
