package secret_test

// The proofs of issue 5, as a security reviewer would check them: each on
// real memory, in this process or in a child process.

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/sys"
	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/secret"
)

// Proof 1: the data pages are locked, dump-excluded and wiped on fork (lo,
// dd, wf in VmFlags); the pages on both sides are ---p; NoAccess gives ---p,
// ReadOnly r--p.
func TestProof1VmFlags(t *testing.T) {
	must(t, secret.Purge()) // a fresh arena: no sealed pages of earlier tests
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			skipUnavailable(t, k.opts)
			b := mustNew(t, k.opts, 32)
			data := vmaAt(t, addr(b.Bytes()))
			want := []string{"lo", "dd", "wf"}
			private := "p"
			if k.opts.Backing == secret.MemfdSecret {
				// Shared memory cannot be wiped on fork: it is left out
				// of the child instead (dc).
				want, private = []string{"lo", "dd", "dc"}, "s"
			}
			if !data.has(want...) || data.perms != "rw-"+private {
				t.Fatalf("data pages: %v; want %s with %v", data, "rw-"+private, want)
			}
			before, after := vmaAt(t, data.start-1), vmaAt(t, data.end)
			for _, g := range []vma{before, after} {
				if g.perms != "---p" || g.has("lo") {
					t.Fatalf("guard %v: want ---p, unlocked", g)
				}
			}
			t.Logf("front %v\ndata  %v\nrear  %v", before, data, after)
			for _, c := range []struct {
				name  string
				set   func() error
				perms string
			}{
				{"NoAccess", b.NoAccess, "---" + private},
				{"ReadOnly", b.ReadOnly, "r--" + private},
				{"ReadWrite", b.ReadWrite, "rw-" + private},
			} {
				must(t, c.set())
				if v := vmaAt(t, addr(b.Bytes())); v.perms != c.perms || !v.has(want...) {
					t.Fatalf("%s: %v, want %s with %v", c.name, v, c.perms, want)
				}
			}
		})
	}
}

// Proof 1, packed: the page protection follows the most open wish of the
// secrets on the page.
func TestProof1PackedPageProtection(t *testing.T) {
	must(t, secret.Purge())
	a := mustNew(t, secret.Options{}, 24)
	b := mustNew(t, secret.Options{}, 24)
	if addr(a.Bytes())&^uintptr(mem.PageSize()-1) != addr(b.Bytes())&^uintptr(mem.PageSize()-1) {
		t.Fatal("two small keys of one class are not on one page")
	}
	perms := func() string { return vmaAt(t, addr(a.Bytes())).perms }
	for _, step := range []struct {
		name string
		do   func() error
		want string
	}{
		{"a NoAccess", a.NoAccess, "rw-p"},
		{"b NoAccess", b.NoAccess, "---p"},
		{"a ReadOnly", a.ReadOnly, "r--p"},
		{"b ReadWrite", b.ReadWrite, "rw-p"},
		{"b NoAccess again", b.NoAccess, "r--p"},
		{"a NoAccess again", a.NoAccess, "---p"},
	} {
		must(t, step.do())
		if got := perms(); got != step.want {
			t.Fatalf("after %s the page is %s, want %s", step.name, got, step.want)
		}
	}
	// With opens the page for the call only.
	var inside string
	must(t, a.With(func([]byte) error { inside = perms(); return nil }))
	if inside != "rw-p" || perms() != "---p" {
		t.Fatalf("With: %s inside, %s after", inside, perms())
	}
}

