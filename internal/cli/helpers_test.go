//go:build linux

package cli_test

// Helpers: the vmkit binary built once per test run, directories on a real
// filesystem, files with known page sets, and the fincore oracle.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/testchild"
)

var (
	vmkitBin  string // the built command, in a directory every user may enter
	binDir    string
	raceBuild bool // build the command with -race (set under go test -race)
)

func TestMain(m *testing.M) {
	dir, err := realTempDir("vmkit-cli-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cli tests:", err)
		os.Exit(1)
	}
	binDir = dir
	vmkitBin = filepath.Join(dir, "vmkit")
	build := exec.Command("go", "build", "-o", vmkitBin, "github.com/vmkit/vmkit/cmd/vmkit")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if raceBuild {
		build.Args = append(build.Args[:2], append([]string{"-race"}, build.Args[2:]...)...)
		build.Env = append(os.Environ(), "CGO_ENABLED=1")
		// A race in a child fails it (exit 66), and no child sleeps a
		// second at exit as the race runtime does by default.
		os.Setenv("GORACE", "atexit_sleep_ms=0 halt_on_error=1")
	}
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "cli tests: build vmkit: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// unprivileged is the command prefix that runs a child as user nobody
// without capabilities, with RLIMIT_MEMLOCK memlock (see testchild).
func unprivileged(t *testing.T, memlock int64) []string { return testchild.Unprivileged(t, memlock) }

// realTempDir makes a directory on a disk-backed filesystem (not tmpfs),
// open to every user, so that page cache behaviour is that of real files
// and an unprivileged child can reach it.
func realTempDir(prefix string) (string, error) {
	for _, base := range []string{"/var/tmp", "."} {
		var sfs unix.Statfs_t
		if unix.Statfs(base, &sfs) != nil || uint32(sfs.Type) == uint32(unix.TMPFS_MAGIC) || uint32(sfs.Type) == uint32(unix.RAMFS_MAGIC) {
			continue
		}
		d, err := os.MkdirTemp(base, prefix)
		if err != nil {
			continue
		}
		abs, _ := filepath.Abs(d)
		return abs, os.Chmod(abs, 0o755)
	}
	return "", fmt.Errorf("no disk-backed directory for test files: /var/tmp and the package directory are tmpfs or not writable")
}

// tempDir is realTempDir for one test, removed at its end.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := realTempDir("vmkit-cli-test-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// vmkit runs the built binary with args, behind prefix (such as an
// unprivileged setpriv), and returns what it printed.
func vmkitRun(t *testing.T, prefix []string, args ...string) result {
	t.Helper()
	argv := append(append(append([]string{}, prefix...), vmkitBin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %v: %v", argv, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

func vmkit(t *testing.T, args ...string) result {
	t.Helper()
	return vmkitRun(t, nil, args...)
}

// doc is the --json document of resident, touch, evict and lock.
type doc struct {
	Files []struct {
		Path     string `json:"path"`
		Size     int64  `json:"size"`
		Pages    int64  `json:"pages"`
		Resident *int64 `json:"resident"`
		Ranges   []struct {
			Start int64 `json:"start"`
			Count int64 `json:"count"`
		} `json:"ranges"`
	} `json:"files"`
	Summary struct {
		Files        int64            `json:"files"`
		Directories  int64            `json:"directories"`
		Size         int64            `json:"size"`
		Pages        int64            `json:"pages"`
		Resident     *int64           `json:"resident"`
		Unknown      int64            `json:"unknown"`
		UnknownPages int64            `json:"unknown_pages"`
		Skipped      int64            `json:"skipped"`
		SkippedBy    map[string]int64 `json:"skipped_by"`
		Errors       int64            `json:"errors"`
		PageSize     int64            `json:"page_size"`
		Method       string           `json:"method"`
		Evict        *struct {
			Before  int64 `json:"before"`
			Evicted int64 `json:"evicted"`
		} `json:"evict"`
		Touch *struct {
			Bytes int64 `json:"bytes"`
		} `json:"touch"`
		Lock *struct {
			Bytes  int64 `json:"bytes"`
			Files  int64 `json:"files"`
			Failed int64 `json:"failed"`
			Pid    int   `json:"pid"`
		} `json:"lock"`
	} `json:"summary"`
}

// jsonDoc runs vmkit with --json and decodes the document; the exit status
// must be want.
func jsonDoc(t *testing.T, prefix []string, want int, args ...string) doc {
	t.Helper()
	r := vmkitRun(t, prefix, append(args, "--json")...)
	if r.code != want {
		t.Fatalf("vmkit %v: exit %d, want %d\nstderr: %s", args, r.code, want, r.stderr)
	}
	var d doc
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("vmkit %v: bad JSON: %v\n%s", args, err, r.stdout)
	}
	return d
}

// residentOf maps path to resident pages (-1 for unknown).
func (d doc) residentOf() map[string]int64 {
	m := map[string]int64{}
	for _, f := range d.Files {
		if f.Resident == nil {
			m[f.Path] = -1
		} else {
			m[f.Path] = *f.Resident
		}
	}
	return m
}

var ps = int64(os.Getpagesize())

// writeFile creates path with size bytes of non-zero data.
func writeFile(t *testing.T, path string, size int64) {
	t.Helper()
	b := bytes.Repeat([]byte("vmkit page cache "), int(size/17)+1)[:size]
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dropCache writes back and evicts path's pages with the kernel's own calls,
// independently of vmkit.
func dropCache(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.Fdatasync(fd)
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

// readPages reads exactly the given pages of path into the cache: random
// access advice turns read-ahead off, so nothing else comes along.
func readPages(t *testing.T, path string, pages []int64) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_RANDOM); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	for _, p := range pages {
		if _, err := unix.Pread(fd, buf, p*ps); err != nil {
			t.Fatal(err)
		}
	}
}

// fincore asks util-linux fincore for the resident pages of files, run
// behind prefix.
func fincore(t *testing.T, prefix []string, files []string) map[string]int64 {
	t.Helper()
	if _, err := exec.LookPath("fincore"); err != nil {
		t.Skip("fincore (util-linux) is not installed")
	}
	argv := append(append(append([]string{}, prefix...), "fincore", "--bytes", "--noheadings", "--raw", "--output", "PAGES,FILE"), files...)
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatalf("fincore: %v", err)
	}
	m := map[string]int64{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		n, file, _ := strings.Cut(l, " ")
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			t.Fatalf("fincore line %q: %v", l, err)
		}
		m[file] = v
	}
	return m
}

// stableFincore measures with fincore, then runs measure, then fincore
// again, until both fincore readings agree (the page cache can change under
// a proactive reclaimer); it returns the agreed reading.
func stableFincore(t *testing.T, prefix []string, files []string, measure func()) map[string]int64 {
	t.Helper()
	for try := 0; ; try++ {
		a := fincore(t, prefix, files)
		measure()
		b := fincore(t, prefix, files)
		if equalMaps(a, b) {
			return a
		}
		if try == 4 {
			t.Fatalf("the page cache kept changing under fincore: %v vs %v", a, b)
		}
	}
}

func equalMaps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// vmLck reads VmLck of pid in bytes.
func vmLck(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmLck:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n * 1024
		}
	}
	t.Fatalf("no VmLck in /proc/%d/status", pid)
	return 0
}

// roundUp is n rounded up to whole pages.
func roundUp(n int64) int64 { return (n + ps - 1) / ps * ps }
