package mem_test

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/sys"
	"github.com/vmkit/vmkit/mem"
)

// TestResidentSparseFile reads a few pages of a file whose page cache was
// dropped, with readahead off, and checks that Resident on a mapping of it
// reports exactly the pages the kernel's own byte vector reports: a range
// shorter than one summary block, with resident and absent pages mixed.
func TestResidentSparseFile(t *testing.T) {
	ps := mem.PageSize()
	f, err := os.CreateTemp("/var/tmp", "vmkit-resident-sparse-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	size := 64*ps + 10
	if _, err := f.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	fd := int(f.Fd())
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_RANDOM); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	for _, p := range []int64{0, 5, 6, 7, 20, 63, 64} {
		if _, err := unix.Pread(fd, buf, p*int64(ps)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	vec := make([]byte, 65)
	if err := sys.MincoreRange(unsafe.Pointer(&b[0]), uintptr(len(b)), vec); err != nil {
		t.Fatal(err)
	}
	r, err := mem.Resident(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != len(vec) {
		t.Fatalf("Len %d, want %d", r.Len(), len(vec))
	}
	absent := 0
	for i, v := range vec {
		if r.At(i) != (v&1 != 0) {
			t.Fatalf("page %d: Resident says %v, mincore's vector %d (vector %v)", i, r.At(i), v, vec)
		}
		if v&1 == 0 {
			absent++
		}
	}
	if absent == 0 {
		t.Skip("every page is resident (readahead ignored FADV_RANDOM?): nothing to compare")
	}
}