// Proof 2: one byte past the end hits the rear guard. Inside With that is a
// *GuardError carrying the guard's first address.
func TestProof2OverflowHitsGuard(t *testing.T) {
	for _, k := range kinds[1:] {
		t.Run(k.name, func(t *testing.T) {
			skipUnavailable(t, k.opts)
			for _, size := range []int{1, 32, 4080, 4096, 5000} {
				b := mustNew(t, k.opts, size)
				rear := vmaAt(t, addr(b.Bytes())).end
				err := b.With(func(p []byte) error {
					poke(p, len(p), 0x41)
					return errors.New("the write went through")
				})
				var ge *secret.GuardError
				if !errors.As(err, &ge) || ge.Guard != rear || !ge.Rear || ge.Addr != rear {
					t.Fatalf("size %d: %v; want a *GuardError at the rear guard %#x", size, err, rear)
				}
				var f *mem.Fault
				if !errors.As(err, &f) || f.Addr != rear {
					t.Fatalf("size %d: the error does not carry the fault: %v", size, err)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("guard page at %#x", rear)) {
					t.Fatalf("message lacks the guard's address: %v", err)
				}
				// An underflow past the canary hits the front guard.
				front := vmaAt(t, addr(b.Bytes())).start - uintptr(mem.PageSize())
				err = b.With(func(p []byte) error {
					poke(p, -int(addr(p)-front)-1+mem.PageSize(), 0x42) // last byte of the front guard
					return nil
				})
				if !errors.As(err, &ge) || ge.Guard != front || ge.Rear {
					t.Fatalf("size %d: underflow: %v; want the front guard %#x", size, err, front)
				}
				must(t, b.Destroy())
			}
		})
	}
}

// Proof 2, packed: an overflow hits the next canary, which With reports.
func TestProof2PackedOverflowHitsCanary(t *testing.T) {
	b := mustNew(t, secret.Options{}, 30)
	err := b.With(func(p []byte) error { flip(p, len(p)); return nil })
	var ce *secret.CanaryError
	if !errors.As(err, &ce) || !ce.After || ce.Addr != addr(b.Bytes())+30 || ce.Op != "With" {
		t.Fatalf("packed overflow in With: %v", err)
	}
	// Destroy reports it too, and repairs the canary for the neighbour.
	if err := b.Destroy(); !errors.As(err, &ce) || !ce.After {
		t.Fatalf("Destroy: %v", err)
	}
	c := mustNew(t, secret.Options{}, 30)
	must(t, c.Destroy())
}

func init() {
	testchild.Register("overflow-outside-with", func() int {
		o := secret.Options{Standalone: true}
		if os.Getenv("SECRET_BACKING") == "memfd" {
			o.Backing = secret.MemfdSecret
		}
		b, err := o.New(32)
		if err != nil {
			fmt.Println("error:", err)
			return 3
		}
		p := b.Bytes()
		fmt.Printf("guard=%#x\n", addr(p)+uintptr(len(p)))
		os.Stdout.Sync()
		poke(p, len(p), 1)
		fmt.Println("survived the overflow")
		return 0
	})
}

// Proof 2, outside With: the process dies with a fault message that names
// the guard's address.
func TestProof2OverflowOutsideWithKills(t *testing.T) {
	for _, backing := range []string{"anonymous", "memfd"} {
		t.Run(backing, func(t *testing.T) {
			if backing == "memfd" {
				skipUnavailable(t, secret.Options{Backing: secret.MemfdSecret})
			}
			out, code := testchild.Output(t, testchild.Command(t, "overflow-outside-with", nil, "SECRET_BACKING="+backing))
			m := regexp.MustCompile(`guard=(0x[0-9a-f]+)`).FindStringSubmatch(out)
			if m == nil || code == 0 || strings.Contains(out, "survived") {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			if !strings.Contains(out, "unexpected fault address "+m[1]) || !strings.Contains(out, "SIGSEGV") {
				t.Fatalf("no fault message naming the guard %s:\n%s", m[1], out)
			}
			t.Logf("exit %d, %s", code, firstLines(out, 4))
		})
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	return strings.Join(l[:min(n, len(l))], " | ")
}

// Proof 3: Destroy reports a corrupted canary, and still destroys.
func TestProof3DestroyReportsCanary(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			skipUnavailable(t, k.opts)
			for _, under := range []int{1, 7, 16} {
				b := mustNew(t, k.opts, 40)
				p := b.Bytes()
				flip(p, -under)
				err := b.Destroy()
				var ce *secret.CanaryError
				if !errors.As(err, &ce) || ce.After || ce.Addr != addr(p)-uintptr(under) || ce.Count != 1 || ce.Op != "Destroy" {
					t.Fatalf("underflow by %d: %v", under, err)
				}
				if b.Bytes() != nil {
					t.Fatal("a buffer with a bad canary was not destroyed")
				}
				if err := b.Destroy(); err != nil {
					t.Fatalf("second Destroy: %v", err)
				}
			}
			if k.opts.Standalone || k.opts.Backing != secret.Anonymous {
				return
			}
			b := mustNew(t, k.opts, 40)
			flip(b.Bytes(), 40+3) // past the end, into the canary after
			var ce *secret.CanaryError
			if err := b.Destroy(); !errors.As(err, &ce) || !ce.After {
				t.Fatalf("packed overflow: %v", err)
			}
		})
	}
}

