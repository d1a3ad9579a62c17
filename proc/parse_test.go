//go:build !386 && !arm && !mips && !mipsle

package proc_test

// Tests of the parsers on real text captured from Linux 6.18 (see
// testdata/capture.c for how) and on hand-made edge cases. They run on every
// GOOS.

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vmkit/vmkit/proc"
)

func parseFile(t testing.TB, name string) []proc.Region {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := proc.ParseSmaps(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("ParseSmaps(%s): %v", name, err)
	}
	return rs
}

// oracle reads smaps text the simple way, independently of the parser: the
// header lines, and the sum of each "Key: N kB" line over the whole file.
func oracle(t *testing.T, name string) (headers []string, sums map[string]int64) {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums = make(map[string]int64)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			headers = append(headers, sc.Text())
			continue
		}
		if len(fields) == 3 && fields[2] == "kB" {
			n, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			sums[strings.TrimSuffix(fields[0], ":")] += n * 1024
		}
	}
	return headers, sums
}

func kinds(rs []proc.Region) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(r.Kind.String())
	}
	return b.String()
}

// TestParseSmapsKinds checks the classification of every region of three
// captured address spaces against a list written by reading the headers.
func TestParseSmapsKinds(t *testing.T) {
	tests := map[string]struct {
		file string
		want string // one kind per region, in order
	}{
		"C program with threads, shm and files": {
			file: "c-program.smaps",
			want: "rodata text rodata rodata data bss heap " + // the PIE executable, its bss, the break
				"anonymous anonymous guard file file file guard anonymous anonymous " + // mmaps, thread guard+stack
				"rodata text rodata rodata data bss " + // libc and its bss
				"shm shm shm shm anonymous vvar vvar vdso " + // /dev/zero, /dev/shm, SysV, memfd
				"rodata text rodata rodata data stack vsyscall", // ld.so
		},
		"bash": {
			file: "bash.smaps",
			want: "rodata text rodata rodata data bss heap " +
				"file file file file file file file file file file anonymous " + // locales
				"rodata text rodata rodata data bss " + // libc
				"rodata text rodata rodata data " + // libtinfo: no bss mapping
				"file file file anonymous vvar vvar vdso " +
				"rodata text rodata rodata data stack vsyscall",
		},
		"static Go program": {
			file: "go-static.smaps",
			want: "text rodata data bss " + // non-PIE at 0x400000: no read-only header mapping
				"guard anonymous guard " + // the heap arena hint region, partly mapped in
				"anonymous anonymous guard anonymous guard anonymous guard anonymous guard anonymous guard " +
				"anonymous anonymous anonymous guard anonymous guard anonymous " +
				"vvar vvar vdso stack vsyscall",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			rs := parseFile(t, tt.file)
			headers, _ := oracle(t, tt.file)
			if len(rs) != len(headers) {
				t.Fatalf("got %d regions, the file has %d headers", len(rs), len(headers))
			}
			got := strings.Fields(kinds(rs))
			want := strings.Fields(tt.want)
			if len(got) != len(want) {
				t.Fatalf("got %d kinds, the test lists %d:\n got %s", len(got), len(want), kinds(rs))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("region %d %q: kind %s, want %s", i, headers[i], got[i], want[i])
				}
			}
		})
	}
}

