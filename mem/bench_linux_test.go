package mem_test

import (
	"testing"
	"unsafe"

	"github.com/vmkit/vmkit/internal/sys"
	"github.com/vmkit/vmkit/mem"
)

// BenchmarkResident reads the residency of a populated 1 GiB mapping;
// BenchmarkResidentRaw is one raw mincore over the same range, the floor.
// bench/pages prints the two side by side with their ratio.
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
}
