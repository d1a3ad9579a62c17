package secret_test

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/secret"
)

// kinds are the option sets every behaviour is checked with. memfd_secret is
// skipped where the kernel refuses it.
var kinds = []struct {
	name string
	opts secret.Options
}{
	{"packed", secret.Options{}},
	{"standalone", secret.Options{Standalone: true}},
	{"memfd_secret", secret.Options{Backing: secret.MemfdSecret}},
}

func skipUnavailable(t *testing.T, o secret.Options) {
	t.Helper()
	if o.Backing == secret.MemfdSecret {
		if err := secret.MemfdSecretAvailable(); err != nil {
			t.Skip(err)
		}
	}
}

func mustNew(t *testing.T, o secret.Options, size int) *secret.Buffer {
	t.Helper()
	b, err := o.New(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Destroy() })
	return b
}

// addressSpace is more than the address space can take: 64 TiB on 64-bit
// systems (a shift, not a constant, so that 32-bit systems compile it),
// the largest int on 32-bit ones.
var addressSpace = func() int {
	if strconv.IntSize < 64 {
		return math.MaxInt
	}
	shift := 46
	return 1 << shift
}()

func TestBadInputIsAnError(t *testing.T) {
	for name, fn := range map[string]func() (*secret.Buffer, error){
		"New(0)":             func() (*secret.Buffer, error) { return secret.New(0) },
		"New(-1)":            func() (*secret.Buffer, error) { return secret.New(-1) },
		"NewRandom(0)":       func() (*secret.Buffer, error) { return secret.NewRandom(0) },
		"NewFrom(nil)":       func() (*secret.Buffer, error) { return secret.NewFrom(nil) },
		"NewFrom(empty)":     func() (*secret.Buffer, error) { return secret.NewFrom([]byte{}) },
		"New(huge)":          func() (*secret.Buffer, error) { return secret.New(math.MaxInt) },
		"New(address space)": func() (*secret.Buffer, error) { return secret.Options{AllowUnlocked: true}.New(addressSpace) },
		"unknown backing":    func() (*secret.Buffer, error) { return secret.Options{Backing: 9}.New(8) },
	} {
		t.Run(name, func(t *testing.T) {
			b, err := fn()
			if err == nil {
				b.Destroy()
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "secret: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			t.Log(err)
		})
	}
	if err := (secret.Options{Backing: -1}).Validate(); err == nil {
		t.Fatal("Validate accepted Backing -1")
	}
	var nilBuf *secret.Buffer
	if _, err := secret.Seal(nilBuf); err == nil {
		t.Fatal("Seal(nil) gave no error")
	}
}

func TestBufferLifecycle(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			skipUnavailable(t, k.opts)
			for _, size := range []int{1, 32, 100, 4000, 4096, 10000} {
				b := mustNew(t, k.opts, size)
				p := b.Bytes()
				if b.Len() != size || len(p) != size || cap(p) != size {
					t.Fatalf("size %d: Len %d, len %d, cap %d", size, b.Len(), len(p), cap(p))
				}
				if !bytes.Equal(p, make([]byte, size)) {
					t.Fatalf("size %d: new buffer is not zero", size)
				}
				for i := range p {
					p[i] = byte(i*7 + 1)
				}
				if !b.Locked() {
					t.Fatalf("size %d: not locked", size)
				}
				if want := k.opts.Backing == secret.Anonymous && !k.opts.Standalone && size <= secret.MaxPacked(); b.Packed() != want {
					t.Fatalf("size %d: Packed %v, want %v", size, b.Packed(), want)
				}
				if strings.Contains(b.String(), string(p[:min(size, 8)])) || strings.Contains(fmt.Sprintf("%v %+v %#v", b, b, b), "\x08\x0f") {
					t.Fatalf("String shows the contents: %s", b)
				}
				if err := b.Wipe(); err != nil || !bytes.Equal(p, make([]byte, size)) {
					t.Fatalf("size %d: Wipe: %v", size, err)
				}
				if err := b.Destroy(); err != nil {
					t.Fatalf("size %d: Destroy: %v", size, err)
				}
				if b.Bytes() != nil || b.Len() != 0 {
					t.Fatalf("size %d: after Destroy Bytes %d bytes, Len %d", size, len(b.Bytes()), b.Len())
				}
				for name, err := range map[string]error{
					"ReadOnly": b.ReadOnly(), "ReadWrite": b.ReadWrite(), "NoAccess": b.NoAccess(), "Wipe": b.Wipe(),
					"With": b.With(func([]byte) error { t.Fatal("fn ran"); return nil }),
				} {
					if !errors.Is(err, secret.ErrDestroyed) {
						t.Fatalf("%s after Destroy: %v", name, err)
					}
				}
				if err := b.Destroy(); err != nil {
					t.Fatalf("second Destroy: %v", err)
				}
			}
		})
	}
}

