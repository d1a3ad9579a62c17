package mem

import (
	"encoding/binary"
	"iter"
	"math/bits"
	"strconv"
)

// Residency is the set of resident pages of a range, one bit per page, as
// mincore(2) reports it. Page i is the i-th page of the range after rounding
// its start down to a page boundary.
//
// The bits are kept in two levels. The range is cut into blocks of 512
// pages (2 MiB of 4 KiB pages, one 64-byte cache line of bits). A summary
// holds one 32-bit entry per block, saying whether the block is wholly
// resident, wholly absent, or mixed; only a mixed block stores its 512 bits.
// The worst case, every block mixed, costs the plain bit set plus 1/16 of
// it (34 MiB for 1 TiB of 4 KiB pages rather than 32). Until the first
// block that breaks the pattern, the summary itself is not kept: a set
// whose resident pages are its first k blocks and nothing else (so one
// wholly resident or wholly absent) is just that k. Reading the residency
// of a populated or an untouched range therefore allocates a few dozen
// bytes, whatever its size.
//
// A Residency is a small handle: copies share the same pages, and a change
// made through one (Set, or ResidentInto reusing it) is seen through all.
// Reading methods (Len, Count, At, All, Runs, String) may run concurrently;
// Set may not run concurrently with any other method on the same set. The
// zero Residency is an empty set of no pages.
type Residency struct {
	s *residency // nil: no pages
}

// residency is the storage behind a Residency. It is in one of two states:
//
//   - lazy: blocks and words are unused (kept only for their capacity);
//     blocks [0, prefix) are wholly resident and the others wholly absent.
//     reset and NewResidency start here.
//   - explicit: blocks holds the state of every block.
//
// unlazy is the one transition, made when a block is stored or a page set
// that the lazy form cannot express; reset goes back.
type residency struct {
	n      int  // number of pages
	lazy   bool // blocks not in use; see prefix
	prefix int  // when lazy: the number of leading wholly resident blocks
	// blocks, when not lazy, has one entry per block of blockPages pages
	// (the last block may be short): blockNone, blockAll, or blockMixed+k
	// when the block's bits are words[k*blockWords : (k+1)*blockWords].
	blocks []uint32
	// words holds the bit words of the mixed blocks, one slot of blockWords
	// words each, in the order they were created (not necessarily page
	// order): bit j%64 of word (j/64)%blockWords of a slot is page j of the
	// block. Bits of pages at and past n are zero, and so are the slots of
	// blocks that are no longer mixed (setUniform): every set bit in words
	// is a resident page.
	words []uint64
}

const (
	blockShift = 9
	blockPages = 1 << blockShift // pages per block: a multiple of 64
	blockWords = blockPages / 64 // bit words per mixed block

	blockNone  = 0 // no page of the block is resident
	blockAll   = 1 // every page of the block (below n) is resident
	blockMixed = 2 // entries from blockMixed up name a slot of words

	// packChunk is how many words packVec packs at a time into a buffer on
	// its stack before storing them: 16,384 pages, 2 KiB of stack.
	packChunk = 256
)

// NewResidency returns a Residency of n pages, none resident. It is useful to
// build a set by hand, for example to merge results.
func NewResidency(n int) Residency {
	var r Residency
	r.reset(n)
	return r
}

// reset makes r a set of n pages, none resident, keeping its storage for
// reuse. The caller then stores the bits of its pages (packVec), in page
// order for the best use of memory.
func (r *Residency) reset(n int) {
	s := r.s
	if s == nil {
		if n <= 0 {
			return
		}
		s = new(residency)
		r.s = s
	}
	s.n = max(n, 0)
	s.lazy, s.prefix = true, 0
	s.words = s.words[:0]
}

// nblocks is the number of blocks of the set.
func (s *residency) nblocks() int { return (s.n + blockPages - 1) >> blockShift }

// unlazy writes out the summary of a lazy set, reusing the storage of an
// earlier one when it is large enough.
func (s *residency) unlazy() {
	nb := s.nblocks()
	if cap(s.blocks) >= nb {
		s.blocks = s.blocks[:nb]
	} else {
		s.blocks = make([]uint32, nb)
	}
	for b := range s.prefix {
		s.blocks[b] = blockAll
	}
	clear(s.blocks[s.prefix:])
	s.lazy = false
}