// forkRead forks this process with a raw fork and returns what the child
// read at p, and whether the child could read it at all.
func forkRead(t *testing.T, p []byte) ([]byte, bool) {
	t.Helper()
	var fds [2]int
	must(t, unix.Pipe2(fds[:], unix.O_CLOEXEC))
	r := os.NewFile(uintptr(fds[0]), "pipe")
	defer r.Close()
	pid, err := sys.ForkReadExit(unsafe.Pointer(unsafe.SliceData(p)), uintptr(len(p)), fds[1])
	unix.Close(fds[1])
	must(t, err)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	return got, ws.Exited() && ws.ExitStatus() == 0
}

// Proof 4: a forked child reads zeros where the parent holds the secret
// (MADV_WIPEONFORK), or finds no mapping there at all (memfd_secret,
// MADV_DONTFORK). The control: the same fork reads an ordinary mapping's
// bytes, so the helper does read the child's memory.
func TestProof4ForkedChildSeesNothing(t *testing.T) {
	ctl, err := mem.Map(mem.PageSize(), mem.Read|mem.Write, 0)
	must(t, err)
	defer ctl.Close()
	copy(ctl.Bytes(), "ordinary memory, inherited by fork")
	got, ok := forkRead(t, ctl.Bytes()[:34])
	if !ok || string(got) != "ordinary memory, inherited by fork" {
		t.Fatalf("control: child read %q (ok %v)", got, ok)
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			skipUnavailable(t, k.opts)
			b, err := k.opts.NewRandom(64)
			must(t, err)
			defer b.Destroy()
			for _, state := range []struct {
				name string
				set  func() error
			}{{"read-write", b.ReadWrite}, {"no-access", b.NoAccess}} {
				must(t, state.set())
				must(t, b.With(func(p []byte) error {
					got, ok := forkRead(t, p)
					if k.opts.Backing == secret.MemfdSecret {
						if ok || len(got) != 0 {
							t.Fatalf("%s: child read %d bytes of memfd_secret memory", state.name, len(got))
						}
						return nil
					}
					if !ok || !bytes.Equal(got, make([]byte, len(p))) {
						t.Fatalf("%s: child read %x (ok %v), want zeros", state.name, got, ok)
					}
					return nil
				}))
			}
			// The parent's copy is intact.
			must(t, b.With(func(p []byte) error {
				if bytes.Equal(p, make([]byte, len(p))) {
					t.Fatal("the parent's secret was wiped")
				}
				return nil
			}))
		})
	}
}

func init() {
	testchild.Register("hold-secret", func() int {
		var o secret.Options
		switch os.Getenv("SECRET_KIND") {
		case "standalone":
			o.Standalone = true
		case "memfd_secret":
			o.Backing = secret.MemfdSecret
		}
		b, err := o.NewRandom(64)
		if err != nil {
			fmt.Println("error:", err)
			return 3
		}
		control := make([]byte, 64)
		crand.Read(control)
		// write(2) straight from the secret's pages: no copy in between.
		os.Stdout.Write(b.Bytes())
		os.Stdout.Write(control)
		io.ReadAll(os.Stdin) // until the parent is done
		b.Destroy()
		fmt.Fprintf(io.Discard, "%x", control)
		return 0
	})
}

