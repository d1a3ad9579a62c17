//go:build linux

package cli_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/cli"
)

// lockTree makes files of the given sizes and returns the directory and the
// bytes a lock of them must add to VmLck: each file rounded up to pages.
func lockTree(t *testing.T, sizes ...int64) (string, int64) {
	t.Helper()
	dir := tempDir(t)
	var want int64
	for i, s := range sizes {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%d", i)), s)
		want += roundUp(s)
	}
	return dir, want
}

// adoptDaemons makes this test process the reaper of orphaned descendants,
// so that it can wait for a daemon whose parent exited and read its exit
// status.
func adoptDaemons(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a child subreaper: %v", err)
	}
}

// waitExit waits for an adopted process and returns its exit status.
func waitExit(t *testing.T, pid int) int {
	t.Helper()
	done := make(chan unix.WaitStatus, 1)
	go func() {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if err != unix.EINTR {
				break
			}
		}
		done <- ws
	}()
	select {
	case ws := <-done:
		if !ws.Exited() {
			t.Fatalf("process %d did not exit normally: %v", pid, ws)
		}
		return ws.ExitStatus()
	case <-time.After(10 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("process %d did not exit within 10 s", pid)
		return -1
	}
}

func readPid(t *testing.T, pidfile string) int {
	t.Helper()
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatalf("pidfile: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pidfile %q: %v", b, err)
	}
	return pid
}

