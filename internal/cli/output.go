package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmkit/vmkit/internal/pagecache"
	"github.com/vmkit/vmkit/mem"
)

// The JSON document of resident, touch, evict and lock. The field names are
// a contract (see the command's documentation); add fields, never rename.

// document is the whole --json output.
type document struct {
	Files   []fileReport `json:"files"`
	Summary summary      `json:"summary"`
}

// fileReport is one file.
type fileReport struct {
	// Path is the path as walked: the root as given, joined with the names
	// below it.
	Path string `json:"path"`
	// Size is the file's size in bytes.
	Size int64 `json:"size"`
	// Pages is the number of pages measured: the whole file, or the part
	// that -p selects.
	Pages int64 `json:"pages"`
	// Resident is the number of those pages in the page cache, or null when
	// the kernel will not tell (the caller neither owns nor may write the
	// file).
	Resident *int64 `json:"resident"`
	// Ranges are the resident pages as runs, with --pages and a known
	// residency; page numbers count from the file's start.
	Ranges []pageRun `json:"ranges,omitzero"`

	bar string // the -v bar, without the brackets
}

// pageRun is a run of resident pages.
type pageRun struct {
	// Start is the first page's number in the file.
	Start int64 `json:"start"`
	// Count is the number of pages, at least 1.
	Count int64 `json:"count"`
}

// summary is the total over the files.
type summary struct {
	// Files measured (regular files, each inode once unless -h).
	Files int64 `json:"files"`
	// Directories entered.
	Directories int64 `json:"directories"`
	// Size is the sum of the files' sizes in bytes.
	Size int64 `json:"size"`
	// Pages is the sum of the files' measured pages.
	Pages int64 `json:"pages"`
	// Resident is the sum of the resident pages over the files whose
	// residency is known; null when there are files and none is known.
	Resident *int64 `json:"resident"`
	// Unknown is the number of files whose residency the kernel hides, and
	// UnknownPages their pages (included in Pages, not in Resident).
	Unknown      int64 `json:"unknown"`
	UnknownPages int64 `json:"unknown_pages"`
	// Skipped entries in total, and by reason (only reasons that occurred).
	Skipped   int64            `json:"skipped"`
	SkippedBy map[string]int64 `json:"skipped_by,omitempty"`
	// Errors: paths or files that could not be used, each reported on
	// stderr.
	Errors int64 `json:"errors"`
	// PageSize is the size of a page in bytes.
	PageSize int64 `json:"page_size"`
	// Method is the system call residency was read with: "cachestat" or
	// "mincore".
	Method string `json:"method"`

	Touch *touchSummary `json:"touch,omitempty"`
	Evict *evictSummary `json:"evict,omitempty"`
	Lock  *lockSummary  `json:"lock,omitempty"`

	elapsed time.Duration
}

// touchSummary is what touch read.
type touchSummary struct {
	// Bytes read from the files.
	Bytes int64 `json:"bytes"`
	// Seconds the reading took.
	Seconds float64 `json:"seconds"`
	// BytesPerSecond is Bytes over Seconds.
	BytesPerSecond float64 `json:"bytes_per_second"`
}

// evictSummary is what evict dropped.
type evictSummary struct {
	// Before is the number of resident pages before eviction, over the
	// files whose residency is known.
	Before int64 `json:"before"`
	// Evicted is Before minus the resident pages after.
	Evicted int64 `json:"evicted"`
}

// lockSummary is what lock holds.
type lockSummary struct {
	// Bytes mapped and locked.
	Bytes int64 `json:"bytes"`
	// Files locked.
	Files int64 `json:"files"`
	// Failed is the number of files that could not be locked.
	Failed int64 `json:"failed"`
	// OnFault is set when the lock used mlock2(MLOCK_ONFAULT).
	OnFault bool `json:"on_fault"`
	// Pid is the process that holds the locks.
	Pid int `json:"pid"`
}

var skipKeys = map[pagecache.SkipReason]string{
	pagecache.SkipSymlink:  "symlinks",
	pagecache.SkipSpecial:  "special",
	pagecache.SkipHardLink: "hard_links",
	pagecache.SkipIgnored:  "ignored",
	pagecache.SkipTooLarge: "too_large",
	pagecache.SkipOtherFS:  "other_filesystems",
	pagecache.SkipPseudoFS: "pseudo_filesystems",
	pagecache.SkipVisited:  "visited",
}