// TestParseSmapsHeaders checks every header field of selected regions.
func TestParseSmapsHeaders(t *testing.T) {
	rs := parseFile(t, "c-program.smaps")
	tests := map[string]struct {
		start   uintptr
		want    proc.Region // header fields and Kind only
		perms   string
		dev     string
		flags   []string // must all be present
		noFlags []string // must all be absent
	}{
		"executable text": {
			start: 0x55affdcf9000,
			want: proc.Region{End: 0x55affdcfa000, Offset: 0x1000, Dev: proc.Dev{Major: 0xfe, Minor: 0},
				Inode: 9978318, Path: "/tmp/vmkit-capture/capture", Kind: proc.KindText},
			perms: "r-xp", dev: "fe:00", flags: []string{"rd", "ex"}, noFlags: []string{"wr"},
		},
		"path with blanks and parentheses": {
			start: 0x7fbf78ad4000,
			want: proc.Region{End: 0x7fbf78ad6000, Dev: proc.Dev{Major: 0xfe}, Inode: 9978312,
				Path: "/tmp/vmkit-capture/with space (and) paren", Kind: proc.KindFile},
			perms: "rw-s", dev: "fe:00", flags: []string{"sh"},
		},
		"path with a blank after a slash": {
			start: 0x7fbf78ad2000,
			want: proc.Region{End: 0x7fbf78ad4000, Dev: proc.Dev{Major: 0xfe}, Inode: 9978314,
				Path: "/tmp/vmkit-capture/ leading space", Kind: proc.KindFile},
			perms: "rw-p", dev: "fe:00",
		},
		"deleted file": {
			start: 0x7fbf78ad0000,
			want: proc.Region{End: 0x7fbf78ad2000, Dev: proc.Dev{Major: 0xfe}, Inode: 9978315,
				Path: "/tmp/vmkit-capture/deleted file", Deleted: true, Kind: proc.KindFile},
			perms: "rw-s", dev: "fe:00",
		},
		"SysV segment": {
			start: 0x7fbf794c2000,
			want: proc.Region{End: 0x7fbf794c4000, Dev: proc.Dev{Minor: 1}, Inode: 1,
				Path: "/SYSV00000000", Deleted: true, Kind: proc.KindShm},
			perms: "rw-s", dev: "00:01",
		},
		"memfd": {
			start: 0x7fbf794c4000,
			want: proc.Region{End: 0x7fbf794c5000, Dev: proc.Dev{Minor: 1}, Inode: 1028,
				Path: "/memfd:vmkit test", Deleted: true, Kind: proc.KindShm},
			perms: "rw-s", dev: "00:01",
		},
		"locked, not dumped": {
			start: 0x7fbf789c0000,
			want:  proc.Region{End: 0x7fbf789d0000, Kind: proc.KindAnonymous},
			perms: "rw-p", dev: "00:00", flags: []string{"lo", "dd", "ac"}, noFlags: []string{"wf", "dc"},
		},
		"wiped on fork, not forked": {
			start: 0x7fbf789be000,
			want:  proc.Region{End: 0x7fbf789c0000, Kind: proc.KindAnonymous},
			perms: "rw-p", dev: "00:00", flags: []string{"wf", "dc"}, noFlags: []string{"lo", "dd"},
		},
		"PROT_NONE reservation": {
			start: 0x7fbf789d0000,
			want:  proc.Region{End: 0x7fbf78ad0000, Kind: proc.KindGuard},
			perms: "---p", dev: "00:00", noFlags: []string{"rd", "wr", "ex"},
		},
		"vsyscall": {
			start: 0xffffffffff600000,
			want:  proc.Region{End: 0xffffffffff601000, Path: "[vsyscall]", Kind: proc.KindVsyscall},
			perms: "--xp", dev: "00:00",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r, ok := proc.Find(rs, tt.start)
			if !ok {
				t.Fatalf("no region at %#x", tt.start)
			}
			if r.Start != tt.start {
				t.Errorf("Start = %#x, want %#x", r.Start, tt.start)
			}
			got := proc.Region{End: r.End, Offset: r.Offset, Dev: r.Dev, Inode: r.Inode,
				Path: r.Path, Deleted: r.Deleted, Kind: r.Kind}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if s := r.Perms.String(); s != tt.perms {
				t.Errorf("Perms = %s, want %s", s, tt.perms)
			}
			if s := r.Dev.String(); s != tt.dev {
				t.Errorf("Dev = %s, want %s", s, tt.dev)
			}
			for _, f := range tt.flags {
				if !r.HasFlag(f) {
					t.Errorf("VmFlags %v lack %q", r.VmFlags, f)
				}
			}
			for _, f := range tt.noFlags {
				if r.HasFlag(f) {
					t.Errorf("VmFlags %v hold %q", r.VmFlags, f)
				}
			}
		})
	}
}

