//go:build linux

package pagecache_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/pagecache"
)

var ps = pagecache.PageSize()

func TestParseSize(t *testing.T) {
	tests := map[string]struct {
		in   string
		want int64
		ok   bool
	}{
		"bytes":      {"4096", 4096, true},
		"kilo":       {"64k", 64 << 10, true},
		"mega":       {"10M", 10 << 20, true},
		"mebibyte":   {"10MiB", 10 << 20, true},
		"kb":         {"3KB", 3 << 10, true},
		"fraction":   {"1.5G", 3 << 29, true},
		"tera":       {"2t", 2 << 40, true},
		"spaces":     {" 7k ", 7 << 10, true},
		"empty":      {"", 0, false},
		"negative":   {"-1", 0, false},
		"word":       {"lots", 0, false},
		"percent":    {"50%", 0, false},
		"overflow":   {"9999999p", 0, false},
		"nan":        {"NaN", 0, false},
		"bare unit":  {"k", 0, false},
		"point":      {".5k", 512, true},
		"bytes unit": {"100B", 100, true},
		// strconv.ParseFloat (and vmtouch's strtod) take these; an
		// operator who types them has made a mistake.
		"exponent":      {"1e3", 0, false},
		"exponent unit": {"1e3k", 0, false},
		"hex":           {"0x10", 0, false},
		"hex float":     {"0x1p3", 0, false},
		"plus":          {"+5", 0, false},
		"inf":           {"Inf", 0, false},
		"underscore":    {"1_000", 0, false},
		"two points":    {"1.2.3k", 0, false},
		"bare point":    {".", 0, false},
		"ib alone":      {"10ib", 0, false},
		"unknown unit":  {"10x", 0, false},
		"unit twice":    {"10kk", 0, false},
		"huge digits":   {"99999999999999999999999999", 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := pagecache.ParseSize(tc.in)
			if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestRangeSpan(t *testing.T) {
	size := 100*ps + 10 // 101 pages
	tests := map[string]struct {
		in       string
		off, len int64
		ok       bool
	}{
		"whole":          {"0-", 0, 101 * ps, true},
		"to":             {"-8k", 0, 8 << 10, true},
		"lone value":     {"8k", 0, 8 << 10, true},
		"from":           {"10k-", 8 << 10, size/ps*ps + ps - 8<<10, true},
		"percentages":    {"0%-50%", 0, 51 * ps, true},
		"mixed":          {"10k-50%", 8 << 10, 51*ps - 8<<10, true},
		"past the end":   {"1G-", 1 << 30, 0, true},
		"end past end":   {"0-1G", 0, 101 * ps, true},
		"unaligned":      {"1-2", 0, ps, true},
		"backwards":      {"20k-10k", 0, 0, false},
		"bad percentage": {"0-101%", 0, 0, false},
		"empty":          {"", 0, 0, false},
		"double dash":    {"1--2", 0, 0, false},
		"dash alone":     {"-", 0, 0, false},
		"zero end":       {"0-0", 0, 0, false},
		"zero alone":     {"0", 0, 0, false},
		"zero percent":   {"-0%", 0, 0, false},
		"exponent":       {"1e3-", 0, 0, false},
		"hex percentage": {"0x1p3%-", 0, 0, false},
		"spaces":         {" 4k - 8k ", 4 << 10, 4 << 10, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := pagecache.ParseRange(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseRange(%q): %v, want ok %v", tc.in, err, tc.ok)
			}
			if !tc.ok {
				return
			}
			off, n := r.Span(size)
			if off != tc.off || n != tc.len {
				t.Errorf("%q.Span(%d) = %d+%d, want %d+%d", tc.in, size, off, n, tc.off, tc.len)
			}
		})
	}
	if off, n := (pagecache.Range{}).Span(0); off != 0 || n != 0 {
		t.Errorf("empty file span %d+%d", off, n)
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"10k-50%", "-", "1-", "-2", "0%-100%", "1.5G", "3e2k"} {
		f.Add(s, int64(12345))
	}
	f.Fuzz(func(t *testing.T, s string, size int64) {
		r, err := pagecache.ParseRange(s)
		if err != nil || size < 0 {
			return
		}
		off, n := r.Span(size)
		if off < 0 || n < 0 || off%ps != 0 || n%ps != 0 || (n > 0 && off+n > pagecache.Pages(size)*ps) {
			t.Fatalf("%q.Span(%d) = %d+%d", s, size, off, n)
		}
	})
}

// tree builds directories, files, links and special files, and returns the
// regular files a walk must visit (each inode once, links not followed).
func tree(t *testing.T) (string, []string) {
	dir := t.TempDir()
	var want []string
	for i := range 40 {
		sub := filepath.Join(dir, string(rune('a'+i%5)), string(rune('a'+i%3)))
		os.MkdirAll(sub, 0o755)
		p := filepath.Join(sub, "f"+string(rune('0'+i%10))+string(rune('a'+i)))
		if err := os.WriteFile(p, make([]byte, i*1000), 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	big := filepath.Join(dir, "big")
	os.Mkdir(big, 0o755)
	for i := range 300 { // more than one batch in one directory
		p := filepath.Join(big, "g"+string(rune('A'+i/26))+string(rune('a'+i%26)))
		os.WriteFile(p, []byte("x"), 0o644)
		want = append(want, p)
	}
	os.Link(want[0], filepath.Join(dir, "zz-link")) // counted under want[0], the smaller path
	os.Symlink("a", filepath.Join(dir, "symlink"))
	unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644)
	slices.Sort(want)
	return dir, want
}

// TestWalkVisitsEachFileOnce compares the walk with filepath.WalkDir, for
// several numbers of workers (run it with -race).
func TestWalkVisitsEachFileOnce(t *testing.T) {
	dir, want := tree(t)
	var model []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d.Type().IsRegular() && filepath.Base(p) != "zz-link" {
			model = append(model, p)
		}
		return nil
	})
	if !slices.Equal(model, want) {
		t.Fatalf("the model disagrees with the tree builder")
	}
	for _, workers := range []int{1, 3, 16} {
		var mu sync.Mutex
		var got []string
		var st pagecache.Stats
		o := pagecache.Options{Workers: workers}
		err := pagecache.Walk([]string{dir}, o, pagecache.Handler{
			Visit: func(e *pagecache.Entry) error {
				r, err := e.Measure(&o)
				if err != nil || !r.Known || r.Pages != pagecache.Pages(e.Size) {
					t.Errorf("%s: %+v, %v", e.Path, r, err)
				}
				mu.Lock()
				got = append(got, e.Path)
				mu.Unlock()
				return nil
			},
			Error: func(err error) { t.Error(err) },
		}, &st)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%d workers: visited %d files, want %d", workers, len(got), len(want))
		}
		if st.Directories.Load() != 1+5+15+1 || st.Skipped[pagecache.SkipHardLink].Load() != 1 ||
			st.Skipped[pagecache.SkipSymlink].Load() != 1 || st.Skipped[pagecache.SkipSpecial].Load() != 1 {
			t.Errorf("%d workers: %d directories, skipped %v", workers, st.Directories.Load(), &st.Skipped)
		}
	}
}

