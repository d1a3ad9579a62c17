package mem_test

import (
	"slices"
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
	b.Run("turns", func(b *testing.B) {
		var r mem.Residency
		vec := make([]byte, pages)
		buf := m.Bytes()
		readers := []func() error{
			func() error { _, err := m.Resident(); return err },
			func() error { return mem.ResidentInto(&r, buf) },
			func() error { return sys.MincoreRange(unsafe.Pointer(&buf[0]), uintptr(len(buf)), vec) },
		}
		var ours, into []float64
		var d [3]time.Duration
		turn := 0
		for b.Loop() {
			// The order rotates, so no reader always follows the same one.
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
	})
}

func medianOf(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}
