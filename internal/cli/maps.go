package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/proc"
)

// parsePid reads the optional PID argument; none means this process.
func parsePid(e *env, c string, args []string) (int, int) {
	switch len(args) {
	case 0:
		return 0, -1
	case 1:
		pid, err := strconv.Atoi(args[0])
		if err != nil || pid <= 0 {
			return 0, usageErr(e, c, "%q is not a process id", args[0])
		}
		return pid, -1
	}
	return 0, usageErr(e, c, "at most one process id")
}

// regionJSON is one region of `maps --json`.
type regionJSON struct {
	Start   string   `json:"start"`
	End     string   `json:"end"`
	Kind    string   `json:"kind"`
	Segment string   `json:"segment"`
	Perms   string   `json:"perms"`
	Offset  int64    `json:"offset"`
	Dev     string   `json:"dev"`
	Inode   uint64   `json:"inode"`
	Path    string   `json:"path"`
	Deleted bool     `json:"deleted,omitempty"`
	Size    int64    `json:"size"`
	Rss     int64    `json:"rss"`
	Pss     int64    `json:"pss"`
	Dirty   int64    `json:"dirty"`
	Swap    int64    `json:"swap"`
	Locked  int64    `json:"locked"`
	AnonHP  int64    `json:"anon_huge_pages"`
	Flags   []string `json:"vm_flags"`
}

// usageJSON is a sum of regions.
type usageJSON struct {
	Regions int   `json:"regions"`
	Size    int64 `json:"size"`
	Rss     int64 `json:"rss"`
	Pss     int64 `json:"pss"`
	Dirty   int64 `json:"dirty"`
	Swap    int64 `json:"swap"`
	Locked  int64 `json:"locked"`
}

func toUsageJSON(n int, u proc.Usage) usageJSON {
	return usageJSON{Regions: n, Size: u.Size, Rss: u.Rss, Pss: u.Pss, Dirty: u.Dirty(), Swap: u.Swap, Locked: u.Locked}
}

// kindTotal is the sum of the regions of one kind.
type kindTotal struct {
	Kind    string `json:"kind"`
	Segment string `json:"segment"`
	usageJSON
}

// kindTotals sums the regions by kind, in proc.Kinds order, leaving out
// kinds without regions. It never returns nil, so that JSON prints [] for
// a process without memory (a zombie, a kernel thread).
func kindTotals(rs []proc.Region) []kindTotal {
	by := proc.ByKind(rs)
	count := map[proc.Kind]int{}
	for i := range rs {
		count[rs[i].Kind]++
	}
	out := []kindTotal{}
	for _, k := range proc.Kinds() {
		if count[k] == 0 {
			continue
		}
		out = append(out, kindTotal{Kind: k.String(), Segment: k.Segment(), usageJSON: toUsageJSON(count[k], by[k])})
	}
	return out
}

func runMaps(e *env, args []string) int {
	fs := newFlags(e, "maps")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "print one JSON document: {\"pid\": N, \"command\": NAME, \"regions\": [...], \"by_kind\": [...], \"total\": {...}}")
	if code := parse(e, fs, args); code >= 0 {
		return code
	}
	pid, code := parsePid(e, "maps", fs.Args())
	if code >= 0 {
		return code
	}
	rs, err := proc.Maps(pid)
	if err != nil {
		e.errorf("maps: %v", err)
		return ExitError
	}
	shown := pid
	if shown == 0 {
		shown = osGetpid()
	}
	if asJSON {
		doc := struct {
			Pid     int          `json:"pid"`
			Command string       `json:"command"`
			Regions []regionJSON `json:"regions"`
			ByKind  []kindTotal  `json:"by_kind"`
			Total   usageJSON    `json:"total"`
		}{Pid: shown, Command: commandLine(pid), Regions: []regionJSON{}, ByKind: kindTotals(rs), Total: toUsageJSON(len(rs), proc.Total(rs))}
		for i := range rs {
			r := &rs[i]
			doc.Regions = append(doc.Regions, regionJSON{
				Start: fmt.Sprintf("0x%x", r.Start), End: fmt.Sprintf("0x%x", r.End),
				Kind: r.Kind.String(), Segment: r.Kind.Segment(), Perms: r.Perms.String(),
				Offset: r.Offset, Dev: r.Dev.String(), Inode: r.Inode, Path: r.Path, Deleted: r.Deleted,
				Size: r.Size, Rss: r.Rss, Pss: r.Pss, Dirty: r.Dirty(), Swap: r.Swap, Locked: r.Locked,
				AnonHP: r.AnonHugePages, Flags: append([]string{}, r.VmFlags...),
			})
		}
		if err := writeJSONValue(e.stdout, doc); err != nil {
			return ExitError // Main reports the write error
		}
		return ExitOK
	}
	writeMaps(e.stdout, shown, commandLine(pid), rs)
	return ExitOK
}

