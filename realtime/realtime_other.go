//go:build !linux

package realtime

import (
	"errors"
	"runtime"
)

func threadFaults() (Faults, error) {
	return Faults{}, errors.New("realtime: per-thread fault counters are not supported on " + runtime.GOOS)
}

func disableTHP() error { return nil }
