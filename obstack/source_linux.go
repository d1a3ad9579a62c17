package obstack

import "github.com/vmkit/vmkit/mem"

// pageSource is the default chunk source: anonymous memory from mem.Map,
// outside the Go heap, so the collector neither scans it nor counts it.
//
// Chunks are whole pages. Chunks of up to maxClass pages are carved from
// batches (one mapping holds many chunks of one size) and kept on a free
// list per size when the obstack gives them back, so an obstack that frees
// and reallocates, as when it returns to a mark again and again, calls the
// kernel only while it grows past its largest size so far. Batches double
// from 32 KiB up to 1 MiB. A larger chunk has a mapping of its own, unmapped
// as soon as it is freed. release unmaps everything.
//
// Each obstack has its own pageSource, so it needs no lock.
type pageSource struct {
	pageSize int
	cache    [maxClass + 1][][]byte // free chunks by size in pages
	batch    [maxClass + 1]int      // bytes of the next batch of each size
	maps     []*mem.Mapping         // the batches
	single   map[uintptr]*mem.Mapping
	nmaps    int64 // mmap calls
	bytes    int64 // bytes mapped now
}

const (
	maxClass      = 16 // pages of the largest chunk kept for reuse
	firstBatch    = 32 << 10
	maxBatchBytes = 1 << 20
)

func newDefaultSource() (source, error) {
	return &pageSource{pageSize: mem.PageSize(), single: map[uintptr]*mem.Mapping{}}, nil
}

func (s *pageSource) alloc(size int) ([]byte, error) {
	pages := (size + s.pageSize - 1) / s.pageSize
	if pages <= maxClass {
		fl := &s.cache[pages]
		if len(*fl) == 0 {
			if err := s.refill(pages); err != nil {
				return nil, err
			}
		}
		c := (*fl)[len(*fl)-1]
		(*fl)[len(*fl)-1] = nil
		*fl = (*fl)[:len(*fl)-1]
		return c, nil
	}
	m, err := s.mmap(pages * s.pageSize)
	if err != nil {
		return nil, err
	}
	s.single[m.Addr()] = m
	return m.Bytes(), nil
}

// refill maps a batch of chunks of the given number of pages.
func (s *pageSource) refill(pages int) error {
	csize := pages * s.pageSize
	bsize := s.batch[pages]
	if bsize == 0 {
		bsize = firstBatch
	}
	n := max(bsize/csize, 1)
	m, err := s.mmap(n * csize)
	if err != nil {
		return err
	}
	s.maps = append(s.maps, m)
	s.batch[pages] = min(bsize*2, maxBatchBytes)
	b := m.Bytes()
	for i := n - 1; i >= 0; i-- { // lowest address on top: handed out first
		s.cache[pages] = append(s.cache[pages], b[i*csize:(i+1)*csize:(i+1)*csize])
	}
	return nil
}

func (s *pageSource) mmap(n int) (*mem.Mapping, error) {
	m, err := mem.Map(n, mem.Read|mem.Write, 0)
	if err != nil {
		return nil, err
	}
	s.nmaps++
	s.bytes += int64(n)
	return m, nil
}

func (s *pageSource) free(chunk []byte) {
	pages := len(chunk) / s.pageSize
	if pages <= maxClass {
		s.cache[pages] = append(s.cache[pages], chunk)
		return
	}
	a := addrOf(chunk)
	if m := s.single[a]; m != nil {
		delete(s.single, a)
		s.bytes -= int64(m.Len())
		m.Close()
	}
}

func (s *pageSource) release() {
	for _, m := range s.maps {
		s.bytes -= int64(m.Len())
		m.Close()
	}
	for a, m := range s.single {
		s.bytes -= int64(m.Len())
		m.Close()
		delete(s.single, a)
	}
	s.maps = nil
	s.cache = [maxClass + 1][][]byte{}
	s.batch = [maxClass + 1]int{}
}

func (s *pageSource) counts() (int64, int64) { return s.nmaps, s.bytes }