// TestLockDaemon: the daemon's VmLck grows by the files' size, the pidfile
// names it, every page is resident, and SIGTERM unlocks and exits 0.
func TestLockDaemon(t *testing.T) {
	adoptDaemons(t)
	dir, want := lockTree(t, 1<<20+5, 300<<10, 0, 3*ps)
	pidfile := filepath.Join(dir, "vmkit.pid")
	d := jsonDoc(t, nil, 0, "lock", "-d", "-w", "-P", pidfile, "-i", "*.pid", dir)
	pid := readPid(t, pidfile)
	killed := false
	defer func() {
		if !killed {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}()
	if d.Summary.Lock == nil || d.Summary.Lock.Bytes != want || d.Summary.Lock.Pid != pid || d.Summary.Lock.Files != 3 {
		t.Errorf("lock summary %+v, want %d bytes in 3 files held by pid %d", d.Summary.Lock, want, pid)
	}
	if got := vmLck(t, pid); got != want {
		t.Errorf("daemon VmLck %d, want the files' size %d", got, want)
	}
	// status and maps see the same from outside.
	var st struct {
		VmLck int64 `json:"vm_lck"`
	}
	decode(t, vmkit(t, "status", "--json", strconv.Itoa(pid)), &st)
	var mp mapsDoc
	decode(t, vmkit(t, "maps", "--json", strconv.Itoa(pid)), &mp)
	if st.VmLck != want || mp.Total.Locked != want {
		t.Errorf("vmkit status says VmLck %d, vmkit maps says %d locked; want %d", st.VmLck, mp.Total.Locked, want)
	}
	// Locked pages stay through an eviction.
	ev := jsonDoc(t, nil, 0, "evict", "-i", "*.pid", dir)
	if ev.Summary.Resident == nil || *ev.Summary.Resident != want/ps {
		t.Errorf("evict while locked left %v pages, want all %d", ev.Summary.Resident, want/ps)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	killed = true
	if code := waitExit(t, pid); code != 0 {
		t.Errorf("daemon exit status %d after SIGTERM, want 0", code)
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile left behind: %v", err)
	}
	// Unlocked: now eviction empties the cache.
	ev = jsonDoc(t, nil, 0, "evict", "-i", "*.pid", dir)
	if *ev.Summary.Resident != 0 {
		t.Errorf("evict after the daemon ended left %d pages", *ev.Summary.Resident)
	}
}

// TestLockDaemonNoWait: without -w the parent returns once the checks
// passed, and the daemon locks in the background.
func TestLockDaemonNoWait(t *testing.T) {
	adoptDaemons(t)
	dir, want := lockTree(t, 2<<20, 5*ps+1)
	pidfile := filepath.Join(dir, "pid")
	r := vmkit(t, "lock", "-d", "-q", "-P", pidfile, "-I", "f*", dir)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	pid := readPid(t, pidfile)
	defer syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for vmLck(t, pid) != want {
		if time.Now().After(deadline) {
			t.Fatalf("daemon VmLck %d, want %d", vmLck(t, pid), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if code := waitExit(t, pid); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}

// startLock runs `vmkit lock` in the foreground behind prefix and waits
// until it says it holds the files.
func startLock(t *testing.T, prefix []string, args ...string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	argv := append(append(append([]string{}, prefix...), vmkitBin, "lock"), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out strings.Builder
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(stderr)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.Contains(sc.Text(), "holding") {
			if !strings.Contains(sc.Text(), "until SIGTERM, SIGINT or SIGHUP") {
				t.Errorf("the holding line does not name the signals that end it: %q", sc.Text())
			}
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, &out
		}
	}
	cmd.Wait()
	t.Fatalf("vmkit lock never said it was holding the files: %q", seen)
	return nil, nil
}

func TestLockForeground(t *testing.T) {
	dir, want := lockTree(t, 123457, 64<<10)
	cmd, out := startLock(t, nil, dir)
	if got := vmLck(t, cmd.Process.Pid); got != want {
		t.Errorf("VmLck %d, want %d", got, want)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGINT: %v", err)
	}
	if !strings.Contains(out.String(), "Locked: 2 files") {
		t.Errorf("summary:\n%s", out.String())
	}
	// Every signal the line names ends the lock, SIGHUP too.
	cmd, _ = startLock(t, nil, dir)
	cmd.Process.Signal(syscall.SIGHUP)
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGHUP: %v", err)
	}
}

// TestLockFileShrank: a file truncated between the walk and the lock has no
// pages for the span the walk measured; mlock fails on them with ENOMEM,
// which once came out with a hint to raise RLIMIT_MEMLOCK or grant
// CAP_IPC_LOCK. lock must say that the file changed. The truncation runs
// in the hook between the two steps, so the test is deterministic; lock
// runs in this process (Main), where the hook can be set.
func TestLockFileShrank(t *testing.T) {
	dir := tempDir(t)
	p := filepath.Join(dir, "shrinks")
	writeFile(t, p, 16*ps)
	defer cli.SetTestHookBeforeLock(func() {
		if err := os.Truncate(p, 2*ps); err != nil {
			t.Error(err)
		}
	})()
	var stdout, stderr bytes.Buffer
	code := cli.Main([]string{"lock", "--json", p}, strings.NewReader(""), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, stderr.String())
	}
	want := fmt.Sprintf("vmkit: lock %s: the file shrank from %d to %d bytes since it was listed", p, 16*ps, 2*ps)
	if msg := stderr.String(); !strings.HasPrefix(msg, want) || strings.Contains(msg, "RLIMIT_MEMLOCK") || strings.Count(msg, "\n") != 1 {
		t.Errorf("stderr %q: want one line that starts %q and does not blame RLIMIT_MEMLOCK", msg, want)
	}
	var d struct {
		Summary struct {
			Lock struct{ Files, Failed int64 }
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &d); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, stdout.String())
	}
	if d.Summary.Lock.Files != 0 || d.Summary.Lock.Failed != 1 {
		t.Errorf("lock summary %+v, want no file locked and one failed", d.Summary.Lock)
	}
}

// TestLockErrorsInExitStatus: a file that cannot be used is an error in the
// exit status, even though the rest is locked and held.
func TestLockErrorsInExitStatus(t *testing.T) {
	nobody := unprivileged(t, 8<<20)
	dir, want := lockTree(t, 100<<10, 200<<10)
	secret := filepath.Join(dir, "secret")
	writeFile(t, secret, ps)
	os.Chmod(secret, 0o600)
	cmd, _ := startLock(t, nobody, dir)
	if got := vmLck(t, cmd.Process.Pid); got != want {
		t.Errorf("VmLck %d, want %d (the readable files)", got, want)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("exit after an unreadable file: %v, want status 1", err)
	}
}

// TestLockLimits: unprivileged, the limits are checked before anything is
// locked, and the refusal names the numbers and the remedies.
func TestLockLimits(t *testing.T) {
	dir, _ := lockTree(t, 4<<20, 100)
	tests := map[string]struct {
		memlock int64
		args    []string
		want    []string
	}{
		"over the limit": {1 << 20, []string{"lock", dir},
			[]string{"cannot allocate memory", "the 2 files need 4.0 MiB", "RLIMIT_MEMLOCK is 1 MiB", "CAP_IPC_LOCK", "ulimit -l"}},
		"one file over the limit": {1 << 20, []string{"lock", filepath.Join(dir, "f0")},
			[]string{"the 1 file needs 4 MiB", "RLIMIT_MEMLOCK is 1 MiB"}},
		"limit zero": {0, []string{"lock", dir},
			[]string{"operation not permitted", "RLIMIT_MEMLOCK is 0 B", "CAP_IPC_LOCK"}},
		"daemon over the limit": {1 << 20, []string{"lock", "-d", "-w", "-P", filepath.Join(dir, "pid"), dir},
			[]string{"RLIMIT_MEMLOCK is 1 MiB"}},
		"on fault over the limit": {1 << 20, []string{"lock", "--on-fault", dir},
			[]string{"RLIMIT_MEMLOCK is 1 MiB"}},
		"report round trip": {0, []string{"report"},
			[]string{"round trip", "mlock", "RLIMIT_MEMLOCK"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			r := vmkitRun(t, unprivileged(t, tc.memlock), tc.args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("the refusal took %v", time.Since(start))
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "pid")); !os.IsNotExist(err) {
		t.Errorf("a refused daemon wrote its pidfile: %v", err)
	}
	// Within the limit the same user locks fine.
	small, want := lockTree(t, 1<<20)
	cmd, _ := startLock(t, unprivileged(t, 2<<20), small)
	if got := vmLck(t, cmd.Process.Pid); got != want {
		t.Errorf("unprivileged VmLck %d, want %d", got, want)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("unprivileged lock after SIGTERM: %v", err)
	}
}

// TestLockMapCount: more files than vm.max_map_count allows mappings are
// refused up front. Hard links counted one by one (-h) make the files cheap.
func TestLockMapCount(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/vm/max_map_count")
	if err != nil {
		t.Skip(err)
	}
	max, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if max > 200000 {
		t.Skipf("vm.max_map_count is %d: too many files to make", max)
	}
	dir := tempDir(t)
	n := max - 200 // with the process's own mappings and headroom, too many
	// ext4 allows 65000 links to one inode: link to several files, in
	// parallel.
	const per = 16384
	errs := make(chan error, n/per+1)
	for k := 0; k*per < n; k++ {
		f := filepath.Join(dir, "f"+strconv.Itoa(k))
		writeFile(t, f, 1)
		go func() {
			for i := k * per; i < min(n, (k+1)*per); i++ {
				if err := os.Link(f, filepath.Join(dir, "l"+strconv.Itoa(i))); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for k := 0; k*per < n; k++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	files := n + (n+per-1)/per
	r := vmkit(t, "lock", "-h", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "vm.max_map_count is "+strconv.Itoa(max)) ||
		!strings.Contains(r.stderr, fmt.Sprintf("%d files need %d mappings", files, files)) || !strings.Contains(r.stderr, "sysctl") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// TestLockOnFault: --on-fault locks what is cached and reads nothing more.
func TestLockOnFault(t *testing.T) {
	dir, _ := lockTree(t, 64*ps)
	p := filepath.Join(dir, "f0")
	dropCache(t, p)
	readPages(t, p, []int64{1, 2, 3, 40})
	cmd, _ := startLock(t, nil, "--on-fault", p)
	pid := cmd.Process.Pid
	if got := vmLck(t, pid); got != 64*ps {
		t.Errorf("VmLck %d, want the whole range %d (lock on fault counts it all)", got, 64*ps)
	}
	d := jsonDoc(t, nil, 0, "evict", p)
	if *d.Summary.Resident != 4 {
		t.Errorf("after evict, %d pages stay; want the 4 cached pages, locked", *d.Summary.Resident)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Error(err)
	}
}

// TestLockDaemonBatchFromStdin: `lock -d -b -` locks the paths given on
// stdin, although the daemon's own stdin is /dev/null.
func TestLockDaemonBatchFromStdin(t *testing.T) {
	adoptDaemons(t)
	dir, want := lockTree(t, 3*ps, 5*ps+1)
	pidfile := filepath.Join(dir, "pid")
	for _, sep := range []string{"\n", "\x00"} {
		args := []string{"lock", "-d", "-w", "--json", "-P", pidfile, "-b", "-"}
		if sep == "\x00" {
			args = append(args, "-0")
		}
		cmd := exec.Command(vmkitBin, args...)
		cmd.Stdin = strings.NewReader(filepath.Join(dir, "f0") + sep + filepath.Join(dir, "f1") + sep)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		pid := readPid(t, pidfile)
		var d doc
		if err := json.Unmarshal([]byte(out.String()), &d); err != nil {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("bad JSON: %v\n%s", err, out.String())
		}
		if d.Summary.Lock == nil || d.Summary.Lock.Files != 2 || d.Summary.Lock.Bytes != want {
			t.Errorf("separator %q: lock summary %+v, want 2 files, %d bytes", sep, d.Summary.Lock, want)
		}
		syscall.Kill(pid, syscall.SIGTERM)
		if code := waitExit(t, pid); code != 0 {
			t.Errorf("daemon exit status %d, want 0", code)
		}
	}
}

// TestLockDaemonNoWaitBadPath: without -w, a path that cannot be used is
// known before the daemon detaches, so it is in the exit status; the
// daemon still locks the rest.
func TestLockDaemonNoWaitBadPath(t *testing.T) {
	adoptDaemons(t)
	dir, want := lockTree(t, 2*ps)
	pidfile := filepath.Join(dir, "pid")
	missing := filepath.Join(dir, "missing")
	r := vmkit(t, "lock", "-d", "-q", "-P", pidfile, filepath.Join(dir, "f0"), missing)
	pid := readPid(t, pidfile)
	defer syscall.Kill(pid, syscall.SIGKILL)
	if r.code != 1 || !strings.Contains(r.stderr, missing) {
		t.Errorf("exit %d, stderr %q; want 1 and an error naming %s", r.code, r.stderr, missing)
	}
	deadline := time.Now().Add(10 * time.Second)
	for vmLck(t, pid) != want {
		if time.Now().After(deadline) {
			t.Fatalf("daemon VmLck %d, want %d", vmLck(t, pid), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if code := waitExit(t, pid); code != 1 {
		t.Errorf("daemon exit status %d, want 1", code)
	}
}
