package mem

import (
	"encoding/binary"
	"iter"
	"math/bits"
	"strconv"
)

// Residency is the set of resident pages of a range, one bit per page, as
// mincore(2) reports it. A 1 TiB range of 4 KiB pages costs 32 MiB of bits.
// Page i is the i-th page of the range after rounding its start down to a
// page boundary.
type Residency struct {
	words []uint64 // bit i%64 of words[i/64] is page i; bits at and past n are zero
	n     int      // number of pages
}

// NewResidency returns a Residency of n pages, none resident. It is useful to
// build a set by hand, for example to merge results.
func NewResidency(n int) Residency {
	if n < 0 {
		n = 0
	}
	return Residency{words: make([]uint64, (n+63)/64), n: n}
}

// reset makes r a set of n pages, reusing its storage when it is large
// enough. The caller then writes every word (packVec does, bits past the
// last page included, as next expects).
func (r *Residency) reset(n int) {
	w := (n + 63) / 64
	if cap(r.words) >= w {
		r.words = r.words[:w]
	} else {
		r.words = make([]uint64, w)
	}
	r.n = n
}

// Len is the number of pages in the range.
func (r Residency) Len() int { return r.n }

// Count is the number of resident pages.
func (r Residency) Count() int {
	c := 0
	for _, w := range r.words {
		c += bits.OnesCount64(w)
	}
	return c
}

// At reports whether page i is resident. It panics when i is out of range,
// like an index into a slice.
func (r Residency) At(i int) bool {
	if uint(i) >= uint(r.n) {
		panic("mem: Residency.At(" + strconv.Itoa(i) + ") out of range [0, " + strconv.Itoa(r.n) + ")")
	}
	return r.words[i>>6]&(1<<(uint(i)&63)) != 0
}

// Set marks page i resident or not. It panics when i is out of range.
func (r Residency) Set(i int, resident bool) {
	if uint(i) >= uint(r.n) {
		panic("mem: Residency.Set(" + strconv.Itoa(i) + ") out of range [0, " + strconv.Itoa(r.n) + ")")
	}
	if resident {
		r.words[i>>6] |= 1 << (uint(i) & 63)
	} else {
		r.words[i>>6] &^= 1 << (uint(i) & 63)
	}
}

// All reports whether every page is resident. An empty range is all
// resident.
func (r Residency) All() bool { return r.Count() == r.n }

// Run is a maximal stretch of consecutive resident pages.
type Run struct {
	Start int // index of the first page
	Len   int // number of pages, at least 1
}

// Runs yields the resident runs in increasing order. It skips whole words of
// absent pages, so a sparse set of a huge range iterates fast.
func (r Residency) Runs() iter.Seq[Run] {
	return func(yield func(Run) bool) {
		i := 0
		for i < r.n {
			s := r.next(i, true)
			if s >= r.n {
				return
			}
			e := r.next(s, false)
			if !yield(Run{Start: s, Len: e - s}) {
				return
			}
			i = e
		}
	}
}

// next returns the first page index >= i whose bit equals want, or r.n.
func (r Residency) next(i int, want bool) int {
	for i < r.n {
		w := r.words[i>>6]
		if !want {
			w = ^w
		}
		w >>= uint(i) & 63
		if w != 0 {
			j := i + bits.TrailingZeros64(w)
			if j > r.n {
				return r.n
			}
			return j
		}
		i = (i | 63) + 1
	}
	return r.n
}

// String summarises the set, such as "3/16 pages resident".
func (r Residency) String() string {
	return strconv.Itoa(r.Count()) + "/" + strconv.Itoa(r.n) + " pages resident"
}

// packVec turns mincore's one-byte-per-page vector into bits, starting at page
// index first (a multiple of 64). Only bit 0 of each byte counts: the kernel
// leaves the others undefined.
func (r Residency) packVec(first int, vec []byte) {
	words := r.words[first>>6:]
	full := len(vec) / 64
	packWords(words[:full], vec[:full*64])
	if rest := vec[full*64:]; len(rest) > 0 {
		var x uint64
		for k, b := range rest {
			x |= uint64(b&1) << k
		}
		words[full] = x
	}
}

// packWordsGeneric is packWords in portable Go: eight multiplications per
// word.
func packWordsGeneric(dst []uint64, src []byte) {
	for w := range dst {
		v := src[w*64 : w*64+64 : w*64+64]
		dst[w] = gather8(binary.LittleEndian.Uint64(v[0:8])) |
			gather8(binary.LittleEndian.Uint64(v[8:16]))<<8 |
			gather8(binary.LittleEndian.Uint64(v[16:24]))<<16 |
			gather8(binary.LittleEndian.Uint64(v[24:32]))<<24 |
			gather8(binary.LittleEndian.Uint64(v[32:40]))<<32 |
			gather8(binary.LittleEndian.Uint64(v[40:48]))<<40 |
			gather8(binary.LittleEndian.Uint64(v[48:56]))<<48 |
			gather8(binary.LittleEndian.Uint64(v[56:64]))<<56
	}
}

// gather8 packs bit 0 of the eight bytes of x into the low byte of the
// result, byte k to bit k.
func gather8(x uint64) uint64 {
	x &= 0x0101010101010101
	// Each set bit 8k moves to bit 56+k; no two partial products collide,
	// so no carry disturbs the top byte.
	return (x * 0x0102040810204080) >> 56
}
