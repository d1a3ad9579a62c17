package cli

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
)

// `vmkit lock -d` starts the same binary again as the daemon, in a new
// session, with daemonEnv set and a pipe on descriptor 3. Until the daemon is
// ready it sends everything it would print through the pipe as frames (kind
// 'o' for stdout, 'e' for stderr), then a frame 'r' carrying its verdict,
// and closes the pipe. The parent copies the frames to its own streams and
// exits with the verdict. So refusals (limits, bad paths) reach the user's
// terminal and exit status even though the work happens in the daemon.

// daemonEnv names the environment variable that marks the daemon; its value
// is the descriptor of the pipe to the parent.
const daemonEnv = "VMKIT_LOCK_DAEMON"

// daemonPipe is the daemon's end of the pipe.
type daemonPipe struct {
	mu    sync.Mutex
	f     *os.File // nil once ready
	ready bool
}

// frameWriter writes frames of one kind; after ready it discards.
type frameWriter struct {
	p    *daemonPipe
	kind byte
}

func (w frameWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.f != nil {
		writeFrame(w.p.f, w.kind, b)
	}
	return len(b), nil
}

func writeFrame(w io.Writer, kind byte, b []byte) error {
	var h [5]byte
	h[0] = kind
	binary.BigEndian.PutUint32(h[1:], uint32(len(b)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// becomeDaemon sets e up as the daemon's environment and runs the command.
// It returns -1 when this process is not a proper daemon after all.
func becomeDaemon(e *env, args []string) int {
	fd := os.Getenv(daemonEnv)
	os.Unsetenv(daemonEnv)
	if fd != "3" || len(args) == 0 || args[0] != "lock" {
		return -1
	}
	p := &daemonPipe{f: os.NewFile(3, "vmkit-daemon-pipe")}
	e.daemon = p
	e.stdout = frameWriter{p, 'o'}
	e.stderr = frameWriter{p, 'e'}
	code := runLock(e, args[1:])
	daemonReady(e, code) // in case it ended before it was ready
	return code
}

// daemonReady tells the parent the daemon's verdict and detaches from it.
// Later calls do nothing.
func daemonReady(e *env, code int) {
	p := e.daemon
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready {
		return
	}
	p.ready = true
	writeFrame(p.f, 'r', []byte{byte(code)})
	p.f.Close()
	p.f = nil
}

// spawnLockDaemon starts the daemon with the same arguments and relays its
// output until it is ready. The daemon's stdin is stdin when not nil (the
// -b list the parent read from its own), /dev/null otherwise.
func spawnLockDaemon(e *env, args []string, stdin []byte) int {
	exe, err := os.Executable()
	if err != nil {
		e.errorf("lock: cannot find my own executable to start the daemon: %v", err)
		return ExitError
	}
	r, w, err := os.Pipe()
	if err != nil {
		e.errorf("lock: %v", err)
		return ExitError
	}
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		e.errorf("lock: %v", err)
		return ExitError
	}
	defer null.Close()
	cmd := exec.Command(exe, append([]string{"lock"}, args...)...)
	cmd.Env = append(os.Environ(), daemonEnv+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = daemonAttr()
	err = cmd.Start()
	w.Close()
	if err != nil {
		e.errorf("lock: start the daemon: %v", err)
		return ExitError
	}
	br := bufio.NewReader(r)
	for {
		var h [5]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			break
		}
		b := make([]byte, binary.BigEndian.Uint32(h[1:]))
		if _, err := io.ReadFull(br, b); err != nil {
			break
		}
		switch h[0] {
		case 'o':
			e.stdout.Write(b)
		case 'e':
			e.mu.Lock()
			e.stderr.Write(b)
			e.mu.Unlock()
		case 'r':
			cmd.Process.Release()
			if len(b) == 1 {
				return int(b[0])
			}
			return ExitError
		}
	}
	// The pipe closed without a verdict: the daemon died.
	werr := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		e.errorf("lock: the daemon exited before it was ready (%v)", ee)
	} else {
		e.errorf("lock: the daemon exited before it was ready%s", errSuffix(werr))
	}
	return ExitError
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf(" (%v)", err)
}
