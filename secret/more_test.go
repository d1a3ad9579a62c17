package secret_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/secret"
)

// Ten thousand 32-byte keys take a handful of mappings, not tens of
// thousands (vm.max_map_count is 65,530 by default).
func TestPackedKeysShareMappings(t *testing.T) {
	must(t, secret.Purge())
	const n = 10000
	keys := make([]*secret.Buffer, n)
	seen := make(map[uintptr]bool, 2*n)
	before := map[string]bool{}
	for _, v := range smaps(t) {
		before[v.String()] = true
	}
	for i := range keys {
		b, err := secret.NewRandom(32)
		must(t, err)
		keys[i] = b
		a := addr(b.Bytes())
		for d := uintptr(0); d < 32; d += 16 { // no two keys overlap
			if seen[a+d] {
				t.Fatalf("key %d overlaps another at %#x", i, a)
			}
			seen[a+d] = true
		}
	}
	// Count the new mappings near the keys; the Go runtime (and the race
	// detector) map memory of their own as the heap grows.
	lo, hi := ^uintptr(0), uintptr(0)
	for _, b := range keys {
		lo, hi = min(lo, addr(b.Bytes())), max(hi, addr(b.Bytes()))
	}
	const near = 4 << 20 // an arena spans 2 MiB and two pages
	added := 0
	for _, v := range smaps(t) {
		// The arena's mappings are dump-excluded (dd) or guards (---p);
		// skip ordinary rw-p memory the runtime maps next to them.
		if !before[v.String()] && v.end > lo-near && v.start < hi+near && (v.has("dd") || v.perms == "---p") {
			added++
		}
	}
	s := secret.Stats()
	pages := (n + 84) / 85
	t.Logf("%d keys: %d more mappings, %d arena(s), %s locked", n, added, s.Arenas, mem.FormatBytes(s.Locked))
	// An arena is 4 mappings: guard, pages in use, pages not yet used,
	// guard.
	if added > 4 || s.Locked != int64(pages*mem.PageSize()) {
		t.Fatalf("%d keys: %d more mappings, %d locked; want at most 4 and %d pages", n, added, s.Locked, pages)
	}
	v := vmaAt(t, addr(keys[n/2].Bytes()))
	if !v.has("lo", "dd", "wf") {
		t.Fatalf("arena pages: %v", v)
	}
	for _, b := range keys {
		must(t, b.Destroy())
	}
}

// A freed slot is wiped back to canary and reused; an emptied page serves
// another size class.
func TestPackedSlotsAreReused(t *testing.T) {
	must(t, secret.Purge())
	a := mustNew(t, secret.Options{}, 32)
	pa := addr(a.Bytes())
	copy(a.Bytes(), "0123456789abcdef0123456789abcdef")
	must(t, a.Destroy())
	b := mustNew(t, secret.Options{}, 32)
	if addr(b.Bytes()) != pa || !bytes.Equal(b.Bytes(), make([]byte, 32)) {
		t.Fatalf("slot not reused or not zero: %#x vs %#x, %q", addr(b.Bytes()), pa, b.Bytes())
	}
	// Fill two pages of class 32, empty them, and a class-512 secret
	// takes one of them.
	var keys []*secret.Buffer
	for range 170 {
		keys = append(keys, mustNew(t, secret.Options{}, 32))
	}
	locked := secret.Stats().Locked
	for _, k := range keys {
		must(t, k.Destroy())
	}
	big := mustNew(t, secret.Options{}, 500)
	if s := secret.Stats(); s.Locked != locked {
		t.Fatalf("a new class took a new page: %d locked, was %d", s.Locked, locked)
	}
	must(t, big.Destroy())
}

