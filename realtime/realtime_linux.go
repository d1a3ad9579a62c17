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
