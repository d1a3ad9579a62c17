package mem_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/proc"
)

// TestHugePagesLengthNotAMultiple maps anonymous huge pages and a memfd of
// huge pages with lengths that are not a multiple of the huge page size.
// The kernel maps such a length rounded up to whole huge pages but refuses
// to unmap, protect or remap anything but whole huge pages: a Mapping that
// remembered the length rounded to base pages could not be closed (munmap
// gave EINVAL every time, and the huge pages leaked until exit), protected
// or remapped.
func TestHugePagesLengthNotAMultiple(t *testing.T) {
	hp := testchild.MeminfoKiB(t, "Hugepagesize:") << 10
	if hp == 0 {
		t.Skip("no huge pages on this system")
	}
	testchild.ReserveHugePages(t, 2)
	free := testchild.MeminfoKiB(t, "HugePages_Free:")

	n := hp + 100 // two huge pages
	m, err := mem.Map(n, mem.Read|mem.Write, mem.HugePages)
	if err != nil {
		t.Fatal(err)
	}
	b := m.Bytes()
	if len(b) != n || uintptr(unsafe.Pointer(&b[0]))%uintptr(hp) != 0 {
		t.Fatalf("Bytes: %d bytes at %p, want %d on a huge page boundary", len(b), &b[0], n)
	}
	b[0], b[n-1] = 1, 2
	regions, err := proc.Maps(0)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := proc.Find(regions, m.Addr()); !ok || r.KernelPageSize != int64(hp) || r.Len() != uintptr(2*hp) {
		t.Fatalf("region %+v: want two kernel pages of %d bytes", r, hp)
	}
	if err := m.Protect(mem.Read); err != nil {
		t.Fatalf("Protect: %v", err)
	}
	if err := m.Protect(mem.Read | mem.Write); err != nil {
		t.Fatalf("Protect: %v", err)
	}
	if err := m.Lock(); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if r, err := m.Resident(); err != nil || r.Len() != 2*hp/ps {
		t.Fatalf("Resident: %v, %v; want %d pages, two whole huge pages", r, err, 2*hp/ps)
	}
	// The kernel shrinks a mapping of huge pages but never grows one.
	if err := m.Remap(2*hp + 1); !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "cannot grow") {
		t.Fatalf("Remap to three huge pages: %v, want EINVAL that says the kernel cannot grow it", err)
	}
	if err := m.Remap(100); err != nil {
		t.Fatalf("Remap to one huge page: %v", err)
	}
	if b := m.Bytes(); len(b) != 100 || b[0] != 1 {
		t.Fatal("Remap lost the contents")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := testchild.MeminfoKiB(t, "HugePages_Free:"); got != free {
		t.Fatalf("HugePages_Free is %d after Close, %d before Map: the mapping leaked", got, free)
	}

	// A file of huge pages: a memfd made with MFD_HUGETLB, mapped from an
	// offset and for a length that are not multiples of the huge page size.
	fd, err := unix.MemfdCreate("vmkit huge", unix.MFD_CLOEXEC|unix.MFD_HUGETLB)
	if err != nil {
		t.Skipf("memfd_create(MFD_HUGETLB): %v", err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	defer f.Close()
	if err := f.Truncate(int64(2 * hp)); err != nil {
		t.Fatal(err)
	}
	fm, err := mem.MapFile(f, int64(hp+ps+3), 5000, mem.Read|mem.Write, mem.Shared)
	if err != nil {
		t.Fatalf("MapFile: %v", err)
	}
	fm.Bytes()[0] = 7
	if err := fm.Protect(mem.Read); err != nil {
		t.Fatalf("Protect of the file mapping: %v", err)
	}
	if err := fm.Close(); err != nil {
		t.Fatalf("Close of the file mapping: %v", err)
	}
	back := make([]byte, 1)
	if _, err := f.ReadAt(back, int64(hp+ps+3)); err != nil && !errors.Is(err, unix.EINVAL) {
		t.Fatal(err)
	} else if err == nil && back[0] != 7 {
		t.Fatalf("the byte written through the mapping reads %d from the file", back[0])
	}
}
