//go:build !amd64

package mem

// packBlocks is packWords for whole blocks that also classifies them: bit
// j of all (none) is set when block j, words j*blockWords onward of dst, is
// all ones (all zeros), and then those words may be left unwritten.
// len(src) == 64*len(dst), and len(dst) is a multiple of blockWords and at
// most 64*blockWords.
func packBlocks(dst []uint64, src []byte) (all, none uint64) {
	packWordsGeneric(dst, src)
	return classifyBlocks(dst)
}

// packLevel has a single, portable loop here.
var packLevel uint8

func maxPackLevel() uint8 { return 0 }