// state is the summary entry of block b.
func (s *residency) state(b int) uint32 {
	if s.lazy {
		if b < s.prefix {
			return blockAll
		}
		return blockNone
	}
	return s.blocks[b]
}

// Len is the number of pages in the range.
func (r Residency) Len() int {
	if r.s == nil {
		return 0
	}
	return r.s.n
}

// Count is the number of resident pages.
func (r Residency) Count() int {
	s := r.s
	if s == nil {
		return 0
	}
	if s.lazy {
		return min(s.prefix<<blockShift, s.n)
	}
	c := 0
	for _, st := range s.blocks {
		if st == blockAll {
			c += blockPages
		}
	}
	if last := len(s.blocks) - 1; last >= 0 && s.blocks[last] == blockAll {
		c -= last<<blockShift + blockPages - s.n // the last block may be short
	}
	for _, w := range s.words {
		c += bits.OnesCount64(w)
	}
	return c
}

// slot returns the words of a mixed block whose summary entry is st.
func (s *residency) slot(st uint32) []uint64 {
	k := int(st-blockMixed) * blockWords
	return s.words[k : k+blockWords : k+blockWords]
}

// At reports whether page i is resident. It panics when i is out of range,
// like an index into a slice.
func (r Residency) At(i int) bool {
	s := r.s
	if s == nil || uint(i) >= uint(s.n) {
		r.outOfRange("At", i)
	}
	b := i >> blockShift
	if s.lazy {
		return b < s.prefix
	}
	st := s.blocks[b]
	if st < blockMixed {
		return st == blockAll
	}
	return s.words[int(st-blockMixed)*blockWords+(i>>6)&(blockWords-1)]>>(uint(i)&63)&1 != 0
}

// outOfRange panics for page i of r, like an index out of a slice's range.
func (r Residency) outOfRange(method string, i int) {
	panic("mem: Residency." + method + "(" + strconv.Itoa(i) + ") out of range [0, " + strconv.Itoa(r.Len()) + ")")
}

// Set marks page i resident or not. It panics when i is out of range.
// Marking a page of a uniform block gives the block its own bits, so Set
// may allocate.
func (r Residency) Set(i int, resident bool) {
	if uint(i) >= uint(r.Len()) {
		r.outOfRange("Set", i)
	}
	s := r.s
	b := i >> blockShift
	st := s.state(b)
	if st < blockMixed {
		if (st == blockAll) == resident {
			return
		}
		if s.lazy {
			s.unlazy()
		}
		st = s.materialize(b)
	}
	w := &s.slot(st)[(i>>6)&(blockWords-1)]
	if resident {
		*w |= 1 << (uint(i) & 63)
	} else {
		*w &^= 1 << (uint(i) & 63)
	}
}

// All reports whether every page is resident. An empty range is all
// resident.
func (r Residency) All() bool { return r.Count() == r.Len() }

// Run is a maximal stretch of consecutive resident pages.
type Run struct {
	Start int // index of the first page
	Len   int // number of pages, at least 1
}

// Runs yields the resident runs in increasing order. It steps over uniform
// blocks whole and skips whole words of absent pages, so a sparse set of a
// huge range iterates fast.
func (r Residency) Runs() iter.Seq[Run] {
	return func(yield func(Run) bool) {
		n := r.Len()
		i := 0
		for i < n {
			s := r.s.next(i, true)
			if s >= n {
				return
			}
			e := r.s.next(s, false)
			if !yield(Run{Start: s, Len: e - s}) {
				return
			}
			i = e
		}
	}
}

// next returns the first page index >= i whose bit equals want, or s.n.
func (s *residency) next(i int, want bool) int {
	if s.lazy {
		// Pages below end are resident, the rest absent.
		end := min(s.prefix<<blockShift, s.n)
		switch {
		case want && i < end, !want && i >= end:
			return min(i, s.n)
		case want:
			return s.n
		}
		return end
	}
	for i < s.n {
		b := i >> blockShift
		st := s.blocks[b]
		if st < blockMixed {
			if (st == blockAll) == want {
				return i
			}
			i = (b + 1) << blockShift
			continue
		}
		slot := s.slot(st)
		for wi := (i >> 6) & (blockWords - 1); wi < blockWords; wi++ {
			w := slot[wi]
			if !want {
				w = ^w
			}
			w >>= uint(i) & 63
			if w != 0 {
				return min(i+bits.TrailingZeros64(w), s.n)
			}
			i = (i | 63) + 1
		}
	}
	return s.n
}