func TestEnclave(t *testing.T) {
	for _, c := range []struct {
		name string
		opts secret.Options
		size int
	}{
		{"packed-1", secret.Options{}, 1},
		{"packed-32", secret.Options{}, 32},
		{"standalone-32", secret.Options{Standalone: true}, 32},
		{"large-100000", secret.Options{}, 100000},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.opts.NewRandom(c.size)
			must(t, err)
			want := append([]byte(nil), b.Bytes()...)
			e, err := secret.Seal(b)
			must(t, err)
			if b.Bytes() != nil {
				t.Fatal("Seal left the buffer alive")
			}
			if e.Len() != c.size || (c.size >= 8 && strings.Contains(fmt.Sprint(e), string(want))) {
				t.Fatalf("Len %d, String %s", e.Len(), e)
			}
			box := boxOf(e)
			if (c.size >= 8 && bytes.Contains(box, want)) || len(box) != 24+c.size+16 {
				t.Fatalf("the ciphertext (%d bytes) holds the plaintext or has the wrong size", len(box))
			}
			for range 2 { // an enclave opens more than once
				o, err := e.Open()
				must(t, err)
				if !bytes.Equal(o.Bytes(), want) || o.Packed() != b.Packed() {
					t.Fatal("Open gave other bytes or other options")
				}
				must(t, o.Destroy())
			}
			box[len(box)/2] ^= 1
			if o, err := e.Open(); err == nil || o != nil || !strings.Contains(err.Error(), "altered") {
				t.Fatalf("a tampered enclave opened: %v", err)
			}
			box[len(box)/2] ^= 1
			if _, err := secret.Seal(b); !errors.Is(err, secret.ErrDestroyed) {
				t.Fatalf("Seal of a destroyed buffer: %v", err)
			}
		})
	}
	// The key is a sealed, locked standalone page: Stats counts it locked,
	// not as a buffer.
	must(t, secret.Purge())
	b, err := secret.NewFrom([]byte("key material"))
	must(t, err)
	e, err := secret.Seal(b)
	must(t, err)
	if s := secret.Stats(); s.Buffers != 0 || s.Locked < int64(mem.PageSize()) {
		t.Fatalf("with only the key alive: %+v", s)
	}
	must(t, secret.Purge())
	if _, err := e.Open(); !errors.Is(err, secret.ErrKeyDestroyed) {
		t.Fatalf("Open after Purge: %v", err)
	}
	// A new key after Purge: sealing works again.
	b, _ = secret.NewFrom([]byte("again"))
	e, err = secret.Seal(b)
	must(t, err)
	o, err := e.Open()
	must(t, err)
	if string(o.Bytes()) != "again" {
		t.Fatalf("after a new key: %q", o.Bytes())
	}
	must(t, secret.Purge())
}

// boxOf reaches the enclave's ciphertext, to check and to tamper with it.
func boxOf(e *secret.Enclave) []byte {
	f := reflect.ValueOf(e).Elem().FieldByName("box")
	return *(*[]byte)(unsafe.Pointer(f.UnsafeAddr()))
}

func TestMemfdSecret(t *testing.T) {
	err := secret.MemfdSecretAvailable()
	b, perr := secret.Options{Backing: secret.PreferMemfdSecret}.New(64)
	must(t, perr)
	defer b.Destroy()
	if err != nil {
		if b.Backing() != secret.Anonymous || !b.Locked() {
			t.Fatalf("fallback: backing %v, locked %v", b.Backing(), b.Locked())
		}
		if _, err := (secret.Options{Backing: secret.MemfdSecret}).New(8); err == nil || !strings.Contains(err.Error(), "memfd_secret") {
			t.Fatalf("MemfdSecret where unavailable: %v", err)
		}
		t.Skipf("memfd_secret unavailable (%v): fallback checked", err)
	}
	if b.Backing() != secret.MemfdSecret || b.Packed() || secret.Stats().MemfdSecret != 1 {
		t.Fatalf("PreferMemfdSecret gave %v (packed %v)", b.Backing(), b.Packed())
	}
	// The kernel will not read these pages, even for the process itself.
	f, err := os.Open("/proc/self/mem")
	must(t, err)
	defer f.Close()
	buf := make([]byte, 8)
	if n, err := f.ReadAt(buf, int64(addr(b.Bytes()))); err == nil || n != 0 {
		t.Fatalf("/proc/self/mem read %d bytes of memfd_secret memory", n)
	}
}

