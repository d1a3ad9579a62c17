//go:build linux

package cli_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestBareVmkitPrintsHelp(t *testing.T) {
	r := vmkit(t)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("bare vmkit: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, c := range []string{"resident", "touch", "evict", "lock", "maps", "status", "report"} {
		if !strings.Contains(r.stdout, "vmkit "+c) {
			t.Errorf("help does not mention %q:\n%s", c, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "\n"); n > 30 {
		t.Errorf("help is %d lines, want a short one", n)
	}
}

func TestCommandHelp(t *testing.T) {
	tests := map[string]struct {
		args []string
		want []string
	}{
		"resident": {[]string{"resident", "--help"}, []string{"Usage: vmkit resident", "-h, --hard-links", "--pages", "-p, --range"}},
		"lock":     {[]string{"help", "lock"}, []string{"Usage: vmkit lock", "-d, --daemon", "-P, --pidfile", "-w, --wait", "--on-fault"}},
		"maps":     {[]string{"maps", "-h"}, []string{"Usage: vmkit maps", "--json"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := vmkit(t, tc.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("help lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	dir := tempDir(t)
	tests := map[string]struct {
		args []string
		want string
	}{
		"unknown command":      {[]string{"frobnicate"}, "unknown command"},
		"help unknown command": {[]string{"help", "frobnicate"}, "unknown command"},
		"unknown flag":         {[]string{"resident", "--frob", dir}, "unknown flag"},
		"quiet and json":       {[]string{"resident", "-q", "--json", dir}, "-q cannot be combined"},
		"bad range":            {[]string{"resident", "-p", "50%-10%", dir}, "ends before it starts"},
		"bad percentage":       {[]string{"resident", "-p", "120%", dir}, "bad percentage"},
		"bad size":             {[]string{"resident", "-m", "lots", dir}, "bad size"},
		// An empty or ambiguous value is refused, not read as the flag
		// left out, and the error says what form is accepted.
		"empty range":          {[]string{"resident", "-p", "", dir}, "empty page range: want A-B, A-, -B or B"},
		"empty range long":     {[]string{"touch", "--range=", dir}, "empty page range"},
		"range without ends":   {[]string{"resident", "-p", "-", dir}, "names neither end"},
		"range ending at 0":    {[]string{"evict", "-p", "0", dir}, "ends at 0"},
		"range ending at 0%":   {[]string{"resident", "-p", "10k-0%", dir}, "ends at 0"},
		"exponent in range":    {[]string{"resident", "-p", "1e3-", dir}, "want a decimal number of bytes"},
		"hex percentage":       {[]string{"resident", "-p", "0x1p3%-", dir}, "want a decimal percentage"},
		"empty max size":       {[]string{"resident", "-m", "", dir}, "empty size: want a decimal number"},
		"max size 0":           {[]string{"lock", "-m", "0", dir}, "at least 1 byte"},
		"max size 0k":          {[]string{"resident", "-m", "0k", dir}, "at least 1 byte"},
		"exponent size":        {[]string{"resident", "-m", "1e3", dir}, "want a decimal number of bytes"},
		"hex float size":       {[]string{"resident", "-m", "0x1p3", dir}, "bad size"},
		"empty batch name":     {[]string{"resident", "-b", "", dir}, "-b: empty file name"},
		"bad method":           {[]string{"resident", "--method", "guess", dir}, "unknown method"},
		"cachestat page set":   {[]string{"resident", "--method", "cachestat", "--pages", dir}, "counts only"},
		"bad glob":             {[]string{"resident", "-i", "[", dir}, "bad pattern"},
		"null without batch":   {[]string{"resident", "-0", dir}, "-0 only applies"},
		"touch needs paths":    {[]string{"touch"}, "no paths given"},
		"wait without daemon":  {[]string{"lock", "-w", dir}, "-w only applies with -d"},
		"bad pid":              {[]string{"maps", "self"}, "not a process id"},
		"two pids":             {[]string{"status", "1", "2"}, "at most one"},
		"report with argument": {[]string{"report", "x"}, "no arguments"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := vmkit(t, tc.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", r.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("stderr %q: want one line with %q", r.stderr, tc.want)
			}
		})
	}
}

// TestTouchEvictResident: after evict nothing is resident, after touch
// everything is, each checked against fincore measured around it.
func TestTouchEvictResident(t *testing.T) {
	dir := tempDir(t)
	sizes := map[string]int64{"a": 1, "b": ps, "c": 3*ps + 100, "d": 300 << 10, "e": 0}
	var files []string
	var pages int64
	for n, s := range sizes {
		p := filepath.Join(dir, n)
		writeFile(t, p, s)
		files = append(files, p)
		pages += (s + ps - 1) / ps
	}
	slices.Sort(files)
	nonEmpty := files[:4]

	d := jsonDoc(t, nil, 0, append([]string{"evict"}, files...)...)
	if d.Summary.Resident == nil || *d.Summary.Resident != 0 || d.Summary.Files != 5 || d.Summary.Pages != pages {
		t.Fatalf("after evict: summary %+v, want 5 files, %d pages, 0 resident", d.Summary, pages)
	}
	if d.Summary.Evict == nil || d.Summary.Evict.Evicted != d.Summary.Evict.Before {
		t.Errorf("evict summary %+v: everything resident before should have been evicted", d.Summary.Evict)
	}
	var after doc
	want := stableFincore(t, nil, nonEmpty, func() { after = jsonDoc(t, nil, 0, append([]string{"resident"}, files...)...) })
	for _, f := range nonEmpty {
		if want[f] != 0 || after.residentOf()[f] != 0 {
			t.Errorf("%s after evict: vmkit %d, fincore %d, want 0", f, after.residentOf()[f], want[f])
		}
	}

	// After touch everything is resident. A reclaimer may take pages read
	// once within seconds, so a short count is tried again; vmkit must
	// agree with fincore every time.
	for try := 1; ; try++ {
		d = jsonDoc(t, nil, 0, append([]string{"touch"}, files...)...)
		if d.Summary.Touch == nil || d.Summary.Touch.Bytes != sizes["a"]+sizes["b"]+sizes["c"]+sizes["d"] {
			t.Errorf("touch read %+v, want the files' bytes", d.Summary.Touch)
		}
		var touched doc
		want = stableFincore(t, nil, nonEmpty, func() { touched = jsonDoc(t, nil, 0, append([]string{"resident"}, files...)...) })
		all := true
		for _, f := range touched.Files {
			if f.Resident == nil {
				t.Fatalf("%s: unknown residency as root", f.Path)
			}
			if f.Pages > 0 && want[f.Path] != *f.Resident {
				t.Errorf("%s after touch: vmkit %d, fincore %d", f.Path, *f.Resident, want[f.Path])
			}
			if *f.Resident != f.Pages {
				all = false
				t.Logf("try %d: %s after touch: %d of %d pages resident", try, f.Path, *f.Resident, f.Pages)
			}
		}
		if all {
			break
		}
		if try == 5 {
			t.Fatalf("after touch, pages were never all resident")
		}
	}
}

// TestExactPageSet reads a known set of pages and expects exactly that set,
// through cachestat's count and mincore's page set alike.
func TestExactPageSet(t *testing.T) {
	dir := tempDir(t)
	p := filepath.Join(dir, "f")
	writeFile(t, p, 64*ps+10)
	dropCache(t, p)
	read := []int64{0, 5, 6, 7, 20, 63, 64}
	type run struct{ start, count int64 }
	want := []run{{0, 1}, {5, 3}, {20, 1}, {63, 2}}
	// A proactive reclaimer may take pages read once within seconds: a run
	// that misses pages is tried again (with the pages read again), a run
	// that reports a page never read fails at once.
	for try := 1; ; try++ {
		readPages(t, p, read)
		d := jsonDoc(t, nil, 0, "resident", "--pages", p)
		c := jsonDoc(t, nil, 0, "resident", "--method", "cachestat", p)
		m := jsonDoc(t, nil, 0, "resident", "--method", "mincore", "--pages", p)
		v := vmkit(t, "resident", "-v", p)
		missing := false
		for name, dd := range map[string]doc{"auto": d, "mincore": m} {
			var got []run
			inRead := func(pg int64) bool { return slices.Contains(read, pg) }
			for _, r := range dd.Files[0].Ranges {
				got = append(got, run{r.Start, r.Count})
				for pg := r.Start; pg < r.Start+r.Count; pg++ {
					if !inRead(pg) {
						t.Fatalf("%s: page %d reported resident, but only %v were read", name, pg, read)
					}
				}
			}
			if !slices.Equal(got, want) {
				missing = true
				t.Logf("try %d, %s: ranges %v, want %v", try, name, got, want)
			}
			if dd.Summary.Method != "mincore" {
				t.Errorf("%s: method %q, want mincore for a page set", name, dd.Summary.Method)
			}
		}
		if r := c.Files[0].Resident; r == nil || c.Summary.Method != "cachestat" || *r > int64(len(read)) {
			t.Fatalf("cachestat: resident %v via %s, want %d", r, c.Summary.Method, len(read))
		} else if *r != int64(len(read)) {
			missing = true
		}
		if !strings.Contains(v.stdout, "] 7/65\n") {
			missing = true
		}
		if !missing {
			if !strings.HasPrefix(strings.SplitN(v.stdout, "\n", 3)[1], "[O    OOO ") {
				t.Errorf("-v output:\n%s", v.stdout)
			}
			if f := d.Files[0]; f.Pages != 65 || f.Size != 64*ps+10 {
				t.Errorf("pages %d size %d, want 65 and %d", f.Pages, f.Size, 64*ps+10)
			}
			break
		}
		if try == 5 {
			t.Fatalf("pages kept disappearing between reading and measuring")
		}
	}

	// A page range: -p picks pages 4 to 21, and the runs keep file page
	// numbers. The pages are locked here, so nothing takes them.
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	pin, err := unix.Mmap(int(fh.Fd()), 0, int(64*ps), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(pin)
	unix.Madvise(pin, unix.MADV_RANDOM)
	for _, pg := range []int64{5, 6, 7, 20} {
		if err := unix.Mlock(pin[pg*ps : (pg+1)*ps]); err != nil {
			t.Fatal(err)
		}
	}
	r := jsonDoc(t, nil, 0, "resident", "--pages", "-p", fmt.Sprintf("%d-%d", 4*ps, 21*ps), p)
	f := r.Files[0]
	if f.Pages != 17 || *f.Resident != 4 || len(f.Ranges) != 2 || f.Ranges[0].Start != 5 || f.Ranges[1].Start != 20 {
		t.Errorf("-p 4..21 pages: %+v", f)
	}
}

// TestAgreesWithFincore compares per-file page counts with util-linux
// fincore over a tree of hundreds of files with random partial residency.
func TestAgreesWithFincore(t *testing.T) {
	dir := tempDir(t)
	rng := rand.New(rand.NewPCG(6, 2))
	var files []string
	for i := range 300 {
		sub := filepath.Join(dir, fmt.Sprintf("d%d", i%7), fmt.Sprintf("e%d", i%3))
		os.MkdirAll(sub, 0o755)
		p := filepath.Join(sub, fmt.Sprintf("f%03d", i))
		size := rng.Int64N(200 << 10)
		writeFile(t, p, size)
		dropCache(t, p)
		var pages []int64
		for pg := range (size + ps - 1) / ps {
			if rng.IntN(3) == 0 {
				pages = append(pages, pg)
			}
		}
		readPages(t, p, pages)
		files = append(files, p)
	}
	for _, method := range []string{"auto", "mincore"} {
		var d doc
		want := stableFincore(t, nil, files, func() { d = jsonDoc(t, nil, 0, "resident", "--method", method, dir) })
		if d.Summary.Files != 300 || d.Summary.Directories != 1+7+21 {
			t.Fatalf("%s: %d files in %d directories, want 300 in 29", method, d.Summary.Files, d.Summary.Directories)
		}
		got := d.residentOf()
		var total int64
		for _, f := range files {
			if got[f] != want[f] {
				t.Errorf("%s: %s: vmkit %d pages, fincore %d", method, f, got[f], want[f])
			}
			total += want[f]
		}
		if *d.Summary.Resident != total {
			t.Errorf("%s: summary resident %d, fincore total %d", method, *d.Summary.Resident, total)
		}
	}
}

// TestUnknownWhenTheKernelHides: as user nobody, a root-owned file's
// residency is "unknown", where mincore (and so fincore) claims every page.
func TestUnknownWhenTheKernelHides(t *testing.T) {
	nobody := unprivileged(t, 8<<20)
	dir := tempDir(t)
	hidden := filepath.Join(dir, "root-owned")
	writable := filepath.Join(dir, "root-owned-writable")
	owned := filepath.Join(dir, "nobody-owned")
	for _, p := range []string{hidden, writable, owned} {
		writeFile(t, p, 16*ps)
		dropCache(t, p)
	}
	os.Chmod(writable, 0o666)
	if err := os.Chown(owned, 65534, 65534); err != nil {
		t.Fatal(err)
	}

	// The lie this guards against: fincore, unprivileged, reports a file
	// that is not in the cache at all as fully resident.
	if lie := fincore(t, nobody, []string{hidden}); lie[hidden] != 16 {
		t.Logf("fincore as nobody says %d of 16 pages of an evicted root-owned file", lie[hidden])
	}
	for _, method := range []string{"auto", "mincore"} {
		d := jsonDoc(t, nobody, 0, "resident", "--method", method, hidden, writable, owned)
		got := d.residentOf()
		if got[hidden] != -1 {
			t.Errorf("%s: root-owned file: resident %d, want null (unknown)", method, got[hidden])
		}
		if got[writable] != 0 || got[owned] != 0 {
			t.Errorf("%s: writable %d, owned %d: want 0 (known, evicted)", method, got[writable], got[owned])
		}
		if d.Summary.Unknown != 1 || d.Summary.UnknownPages != 16 || d.Summary.Resident == nil || *d.Summary.Resident != 0 {
			t.Errorf("%s: summary %+v", method, d.Summary)
		}
	}
	r := vmkitRun(t, nobody, "resident", "-v", hidden)
	if r.code != 0 || !strings.Contains(r.stdout, "unknown/16") || strings.Contains(r.stdout, "100%") {
		t.Errorf("text output as nobody:\n%s%s", r.stdout, r.stderr)
	}
	d := jsonDoc(t, nobody, 0, "resident", hidden)
	if d.Summary.Resident != nil {
		t.Errorf("summary resident %d with every file unknown, want null", *d.Summary.Resident)
	}
}

// TestPathsThatCannotBeUsed: each bad path on the command line is reported
// once and skipped, the good one is measured, and the exit status is 1.
// Inside a tree, special files are counted and a symlink loop is survived.
func TestPathsThatCannotBeUsed(t *testing.T) {
	dir := tempDir(t)
	good := filepath.Join(dir, "good")
	writeFile(t, good, 3*ps)
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	bad := []string{missing, fifo, "/dev/null", "/proc/self/status", "/proc/self"}
	r := vmkit(t, append([]string{"resident", "--json", good}, bad...)...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	for _, p := range bad {
		if n := strings.Count(r.stderr, p+":"); n != 1 {
			t.Errorf("%s reported %d times on stderr:\n%s", p, n, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, `"path": "`+good+`"`) || !strings.Contains(r.stdout, `"errors": 5`) {
		t.Errorf("the good file is missing or errors are miscounted:\n%s", r.stdout)
	}

	// Inside a tree: a FIFO, a socket, a dangling link and a loop.
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	writeFile(t, filepath.Join(tree, "sub", "f"), ps)
	unix.Mkfifo(filepath.Join(tree, "fifo"), 0o644)
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sock)
	if err := unix.Bind(sock, &unix.SockaddrUnix{Name: filepath.Join(tree, "sock")}); err != nil {
		t.Fatal(err)
	}
	os.Symlink("..", filepath.Join(tree, "sub", "loop"))
	os.Symlink("sub/f", filepath.Join(tree, "link"))
	d := jsonDoc(t, nil, 0, "resident", tree)
	if d.Summary.Files != 1 || d.Summary.SkippedBy["special"] != 2 || d.Summary.SkippedBy["symlinks"] != 2 {
		t.Errorf("without -f: %+v", d.Summary)
	}
	d = jsonDoc(t, nil, 0, "resident", "-f", tree)
	// With -f: link is a second name of sub/f, which counts once (as
	// doc.go says of every device and inode), and loop leads back to tree.
	if d.Summary.SkippedBy["visited"] != 1 || d.Summary.Files != 1 || d.Summary.SkippedBy["symlinks"] != 1 {
		t.Errorf("with -f: %+v", d.Summary)
	}
}

func TestHardLinksCountOnce(t *testing.T) {
	dir := tempDir(t)
	a := filepath.Join(dir, "a")
	writeFile(t, a, 4*ps)
	os.Link(a, filepath.Join(dir, "b"))
	os.Link(a, filepath.Join(dir, "c"))
	d := jsonDoc(t, nil, 0, "resident", dir)
	if d.Summary.Files != 1 || d.Summary.Pages != 4 || d.Summary.SkippedBy["hard_links"] != 2 {
		t.Errorf("default: %+v", d.Summary)
	}
	d = jsonDoc(t, nil, 0, "resident", "-h", dir)
	if d.Summary.Files != 3 || d.Summary.Pages != 12 {
		t.Errorf("-h: %+v", d.Summary)
	}
}

func TestSelectionFlags(t *testing.T) {
	dir := tempDir(t)
	writeFile(t, filepath.Join(dir, "a.dat"), 8*ps)
	writeFile(t, filepath.Join(dir, "b.log"), 8*ps)
	writeFile(t, filepath.Join(dir, "big.dat"), 40*ps)
	os.MkdirAll(filepath.Join(dir, "skipme"), 0o755)
	writeFile(t, filepath.Join(dir, "skipme", "c.dat"), ps)
	list := filepath.Join(dir, "list")
	os.WriteFile(list, []byte(filepath.Join(dir, "a.dat")+"\x00"+filepath.Join(dir, "b.log")+"\x00"), 0o644)
	listNL := filepath.Join(dir, "list.nl")
	os.WriteFile(listNL, []byte(filepath.Join(dir, "a.dat")+"\n"+filepath.Join(dir, "b.log")+"\n"), 0o644)
	tests := map[string]struct {
		args         []string
		files, pages int64
	}{
		"all":             {[]string{dir}, 6, 8 + 8 + 40 + 1 + 2},
		"ignore":          {[]string{"-i", "*.log", "-i", "skipme", "-i", "list*", dir}, 2, 48},
		"include":         {[]string{"-I", "*.dat", dir}, 3, 49},
		"max size":        {[]string{"-m", "32k", "-I", "*.dat", dir}, 2, 9},
		"range":           {[]string{"-I", "big.dat", "-p", "10%-50%", dir}, 1, 16},
		"range from":      {[]string{"-I", "big.dat", "-p", "39-", dir}, 1, 40},
		"batch nul":       {[]string{"-b", list, "-0"}, 2, 16},
		"batch lines":     {[]string{"-b", listNL}, 2, 16},
		"combined shorts": {[]string{"-fF", "-I", "*.dat", dir}, 3, 49},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := jsonDoc(t, nil, 0, append([]string{"resident"}, tc.args...)...)
			if d.Summary.Files != tc.files || d.Summary.Pages != tc.pages {
				t.Errorf("files %d pages %d, want %d and %d", d.Summary.Files, d.Summary.Pages, tc.files, tc.pages)
			}
		})
	}
}

// TestLargeSparseAndTmpfs: a sparse file over 4 GiB and larger than RAM,
// and files on tmpfs.
func TestLargeSparseAndTmpfs(t *testing.T) {
	dir := tempDir(t)
	p := filepath.Join(dir, "sparse")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	const size = 32 << 30 // larger than the machine's RAM
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	off := int64(9<<29) + 3*ps // past 4 GiB
	f.WriteAt([]byte("x"), off)
	f.Close()
	d := jsonDoc(t, nil, 0, "resident", "--pages", p)
	fr := d.Files[0]
	if fr.Pages != size/ps || fr.Resident == nil || *fr.Resident != 1 || len(fr.Ranges) != 1 || fr.Ranges[0].Start != off/ps {
		t.Errorf("sparse 32 GiB file with one written page: %+v", fr)
	}

	if _, err := os.Stat("/dev/shm"); err != nil {
		t.Skip("no /dev/shm")
	}
	shm, err := os.MkdirTemp("/dev/shm", "vmkit-cli-")
	if err != nil {
		t.Skip(err)
	}
	defer os.RemoveAll(shm)
	sp := filepath.Join(shm, "f")
	writeFile(t, sp, 10*ps+1)
	var got doc
	want := stableFincore(t, nil, []string{sp}, func() { got = jsonDoc(t, nil, 0, "resident", "--pages", sp) })
	if r := got.Files[0].Resident; r == nil || *r != 11 || want[sp] != 11 {
		t.Errorf("tmpfs file: vmkit %v, fincore %d, want 11", r, want[sp])
	}
	// A tmpfs file's pages cannot be evicted, and the summary says why
	// they stayed: no process holds them.
	if r := vmkit(t, "evict", sp); r.code != 0 || !strings.Contains(r.stdout, "Stayed: 11 pages") || !strings.Contains(r.stdout, "tmpfs") {
		t.Errorf("evict of a tmpfs file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestFileChangingSize: a file grown and shrunk while it is scanned.
func TestFileChangingSize(t *testing.T) {
	dir := tempDir(t)
	p := filepath.Join(dir, "moving")
	writeFile(t, p, 100*ps)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			os.Truncate(p, int64(i%200)*ps/2)
		}
	}()
	for range 20 {
		for _, args := range [][]string{{"resident", "-v", p}, {"resident", "--pages", "--json", p}, {"touch", p}, {"evict", p}} {
			if r := vmkit(t, args...); r.code != 0 {
				close(stop)
				<-done
				t.Fatalf("vmkit %v: exit %d\n%s", args, r.code, r.stderr)
			}
		}
	}
	close(stop)
	<-done
}

// TestHugetlbfs: hugetlbfs has no cachestat and its mincore sees only the
// caller's page tables; its allocated blocks are the resident pages.
func TestHugetlbfs(t *testing.T) {
	dir := tempDir(t)
	mnt := filepath.Join(dir, "huge")
	os.Mkdir(mnt, 0o755)
	if err := unix.Mount("none", mnt, "hugetlbfs", 0, ""); err != nil {
		t.Skipf("cannot mount hugetlbfs: %v", err)
	}
	defer unix.Unmount(mnt, 0)
	p := filepath.Join(mnt, "f")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	hp := int64(2 << 20)
	if err := f.Truncate(2 * hp); err != nil {
		f.Close()
		t.Skipf("truncate on hugetlbfs: %v", err)
	}
	// Fault in one huge page, if the machine has one free.
	want := int64(0)
	if m, err := unix.Mmap(int(f.Fd()), 0, int(hp), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
		if unix.Madvise(m, unix.MADV_POPULATE_WRITE) == nil {
			want = hp / ps
		}
		unix.Munmap(m)
	}
	f.Close()
	for _, args := range [][]string{{"resident", p}, {"resident", "--pages", p}, {"resident", "--method", "mincore", p}} {
		d := jsonDoc(t, nil, 0, args...)
		if r := d.Files[0].Resident; r == nil || *r != want || d.Files[0].Pages != 2*hp/ps {
			t.Errorf("%v: resident %v of %d pages, want %d of %d", args, r, d.Files[0].Pages, want, 2*hp/ps)
		}
	}
	// -v draws the page map: with nothing resident it is empty; with a huge
	// page resident the count is known but not which pages, so the map is
	// drawn as unknown ('?') rather than invented. (Another package's test
	// may reserve huge pages while this one runs, so both cases occur.)
	v := vmkit(t, "resident", "-v", p)
	count := fmt.Sprintf("Resident Pages: %d/%d", want, 2*hp/ps)
	if v.code != 0 || strings.Contains(v.stdout, "?") != (want > 0) || !strings.Contains(v.stdout, count) {
		t.Errorf("-v on hugetlbfs with %d pages resident:\n%s%s", want, v.stdout, v.stderr)
	}
}

// TestDefaultPathAndTreeErrors: with no path resident measures ".", and an
// unreadable directory inside a tree is reported once while the rest is
// measured.
func TestDefaultPathAndTreeErrors(t *testing.T) {
	dir := tempDir(t)
	writeFile(t, filepath.Join(dir, "f"), 2*ps)
	locked := filepath.Join(dir, "private")
	os.Mkdir(locked, 0o700)
	writeFile(t, filepath.Join(locked, "g"), ps)
	cmd := exec.Command(vmkitBin, "resident", "--json")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), `"path": "./f"`) || !strings.Contains(string(out), `"files": 2`) {
		t.Errorf("vmkit resident in %s: %v\n%s", dir, err, out)
	}
	r := vmkitRun(t, unprivileged(t, 8<<20), "resident", "--json", dir)
	if r.code != 1 || strings.Count(r.stderr, locked) != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("as nobody: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, `"files": 1`) || !strings.Contains(r.stdout, `"errors": 1`) {
		t.Errorf("as nobody:\n%s", r.stdout)
	}
}

// TestBatchCRLF: a -b list with CRLF line ends (written on Windows, or by
// a tool that ends lines so) names its files without the '\r', for every
// walking command; a path that does not exist is reported under its name,
// with no '\r' hidden in the error. With -0 a '\r' is part of the name.
func TestBatchCRLF(t *testing.T) {
	dir := tempDir(t)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, a, 2*ps)
	writeFile(t, b, 3*ps)
	missing := filepath.Join(dir, "missing")
	list := filepath.Join(dir, "list")
	if err := os.WriteFile(list, []byte(a+"\r\n"+b+"\r\n"+missing+"\r\n\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"resident", "touch", "evict"} {
		t.Run(c, func(t *testing.T) {
			r := vmkit(t, c, "--json", "-b", list)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1 (one path missing); stderr %q", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, `"files": 2,`) || !strings.Contains(r.stdout, `"pages": 5,`) {
				t.Errorf("the two files of the list were not both measured:\n%s", r.stdout)
			}
			if strings.Contains(r.stderr, "\r") || !strings.Contains(r.stderr, missing+":") || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr %q: want one line naming %s, without a carriage return", r.stderr, missing)
			}
		})
	}
	t.Run("null", func(t *testing.T) {
		nul := filepath.Join(dir, "list0")
		os.WriteFile(nul, []byte(a+"\r\x00"), 0o644)
		r := vmkit(t, "resident", "-0", "-b", nul)
		if r.code != 1 || !strings.Contains(r.stderr, a+"\r") {
			t.Errorf("with -0 the '\\r' is part of the name: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// TestEmptyBatch: a -b list without paths (find found nothing) is no files
// for every walking command: not the working directory, not a usage error.
func TestEmptyBatch(t *testing.T) {
	dir := tempDir(t)
	empty := filepath.Join(dir, "empty-list")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"resident", "touch", "evict", "lock"} {
		t.Run(c, func(t *testing.T) {
			// The working directory (the package's) holds files: they
			// must not be measured.
			d := jsonDoc(t, nil, 0, c, "-b", empty)
			if d.Summary.Files != 0 || d.Summary.Directories != 0 || len(d.Files) != 0 {
				t.Errorf("an empty -b list gave %d files in %d directories", d.Summary.Files, d.Summary.Directories)
			}
		})
	}
}

// TestEvictWritesBackUncountedDirtyPages: dirty pages cannot be dropped
// until written. mincore cannot count them and, for a file the caller
// neither owns nor may write, cachestat will not: evict must write the file
// back anyway, or its freshly written pages stay.
func TestEvictWritesBackUncountedDirtyPages(t *testing.T) {
	nobody := unprivileged(t, 8<<20)
	dir := tempDir(t)
	tests := map[string]struct {
		prefix []string
		args   []string
	}{
		"mincore":          {nil, []string{"--method", "mincore"}},
		"hidden residency": {nobody, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
			writeFile(t, p, 16*ps) // dirty until written back
			r := vmkitRun(t, tc.prefix, append(append([]string{"evict"}, tc.args...), p)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := fincore(t, nil, []string{p})[p]; got != 0 {
				t.Errorf("fincore says %d dirty pages stayed after evict, want 0\n%s", got, r.stdout)
			}
		})
	}
}

// TestEvictWhenTheKernelHides: as user nobody, evict drops a root-owned
// file's pages but cannot count them: it says "unknown", not "0 pages".
func TestEvictWhenTheKernelHides(t *testing.T) {
	nobody := unprivileged(t, 8<<20)
	dir := tempDir(t)
	hidden := filepath.Join(dir, "root-owned")
	writeFile(t, hidden, 16*ps)
	r := vmkitRun(t, nobody, "evict", hidden)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "Evicted: unknown") || strings.Contains(r.stdout, "Evicted: 0") {
		t.Errorf("evict of a file whose residency is hidden:\n%s", r.stdout)
	}
}

// TestOutputWriteErrors: output that cannot be written (a full disk) is an
// error on stderr and exit status 1, for text as for JSON.
func TestOutputWriteErrors(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer full.Close()
	dir := tempDir(t)
	writeFile(t, filepath.Join(dir, "f"), ps)
	tests := map[string][]string{
		"help":          nil,
		"resident":      {"resident", dir},
		"resident json": {"resident", "--json", dir},
		"evict":         {"evict", dir},
		"maps":          {"maps"},
		"status":        {"status"},
		"report":        {"report"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(vmkitBin, args...)
			cmd.Stdout = full
			var errb strings.Builder
			cmd.Stderr = &errb
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Errorf("exit %v, want status 1", err)
			}
			if !strings.Contains(errb.String(), "no space left on device") || strings.Count(errb.String(), "\n") != 1 {
				t.Errorf("stderr %q, want one line with the write error", errb.String())
			}
		})
	}
}
