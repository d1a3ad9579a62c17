package proc

// The smaps parser and the region classification. The format and the rules
// are described in doc.go.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"
)

// maxLine bounds one smaps line: a header with a PATH_MAX path fits many times.
const maxLine = 1 << 20

// SyntaxError reports a line that ParseSmaps or ParseStat cannot read.
type SyntaxError struct {
	// File is "smaps" or "stat".
	File string
	// Line is the 1-based line number.
	Line int
	// Msg says what is wrong.
	Msg string
	// Text is the offending line, cut to 120 bytes.
	Text string
}

// Error reads like `proc: smaps line 3: bad start address: "zz-10 ..."`.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("proc: %s line %d: %s: %q", e.File, e.Line, e.Msg, e.Text)
}

// ParseSmaps parses text in the format of /proc/PID/smaps (or smaps_rollup,
// or /proc/PID/maps, whose lines are the headers alone) and classifies each
// region. Keys it does not know are ignored; a malformed header or a bad
// value for a known key is a *SyntaxError. Regions are returned in the order
// of the text, which the kernel sorts by address.
func ParseSmaps(r io.Reader) ([]Region, error) {
	return parseSmaps(r, nil)
}

// parseSmaps is ParseSmaps with a caller-supplied scanner buffer.
func parseSmaps(r io.Reader, buf []byte) ([]Region, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(buf, maxLine)
	sc.Split(scanLines)
	p := parser{regions: make([]Region, 0, 64)}
	for sc.Scan() {
		p.lineNo++
		if err := p.line(sc.Bytes()); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("proc: reading smaps: %w", err)
	}
	classify(p.regions)
	return p.regions, nil
}

// scanLines is bufio.ScanLines without the removal of a trailing '\r', which
// may belong to a path.
func scanLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

type parser struct {
	regions []Region
	lineNo  int
	// lastPath is the Path of the previous region with one, reused when
	// the next region maps the same object.
	lastPath string
	// flags backs the VmFlags of many regions; each region gets a
	// full-capacity-limited window of it.
	flags []string
}

func (p *parser) errorf(line []byte, format string, args ...any) error {
	if len(line) > 120 {
		line = line[:120]
	}
	return &SyntaxError{File: "smaps", Line: p.lineNo, Msg: fmt.Sprintf(format, args...), Text: string(line)}
}

func (p *parser) line(line []byte) error {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	if isHeader(line) {
		p.regions = append(p.regions, Region{})
		return p.header(line, &p.regions[len(p.regions)-1])
	}
	key, val, ok := bytes.Cut(line, []byte{':'})
	if !ok || len(key) == 0 {
		return p.errorf(line, "neither a mapping nor a key: value line")
	}
	if len(p.regions) == 0 {
		return p.errorf(line, "%s before the first mapping", key)
	}
	r := &p.regions[len(p.regions)-1]
	val = bytes.Trim(val, " \t")
	switch string(key) {
	case "VmFlags":
		p.vmFlags(r, val)
		return nil
	case "THPeligible":
		n, ok := parseDec(val)
		if !ok {
			return p.errorf(line, "bad THPeligible")
		}
		r.THPEligible = n != 0
		return nil
	case "ProtectionKey":
		n, ok := parseDec(val)
		if !ok || n > math.MaxInt32 {
			return p.errorf(line, "bad ProtectionKey")
		}
		r.ProtectionKey = int(n)
		return nil
	case "KernelPageSize", "MMUPageSize":
		n, ok := parseKB(val)
		if !ok {
			return p.errorf(line, "bad %s", key)
		}
		if key[0] == 'K' {
			r.KernelPageSize = n
		} else {
			r.MMUPageSize = n
		}
		return nil
	}
	f := r.Usage.field(key)
	if f == nil {
		return nil // a key this version does not know
	}
	n, ok := parseKB(val)
	if !ok {
		return p.errorf(line, "bad %s size", key)
	}
	*f = n
	return nil
}

