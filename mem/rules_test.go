package mem_test

// The kernel's rules for locking, protection, advice, file mappings and the
// program break, each shown with vmkit's API on real memory. Rules about
// privilege run in a child process that drops to user nobody under setpriv.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/internal/sys"
	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/mem"
)

func locked(t *testing.T) int64 {
	t.Helper()
	n, err := mem.Locked()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func rss(t *testing.T) int64 {
	t.Helper()
	v, err := procfs.StatusBytes(0, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

// Rule 1: after Lock every page is resident and VmLck grows by the locked
// size; Unlock shrinks it again.
func TestRuleLockMakesResidentAndCounts(t *testing.T) {
	const size = 4 << 20
	m := mustMap(t, size, mem.Read|mem.Write, 0)
	if r, _ := m.Resident(); r.Count() != 0 {
		t.Fatalf("fresh mapping: %v", r)
	}
	before := locked(t)
	if err := m.Lock(); err != nil {
		t.Fatal(err)
	}
	r, err := m.Resident()
	if err != nil || !r.All() || r.Len() != size/ps {
		t.Fatalf("after Lock: %v, %v; want all %d pages", r, err, size/ps)
	}
	if d := locked(t) - before; d != size {
		t.Fatalf("VmLck grew by %d, want %d", d, size)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	if d := locked(t) - before; d != 0 {
		t.Fatalf("after Unlock VmLck is %d above the start", d)
	}
}

// Rule 2: locks do not stack.
func TestRuleLocksDoNotStack(t *testing.T) {
	m := mustMap(t, 1<<20, mem.Read|mem.Write, 0)
	before := locked(t)
	for range 3 {
		if err := mem.Lock(m.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if d := locked(t) - before; d != 1<<20 {
		t.Fatalf("three Locks counted %d, want %d once", d, 1<<20)
	}
	if err := mem.Unlock(m.Bytes()); err != nil {
		t.Fatal(err)
	}
	if d := locked(t) - before; d != 0 {
		t.Fatalf("one Unlock left %d locked", d)
	}
}

// Rule 3: unmapping a locked range removes the lock.
func TestRuleUnmapRemovesLock(t *testing.T) {
	before := locked(t)
	m, err := mem.Map(2<<20, mem.Read|mem.Write, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Lock(); err != nil {
		t.Fatal(err)
	}
	if d := locked(t) - before; d != 2<<20 {
		t.Fatalf("locked %d, want %d", d, 2<<20)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if d := locked(t) - before; d != 0 {
		t.Fatalf("after Close %d bytes stay locked", d)
	}
}

func init() {
	testchild.Register("report-vmlck", func() int {
		n, err := mem.Locked()
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Printf("vmlck=%d\n", n)
		return 0
	})
}

// Rule 4: a child does not inherit locks; exec starts it with none.
func TestRuleChildDoesNotInheritLocks(t *testing.T) {
	m := mustMap(t, 1<<20, mem.Read|mem.Write, 0)
	if err := m.Lock(); err != nil {
		t.Fatal(err)
	}
	if locked(t) < 1<<20 {
		t.Fatal("parent holds no lock")
	}
	out, code := testchild.Output(t, testchild.Command(t, "report-vmlck", nil))
	if code != 0 || strings.TrimSpace(out) != "vmlck=0" {
		t.Fatalf("child: %q (exit %d), want vmlck=0", out, code)
	}
}

// Rule 5: LockOnFault counts the lock at once but faults nothing in.
func TestRuleLockOnFaultDefersResidency(t *testing.T) {
	const size = 32 << 20
	m := mustMap(t, size, mem.Read|mem.Write, 0)
	lockBefore, rssBefore := locked(t), rss(t)
	if err := m.LockOnFault(); err != nil {
		t.Fatal(err)
	}
	if d := locked(t) - lockBefore; d != size {
		t.Fatalf("VmLck grew by %d, want %d", d, size)
	}
	if d := rss(t) - rssBefore; d > size/8 {
		t.Fatalf("RSS grew by %d before any touch", d)
	}
	if r, _ := m.Resident(); r.Count() != 0 {
		t.Fatalf("LockOnFault faulted pages in: %v", r)
	}
	b := m.Bytes()
	for i := 0; i < size; i += ps {
		b[i] = 1
	}
	if d := rss(t) - rssBefore; d < size {
		t.Fatalf("RSS grew by %d after touching, want at least %d", d, size)
	}
	if r, _ := m.Resident(); !r.All() {
		t.Fatalf("after touching: %v", r)
	}
}

func init() {
	testchild.Register("unpriv-locks", func() int {
		m, err := mem.Map(256<<10, mem.Read|mem.Write, 0)
		if err != nil {
			fmt.Println("map:", err)
			return 1
		}
		b := m.Bytes()
		// 32 KiB fits a 64 KiB limit; 256 KiB does not.
		err = mem.Lock(b[:32<<10])
		fmt.Printf("small-lock errno=%s\n", errnoName(err))
		err = mem.Lock(b)
		fmt.Printf("big-lock errno=%s\n", errnoName(err))
		fmt.Printf("big-lock text=%s\n", errText(err))
		err = mem.LockAll(mem.Current | mem.Future)
		fmt.Printf("lockall errno=%s\n", errnoName(err))
		fmt.Printf("lockall text=%s\n", errText(err))
		err = mem.LockAll(mem.Future | mem.OnFault)
		fmt.Printf("lockall-future errno=%s\n", errnoName(err))
		// Had the Future mode been set, this heap growth would kill us.
		var keep [][]byte
		for range 64 {
			keep = append(keep, make([]byte, 4<<20))
		}
		runtime.KeepAlive(keep)
		runtime.GC()
		fmt.Println("alive=yes")
		return 0
	})
}

func errnoName(err error) string {
	if err == nil {
		return "none"
	}
	var en unix.Errno
	if errors.As(err, &en) {
		return unix.ErrnoName(en)
	}
	return "other"
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func childLines(t *testing.T, out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Rule 6: unprivileged, a memlock limit of 0 gives EPERM and a small limit
// ENOMEM once exceeded, with the limit and the remedy in the text; LockAll
// refuses and the process keeps running.
func TestRuleUnprivilegedLimits(t *testing.T) {
	for _, c := range []struct {
		limit               int64
		small, big, limText string
	}{
		{0, "EPERM", "EPERM", "RLIMIT_MEMLOCK is 0"},
		{64 << 10, "none", "ENOMEM", "RLIMIT_MEMLOCK is 64 KiB"},
	} {
		t.Run(strconv.FormatInt(c.limit, 10), func(t *testing.T) {
			cmd := testchild.Command(t, "unpriv-locks", testchild.Unprivileged(t, c.limit))
			out, code := testchild.Output(t, cmd)
			kv := childLines(t, out)
			if code != 0 || kv["alive"] != "yes" {
				t.Fatalf("child died (exit %d):\n%s", code, out)
			}
			if kv["small-lock errno"] != c.small || kv["big-lock errno"] != c.big {
				t.Fatalf("locks: small %s big %s, want %s %s\n%s", kv["small-lock errno"], kv["big-lock errno"], c.small, c.big, out)
			}
			if !strings.Contains(kv["big-lock text"], c.limText) || !strings.Contains(kv["big-lock text"], "ulimit -l") ||
				!strings.Contains(kv["big-lock text"], "CAP_IPC_LOCK") {
				t.Fatalf("lock error lacks the limit or the remedy: %s", kv["big-lock text"])
			}
			if kv["lockall errno"] != "ENOMEM" || kv["lockall-future errno"] != "ENOMEM" {
				t.Fatalf("LockAll was not refused:\n%s", out)
			}
			for _, want := range []string{"refused before calling the kernel", "VmSize", "CAP_IPC_LOCK", "ulimit -l"} {
				if !strings.Contains(kv["lockall text"], want) {
					t.Fatalf("LockAll error lacks %q: %s", want, kv["lockall text"])
				}
			}
		})
	}
}

// Rule 7: after Protect(Read) a write faults at its exact address; after
// Protect(None) a read faults too.
func TestRuleProtectFaults(t *testing.T) {
	m := mustMap(t, 2*ps, mem.Read|mem.Write, 0)
	b := m.Bytes()
	b[100] = 42
	if err := m.Protect(mem.Read); err != nil {
		t.Fatal(err)
	}
	if b[100] != 42 {
		t.Fatal("read-only page lost its contents")
	}
	err := mem.Try(func() { b[ps+123] = 1 })
	var f *mem.Fault
	if !errors.As(err, &f) || f.Addr != uintptr(unsafe.Pointer(&b[ps+123])) || f.Signal != syscall.SIGSEGV {
		t.Fatalf("write to read-only page: %v", err)
	}
	if err := m.Protect(mem.None); err != nil {
		t.Fatal(err)
	}
	err = mem.Try(func() { sink = int(b[7]) })
	if !errors.As(err, &f) || f.Addr != uintptr(unsafe.Pointer(&b[7])) || f.Prot != mem.None {
		t.Fatalf("read of PROT_NONE page: %v", err)
	}
	if err := m.Protect(mem.Read | mem.Write); err != nil {
		t.Fatal(err)
	}
	b[7] = 1
}

// Rule 8: DontNeed on private anonymous memory reads back zeros.
func TestRuleDontNeedZeroes(t *testing.T) {
	m := mustMap(t, 8*ps, mem.Read|mem.Write, 0)
	b := m.Bytes()
	for i := range b {
		b[i] = 0xAB
	}
	if err := m.Advise(mem.DontNeed); err != nil {
		t.Fatal(err)
	}
	if r, _ := m.Resident(); r.Count() != 0 {
		t.Fatalf("DontNeed left %v", r)
	}
	if !bytes.Equal(b, make([]byte, len(b))) {
		t.Fatal("DontNeed on private anonymous memory did not read back zeros")
	}
	// On locked pages it is refused, and says so.
	b[0] = 1
	if err := m.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := m.Advise(mem.DontNeed); !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "Unlock") {
		t.Fatalf("DontNeed on locked pages: %v", err)
	}
}

// Rule 9: a write through a shared file mapping reaches the file; a private
// mapping's write does not.
func TestRuleSharedAndPrivateFileMappings(t *testing.T) {
	f, data := writeFile(t, 3*ps)
	shared, err := mem.MapFile(f, 0, 0, mem.Read|mem.Write, mem.Shared)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	private, err := mem.MapFile(f, 0, 0, mem.Read|mem.Write, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer private.Close()
	copy(private.Bytes()[ps:], "private")
	copy(shared.Bytes()[10:], "shared")
	if err := shared.Sync(mem.SyncNow); err != nil {
		t.Fatal(err)
	}
	if err := private.Sync(mem.SyncNow); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if string(got[10:16]) != "shared" {
		t.Fatalf("shared write missing from the file: %q", got[10:16])
	}
	if !bytes.Equal(got[ps:ps+7], data[ps:ps+7]) {
		t.Fatalf("private write reached the file: %q", got[ps:ps+7])
	}
	if err := shared.Sync(mem.SyncAsync | mem.SyncInvalidate); err != nil {
		t.Fatal(err)
	}
}

// Rule 10: reading past the end of a mapped file returns an error.
func TestRuleReadPastEOF(t *testing.T) {
	f, data := writeFile(t, 4*ps)
	m, err := mem.MapFile(f, 0, 0, mem.Read, mem.Shared)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := f.Truncate(int64(ps + 10)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4*ps)
	n, err := m.ReadAt(buf, 0)
	var fl *mem.Fault
	if !errors.As(err, &fl) || fl.Signal != syscall.SIGBUS || !strings.Contains(err.Error(), "past the end") {
		t.Fatalf("ReadAt over a truncated file: n=%d err=%v", n, err)
	}
	if n != 2*ps || !bytes.Equal(buf[:10], data[:10]) {
		t.Fatalf("ReadAt returned %d bytes before the fault, want %d (the page holding EOF is still readable)", n, 2*ps)
	}
	// The same through Try.
	b := m.Bytes()
	if err := mem.Try(func() { sink = int(b[3*ps]) }); !errors.As(err, &fl) || fl.Signal != syscall.SIGBUS {
		t.Fatalf("Try read past EOF: %v", err)
	}
}

// Rule 10b: the fault is told past the end of the file also when the file
// was deleted (as a database deletes a file it still maps): the mapping's
// path then names nothing, and only /proc/self/map_files reaches the file.
// A read-only mapping must not be reported as a write to a read-only page.
func TestRuleReadPastEOFDeletedFile(t *testing.T) {
	f, _ := writeFile(t, 4*ps)
	m, err := mem.MapFile(f, 0, 0, mem.Read, mem.Shared)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := os.Remove(f.Name()); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(ps)); err != nil {
		t.Fatal(err)
	}
	_, err = m.ReadAt(make([]byte, 4*ps), 0)
	var fl *mem.Fault
	if !errors.As(err, &fl) {
		t.Fatalf("ReadAt over a deleted, truncated file: %v", err)
	}
	const capSysAdmin = 1 << 21 // which /proc/self/map_files needs
	if capEff, cerr := procfs.CapEff(0); cerr == nil && capEff&capSysAdmin != 0 && (fl.Signal != syscall.SIGBUS || !strings.Contains(err.Error(), "past the end")) {
		t.Fatalf("fault over a deleted, truncated file: %v; want SIGBUS past the end of the file", err)
	}
}

// Rule 11: Sbrk grows the program break; the memory is usable and shows as
// [heap]; shrinking works.
func TestRuleProgramBreak(t *testing.T) {
	if sys.CgoLinked() {
		if _, err := mem.Sbrk(0); !errors.Is(err, mem.ErrBreakOwned) {
			t.Fatalf("cgo binary: Sbrk = %v, want ErrBreakOwned", err)
		}
		return
	}
	start, err := mem.Sbrk(0)
	if err != nil {
		t.Fatal(err)
	}
	const grow = 1 << 20
	old, err := mem.Sbrk(grow)
	if err != nil || old != start {
		t.Fatalf("Sbrk(%d) = %#x, %v; want the old break %#x", grow, old, err, start)
	}
	if cur, _ := mem.Sbrk(0); cur != start+grow {
		t.Fatalf("break %#x, want %#x", cur, start+grow)
	}
	heap := unsafe.Slice((*byte)(sys.Ptr(start)), grow)
	for i := 0; i < grow; i += ps {
		heap[i] = byte(i >> 12)
	}
	if heap[grow-ps] != byte((grow-ps)>>12) {
		t.Fatal("break memory did not keep a write")
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.HasSuffix(line, "[heap]") {
			var lo, hi uintptr
			fmt.Sscanf(line, "%x-%x", &lo, &hi)
			found = lo <= start && hi >= start+grow
		}
	}
	if !found {
		t.Fatalf("no [heap] region covers the break memory:\n%s", maps)
	}
	if err := mem.Brk(start + grow/2); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Sbrk(-grow / 2); err != nil {
		t.Fatal(err)
	}
	if cur, _ := mem.Sbrk(0); cur != start {
		t.Fatalf("after shrinking the break is %#x, want %#x", cur, start)
	}
	// A break below the heap's start is refused, with no change.
	if err := mem.Brk(start - 1<<30); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("Brk below the heap: %v", err)
	}
	if _, err := mem.Sbrk(math.MinInt / 2); err == nil {
		t.Fatal("Sbrk far below the heap succeeded")
	}
	if cur, _ := mem.Sbrk(0); cur != start {
		t.Fatalf("a refused move changed the break to %#x", cur)
	}
}

func init() {
	testchild.Register("sbrk-in-cgo", func() int {
		_, err := mem.Sbrk(0)
		fmt.Printf("owned=%v\n", errors.Is(err, mem.ErrBreakOwned))
		return 0
	})
}

// In a binary with cgo, the break belongs to glibc and Sbrk says so.
func TestProgramBreakRefusedUnderCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a cgo program")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no C compiler for a cgo build")
	}
	dir := t.TempDir()
	prog := `package main

import (
	"C"
	"errors"
	"fmt"

	"github.com/vmkit/vmkit/mem"
)

func main() {
	_, err := mem.Sbrk(4096)
	fmt.Println(errors.Is(err, mem.ErrBreakOwned))
}
`
	if err := os.MkdirAll(dir+"/cgoprog", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/cgoprog/main.go", []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	modRoot, _ := os.Getwd() // .../mem
	cmd := exec.Command("go", "run", dir+"/cgoprog/main.go")
	cmd.Dir = modRoot + "/.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "true" {
		t.Fatalf("cgo binary: Sbrk did not refuse: %s", out)
	}
}

func init() {
	testchild.Register("setlimit", func() int {
		err := mem.SetLockLimit(mem.Limit{Soft: 64 << 10, Hard: 1 << 20})
		l, _ := mem.LockLimit()
		fmt.Printf("lower err=%v\n", err)
		fmt.Printf("lower now=%s\n", l)
		err = mem.SetLockLimit(mem.Limit{Soft: 2 << 20, Hard: 2 << 20})
		fmt.Printf("raise errno=%s\n", errnoName(err))
		fmt.Printf("raise text=%s\n", errText(err))
		l, _ = mem.LockLimit()
		fmt.Printf("after now=%s\n", l)
		return 0
	})
}

// An unprivileged process may lower its memlock limit but not raise the
// hard one; the error says what privilege that takes.
func TestSetLockLimitUnprivileged(t *testing.T) {
	out, code := testchild.Output(t, testchild.Command(t, "setlimit", testchild.Unprivileged(t, 1<<20)))
	kv := childLines(t, out)
	if code != 0 || kv["lower err"] != "<nil>" || kv["lower now"] != "64 KiB/1 MiB" {
		t.Fatalf("lowering the limit (exit %d):\n%s", code, out)
	}
	if kv["raise errno"] != "EPERM" || !strings.Contains(kv["raise text"], "CAP_SYS_RESOURCE") || kv["after now"] != "64 KiB/1 MiB" {
		t.Fatalf("raising the hard limit:\n%s", out)
	}
}

// Rule 8: a Lock (or Protect) that fails has changed nothing, and its error
// says why.
// Linux locks the mappings before a hole and then fails, so Lock refuses a
// range with a hole before calling it; a file mapping that reaches past the
// end of its file is locked but cannot be faulted in, and the error says
// the range is left locked. With CAP_IPC_LOCK no error blames
// RLIMIT_MEMLOCK, which does not apply.
func TestRuleFailedLockLocksNothing(t *testing.T) {
	const size = 16 << 20 // above the usual 8 MiB limit, which CAP_IPC_LOCK lifts
	m := mustMap(t, size, mem.Read|mem.Write, 0)
	b := m.Bytes()
	if err := unix.MunmapPtr(unsafe.Pointer(&b[size/2]), uintptr(ps)); err != nil {
		t.Fatal(err)
	}
	before := locked(t)
	for name, lock := range map[string]func([]byte) error{"Lock": mem.Lock, "LockOnFault": mem.LockOnFault} {
		err := lock(b)
		if !errors.Is(err, unix.ENOMEM) || !strings.Contains(err.Error(), "not mapped") {
			t.Fatalf("%s of a range with a hole: %v, want ENOMEM that says part is not mapped", name, err)
		}
		if d := locked(t) - before; d != 0 {
			mem.Unlock(b[:size/2])
			t.Fatalf("%s failed but left %s locked", name, mem.FormatBytes(d))
		}
	}

	// mprotect likewise changes the part before a hole: Protect refuses
	// the range whole, and the memory stays writable.
	if err := mem.Protect(b, mem.Read); !errors.Is(err, unix.ENOMEM) || !strings.Contains(err.Error(), "not mapped") {
		t.Fatalf("Protect of a range with a hole: %v, want ENOMEM that says part is not mapped", err)
	}
	if err := mem.Try(func() { b[0] = 1 }); err != nil {
		t.Fatalf("a failed Protect made the part before the hole read-only: %v", err)
	}

	f, _ := writeFile(t, ps)
	fm, err := mem.MapFile(f, 0, size, mem.Read, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fm.Close()
	err = fm.Lock()
	if !errors.Is(err, unix.ENOMEM) || !strings.Contains(err.Error(), "past the end of its file") ||
		!strings.Contains(err.Error(), "Unlock") {
		t.Fatalf("Lock of a file mapping past EOF: %v, want ENOMEM that names the file's end and Unlock", err)
	}
	capEff, cerr := procfs.CapEff(0)
	if cerr == nil && capEff&procfs.CapIPCLock != 0 && strings.Contains(err.Error(), "RLIMIT_MEMLOCK is") {
		t.Fatalf("with CAP_IPC_LOCK the error blames the limit: %v", err)
	}
	if err := fm.Unlock(); err != nil {
		t.Fatal(err)
	}
	if d := locked(t) - before; d != 0 {
		t.Fatalf("Unlock left %s locked", mem.FormatBytes(d))
	}
}
