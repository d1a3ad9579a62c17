//go:build linux

package shm_test

// The seeds' rules about locking shared memory, each shown with real
// processes: mlock on a page two processes share (proof 3), SHM_LOCK that
// faults nothing in (proof 4), and SHM_LOCK's per-user accounting against
// RLIMIT_MEMLOCK (proof 5).

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/shm"
)

// Proof 3: a page mapped shared by two processes and locked by one stays
// resident and locked while either holds the lock, and is unlocked when the
// last one unlocks or exits.
//
// Three witnesses: VmLck of both processes from /proc/PID/status (each
// process counts the locked mappings it holds), mincore in both, and the
// page's own PG_mlocked flag from /proc/kpageflags. The kernel keeps that
// flag with a per-page count of locking mappings that it documents as best
// effort (Documentation/mm/unevictable-lru.rst: a page isolated from the LRU
// while a lock changes can lose or keep the flag early, and reclaim's walk
// of the page's mappings corrects it later). Such a race shows here about
// once in thirty runs, so a scenario whose only disagreement is the flag is
// run again, up to three times, and then only logged: the kernel clears the
// flag through lazily drained per-CPU batches, and under load it was seen
// set for all three attempts after the last locker's exit. VmLck and
// mincore must agree every time.
func TestRuleSharedPageLockedWhileAnyHolds(t *testing.T) {
	for _, last := range []string{"unlocks", "exits"} {
		t.Run("last-"+last, func(t *testing.T) {
			var flagErrs []string
			for attempt := 1; attempt <= 3; attempt++ {
				flagErrs = lockRuleScenario(t, last)
				if len(flagErrs) == 0 || t.Failed() {
					break
				}
				t.Logf("attempt %d: page flags lagged the rule: %s", attempt, strings.Join(flagErrs, "; "))
			}
			if len(flagErrs) > 0 {
				// The flag is cleared through per-CPU batches that the kernel
				// drains lazily (mm/mlock.c mlock_fbatch); after an exit it
				// can stay set until the next drain or reclaim walk. It is a
				// witness, not the rule: VmLck and mincore above are.
				t.Logf("PG_mlocked lagged the rule in three attempts (best effort in the kernel): %s", strings.Join(flagErrs, "; "))
			}
		})
	}
}

