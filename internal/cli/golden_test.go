//go:build linux

package cli_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/mem"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenTree builds a tree whose residency is pinned: the resident pages are
// locked by this process, so no reclaimer can take them, and everything else
// is evicted.
//
//	a       16 pages, pages 0-3 resident
//	b       empty
//	c       4 pages (3 and 100 bytes), all resident
//	sub/d   100 pages, pages 9-58 resident
//	sub/e   a hard link to a (counted once)
//	link    a symlink to a (not followed)
//	fifo    a FIFO (skipped)
func goldenTree(t *testing.T) string {
	dir := tempDir(t)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	files := []struct {
		name      string
		size      int64
		lockFrom  int64
		lockPages int64
	}{
		{"a", 16 * ps, 0, 4},
		{"b", 0, 0, 0},
		{"c", 3*ps + 100, 0, 4},
		{"sub/d", 100 * ps, 9, 50},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		writeFile(t, p, f.size)
		dropCache(t, p)
		if f.lockPages > 0 {
			fh, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			m, err := mem.MapFile(fh, 0, 0, mem.Read, mem.Shared)
			fh.Close()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			// Random access: a fault reads its own page only, no
			// read-around that would bring (and map) the neighbours.
			if err := m.Advise(mem.Random); err != nil {
				t.Fatal(err)
			}
			b := m.Bytes()
			if err := mem.Lock(b[f.lockFrom*ps : min(int64(len(b)), (f.lockFrom+f.lockPages)*ps)]); err != nil {
				t.Fatal(err)
			}
		}
		dropCache(t, p)
	}
	os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "sub", "e"))
	os.Symlink("a", filepath.Join(dir, "link"))
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

var elapsed = regexp.MustCompile(`Elapsed: [0-9.e+-]+ seconds`)

// normalise replaces the variable parts of an output: the directory and the
// elapsed time.
func normalise(s, dir string) string {
	s = strings.ReplaceAll(s, dir, "DIR")
	return elapsed.ReplaceAllString(s, "Elapsed: X seconds")
}

func TestGolden(t *testing.T) {
	dir := goldenTree(t)
	tests := map[string][]string{
		"resident.txt":        {"resident", dir},
		"resident-v.txt":      {"resident", "-v", dir},
		"resident-pages.txt":  {"resident", "--pages", dir},
		"resident.json":       {"resident", "--json", dir},
		"resident-pages.json": {"resident", "--json", "--pages", dir},
		"resident-range.json": {"resident", "--json", "--pages", "-p", "8-50%", dir},
		"evict.txt":           {"evict", dir},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			r := vmkit(t, args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			got := normalise(r.stdout, dir)
			path := filepath.Join("testdata", name)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("vmkit %s differs from %s:\n--- got\n%s--- want\n%s", strings.Join(args[:len(args)-1], " "), path, got, want)
			}
		})
	}
}
