package mem

import (
	"unsafe"

	"github.com/vmkit/vmkit/internal/sys"
)

// ResidentChunkedForTest is residentInto with a chosen chunk size and
// system-call flavour (raw: no word to the scheduler), for
// BenchmarkMincoreChunks. b must start on a page boundary and len(vec) be
// at least chunk.
func ResidentChunkedForTest(dst *Residency, b []byte, vec []byte, chunk int, raw bool) error {
	pages := (len(b) + pageSize - 1) / pageSize
	dst.reset(pages)
	r := *dst
	p := unsafe.Pointer(unsafe.SliceData(b))
	for first := 0; first < pages; first += chunk {
		cnt := min(chunk, pages-first)
		cp, cn := unsafe.Add(p, first*pageSize), uintptr(cnt*pageSize)
		var err error
		if raw {
			err = sys.MincoreRaw(cp, cn, vec[:cnt])
		} else {
			err = sys.MincoreRange(cp, cn, vec[:cnt])
		}
		if err != nil {
			return err
		}
		r.packVec(first, vec[:cnt])
	}
	return nil
}
