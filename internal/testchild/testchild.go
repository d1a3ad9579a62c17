// Package testchild runs parts of a test binary as child processes: for
// rules about fork and exec, and for rules about privilege, where the child
// runs unprivileged under setpriv(1) with a memlock limit set by prlimit(1).
//
// A test package registers roles and calls Main from TestMain. The parent
// starts Command(role); the child binary sees the role in its environment,
// runs the role's function instead of the tests, and exits with its result.
package testchild

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

const envRole = "VMKIT_TEST_CHILD_ROLE"

var roles = map[string]func() int{}

// Register names a role. fn runs in the child and returns its exit status.
func Register(name string, fn func() int) { roles[name] = fn }

// Main runs the role named in the environment, if any, and exits; otherwise
// it runs the tests. Call it from TestMain.
func Main(m *testing.M) {
	if name := os.Getenv(envRole); name != "" {
		fn, ok := roles[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "testchild: unknown role %q\n", name)
			os.Exit(97)
		}
		os.Exit(fn())
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}

var (
	copyOnce sync.Once
	copyDir  string
	copyBin  string
	copyErr  error
)

// binary returns a copy of the test binary that any user may execute: go
// test builds in a directory only its owner can enter.
func binary() (string, error) {
	copyOnce.Do(func() {
		self, err := os.Executable()
		if err != nil {
			copyErr = err
			return
		}
		dir, err := os.MkdirTemp("", "vmkit-child-")
		if err != nil {
			copyErr = err
			return
		}
		copyDir = dir
		if err := os.Chmod(dir, 0o755); err != nil {
			copyErr = err
			return
		}
		src, err := os.Open(self)
		if err != nil {
			copyErr = err
			return
		}
		defer src.Close()
		dst := filepath.Join(dir, filepath.Base(self))
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			copyErr = err
			return
		}
		if _, err := io.Copy(out, src); err != nil {
			out.Close()
			copyErr = err
			return
		}
		copyErr = out.Close()
		copyBin = dst
	})
	return copyBin, copyErr
}

func cleanup() {
	if copyDir != "" {
		os.RemoveAll(copyDir)
	}
}

// Command returns a command that runs role in a copy of the test binary,
// behind the prefix (such as Unprivileged(...)), with extra environment
// entries.
func Command(t testing.TB, role string, prefix []string, env ...string) *exec.Cmd {
	t.Helper()
	if _, ok := roles[role]; !ok {
		t.Fatalf("testchild: role %q is not registered", role)
	}
	bin, err := binary()
	if err != nil {
		t.Fatalf("testchild: copy test binary: %v", err)
	}
	args := append(append([]string{}, prefix...), bin, "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(append(os.Environ(), envRole+"="+role), env...)
	return cmd
}

// Unprivileged is a command prefix that drops to user and group nobody
// (65534) with no capabilities and sets RLIMIT_MEMLOCK to memlock bytes,
// soft and hard. It skips the test when the tools or the privilege to use
// them are missing.
func Unprivileged(t testing.TB, memlock int64) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("dropping privileges needs root")
	}
	for _, tool := range []string{"setpriv", "prlimit"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (util-linux)", tool)
		}
	}
	n := strconv.FormatInt(memlock, 10)
	return []string{"prlimit", "--memlock=" + n + ":" + n, "--",
		"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"}
}

// Output runs cmd and returns its combined output and exit status, failing
// the test only when the command cannot start at all.
func Output(t testing.TB, cmd *exec.Cmd) (string, int) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("testchild: run %v: %v\n%s", cmd.Args, err, out)
	}
	return string(out), 0
}
