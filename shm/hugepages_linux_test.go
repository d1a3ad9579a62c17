package shm_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/proc"
	"github.com/vmkit/vmkit/shm"
)

// TestSysVHugePagesAttach makes a segment of huge pages, reserving two in
// vm.nr_hugepages for the test when there are none, and checks that Attach
// places it on a huge page boundary, that the kernel maps it with huge
// pages, and that what is written survives a detach.
func TestSysVHugePagesAttach(t *testing.T) {
	hp := testchild.MeminfoKiB(t, "Hugepagesize:") << 10
	if hp == 0 {
		t.Skip("no huge pages on this system")
	}
	testchild.ReserveHugePages(t, 2)
	s, err := shm.SysV(shm.Private, hp/2, shm.SysVCreate|shm.SysVHugePages|0o600)
	if err != nil {
		t.Fatal(err)
	}
	removeSysV(t, s.ID())
	m, err := s.Attach(mem.Read | mem.Write)
	if err != nil {
		t.Fatal(err)
	}
	b := m.Bytes()
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if addr%uintptr(hp) != 0 || len(b) != hp {
		t.Fatalf("attached at %#x, %d bytes; want a multiple of %d and the segment rounded up to one huge page", addr, len(b), hp)
	}
	regions, err := proc.Maps(0)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := proc.Find(regions, addr)
	if !ok || r.KernelPageSize != int64(hp) {
		t.Fatalf("the attachment's region %+v: want kernel pages of %d bytes", r, hp)
	}
	want := bytes.Repeat([]byte("huge"), hp/4)
	copy(b, want)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = s.Attach(mem.Read)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !bytes.Equal(m.Bytes(), want) {
		t.Fatal("the segment lost what was written before the detach")
	}
}

// TestSysVHugePagesAttachAnyPlacement attaches a huge page segment of half
// a huge page with the address space shifted a page at a time, so that the
// first range Attach reserves falls on a huge page boundary in some rounds.
// Attach once took the kernel's success there for a segment of ordinary
// pages: the Mapping had half a huge page while the kernel, with
// SHM_REMAP, mapped the whole huge page, over whatever lay after the
// reservation.
func TestSysVHugePagesAttachAnyPlacement(t *testing.T) {
	hp := testchild.MeminfoKiB(t, "Hugepagesize:") << 10
	if hp == 0 {
		t.Skip("no huge pages on this system")
	}
	testchild.ReserveHugePages(t, 1)
	s, err := shm.SysV(shm.Private, hp/2, shm.SysVCreate|shm.SysVHugePages|0o600)
	if err != nil {
		t.Fatal(err)
	}
	removeSysV(t, s.ID())
	ps := os.Getpagesize()
	for k := range hp / ps {
		// k pages mapped just before the Attach move where the kernel
		// places the next mapping.
		pad, err := mem.Map((k+1)*ps, mem.Read, 0)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.Attach(mem.Read | mem.Write)
		if err != nil {
			pad.Close()
			t.Fatalf("round %d: %v", k, err)
		}
		b := m.Bytes()
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if addr%uintptr(hp) != 0 || len(b) != hp {
			t.Fatalf("round %d: attached at %#x, %d bytes; want a multiple of %d and one whole huge page", k, addr, len(b), hp)
		}
		if err := m.Close(); err != nil {
			t.Fatalf("round %d: %v", k, err)
		}
		pad.Close()
	}
}

// TestSysVHugePagesRemap remaps the attachment of a segment of huge pages.
// Attach wrapped it as a Mapping of 4 KiB pages, so Remap gave the kernel
// lengths of 4 KiB pages: growing failed with a bare EINVAL, and shrinking
// to a length that is not a multiple of the huge page succeeded (the kernel
// rounds hugetlb lengths up and changed nothing) while the Mapping took the
// shorter length, after which Close failed with EINVAL and the attachment
// stayed. The Mapping is now one of huge pages: Remap shrinks in whole huge
// pages and refuses to grow with a hint that says why, and Close works.
// The segment of two huge pages is attached with the address space shifted
// a page at a time, so that some first attempts land on a huge page
// boundary, where the kernel attaches such a segment at once.
func TestSysVHugePagesRemap(t *testing.T) {
	hp := testchild.MeminfoKiB(t, "Hugepagesize:") << 10
	if hp == 0 {
		t.Skip("no huge pages on this system")
	}
	testchild.ReserveHugePages(t, 2)
	s, err := shm.SysV(shm.Private, 2*hp, shm.SysVCreate|shm.SysVHugePages|0o600)
	if err != nil {
		t.Fatal(err)
	}
	removeSysV(t, s.ID())
	ps := os.Getpagesize()
	want := bytes.Repeat([]byte("remap"), hp/5)
	for k := range hp / ps {
		pad, err := mem.Map((k+1)*ps, mem.Read, 0)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.Attach(mem.Read | mem.Write)
		if err != nil {
			pad.Close()
			t.Fatalf("round %d: %v", k, err)
		}
		copy(m.Bytes(), want)
		if err := m.Remap(3 * hp); !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "cannot grow") {
			t.Fatalf("round %d: Remap to three huge pages: %v, want EINVAL that says the kernel cannot grow huge pages", k, err)
		}
		if err := m.Remap(hp / 2); err != nil {
			t.Fatalf("round %d: Remap to half a huge page: %v", k, err)
		}
		if m.Len() != hp/2 || !bytes.Equal(m.Bytes(), want[:hp/2]) {
			t.Fatalf("round %d: after Remap: %d bytes, contents kept %v", k, m.Len(), bytes.Equal(m.Bytes(), want[:hp/2]))
		}
		if err := m.Close(); err != nil {
			t.Fatalf("round %d: Close after Remap: %v", k, err)
		}
		if st, err := s.Stat(); err != nil || st.Attached != 0 {
			t.Fatalf("round %d: after Close: %+v, %v; want no attachment left", k, st, err)
		}
		pad.Close()
	}
}