// commandLine is what pmap prints after the pid: the command line of
// process pid (0 for this one), or its name in brackets when it has none
// (a kernel thread, a zombie), or "" when neither can be read.
func commandLine(pid int) string {
	name := "/proc/self/cmdline"
	if pid != 0 {
		name = "/proc/" + strconv.Itoa(pid) + "/cmdline"
	}
	if b, err := os.ReadFile(name); err == nil {
		if s := strings.TrimRight(string(b), "\x00"); s != "" {
			return strings.ReplaceAll(s, "\x00", " ")
		}
	}
	if m, err := procfs.StatusFields(pid); err == nil && m["Name"] != "" {
		return "[" + m["Name"] + "]"
	}
	return ""
}

// writeMaps prints the regions in the layout of pmap -x, sizes in KiB, with
// the kind and the VmFlags added.
func writeMaps(w io.Writer, pid int, command string, rs []proc.Region) {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:   %s\n", pid, command)
	fmt.Fprintf(&b, "%-16s %9s %9s %9s %9s %9s %-4s %-9s %-20s %s\n", "Address", "Kbytes", "RSS", "Dirty", "Locked", "Swap", "Mode", "Kind", "Flags", "Mapping")
	kb := func(v int64) int64 { return v / 1024 }
	for i := range rs {
		r := &rs[i]
		name := r.Path
		if name == "" {
			name = "[ anon ]"
		}
		if r.Deleted {
			name += " (deleted)"
		}
		fmt.Fprintf(&b, "%016x %9d %9d %9d %9d %9d %-4s %-9s %-20s %s\n", r.Start, kb(r.Size), kb(r.Rss), kb(r.Dirty()),
			kb(r.Locked), kb(r.Swap), r.Perms.String(), r.Kind.String(), strings.Join(r.VmFlags, ","), name)
	}
	b.WriteString("---------------- --------- --------- --------- --------- ---------\n")
	t := proc.Total(rs)
	fmt.Fprintf(&b, "%-16s %9d %9d %9d %9d %9d\n", "total kB", kb(t.Size), kb(t.Rss), kb(t.Dirty()), kb(t.Locked), kb(t.Swap))
	b.WriteString("\nBy kind:\n")
	fmt.Fprintf(&b, "  %-10s %-7s %7s %9s %9s %9s %9s %9s\n", "Kind", "Segment", "Regions", "Kbytes", "RSS", "Dirty", "Locked", "Swap")
	for _, k := range kindTotals(rs) {
		seg := k.Segment
		if seg == "" {
			seg = "-"
		}
		fmt.Fprintf(&b, "  %-10s %-7s %7d %9d %9d %9d %9d %9d\n", k.Kind, seg, k.Regions, kb(k.Size), kb(k.Rss), kb(k.Dirty), kb(k.Locked), kb(k.Swap))
	}
	io.WriteString(w, b.String())
}
