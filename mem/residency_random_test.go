package mem_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/vmkit/vmkit/mem"
)

// runVec returns a vector of n pages made of runs of random lengths, short
// and long, resident or not, so that blocks come out wholly resident,
// wholly absent or mixed, with edges anywhere.
func runVec(rng *rand.Rand, n int) []byte {
	vec := make([]byte, n)
	bit := byte(rng.IntN(2))
	for i := 0; i < n; {
		var l int
		switch rng.IntN(3) {
		case 0:
			l = 1 + rng.IntN(8)
		case 1:
			l = 1 + rng.IntN(600)
		default:
			l = 1 + rng.IntN(5000)
		}
		for j := i; j < min(i+l, n); j++ {
			vec[j] = bit | byte(rng.IntN(128))<<1
		}
		i += l
		bit ^= 1
	}
	return vec
}

// TestResidencyRandomRuns checks sets filled from random run patterns in
// random chunkings, then changed with Set, against a plain model, reusing
// one set throughout as ResidentInto does, with every packing loop.
func TestResidencyRandomRuns(t *testing.T) {
	settleHeap(t)
	iters := 300
	if s := os.Getenv("VMKIT_RESIDENCY_ITERS"); s != "" {
		iters, _ = strconv.Atoi(s)
	}
	for l := uint8(0); l <= mem.MaxPackLevelForTest(); l++ {
		old := mem.SetPackLevelForTest(l)
		randomRuns(t, iters, uint64(l))
		mem.SetPackLevelForTest(old)
	}
}

func randomRuns(t *testing.T, iters int, seed uint64) {
	rng := rand.New(rand.NewPCG(11, seed))
	var r mem.Residency
	for it := range iters {
		n := 1 + rng.IntN(40_000)
		vec := runVec(rng, n)
		chunk := 64 * (1 + rng.IntN(400))
		if rng.IntN(2) == 0 {
			chunk = 16384
		}
		model := make([]bool, n)
		for i, c := range vec {
			model[i] = c&1 == 1
		}
		mem.FillFromVecForTest(&r, vec, chunk)
		id := fmt.Sprintf("iteration %d (n=%d chunk %d)", it, n, chunk)
		checkModel(t, id, r, model)
		for range rng.IntN(20) {
			i := rng.IntN(n)
			v := rng.IntN(2) == 0
			r.Set(i, v)
			model[i] = v
		}
		checkModel(t, id+" after Set", r, model)
	}
}