// String summarises the set, such as "3/16 pages resident".
func (r Residency) String() string {
	return strconv.Itoa(r.Count()) + "/" + strconv.Itoa(r.Len()) + " pages resident"
}

// packVec stores mincore's one-byte-per-page vector as the bits of pages
// first onward; first is a multiple of 64, and vec runs to the end of the
// set or ends at a multiple of 64 pages. Only bit 0 of each byte counts: the
// kernel leaves the others undefined. Whole blocks are packed and
// classified in one pass (packBlocks) into a buffer on the stack, then only
// the mixed ones are copied out: a uniform block costs one summary entry,
// or nothing while the set stays lazy. A block cut by the start or the end
// of vec, or by the end of the set, takes the general path (store).
func (r Residency) packVec(first int, vec []byte) {
	s := r.s
	var buf [packChunk]uint64
	for len(vec) > 0 {
		take := min(len(vec), packChunk*64)
		if first&(blockPages-1) == 0 && take >= blockPages {
			take &^= blockPages - 1
			words := buf[:take/64]
			all, none := packBlocks(words, vec[:take])
			s.storeBlocks(first>>blockShift, words, all, none)
		} else {
			take = min(take, blockPages-first&(blockPages-1))
			full := take / 64
			packWords(buf[:full], vec[:full*64])
			nw := full
			if rest := vec[full*64 : take]; len(rest) > 0 {
				var x uint64
				for k, b := range rest {
					x |= uint64(b&1) << k
				}
				buf[full] = x
				nw++
			}
			s.store(first>>6, buf[:nw])
		}
		first += take
		vec = vec[take:]
	}
}

// classifyBlocks is the classification of packBlocks in portable Go.
func classifyBlocks(words []uint64) (all, none uint64) {
	for j := range len(words) / blockWords {
		or, and := uint64(0), ^uint64(0)
		for _, w := range words[j*blockWords : (j+1)*blockWords] {
			or |= w
			and &= w
		}
		if and == ^uint64(0) {
			all |= 1 << j
		}
		if or == 0 {
			none |= 1 << j
		}
	}
	return all, none
}

// keepLazy reports whether blocks [b0, b0+nb) of a lazy set, wholly
// resident where all has a bit and wholly absent where none has one, leave
// it lazy, and records them if so: the resident ones must extend the
// resident prefix and the absent ones lie past it.
func (s *residency) keepLazy(b0, nb int, all, none uint64) bool {
	every := ^uint64(0) >> (64 - uint(nb))
	if all|none != every || all&(all+1) != 0 {
		return false // a mixed block, or absent before resident
	}
	a := bits.OnesCount64(all) // blocks [b0, b0+a) are resident
	if a == 0 {
		return b0 >= s.prefix
	}
	if b0 > s.prefix || a < nb && s.prefix > b0+a {
		return false
	}
	s.prefix = max(s.prefix, b0+a)
	return true
}

// storeBlocks stores whole blocks b0 onward from their packed words and
// packBlocks' classification.
func (s *residency) storeBlocks(b0 int, words []uint64, all, none uint64) {
	nb := len(words) / blockWords
	if s.lazy {
		if s.keepLazy(b0, nb, all, none) {
			return
		}
		s.unlazy()
	}
	blocks := s.blocks[b0 : b0+nb]
	for j := range blocks {
		switch {
		case all&(1<<j) != 0:
			s.setUniform(b0+j, blockAll)
		case none&(1<<j) != 0:
			s.setUniform(b0+j, blockNone)
		default:
			st := blocks[j]
			if st < blockMixed {
				st = s.newSlot(b0 + j)
			}
			copy(s.slot(st), words[j*blockWords:(j+1)*blockWords])
		}
	}
}