// collector gathers the results of a walk. add is called concurrently.
type collector struct {
	list   bool // keep a fileReport per file
	bars   bool // compute -v bars
	ranges bool // keep --pages runs

	files, size, pages, resident, unknown, unknownPages atomic.Int64

	mu      sync.Mutex
	reports []fileReport
}

func (c *collector) add(e *pagecache.Entry, r pagecache.Result) {
	c.files.Add(1)
	c.size.Add(e.Size)
	c.pages.Add(r.Pages)
	if r.Known {
		c.resident.Add(r.Resident)
	} else {
		c.unknown.Add(1)
		c.unknownPages.Add(r.Pages)
	}
	if !c.list {
		return
	}
	fr := fileReport{Path: e.Path, Size: e.Size, Pages: r.Pages}
	if r.Known {
		v := r.Resident
		fr.Resident = &v
	}
	first := e.Off / pagecache.PageSize()
	if c.ranges && r.Known && r.Set != nil {
		fr.Ranges = []pageRun{}
		for run := range r.Set.Runs() {
			fr.Ranges = append(fr.Ranges, pageRun{Start: first + int64(run.Start), Count: int64(run.Len)})
		}
	}
	if c.bars {
		fr.bar = bar(r)
	}
	c.mu.Lock()
	c.reports = append(c.reports, fr)
	c.mu.Unlock()
}

// summary totals the collector and the walk's stats.
func (c *collector) summary(st *pagecache.Stats, method string) summary {
	s := summary{
		Files:        c.files.Load(),
		Directories:  st.Directories.Load(),
		Size:         c.size.Load(),
		Pages:        c.pages.Load(),
		Unknown:      c.unknown.Load(),
		UnknownPages: c.unknownPages.Load(),
		Skipped:      st.TotalSkipped(),
		Errors:       st.Errors.Load(),
		PageSize:     pagecache.PageSize(),
		Method:       method,
	}
	if s.Files == 0 || s.Unknown < s.Files {
		v := c.resident.Load()
		s.Resident = &v
	}
	for _, r := range pagecache.SkipReasons() {
		if n := st.Skipped[r].Load(); n > 0 {
			if s.SkippedBy == nil {
				s.SkippedBy = map[string]int64{}
			}
			s.SkippedBy[skipKeys[r]] = n
		}
	}
	return s
}

// sorted returns the file reports ordered by path.
func (c *collector) sorted() []fileReport {
	slices.SortFunc(c.reports, func(a, b fileReport) int { return strings.Compare(a.Path, b.Path) })
	if c.reports == nil {
		return []fileReport{}
	}
	return c.reports
}

// methodName is the system call that options o read residency with.
func methodName(o *pagecache.Options) string {
	if o.Method == pagecache.Mincore || o.Pages || !pagecache.HaveCachestat() {
		return "mincore"
	}
	return "cachestat"
}

// barWidth is the widest -v bar, as vmtouch draws it.
const barWidth = 60

// bar draws the residency of r in at most barWidth cells: 'O' where every
// page of the cell is resident, 'o' where some are, ' ' where none is, '?'
// where the kernel will not tell or no page set was read.
func bar(r pagecache.Result) string {
	n := int(min(r.Pages, barWidth))
	if n == 0 {
		return ""
	}
	if !r.Known || r.Set == nil {
		switch {
		case r.Known && r.Resident == r.Pages:
			return strings.Repeat("O", n)
		case r.Known && r.Resident == 0:
			return strings.Repeat(" ", n)
		}
		return strings.Repeat("?", n)
	}
	b := make([]byte, n)
	total := r.Set.Len()
	for i := range n {
		lo := i * total / n
		hi := (i + 1) * total / n
		in := 0
		for p := lo; p < hi; p++ {
			if r.Set.At(p) {
				in++
			}
		}
		switch {
		case in == hi-lo:
			b[i] = 'O'
		case in > 0:
			b[i] = 'o'
		default:
			b[i] = ' '
		}
	}
	return string(b)
}

// writeJSON prints the document, indented.
func writeJSON(w io.Writer, d document) error { return writeJSONValue(w, d) }