// TestMeasureMethodsAgree: cachestat's count, mincore's page set and the
// permission rule agree on one file, for the whole file and a part.
func TestMeasureMethodsAgree(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, make([]byte, 50*ps+1), 0o644)
	for _, rs := range []string{"0-", "10%-90%", "7k-9k"} {
		rg, _ := pagecache.ParseRange(rs)
		var results []pagecache.Result
		for _, o := range []pagecache.Options{
			{Range: rg, Method: pagecache.Cachestat},
			{Range: rg, Method: pagecache.Auto, Pages: true},
			{Range: rg, Method: pagecache.Mincore},
		} {
			e, err := pagecache.Open(p, &o)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Truthful() {
				t.Errorf("the owner is not told the truth")
			}
			r, err := e.Measure(&o)
			e.Close()
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, r)
		}
		for _, r := range results[1:] {
			if r.Pages != results[0].Pages || r.Resident != results[0].Resident || !r.Known || r.Set == nil || int64(r.Set.Count()) != r.Resident {
				t.Errorf("range %s: %+v disagrees with cachestat's %+v", rs, r, results[0])
			}
		}
	}
}

// TestWalkRootErrors: bad roots are errors that wrap their cause.
func TestWalkRootErrors(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	unix.Mkfifo(fifo, 0o644)
	tests := map[string]struct {
		root string
		want error
	}{
		"fifo":       {fifo, pagecache.ErrNotRegular},
		"device":     {"/dev/null", pagecache.ErrNotRegular},
		"proc file":  {"/proc/self/status", pagecache.ErrPseudoFS},
		"proc dir":   {"/proc/self", pagecache.ErrPseudoFS},
		"missing":    {filepath.Join(dir, "missing"), fs.ErrNotExist},
		"sysfs file": {"/sys/kernel/mm/transparent_hugepage/enabled", pagecache.ErrPseudoFS},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := os.Lstat(tc.root); err != nil && tc.want != fs.ErrNotExist {
				t.Skip(err)
			}
			var errs []error
			var mu sync.Mutex
			var st pagecache.Stats
			pagecache.Walk([]string{tc.root}, pagecache.Options{}, pagecache.Handler{
				Visit: func(e *pagecache.Entry) error { t.Errorf("visited %s", e.Path); return nil },
				Error: func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() },
			}, &st)
			if len(errs) != 1 || !errors.Is(errs[0], tc.want) || st.Errors.Load() != 1 {
				t.Errorf("errors %v (counted %d), want one wrapping %v", errs, st.Errors.Load(), tc.want)
			}
		})
	}
}