// TestParseSmapsCounters checks the counters of one region against the text
// and the sums over a file against the independent oracle.
func TestParseSmapsCounters(t *testing.T) {
	rs := parseFile(t, "c-program.smaps")
	r, _ := proc.Find(rs, 0x7fbf789c0000)
	const k64 = 64 << 10
	want := proc.Usage{Size: k64, Rss: k64, Pss: k64, PssDirty: k64, PrivateDirty: k64,
		Referenced: k64, Anonymous: k64, Locked: k64}
	if r.Usage != want {
		t.Errorf("locked region:\n got  %+v\nwant %+v", r.Usage, want)
	}
	if r.KernelPageSize != 4096 || r.MMUPageSize != 4096 {
		t.Errorf("page sizes %d, %d; want 4096", r.KernelPageSize, r.MMUPageSize)
	}
	if want := []string{"rd", "wr", "mr", "mw", "me", "lo", "ac", "dd"}; !slices.Equal(r.VmFlags, want) {
		t.Errorf("VmFlags = %q, want %q", r.VmFlags, want)
	}

	for _, file := range []string{"c-program.smaps", "bash.smaps", "go-static.smaps"} {
		t.Run(file, func(t *testing.T) {
			rs := parseFile(t, file)
			_, sums := oracle(t, file)
			tot := proc.Total(rs)
			for key, got := range map[string]int64{
				"Size": tot.Size, "Rss": tot.Rss, "Pss": tot.Pss, "Pss_Dirty": tot.PssDirty,
				"Shared_Clean": tot.SharedClean, "Shared_Dirty": tot.SharedDirty,
				"Private_Clean": tot.PrivateClean, "Private_Dirty": tot.PrivateDirty,
				"Referenced": tot.Referenced, "Anonymous": tot.Anonymous, "Swap": tot.Swap,
				"SwapPss": tot.SwapPss, "Locked": tot.Locked, "AnonHugePages": tot.AnonHugePages,
			} {
				if got != sums[key] {
					t.Errorf("Total %s = %d, the file sums to %d", key, got, sums[key])
				}
			}
			if tot.Rss != tot.SharedClean+tot.SharedDirty+tot.PrivateClean+tot.PrivateDirty {
				t.Errorf("Rss %d is not the sum of shared and private pages", tot.Rss)
			}
			for _, r := range rs {
				if int64(r.Len()) != r.Size {
					t.Errorf("%#x: Size %d, End-Start %d", r.Start, r.Size, r.Len())
				}
			}
			byKind := proc.ByKind(rs)
			var sum proc.Usage
			for _, u := range byKind {
				sum.Add(u)
			}
			if sum != tot {
				t.Errorf("ByKind sums to %+v, Total is %+v", sum, tot)
			}
		})
	}
}

// TestUsageAddCoversEveryField fails when a counter is added to Usage but
// not to Add.
func TestUsageAddCoversEveryField(t *testing.T) {
	var a, b proc.Usage
	va, vb := reflect.ValueOf(&a).Elem(), reflect.ValueOf(&b).Elem()
	for i := range va.NumField() {
		va.Field(i).SetInt(int64(i + 1))
		vb.Field(i).SetInt(int64(100 * (i + 1)))
	}
	a.Add(b)
	for i := range va.NumField() {
		if got, want := va.Field(i).Int(), int64(101*(i+1)); got != want {
			t.Errorf("Add: %s = %d, want %d", va.Type().Field(i).Name, got, want)
		}
	}
	if d := b.Dirty(); d != b.SharedDirty+b.PrivateDirty {
		t.Errorf("Dirty = %d", d)
	}
}

const header = "7f0000000000-7f0000010000 rw-p 00000000 00:00 0 \n"