// writeJSONValue prints v as indented JSON, without HTML escapes.
func writeJSONValue(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeFiles prints the per-file lines of -v and --pages.
func writeFiles(w io.Writer, reports []fileReport, bars, ranges bool) {
	var b strings.Builder
	for _, f := range reports {
		b.WriteString(f.Path)
		b.WriteByte('\n')
		res := "unknown"
		if f.Resident != nil {
			res = strconv.FormatInt(*f.Resident, 10)
		}
		if bars {
			fmt.Fprintf(&b, "[%s] %s/%d\n", f.bar, res, f.Pages)
		}
		if ranges {
			fmt.Fprintf(&b, "  resident pages: %s\n", runsText(f))
		}
		if b.Len() > 64<<10 {
			io.WriteString(w, b.String())
			b.Reset()
		}
	}
	if b.Len() > 0 {
		b.WriteByte('\n')
	}
	io.WriteString(w, b.String())
}

func runsText(f fileReport) string {
	switch {
	case f.Resident == nil:
		return "unknown"
	case f.Ranges == nil:
		return "(no page set)"
	case len(f.Ranges) == 0:
		return "none"
	}
	parts := make([]string, len(f.Ranges))
	for i, r := range f.Ranges {
		if r.Count == 1 {
			parts[i] = strconv.FormatInt(r.Start, 10)
		} else {
			parts[i] = strconv.FormatInt(r.Start, 10) + "-" + strconv.FormatInt(r.Start+r.Count-1, 10)
		}
	}
	return strings.Join(parts, ",")
}

// percent renders part/whole as vmtouch does ("29.3%"), and 0% for an empty
// whole, never NaN.
func percent(part, whole int64) string {
	if whole <= 0 || part <= 0 {
		return "0%"
	}
	p := 100 * float64(part) / float64(whole)
	if p < 0.001 {
		return "<0.001%"
	}
	return strconv.FormatFloat(p, 'g', 3, 64) + "%"
}

// writeSummary prints the summary in vmtouch's layout.
func writeSummary(w io.Writer, s summary) {
	var b strings.Builder
	line := func(label, value string) { fmt.Fprintf(&b, "%16s: %s\n", label, value) }
	line("Files", strconv.FormatInt(s.Files, 10))
	line("Directories", strconv.FormatInt(s.Directories, 10))
	known := s.Pages - s.UnknownPages
	ps := s.PageSize
	if s.Resident == nil {
		line("Resident Pages", fmt.Sprintf("unknown/%d  ?/%s  unknown", s.Pages, mem.FormatBytes(s.Pages*ps)))
	} else {
		r := *s.Resident
		line("Resident Pages", fmt.Sprintf("%d/%d  %s/%s  %s", r, known, mem.FormatBytes(r*ps), mem.FormatBytes(known*ps), percent(r, known)))
	}
	if s.Unknown > 0 {
		line("Unknown", fmt.Sprintf("%d %s, %d pages: the kernel hides the residency of files you neither own nor may write; run as their owner or root",
			s.Unknown, plural(s.Unknown, "file", "files"), s.UnknownPages))
	}
	switch {
	case s.Evict != nil && s.Resident == nil:
		// The kernel hides every file's residency: the pages were
		// dropped, but how many there were is not known.
		line("Evicted", "unknown")
	case s.Evict != nil:
		line("Evicted", fmt.Sprintf("%d pages (%s)", s.Evict.Evicted, mem.FormatBytes(s.Evict.Evicted*ps)))
		if s.Resident != nil && *s.Resident > 0 {
			line("Stayed", fmt.Sprintf("%d pages: locked or mapped by a process, dirty, or on tmpfs or ramfs (which cannot drop them)", *s.Resident))
		}
	}
	if s.Touch != nil {
		line("Read", fmt.Sprintf("%s in %.3g s (%s/s)", mem.FormatBytes(s.Touch.Bytes), s.Touch.Seconds, mem.FormatBytes(int64(s.Touch.BytesPerSecond))))
	}
	if s.Lock != nil {
		mode := ""
		if s.Lock.OnFault {
			mode = " on fault"
		}
		line("Locked", fmt.Sprintf("%d %s, %s%s (pid %d)", s.Lock.Files, plural(s.Lock.Files, "file", "files"), mem.FormatBytes(s.Lock.Bytes), mode, s.Lock.Pid))
		if s.Lock.Failed > 0 {
			line("Not locked", fmt.Sprintf("%d %s", s.Lock.Failed, plural(s.Lock.Failed, "file", "files")))
		}
	}
	if s.Skipped > 0 {
		var parts []string
		for _, r := range pagecache.SkipReasons() {
			if n := s.SkippedBy[skipKeys[r]]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", r, n))
			}
		}
		line("Skipped", fmt.Sprintf("%d (%s)", s.Skipped, strings.Join(parts, ", ")))
	}
	if s.Errors > 0 {
		line("Errors", strconv.FormatInt(s.Errors, 10))
	}
	line("Elapsed", strconv.FormatFloat(s.elapsed.Seconds(), 'g', 3, 64)+" seconds")
	io.WriteString(w, b.String())
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