// field returns the counter that the smaps key names, or nil.
func (u *Usage) field(key []byte) *int64 {
	switch string(key) {
	case "Size":
		return &u.Size
	case "Rss":
		return &u.Rss
	case "Pss":
		return &u.Pss
	case "Pss_Dirty":
		return &u.PssDirty
	case "Pss_Anon":
		return &u.PssAnon
	case "Pss_File":
		return &u.PssFile
	case "Pss_Shmem":
		return &u.PssShmem
	case "Shared_Clean":
		return &u.SharedClean
	case "Shared_Dirty":
		return &u.SharedDirty
	case "Private_Clean":
		return &u.PrivateClean
	case "Private_Dirty":
		return &u.PrivateDirty
	case "Referenced":
		return &u.Referenced
	case "Anonymous":
		return &u.Anonymous
	case "KSM":
		return &u.KSM
	case "LazyFree":
		return &u.LazyFree
	case "AnonHugePages":
		return &u.AnonHugePages
	case "ShmemPmdMapped":
		return &u.ShmemPmdMapped
	case "FilePmdMapped":
		return &u.FilePmdMapped
	case "Shared_Hugetlb":
		return &u.SharedHugetlb
	case "Private_Hugetlb":
		return &u.PrivateHugetlb
	case "Swap":
		return &u.Swap
	case "SwapPss":
		return &u.SwapPss
	case "Locked":
		return &u.Locked
	}
	return nil
}

// isHeader reports whether line starts like "7f00-": lowercase hex, then '-'.
// Keys start with an uppercase letter, so the two never meet.
func isHeader(line []byte) bool {
	for i, c := range line {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
			continue
		case c == '-':
			return i > 0
		}
		return false
	}
	return false
}

// header parses "start-end perms offset major:minor inode   path".
func (p *parser) header(line []byte, r *Region) error {
	rest := line
	field := func(sep byte) []byte {
		i := bytes.IndexByte(rest, sep)
		if i < 0 {
			f := rest
			rest = nil
			return f
		}
		f := rest[:i]
		rest = rest[i+1:]
		return f
	}
	start, ok1 := parseHex(field('-'))
	end, ok2 := parseHex(field(' '))
	if !ok1 || !ok2 || start > uint64(^uintptr(0)) || end > uint64(^uintptr(0)) {
		return p.errorf(line, "bad address range")
	}
	if start > end {
		return p.errorf(line, "start after end")
	}
	r.Start, r.End = uintptr(start), uintptr(end)
	perms, ok := parsePerms(field(' '))
	if !ok {
		return p.errorf(line, "bad permissions")
	}
	r.Perms = perms
	off, ok := parseHex(field(' '))
	if !ok || off > math.MaxInt64 {
		return p.errorf(line, "bad offset")
	}
	r.Offset = int64(off)
	majText, minText, ok := bytes.Cut(field(' '), []byte{':'})
	major, ok1 := parseHex(majText)
	minor, ok2 := parseHex(minText)
	if !ok || !ok1 || !ok2 || major > math.MaxUint32 || minor > math.MaxUint32 {
		return p.errorf(line, "bad device")
	}
	r.Dev = Dev{Major: uint32(major), Minor: uint32(minor)}
	ino, ok := parseDec(field(' '))
	if !ok {
		return p.errorf(line, "bad inode")
	}
	r.Inode = ino
	// The rest is padding, then the path verbatim. Paths start with '/' or
	// '[' (or a pseudo-file name such as "anon_inode:"), never a blank.
	path := bytes.TrimLeft(rest, " ")
	if b, ok := bytes.CutSuffix(path, []byte(" (deleted)")); ok {
		path, r.Deleted = b, true
	}
	if len(path) > 0 {
		if string(path) != p.lastPath {
			p.lastPath = string(path)
		}
		r.Path = p.lastPath
	}
	return nil
}

func parsePerms(b []byte) (Perms, bool) {
	if len(b) != 4 {
		return Perms{}, false
	}
	var p Perms
	for i, want := range [3]byte{'r', 'w', 'x'} {
		switch b[i] {
		case want:
			switch i {
			case 0:
				p.Read = true
			case 1:
				p.Write = true
			case 2:
				p.Exec = true
			}
		case '-':
		default:
			return Perms{}, false
		}
	}
	switch b[3] {
	case 's':
		p.Shared = true
	case 'p':
	default:
		return Perms{}, false
	}
	return p, true
}

// parseHex parses 1 to 16 hex digits.
func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(d)
	}
	return n, true
}

