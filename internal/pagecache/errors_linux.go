package pagecache

import (
	"errors"
	"runtime"
)

// ErrNotSupported is returned on systems other than Linux.
var ErrNotSupported = errors.New("pagecache: not supported on " + runtime.GOOS)