// TestParseSmapsEdges feeds hand-made text, valid and invalid.
func TestParseSmapsEdges(t *testing.T) {
	tests := map[string]struct {
		text    string
		wantErr bool
		check   func(t *testing.T, rs []proc.Region)
	}{
		"empty": {text: "", check: func(t *testing.T, rs []proc.Region) {
			if len(rs) != 0 {
				t.Errorf("%d regions", len(rs))
			}
		}},
		"maps format (headers only)": {
			text: "00400000-004ab000 r-xp 00000000 fe:00 9978272    /x/y\n" +
				"004ab000-0058e000 rw-p 000ab000 fe:00 9978272    /x/y\n",
			check: func(t *testing.T, rs []proc.Region) {
				if len(rs) != 2 || rs[0].Kind != proc.KindText || rs[1].Kind != proc.KindData {
					t.Errorf("got %s", kinds(rs))
				}
			}},
		"unknown keys ignored, even with odd values": {
			text: header + "Size: 64 kB\nFutureKey:   7 MB\nAnother_New: yes\nRss: 8 kB\nVmFlags: rd wr zz\n",
			check: func(t *testing.T, rs []proc.Region) {
				if rs[0].Size != 64<<10 || rs[0].Rss != 8<<10 {
					t.Errorf("Size %d Rss %d", rs[0].Size, rs[0].Rss)
				}
				if !slices.Equal(rs[0].VmFlags, []string{"rd", "wr", "zz"}) {
					t.Errorf("VmFlags %q", rs[0].VmFlags)
				}
			}},
		"trailing blanks of a path kept": {
			text: "7f0000000000-7f0000010000 r--s 00000000 fe:00 12 /tmp/a b  \n",
			check: func(t *testing.T, rs []proc.Region) {
				if rs[0].Path != "/tmp/a b  " {
					t.Errorf("Path %q", rs[0].Path)
				}
			}},
		"header longer than the padding column": {
			text: "7f0000000000-7f0000010000 r--s 00000000 103:1234 18446744073709551615 /p\n",
			check: func(t *testing.T, rs []proc.Region) {
				r := rs[0]
				if r.Path != "/p" || r.Inode != 1<<64-1 || r.Dev != (proc.Dev{Major: 0x103, Minor: 0x1234}) {
					t.Errorf("%+v", r)
				}
			}},
		"CRLF kept in the path": {
			text: "7f0000000000-7f0000010000 r--p 00000000 fe:00 1 /a\r\n",
			check: func(t *testing.T, rs []proc.Region) {
				if rs[0].Path != "/a\r" {
					t.Errorf("Path %q", rs[0].Path)
				}
			}},
		"only (deleted)": {
			text: "7f0000000000-7f0000010000 rw-s 00000000 00:01 5 /dev/zero (deleted)\n",
			check: func(t *testing.T, rs []proc.Region) {
				if rs[0].Path != "/dev/zero" || !rs[0].Deleted || rs[0].Kind != proc.KindShm {
					t.Errorf("%+v", rs[0])
				}
			}},
		"named anonymous memory": {
			text: "7f0000000000-7f0000010000 rw-p 00000000 00:00 0  [anon:go heap]\n" +
				"7f0000010000-7f0000020000 rw-s 00000000 00:01 7  [anon_shmem:x]\n" +
				"7f0000020000-7f0000021000 r-xp 00000000 00:00 0  [uprobes]\n" +
				"7f0000030000-7f0000031000 rw-p 00000000 00:00 0  [stack:42]\n",
			check: func(t *testing.T, rs []proc.Region) {
				if got := kinds(rs); got != "anonymous shm other stack" {
					t.Errorf("kinds %s", got)
				}
			}},
		"bss needs adjacency": {
			text: "00400000-00401000 r-xp 00000000 fe:00 1 /bin/x\n" +
				"00401000-00402000 rw-p 00001000 fe:00 1 /bin/x\n" +
				"00403000-00404000 rw-p 00000000 00:00 0\n",
			check: func(t *testing.T, rs []proc.Region) {
				if got := kinds(rs); got != "text data anonymous" {
					t.Errorf("kinds %s", got)
				}
			}},
		"writable file without code is a file": {
			text: "00401000-00402000 rw-p 00001000 fe:00 1 /data/x\n" +
				"00402000-00403000 rw-p 00000000 00:00 0\n",
			check: func(t *testing.T, rs []proc.Region) {
				if got := kinds(rs); got != "file anonymous" {
					t.Errorf("kinds %s", got)
				}
			}},
		"same path, other inode, is another object": {
			text: "00400000-00401000 r-xp 00000000 fe:00 1 /bin/x\n" +
				"00401000-00402000 rw-p 00001000 fe:00 2 /bin/x\n",
			check: func(t *testing.T, rs []proc.Region) {
				if got := kinds(rs); got != "text file" {
					t.Errorf("kinds %s", got)
				}
			}},
		"blank lines skipped": {text: "\n" + header + "\n\nRss: 4 kB\n", check: func(t *testing.T, rs []proc.Region) {
			if len(rs) != 1 || rs[0].Rss != 4096 {
				t.Errorf("%+v", rs)
			}
		}},
		"key before any mapping":   {text: "Rss: 4 kB\n" + header, wantErr: true},
		"bad start":                {text: "7g00-7f01 rw-p 00000000 00:00 0\n", wantErr: true},
		"start after end":          {text: "7f02-7f01 rw-p 00000000 00:00 0\n", wantErr: true},
		"address too long":         {text: "10000000000000000-10000000000000001 rw-p 0 00:00 0\n", wantErr: true},
		"bad perms":                {text: "7f00-7f01 rw-q 00000000 00:00 0\n", wantErr: true},
		"short perms":              {text: "7f00-7f01 rw 00000000 00:00 0\n", wantErr: true},
		"bad device":               {text: "7f00-7f01 rw-p 00000000 0000 0\n", wantErr: true},
		"bad inode":                {text: "7f00-7f01 rw-p 00000000 00:00 -1\n", wantErr: true},
		"truncated header":         {text: "7f00-7f01 rw-p\n", wantErr: true},
		"bad size":                 {text: header + "Rss: x kB\n", wantErr: true},
		"size without unit":        {text: header + "Rss: 12\n", wantErr: true},
		"size overflows":           {text: header + "Rss: 99999999999999999 kB\n", wantErr: true},
		"garbage line":             {text: header + "what is this\n", wantErr: true},
		"bad THPeligible":          {text: header + "THPeligible: maybe\n", wantErr: true},
		"negative protection key":  {text: header + "ProtectionKey: -1\n", wantErr: true},
		"line beyond 1 MiB":        {text: header + "X: " + strings.Repeat("y", 1<<20) + "\n", wantErr: true},
		"key without name":         {text: header + ": 4 kB\n", wantErr: true},
		"upper-case hex is no key": {text: "ABC-DEF rw-p 0 00:00 0\n", wantErr: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			rs, err := proc.ParseSmaps(strings.NewReader(tt.text))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error; got %+v", rs)
				}
				var se *proc.SyntaxError
				if !errors.As(err, &se) && !strings.Contains(err.Error(), "too long") {
					t.Errorf("error %v is not a *SyntaxError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, rs)
		})
	}
}

