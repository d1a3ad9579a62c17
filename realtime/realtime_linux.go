package realtime

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// disableTHP turns transparent huge pages off for the whole process, so
// that khugepaged leaves its locked memory alone.
func disableTHP() error {
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_THP_DISABLE): %w", err)
	}
	return nil
}
