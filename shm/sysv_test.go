//go:build linux

package shm_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/shm"
)

// An attachment is a *mem.Mapping: closing it is shmdt (the kernel's attach
// count drops), and mem's protection, locking and fault handling work on it.
func TestSysVAttachmentIsAMapping(t *testing.T) {
	const size = 8 * 4096
	s, err := shm.SysV(shm.Private, size, shm.SysVCreate)
	if err != nil {
		t.Fatal(err)
	}
	removeSysV(t, s.ID())
	attached := func() int {
		t.Helper()
		st, err := s.Stat()
		if err != nil {
			t.Fatal(err)
		}
		return st.Attached
	}

	m, err := s.Attach(mem.Read | mem.Write)
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != size || s.Mapping() != m || len(s.Bytes()) != size || attached() != 1 {
		t.Fatalf("after Attach: len %d, attached %d", m.Len(), attached())
	}
	if _, err := s.Attach(mem.Read); !errors.Is(err, shm.ErrAttached) {
		t.Fatalf("second Attach on one handle: %v", err)
	}
	pattern(m.Bytes(), 9)

	// A second handle, a second attachment at another address, same pages.
	s2, err := shm.SysVByID(s.ID())
	if err != nil {
		t.Fatal(err)
	}
	m2, err := s2.Attach(mem.Read)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Addr() == m.Addr() || checkPattern(m2.Bytes(), 9) >= 0 || attached() != 2 {
		t.Fatalf("second attachment: addr %#x vs %#x, attached %d", m2.Addr(), m.Addr(), attached())
	}
	// Read-only attachment: a write faults, and mem reports it.
	if _, err := m2.WriteAt([]byte{1}, 0); err == nil {
		t.Fatal("write through a read-only attachment succeeded")
	} else if f := (*mem.Fault)(nil); !errors.As(err, &f) {
		t.Fatalf("write through a read-only attachment: %v, want a *mem.Fault", err)
	}
	// Closing the Mapping detaches.
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	if attached() != 1 || s2.Mapping() != nil {
		t.Fatalf("after Mapping.Close: attached %d", attached())
	}
	if err := s2.Detach(); !errors.Is(err, shm.ErrNotAttached) {
		t.Fatalf("Detach after Mapping.Close: %v", err)
	}

	// mem's range calls on the attachment.
	base := vmLck(t, 0)
	if err := m.Lock(); err != nil {
		t.Fatal(err)
	}
	if d := vmLck(t, 0) - base; d != size {
		t.Fatalf("mlock of the attachment added %d to VmLck, want %d", d, size)
	}
	if err := m.Protect(mem.Read); err != nil {
		t.Fatal(err)
	}
	if err := mem.Try(func() { m.Bytes()[0] = 1 }); err == nil {
		t.Fatal("store into a protected attachment did not fault")
	}
	if err := m.Protect(mem.Read | mem.Write); err != nil {
		t.Fatal(err)
	}

	// Remove while attached: the key is free, the memory lives until the
	// last detach, and then the ID is gone.
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stat(); err != nil || !st.Removed || st.Attached != 1 {
		t.Fatalf("after Remove: %+v, %v", st, err)
	}
	if i := checkPattern(m.Bytes(), 9); i >= 0 {
		t.Fatalf("contents changed after Remove at %d", i)
	}
	if err := s.Detach(); err != nil {
		t.Fatal(err)
	}
	if d := vmLck(t, 0) - base; d != 0 {
		t.Fatalf("Detach left %d bytes in VmLck", d)
	}
	if _, err := shm.SysVByID(s.ID()); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("segment still there after Remove and the last detach: %v", err)
	}
	if err := s.Remove(); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("second Remove: %v", err)
	}
}

// The kernel's permission check on attach, for an unprivileged user, with
// the reason in the error.
func TestSysVAttachPermission(t *testing.T) {
	s, err := shm.SysV(shm.Private, 4096, shm.SysVCreate|0o644)
	if err != nil {
		t.Fatal(err)
	}
	removeSysV(t, s.ID())
	child := startPeer(t, "sysv", testchild.Unprivileged(t, 1<<20), nil)
	ans := child.ask(fmt.Sprintf("attach %d rw", s.ID()))
	if !strings.Contains(ans, "permission denied") || !strings.Contains(ans, "owner uid 0") {
		t.Fatalf("nobody attaching a 0644 root segment read-write: %q", ans)
	}
	if ans := child.ask(fmt.Sprintf("attach %d r", s.ID())); ans != "ok" {
		t.Fatalf("nobody attaching it read-only: %q", ans)
	}
	if st, _ := s.Stat(); st.Attached != 1 {
		t.Fatalf("attached %d, want the child's 1", st.Attached)
	}
	child.wait()
	if st, _ := s.Stat(); st.Attached != 0 {
		t.Fatalf("the child's exit left %d attachments", st.Attached)
	}
}

// Opening by key: SysV with the key finds the same segment; Create without
// Exclusive opens it; the list in /proc/sysvipc/shm shows it.
func TestSysVByKey(t *testing.T) {
	key := 0x5800_0000 | os.Getpid()&0xffff
	a, err := shm.SysV(key, 3*4096+7, shm.SysVCreate|shm.SysVExclusive|0o640)
	if err != nil {
		t.Fatal(err)
	}
	removeSysV(t, a.ID())
	b, err := shm.SysV(key, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := shm.SysV(key, 4096, shm.SysVCreate)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID() != a.ID() || c.ID() != a.ID() || b.Key() != key {
		t.Fatalf("ids %d %d %d, key %#x", a.ID(), b.ID(), c.ID(), b.Key())
	}
	m, err := b.Attach(mem.Read | mem.Write)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Detach()
	if m.Len() != 3*4096+7 {
		t.Fatalf("attachment length %d, want the segment's size", m.Len())
	}
	list, err := shm.SysVSegments()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, st := range list {
		if st.ID == a.ID() {
			found = true
			if st.Key != key || st.Perm != 0o640 || st.Size != 3*4096+7 || st.Attached != 1 || st.CreatorPID != os.Getpid() {
				t.Fatalf("/proc/sysvipc/shm: %+v", st)
			}
		}
	}
	if !found {
		t.Fatal("segment missing from SysVSegments")
	}
}