// setUniform makes block b of an explicit set wholly st (blockAll or
// blockNone). A slot the block had is zeroed, so that every bit in words
// belongs to a mixed block (Count relies on it); its storage stays unused
// until the next reset.
func (s *residency) setUniform(b int, st uint32) {
	if old := s.blocks[b]; old >= blockMixed {
		clear(s.slot(old))
	}
	s.blocks[b] = st
}

// store writes the bit words src as words w0 onward of the set. Bits of
// src past the last page must be zero.
func (s *residency) store(w0 int, src []uint64) {
	nwords := (s.n + 63) >> 6
	tail := ^uint64(0) // valid bits of the last word of the set
	if s.n&63 != 0 {
		tail = 1<<(uint(s.n)&63) - 1
	}
	for len(src) > 0 {
		b := w0 / blockWords
		off := w0 % blockWords
		end := min((b+1)*blockWords, nwords) // word index past the block's last
		k := min(end-w0, len(src))
		part := src[:k]
		if off == 0 && w0+k == end {
			// The whole block: summarise it if it is uniform.
			or, and := uint64(0), ^uint64(0)
			for j, w := range part {
				or |= w
				if j == k-1 && end == nwords {
					w |= ^tail // pages past n count as resident here
				}
				and &= w
			}
			st := uint32(blockMixed)
			switch {
			case or == 0:
				st = blockNone
			case and == ^uint64(0):
				st = blockAll
			}
			if s.lazy {
				var all, none uint64 // keepLazy's masks for this one block
				switch st {
				case blockAll:
					all = 1
				case blockNone:
					none = 1
				}
				if !s.keepLazy(b, 1, all, none) {
					s.unlazy()
				}
			}
			switch {
			case s.lazy:
			case st < blockMixed:
				s.setUniform(b, st)
			default:
				if st = s.blocks[b]; st < blockMixed {
					st = s.newSlot(b)
				}
				slot := s.slot(st)
				copy(slot, part)
				clear(slot[k:])
			}
		} else {
			// Part of a block: give it its own bits and write those.
			if s.lazy {
				s.unlazy()
			}
			st := s.blocks[b]
			if st < blockMixed {
				st = s.materialize(b)
			}
			copy(s.slot(st)[off:], part)
		}
		w0 += k
		src = src[k:]
	}
}

// materialize gives uniform block b of an explicit set a slot of words
// holding its current bits and returns its new summary entry.
func (s *residency) materialize(b int) uint32 {
	all := s.blocks[b] == blockAll
	st := s.newSlot(b)
	slot := s.slot(st)
	clear(slot)
	if all {
		nwords := (s.n + 63) >> 6
		for j := range slot {
			switch w := b*blockWords + j; {
			case w < nwords-1:
				slot[j] = ^uint64(0)
			case w == nwords-1:
				slot[j] = ^uint64(0) >> (uint(-s.n) & 63)
			}
		}
	}
	return st
}

// newSlot appends a slot of words (contents undefined) for block b of an
// explicit set, marks the block mixed, and returns its summary entry. The
// storage at least doubles when it grows. Once the evidence is fair (some
// mixed blocks among a chunk's worth of blocks up to b) it grows at once to
// the share of mixed blocks seen so far projected over the whole set, so a
// set filled in page order grows in a few steps; a few mixed blocks at the
// start of a huge, sparse range cost a few slots, not a plain bit set.
func (s *residency) newSlot(b int) uint32 {
	k := len(s.words) / blockWords
	if uint64(k) > uint64(^uint32(0)-blockMixed) {
		panic("mem: Residency has more mixed blocks than it can index")
	}
	if need := len(s.words) + blockWords; need > cap(s.words) {
		c := max(2*cap(s.words), 4*blockWords)
		if k+1 >= minEvidence && b+1 >= packChunk/blockWords {
			projected := uint64(k+1) * uint64(len(s.blocks)) / uint64(b+1)
			c = max(c, int(projected)*blockWords)
		}
		c = max(min(c, len(s.blocks)*blockWords), need)
		w := make([]uint64, len(s.words), c)
		copy(w, s.words)
		s.words = w
	}
	s.words = s.words[:len(s.words)+blockWords]
	st := uint32(blockMixed + k)
	s.blocks[b] = st
	return st
}

// minEvidence is how many mixed blocks newSlot must have seen before it
// projects their share over the rest of the set.
const minEvidence = 8

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
