package proc_test

// Tests of Maps on the test process itself: real mappings made with
// golang.org/x/sys/unix, found again in /proc/self/smaps.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/proc"
)

// dataVar is initialised, so it lives in the executable's data mapping;
// bssVar is zero, so most of it lives in the anonymous bss mapping that
// follows (its first bytes may share the data mapping's last page).
var (
	dataVar = [4]int64{1, 2, 3, 4}
	bssVar  [1 << 20]byte
)

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

func mmap(t *testing.T, n int, prot, flags int) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, n, prot, flags|unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b
}

// isolated maps size bytes of read-write anonymous memory between two
// PROT_NONE pages, so that the kernel cannot merge it with a neighbour and
// its region is exactly [addr, addr+size).
func isolated(t *testing.T, size int) []byte {
	t.Helper()
	page := os.Getpagesize()
	all := mmap(t, size+2*page, unix.PROT_NONE, 0)
	b := all[page : page+size]
	if err := unix.Mprotect(b, unix.PROT_READ|unix.PROT_WRITE); err != nil {
		t.Fatal(err)
	}
	return b
}

func self(t *testing.T) []proc.Region {
	t.Helper()
	rs, err := proc.Maps(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 {
		t.Fatal("Maps(0) found no regions")
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].Start < rs[i-1].End {
			t.Fatalf("regions %d and %d overlap or are out of order", i-1, i)
		}
	}
	return rs
}

// TestMapsImage finds the segments of the test binary and of the kernel's
// special mappings, and checks that code and variables of this very test
// lie in the segments that hold them.
func TestMapsImage(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rs := self(t)
	dataVar[0]++ // keep both variables in the binary
	bssVar[len(bssVar)/2]++
	fn := reflect.ValueOf(TestMapsImage).Pointer()
	tests := map[string]struct {
		addr uintptr
		kind proc.Kind
		path string
		// perms is the expected permissions string
		perms string
	}{
		"a function is in text":           {fn, proc.KindText, exe, "r-xp"},
		"an initialised variable in data": {uintptr(unsafe.Pointer(&dataVar)), proc.KindData, exe, "rw-p"},
		"a zero variable in bss":          {uintptr(unsafe.Pointer(&bssVar[len(bssVar)/2])), proc.KindBSS, "", "rw-p"},
		"a local variable on the heap or a goroutine stack is anonymous": {
			uintptr(unsafe.Pointer(new([64]byte))), proc.KindAnonymous, "", "rw-p"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r, ok := proc.Find(rs, tt.addr)
			if !ok {
				t.Fatalf("no region holds %#x", tt.addr)
			}
			if r.Kind != tt.kind || r.Path != tt.path || r.Perms.String() != tt.perms {
				t.Errorf("%#x is in %s %s %q [%#x,%#x); want %s %s %q",
					tt.addr, r.Kind, r.Perms, r.Path, r.Start, r.End, tt.kind, tt.perms, tt.path)
			}
		})
	}

	count := map[proc.Kind]int{}
	for _, r := range rs {
		if r.Path == exe || r.Kind == proc.KindBSS {
			count[r.Kind]++
		}
	}
	for _, k := range []proc.Kind{proc.KindText, proc.KindData, proc.KindBSS} {
		if count[k] == 0 {
			t.Errorf("no %s region for %s", k, filepath.Base(exe))
		}
	}
	special := map[string]proc.Kind{"[stack]": proc.KindStack, "[vdso]": proc.KindVDSO, "[vvar]": proc.KindVVar}
	for _, r := range rs {
		if k, ok := special[r.Path]; ok {
			if r.Kind != k {
				t.Errorf("%s classified %s", r.Path, r.Kind)
			}
			delete(special, r.Path)
		}
	}
	for path := range special {
		t.Errorf("no %s region", path)
	}
}