// TestVmFlagsAreNotShared checks that appending to one region's VmFlags
// cannot overwrite the next region's, although they share a backing array.
func TestVmFlagsAreNotShared(t *testing.T) {
	rs := parseFile(t, "c-program.smaps")
	next := slices.Clone(rs[1].VmFlags)
	_ = append(rs[0].VmFlags, "XX", "YY", "ZZ")
	if !slices.Equal(rs[1].VmFlags, next) {
		t.Fatalf("appending to region 0's flags changed region 1's: %q, was %q", rs[1].VmFlags, next)
	}
}

func TestKindString(t *testing.T) {
	seen := map[string]proc.Kind{}
	for _, k := range proc.Kinds() {
		s := k.String()
		if s == "" || strings.HasPrefix(s, "Kind(") {
			t.Errorf("Kind %d has no name", k)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("Kinds %d and %d are both %q", prev, k, s)
		}
		seen[s] = k
	}
	for _, s := range []string{"text", "rodata", "data", "bss", "heap", "stack", "vdso", "vvar",
		"vsyscall", "anonymous", "file", "shm", "guard", "other"} {
		if _, ok := seen[s]; !ok {
			t.Errorf("no Kind is named %q", s)
		}
	}
	if s := proc.Kind(200).String(); s != "Kind(200)" {
		t.Errorf("Kind(200).String() = %q", s)
	}
	for k, want := range map[proc.Kind]string{proc.KindText: "text", proc.KindROData: "text",
		proc.KindBSS: "data", proc.KindHeap: "data", proc.KindStack: "stack", proc.KindFile: ""} {
		if got := k.Segment(); got != want {
			t.Errorf("%s.Segment() = %q, want %q", k, got, want)
		}
	}
}

