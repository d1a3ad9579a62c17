package mem_test

import (
	"slices"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/vmkit/vmkit/internal/sys"
	"github.com/vmkit/vmkit/mem"
)

// BenchmarkResident reads the residency of a populated 1 GiB mapping:
// vmkit is Resident, into is ResidentInto reusing one set, raw is one raw
// mincore over the same range, the floor. turns runs the three in turn
// within each iteration and reports the median of the per-iteration ratios
// (raw time over ours), which the noise of a shared machine disturbs less
// than separate runs. bench/pages prints the same comparison as a table.
func BenchmarkResident(b *testing.B) {
	m, err := mem.Map(1<<30, mem.Read|mem.Write, mem.Populate)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	pages := m.Len() / mem.PageSize()
	b.Run("vmkit", func(b *testing.B) {
		if r, err := m.Resident(); err != nil || r.Count() != pages {
			b.Fatal(r, err)
		}
		for b.Loop() {
			if _, err := m.Resident(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(pages)*float64(b.N)/b.Elapsed().Seconds(), "pages/s")
	})
	b.Run("into", func(b *testing.B) {
		var r mem.Residency
		buf := m.Bytes()
		for b.Loop() {
			if err := mem.ResidentInto(&r, buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(pages)*float64(b.N)/b.Elapsed().Seconds(), "pages/s")
	})
	b.Run("raw", func(b *testing.B) {
		vec := make([]byte, pages)
		buf := m.Bytes()
		for b.Loop() {
			if err := sys.MincoreRange(unsafe.Pointer(&buf[0]), uintptr(len(buf)), vec); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(pages)*float64(b.N)/b.Elapsed().Seconds(), "pages/s")
	})
	b.Run("turns", func(b *testing.B) { benchTurns(b, m) })
}

// BenchmarkResidentMixed is BenchmarkResident/turns on a 1 GiB mapping with
// one page in eight resident, so that every block of the set is mixed and
// stores its bits: the case the summary does not help.
func BenchmarkResidentMixed(b *testing.B) {
	m, err := mem.Map(1<<30, mem.Read|mem.Write, mem.NoReserve)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	buf := m.Bytes()
	ps := mem.PageSize()
	for i := 0; i < len(buf); i += 8 * ps {
		buf[i] = 1
	}
	if r, err := m.Resident(); err != nil || r.Count() != len(buf)/ps/8 {
		b.Fatal(r, err)
	}
	b.Run("turns", func(b *testing.B) { benchTurns(b, m) })
}

// benchTurns runs Resident, ResidentInto and raw mincore on m in turn,
// the order rotating so no reader always follows the same one, and reports
// the median over iterations of raw's time over each of ours.
func benchTurns(b *testing.B, m *mem.Mapping) {
	var r mem.Residency
	buf := m.Bytes()
	vec := make([]byte, len(buf)/mem.PageSize())
	readers := []func() error{
		func() error { _, err := m.Resident(); return err },
		func() error { return mem.ResidentInto(&r, buf) },
		func() error { return sys.MincoreRange(unsafe.Pointer(&buf[0]), uintptr(len(buf)), vec) },
	}
	var ours, into []float64
	var d [3]time.Duration
	turn := 0
	for b.Loop() {
		for j := range readers {
			k := (j + turn) % len(readers)
			t0 := time.Now()
			if err := readers[k](); err != nil {
				b.Fatal(err)
			}
			d[k] = time.Since(t0)
		}
		turn++
		ours = append(ours, float64(d[2])/float64(d[0]))
		into = append(into, float64(d[2])/float64(d[1]))
	}
	b.ReportMetric(medianOf(ours), "vmkit/raw")
	b.ReportMetric(medianOf(into), "into/raw")
}

func medianOf(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkMincoreChunks measures how the size of each mincore call of a
// residency walk matters, on a populated 1 GiB mapping: chunks of 16K, 32K
// and 64K pages (plain system calls, packed into one reused set as
// ResidentInto does), in rotating turns with one raw call over the whole
// range. It reports the median of raw's time over each.
func BenchmarkMincoreChunks(b *testing.B) {
	m, err := mem.Map(1<<30, mem.Read|mem.Write, mem.Populate)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	buf := m.Bytes()
	vec := make([]byte, len(buf)/mem.PageSize())
	chunks := []int{16 << 10, 32 << 10, 64 << 10}
	var sets [3]mem.Residency
	var vecs [3][]byte
	readers := []func() error{func() error { return sys.MincoreRange(unsafe.Pointer(&buf[0]), uintptr(len(buf)), vec) }}
	for k, c := range chunks {
		vecs[k] = make([]byte, c)
		readers = append(readers, func() error { return mem.ResidentChunkedForTest(&sets[k], buf, vecs[k], c, false) })
	}
	ratios := make([][]float64, len(chunks))
	d := make([]time.Duration, len(readers))
	turn := 0
	for b.Loop() {
		for j := range readers {
			k := (j + turn) % len(readers)
			t0 := time.Now()
			if err := readers[k](); err != nil {
				b.Fatal(err)
			}
			d[k] = time.Since(t0)
		}
		turn++
		for k := range chunks {
			ratios[k] = append(ratios[k], float64(d[0])/float64(d[k+1]))
		}
	}
	for k, c := range chunks {
		b.ReportMetric(medianOf(ratios[k]), strconv.Itoa(c>>10)+"K/raw")
	}
}
