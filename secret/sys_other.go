//go:build !linux

package secret

import (
	"runtime"

	"github.com/vmkit/vmkit/mem"
)

// errNotSupported names the system and matches ErrNotSupported.
var errNotSupported error = notSupported{}

type notSupported struct{}

func (notSupported) Error() string {
	return "secret: not supported on " + runtime.GOOS + ": vmkit targets Linux"
}
func (notSupported) Is(target error) bool { return target == ErrNotSupported }

func supported() error { return errNotSupported }

func fillRandom(b []byte) error { return errNotSupported }

func mapStandalone(op string, size int, o Options) (*standalone, error) {
	return nil, errNotSupported
}

// MemfdSecretAvailable reports that memfd_secret(2) is not available: it is
// a Linux system call.
func MemfdSecretAvailable() error { return errNotSupported }

func lockError(op string, size int64, err error) *LockError {
	return &LockError{Op: op, Size: size, Limit: mem.Limit{}, Err: err}
}
