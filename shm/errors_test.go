//go:build linux

package shm_test

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/shm"
)

// Proof 6: bad names, sizes that overflow, meaningless flags and missing
// segments give clear errors before anything is made, and no call that
// fails leaves a segment behind.
func TestBadInputGivesClearErrorsAndLeavesNothing(t *testing.T) {
	missing := segName(t)
	existing := segName(t)
	ex, err := shm.Open(existing, 4096, shm.Create|shm.Exclusive, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	exV, err := shm.SysV(0x5600_0000|os.Getpid()&0xffff, 4096, shm.SysVCreate|shm.SysVExclusive|0o600)
	if err != nil {
		t.Fatal(err)
	}
	removeSysV(t, exV.ID())
	unusedKey := 0x5700_0000 | os.Getpid()&0xffff
	if _, err := shm.SysV(unusedKey, 0, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Skipf("key %#x is in use here: %v", unusedKey, err)
	}
	long := "/" + strings.Repeat("x", 256)

	before := leftovers(t)
	cases := []struct {
		name string
		call func() error
		is   error
		want string
	}{
		{"open/slash-inside", func() error { _, err := shm.Open("/a/b", 4096, shm.Create, 0o600); return err }, unix.EINVAL, "must not contain another slash"},
		{"open/slash-inside-no-lead", func() error { _, err := shm.Open("a/b", 4096, shm.Create, 0o600); return err }, unix.EINVAL, "must not contain another slash"},
		{"open/empty", func() error { _, err := shm.Open("", 4096, shm.Create, 0o600); return err }, unix.EINVAL, "empty name"},
		{"open/only-slashes", func() error { _, err := shm.Open("//", 4096, shm.Create, 0o600); return err }, unix.EINVAL, "only slashes"},
		{"open/dot", func() error { _, err := shm.Open("/.", 4096, shm.Create, 0o600); return err }, unix.EINVAL, "name directories"},
		{"open/dotdot", func() error { _, err := shm.Open("/..", 4096, shm.Create, 0o600); return err }, unix.EINVAL, "name directories"},
		{"open/nul", func() error { _, err := shm.Open("/a\x00b", 4096, shm.Create, 0o600); return err }, unix.EINVAL, "NUL"},
		{"open/too-long", func() error { _, err := shm.Open(long, 4096, shm.Create, 0o600); return err }, unix.ENAMETOOLONG, "at most 255 bytes"},
		{"open/negative-size", func() error { _, err := shm.Open(missing, -1, shm.Create, 0o600); return err }, unix.EINVAL, "negative size"},
		{"open/size-overflows", func() error { _, err := shm.Open(missing, math.MaxInt64, shm.Create, 0o600); return err }, unix.EOVERFLOW, "overflows the address space"},
		{"open/missing-without-create", func() error { _, err := shm.Open(missing, 0, 0, 0); return err }, fs.ErrNotExist, "pass shm.Create"},
		{"open/missing-readonly", func() error { _, err := shm.Open(missing, 0, shm.ReadOnly, 0); return err }, fs.ErrNotExist, "pass shm.Create"},
		{"open/exclusive-existing", func() error { _, err := shm.Open(existing, 4096, shm.Create|shm.Exclusive, 0o600); return err }, fs.ErrExist, "without shm.Exclusive"},
		{"open/exclusive-without-create", func() error { _, err := shm.Open(missing, 4096, shm.Exclusive, 0o600); return err }, unix.EINVAL, "Exclusive needs Create"},
		{"open/readonly-truncate", func() error { _, err := shm.Open(existing, 0, shm.ReadOnly|shm.Truncate, 0); return err }, unix.EINVAL, "Truncate needs write access"},
		{"open/readonly-create-sized", func() error { _, err := shm.Open(missing, 4096, shm.ReadOnly|shm.Create, 0o600); return err }, unix.EINVAL, "cannot be given a size"},
		{"open/perm-bits", func() error { _, err := shm.Open(missing, 4096, shm.Create, os.ModeSetuid|0o600); return err }, unix.EINVAL, "nine permission bits"},
		{"open/unknown-flags", func() error { _, err := shm.Open(missing, 4096, 1<<9, 0o600); return err }, unix.EINVAL, "unknown flags"},
		{"unlink/slash-inside", func() error { return shm.Unlink("/a/b") }, unix.EINVAL, "must not contain another slash"},
		{"unlink/empty", func() error { return shm.Unlink("") }, unix.EINVAL, "empty name"},
		{"unlink/missing", func() error { return shm.Unlink(missing) }, fs.ErrNotExist, "no segment by that name"},
		{"anonymous/empty-name", func() error { _, err := shm.Anonymous(4096, ""); return err }, unix.EINVAL, "empty name"},
		{"anonymous/slash", func() error { _, err := shm.Anonymous(4096, "a/b"); return err }, unix.EINVAL, "must not contain a slash"},
		{"anonymous/too-long", func() error { _, err := shm.Anonymous(4096, strings.Repeat("y", 250)); return err }, unix.ENAMETOOLONG, "at most 249 bytes"},
		{"anonymous/negative-size", func() error { _, err := shm.Anonymous(-4096, "neg"); return err }, unix.EINVAL, "negative size"},
		{"anonymous/size-overflows", func() error { _, err := shm.Anonymous(math.MaxInt64-100, "big"); return err }, unix.EOVERFLOW, "overflows the address space"},
		{"sysv/negative-size", func() error { _, err := shm.SysV(shm.Private, -1, shm.SysVCreate); return err }, unix.EINVAL, "negative size"},
		{"sysv/size-overflows", func() error { _, err := shm.SysV(shm.Private, math.MaxInt, shm.SysVCreate); return err }, unix.EOVERFLOW, "overflows the address space"},
		{"sysv/private-size-zero", func() error { _, err := shm.SysV(shm.Private, 0, shm.SysVCreate); return err }, unix.EINVAL, "at least 1 byte"},
		{"sysv/missing-without-create", func() error { _, err := shm.SysV(unusedKey, 4096, 0); return err }, fs.ErrNotExist, "pass shm.SysVCreate"},
		{"sysv/create-size-zero-missing", func() error { _, err := shm.SysV(unusedKey, 0, shm.SysVCreate); return err }, fs.ErrNotExist, "size 0 only opens"},
		{"sysv/exclusive-existing", func() error { _, err := shm.SysV(exV.Key(), 4096, shm.SysVCreate|shm.SysVExclusive); return err }, fs.ErrExist, "drop shm.SysVExclusive"},
		{"sysv/existing-too-small", func() error { _, err := shm.SysV(exV.Key(), 8192, 0); return err }, unix.EINVAL, "has 4096 bytes, fewer than the 8192 asked"},
		{"sysv/exclusive-without-create", func() error { _, err := shm.SysV(unusedKey, 4096, shm.SysVExclusive); return err }, unix.EINVAL, "needs SysVCreate"},
		{"sysv/unknown-flags", func() error { _, err := shm.SysV(unusedKey, 4096, shm.SysVCreate|1<<20); return err }, unix.EINVAL, "unknown flags"},
		{"sysv/bad-id", func() error { _, err := shm.SysVByID(-1); return err }, unix.EINVAL, "non-negative"},
		{"sysv/no-such-id", func() error { _, err := shm.SysVByID(math.MaxInt32); return err }, unix.EINVAL, "no segment has this ID"},
		{"sysv/attach-write-only", func() error { _, err := exV.Attach(mem.Write); return err }, unix.EINVAL, "shmat cannot give"},
		{"sysv/attach-none", func() error { _, err := exV.Attach(mem.None); return err }, unix.EINVAL, "shmat cannot give"},
		{"sysv/detach-unattached", func() error { return exV.Detach() }, shm.ErrNotAttached, "not attached"},
		{"sysv/zero-value-remove", func() error { return new(shm.SysVSegment).Remove() }, shm.ErrNoSegment, "without SysV"},
		{"sysv/zero-value-attach", func() error { _, err := new(shm.SysVSegment).Attach(mem.Read); return err }, shm.ErrNoSegment, "without SysV"},
		{"sysv/zero-value-lock", func() error { return new(shm.SysVSegment).Lock() }, shm.ErrNoSegment, "without SysV"},
		{"segment/zero-value-map", func() error { _, err := new(shm.Segment).Map(mem.Read); return err }, shm.ErrClosed, "closed"},
		{"segment/truncate-negative", func() error { return ex.Truncate(-1) }, unix.EINVAL, "negative size"},
		{"word/misaligned", func() error { _, err := shm.Word(make([]byte, 16), 2); return err }, unix.EINVAL, "not 4-byte aligned"},
		{"word/outside", func() error { _, err := shm.Word(make([]byte, 16), 16); return err }, unix.EINVAL, "outside"},
		{"wake/zero", func() error { w, _ := shm.Word(make([]byte, 16), 0); _, err := shm.Wake(w, 0); return err }, unix.EINVAL, "at least one"},
	}
	if strconv.IntSize == 64 { // an int wider than key_t
		wide := 40 // not a constant, so that 32-bit systems compile it
		cases = append(cases, struct {
			name string
			call func() error
			is   error
			want string
		}{"sysv/key-too-wide", func() error { _, err := shm.SysV(1<<wide, 4096, shm.SysVCreate); return err }, unix.EINVAL, "32-bit key_t"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if !errors.Is(err, tc.is) {
				t.Errorf("%v does not match %v", err, tc.is)
			}
			if !strings.HasPrefix(err.Error(), "shm: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q lacks %q", err, tc.want)
			}
		})
	}
	if after := leftovers(t); after != before {
		t.Fatalf("failed calls left segments behind:\nbefore %s\nafter  %s", before, after)
	}
}

