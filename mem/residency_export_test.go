package mem

// Hooks for the external tests of the two-level Residency.
var (
	PackBlocksForTest     = packBlocks
	ClassifyBlocksForTest = classifyBlocks
	MaxPackLevelForTest   = maxPackLevel
)

// SetPackLevelForTest selects packBlocks' loop and returns the previous
// level.
func SetPackLevelForTest(l uint8) uint8 {
	old := packLevel
	packLevel = l
	return old
}

// BlockPagesForTest is the number of pages a summary entry covers.
const BlockPagesForTest = blockPages

// FillFromVecForTest makes r a set of n pages from a mincore-style vector,
// handing packVec chunk pages at a time (a multiple of 64), as Resident
// does with the kernel's answers.
func FillFromVecForTest(r *Residency, vec []byte, chunk int) {
	r.reset(len(vec))
	for first := 0; first < len(vec); first += chunk {
		r.packVec(first, vec[first:min(first+chunk, len(vec))])
	}
}

// StorageForTest reports the summary entries and bit words r uses (none
// while it is lazy).
func StorageForTest(r Residency) (blocks, words int) {
	if r.s == nil || r.s.lazy {
		return 0, 0
	}
	return len(r.s.blocks), len(r.s.words)
}

// WordsCapForTest reports how many bit words r's storage holds.
func WordsCapForTest(r Residency) int {
	if r.s == nil {
		return 0
	}
	return cap(r.s.words)
}

// PackVecForTest stores vec as the bits of pages first onward of r, over
// whatever r held there.
func PackVecForTest(r Residency, first int, vec []byte) { r.packVec(first, vec) }