func TestNewFromWipesSource(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			skipUnavailable(t, k.opts)
			src := []byte("correct horse battery staple")
			want := append([]byte(nil), src...)
			b, err := k.opts.NewFrom(src)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Destroy()
			if !bytes.Equal(b.Bytes(), want) {
				t.Fatalf("buffer holds %q", b.Bytes())
			}
			if !bytes.Equal(src, make([]byte, len(src))) {
				t.Fatalf("source not wiped: %q", src)
			}
		})
	}
}

func TestNewRandom(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			skipUnavailable(t, k.opts)
			a, err := k.opts.NewRandom(64)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Destroy()
			b, err := k.opts.NewRandom(64)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Destroy()
			if bytes.Equal(a.Bytes(), make([]byte, 64)) || bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatal("NewRandom gave zeros or the same bytes twice")
			}
		})
	}
}

// Protections are real: a forbidden access faults, With opens and reseals.
func TestProtectionsFault(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			skipUnavailable(t, k.opts)
			b := mustNew(t, k.opts, 48)
			p := b.Bytes()
			var sink byte
			read := func() error { return mem.Try(func() { sink += p[3] }) }
			write := func() error { return mem.Try(func() { p[3] = 9 }) }
			if err := b.ReadOnly(); err != nil {
				t.Fatal(err)
			}
			if read() != nil || write() == nil {
				t.Fatalf("ReadOnly: read %v, write %v", read(), write())
			}
			if err := b.NoAccess(); err != nil {
				t.Fatal(err)
			}
			if read() == nil || write() == nil {
				t.Fatal("NoAccess: an access went through")
			}
			err := b.With(func(q []byte) error {
				q[3] = 7
				if err := read(); err != nil {
					return err
				}
				return nil
			})
			if err != nil {
				t.Fatalf("With: %v", err)
			}
			var f *mem.Fault
			if err := read(); !errors.As(err, &f) {
				t.Fatalf("after With the buffer is not sealed again: %v", err)
			}
			if err := b.ReadWrite(); err != nil {
				t.Fatal(err)
			}
			if read() != nil || write() != nil || p[3] != 9 {
				t.Fatalf("ReadWrite: %v %v %d", read(), write(), p[3])
			}
			_ = sink
		})
	}
}