// Proof 5: a core dump (gcore) of a process holding a random secret holds
// the control copy in ordinary memory and never the secret.
func TestProof5CoreDumpExcludesSecret(t *testing.T) {
	gcore, err := exec.LookPath("gcore")
	if err != nil {
		t.Skip("gcore (gdb) not installed")
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			skipUnavailable(t, k.opts)
			cmd := testchild.Command(t, "hold-secret", nil, "SECRET_KIND="+k.name)
			stdin, err := cmd.StdinPipe()
			must(t, err)
			stdout, err := cmd.StdoutPipe()
			must(t, err)
			cmd.Stderr = os.Stderr
			must(t, cmd.Start())
			defer func() {
				stdin.Close()
				cmd.Wait()
			}()
			both := make([]byte, 128)
			if _, err := io.ReadFull(stdout, both); err != nil {
				t.Fatalf("child: %v", err)
			}
			sec, control := both[:64], both[64:]
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, gcore, "-o", filepath.Join(dir, "core"), strconv.Itoa(cmd.Process.Pid)).CombinedOutput()
			if err != nil {
				t.Fatalf("gcore: %v\n%s", err, out)
			}
			core := filepath.Join(dir, "core."+strconv.Itoa(cmd.Process.Pid))
			hits, size := scanFile(t, core, control, sec)
			if hits[0] == 0 {
				t.Fatalf("the %s core lacks the control copy: the dump is not a dump", mem.FormatBytes(size))
			}
			if hits[1] != 0 {
				t.Fatalf("the core holds the secret %d time(s)", hits[1])
			}
			t.Logf("core of %s: control found, secret absent", mem.FormatBytes(size))
		})
	}
}

// scanFile counts the occurrences of each needle in the file at path,
// reading it in chunks (a core of a Go process is over a GiB), and returns
// the file's size.
func scanFile(t *testing.T, path string, needles ...[]byte) ([]int, int64) {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	longest := 0
	for _, n := range needles {
		longest = max(longest, len(n))
	}
	hits := make([]int, len(needles))
	buf := make([]byte, 4<<20)
	var size int64
	keep := 0 // bytes carried over from the previous chunk
	for {
		n, err := f.Read(buf[keep:])
		size += int64(n)
		c := buf[:keep+n]
		for i, nd := range needles {
			// Count matches that end in the new bytes only.
			for off := 0; ; {
				j := bytes.Index(c[off:], nd)
				if j < 0 {
					break
				}
				if off+j+len(nd) > keep {
					hits[i]++
				}
				off += j + 1
			}
		}
		keep = min(len(c), longest-1)
		copy(buf, c[len(c)-keep:])
		if err == io.EOF {
			return hits, size
		}
		must(t, err)
	}
}

// scanSelf reads every mapping of this process through /proc/self/mem and
// returns the addresses where needle occurs. needle is given inverted
// (each byte complemented) so that the scanner itself holds no copy of it.
// It reads readable mappings and any mapping up to 16 MiB, which covers
// guard pages and sealed secrets (PROT_NONE memory is readable through
// /proc/self/mem) but skips the Go runtime's large PROT_NONE reservations.
func scanSelf(t *testing.T, inverted []byte) (found []uintptr, unreadable int) {
	t.Helper()
	f, err := os.Open("/proc/self/mem")
	must(t, err)
	defer f.Close()
	maps, err := os.ReadFile("/proc/self/maps")
	must(t, err)
	first := ^inverted[0]
	chunk := make([]byte, 1<<20)
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		var start, end uintptr
		fmt.Sscanf(fl[0], "%x-%x", &start, &end)
		if len(fl) >= 6 && (strings.HasPrefix(fl[5], "[v") || fl[5] == "[vsyscall]") {
			continue
		}
		if fl[1][0] != 'r' && end-start > 16<<20 {
			continue
		}
		for off := start; off < end; {
			n := min(uintptr(len(chunk)), end-off)
			got, err := f.ReadAt(chunk[:n], int64(off))
			if err != nil && got == 0 {
				unreadable++
				break
			}
			c := chunk[:got]
			for i := 0; ; {
				j := bytes.IndexByte(c[i:], first)
				if j < 0 {
					break
				}
				i += j
				if i+len(inverted) <= len(c) && matchInverted(c[i:i+len(inverted)], inverted) {
					found = append(found, off+uintptr(i))
				}
				i++
			}
			// Step back so that a match across chunks is seen.
			if uintptr(got) < n || got <= len(inverted) {
				off += uintptr(got)
			} else {
				off += uintptr(got - len(inverted) + 1)
			}
		}
	}
	clear(chunk)
	return found, unreadable
}

