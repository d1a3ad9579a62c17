package proc_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/proc"
)

// startSleep starts `sleep 5`, waits until it sleeps (it has then loaded
// its libraries), and kills it at the end of the test.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(time.Millisecond) {
		s, err := proc.StatOf(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if s.State == 'S' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep is still in state %c", s.State)
		}
	}
	return cmd
}

// deadPid returns pid_max, a pid the kernel never hands out.
func deadPid(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func TestStatusSelf(t *testing.T) {
	for name, pid := range map[string]int{"pid 0": 0, "own pid": os.Getpid()} {
		t.Run(name, func(t *testing.T) {
			s, err := proc.Status(pid)
			if err != nil {
				t.Fatal(err)
			}
			if s.Pid != os.Getpid() || s.PPid != os.Getppid() || s.Threads < 1 {
				t.Errorf("Pid %d PPid %d Threads %d", s.Pid, s.PPid, s.Threads)
			}
			if comm := filepath.Base(os.Args[0]); s.Name != comm[:min(len(comm), 15)] {
				t.Errorf("Name %q, want %q", s.Name, comm)
			}
			if s.VmRSS <= 0 || s.VmSize < s.VmRSS || s.VmPeak < s.VmSize || s.VmHWM < s.VmRSS {
				t.Errorf("VmRSS %d VmSize %d VmPeak %d VmHWM %d", s.VmRSS, s.VmSize, s.VmPeak, s.VmHWM)
			}
			// RssAnon + RssFile + RssShmem is VmRSS, read in one pass.
			if s.RssAnon+s.RssFile+s.RssShmem != s.VmRSS {
				t.Errorf("RssAnon %d + RssFile %d + RssShmem %d != VmRSS %d", s.RssAnon, s.RssFile, s.RssShmem, s.VmRSS)
			}
			if s.VmExe <= 0 || s.VmStk <= 0 || s.VmData <= 0 || s.VmPTE <= 0 {
				t.Errorf("VmExe %d VmStk %d VmData %d VmPTE %d", s.VmExe, s.VmStk, s.VmData, s.VmPTE)
			}
			for _, k := range []string{"VmRSS", "Name", "Threads", "VmSize"} {
				if s.Fields[k] == "" {
					t.Errorf("Fields[%q] is empty", k)
				}
			}
		})
	}
}

// TestStatusMlock shows VmLck growing by exactly the locked size, and
// falling back after munlock.
func TestStatusMlock(t *testing.T) {
	const size = 1 << 20
	b := mmap(t, size, unix.PROT_READ|unix.PROT_WRITE, 0)
	vmLck := func() int64 {
		s, err := proc.Status(0)
		if err != nil {
			t.Fatal(err)
		}
		return s.VmLck
	}
	before := vmLck()
	if err := unix.Mlock(b); err != nil {
		t.Fatal(err)
	}
	if d := vmLck() - before; d != size {
		t.Errorf("VmLck grew by %d after mlock of %d", d, size)
	}
	if err := unix.Munlock(b); err != nil {
		t.Fatal(err)
	}
	if after := vmLck(); after != before {
		t.Errorf("VmLck %d after munlock, was %d", after, before)
	}
}

func TestStatusOther(t *testing.T) {
	cmd := startSleep(t)
	s, err := proc.Status(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "sleep" || s.Pid != cmd.Process.Pid || s.PPid != os.Getpid() {
		t.Errorf("Name %q Pid %d PPid %d", s.Name, s.Pid, s.PPid)
	}

	reaped := exec.Command("true")
	if err := reaped.Run(); err != nil {
		t.Skip(err)
	}
	for name, pid := range map[string]int{
		"pid_max":  deadPid(t),
		"negative": -1,
		"reaped":   reaped.Process.Pid, // could be reused, but hardly this soon
	} {
		t.Run(name, func(t *testing.T) {
			_, err := proc.Status(pid)
			if !isNotExist(err) {
				t.Fatalf("Status(%d) = %v, want fs.ErrNotExist", pid, err)
			}
			if !strings.HasPrefix(err.Error(), "proc: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}