func TestWithReturnsAndRestores(t *testing.T) {
	b := mustNew(t, secret.Options{Standalone: true}, 16)
	if err := b.NoAccess(); err != nil {
		t.Fatal(err)
	}
	want := errors.New("from fn")
	if err := b.With(func([]byte) error { return want }); err != want {
		t.Fatalf("With returned %v, want fn's error", err)
	}
	if err := b.With(nil); err == nil {
		t.Fatal("With(nil) gave no error")
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the panic of fn", r)
			}
		}()
		b.With(func([]byte) error { panic("boom") })
	}()
	if v := vmaAt(t, addr(b.Bytes())); v.perms != "---p" {
		t.Fatalf("after a panic in With the buffer is %s, want ---p", v.perms)
	}
	// Nested and concurrent With keep it open until the last returns.
	err := b.With(func(p []byte) error {
		return b.With(func(q []byte) error {
			q[0] = 1
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := vmaAt(t, addr(b.Bytes())); v.perms != "---p" {
		t.Fatalf("after nested With: %s", v.perms)
	}
}

// Destroy inside With is deferred to the end of the call: no memory is
// unmapped under fn.
func TestDestroyDuringWith(t *testing.T) {
	for _, k := range kinds[:2] {
		t.Run(k.name, func(t *testing.T) {
			b := mustNew(t, k.opts, 32)
			before := secret.Stats().Buffers
			err := b.With(func(p []byte) error {
				if err := b.Destroy(); err != nil {
					return err
				}
				if err := secret.Purge(); err != nil {
					return err
				}
				p[0] = 1 // still mapped
				if b.Bytes() != nil || b.Len() != 0 {
					return errors.New("buffer still reported live")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := secret.Stats().Buffers; got != before-1 && got != 0 {
				t.Fatalf("Buffers %d after the With, want %d", got, before-1)
			}
		})
	}
}

func TestPurge(t *testing.T) {
	var bufs []*secret.Buffer
	for _, k := range kinds {
		if k.opts.Backing == secret.MemfdSecret && secret.MemfdSecretAvailable() != nil {
			continue
		}
		for _, size := range []int{8, 64, 5000} {
			b, err := k.opts.NewRandom(size)
			if err != nil {
				t.Fatal(err)
			}
			bufs = append(bufs, b)
		}
	}
	e, err := secret.Seal(bufs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := bufs[1].NoAccess(); err != nil {
		t.Fatal(err)
	}
	if s := secret.Stats(); s.Buffers < len(bufs)-1 || s.Locked == 0 {
		t.Fatalf("before Purge: %+v", s)
	}
	if err := secret.Purge(); err != nil {
		t.Fatal(err)
	}
	for i, b := range bufs {
		if b.Bytes() != nil {
			t.Fatalf("buffer %d survived Purge", i)
		}
	}
	s := secret.Stats()
	if s.Buffers != 0 || s.Locked != 0 || s.Mapped != 0 || s.Arenas != 0 || s.Bytes != 0 {
		t.Fatalf("after Purge: %+v", s)
	}
	if _, err := e.Open(); !errors.Is(err, secret.ErrKeyDestroyed) {
		t.Fatalf("Open after Purge: %v", err)
	}
}

func TestStatsCountsLockedMemory(t *testing.T) {
	if err := secret.Purge(); err != nil {
		t.Fatal(err)
	}
	ps := int64(mem.PageSize())
	vmlck := func() int64 { n, err := mem.Locked(); must(t, err); return n }
	base, lck := secret.Stats(), vmlck()
	if base.Locked != 0 {
		t.Fatalf("Locked %d with no secrets", base.Locked)
	}
	a := mustNew(t, secret.Options{}, 32)
	b := mustNew(t, secret.Options{}, 32)
	s := secret.Stats()
	if s.Buffers != 2 || s.Packed != 2 || s.Bytes != 64 || s.Locked != ps || vmlck()-lck != ps {
		t.Fatalf("two packed keys: %+v, VmLck +%d; want one page locked", s, vmlck()-lck)
	}
	c := mustNew(t, secret.Options{Standalone: true}, 3*int(ps))
	s = secret.Stats()
	// 3 pages of data plus the canary: 4 pages.
	if s.Locked != 5*ps || vmlck()-lck != 5*ps || s.Packed != 2 || s.Buffers != 3 {
		t.Fatalf("with a 3-page standalone: %+v, VmLck +%d", s, vmlck()-lck)
	}
	if s.Limit.Soft == 0 || s.ProcessLocked < s.Locked {
		t.Fatalf("limit or process figures missing: %+v", s)
	}
	if s.Exempt && s.Available() != mem.Unlimited {
		t.Fatalf("Available %d with CAP_IPC_LOCK", s.Available())
	}
	for _, x := range []*secret.Buffer{a, b, c} {
		must(t, x.Destroy())
	}
	// munmap released the standalone lock; the packed page stays locked
	// for the next key.
	if s := secret.Stats(); s.Buffers != 0 || s.Bytes != 0 || s.Locked != ps || vmlck()-lck != ps {
		t.Fatalf("after Destroy: %+v, VmLck +%d", s, vmlck()-lck)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Importing the package changes nothing process-wide: it has no init
// function and installs no signal handler outside PurgeOnSignal.
func TestNothingHappensOnImport(t *testing.T) {
	files, err := filepath.Glob("*.go")
	must(t, err)
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		must(t, err)
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			if fd.Recv == nil && fd.Name.Name == "init" {
				t.Errorf("%s: func init", fset.Position(fd.Pos()))
			}
			ast.Inspect(fd, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Notify" && fd.Name.Name != "PurgeOnSignal" {
					t.Errorf("%s: signal.Notify outside PurgeOnSignal", fset.Position(sel.Pos()))
				}
				return true
			})
		}
	}
	if err := secret.Purge(); err != nil {
		t.Fatal(err)
	}
}

// NewFrom wipes its input, so input it cannot write (a ReadOnly or NoAccess
// buffer's Bytes, bytes in a read-only page) is an error that leaves it as
// it was, not a fault that kills the process.
func TestNewFromReadOnlyInput(t *testing.T) {
	want := []byte("0123456789abcdef")
	for _, prot := range []string{"ReadOnly", "NoAccess", "second page read-only"} {
		t.Run(prot, func(t *testing.T) {
			k, err := secret.Options{Standalone: true}.New(3 * os.Getpagesize())
			if err != nil {
				t.Fatal(err)
			}
			defer k.Destroy()
			ps := os.Getpagesize()
			in := k.Bytes()[ps-8 : ps+8] // spans two pages
			copy(in, want)
			switch prot {
			case "ReadOnly":
				k.ReadOnly()
			case "NoAccess":
				k.NoAccess()
			case "second page read-only":
				in = k.Bytes()[len(k.Bytes())-ps-8 : len(k.Bytes())-ps+8]
				copy(in, want)
				// The data ends flush against the rear guard, on a page
				// boundary: make the last page alone read-only, so that the
				// input's first bytes could be wiped and its last not.
				last := k.Bytes()[len(k.Bytes())-ps:]
				if err := mem.Protect(last, mem.Read); err != nil {
					t.Fatal(err)
				}
				defer mem.Protect(last, mem.Read|mem.Write)
			}
			b, err := secret.NewFrom(in)
			if err == nil {
				b.Destroy()
				t.Fatal("NewFrom of memory it cannot wipe succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), "not writable") {
				t.Errorf("error %q does not say why", err)
			}
			k.With(func(p []byte) error {
				if got := in; !bytes.Equal(got, want) {
					t.Errorf("input changed: %q", got)
				}
				return nil
			})
		})
	}
}
