package obstack

import (
	"errors"
	"fmt"

	"github.com/vmkit/vmkit/malloc"
)

// mallocSource is the default chunk source: chunks from vmkit's malloc
// (the package-level default heap), outside the Go heap, so the collector
// neither scans nor counts them, and they show in malloc.Info.
//
// GNU's obstack frees a chunk to malloc as soon as the obstack moves below
// it, and takes a new one from malloc when it grows again. Freeing to a mark
// and refilling, over and over, is the pattern obstacks exist for, so this
// source keeps the chunks given back to it, by size, and hands them out
// again: once the obstack has reached its largest size, it calls malloc no
// more. Chunks of keepMax bytes or more are an object's own chunk; they go
// back to malloc at once, and a large one (above malloc's mmap threshold)
// back to the system. release returns everything kept to malloc.
//
// Each obstack has its own mallocSource, so it needs no lock; malloc's
// package-level functions are safe for concurrent use.
type mallocSource struct {
	// kept holds free chunks grouped by exact size; an obstack asks for a
	// handful of sizes (ChunkSize, and larger ones for big objects), so a
	// short slice searched linearly beats a map.
	kept   []keptSize
	allocs int64 // malloc.Malloc calls
	bytes  int64 // bytes held from malloc: chunks in use and kept
}

type keptSize struct {
	size   int
	chunks [][]byte
}

// keepMax is the size from which a freed chunk goes straight back to
// malloc instead of being kept.
const keepMax = 64 << 10

func newDefaultSource() (source, error) { return &mallocSource{}, nil }

func (s *mallocSource) alloc(size int) ([]byte, error) {
	if size < keepMax {
		for i := range s.kept {
			if k := &s.kept[i]; k.size == size && len(k.chunks) > 0 {
				c := k.chunks[len(k.chunks)-1]
				k.chunks[len(k.chunks)-1] = nil
				k.chunks = k.chunks[:len(k.chunks)-1]
				return c, nil
			}
		}
	}
	c, err := malloc.Malloc(size)
	if errors.Is(err, malloc.ErrNotSupported) {
		return nil, fmt.Errorf("%w (the default chunk source; give Options.ChunkAlloc and ChunkFree a source of your own)", err)
	}
	if err != nil {
		return nil, err
	}
	s.allocs++
	s.bytes += int64(len(c))
	return c[:size:size], nil
}

func (s *mallocSource) free(chunk []byte) {
	if n := len(chunk); n < keepMax {
		for i := range s.kept {
			if s.kept[i].size == n {
				s.kept[i].chunks = append(s.kept[i].chunks, chunk)
				return
			}
		}
		s.kept = append(s.kept, keptSize{size: n, chunks: [][]byte{chunk}})
		return
	}
	s.give(chunk)
}

// give returns a chunk to malloc. The obstack hands back only chunks this
// source made, so malloc refusing one is a bug of this package.
func (s *mallocSource) give(chunk []byte) {
	s.bytes -= int64(len(chunk))
	if err := malloc.Free(chunk); err != nil {
		panic("obstack: malloc refused a chunk of the default source: " + err.Error())
	}
}

func (s *mallocSource) release() {
	for i := range s.kept {
		for j, c := range s.kept[i].chunks {
			s.give(c)
			s.kept[i].chunks[j] = nil
		}
	}
	s.kept = nil
}

func (s *mallocSource) counts() (int64, int64) { return s.allocs, s.bytes }