func init() {
	testchild.Register("purge-on-signal", func() int {
		then := os.Getenv("SECRET_THEN") == "1"
		var stop func()
		done := make(chan struct{})
		if then {
			stop = secret.PurgeOnSignal(func(sig os.Signal) {
				s := secret.Stats()
				fmt.Printf("purged buffers=%d locked=%d signal=%v\n", s.Buffers, s.Locked, sig)
				close(done)
			})
		} else {
			stop = secret.PurgeOnSignal(nil)
		}
		defer stop()
		for _, o := range []secret.Options{{}, {Standalone: true}} {
			if _, err := o.NewRandom(32); err != nil {
				fmt.Println("error:", err)
				return 3
			}
		}
		fmt.Printf("ready buffers=%d\n", secret.Stats().Buffers)
		select {
		case <-done:
			return 0
		case <-time.After(20 * time.Second):
			fmt.Println("no signal came")
			return 4
		}
	})
}

// PurgeOnSignal purges on SIGTERM and SIGINT, then runs the caller's
// function, or ends the process by the signal.
func TestPurgeOnSignal(t *testing.T) {
	for _, c := range []struct {
		name string
		then string
		sig  syscall.Signal
	}{
		{"then-sigterm", "1", syscall.SIGTERM},
		{"default-sigint", "0", syscall.SIGINT},
		{"default-sigterm", "0", syscall.SIGTERM},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := testchild.Command(t, "purge-on-signal", nil, "SECRET_THEN="+c.then)
			out, err := cmd.StdoutPipe()
			must(t, err)
			cmd.Stderr = os.Stderr
			must(t, cmd.Start())
			line := make([]byte, 0, 64)
			one := make([]byte, 1)
			for !bytes.HasSuffix(line, []byte("\n")) {
				if _, err := out.Read(one); err != nil {
					t.Fatalf("child: %v after %q", err, line)
				}
				line = append(line, one[0])
			}
			if string(line) != "ready buffers=2\n" {
				t.Fatalf("child said %q", line)
			}
			must(t, cmd.Process.Signal(c.sig))
			rest, _ := io.ReadAll(out)
			err = cmd.Wait()
			ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if c.then == "1" {
				if err != nil || !strings.Contains(string(rest), "purged buffers=0 locked=0 signal=terminated") {
					t.Fatalf("exit %v, output %q", err, rest)
				}
				return
			}
			if !ws.Signaled() || ws.Signal() != c.sig {
				t.Fatalf("child did not die by %v: %v, output %q", c.sig, err, rest)
			}
		})
	}
}

// The enclave key lives in memfd_secret memory where the kernel offers it,
// so that sealing a MemfdSecret buffer does not leave its contents within
// reach of /proc/PID/mem through an anonymous key.
func TestEnclaveKeyInSecretMemory(t *testing.T) {
	if err := secret.MemfdSecretAvailable(); err != nil {
		t.Skip(err)
	}
	must(t, secret.Purge())
	secretmem := func() []vma {
		var out []vma
		for _, v := range smaps(t) {
			if strings.Contains(v.path, "secretmem") {
				out = append(out, v)
			}
		}
		return out
	}
	before := len(secretmem())
	b, err := secret.Options{Backing: secret.MemfdSecret}.NewFrom([]byte("only in secret memory"))
	must(t, err)
	e, err := secret.Seal(b) // b's mapping goes; the key's comes
	must(t, err)
	keys := secretmem()
	if len(keys) != before+1 {
		t.Fatalf("after Seal of a memfd_secret buffer, %d secretmem mappings, want %d: the key is not in secret memory", len(keys), before+1)
	}
	f, err := os.Open("/proc/self/mem")
	must(t, err)
	defer f.Close()
	if _, err := f.ReadAt(make([]byte, 32), int64(keys[len(keys)-1].start)); err == nil {
		t.Fatal("the key could be read through /proc/self/mem")
	}
	o, err := e.Open()
	must(t, err)
	if string(o.Bytes()) != "only in secret memory" {
		t.Fatalf("Open: %q", o.Bytes())
	}
	must(t, secret.Purge())
}
