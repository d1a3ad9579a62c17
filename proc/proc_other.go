//go:build !linux

package proc

// The functions of proc_linux.go on systems without Linux's /proc. The
// parsers (ParseSmaps, ParseStat, ParseStatus) work everywhere.

import (
	"errors"
	"runtime"
)

// unsupported is the error of every function here. It wraps
// errors.ErrUnsupported.
type unsupported struct{}

func (unsupported) Error() string { return "proc: not supported on " + runtime.GOOS }
func (unsupported) Unwrap() error { return errors.ErrUnsupported }

// Maps reads the address space of a process on Linux; here it fails.
func Maps(pid int) ([]Region, error) { return nil, unsupported{} }

// Rollup reads the summed counters of a process on Linux; here it fails.
func Rollup(pid int) (Usage, error) { return Usage{}, unsupported{} }

// Status reads /proc/PID/status on Linux; here it fails.
func Status(pid int) (ProcessStatus, error) { return ProcessStatus{}, unsupported{} }

// Faults reads the page faults of the caller on Linux; here it fails.
func Faults() (PageFaults, error) { return PageFaults{}, unsupported{} }

// FaultsOf reads the page faults of a process on Linux; here it fails.
func FaultsOf(pid int) (PageFaults, error) { return PageFaults{}, unsupported{} }

// StatOf reads /proc/PID/stat on Linux; here it fails.
func StatOf(pid int) (Stat, error) { return Stat{}, unsupported{} }