// lockRuleScenario plays proof 3 once. Disagreements of VmLck or mincore
// fail t; those of PG_mlocked are returned.
func lockRuleScenario(t *testing.T, last string) (flagErrs []string) {
	t.Helper()
	const pages = 16
	const size = pages * 4096
	seg, err := shm.Anonymous(size, "proof3")
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	m, err := seg.Map(mem.Read | mem.Write)
	if err != nil {
		t.Fatal(err)
	}
	pattern(m.Bytes(), 3)
	child := startPeer(t, "segment", nil, []*os.File{seg.File()})
	defer child.kill()
	child.do("fd")
	child.do("map rw")
	if got := child.do("check 3"); got != "ok" { // touches every page
		t.Fatal(got)
	}

	base := vmLck(t, 0)
	mlocked := func() int {
		f, ok := pageFlags(t, m.Addr(), pages)
		if !ok {
			return -1
		}
		return countFlag(f, kpfMlocked)
	}
	if mlocked() < 0 {
		t.Log("no CAP_SYS_ADMIN: page flags unreadable, checking VmLck and mincore only")
	}
	// state checks both processes against what the rule predicts.
	state := func(step string, parentLocked, childLocked bool) {
		t.Helper()
		want := func(b bool) int64 {
			if b {
				return size
			}
			return 0
		}
		if d := vmLck(t, 0) - base; d != want(parentLocked) {
			t.Errorf("%s: parent VmLck %+d, want %+d", step, d, want(parentLocked))
		}
		if child.cmd.ProcessState == nil {
			if got := child.do("vmlck"); got != strconv.FormatInt(want(childLocked), 10) {
				t.Errorf("%s: child reports VmLck %s, want %d", step, got, want(childLocked))
			}
			if got := vmLck(t, child.pid()); got != want(childLocked) {
				t.Errorf("%s: /proc/%d/status VmLck %d, want %d", step, child.pid(), got, want(childLocked))
			}
			if got := child.do("resident"); got != itoa(pages) {
				t.Errorf("%s: child sees %s/%d pages resident", step, got, pages)
			}
		}
		if r, err := m.Resident(); err != nil || r.Count() != pages {
			t.Errorf("%s: parent sees %v (%v)", step, r, err)
		}
		if mlocked() < 0 {
			return
		}
		if parentLocked || childLocked {
			if !eventually(func() bool { return mlocked() == pages }) {
				flagErrs = append(flagErrs, fmt.Sprintf("%s: %d/%d pages have PG_mlocked, want all", step, mlocked(), pages))
				return
			}
			// And they stay so: sample for a while.
			for range 10 {
				if n := mlocked(); n != pages {
					flagErrs = append(flagErrs, fmt.Sprintf("%s: a locked page lost PG_mlocked (%d/%d)", step, n, pages))
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		} else if !eventually(func() bool { return mlocked() == 0 }) {
			flagErrs = append(flagErrs, fmt.Sprintf("%s: %d/%d pages still have PG_mlocked, want none", step, mlocked(), pages))
		}
	}

	state("before any lock", false, false)
	if err := m.Lock(); err != nil {
		t.Fatal(err)
	}
	state("parent locked", true, false)
	child.do("lock")
	state("both locked", true, true)
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	state("parent unlocked, child holds", false, true)
	switch last {
	case "unlocks":
		child.do("unlock")
		state("child unlocked too", false, false)
		child.wait()
	case "exits":
		child.wait()
		state("after the child's exit", false, false)
	}
	return flagErrs
}

// The "sysv" role attaches a System V segment by ID and obeys: attach ID
// r|rw, check SEED, write SEED, stat, detach.
func init() {
	testchild.Register("sysv", func() int {
		var s *shm.SysVSegment
		return serve(func(line string) (string, error) {
			f := strings.Fields(line)
			switch {
			case len(f) == 3 && f[0] == "attach":
				id, _ := strconv.Atoi(f[1])
				var err error
				if s, err = shm.SysVByID(id); err != nil {
					return "", err
				}
				p := mem.Read
				if f[2] == "rw" {
					p |= mem.Write
				}
				_, err = s.Attach(p)
				return "ok", err
			case len(f) == 2 && f[0] == "check":
				seed, _ := strconv.ParseUint(f[1], 10, 64)
				if i := checkPattern(s.Bytes()[:64*4096], seed); i >= 0 {
					return fmt.Sprintf("mismatch at %d", i), nil
				}
				return "ok", nil
			case len(f) == 1 && f[0] == "stat":
				st, err := s.Stat()
				return fmt.Sprintf("attached=%d locked=%v", st.Attached, st.Locked), err
			case len(f) == 1 && f[0] == "detach":
				return "ok", s.Detach()
			}
			return "", fmt.Errorf("unknown command %q", line)
		})
	})
}

// Proof 4: SHM_LOCK does not fault pages in: mincore reports none until
// they are touched, and counts exactly the touched ones after; those stay
// resident and become unevictable. Stat reports the lock, and the attach
// count as a second process attaches and detaches. The control is mlock on
// an attachment of another segment, which faults every page in at once.
func TestRuleSysVLockFaultsNothingIn(t *testing.T) {
	const pages, touched = 256, 64
	const size = pages * 4096
	s, err := shm.SysV(shm.Private, size, shm.SysVCreate|0o600)
	if err != nil {
		t.Fatal(err)
	}
	removeSysV(t, s.ID())
	m, err := s.Attach(mem.Read | mem.Write)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Detach()
	st, err := s.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Attached != 1 || st.Locked || st.CreatorPID != os.Getpid() || st.Size != size || st.Perm != 0o600 {
		t.Fatalf("fresh segment: %+v", st)
	}

	base := vmLck(t, 0)
	if err := s.Lock(); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stat(); !st.Locked {
		t.Fatal("Stat does not report SHM_LOCK")
	}
	if r, _ := m.Resident(); r.Count() != 0 {
		t.Fatalf("SHM_LOCK faulted pages in: %v", r)
	}
	if d := vmLck(t, 0) - base; d != 0 {
		t.Fatalf("SHM_LOCK counted %d bytes in the process's VmLck", d)
	}
	pattern(m.Bytes()[:touched*4096], 4)
	r, _ := m.Resident()
	if r.Count() != touched {
		t.Fatalf("after touching %d pages: %v", touched, r)
	}
	for run := range r.Runs() {
		if run != (mem.Run{Start: 0, Len: touched}) {
			t.Fatalf("resident run %+v, want the first %d pages", run, touched)
		}
	}
	if f, ok := pageFlags(t, m.Addr(), touched); ok {
		t.Logf("right after touching: %d/%d unevictable", countFlag(f, kpfUnevictable), touched)
		if !eventually(func() bool { f, _ = pageFlags(t, m.Addr(), touched); return countFlag(f, kpfUnevictable) == touched }) {
			t.Errorf("%d/%d touched pages are unevictable, want all", countFlag(f, kpfUnevictable), touched)
		}
	}
	// Ask the kernel to reclaim them: locked pages stay. (Without swap an
	// unlocked shmem page would stay too; the unevictable flag above is
	// what tells them apart on such a machine.)
	if err := m.Advise(mem.PageOut); err != nil {
		t.Fatal(err)
	}
	if r, _ := m.Resident(); r.Count() != touched {
		t.Fatalf("after PageOut: %v, want %d", r, touched)
	}
	if list, err := shm.SysVSegments(); err == nil {
		for _, e := range list {
			if e.ID == s.ID() && e.Resident != touched*4096 {
				t.Errorf("/proc/sysvipc/shm says %d bytes resident, want %d", e.Resident, touched*4096)
			}
		}
	}

	// A second process attaches: the count and the last pid follow.
	child := startPeer(t, "sysv", nil, nil)
	child.do("attach " + itoa(s.ID()) + " rw")
	if got := child.do("check 4"); got != "ok" {
		t.Fatalf("child reads: %s", got)
	}
	if got := child.do("stat"); got != "attached=2 locked=true" {
		t.Fatalf("child's Stat: %s", got)
	}
	st, _ = s.Stat()
	if st.Attached != 2 || st.LastPID != child.pid() || st.AttachTime.IsZero() {
		t.Fatalf("with the child attached: attached=%d lastpid=%d (child %d)", st.Attached, st.LastPID, child.pid())
	}
	child.do("detach")
	st, _ = s.Stat()
	if st.Attached != 1 || st.LastPID != child.pid() || st.DetachTime.IsZero() {
		t.Fatalf("after the child detached: attached=%d lastpid=%d", st.Attached, st.LastPID)
	}
	child.wait()

	if err := s.Unlock(); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stat(); st.Locked {
		t.Fatal("Stat reports a lock after SHM_UNLOCK")
	}
	if f, ok := pageFlags(t, m.Addr(), touched); ok {
		if !eventually(func() bool { f, _ = pageFlags(t, m.Addr(), touched); return countFlag(f, kpfUnevictable) == 0 }) {
			t.Errorf("after SHM_UNLOCK %d pages are still unevictable", countFlag(f, kpfUnevictable))
		}
	}

	// Control: mlock on an attachment faults every page in at once, and
	// counts in VmLck.
	c, err := shm.SysV(shm.Private, size, shm.SysVCreate)
	if err != nil {
		t.Fatal(err)
	}
	removeSysV(t, c.ID())
	cm, err := c.Attach(mem.Read | mem.Write)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Detach()
	if err := cm.Lock(); err != nil {
		t.Fatal(err)
	}
	if r, _ := cm.Resident(); !r.All() {
		t.Fatalf("control: mlock left %v", r)
	}
	if d := vmLck(t, 0) - base; d != size {
		t.Fatalf("control: mlock added %d to VmLck, want %d", d, size)
	}
}

// The "sysv-lock" role runs unprivileged: it makes a Private segment of
// $SHM_SIZE bytes, prints its ID, SHM_LOCKs it and prints the outcome, and,
// with $SHM_MLOCK set, mlocks as much anonymous memory to show that the
// per-process limit is a separate account. It exits leaving the segment
// (locked or not) for the parent to inspect and remove.
func init() {
	testchild.Register("sysv-lock", func() int {
		size, _ := strconv.Atoi(os.Getenv("SHM_SIZE"))
		s, err := shm.SysV(shm.Private, size, shm.SysVCreate|0o600)
		if err != nil {
			fmt.Println("create error:", err)
			return 1
		}
		fmt.Printf("id=%d\n", s.ID())
		err = s.Lock()
		fmt.Printf("lock errno=%s\n", errnoOf(err))
		if err != nil {
			fmt.Printf("lock text=%s\n", err)
		}
		if os.Getenv("SHM_MLOCK") != "" {
			m, err := mem.Map(size, mem.Read|mem.Write, 0)
			if err == nil {
				err = m.Lock()
			}
			fmt.Printf("mlock errno=%s\n", errnoOf(err))
		}
		return 0
	})
}

// Proof 5: SHM_LOCK as an unprivileged user is charged against
// RLIMIT_MEMLOCK per user, not per process: a segment locked by one process
// of user nobody, which then exits, still counts when another process of
// the same user locks a second one, and the error says so with the figures.
// mlock, whose account is per process, still succeeds in that second
// process. Unlocking the first segment (here by root) frees the charge.
func TestRuleSHMLockChargesTheUser(t *testing.T) {
	const limit = 64 << 10
	var pids []int
	removeSysVOf(t, func() []int { return pids })
	run := func(t *testing.T, size int, mlock bool, memlock int64) (id int, out string) {
		t.Helper()
		env := []string{"SHM_SIZE=" + itoa(size)}
		if mlock {
			env = append(env, "SHM_MLOCK=1")
		}
		cmd := testchild.Command(t, "sysv-lock", testchild.Unprivileged(t, memlock), env...)
		out, code := testchild.Output(t, cmd)
		t.Logf("child (%d bytes, limit %d):\n%s", size, memlock, out)
		if cmd.Process != nil {
			pids = append(pids, cmd.Process.Pid)
		}
		if code != 0 {
			t.Fatalf("child exit %d:\n%s", code, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, "id="); ok {
				id, _ = strconv.Atoi(v)
				removeSysV(t, id)
			}
		}
		if id == 0 && !strings.Contains(out, "id=0") {
			t.Fatalf("child made no segment:\n%s", out)
		}
		return id, out
	}
	line := func(out, key string) string {
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, key+"="); ok {
				return v
			}
		}
		return ""
	}

	// One segment over the limit.
	_, out := run(t, 128<<10, false, limit)
	if line(out, "lock errno") != "ENOMEM" || !strings.Contains(out, "RLIMIT_MEMLOCK is 64 KiB") {
		t.Fatalf("128 KiB under a 64 KiB limit:\n%s", out)
	}
	// A limit of 0 is refused outright.
	_, out = run(t, 4096, false, 0)
	if line(out, "lock errno") != "EPERM" || !strings.Contains(out, "RLIMIT_MEMLOCK is 0") {
		t.Fatalf("limit 0:\n%s", out)
	}
	// A fits alone, and stays locked after its process exits.
	idA, out := run(t, 48<<10, false, limit)
	if line(out, "lock errno") != "none" {
		t.Fatalf("48 KiB under a 64 KiB limit:\n%s", out)
	}
	a, err := shm.SysVByID(idA)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Stat(); !st.Locked || st.UID != 65534 || st.Attached != 0 {
		t.Fatalf("A after its process exited: %+v", st)
	}
	// B would fit alone too, but A is charged to the same user.
	_, out = run(t, 32<<10, true, limit)
	if line(out, "lock errno") != "ENOMEM" {
		t.Fatalf("32 KiB with 48 KiB locked by the same user under 64 KiB: \n%s", out)
	}
	for _, want := range []string{"RLIMIT_MEMLOCK is 64 KiB", "uid 65534 owns 48 KiB of locked System V segments", "needs 32 KiB more"} {
		if !strings.Contains(line(out, "lock text"), want) {
			t.Errorf("error text %q lacks %q", line(out, "lock text"), want)
		}
	}
	if line(out, "mlock errno") != "none" {
		t.Errorf("mlock of 32 KiB in the same process failed (%s): the per-process account should be separate", line(out, "mlock errno"))
	}
	// Free A's charge; C, like B, now fits.
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	_, out = run(t, 32<<10, false, limit)
	if line(out, "lock errno") != "none" {
		t.Fatalf("32 KiB after A was unlocked:\n%s", out)
	}
}

// Root has CAP_IPC_LOCK: the limit does not apply to its SHM_LOCK.
func TestSHMLockPrivileged(t *testing.T) {
	if cap, err := capIPCLock(); err != nil || !cap {
		t.Skip("needs CAP_IPC_LOCK")
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY {
		t.Skip("no finite RLIMIT_MEMLOCK to exceed")
	}
	size := int(lim.Cur) + 1<<20
	s, err := shm.SysV(shm.Private, size, shm.SysVCreate|shm.SysVNoReserve)
	if err != nil {
		t.Fatal(err)
	}
	removeSysV(t, s.ID())
	if err := s.Lock(); err != nil {
		t.Fatalf("SHM_LOCK of %d bytes above the %d limit with CAP_IPC_LOCK: %v", size, lim.Cur, err)
	}
	if err := s.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func capIPCLock() (bool, error) {
	var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false, err
	}
	return data[0].Effective&(1<<unix.CAP_IPC_LOCK) != 0, nil
}
