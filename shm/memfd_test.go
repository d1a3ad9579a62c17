//go:build linux

package shm_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/shm"
)

// Proof 2: a memfd handed to a child through ExtraFiles, sealed against
// shrinking and writing: the child sees the seals and the contents, and
// cannot shrink it, write it, or map it writable, each with an error that
// says why. The unsealed control shows that the same child commands succeed
// when the seals are absent, so the refusals come from the seals.
func TestMemfdSealsBindTheChild(t *testing.T) {
	const size = 16 * 4096
	for _, tc := range []struct {
		name   string
		seals  shm.SealFlags
		sealed bool
	}{
		{"sealed", shm.SealShrink | shm.SealWrite, true},
		{"unsealed-control", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg, err := shm.Anonymous(size, "proof2")
			if err != nil {
				t.Fatal(err)
			}
			defer seg.Close()
			m, err := seg.Map(mem.Read | mem.Write)
			if err != nil {
				t.Fatal(err)
			}
			pattern(m.Bytes(), 7)
			if tc.seals != 0 {
				// SealWrite needs the writable mapping gone.
				if err := seg.Seal(tc.seals); !errors.Is(err, unix.EBUSY) {
					t.Fatalf("SealWrite with a writable mapping: %v, want EBUSY", err)
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				if err := seg.Seal(tc.seals); err != nil {
					t.Fatal(err)
				}
			}

			child := startPeer(t, "segment", nil, []*os.File{seg.File()})
			if got := child.do("fd"); got != "ok memfd:proof2" {
				t.Fatalf("child's FromFile: %q", got)
			}
			seals := child.do("seals")
			got := child.ask("checkseals shrink|write")
			if tc.sealed != (got == "ok") {
				t.Fatalf("child sees seals %q; CheckSeals(shrink|write): %q", seals, got)
			}
			if !tc.sealed && !strings.Contains(got, "missing shrink|write") {
				t.Fatalf("CheckSeals error does not name the missing seals: %q", got)
			}
			child.do("map r")
			if got := child.do("check 7"); got != "ok" {
				t.Fatalf("child reads: %s", got)
			}

			shrink := child.ask("truncate 4096")
			write := child.ask("pwrite")
			mapw := child.ask("map rw")
			t.Logf("seals %s\nshrink: %s\nwrite: %s\nmap rw: %s", seals, shrink, write, mapw)
			if !tc.sealed {
				for what, ans := range map[string]string{"shrink": shrink, "write": write, "map rw": mapw} {
					if ans != "ok" {
						t.Errorf("unsealed control: %s: %s", what, ans)
					}
				}
				return
			}
			for what, c := range map[string]struct{ ans, want string }{
				"shrink": {shrink, "sealed against shrinking"},
				"write":  {write, "sealed against writing (write)"},
				"map rw": {mapw, "sealed against writing (write): map it mem.Read"},
			} {
				if !strings.HasPrefix(c.ans, "error") || !strings.Contains(c.ans, c.want) {
					t.Errorf("child %s: %q, want an error containing %q", what, c.ans, c.want)
				}
			}
			// Growing is not sealed: the child may, and the size it reads
			// cannot fall below what it checked.
			if got := child.ask("truncate 65537"); got != "ok" {
				t.Errorf("growing an unsealed-for-growth segment: %s", got)
			}
			child.wait()
			if n, _ := seg.Size(); n != 65537 {
				t.Fatalf("size after the child grew it: %d", n)
			}
		})
	}
}

// SealFutureWrite lets the sender keep its writable mapping while receivers
// can no longer write: writes through the old mapping still reach them.
func TestMemfdFutureWrite(t *testing.T) {
	seg, err := shm.Anonymous(4096, "future")
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	w, err := seg.Map(mem.Read | mem.Write)
	if err != nil {
		t.Fatal(err)
	}
	if err := seg.Seal(shm.SealFutureWrite | shm.SealShrink | shm.SealGrow); err != nil {
		t.Fatal(err)
	}
	if _, err := seg.Map(mem.Read | mem.Write); !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "map it mem.Read") {
		t.Fatalf("new writable mapping after SealFutureWrite: %v", err)
	}
	r, err := seg.Map(mem.Read)
	if err != nil {
		t.Fatal(err)
	}
	w.Bytes()[5] = 99
	if r.Bytes()[5] != 99 {
		t.Fatal("the reader does not see the sender's write")
	}
	if err := seg.Truncate(8192); !errors.Is(err, unix.EPERM) {
		t.Fatalf("grow after SealGrow: %v", err)
	}
}

// Seals are refused where they make no sense, with the reason.
func TestSealErrors(t *testing.T) {
	seg, err := shm.Anonymous(4096, "seal-seal")
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if err := seg.Seal(shm.SealSeal); err != nil {
		t.Fatal(err)
	}
	err = seg.Seal(shm.SealShrink)
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "sealed against more seals") {
		t.Fatalf("seal after SealSeal: %v", err)
	}
	if err := seg.Seal(1 << 12); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("unknown seal: %v", err)
	}

	name := segName(t)
	p, err := shm.Open(name, 4096, shm.Create, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.Seal(shm.SealShrink)
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "shm.Anonymous") {
		t.Fatalf("sealing a POSIX segment: %v", err)
	}
	if s, err := p.Seals(); err != nil || s != shm.SealSeal {
		t.Fatalf("a POSIX segment's seals: %v, %v; want seal", s, err)
	}
	if err := seg.Unlink(); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("Unlink of a memfd: %v", err)
	}
}

// FromFile refuses files that are not shared memory.
func TestFromFileRefusesOrdinaryFiles(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fs unix.Statfs_t
	if unix.Statfs(f.Name(), &fs) == nil && fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the temporary directory is on tmpfs")
	}
	if _, err := shm.FromFile(f); !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "mem.MapFile") {
		t.Fatalf("FromFile of an ordinary file: %v", err)
	}
	if _, err := shm.FromFile(nil); err == nil {
		t.Fatal("FromFile(nil) succeeded")
	}
}
