package mem_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vmkit/vmkit/mem"
)

func TestResidencyModel(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 65, 127, 128, 1000, 4097} {
		r := mem.NewResidency(n)
		model := make([]bool, n)
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		for i := range n {
			if rng.IntN(3) == 0 {
				model[i] = true
				r.Set(i, true)
			}
		}
		// Clear a few again, so Set(false) is exercised.
		for i := 0; i < n; i += 7 {
			model[i] = false
			r.Set(i, false)
		}
		count := 0
		for i, want := range model {
			if r.At(i) != want {
				t.Fatalf("n=%d: At(%d) = %v, want %v", n, i, r.At(i), want)
			}
			if want {
				count++
			}
		}
		if r.Len() != n || r.Count() != count {
			t.Fatalf("n=%d: Len %d Count %d, want %d %d", n, r.Len(), r.Count(), n, count)
		}
		var got []bool = make([]bool, n)
		prevEnd := -1
		for run := range r.Runs() {
			if run.Len < 1 || run.Start <= prevEnd {
				t.Fatalf("n=%d: bad run %+v after end %d", n, run, prevEnd)
			}
			if run.Start > 0 && model[run.Start-1] {
				t.Fatalf("n=%d: run %+v is not maximal at its start", n, run)
			}
			for i := run.Start; i < run.Start+run.Len; i++ {
				got[i] = true
			}
			prevEnd = run.Start + run.Len
			if prevEnd < n && model[prevEnd] {
				t.Fatalf("n=%d: run %+v is not maximal at its end", n, run)
			}
		}
		if !slices.Equal(got, model) {
			t.Fatalf("n=%d: runs do not cover exactly the resident pages", n)
		}
	}
}

func TestResidencyRunsStop(t *testing.T) {
	r := mem.NewResidency(10)
	r.Set(1, true)
	r.Set(5, true)
	n := 0
	for range r.Runs() {
		n++
		break
	}
	if n != 1 {
		t.Fatalf("iteration did not stop at break")
	}
}

func TestResidencyAtOutOfRangePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("At(10) on 10 pages did not panic")
		}
	}()
	mem.NewResidency(10).At(10)
}

func TestPackWordsMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, words := range []int{0, 1, 3, 64} {
		src := make([]byte, words*64)
		for i := range src {
			src[i] = byte(rng.Uint32()) // undefined high bits must not matter
		}
		got := make([]uint64, words)
		want := make([]uint64, words)
		mem.PackWordsForTest(got, src)
		mem.PackWordsGenericForTest(want, src)
		for i := range got {
			for b := range 64 {
				bit := got[i]>>b&1 == 1
				if bit != (src[i*64+b]&1 == 1) {
					t.Fatalf("words=%d: word %d bit %d = %v, byte %#x", words, i, b, bit, src[i*64+b])
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("words=%d: packWords %x, generic %x", words, got, want)
		}
	}
}
