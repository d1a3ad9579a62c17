package mem_test

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/vmkit/vmkit/mem"
)

// blockVec returns a mincore-style vector of blocks whole blocks, each
// chosen by rng: all resident, all absent, random, or all resident but one
// page. Bits 1-7 of every byte are garbage, as the kernel allows.
func blockVec(rng *rand.Rand, pages int) []byte {
	vec := make([]byte, pages)
	for b := 0; b < pages; b += mem.BlockPagesForTest {
		kind := rng.IntN(4)
		hole := b + rng.IntN(mem.BlockPagesForTest)
		for i := b; i < min(b+mem.BlockPagesForTest, pages); i++ {
			var bit byte
			switch kind {
			case 0:
				bit = 1
			case 2:
				bit = byte(rng.IntN(2))
			case 3:
				if i != hole {
					bit = 1
				}
			}
			vec[i] = byte(rng.IntN(256))&^1 | bit
		}
	}
	return vec
}

func TestPackBlocksMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for l := uint8(0); l <= mem.MaxPackLevelForTest(); l++ {
		old := mem.SetPackLevelForTest(l)
		for _, blocks := range []int{0, 1, 7, 32, 64} {
			src := blockVec(rng, blocks*mem.BlockPagesForTest)
			got := make([]uint64, len(src)/64)
			want := make([]uint64, len(src)/64)
			all, none := mem.PackBlocksForTest(got, src)
			mem.PackWordsGenericForTest(want, src)
			wantAll, wantNone := mem.ClassifyBlocksForTest(want)
			// The words of uniform blocks may be left unwritten.
			for j := range blocks {
				if (wantAll|wantNone)>>j&1 == 1 {
					bw := len(want) / max(blocks, 1)
					copy(got[j*bw:(j+1)*bw], want[j*bw:(j+1)*bw])
				}
			}
			if !slices.Equal(got, want) || all != wantAll || none != wantNone {
				t.Fatalf("level %d, %d blocks: packBlocks = %x %b %b, want %x %b %b", l, blocks, got, all, none, want, wantAll, wantNone)
			}
			// The classification by hand, from the bytes.
			for j := range blocks {
				ones, zeros := true, true
				for _, c := range src[j*mem.BlockPagesForTest : (j+1)*mem.BlockPagesForTest] {
					ones = ones && c&1 == 1
					zeros = zeros && c&1 == 0
				}
				if ones != (all>>j&1 == 1) || zeros != (none>>j&1 == 1) {
					t.Fatalf("level %d block %d: all %v none %v, bytes say %v %v", l, j, all>>j&1, none>>j&1, ones, zeros)
				}
			}
		}
		mem.SetPackLevelForTest(old)
	}
}

func BenchmarkPackBlocks(b *testing.B) {
	uniform := bytes.Repeat([]byte{1}, 16384)
	mixed := bytes.Repeat([]byte{1, 0, 1, 1}, 16384/4)
	dst := make([]uint64, 16384/64)
	for l := uint8(0); l <= mem.MaxPackLevelForTest(); l++ {
		for name, src := range map[string][]byte{"uniform": uniform, "mixed": mixed} {
			b.Run("level"+strconv.Itoa(int(l))+"/"+name, func(b *testing.B) {
				old := mem.SetPackLevelForTest(l)
				defer mem.SetPackLevelForTest(old)
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					mem.PackBlocksForTest(dst, src)
				}
			})
		}
	}
}