func TestPermsString(t *testing.T) {
	tests := map[string]proc.Perms{
		"---p": {},
		"r--p": {Read: true},
		"rw-p": {Read: true, Write: true},
		"r-xp": {Read: true, Exec: true},
		"rwxs": {Read: true, Write: true, Exec: true, Shared: true},
		"--xp": {Exec: true},
	}
	for want, p := range tests {
		if got := p.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", p, got, want)
		}
		if p.None() != (want == "---p") {
			t.Errorf("%+v.None() = %v", p, p.None())
		}
	}
}

func TestFind(t *testing.T) {
	rs := parseFile(t, "go-static.smaps")
	tests := map[string]struct {
		addr uintptr
		ok   bool
		kind proc.Kind
	}{
		"first byte of text":   {0x400000, true, proc.KindText},
		"last byte of text":    {0x4aafff, true, proc.KindText},
		"first byte of rodata": {0x4ab000, true, proc.KindROData},
		"in bss":               {0x5a0000, true, proc.KindBSS},
		"below everything":     {0x1000, false, 0},
		"gap after bss":        {0x5cf000, false, 0},
		"gap between mappings": {0x7fe501c05000, false, 0},
		"vsyscall":             {0xffffffffff600800, true, proc.KindVsyscall},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r, ok := proc.Find(rs, tt.addr)
			if ok != tt.ok || (ok && (r.Kind != tt.kind || !r.Contains(tt.addr))) {
				t.Errorf("Find(%#x) = %s [%#x,%#x) %v", tt.addr, r.Kind, r.Start, r.End, ok)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	real, err := os.ReadFile("testdata/stat-paren.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		line    string
		want    proc.Stat
		wantErr bool
	}{
		"comm with blanks and parentheses": {line: string(real), want: proc.Stat{
			Pid: 3791, Comm: "a) b (c)", State: 'S', PPid: 3744, MinFlt: 134, NumThreads: 1,
			StartTime: 34043, VSize: 2990080, RssPages: 424}},
		"comm that looks like fields": {
			line: "7 (x) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22) S 1 0 0 0 -1 0 11 12 13 14 3 4 0 0 20 0 5 0 99 4096 3\n",
			want: proc.Stat{Pid: 7, Comm: "x) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22",
				State: 'S', PPid: 1, MinFlt: 11, CMinFlt: 12, MajFlt: 13, CMajFlt: 14, UTime: 3, STime: 4,
				NumThreads: 5, StartTime: 99, VSize: 4096, RssPages: 3}},
		"empty comm":      {line: "1 () S 0 0 0 0 -1 0 1 2 3 4 5 6 0 0 20 0 1 0 9 8 7", want: proc.Stat{Pid: 1, State: 'S', MinFlt: 1, CMinFlt: 2, MajFlt: 3, CMajFlt: 4, UTime: 5, STime: 6, NumThreads: 1, StartTime: 9, VSize: 8, RssPages: 7}},
		"no parentheses":  {line: "1 init S 0", wantErr: true},
		"too few fields":  {line: "1 (init) S 0 0 0", wantErr: true},
		"bad pid":         {line: "x (init) S 0 0 0 0 -1 0 1 2 3 4 5 6 0 0 20 0 1 0 9 8 7", wantErr: true},
		"bad fault count": {line: "1 (init) S 0 0 0 0 -1 0 z 2 3 4 5 6 0 0 20 0 1 0 9 8 7", wantErr: true},
		"long state":      {line: "1 (init) SS 0 0 0 0 -1 0 1 2 3 4 5 6 0 0 20 0 1 0 9 8 7", wantErr: true},
		"close before open": {line: "1 )init( S 0 0 0 0 -1 0 1 2 3 4 5 6 0 0 20 0 1 0 9 8 7",
			wantErr: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := proc.ParseStat([]byte(tt.line))
			if tt.wantErr {
				var se *proc.SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("err = %v, want a *SyntaxError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	// A status file from before Linux 4.5: no RssAnon, RssFile, RssShmem,
	// HugetlbPages, VmPin.
	old := "Name:\tmy prog\nState:\tS (sleeping)\nPid:\t42\nPPid:\t1\n" +
		"VmPeak:\t  2048 kB\nVmSize:\t  1024 kB\nVmLck:\t     8 kB\nVmHWM:\t   512 kB\n" +
		"VmRSS:\t   256 kB\nVmData:\t   128 kB\nVmStk:\t   132 kB\nVmExe:\t     4 kB\n" +
		"VmLib:\t  1000 kB\nVmPTE:\t    40 kB\nVmSwap:\t     0 kB\nThreads:\t3\nSigQ:\t0/3000\n"
	tests := map[string]struct {
		text    string
		want    proc.ProcessStatus
		wantErr bool
	}{
		"old kernel": {text: old, want: proc.ProcessStatus{Name: "my prog", State: "S (sleeping)",
			Pid: 42, PPid: 1, Threads: 3, VmPeak: 2048 << 10, VmSize: 1024 << 10, VmLck: 8 << 10,
			VmHWM: 512 << 10, VmRSS: 256 << 10, VmData: 128 << 10, VmStk: 132 << 10, VmExe: 4 << 10,
			VmLib: 1000 << 10, VmPTE: 40 << 10}},
		"kernel thread": {text: "Name:\tkthreadd\nPid:\t2\nThreads:\t1\n",
			want: proc.ProcessStatus{Name: "kthreadd", Pid: 2, Threads: 1}},
		"bad size": {text: "VmRSS:\tlots kB\n", wantErr: true},
		"bad pid":  {text: "Pid:\tme\n", wantErr: true},
		// Sizes are bytes in an int64: these wrapped to negative and
		// zero byte counts before.
		"size overflows":  {text: "VmSize:\t9007199254740992 kB\n", wantErr: true},
		"size wraps to 0": {text: "VmLck:\t18014398509481984 kB\n", wantErr: true},
		"negative size":   {text: "VmRSS:\t-4 kB\n", wantErr: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := proc.ParseStatus(strings.NewReader(tt.text))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Fields["Name"] != got.Name || (tt.text == old && got.Fields["SigQ"] != "0/3000") {
				t.Errorf("Fields = %q", got.Fields)
			}
			got.Fields = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// FuzzParseSmaps checks that no input makes the parser panic, and that what
// it accepts is consistent.
func FuzzParseSmaps(f *testing.F) {
	for _, name := range []string{"c-program.smaps", "bash.smaps", "go-static.smaps"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 4000)])
	}
	f.Add([]byte(header + "Rss: 4 kB\nVmFlags: rd wr\n"))
	f.Add([]byte("00400000-00401000 r-xp 00000000 fe:00 1 /bin/x (deleted)\n00401000-00402000 rw-p 0 fe:00 1 /bin/x\n00402000-00403000 rw-p 0 00:00 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := proc.ParseSmaps(bytes.NewReader(data))
		if err != nil {
			if rs != nil {
				t.Fatalf("regions and an error")
			}
			return
		}
		for i, r := range rs {
			if r.Start > r.End {
				t.Fatalf("region %d: Start %#x > End %#x", i, r.Start, r.End)
			}
			if s := r.Kind.String(); strings.HasPrefix(s, "Kind(") {
				t.Fatalf("region %d: unknown kind %s", i, s)
			}
			if len(r.Perms.String()) != 4 {
				t.Fatalf("region %d: perms %q", i, r.Perms)
			}
			if r.Size < 0 || r.Rss < 0 || r.Locked < 0 {
				t.Fatalf("region %d: negative counter %+v", i, r.Usage)
			}
			if r.Kind == proc.KindBSS && (i == 0 || rs[i-1].Kind != proc.KindData || rs[i-1].End != r.Start) {
				t.Fatalf("region %d: bss not after data", i)
			}
		}
		_ = proc.Total(rs)
	})
}

// FuzzParseStat checks that no input makes ParseStat panic.
func FuzzParseStat(f *testing.F) {
	real, err := os.ReadFile("testdata/stat-paren.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add([]byte("1 () S 0 0 0 0 -1 0 1 2 3 4 5 6 0 0 20 0 1 0 9 8 7"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := proc.ParseStat(data)
		if err == nil && strings.Count(string(data), "(") == 0 {
			t.Fatalf("accepted a line with no comm: %+v", s)
		}
	})
}

func BenchmarkParseSmaps(b *testing.B) {
	data, err := os.ReadFile("testdata/c-program.smaps")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := proc.ParseSmaps(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