// leftovers describes the POSIX segments of this test run and the System V
// segments this process created.
func leftovers(t *testing.T) string {
	t.Helper()
	var parts []string
	ents, err := os.ReadDir(shm.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), "vmkit-shm-test-") || strings.HasPrefix(e.Name(), "x") {
			parts = append(parts, e.Name())
		}
	}
	all, err := shm.SysVSegments()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range all {
		if st.CreatorPID == os.Getpid() {
			parts = append(parts, "sysv:"+itoa(st.ID))
		}
	}
	return strings.Join(parts, " ")
}

// The "open-big" role makes the POSIX segment $SHM_NAME of 1 MiB.
func init() {
	testchild.Register("open-big", func() int {
		s, err := shm.Open(os.Getenv("SHM_NAME"), 1<<20, shm.Create, 0o600)
		if err != nil {
			println("open:", err.Error(), "errno", errnoOf(err))
			return 3
		}
		s.Close()
		return 0
	})
}

// A failure after the segment was made (sizing it beyond RLIMIT_FSIZE)
// removes it again; the control without the limit keeps it.
func TestFailedOpenRemovesWhatItMade(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit not installed")
	}
	for _, tc := range []struct {
		name   string
		prefix []string
		code   int
		exists bool
	}{
		{"fsize-limit", []string{"prlimit", "--fsize=4096", "--"}, 3, false},
		{"control", nil, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := segName(t)
			out, code := testchild.Output(t, testchild.Command(t, "open-big", tc.prefix, "SHM_NAME="+name))
			t.Logf("child: %s", out)
			if code != tc.code {
				t.Fatalf("child exit %d, want %d:\n%s", code, tc.code, out)
			}
			if tc.code != 0 && !strings.Contains(out, "EFBIG") {
				t.Fatalf("child's error does not say EFBIG:\n%s", out)
			}
			_, err := os.Stat(shm.Dir + name)
			if exists := err == nil; exists != tc.exists {
				t.Fatalf("segment exists=%v after the child (%v), want %v; child said:\n%s", exists, err, tc.exists, out)
			}
		})
	}
}
