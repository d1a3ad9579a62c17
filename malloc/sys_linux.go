package malloc

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"

	"github.com/vmkit/vmkit/mem"
)

// supported reports whether the allocator can work here: it needs a 64-bit
// address space (regions of 64 MiB, a table of 4 MiB segments and size
// arithmetic in int), which 32-bit systems do not give. Every call on a heap
// then fails with ErrNotSupported, rather than computing wrong sizes.
func supported() error {
	if strconv.IntSize < 64 {
		return fmt.Errorf("malloc: not supported on %s/%s: the allocator needs a 64-bit system: %w", runtime.GOOS, runtime.GOARCH, ErrNotSupported)
	}
	return nil
}

// brkRegion takes a region from the program break: the break is first
// moved to a segment boundary, then by size bytes.
func (h *Heap) brkRegion(a *arena, size int64) (*region, error) {
	cur, err := mem.Sbrk(0)
	if err != nil {
		return nil, err
	}
	gap := int64((cur+segSize-1)&^(segSize-1) - cur)
	start, err := mem.Sbrk(int(gap + size))
	if err != nil {
		return nil, err
	}
	if start != cur {
		return nil, errors.New("malloc: the program break moved under us")
	}
	sm, err := mem.Map(int(size>>4), mem.Read|mem.Write, mem.NoReserve)
	if err != nil {
		return nil, err
	}
	pm, err := mem.Map(int(size>>pageShift), mem.Read|mem.Write, mem.NoReserve)
	if err != nil {
		sm.Close()
		return nil, err
	}
	r := &region{owner: h, arena: a, source: "brk"}
	r.base = cur + uintptr(gap)
	r.state = sm.Addr()
	r.pcls = pm.Addr()
	newRegionMeta(r, int32(size>>pageShift))
	r.acc = r.npages // the break is readable and writable throughout
	r.sacc.Store(r.npages)
	end := r.end
	r.release = func() error {
		// Shrink the break back if nothing moved it since; else just drop
		// the pages.
		if now, err := mem.Sbrk(0); err == nil && now == end {
			_, err := mem.Sbrk(-int(size + gap))
			return errors.Join(err, sm.Close(), pm.Close())
		}
		return errors.Join(decommit(r.base, end), sm.Close(), pm.Close())
	}
	return r, nil
}

func (h *Heap) brkShrink(r *region, from int32) bool { return false }
