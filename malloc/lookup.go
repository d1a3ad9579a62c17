package malloc

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The address map: which region, if any, holds an address. Regions are
// made of whole segments of segSize bytes, aligned to segSize, so the
// segment number addr>>segShift names at most one region. A two-level table
// keyed by that number answers in two dependent loads and never takes a
// lock; entries are written under mapMu when a region is made or unmapped.
const (
	segShift = 22 // 4 MiB segments
	segSize  = 1 << segShift
	l2Bits   = 12
	l1Bits   = 48 - segShift - l2Bits // user addresses below 2^48
)

type l2Table [1 << l2Bits]atomic.Pointer[region]

var (
	mapMu   sync.Mutex
	addrMap [1 << l1Bits]atomic.Pointer[l2Table]
)

// lookup returns the region holding address p, or nil.
func lookup(p uintptr) *region {
	seg := p >> segShift
	if seg>>l2Bits >= 1<<l1Bits {
		return nil
	}
	t := addrMap[seg>>l2Bits].Load()
	if t == nil {
		return nil
	}
	return t[seg&(1<<l2Bits-1)].Load()
}

// register makes lookup find r for every address in [r.base, r.end).
func register(r *region) {
	mapMu.Lock()
	defer mapMu.Unlock()
	for seg := r.base >> segShift; seg < r.end>>segShift; seg++ {
		i := seg >> l2Bits
		t := addrMap[i].Load()
		if t == nil {
			t = new(l2Table)
			addrMap[i].Store(t)
		}
		t[seg&(1<<l2Bits-1)].Store(r)
	}
}

// unregister undoes register before r's memory is unmapped.
func unregister(r *region) {
	mapMu.Lock()
	defer mapMu.Unlock()
	for seg := r.base >> segShift; seg < r.end>>segShift; seg++ {
		if t := addrMap[seg>>l2Bits].Load(); t != nil {
			t[seg&(1<<l2Bits-1)].Store(nil)
		}
	}
}

// ptr turns an address outside the Go heap into a pointer, in the form go vet
// accepts. Go heap addresses must never pass through it.
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

// bytesAt is the n bytes at address a (outside the Go heap).
func bytesAt(a uintptr, n int) []byte { return unsafe.Slice((*byte)(ptr(a)), n) }

// addrOf is the address of b's first byte, 0 for a nil slice.
func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// granule is the index of the 16-byte granule at offset off of a region, the
// index of its state byte. An offset that is not a multiple of 16 rotates its
// low bits to the top, so that one comparison against the region's length
// in granules rejects it with the offsets past the end.
func granule(off uintptr) uintptr { return uintptr(bits.RotateLeft64(uint64(off), -4)) }
