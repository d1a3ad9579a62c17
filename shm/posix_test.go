//go:build linux

package shm_test

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/shm"
)

// Proof 1: a parent writes through a POSIX segment and a child started with
// exec reads the same bytes; the child writes and the parent sees it through
// the mapping it already had, with no copy and no re-open.
func TestPOSIXParentAndChildShareBytes(t *testing.T) {
	const size = 64 << 10
	name := segName(t)
	seg, err := shm.Open(name, size, shm.Create|shm.Exclusive, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	m, err := seg.Map(mem.Read | mem.Write)
	if err != nil {
		t.Fatal(err)
	}
	pattern(m.Bytes(), 1)

	child := startPeer(t, "segment", nil, nil)
	child.do("open " + name + " rw")
	child.do("map rw")
	if got := child.do("size"); got != itoa(size) {
		t.Fatalf("child sees size %s, want %d", got, size)
	}
	if got := child.do("check 1"); got != "ok" {
		t.Fatalf("child reads what the parent wrote: %s", got)
	}
	// The reverse: the child overwrites, the parent's old mapping shows it.
	if i := checkPattern(m.Bytes(), 2); i < 0 {
		t.Fatal("control: the parent's mapping already holds pattern 2")
	}
	child.do("write 2")
	if i := checkPattern(m.Bytes(), 2); i >= 0 {
		t.Fatalf("parent does not see the child's write at offset %d", i)
	}
	child.wait()
	// The child is gone; its bytes stay in the segment.
	if i := checkPattern(m.Bytes(), 2); i >= 0 {
		t.Fatalf("after the child exited, offset %d changed", i)
	}
}

// Open's protocol: who creates, who sizes, and what a reader may do.
func TestOpenSemantics(t *testing.T) {
	t.Run("exclusive-refuses-existing", func(t *testing.T) {
		name := segName(t)
		a, err := shm.Open(name, 4096, shm.Create|shm.Exclusive, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		_, err = shm.Open(name, 4096, shm.Create|shm.Exclusive, 0o600)
		if !errors.Is(err, unix.EEXIST) || !errors.Is(err, fs.ErrExist) {
			t.Fatalf("second exclusive create: %v, want EEXIST", err)
		}
		// Create without Exclusive opens it, and does not truncate its data.
		m, _ := a.Map(mem.Read | mem.Write)
		m.Bytes()[10] = 42
		b, err := shm.Open(name, 4096, shm.Create, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		mb, err := b.Map(mem.Read)
		if err != nil {
			t.Fatal(err)
		}
		if mb.Bytes()[10] != 42 {
			t.Fatal("Create on an existing segment lost its contents")
		}
	})
	t.Run("grow-never-shrink", func(t *testing.T) {
		name := segName(t)
		a, err := shm.Open(name, 8192, shm.Create, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := shm.Open(name, 4096, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if n, _ := b.Size(); n != 8192 {
			t.Fatalf("smaller request changed the size to %d", n)
		}
		c, err := shm.Open(name, 3*4096, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if n, _ := a.Size(); n != 3*4096 {
			t.Fatalf("larger request: size %d, want %d", n, 3*4096)
		}
		_, err = shm.Open(name, 1<<20, shm.ReadOnly, 0)
		if !errors.Is(err, unix.EINVAL) {
			t.Fatalf("read-only opener asking for more than there is: %v", err)
		}
		d, err := shm.Open(name, 100, shm.Truncate, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if n, _ := d.Size(); n != 100 {
			t.Fatalf("Truncate: size %d, want 100", n)
		}
	})
	t.Run("readonly-maps-read-only", func(t *testing.T) {
		name := segName(t)
		a, err := shm.Open(name, 4096, shm.Create, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		r, err := shm.Open(name, 0, shm.ReadOnly, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = r.Map(mem.Read | mem.Write)
		if !errors.Is(err, unix.EACCES) {
			t.Fatalf("writable map of a read-only segment: %v, want EACCES", err)
		}
		if _, err := r.Map(mem.Read); err != nil {
			t.Fatal(err)
		}
		if err := r.Truncate(8192); err == nil {
			t.Fatal("a read-only opener resized the segment")
		}
	})
	t.Run("unlink-keeps-mappings", func(t *testing.T) {
		name := segName(t)
		a, err := shm.Open(name, 4096, shm.Create, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		m, _ := a.Map(mem.Read | mem.Write)
		if err := a.Unlink(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(shm.Dir + name); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("name still there after Unlink: %v", err)
		}
		m.Bytes()[0] = 1 // still mapped, no fault
		if err := shm.Unlink(name); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("second Unlink: %v, want ErrNotExist", err)
		}
	})
	t.Run("close-unmaps", func(t *testing.T) {
		name := segName(t)
		a, err := shm.Open(name, 4096, shm.Create, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := a.Map(mem.Read | mem.Write)
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if m.Len() != 0 || m.Bytes() != nil {
			t.Fatal("Close left the mapping open")
		}
		if _, err := a.Map(mem.Read); !errors.Is(err, shm.ErrClosed) {
			t.Fatalf("Map after Close: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// Segment.Unlink removes its own segment's name, never the segment that
// took the name since: another process may have unlinked it and made a new
// one, and a segment from FromFile of an unlinked file reads back from
// /proc as "/NAME (deleted)", which is itself a valid segment name.
func TestUnlinkRemovesOnlyItsOwnName(t *testing.T) {
	t.Run("name-taken-by-a-new-segment", func(t *testing.T) {
		name := segName(t)
		old, err := shm.Open(name, 4096, shm.Create|shm.Exclusive, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer old.Close()
		if err := shm.Unlink(name); err != nil { // as another process would
			t.Fatal(err)
		}
		fresh, err := shm.Open(name, 4096, shm.Create|shm.Exclusive, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		if err := old.Unlink(); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Unlink of the old segment: %v, want ErrNotExist", err)
		}
		if _, err := os.Stat(shm.Dir + name); err != nil {
			t.Fatalf("the old segment's Unlink removed the new segment: %v", err)
		}
		if err := fresh.Unlink(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("from-file-of-an-unlinked-segment", func(t *testing.T) {
		name := segName(t)
		a, err := shm.Open(name, 4096, shm.Create|shm.Exclusive, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		f, err := os.OpenFile(shm.Dir+name, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Unlink(); err != nil {
			t.Fatal(err)
		}
		other := name + " (deleted)"
		b, err := shm.Open(other, 4096, shm.Create|shm.Exclusive, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		defer shm.Unlink(other)
		s, err := shm.FromFile(f)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.Name() != name {
			t.Errorf("FromFile of the unlinked %s: Name %q", name, s.Name())
		}
		if err := s.Unlink(); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Unlink of an unlinked segment: %v, want ErrNotExist", err)
		}
		if _, err := os.Stat(shm.Dir + other); err != nil {
			t.Fatalf("Unlink removed the segment %q: %v", other, err)
		}
	})
}

// ReadAt and WriteAt racing with Close return ErrClosed, not the file's
// "file already closed": they take the file under the segment's lock and
// use it after unlocking, so Close could close it in between. The window
// is a few instructions wide. Here goroutines keep the segment's lock busy
// (Size holds it across fstat) while Close waits for it; once a waiter
// has waited long, sync.Mutex hands the lock over at Unlock and the
// unlocking goroutine yields, so Close often runs inside the window. The
// old code failed within a few dozen rounds on a 2-core machine.
func TestReadWriteAtRacingClose(t *testing.T) {
	const rounds = 150
	for round := range rounds {
		seg, err := shm.Anonymous(4096, "race")
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 3)
		var ops atomic.Int64
		for i := range 3 {
			go func() {
				buf := make([]byte, 64)
				for {
					var err error
					switch i {
					case 0:
						_, err = seg.ReadAt(buf, 128)
					case 1:
						_, err = seg.WriteAt(buf, 256)
					default:
						_, err = seg.Size()
					}
					ops.Add(1)
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		for ops.Load() < 100 {
			runtime.Gosched()
		}
		if err := seg.Close(); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := <-errs; err != shm.ErrClosed {
				t.Fatalf("round %d: a call racing with Close: %v (%T), want shm.ErrClosed", round, err, err)
			}
		}
	}
}
