package mem_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/mem"
)

var ps = mem.PageSize()

func mustMap(t *testing.T, n int, p mem.Prot, f mem.Flags) *mem.Mapping {
	t.Helper()
	m, err := mem.Map(n, p, f)
	if err != nil {
		t.Fatalf("Map(%d): %v", n, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestPageSize(t *testing.T) {
	if ps != os.Getpagesize() || ps&(ps-1) != 0 {
		t.Fatalf("PageSize() = %d", ps)
	}
}

func TestMapBasics(t *testing.T) {
	m := mustMap(t, 3*ps+100, mem.Read|mem.Write, 0)
	b := m.Bytes()
	if len(b) != 3*ps+100 || m.Len() != len(b) {
		t.Fatalf("len(Bytes()) = %d, Len() = %d, want %d", len(b), m.Len(), 3*ps+100)
	}
	if uintptr(unsafe.Pointer(&b[0]))%uintptr(ps) != 0 || m.Addr() != uintptr(unsafe.Pointer(&b[0])) {
		t.Fatalf("anonymous mapping not page aligned or Addr wrong")
	}
	for i, c := range b {
		if c != 0 {
			t.Fatalf("byte %d = %d, want zero-filled memory", i, c)
		}
	}
	b[0], b[len(b)-1] = 1, 2
	if m.Prot() != mem.Read|mem.Write || m.Flags() != 0 {
		t.Fatalf("Prot %v Flags %v", m.Prot(), m.Flags())
	}
}

func TestMapBadInput(t *testing.T) {
	cases := map[string]struct {
		n    int
		p    mem.Prot
		f    mem.Flags
		want string
	}{
		"zero length":     {0, mem.Read, 0, "must be positive"},
		"negative length": {-5, mem.Read, 0, "must be positive"},
		"bad prot":        {ps, 0x40, 0, "invalid protection"},
		"bad flags":       {ps, mem.Read, 1 << 20, "invalid flags"},
		"two huge sizes":  {ps, mem.Read, mem.Huge2MB | mem.Huge1GB, "exclude each other"},
		// Rounded up to pages, math.MaxInt no longer fits an int: the error
		// once carried a length of -8 EiB, and printing it overflowed the
		// stack of FormatBytes.
		"largest int": {math.MaxInt, mem.Read, 0, "cannot allocate memory (the length overflows"},
	}
	if strconv.IntSize == 64 {
		shift := 62 // not a constant, so that 32-bit systems compile it
		cases["too big"] = struct {
			n    int
			p    mem.Prot
			f    mem.Flags
			want string
		}{1 << shift, mem.Read | mem.Write, 0, "cannot allocate memory"}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := mem.Map(c.n, c.p, c.f)
			if err == nil {
				m.Close()
				t.Fatalf("Map succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestMapFlags(t *testing.T) {
	m := mustMap(t, 8*ps, mem.Read|mem.Write, mem.Populate)
	r, err := m.Resident()
	if err != nil {
		t.Fatal(err)
	}
	if !r.All() {
		t.Fatalf("Populate: %v, want all resident", r)
	}
	l := mustMap(t, 4*ps, mem.Read|mem.Write, mem.MapLocked)
	before, _ := mem.Locked()
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	after, _ := mem.Locked()
	if before-after != int64(4*ps) {
		t.Fatalf("MapLocked: unlocking changed VmLck by %d, want %d", before-after, 4*ps)
	}
	s := mustMap(t, ps, mem.Read|mem.Write, mem.Shared|mem.NoReserve)
	s.Bytes()[0] = 1
	// Huge pages: succeed, or fail with the hint about vm.nr_hugepages.
	if h, err := mem.Map(2<<20, mem.Read|mem.Write, mem.Huge2MB); err == nil {
		h.Bytes()[0] = 1
		h.Close()
	} else if !errors.Is(err, unix.ENOMEM) || !strings.Contains(err.Error(), "nr_hugepages") {
		t.Fatalf("Huge2MB failed without the remedy: %v", err)
	}
}

func TestClosedMappingRefusesEverything(t *testing.T) {
	m, err := mem.Map(ps, mem.Read|mem.Write, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if m.Bytes() != nil || m.Len() != 0 || m.Addr() != 0 {
		t.Fatal("closed mapping still exposes memory")
	}
	_, rerr := m.Resident()
	_, raerr := m.ReadAt(make([]byte, 1), 0)
	_, waerr := m.WriteAt([]byte{1}, 0)
	for name, err := range map[string]error{
		"Protect": m.Protect(mem.Read), "Lock": m.Lock(), "LockOnFault": m.LockOnFault(),
		"Unlock": m.Unlock(), "Advise": m.Advise(mem.WillNeed), "Resident": rerr,
		"Sync": m.Sync(mem.SyncNow), "Remap": m.Remap(2 * ps), "ReadAt": raerr, "WriteAt": waerr,
	} {
		if !errors.Is(err, mem.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func TestRemap(t *testing.T) {
	m := mustMap(t, ps, mem.Read|mem.Write, 0)
	copy(m.Bytes(), "hello")
	if err := m.Remap(64 * ps); err != nil {
		t.Fatal(err)
	}
	b := m.Bytes()
	if len(b) != 64*ps || string(b[:5]) != "hello" {
		t.Fatalf("after grow: len %d, head %q", len(b), b[:5])
	}
	b[len(b)-1] = 9
	if err := m.Remap(2 * ps); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 2*ps || string(m.Bytes()[:5]) != "hello" {
		t.Fatal("after shrink: contents lost")
	}
	if err := m.Remap(0); err == nil {
		t.Fatal("Remap(0) succeeded")
	}
	// A mapping split by a partial Protect cannot move; the error says why.
	s := mustMap(t, 4*ps, mem.Read|mem.Write, 0)
	if err := mem.Protect(s.Bytes()[ps:2*ps], mem.Read); err != nil {
		t.Fatal(err)
	}
	if err := s.Remap(1 << 30); err == nil || !strings.Contains(err.Error(), "split") {
		t.Fatalf("Remap of split mapping: %v", err)
	}
}

func TestTryReportsFaultAndCarriesOn(t *testing.T) {
	m := mustMap(t, 4*ps, mem.Read|mem.Write, 0)
	b := m.Bytes()
	if err := mem.Protect(b[2*ps:3*ps], mem.Read); err != nil {
		t.Fatal(err)
	}
	i := 0
	err := mem.Try(func() {
		for ; i < len(b); i++ {
			b[i] = 'a'
		}
	})
	var f *mem.Fault
	if !errors.As(err, &f) {
		t.Fatalf("Try = %v, want *mem.Fault", err)
	}
	want := uintptr(unsafe.Pointer(&b[2*ps]))
	if f.Addr != want || i != 2*ps {
		t.Fatalf("fault at %#x after %d bytes, want %#x after %d", f.Addr, i, want, 2*ps)
	}
	if f.Signal != syscall.SIGSEGV || !f.Mapped || f.Prot != mem.Read || !strings.Contains(f.Error(), "read-only") {
		t.Fatalf("fault %+v: want SIGSEGV on a read-only mapping", f)
	}
	// The process carries on and the memory before the page was written.
	if b[2*ps-1] != 'a' || b[0] != 'a' {
		t.Fatal("writes before the fault are missing")
	}
}

func TestTryPassesOtherPanics(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(error).Error(), "nil pointer") {
			t.Fatalf("recovered %v, want the nil dereference to propagate", r)
		}
	}()
	var p *int
	mem.Try(func() { sink = *p })
	t.Fatal("Try swallowed a nil dereference")
}

var sink int

// Try(nil) called the nil func, a nil dereference that propagated as a
// panic; it is an argument error, as realtime.Run(nil) is.
func TestTryNil(t *testing.T) {
	if err := mem.Try(nil); err == nil || !strings.Contains(err.Error(), "Try(nil)") {
		t.Fatalf("Try(nil) = %v, want an error that names the nil function", err)
	}
}

func TestTryNoFault(t *testing.T) {
	ran := false
	if err := mem.Try(func() { ran = true }); err != nil || !ran {
		t.Fatalf("Try = %v, ran %v", err, ran)
	}
}

func TestTryUnmapped(t *testing.T) {
	m := mustMap(t, ps, mem.Read|mem.Write, 0)
	b := m.Bytes()
	m.Close()
	err := mem.Try(func() { sink = int(b[10]) })
	var f *mem.Fault
	if !errors.As(err, &f) || f.Mapped || f.Signal != syscall.SIGSEGV || f.Addr != uintptr(unsafe.Pointer(&b[10])) {
		t.Fatalf("read of unmapped page: %v", err)
	}
}

func writeFile(t *testing.T, size int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

func TestMapFileOffsets(t *testing.T) {
	f, data := writeFile(t, 5*ps+123)
	cases := map[string]struct {
		off int64
		n   int
	}{
		"whole file":        {0, 0},
		"aligned window":    {int64(ps), 2 * ps},
		"unaligned window":  {int64(ps + 17), 1000},
		"unaligned to end":  {int64(3*ps + 5), 0},
		"last partial page": {int64(5 * ps), 123},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := mem.MapFile(f, c.off, c.n, mem.Read, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			want := data[c.off:]
			if c.n > 0 {
				want = want[:c.n]
			}
			if !bytes.Equal(m.Bytes(), want) {
				t.Fatalf("Bytes() differ from the file at %d (len %d vs %d)", c.off, m.Len(), len(want))
			}
			got := make([]byte, len(want))
			if n, err := m.ReadAt(got, 0); n != len(want) || err != nil || !bytes.Equal(got, want) {
				t.Fatalf("ReadAt = %d, %v", n, err)
			}
		})
	}
	for name, c := range map[string]struct {
		off  int64
		n    int
		want string
	}{
		"negative offset": {-1, 10, "negative offset"},
		"past end":        {int64(6 * ps), 0, "nothing to map"},
		"negative length": {0, -1, "negative length"},
	} {
		t.Run(name, func(t *testing.T) {
			if m, err := mem.MapFile(f, c.off, c.n, mem.Read, 0); err == nil || !strings.Contains(err.Error(), c.want) {
				if m != nil {
					m.Close()
				}
				t.Fatalf("MapFile(%d, %d) = %v, want error saying %q", c.off, c.n, err, c.want)
			}
		})
	}
	if _, err := mem.MapFile(nil, 0, 1, mem.Read, 0); err == nil {
		t.Fatal("MapFile(nil) succeeded")
	}
}

func TestMapFileReadOnlyFileSharedWrite(t *testing.T) {
	f, _ := writeFile(t, ps)
	ro, err := os.Open(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, err = mem.MapFile(ro, 0, ps, mem.Read|mem.Write, mem.Shared)
	if !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), "O_RDWR") {
		t.Fatalf("shared writable mapping of read-only file: %v", err)
	}
	// Mapped readable, then made writable: mprotect's EACCES had no hint.
	m, err := mem.MapFile(ro, 0, ps, mem.Read, mem.Shared)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Protect(mem.Read | mem.Write); !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), "O_RDWR") {
		t.Fatalf("Mapping.Protect writable of a shared read-only file: %v", err)
	}
	if err := mem.Protect(m.Bytes(), mem.Read|mem.Write); !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), "O_RDWR") {
		t.Fatalf("Protect writable of a shared read-only file: %v", err)
	}
}

// mmap refuses a directory or a pipe with ENODEV, whose hint used to blame
// the filesystem ("does not support memory mapping"); it now names the kind
// of file.
func TestMapFileNotRegular(t *testing.T) {
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, f := range []*os.File{dir, r} {
		_, err := mem.MapFile(f, 0, ps, mem.Read, 0)
		if !errors.Is(err, unix.ENODEV) || !strings.Contains(err.Error(), "not a regular file") || strings.Contains(err.Error(), "filesystem") {
			t.Errorf("MapFile of %s: %v; want ENODEV that says it is not a regular file", f.Name(), err)
		}
	}
}

func TestReadAtWriteAtBounds(t *testing.T) {
	m := mustMap(t, 2*ps, mem.Read|mem.Write, 0)
	if n, err := m.WriteAt([]byte("abc"), int64(2*ps-3)); n != 3 || err != nil {
		t.Fatalf("WriteAt at end = %d, %v", n, err)
	}
	if n, err := m.WriteAt([]byte("abcd"), int64(2*ps-3)); n != 3 || !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("WriteAt past end = %d, %v; want 3 and ErrShortWrite", n, err)
	}
	buf := make([]byte, 10)
	if n, err := m.ReadAt(buf, int64(2*ps-3)); n != 3 || err != io.EOF || string(buf[:3]) != "abc" {
		t.Fatalf("ReadAt over end = %d, %v, %q", n, err, buf[:n])
	}
	if _, err := m.ReadAt(buf, int64(2*ps)); err != io.EOF {
		t.Fatalf("ReadAt at Len = %v, want io.EOF", err)
	}
	if _, err := m.ReadAt(buf, -1); err == nil {
		t.Fatal("ReadAt(-1) succeeded")
	}
	if _, err := m.WriteAt(buf, -1); err == nil {
		t.Fatal("WriteAt(-1) succeeded")
	}
}

func TestReadAtProtNone(t *testing.T) {
	m := mustMap(t, 3*ps, mem.Read|mem.Write, 0)
	if err := mem.Protect(m.Bytes()[ps:2*ps], mem.None); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3*ps)
	n, err := m.ReadAt(buf, 0)
	var f *mem.Fault
	if n != ps || !errors.As(err, &f) || f.Addr/uintptr(ps) != m.Addr()/uintptr(ps)+1 || f.Prot != mem.None {
		t.Fatalf("ReadAt across a PROT_NONE page = %d, %v; want %d bytes and a fault at page 1", n, err, ps)
	}
	n, err = m.WriteAt(buf[:ps+10], int64(ps-10))
	if n != 10 || !errors.As(err, &f) {
		t.Fatalf("WriteAt across a PROT_NONE page = %d, %v", n, err)
	}
}

func TestAdviseEveryAdvice(t *testing.T) {
	all := []mem.Advice{mem.Normal, mem.Random, mem.Sequential, mem.WillNeed, mem.DontNeed,
		mem.Free, mem.Remove, mem.DontFork, mem.DoFork, mem.WipeOnFork, mem.KeepOnFork,
		mem.DontDump, mem.DoDump, mem.Mergeable, mem.Unmergeable, mem.HugePage, mem.NoHugePage,
		mem.Cold, mem.PageOut, mem.PopulateRead, mem.PopulateWrite}
	seen := map[string]bool{}
	for _, a := range all {
		name := a.String()
		if seen[name] {
			t.Fatalf("two advices named %q", name)
		}
		seen[name] = true
		if back, err := mem.ParseAdvice(name); err != nil || back != a {
			t.Fatalf("ParseAdvice(%q) = %v, %v", name, back, err)
		}
		// Private anonymous memory takes every advice but Remove (shared
		// memory only); Mergeable needs a kernel with KSM.
		m := mustMap(t, 4*ps, mem.Read|mem.Write, 0)
		err := m.Advise(a)
		switch {
		case err == nil:
		case a == mem.Remove && errors.Is(err, unix.EINVAL):
			s := mustMap(t, 4*ps, mem.Read|mem.Write, mem.Shared)
			if err := s.Advise(a); err != nil {
				t.Fatalf("Advise(remove) on shared memory: %v", err)
			}
		case (a == mem.Mergeable || a == mem.Unmergeable) && errors.Is(err, unix.EINVAL):
			t.Logf("kernel without KSM: %v", err)
		default:
			t.Errorf("Advise(%s): %v", a, err)
		}
	}
	if _, err := mem.ParseAdvice("sometimes"); err == nil {
		t.Fatal("ParseAdvice accepted nonsense")
	}
	m := mustMap(t, ps, mem.Read|mem.Write, 0)
	if err := m.Advise(mem.Advice(99)); err == nil {
		t.Fatal("Advise(99) succeeded")
	}
}

func TestPopulateAdviceFaultsIn(t *testing.T) {
	m := mustMap(t, 16*ps, mem.Read|mem.Write, 0)
	if r, _ := m.Resident(); r.Count() != 0 {
		t.Fatalf("fresh mapping has %v", r)
	}
	if err := mem.Advise(m.Bytes()[:8*ps], mem.PopulateWrite); err != nil {
		t.Fatal(err)
	}
	r, _ := m.Resident()
	for i := range 16 {
		if r.At(i) != (i < 8) {
			t.Fatalf("after PopulateWrite of 8 pages: page %d resident=%v", i, r.At(i))
		}
	}
}

func TestRangeRounding(t *testing.T) {
	// A range that starts and ends inside pages covers both whole pages.
	m := mustMap(t, 4*ps, mem.Read|mem.Write, 0)
	b := m.Bytes()
	if err := mem.Lock(b[ps+100 : 2*ps+1]); err != nil {
		t.Fatal(err)
	}
	r, err := mem.Resident(b[ps+100 : 2*ps+1])
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 || !r.All() {
		t.Fatalf("Resident of a range straddling two pages = %v, want 2/2", r)
	}
	if r, _ := m.Resident(); r.At(0) || !r.At(1) || !r.At(2) || r.At(3) {
		t.Fatalf("Lock touched pages outside the rounded range: %v", r)
	}
	if err := mem.Unlock(b[ps+100 : 2*ps+1]); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func([]byte) error{mem.Lock, mem.LockOnFault, mem.Unlock,
		func(b []byte) error { return mem.Protect(b, mem.Read) },
		func(b []byte) error { return mem.Advise(b, mem.WillNeed) }} {
		if err := f(nil); err != nil {
			t.Fatalf("empty range: %v", err)
		}
	}
	if r, err := mem.Resident(nil); err != nil || r.Len() != 0 {
		t.Fatalf("Resident(nil) = %v, %v", r, err)
	}
}

func TestResidentUnmappedRange(t *testing.T) {
	m := mustMap(t, 2*ps, mem.Read|mem.Write, 0)
	b := m.Bytes()
	m.Close()
	_, err := mem.Resident(b)
	if !errors.Is(err, unix.ENOMEM) || !strings.Contains(err.Error(), "not mapped") {
		t.Fatalf("Resident of unmapped memory: %v", err)
	}
}

func TestResidentLargeSparse(t *testing.T) {
	// Bigger than one mincore chunk, touched at scattered pages.
	const pages = 200_000
	m := mustMap(t, pages*ps, mem.Read|mem.Write, mem.NoReserve)
	b := m.Bytes()
	want := []int{0, 1, 63, 64, 65535, 65536, 65537, 131072, 199_999}
	for _, p := range want {
		b[p*ps] = 1
	}
	r, err := m.Resident()
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for run := range r.Runs() {
		for i := range run.Len {
			got = append(got, run.Start+i)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("resident pages %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("resident pages %v, want %v", got, want)
		}
	}
	// And from an unaligned sub-slice that starts mid-page.
	r2, err := mem.Resident(b[65535*ps+10 : 65537*ps+1])
	if err != nil || r2.Len() != 3 || !r2.All() {
		t.Fatalf("unaligned sub-range = %v, %v", r2, err)
	}
}

func TestLockLimitRoundTrip(t *testing.T) {
	l, err := mem.LockLimit()
	if err != nil {
		t.Fatal(err)
	}
	var r unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r)
	if (l.Soft != mem.Unlimited && uint64(l.Soft) != uint64(r.Cur)) || (l.Hard != mem.Unlimited && uint64(l.Hard) != uint64(r.Max)) {
		t.Fatalf("LockLimit = %v, getrlimit = %+v", l, r)
	}
	if err := mem.SetLockLimit(mem.Limit{Soft: 10, Hard: 5}); err == nil {
		t.Fatal("soft above hard accepted")
	}
	if err := mem.SetLockLimit(mem.Limit{Soft: -7, Hard: 5}); err == nil {
		t.Fatal("negative limit accepted")
	}
	// Setting the same limit again is always allowed.
	if err := mem.SetLockLimit(l); err != nil {
		t.Fatal(err)
	}
}

func TestLockAllRejectsBadFlags(t *testing.T) {
	for _, f := range []mem.LockAllFlags{0, mem.OnFault, 1 << 5} {
		if err := mem.LockAll(f); err == nil {
			t.Fatalf("LockAll(%v) succeeded", f)
		}
	}
}

func TestFileAdvise(t *testing.T) {
	f, _ := writeFile(t, 64*ps)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, a := range []mem.FileAdvice{mem.FileNormal, mem.FileRandom, mem.FileSequential, mem.FileWillNeed, mem.FileNoReuse, mem.FileDontNeed} {
		if err := mem.FileAdvise(f, 0, 0, a); err != nil {
			t.Fatalf("FileAdvise(%s): %v", a, err)
		}
	}
	m, err := mem.MapFile(f, 0, 0, mem.Read, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if r, _ := m.Resident(); r.Count() != 0 {
		t.Fatalf("after FileDontNeed: %v, want none resident", r)
	}
	if err := m.Advise(mem.Random); err != nil { // no read-ahead around faults
		t.Fatal(err)
	}
	for _, p := range []int{3, 17, 40} {
		sink = int(m.Bytes()[p*ps])
	}
	r, _ := m.Resident()
	if r.Count() != 3 || !r.At(3) || !r.At(17) || !r.At(40) {
		t.Fatalf("after reading pages 3, 17, 40: %v", r)
	}
	if err := mem.FileAdvise(f, -1, 0, mem.FileNormal); err == nil {
		t.Fatal("negative offset accepted")
	}
	if err := mem.FileAdvise(f, 0, 0, mem.FileAdvice(42)); err == nil {
		t.Fatal("unknown advice accepted")
	}
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	defer pw.Close()
	if err := mem.FileAdvise(pr, 0, 0, mem.FileWillNeed); !errors.Is(err, unix.ESPIPE) {
		t.Fatalf("FileAdvise on a pipe: %v", err)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 65536: "64 KiB",
		1536: "1.5 KiB", 8 << 20: "8 MiB", 1 << 30: "1 GiB", -4096: "-4 KiB",
		math.MaxInt64: "8.0 EiB", math.MinInt64: "-8 EiB"} {
		if got := mem.FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestErrorText(t *testing.T) {
	e := &mem.Error{Op: "mlock", Addr: 0x7f000000, Len: 65536, Err: unix.ENOMEM, Hint: "raise it"}
	want := "mem: mlock 0x7f000000+64 KiB: cannot allocate memory (raise it)"
	if e.Error() != want || !errors.Is(e, unix.ENOMEM) {
		t.Fatalf("%q", e.Error())
	}
}

// Close racing with readers and writers: every call either completes or
// returns ErrClosed; none touches unmapped memory.
func TestConcurrentCloseIsSafe(t *testing.T) {
	for range 20 {
		m, err := mem.Map(16*ps, mem.Read|mem.Write, 0)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 4)
		for g := range 4 {
			go func() {
				buf := make([]byte, ps)
				for i := range 200 {
					var err error
					if (i+g)%2 == 0 {
						_, err = m.WriteAt(buf, int64(i%16*ps))
					} else {
						_, err = m.ReadAt(buf, int64(i%16*ps))
					}
					if err != nil && !errors.Is(err, mem.ErrClosed) {
						done <- err
						return
					}
					if _, err := m.Resident(); err != nil && !errors.Is(err, mem.ErrClosed) {
						done <- err
						return
					}
				}
				done <- nil
			}()
		}
		m.Close()
		for range 4 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestAdopt(t *testing.T) {
	raw, err := unix.Mmap(-1, 0, 4*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	released := 0
	m, err := mem.Adopt(raw, mem.Read|mem.Write, func() error { released++; return unix.Munmap(raw) })
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Lock(); err != nil {
		t.Fatal(err)
	}
	if r, _ := m.Resident(); !r.All() || r.Len() != 4 {
		t.Fatalf("adopted memory: %v", r)
	}
	if err := m.Remap(8 * ps); err == nil {
		t.Fatal("Remap of adopted memory succeeded")
	}
	m.Close()
	m.Close()
	if released != 1 {
		t.Fatalf("release ran %d times, want once", released)
	}
	if _, err := mem.Adopt(raw[1:], mem.Read, func() error { return nil }); err == nil {
		t.Fatal("Adopt of unaligned memory succeeded")
	}
	if _, err := mem.Adopt(nil, mem.Read, func() error { return nil }); err == nil {
		t.Fatal("Adopt(nil) succeeded")
	}
}

func TestResidentIntoReuses(t *testing.T) {
	m := mustMap(t, 300*ps, mem.Read|mem.Write, 0)
	b := m.Bytes()
	for _, p := range []int{0, 64, 65, 299} {
		b[p*ps] = 1
	}
	var r mem.Residency
	if err := mem.ResidentInto(&r, b); err != nil {
		t.Fatal(err)
	}
	want, _ := mem.Resident(b)
	if r.Len() != want.Len() || r.Count() != 4 || !r.At(65) || r.At(66) {
		t.Fatalf("ResidentInto = %v, Resident = %v", r, want)
	}
	// A smaller range reuses the storage; stale bits of the larger one must
	// not show through.
	if err := mem.ResidentInto(&r, b[:70*ps]); err != nil || r.Len() != 70 || r.Count() != 3 {
		t.Fatalf("smaller range: %v, %v", r, err)
	}
	allocs := testing.AllocsPerRun(20, func() { mem.ResidentInto(&r, b) })
	if allocs != 0 {
		t.Fatalf("ResidentInto allocates %.0f times per call on reuse", allocs)
	}
	m2 := mustMap(t, ps, mem.Read|mem.Write, 0)
	gone := m2.Bytes()
	m2.Close()
	if err := mem.ResidentInto(&r, gone); err == nil || r.Len() != 0 {
		t.Fatalf("unmapped range: %v, %v", r, err)
	}
	if err := mem.ResidentInto(nil, b); err == nil {
		t.Fatal("ResidentInto(nil) succeeded")
	}
}

func TestMapAligned(t *testing.T) {
	for _, align := range []int{ps, 64 << 10, 2 << 20, 4 << 20} {
		m, err := mem.MapAligned(3*ps+5, align, mem.Read|mem.Write, mem.Shared)
		if err != nil {
			t.Fatal(err)
		}
		if m.Addr()%uintptr(align) != 0 || m.Len() != 3*ps+5 {
			t.Fatalf("align %d: addr %#x len %d", align, m.Addr(), m.Len())
		}
		b := m.Bytes()
		b[0], b[len(b)-1] = 1, 2
		if r, err := m.Resident(); err != nil || r.Len() != 4 || !r.At(0) || !r.At(3) {
			t.Fatalf("align %d: residency of the mapping: %v, %v", align, r, err)
		}
		if err := m.Lock(); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for name, c := range map[string]struct{ n, align int }{
		"not a power of two": {ps, 3 * ps},
		"below a page":       {ps, 64},
		"zero length":        {0, ps},
	} {
		if m, err := mem.MapAligned(c.n, c.align, mem.Read, 0); err == nil {
			m.Close()
			t.Errorf("%s: accepted", name)
		}
	}
	// No address space is left behind: many aligned maps do not grow VmSize.
	before, _ := procfsVmSize()
	for range 64 {
		m, err := mem.MapAligned(ps, 4<<20, mem.Read|mem.Write, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
	}
	after, _ := procfsVmSize()
	if grown := after - before; grown > 64*int64(ps)+16<<20 {
		t.Fatalf("64 aligned one-page maps grew VmSize by %s: the slack was kept", mem.FormatBytes(grown))
	}
}

func procfsVmSize() (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmSize:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmSize")
}
