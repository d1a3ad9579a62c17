package cli

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the master to read what was drawn,
// the slave to hand the code under test as its terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestProgressOnTerminal draws the progress line on a real terminal: after
// the delay it shows files, bytes and an ETA, redrawn in place, and finish
// erases it.
func TestProgressOnTerminal(t *testing.T) {
	master, slave := openPTY(t)
	e := &env{stdout: &bytes.Buffer{}, stderr: slave}
	p := startProgress(e, "touch", 10, 10<<20, false)
	if p == nil {
		t.Fatal("no progress line on a terminal")
	}
	p.add(3, 3<<20)
	time.Sleep(progressDelay + 2*progressTick)
	p.finish()
	got := readAvailable(t, master)
	for _, want := range []string{"\r\x1b[Ktouch: 3/10 files, 3 MiB/10 MiB, ", "/s, ETA "} {
		if !strings.Contains(got, want) {
			t.Fatalf("terminal shows %q, want it to contain %q", got, want)
		}
	}
	if n := strings.Count(got, "\r\x1b[Ktouch: "); n < 2 {
		t.Fatalf("the line was drawn %d times in %v, want it redrawn in place: %q", n, progressDelay+2*progressTick, got)
	}
	if !strings.HasSuffix(got, "\r\x1b[K") {
		t.Fatalf("the line was not erased at the end: %q", got)
	}
}

// TestProgressQuietOrNotTerminal: no line when stderr is not a terminal, or
// with quiet set, and nothing before the delay.
func TestProgressQuietOrNotTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if p := startProgress(&env{stderr: w}, "evict", 0, 0, false); p != nil {
		t.Fatal("a progress line on a pipe")
	}
	master, slave := openPTY(t)
	if p := startProgress(&env{stderr: slave}, "evict", 0, 0, true); p != nil {
		t.Fatal("a progress line with quiet set")
	}
	p := startProgress(&env{stderr: slave}, "evict", 0, 0, false)
	p.add(1, 4096)
	p.finish() // before the delay: nothing drawn
	if got := readAvailable(t, master); got != "" {
		t.Fatalf("a short run drew %q", got)
	}
}

// readAvailable reads what the master has, waiting briefly for the last
// bytes to arrive.
func readAvailable(t *testing.T, master *os.File) string {
	t.Helper()
	var out []byte
	buf := make([]byte, 4096)
	fd := int(master.Fd())
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 200)
		if err != nil && err != unix.EINTR {
			t.Fatal(err)
		}
		if n == 0 {
			return string(out)
		}
		k, err := unix.Read(fd, buf)
		if err != nil || k == 0 {
			return string(out)
		}
		out = append(out, buf[:k]...)
	}
}
