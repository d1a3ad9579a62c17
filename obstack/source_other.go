//go:build !linux

package obstack

import (
	"fmt"
	"runtime"

	"github.com/vmkit/vmkit/mem"
)

// newDefaultSource fails: the default source maps pages with package mem,
// which supports Linux only. A ChunkAlloc and ChunkFree of the caller's work
// everywhere.
func newDefaultSource() (source, error) {
	return nil, fmt.Errorf("obstack: the default chunk source is not supported on %s (vmkit targets Linux); set Options.ChunkAlloc and ChunkFree: %w", runtime.GOOS, mem.ErrNotSupported)
}
