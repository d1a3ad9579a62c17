package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/proc"
)

// roundTripJSON is the map/lock/resident round trip of `report`.
type roundTripJSON struct {
	// Bytes and Pages mapped (anonymous, private, read-write).
	Bytes int64 `json:"bytes"`
	Pages int   `json:"pages"`
	// ResidentMapped is the resident pages right after mapping (none are
	// touched yet), ResidentLocked after Lock.
	ResidentMapped int `json:"resident_mapped"`
	ResidentLocked int `json:"resident_locked"`
	// LockedDelta is VmLck after Lock minus before; UnlockedDelta after
	// Unlock minus before.
	LockedDelta   int64 `json:"vmlck_delta_locked"`
	UnlockedDelta int64 `json:"vmlck_delta_unlocked"`
	// Error is the first step that failed, or empty.
	Error string `json:"error,omitempty"`
}

// reportJSON is `report --json`.
type reportJSON struct {
	Pid        int           `json:"pid"`
	PageSize   int           `json:"page_size"`
	Memlock    limitJSON     `json:"memlock"`
	CapIPCLock bool          `json:"cap_ipc_lock"`
	Locked     int64         `json:"locked"`
	RoundTrip  roundTripJSON `json:"round_trip"`
	Segments   []kindTotal   `json:"segments"`
}

// roundTripSize is the size of the round trip's mapping.
const roundTripSize = 1 << 20

// roundTrip maps 1 MiB, locks it, reads its residency and VmLck, unlocks
// it and closes it, recording each step.
func roundTrip() roundTripJSON {
	rt := roundTripJSON{Bytes: roundTripSize}
	m, err := mem.Map(roundTripSize, mem.Read|mem.Write, 0)
	if err != nil {
		rt.Error = err.Error()
		return rt
	}
	defer m.Close()
	r, err := m.Resident()
	if err != nil {
		rt.Error = err.Error()
		return rt
	}
	rt.Pages, rt.ResidentMapped = r.Len(), r.Count()
	before, err := mem.Locked()
	if err != nil {
		rt.Error = err.Error()
		return rt
	}
	if err := m.Lock(); err != nil {
		rt.Error = err.Error()
		return rt
	}
	if r, err = m.Resident(); err != nil {
		rt.Error = err.Error()
		return rt
	}
	rt.ResidentLocked = r.Count()
	after, err := mem.Locked()
	if err != nil {
		rt.Error = err.Error()
		return rt
	}
	rt.LockedDelta = after - before
	if err := m.Unlock(); err != nil {
		rt.Error = err.Error()
		return rt
	}
	unlocked, err := mem.Locked()
	if err != nil {
		rt.Error = err.Error()
		return rt
	}
	rt.UnlockedDelta = unlocked - before
	if err := m.Close(); err != nil {
		rt.Error = err.Error()
	}
	return rt
}

// runReport prints a short report on vmkit's own process: the page size,
// the lock limit, the locked bytes, a round trip through the page layer,
// and the segments of its address space.
func runReport(e *env, args []string) int {
	fs := newFlags(e, "report")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "print one JSON document")
	if code := parse(e, fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		return usageErr(e, "report", "no arguments expected")
	}
	status := ExitOK
	rep := reportJSON{Pid: os.Getpid(), PageSize: mem.PageSize()}
	var err error
	if rep.Memlock, err = memlockOf(0); err != nil {
		e.errorf("report: %v", err)
		status = ExitError
	}
	if c, err := procfs.CapEff(0); err == nil {
		rep.CapIPCLock = c&procfs.CapIPCLock != 0
	}
	if rep.Locked, err = mem.Locked(); err != nil {
		e.errorf("report: %v", err)
		status = ExitError
	}
	rep.RoundTrip = roundTrip()
	if rep.RoundTrip.Error != "" {
		e.errorf("report: round trip: %s", rep.RoundTrip.Error)
		status = ExitError
	}
	rs, err := proc.Maps(0)
	if err != nil {
		e.errorf("report: %v", err)
		status = ExitError
	}
	rep.Segments = kindTotals(rs)
	if asJSON {
		if err := writeJSONValue(e.stdout, rep); err != nil {
			return ExitError // Main reports the write error
		}
		return status
	}
	writeReport(e.stdout, rep)
	return status
}

func writeReport(w io.Writer, r reportJSON) {
	var b strings.Builder
	line := func(label, value string) { fmt.Fprintf(&b, "%16s: %s\n", label, value) }
	fmt.Fprintf(&b, "vmkit process %d\n", r.Pid)
	line("Page size", fmt.Sprintf("%d bytes", r.PageSize))
	lim := limitJSONText(r.Memlock)
	if r.CapIPCLock {
		lim += " (CAP_IPC_LOCK held: the limit does not apply)"
	}
	line("RLIMIT_MEMLOCK", lim)
	line("Locked", mem.FormatBytes(r.Locked)+" (VmLck)")
	rt := r.RoundTrip
	b.WriteString("Round trip\n")
	line("map", fmt.Sprintf("%s anonymous: %d pages, %d resident", mem.FormatBytes(rt.Bytes), rt.Pages, rt.ResidentMapped))
	if rt.Error == "" {
		line("lock", fmt.Sprintf("%d/%d resident, VmLck %+d bytes", rt.ResidentLocked, rt.Pages, rt.LockedDelta))
		line("unlock", fmt.Sprintf("VmLck %+d bytes", rt.UnlockedDelta))
		line("close", "unmapped")
	} else {
		line("failed", rt.Error)
	}
	b.WriteString("Segments (/proc/self/smaps)\n")
	fmt.Fprintf(&b, "  %-10s %-7s %7s %10s %10s %10s\n", "Kind", "Segment", "Regions", "Size", "RSS", "Locked")
	for _, k := range r.Segments {
		seg := k.Segment
		if seg == "" {
			seg = "-"
		}
		fmt.Fprintf(&b, "  %-10s %-7s %7d %10s %10s %10s\n", k.Kind, seg, k.Regions, mem.FormatBytes(k.Size), mem.FormatBytes(k.Rss), mem.FormatBytes(k.Locked))
	}
	io.WriteString(w, b.String())
}