// TestMapsLockedAnonymous follows one 64 KiB anonymous region through
// touching, mlock, MADV_DONTDUMP and MADV_WIPEONFORK.
func TestMapsLockedAnonymous(t *testing.T) {
	const size = 64 << 10
	b := isolated(t, size)
	start := addr(b)
	steps := []struct {
		name  string
		do    func() error
		check func(t *testing.T, r proc.Region)
	}{
		{"fresh", func() error { return nil }, func(t *testing.T, r proc.Region) {
			if r.Rss != 0 || r.Locked != 0 || r.HasFlag("lo") {
				t.Errorf("untouched region: Rss %d Locked %d VmFlags %v", r.Rss, r.Locked, r.VmFlags)
			}
		}},
		{"written", func() error {
			for i := range b {
				b[i] = 1
			}
			return nil
		}, func(t *testing.T, r proc.Region) {
			if r.Rss != size || r.PrivateDirty != size || r.Anonymous != size {
				t.Errorf("Rss %d PrivateDirty %d Anonymous %d, want %d", r.Rss, r.PrivateDirty, r.Anonymous, size)
			}
		}},
		{"locked", func() error { return unix.Mlock(b) }, func(t *testing.T, r proc.Region) {
			if r.Rss != size || r.Locked != size || !r.HasFlag("lo") {
				t.Errorf("Rss %d Locked %d VmFlags %v", r.Rss, r.Locked, r.VmFlags)
			}
			if r.HasFlag("dd") {
				t.Errorf("dd before MADV_DONTDUMP: %v", r.VmFlags)
			}
		}},
		{"not dumped", func() error { return unix.Madvise(b, unix.MADV_DONTDUMP) }, func(t *testing.T, r proc.Region) {
			if !r.HasFlag("dd") || !r.HasFlag("lo") {
				t.Errorf("VmFlags %v, want lo and dd", r.VmFlags)
			}
		}},
		{"wiped on fork", func() error { return unix.Madvise(b, unix.MADV_WIPEONFORK) }, func(t *testing.T, r proc.Region) {
			if !r.HasFlag("wf") || !r.HasFlag("dd") {
				t.Errorf("VmFlags %v, want wf and dd", r.VmFlags)
			}
		}},
		{"unlocked", func() error { return unix.Munlock(b) }, func(t *testing.T, r proc.Region) {
			if r.Locked != 0 || r.HasFlag("lo") || r.Rss != size {
				t.Errorf("Locked %d Rss %d VmFlags %v", r.Locked, r.Rss, r.VmFlags)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			r, ok := proc.Find(self(t), start)
			if !ok {
				t.Fatalf("no region holds %#x", start)
			}
			if r.Start != start || r.End != start+size {
				t.Errorf("region [%#x,%#x), want [%#x,%#x)", r.Start, r.End, start, start+size)
			}
			if r.Kind != proc.KindAnonymous || r.Perms.String() != "rw-p" || r.Path != "" {
				t.Errorf("region is %s %s %q, want anonymous rw-p", r.Kind, r.Perms, r.Path)
			}
			s.check(t, r)
		}) {
			return
		}
	}
}

// TestMapsKinds maps one thing of each kind and finds it with the right kind
// and path.
func TestMapsKinds(t *testing.T) {
	dir := t.TempDir()
	mapFile := func(t *testing.T, name string, flags int, remove bool) (uintptr, string) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, make([]byte, 8192), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, err := unix.Mmap(int(f.Fd()), 0, 8192, unix.PROT_READ|unix.PROT_WRITE, flags)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Munmap(b) })
		b[0] = 1
		if remove {
			os.Remove(path)
		}
		return addr(b), path
	}
	tests := map[string]struct {
		setup   func(t *testing.T) (addr uintptr, path string)
		kind    proc.Kind
		deleted bool
		shared  bool
	}{
		"shared file": {setup: func(t *testing.T) (uintptr, string) {
			return mapFile(t, "plain", unix.MAP_SHARED, false)
		}, kind: proc.KindFile, shared: true},
		"private file with blanks and parentheses in its name": {setup: func(t *testing.T) (uintptr, string) {
			return mapFile(t, " a (b) c ", unix.MAP_PRIVATE, false)
		}, kind: proc.KindFile},
		"deleted file": {setup: func(t *testing.T) (uintptr, string) {
			return mapFile(t, "gone", unix.MAP_SHARED, true)
		}, kind: proc.KindFile, deleted: true, shared: true},
		"memfd": {setup: func(t *testing.T) (uintptr, string) {
			fd, err := unix.MemfdCreate("vmkit proc", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.Ftruncate(fd, 4096); err != nil {
				t.Fatal(err)
			}
			b, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Munmap(b) })
			return addr(b), "/memfd:vmkit proc"
		}, kind: proc.KindShm, deleted: true, shared: true},
		"SysV segment": {setup: func(t *testing.T) (uintptr, string) {
			id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 8192, unix.IPC_CREAT|0o600)
			if err != nil {
				t.Skipf("shmget: %v", err)
			}
			b, err := unix.SysvShmAttach(id, 0, 0)
			if _, err2 := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err == nil && err2 != nil {
				err = err2
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.SysvShmDetach(b) })
			return addr(b), "" // "/SYSV00000000": the key, 0 for IPC_PRIVATE
		}, kind: proc.KindShm, deleted: true, shared: true},
		"shared anonymous": {setup: func(t *testing.T) (uintptr, string) {
			b, err := unix.Mmap(-1, 0, 16384, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANON)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Munmap(b) })
			return addr(b), "/dev/zero"
		}, kind: proc.KindShm, deleted: true, shared: true},
		"PROT_NONE reservation": {setup: func(t *testing.T) (uintptr, string) {
			return addr(mmap(t, 1<<20, unix.PROT_NONE, unix.MAP_NORESERVE)), ""
		}, kind: proc.KindGuard},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			a, path := tt.setup(t)
			r, ok := proc.Find(self(t), a)
			if !ok {
				t.Fatalf("no region holds %#x", a)
			}
			if name == "SysV segment" {
				path = r.Path
				if len(path) != len("/SYSV00000000") || path[:5] != "/SYSV" {
					t.Errorf("Path %q, want /SYSV%%08x", path)
				}
			}
			if r.Start != a || r.Kind != tt.kind || r.Path != path || r.Deleted != tt.deleted ||
				r.Perms.Shared != tt.shared {
				t.Errorf("got %s %s %q deleted=%v at %#x; want %s %q deleted=%v shared=%v at %#x",
					r.Kind, r.Perms, r.Path, r.Deleted, r.Start, tt.kind, path, tt.deleted, tt.shared, a)
			}
			if tt.shared && !r.HasFlag("sh") {
				t.Errorf("shared mapping without sh: %v", r.VmFlags)
			}
			if tt.kind != proc.KindGuard && tt.kind != proc.KindAnonymous && r.Inode == 0 && name != "SysV segment" {
				t.Errorf("file-backed mapping with inode 0")
			}
		})
	}
}