func matchInverted(b, inverted []byte) bool {
	for i := range b {
		if b[i] != ^inverted[i] {
			return false
		}
	}
	return true
}

// Proof 6: after Destroy, the secret's bytes are gone from every readable
// mapping of the process. Before it, the same scan finds them exactly where
// the buffer is (anonymous memory), so the scan works.
func TestProof6NothingLeftAfterDestroy(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			skipUnavailable(t, k.opts)
			b, err := k.opts.NewRandom(32)
			must(t, err)
			inverted := make([]byte, 32)
			must(t, b.With(func(p []byte) error {
				for i := range p {
					inverted[i] = ^p[i]
				}
				return nil
			}))
			must(t, b.NoAccess())
			where := addr(b.Bytes())
			found, _ := scanSelf(t, inverted)
			if k.opts.Backing == secret.MemfdSecret {
				// The kernel refuses to read memfd_secret pages even to
				// the process itself.
				if len(found) != 0 {
					t.Fatalf("memfd_secret pages read through /proc/self/mem at %#x", found)
				}
			} else if len(found) != 1 || found[0] != where {
				t.Fatalf("before Destroy: found at %#x, want exactly at %#x", found, where)
			}
			must(t, b.Destroy())
			if found, _ := scanSelf(t, inverted); len(found) != 0 {
				t.Fatalf("after Destroy the secret is still at %#x", found)
			}
		})
	}
}

func init() {
	testchild.Register("unprivileged", func() int {
		say := func(k string, v any) { fmt.Printf("%s=%v\n", k, v) }
		errno := func(err error) string {
			for _, e := range []unix.Errno{unix.EPERM, unix.ENOMEM, unix.EAGAIN} {
				if errors.Is(err, e) {
					return unix.ErrnoName(e)
				}
			}
			if err == nil {
				return "none"
			}
			return "other"
		}
		lim, _ := mem.LockLimit()
		say("limit", lim.Soft)

		// Default options: a clear error at once, no hang, no panic.
		_, err := secret.New(32)
		say("packed.errno", errno(err))
		var le *secret.LockError
		say("packed.lockerror", errors.As(err, &le))
		say("packed.text", err)

		b, err := secret.Options{Standalone: true}.New(32)
		say("standalone.errno", errno(err))
		if err == nil {
			say("standalone.locked", b.Locked())
		}
		_, err = secret.Options{Standalone: true}.New(64 << 10)
		say("big.errno", errno(err))
		say("big.text", err)

		// Keys until the limit: the error comes at the limit.
		n := 0
		for ; n < 10000; n++ {
			if _, err = secret.New(32); err != nil {
				break
			}
		}
		say("keys.count", n)
		say("keys.errno", errno(err))

		_, err = secret.Options{Backing: secret.MemfdSecret}.New(32)
		say("memfd.errno", errno(err))

		// The degraded mode, when asked for.
		for _, o := range []secret.Options{
			{AllowUnlocked: true},
			{AllowUnlocked: true, Standalone: true},
			{AllowUnlocked: true, Backing: secret.PreferMemfdSecret},
		} {
			name := "degraded.packed"
			if o.Standalone {
				name = "degraded.standalone"
			}
			if o.Backing != secret.Anonymous {
				name = "degraded.prefer-memfd"
			}
			d, err := o.NewFrom([]byte("degraded but guarded"))
			if err != nil {
				say(name+".err", err)
				continue
			}
			p := d.Bytes()
			v := vmaAt(nopTB{}, addr(p))
			say(name+".ok", string(p) == "degraded but guarded")
			say(name+".flags", strings.Join(v.flags, " "))
			say(name+".backing", d.Backing())
			say(name+".locked", d.Locked())
			err = d.With(func(q []byte) error { flip(q, len(q)); return nil })
			var ge *secret.GuardError
			var ce *secret.CanaryError
			say(name+".guarded", errors.As(err, &ge) || errors.As(err, &ce))
		}
		s := secret.Stats()
		say("stats.unlocked", s.Unlocked)
		say("stats.limit", s.Limit.Soft)
		say("stats.exempt", s.Exempt)
		say("purge", secret.Purge())
		return 0
	})
}

