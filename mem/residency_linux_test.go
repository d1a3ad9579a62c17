package mem_test

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/vmkit/vmkit/internal/sys"
	"github.com/vmkit/vmkit/mem"
)

// TestResidentMatchesMincore touches a mapping in whole blocks, partial
// blocks and single pages, across the boundaries of mincore chunks, and
// compares Resident and ResidentInto page by page with one raw mincore
// call over the same range.
func TestResidentMatchesMincore(t *testing.T) {
	settleHeap(t)
	bp := mem.BlockPagesForTest
	const pages = 40_000 // more than two 16K-page chunks, not a multiple of a block
	m := mustMap(t, pages*ps, mem.Read|mem.Write, mem.NoReserve)
	b := m.Bytes()
	touch := func(from, to int) {
		for p := from; p < min(to, pages); p++ {
			b[p*ps] = 1
		}
	}
	touch(0, 3*bp)                 // whole blocks
	touch(5*bp+1, 6*bp)            // a block but its first page
	touch(16384-bp, 16384+bp)      // across a chunk boundary
	touch(20_000, 20_001)          // one page
	touch(pages/bp*bp-64, pages+1) // the short last block and the one before
	// Drop one page inside the first run again.
	if err := mem.Advise(b[bp*ps:bp*ps+ps], mem.DontNeed); err != nil {
		t.Fatal(err)
	}
	oracle := make([]byte, pages)
	if err := sys.MincoreRange(unsafe.Pointer(&b[0]), uintptr(len(b)), oracle); err != nil {
		t.Fatal(err)
	}
	model := make([]bool, pages)
	for i, c := range oracle {
		model[i] = c&1 == 1
	}
	r, err := mem.Resident(b)
	if err != nil {
		t.Fatal(err)
	}
	checkModel(t, "Resident", r, model)
	var into mem.Residency
	mem.FillFromVecForTest(&into, make([]byte, 3*pages), 16384) // stale storage to reuse
	if err := mem.ResidentInto(&into, b); err != nil {
		t.Fatal(err)
	}
	checkModel(t, "ResidentInto", into, model)
	// Starting mid-page, the range widens to whole pages.
	if r, err := mem.Resident(b[bp*ps-1 : 3*bp*ps+1]); err != nil || r.Len() != 2*bp+2 || r.Count() != 2*bp || r.At(1) || !r.At(0) || r.At(2*bp+1) {
		t.Fatalf("mid-page range: %v, %v", r, err)
	}
}

// TestResidentUniformAllocatesLittle shows the summary at work: the
// residency of a populated or an untouched range allocates a handful of
// bytes, not a bit per page.
func TestResidentUniformAllocatesLittle(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop entries, which allocates")
	}
	const size = 64 << 20
	for name, flags := range map[string]mem.Flags{"populated": mem.Populate, "untouched": mem.NoReserve} {
		m := mustMap(t, size, mem.Read|mem.Write, flags)
		if _, err := m.Resident(); err != nil { // warm the vector pool
			t.Fatal(err)
		}
		// The least of a few trials: a collection in the middle empties
		// the pool of mincore vectors, and refilling it is no cost of the
		// set.
		perCall := ^uint64(0)
		for range 5 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const calls = 50
			for range calls {
				r, err := m.Resident()
				if err != nil || r.Count() != map[bool]int{true: size / ps}[flags == mem.Populate] {
					t.Fatalf("%s: %v, %v", name, r, err)
				}
			}
			runtime.ReadMemStats(&after)
			perCall = min(perCall, (after.TotalAlloc-before.TotalAlloc)/calls)
		}
		bits := uint64(size / ps / 8)
		if perCall >= bits/4 {
			t.Fatalf("%s: %d bytes allocated per Resident of %d pages; a plain bit set is %d", name, perCall, size/ps, bits)
		}
	}
}