// TestRollup checks smaps_rollup against the sum of smaps for a counter
// that does not move by itself: locked memory.
func TestRollup(t *testing.T) {
	b := mmap(t, 64<<10, unix.PROT_READ|unix.PROT_WRITE, 0)
	if err := unix.Mlock(b); err != nil {
		t.Fatal(err)
	}
	defer unix.Munlock(b)
	u, err := proc.Rollup(0)
	if err != nil {
		t.Fatal(err)
	}
	tot := proc.Total(self(t))
	if u.Locked != tot.Locked || u.Locked < 64<<10 {
		t.Errorf("Rollup Locked %d, Total Locked %d, want equal and >= 64 KiB", u.Locked, tot.Locked)
	}
	if u.Rss <= 0 || u.Pss <= 0 || u.Size != 0 {
		t.Errorf("Rollup Rss %d Pss %d Size %d", u.Rss, u.Pss, u.Size)
	}
	if u.PssAnon+u.PssFile+u.PssShmem != u.Pss {
		// The kernel sums them from the same pages in the same pass.
		t.Errorf("PssAnon+PssFile+PssShmem = %d, Pss = %d", u.PssAnon+u.PssFile+u.PssShmem, u.Pss)
	}
}

// TestRollupNoAddressSpace reads a zombie child, whose address space is
// gone: Maps gives no regions, and Rollup zero counters, not the "no such
// process" error that the kernel gives for its smaps_rollup.
func TestRollupNoAddressSpace(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer cmd.Wait()
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		st, err := proc.StatOf(pid)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d did not exit: state %c", pid, st.State)
		}
	}
	if rs, err := proc.Maps(pid); err != nil || len(rs) != 0 {
		t.Fatalf("Maps of a zombie: %d regions, %v", len(rs), err)
	}
	if u, err := proc.Rollup(pid); err != nil || u != (proc.Usage{}) {
		t.Fatalf("Rollup of a zombie: %+v, %v; want zero counters", u, err)
	}
}

// TestMapsOtherProcess reads a child's address space, and a dead pid.
func TestMapsOtherProcess(t *testing.T) {
	cmd := startSleep(t)
	rs, err := proc.Maps(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var text, stack bool
	for _, r := range rs {
		text = text || (r.Kind == proc.KindText && filepath.Base(r.Path) == "sleep")
		stack = stack || r.Kind == proc.KindStack
	}
	if !text || !stack {
		t.Errorf("sleep's maps: text %v stack %v; kinds %v", text, stack, slices.Collect(func(yield func(string) bool) {
			for _, r := range rs {
				if !yield(r.Kind.String() + " " + r.Path) {
					return
				}
			}
		}))
	}
	dead := deadPid(t)
	if _, err := proc.Maps(dead); !isNotExist(err) || !strings.Contains(err.Error(), fmt.Sprintf("no process %d", dead)) {
		t.Errorf("Maps(dead pid) = %v, want fs.ErrNotExist saying there is no process %d", err, dead)
	}
}

func BenchmarkMaps(b *testing.B) {
	b.ReportAllocs()
	var n int
	for b.Loop() {
		rs, err := proc.Maps(0)
		if err != nil {
			b.Fatal(err)
		}
		n = len(rs)
	}
	b.ReportMetric(float64(n), "regions")
}