// parseDec parses an unsigned decimal number.
func parseDec(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseKB parses "1234 kB" into bytes.
func parseKB(b []byte) (int64, bool) {
	num, unit, ok := bytes.Cut(b, []byte{' '})
	if !ok || string(bytes.TrimLeft(unit, " ")) != "kB" {
		return 0, false
	}
	n, ok := parseDec(num)
	if !ok || n > math.MaxInt64/1024 {
		return 0, false
	}
	return int64(n) * 1024, true
}

// vmFlags splits the VmFlags value into r.VmFlags, interning known flags.
func (p *parser) vmFlags(r *Region, val []byte) {
	n := 0
	for range bytes.FieldsSeq(val) {
		n++
	}
	if cap(p.flags)-len(p.flags) < n {
		p.flags = make([]string, 0, max(512, n))
	}
	start := len(p.flags)
	for f := range bytes.FieldsSeq(val) {
		s, ok := knownFlags[string(f)]
		if !ok {
			s = string(f)
		}
		p.flags = append(p.flags, s)
	}
	r.VmFlags = p.flags[start:len(p.flags):len(p.flags)]
}

// knownFlags interns the VmFlags mnemonics of fs/proc/task_mmu.c.
var knownFlags = func() map[string]string {
	m := make(map[string]string)
	for _, f := range strings.Fields(`rd wr ex sh mr mw me ms gd pf lf dw lo io sr rr
		dc de ac nr ht sf nl ar wf dd mg hg nh mm um uw ss sl bt mt gu ui
		p0 p1 p2 p3 p4 p5 p6 sd`) {
		m[f] = f
	}
	return m
}()

// classify sets the Kind of every region, by the rules of doc.go.
func classify(rs []Region) {
	type object struct {
		dev   Dev
		inode uint64
		path  string
	}
	var images map[object]bool
	for i := range rs {
		r := &rs[i]
		if r.Perms.Exec && !r.Perms.Shared && isFilePath(r.Path) {
			if images == nil {
				images = make(map[object]bool)
			}
			images[object{r.Dev, r.Inode, r.Path}] = true
		}
	}
	for i := range rs {
		r := &rs[i]
		var prev *Region
		if i > 0 {
			prev = &rs[i-1]
		}
		r.Kind = kindOf(r, prev, images[object{r.Dev, r.Inode, r.Path}])
	}
}

func isFilePath(path string) bool { return path != "" && path[0] != '[' }

// kindOf applies the rules of doc.go to r, given the region before it and
// whether r's file is an object image.
func kindOf(r, prev *Region, image bool) Kind {
	path := r.Path
	// Rule 1: special names.
	if strings.HasPrefix(path, "[") {
		switch {
		case path == "[heap]":
			return KindHeap
		case path == "[stack]" || strings.HasPrefix(path, "[stack:"):
			return KindStack
		case path == "[vdso]":
			return KindVDSO
		case path == "[vvar]" || strings.HasPrefix(path, "[vvar_"):
			return KindVVar
		case path == "[vsyscall]":
			return KindVsyscall
		case strings.HasPrefix(path, "[anon:"):
			return KindAnonymous
		case strings.HasPrefix(path, "[anon_shmem:"):
			return KindShm
		}
		return KindOther
	}
	// Rule 2: shared memory.
	if strings.HasPrefix(path, "/dev/shm/") || strings.HasPrefix(path, "/memfd:") ||
		strings.HasPrefix(path, "/SYSV") || (path == "/secretmem" && r.Deleted) ||
		(path == "/dev/zero" && r.Deleted) {
		return KindShm
	}
	// Rule 3: no access.
	if r.Perms.None() && !r.Perms.Shared {
		return KindGuard
	}
	// Rule 4: anonymous memory, and bss.
	if path == "" {
		if r.Perms.Read && r.Perms.Write && !r.Perms.Shared &&
			prev != nil && prev.Kind == KindData && prev.End == r.Start {
			return KindBSS
		}
		return KindAnonymous
	}
	// Rule 5: object images.
	if image && !r.Perms.Shared {
		switch {
		case r.Perms.Exec:
			return KindText
		case r.Perms.Write:
			return KindData
		}
		return KindROData
	}
	// Rule 6.
	return KindFile
}
