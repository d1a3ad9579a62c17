package mem_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vmkit/vmkit/mem"
)

// checkModel compares every reading method of r with model.
func checkModel(t *testing.T, name string, r mem.Residency, model []bool) {
	t.Helper()
	count := 0
	for i, want := range model {
		if r.At(i) != want {
			t.Fatalf("%s: At(%d) = %v, want %v", name, i, r.At(i), want)
		}
		if want {
			count++
		}
	}
	if r.Len() != len(model) || r.Count() != count || r.All() != (count == len(model)) {
		t.Fatalf("%s: Len %d Count %d All %v, want %d %d %v", name, r.Len(), r.Count(), r.All(), len(model), count, count == len(model))
	}
	if s := fmt.Sprint(r); s != fmt.Sprintf("%d/%d pages resident", count, len(model)) {
		t.Fatalf("%s: String %q", name, s)
	}
	got := make([]bool, len(model))
	prevEnd := -1
	for run := range r.Runs() {
		if run.Len < 1 || run.Start <= prevEnd || run.Start+run.Len > len(model) {
			t.Fatalf("%s: bad run %+v after end %d", name, run, prevEnd)
		}
		for i := run.Start; i < run.Start+run.Len; i++ {
			got[i] = true
		}
		prevEnd = run.Start + run.Len
		if (run.Start > 0 && model[run.Start-1]) || (prevEnd < len(model) && model[prevEnd]) {
			t.Fatalf("%s: run %+v is not maximal", name, run)
		}
	}
	if !slices.Equal(got, model) {
		t.Fatalf("%s: runs do not cover exactly the resident pages", name)
	}
}

// TestResidencyFromVec fills sets the way Resident does, from vectors of
// uniform and mixed blocks handed over in chunks of several sizes (some
// not multiples of a block), then changes pages with Set, including pages
// of uniform blocks and of a short last block.
func TestResidencyFromVec(t *testing.T) {
	bp := mem.BlockPagesForTest
	sizes := map[string]int{
		"one page":          1,
		"one word":          64,
		"short block":       bp - 1,
		"one block":         bp,
		"block and a page":  bp + 1,
		"blocks and a word": 5*bp + 64,
		"many blocks":       40*bp + 77,
	}
	chunks := []int{64, 448, bp, 3 * bp, 16384}
	for name, n := range sizes {
		for _, chunk := range chunks {
			rng := rand.New(rand.NewPCG(uint64(n), uint64(chunk)))
			vec := blockVec(rng, n)
			model := make([]bool, n)
			for i, c := range vec {
				model[i] = c&1 == 1
			}
			var r mem.Residency
			mem.FillFromVecForTest(&r, vec, chunk)
			id := fmt.Sprintf("%s/chunk %d", name, chunk)
			checkModel(t, id, r, model)
			for range 50 {
				i := rng.IntN(n)
				v := rng.IntN(2) == 0
				r.Set(i, v)
				model[i] = v
			}
			// Every page of the last block, which may be short.
			for i := (n - 1) / bp * bp; i < n; i++ {
				r.Set(i, i%3 != 0)
				model[i] = i%3 != 0
			}
			checkModel(t, id+" after Set", r, model)
		}
	}
}

func TestResidencyUniformCostsNoBits(t *testing.T) {
	bp := mem.BlockPagesForTest
	const n = 1 << 16 // 256 MiB of 4 KiB pages
	ones := make([]byte, n)
	for i := range ones {
		ones[i] = 1
	}
	cases := map[string]struct {
		vec        []byte
		words      int // bit words stored: only mixed blocks have any
		count      int
		firstRun   mem.Run
		setPage    int
		afterCount int
	}{
		"all resident": {ones, 0, n, mem.Run{Start: 0, Len: n}, 5, n - 1},
		"none":         {make([]byte, n), 0, 0, mem.Run{}, n - 1, 1},
		"one mixed block": {
			func() []byte { v := slices.Clone(ones); v[3*bp+7] = 0; return v }(),
			bp / 64, n - 1, mem.Run{Start: 0, Len: 3*bp + 7}, 3*bp + 7, n,
		},
	}
	for name, c := range cases {
		var r mem.Residency
		mem.FillFromVecForTest(&r, c.vec, 16384)
		blocks, words := mem.StorageForTest(r)
		if blocks != n/bp || words != c.words {
			t.Fatalf("%s: %d summary entries and %d bit words", name, blocks, words)
		}
		if r.Count() != c.count || r.Len() != n {
			t.Fatalf("%s: %v", name, r)
		}
		for run := range r.Runs() {
			if run != c.firstRun {
				t.Fatalf("%s: first run %+v, want %+v", name, run, c.firstRun)
			}
			break
		}
		r.Set(c.setPage, c.count == 0 || !r.At(c.setPage))
		if r.Count() != c.afterCount {
			t.Fatalf("%s: after Set(%d): %v, want count %d", name, c.setPage, r, c.afterCount)
		}
	}
}

func TestResidencyShortLastBlockUniform(t *testing.T) {
	// A last block cut short by the end of the range, even mid-word, is
	// summarised like any other when its pages are uniform.
	for _, n := range []int{1, 63, 65, mem.BlockPagesForTest + 100} {
		for _, bit := range []byte{0, 1} {
			vec := make([]byte, n)
			for i := range vec {
				vec[i] = bit | 0x80
			}
			var r mem.Residency
			mem.FillFromVecForTest(&r, vec, 16384)
			if _, words := mem.StorageForTest(r); words != 0 || r.Count() != int(bit)*n {
				t.Fatalf("n=%d bit %d: %v with %d bit words, want none", n, bit, r, words)
			}
		}
	}
}

func TestResidencyIntoReuseIsClean(t *testing.T) {
	// A set reused for a smaller or a differently shaped range shows none
	// of the old bits, whichever blocks were mixed before.
	rng := rand.New(rand.NewPCG(9, 9))
	var r mem.Residency
	for _, n := range []int{9000, 700, 9000, 1, 0, 20000, 513} {
		vec := blockVec(rng, n)
		model := make([]bool, n)
		for i, c := range vec {
			model[i] = c&1 == 1
		}
		mem.FillFromVecForTest(&r, vec, 16384)
		checkModel(t, fmt.Sprintf("n=%d", n), r, model)
	}
}

func TestResidencyCopiesShare(t *testing.T) {
	r := mem.NewResidency(2000)
	c := r
	c.Set(1500, true)
	if !r.At(1500) || r.Count() != 1 {
		t.Fatalf("a Set through a copy is not seen: %v", r)
	}
	var zero mem.Residency
	if zero.Len() != 0 || zero.Count() != 0 || !zero.All() || zero.String() != "0/0 pages resident" {
		t.Fatalf("zero Residency: %v", zero)
	}
	for range zero.Runs() {
		t.Fatal("zero Residency has a run")
	}
	if n := mem.NewResidency(-5); n.Len() != 0 {
		t.Fatalf("NewResidency(-5).Len() = %d", n.Len())
	}
}

func TestResidencySetOutOfRangePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"Set(-1)":      func() { mem.NewResidency(10).Set(-1, true) },
		"Set(n)":       func() { mem.NewResidency(10).Set(10, true) },
		"zero At(0)":   func() { _ = mem.Residency{}.At(0) },
		"zero Set(0)":  func() { mem.Residency{}.Set(0, false) },
		"At(n) blocks": func() { _ = mem.NewResidency(2000).At(2000) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}
