package mem

import "golang.org/x/sys/cpu"

// packBlocks is packWords for whole blocks that also classifies them: bit
// j of all (none) is set when block j, words j*blockWords onward of dst, is
// all ones (all zeros), and then those words may be left unwritten.
// len(src) == 64*len(dst), and len(dst) is a multiple of blockWords and at
// most 64*blockWords. The assembly (residency_amd64.s) uses the widest
// vector unit packLevel allows.
//
//go:noescape
func packBlocks(dst []uint64, src []byte) (all, none uint64)

// packLevel selects packBlocks' loop: 0 SSE2 (PMOVMSKB, 16 pages an
// instruction), 1 AVX2 (32), 2 AVX-512BW (VPTESTMB, 64). Tests lower it to
// cover every loop.
var packLevel = maxPackLevel()

func maxPackLevel() uint8 {
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW:
		return 2
	case cpu.X86.HasAVX2:
		return 1
	}
	return 0
}
