//go:build !linux

package malloc

import (
	"fmt"
	"runtime"
)

func supported() error {
	return fmt.Errorf("malloc: not supported on %s: vmkit targets Linux: %w", runtime.GOOS, ErrNotSupported)
}

func (h *Heap) brkRegion(a *arena, size int64) (*region, error) { return nil, supported() }

func (h *Heap) brkShrink(r *region, from int32) bool { return false }
