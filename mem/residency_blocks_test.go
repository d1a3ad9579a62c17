package mem_test

import (
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/vmkit/vmkit/mem"
)

// settleHeap gives the garbage of a test back to the system before the
// next test starts, so that the runtime's background scavenger does not
// shrink the RSS in the middle of a later test that measures it.
func settleHeap(t *testing.T) { t.Cleanup(debug.FreeOSMemory) }

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
	settleHeap(t)
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
	settleHeap(t)
	bp := mem.BlockPagesForTest
	const n = 1 << 16 // 256 MiB of 4 KiB pages
	ones := make([]byte, n)
	for i := range ones {
		ones[i] = 1
	}
	cases := map[string]struct {
		vec        []byte
		blocks     int // summary entries: none while the set is lazy
		words      int // bit words stored: only mixed blocks have any
		count      int
		firstRun   mem.Run
		setPage    int
		afterCount int
	}{
		"all resident": {ones, 0, 0, n, mem.Run{Start: 0, Len: n}, 5, n - 1},
		"none":         {make([]byte, n), 0, 0, 0, mem.Run{}, n - 1, 1},
		"resident head": {
			func() []byte { v := slices.Clone(ones); clear(v[5*bp:]); return v }(),
			0, 0, 5 * bp, mem.Run{Start: 0, Len: 5 * bp}, 5 * bp, 5*bp + 1,
		},
		"resident tail": {
			func() []byte { v := slices.Clone(ones); clear(v[:5*bp]); return v }(),
			n / bp, 0, n - 5*bp, mem.Run{Start: 5 * bp, Len: n - 5*bp}, 0, n - 5*bp + 1,
		},
		"one mixed block": {
			func() []byte { v := slices.Clone(ones); v[3*bp+7] = 0; return v }(),
			n / bp, bp / 64, n - 1, mem.Run{Start: 0, Len: 3*bp + 7}, 3*bp + 7, n,
		},
	}
	for name, c := range cases {
		var r mem.Residency
		mem.FillFromVecForTest(&r, c.vec, 16384)
		blocks, words := mem.StorageForTest(r)
		if blocks != c.blocks || words != c.words {
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

// TestResidencyLazyPrefix covers the lazy form: a set whose resident pages
// are a prefix of whole blocks keeps no summary, however it is handed over
// in whole blocks, and anything else gets one, with the same answers.
func TestResidencyLazyPrefix(t *testing.T) {
	settleHeap(t)
	bp := mem.BlockPagesForTest
	for _, n := range []int{40 * bp, 40*bp + 77} {
		for _, k := range []int{0, 1, bp, 5 * bp, 32 * bp, 33*bp - 1, 33 * bp, n - 77, n} {
			for _, chunk := range []int{64, 448, bp, 3 * bp, 16384} {
				vec := make([]byte, n)
				model := make([]bool, n)
				for i := range k {
					vec[i], model[i] = 1, true
				}
				var r mem.Residency
				mem.FillFromVecForTest(&r, vec, chunk)
				id := fmt.Sprintf("n=%d k=%d chunk %d", n, k, chunk)
				checkModel(t, id, r, model)
				wantLazy := chunk%bp == 0 && (k%bp == 0 || k == n)
				if blocks, _ := mem.StorageForTest(r); (blocks == 0) != wantLazy {
					t.Fatalf("%s: %d summary entries, want lazy %v", id, blocks, wantLazy)
				}
				// Pages on both sides of the prefix's end, and the last.
				for _, i := range []int{k - 1, k, n - 1} {
					if i >= 0 && i < n {
						r.Set(i, !model[i])
						model[i] = !model[i]
					}
				}
				checkModel(t, id+" after Set", r, model)
			}
		}
	}
	// Resident blocks after absent ones, or with a gap, need the summary.
	for name, ranges := range map[string][][2]int{
		"absent then resident": {{5 * bp, 40 * bp}},
		"gap":                  {{0, 3 * bp}, {4 * bp, 40 * bp}},
		"two chunks with gap":  {{0, 32 * bp}, {33 * bp, 34 * bp}},
	} {
		vec := make([]byte, 40*bp)
		model := make([]bool, len(vec))
		for _, rg := range ranges {
			for i := rg[0]; i < rg[1]; i++ {
				vec[i], model[i] = 1, true
			}
		}
		var r mem.Residency
		mem.FillFromVecForTest(&r, vec, 16384)
		checkModel(t, name, r, model)
		if blocks, words := mem.StorageForTest(r); blocks != 40 || words != 0 {
			t.Fatalf("%s: %d summary entries, %d bit words", name, blocks, words)
		}
	}
}

// TestResidencyOverwrite stores vectors over parts of a set that already
// holds bits, lazy or not, as packVec allows.
func TestResidencyOverwrite(t *testing.T) {
	settleHeap(t)
	bp := mem.BlockPagesForTest
	n := 40 * bp
	type write struct {
		first, len int
		ones       int // the first ones pages of the write are resident, the rest absent
	}
	for name, writes := range map[string][]write{
		"absent inside the resident prefix":   {{0, n, n}, {2 * bp, 2 * bp, 0}},
		"absent over the prefix's last block": {{0, 10 * bp, 10 * bp}, {9 * bp, 20 * bp, 0}},
		"resident then absent, one batch":     {{0, 10 * bp, 10 * bp}, {2 * bp, 5 * bp, 2 * bp}},
		"prefix shrunk by a mixed batch":      {{0, 20 * bp, 20 * bp}, {0, 5*bp + 64, 5*bp + 64}, {5*bp + 64, 64, 0}},
		"resident grows the prefix":           {{0, 3 * bp, 3 * bp}, {bp, 7 * bp, 7 * bp}},
		"resident and absent grow the prefix": {{0, 3 * bp, 3 * bp}, {bp, 7 * bp, 4 * bp}},
		"absent far past the prefix":          {{0, 3 * bp, 3 * bp}, {30 * bp, 2 * bp, 0}},
		"mixed block made resident":           {{0, 10 * bp, 5*bp + 3}, {5 * bp, bp, bp}},
		"mixed block made absent":             {{0, 10 * bp, 5*bp + 3}, {5 * bp, bp, 0}},
		"mixed last block made resident":      {{0, n, n - 100}, {n - bp, bp, bp}},
	} {
		var r mem.Residency
		mem.FillFromVecForTest(&r, make([]byte, n), 16384)
		model := make([]bool, n)
		for _, w := range writes {
			vec := make([]byte, w.len)
			for i := range vec {
				if i < w.ones {
					vec[i] = 1
				}
				model[w.first+i] = i < w.ones
			}
			mem.PackVecForTest(r, w.first, vec)
		}
		checkModel(t, name, r, model)
	}
}

func TestResidencyShortLastBlockUniform(t *testing.T) {
	settleHeap(t)
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

// TestResidencyShortLastBlockHoles puts one absent page in a last block cut
// short mid-word, in each of its words: the pages past the end must not
// make the block look wholly resident.
func TestResidencyShortLastBlockHoles(t *testing.T) {
	settleHeap(t)
	bp := mem.BlockPagesForTest
	for _, n := range []int{65, 77, 130, bp - 1, 3*bp + 77} {
		for hole := (n - 1) / bp * bp; hole < n; hole += 13 {
			vec := make([]byte, n)
			model := make([]bool, n)
			for i := range vec {
				if i != hole {
					vec[i], model[i] = 1, true
				}
			}
			var r mem.Residency
			mem.FillFromVecForTest(&r, vec, 16384)
			checkModel(t, fmt.Sprintf("n=%d hole %d", n, hole), r, model)
		}
	}
	// The vector of a sparse file that showed the fault.
	vec := make([]byte, 65)
	for _, p := range []int{0, 5, 6, 7, 20, 63, 64} {
		vec[p] = 1
	}
	model := make([]bool, len(vec))
	for i, c := range vec {
		model[i] = c == 1
	}
	var r mem.Residency
	mem.FillFromVecForTest(&r, vec, 16384)
	checkModel(t, "sparse file", r, model)
}

// TestResidencySparseHugeIsSmall builds sets of a 1 TiB range (of 4 KiB
// pages) with a few mixed blocks, by hand and from a vector: they must cost
// a few slots of bits, not the 32 MiB of a plain bit set.
func TestResidencySparseHugeIsSmall(t *testing.T) {
	settleHeap(t)
	bp := mem.BlockPagesForTest
	r := mem.NewResidency(1 << 28)
	for _, p := range []int{0, 1, 40 * bp, 1<<28 - 1} {
		r.Set(p, true)
	}
	if r.Count() != 4 || !r.At(40*bp) || r.At(2) {
		t.Fatalf("by hand: %v", r)
	}
	blocks, words := mem.StorageForTest(r)
	if c := mem.WordsCapForTest(r); c > 64 || words != 3*bp/64 || blocks != 1<<28/bp {
		t.Fatalf("by hand: %d summary entries, %d bit words, room for %d", blocks, words, c)
	}
	// The first block mixed and nothing else, as Resident would fill it:
	// 4 GiB of 4 KiB pages, to keep the vector small.
	vec := make([]byte, 1<<20)
	vec[7] = 1
	var v mem.Residency
	mem.FillFromVecForTest(&v, vec, 16384)
	if c := mem.WordsCapForTest(v); c > 64 || v.Count() != 1 {
		t.Fatalf("from a vector: %v with room for %d bit words", v, c)
	}
}

func TestResidencyIntoReuseIsClean(t *testing.T) {
	settleHeap(t)
	// A set reused for a smaller or a differently shaped range shows none
	// of the old bits, whichever blocks were mixed before.
	rng := rand.New(rand.NewPCG(9, 9))
	var r mem.Residency
	for k, n := range []int{9000, 700, 9000, 1, 0, 20000, 513, 20000, 20000, 9000} {
		vec := blockVec(rng, n)
		switch {
		case k == 7: // wholly resident: a lazy prefix
			for i := range vec {
				vec[i] = 1
			}
		case k > 7: // wholly absent, after the lazy prefix
			clear(vec)
		}
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
