package proc

// /proc/PID/stat and the page-fault counters; see doc.go.

import (
	"bytes"
	"strconv"
)

// Stat holds the fields of /proc/PID/stat that concern memory and identity.
// Field numbers are those of proc(5).
type Stat struct {
	// Pid is field 1.
	Pid int
	// Comm is field 2 without its parentheses: the command name, at most
	// 15 bytes, which may hold blanks and parentheses itself.
	Comm string
	// State is field 3: 'R', 'S', 'D', 'Z', 'T', ...
	State byte
	// PPid is field 4, the parent's pid.
	PPid int
	// MinFlt (10) and MajFlt (12) are the minor faults (no I/O) and major
	// faults (page read from disk) of the process; CMinFlt (11) and
	// CMajFlt (13) those of its waited-for children.
	MinFlt, CMinFlt, MajFlt, CMajFlt int64
	// UTime (14) and STime (15) are user and system time in clock ticks.
	UTime, STime int64
	// NumThreads is field 20.
	NumThreads int
	// StartTime is field 22, in clock ticks after boot.
	StartTime int64
	// VSize is field 23, the virtual size in bytes.
	VSize int64
	// RssPages is field 24, the resident set in pages (not bytes).
	RssPages int64
}

// ParseStat parses the one-line text of /proc/PID/stat (or
// /proc/PID/task/TID/stat). The command name is taken to end at the last ')',
// since it may contain ')' itself. A malformed line is a *SyntaxError.
func ParseStat(data []byte) (Stat, error) {
	var s Stat
	bad := func(msg string) (Stat, error) {
		text := data
		if len(text) > 120 {
			text = text[:120]
		}
		return Stat{}, &SyntaxError{File: "stat", Line: 1, Msg: msg, Text: string(text)}
	}
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return bad("no (comm)")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(data[:open])))
	if err != nil {
		return bad("bad pid")
	}
	s.Pid = pid
	s.Comm = string(data[open+1 : end])
	// f[i] is field i+3.
	f := bytes.Fields(data[end+1:])
	if len(f) < 22 {
		return bad("too few fields")
	}
	if len(f[0]) != 1 {
		return bad("bad state")
	}
	s.State = f[0][0]
	num := func(field int) int64 {
		if err != nil {
			return 0
		}
		var n int64
		n, err = strconv.ParseInt(string(f[field-3]), 10, 64)
		return n
	}
	s.PPid = int(num(4))
	s.MinFlt = num(10)
	s.CMinFlt = num(11)
	s.MajFlt = num(12)
	s.CMajFlt = num(13)
	s.UTime = num(14)
	s.STime = num(15)
	s.NumThreads = int(num(20))
	s.StartTime = num(22)
	s.VSize = num(23)
	s.RssPages = num(24)
	if err != nil {
		return bad("bad number")
	}
	return s, nil
}

// PageFaults counts page faults. A minor fault is resolved without I/O (a
// fresh zero page, a page already in the page cache, copy-on-write); a major
// fault waited for a read from disk or swap.
type PageFaults struct {
	// Minor and Major are the whole process's counts (all threads, living
	// and exited).
	Minor, Major int64
	// ThreadMinor and ThreadMajor are the calling OS thread's counts, set
	// by Faults only; FaultsOf leaves them zero. They are meaningful to a
	// goroutine locked to its thread with runtime.LockOSThread.
	ThreadMinor, ThreadMajor int64
}

// Sub returns f - g field by field: the faults taken between a reading g and
// a later reading f.
func (f PageFaults) Sub(g PageFaults) PageFaults {
	return PageFaults{
		Minor:       f.Minor - g.Minor,
		Major:       f.Major - g.Major,
		ThreadMinor: f.ThreadMinor - g.ThreadMinor,
		ThreadMajor: f.ThreadMajor - g.ThreadMajor,
	}
}