// nopTB lets the test helpers run in a child role, where there is no
// *testing.T: a failure panics.
type nopTB struct{ testing.TB }

func (nopTB) Helper()                   {}
func (nopTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (nopTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// Proof 7: an unprivileged child with memlock 0, and with 16 KiB, gets clear
// errors at once and no hang; the degraded mode works when asked for.
func TestProof7Unprivileged(t *testing.T) {
	for _, c := range []struct {
		name    string
		memlock int64
		want    map[string]string
	}{
		{"memlock-0", 0, map[string]string{
			"packed.errno": "EPERM", "packed.lockerror": "true", "standalone.errno": "EPERM",
			"big.errno": "EPERM", "keys.count": "0", "keys.errno": "EPERM", "memfd.errno": "EAGAIN",
		}},
		{"memlock-16KiB", 16 << 10, map[string]string{
			"packed.errno": "none", "standalone.errno": "none", "standalone.locked": "true",
			"big.errno": "ENOMEM", "keys.errno": "ENOMEM",
			// 16 KiB is four pages: one holds the first key and 84 more,
			// one the standalone buffer, two hold 85 keys of 32 bytes each.
			"keys.count": "254", "memfd.errno": "EAGAIN",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.memlock != 0 && mem.PageSize() != 4096 {
				t.Skip("the expected counts assume 4 KiB pages")
			}
			cmd := testchild.Command(t, "unprivileged", testchild.Unprivileged(t, c.memlock))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			env := cmd.Env
			cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
			cmd.Env = env
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("the child hung: killed after %v\n%s", time.Since(start), out)
			}
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			got := map[string]string{}
			for _, line := range strings.Split(string(out), "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					got[k] = v
				}
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if got["limit"] != strconv.FormatInt(c.memlock, 10) || got["stats.exempt"] != "false" {
				t.Errorf("the child is not unprivileged with memlock %d:\n%s", c.memlock, out)
			}
			// The message names the limit and the remedies.
			for _, k := range []string{"packed.text", "big.text"} {
				if txt := got[k]; txt != "<nil>" && (!strings.Contains(txt, "RLIMIT_MEMLOCK is "+mem.FormatBytes(c.memlock)) ||
					!strings.Contains(txt, "ulimit -l") || !strings.Contains(txt, "CAP_IPC_LOCK") || !strings.Contains(txt, "AllowUnlocked")) {
					t.Errorf("%s lacks the limit or the remedies: %s", k, txt)
				}
			}
			for _, d := range []string{"degraded.packed", "degraded.standalone", "degraded.prefer-memfd"} {
				if got[d+".ok"] != "true" || got[d+".guarded"] != "true" || got[d+".backing"] != "anonymous" {
					t.Errorf("%s: ok %q guarded %q backing %q err %q", d, got[d+".ok"], got[d+".guarded"], got[d+".backing"], got[d+".err"])
				}
				fl := " " + got[d+".flags"] + " "
				if !strings.Contains(fl, " dd ") || !strings.Contains(fl, " wf ") {
					t.Errorf("%s: flags %q lack dd or wf", d, fl)
				}
			}
			if c.memlock == 0 {
				for _, d := range []string{"degraded.packed", "degraded.standalone"} {
					if got[d+".locked"] != "false" || strings.Contains(" "+got[d+".flags"]+" ", " lo ") {
						t.Errorf("%s claims a lock under memlock 0: locked %q flags %q", d, got[d+".locked"], got[d+".flags"])
					}
				}
				if got["stats.unlocked"] != "3" {
					t.Errorf("Stats.Unlocked = %s, want 3", got["stats.unlocked"])
				}
			}
			t.Logf("%s in %v:\n%s", c.name, time.Since(start).Round(time.Millisecond), out)
		})
	}
}

// Proof 8: concurrent create, use and destroy is clean under -race, and the
// accounting returns to where it started.
func TestProof8ConcurrentCreateDestroy(t *testing.T) {
	must(t, secret.Purge())
	base := secret.Stats()
	opts := []secret.Options{{}, {Standalone: true}}
	if secret.MemfdSecretAvailable() == nil {
		opts = append(opts, secret.Options{Backing: secret.MemfdSecret})
	}
	const workers, rounds = 8, 300
	var shared []*secret.Buffer
	for range 16 {
		b, err := secret.NewRandom(16)
		must(t, err)
		shared = append(shared, b)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				o := opts[(w+i)%len(opts)]
				size := 1 + (w*131+i*17)%600
				if i%50 == 0 {
					size = 5000
				}
				b, err := o.NewRandom(size)
				if err != nil {
					errs <- err
					return
				}
				if err := b.With(func(p []byte) error {
					p[0] ^= 1
					return nil
				}); err != nil {
					errs <- err
					return
				}
				if i%3 == 0 {
					b.NoAccess()
					b.ReadOnly()
				}
				// Race on the shared buffers: With, Destroy, Bytes.
				s := shared[(w+i)%len(shared)]
				if i%97 == 0 {
					s.Destroy()
				} else {
					s.With(func(p []byte) error { _ = len(p); return nil })
					s.Len()
				}
				secret.Stats()
				if err := b.Destroy(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, s := range shared {
		must(t, s.Destroy())
	}
	if s := secret.Stats(); s.Buffers != base.Buffers || s.Bytes != base.Bytes {
		t.Fatalf("after the storm: %+v, at the start %+v", s, base)
	}
	must(t, secret.Purge())
	if s := secret.Stats(); s.Locked != 0 || s.Mapped != 0 {
		t.Fatalf("after Purge: %+v", s)
	}
}

func init() {
	testchild.Register("enclave-key", func() int {
		say := func(k string, v any) { fmt.Printf("%s=%v\n", k, v) }
		// Fill the 16 KiB limit, so that the first key cannot be locked.
		big, err := secret.Options{Standalone: true}.New(3*mem.PageSize() + 1)
		if err != nil {
			say("err", err)
			return 1
		}
		d, err := secret.Options{AllowUnlocked: true}.NewFrom([]byte("degraded"))
		if err != nil {
			say("err", err)
			return 1
		}
		say("degraded.locked", d.Locked())
		e1, err := secret.Seal(d) // a key in the degraded mode: unlocked
		if err != nil {
			say("err", err)
			return 1
		}
		must(nopTB{}, big.Destroy())
		// Room again: a caller who never allowed unlocked memory.
		s, err := secret.NewFrom([]byte("strict"))
		if err != nil {
			say("err", err)
			return 1
		}
		say("strict.locked", s.Locked())
		e2, err := secret.Seal(s)
		if err != nil {
			say("err", err)
			return 1
		}
		// The key is a sealed standalone page: ---p (---s from
		// memfd_secret) and dd; lo when locked.
		locked := false
		for _, v := range smaps(nopTB{}) {
			if strings.HasPrefix(v.perms, "---") && v.has("dd", "lo") {
				locked = true
			}
		}
		say("key.locked", locked)
		for i, e := range []*secret.Enclave{e1, e2} {
			o, err := e.Open()
			if err != nil {
				say("open"+strconv.Itoa(i+1), err)
				continue
			}
			say("open"+strconv.Itoa(i+1), string(o.Bytes()))
			o.Destroy()
		}
		say("purge", secret.Purge())
		return 0
	})
}

// An Enclave of a buffer that demanded locked memory is sealed with a locked
// key, even when an earlier Seal in the degraded mode (Options.AllowUnlocked)
// had to make an unlocked one: the key would otherwise sit in memory that
// may be swapped, and the secret with it. Both enclaves still open.
func TestEnclaveKeyLockedForStrictBuffers(t *testing.T) {
	if mem.PageSize() != 4096 {
		t.Skip("the limit assumes 4 KiB pages")
	}
	cmd := testchild.Command(t, "enclave-key", testchild.Unprivileged(t, 16<<10))
	out, code := testchild.Output(t, cmd)
	if code != 0 {
		t.Fatalf("child exited %d:\n%s", code, out)
	}
	for _, want := range []string{"degraded.locked=false", "strict.locked=true", "key.locked=true", "open1=degraded", "open2=strict", "purge=<nil>"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("want %s in the child's output:\n%s", want, out)
		}
	}
}