// TestWalkFollowsRootSymlinks: a symbolic link named as a root is followed,
// to a file as to a directory (the documentation promises it); inside the
// tree it is skipped without Follow.
func TestWalkFollowsRootSymlinks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, make([]byte, 3*ps), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "inner"), []byte("x"), 0o644)
	os.Symlink("file", filepath.Join(dir, "to-file"))
	os.Symlink("sub", filepath.Join(dir, "to-dir"))
	os.Symlink("to-file", filepath.Join(dir, "sub", "to-file-inside"))
	var mu sync.Mutex
	var got []string
	var st pagecache.Stats
	pagecache.Walk([]string{filepath.Join(dir, "to-file"), filepath.Join(dir, "to-dir")}, pagecache.Options{}, pagecache.Handler{
		Visit: func(e *pagecache.Entry) error {
			mu.Lock()
			got = append(got, filepath.Base(e.Path)+":"+strconv.FormatInt(e.Size, 10))
			mu.Unlock()
			return nil
		},
		Error: func(err error) { t.Error(err) },
	}, &st)
	slices.Sort(got)
	want := []string{"inner:1", "to-file:" + strconv.FormatInt(3*ps, 10)}
	if !slices.Equal(got, want) {
		t.Errorf("visited %v, want %v", got, want)
	}
	if n := st.Skipped[pagecache.SkipSymlink].Load(); n != 1 {
		t.Errorf("skipped %d symlinks, want 1 (the one inside the tree)", n)
	}
}

// TestWalkFollowCountsEachFileOnce: under Follow a file of one link met
// both under its own name and through symbolic links is visited once, under
// its own name; a file reached only through links, once under the smallest
// of them. Each file was counted once per name before.
func TestWalkFollowCountsEachFileOnce(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), make([]byte, 2*ps), 0o644)
	os.Symlink("a", filepath.Join(dir, "l1"))
	os.Symlink("a", filepath.Join(dir, "l2"))
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "b"), make([]byte, ps), 0o644)
	os.Symlink(filepath.Join(out, "b"), filepath.Join(dir, "m2"))
	os.Symlink(filepath.Join(out, "b"), filepath.Join(dir, "m1"))
	for _, workers := range []int{1, 4} {
		var mu sync.Mutex
		var got []string
		var st pagecache.Stats
		err := pagecache.Walk([]string{dir}, pagecache.Options{Follow: true, Workers: workers}, pagecache.Handler{
			Visit: func(e *pagecache.Entry) error {
				mu.Lock()
				got = append(got, filepath.Base(e.Path))
				mu.Unlock()
				return nil
			},
			Error: func(err error) { t.Error(err) },
		}, &st)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if want := []string{"a", "m1"}; !slices.Equal(got, want) {
			t.Errorf("%d workers: visited %v, want %v", workers, got, want)
		}
		if n := st.Skipped[pagecache.SkipSymlink].Load(); n != 3 {
			t.Errorf("%d workers: skipped %d symlinks, want 3", workers, n)
		}
	}
}
