//go:build linux

package shm_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/shm"
)

func TestMain(m *testing.M) { testchild.Main(m) }

var ps = os.Getpagesize()

var nameSeq atomic.Int64

// segName returns a POSIX name no other test or run uses, and unlinks it when
// the test ends, whatever happened.
func segName(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("/vmkit-shm-test-%d-%d", os.Getpid(), nameSeq.Add(1))
	t.Cleanup(func() {
		if err := shm.Unlink(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cleanup: %v", err)
		}
	})
	return name
}

// removeSysV removes the segment when the test ends, whatever happened.
func removeSysV(t *testing.T, id int) {
	t.Helper()
	t.Cleanup(func() {
		s, err := shm.SysVByID(id)
		if err != nil {
			return // gone already
		}
		if st, err := s.Stat(); err == nil && st.Removed {
			return
		}
		if err := s.Remove(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// removeSysVOf removes, when the test ends, every segment that a process
// with one of the given pids created: a child that dies before it can report
// its segment's ID must not leave it behind.
func removeSysVOf(t *testing.T, pids func() []int) {
	t.Helper()
	t.Cleanup(func() {
		all, err := shm.SysVSegments()
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, st := range all {
			for _, pid := range pids() {
				if st.CreatorPID == pid && !st.Removed {
					if s, err := shm.SysVByID(st.ID); err == nil {
						if err := s.Remove(); err != nil {
							t.Errorf("cleanup of id %d: %v", st.ID, err)
						}
					}
				}
			}
		}
	})
}

// pattern fills b with bytes derived from seed, different on every page.
func pattern(b []byte, seed uint64) {
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := 0; i+8 <= len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(b[i:], x)
	}
}

// checkPattern reports the first offset where b differs from pattern(seed),
// or -1.
func checkPattern(b []byte, seed uint64) int {
	want := make([]byte, len(b))
	pattern(want, seed)
	for i := range b {
		if b[i] != want[i] {
			return i
		}
	}
	return -1
}

// peer is a child process driven line by line: the parent sends a command on
// its stdin, the child answers one line on its stdout.
type peer struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	err strings.Builder
}

// startPeer starts role with the given extra files and environment.
func startPeer(t *testing.T, role string, prefix []string, extra []*os.File, env ...string) *peer {
	t.Helper()
	p := &peer{t: t, cmd: testchild.Command(t, role, prefix, env...)}
	p.cmd.ExtraFiles = extra
	p.cmd.Stderr = &p.err
	var err error
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.out = bufio.NewReader(stdout)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	return p
}

// do sends cmd and returns the child's one-line answer; an answer starting
// with "error" fails the test.
func (p *peer) do(cmd string) string {
	p.t.Helper()
	ans := p.ask(cmd)
	if strings.HasPrefix(ans, "error") {
		p.t.Fatalf("child %s: %s", cmd, ans)
	}
	return ans
}

// ask is do without judging the answer.
func (p *peer) ask(cmd string) string {
	p.t.Helper()
	if _, err := fmt.Fprintln(p.in, cmd); err != nil {
		p.t.Fatalf("send %q: %v (stderr %q)", cmd, err, p.err.String())
	}
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := p.out.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			p.t.Fatalf("child's answer to %q: %v (stderr %q)", cmd, r.err, p.err.String())
		}
		return r.s
	case <-time.After(20 * time.Second):
		p.kill()
		p.t.Fatalf("child did not answer %q within 20 s", cmd)
	}
	return ""
}

// wait closes stdin and waits for the child to exit with status 0.
func (p *peer) wait() {
	p.t.Helper()
	p.in.Close()
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("child: %v (stderr %q)", err, p.err.String())
	}
}

func (p *peer) kill() {
	if p.cmd.ProcessState == nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

func (p *peer) pid() int { return p.cmd.Process.Pid }

// serve runs a child's command loop: each line of stdin goes to handle,
// whose answer is printed; an error is printed as "error: ...". It returns
// the exit status when stdin closes.
func serve(handle func(cmd string) (string, error)) int {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		ans, err := handle(sc.Text())
		if err != nil {
			fmt.Printf("error: %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Println(ans)
	}
	return 0
}

// vmLck is the VmLck of pid (0: this process) in bytes.
func vmLck(t *testing.T, pid int) int64 {
	t.Helper()
	v, err := procfs.StatusBytes(pid, "VmLck")
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

// Kernel page flags (/proc/kpageflags, Documentation/admin-guide/mm/pagemap.rst).
const (
	kpfUnevictable = 1 << 18
	kpfMlocked     = 1 << 33
)

// pageFlags returns the kernel's flags of the physical page behind each page
// of [addr, addr+n) in this process, read through /proc/self/pagemap and
// /proc/kpageflags. It needs CAP_SYS_ADMIN (for the frame numbers); without
// it, ok is false.
func pageFlags(t *testing.T, addr uintptr, n int) (flags []uint64, ok bool) {
	t.Helper()
	pm, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return nil, false
	}
	defer pm.Close()
	kf, err := os.Open("/proc/kpageflags")
	if err != nil {
		return nil, false
	}
	defer kf.Close()
	var b [8]byte
	for i := range n {
		if _, err := pm.ReadAt(b[:], int64((addr/uintptr(ps))+uintptr(i))*8); err != nil {
			t.Fatal(err)
		}
		e := binary.LittleEndian.Uint64(b[:])
		pfn := e & (1<<55 - 1)
		if e&(1<<63) == 0 {
			t.Fatalf("page %d of %#x is not present", i, addr)
		}
		if pfn == 0 {
			return nil, false
		}
		if _, err := kf.ReadAt(b[:], int64(pfn)*8); err != nil {
			t.Fatal(err)
		}
		flags = append(flags, binary.LittleEndian.Uint64(b[:]))
	}
	return flags, true
}

// countFlag counts the pages with flag set.
func countFlag(flags []uint64, flag uint64) int {
	c := 0
	for _, f := range flags {
		if f&flag != 0 {
			c++
		}
	}
	return c
}

// eventually polls cond for up to 3 s: the kernel moves pages between LRU
// lists in per-CPU batches, so a page flag can lag the system call that
// changed it. Between polls it drains those batches (drainLRU).
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(3 * time.Second); ; {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		drainLRU()
		time.Sleep(20 * time.Millisecond)
	}
}

// drainLRU empties every CPU's batch of pages on their way to the LRU lists,
// where the kernel sets or clears PG_unevictable and PG_mlocked: a batch of
// up to 15 pages otherwise waits until that CPU fills it. mlock drains the
// calling CPU's batch, so the thread visits each CPU in turn and locks and
// unlocks a page of its own there.
func drainLRU() {
	page, err := mem.Map(os.Getpagesize(), mem.Read|mem.Write, 0)
	if err != nil {
		return
	}
	defer page.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.CPUSet
	if unix.SchedGetaffinity(0, &old) != nil {
		return
	}
	defer unix.SchedSetaffinity(0, &old)
	for cpu := range runtime.NumCPU() {
		var one unix.CPUSet
		one.Set(cpu)
		if unix.SchedSetaffinity(0, &one) == nil {
			page.Lock()
			page.Unlock()
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
