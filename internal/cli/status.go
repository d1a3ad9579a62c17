package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/proc"
)

var osGetpid = os.Getpid

// limitJSON is a resource limit in bytes; null means unlimited.
type limitJSON struct {
	Soft *int64 `json:"soft"`
	Hard *int64 `json:"hard"`
}

// machineJSON are the machine-wide settings that decide what memory calls
// may do.
type machineJSON struct {
	// OvercommitMemory is vm.overcommit_memory: 0 heuristic, 1 always, 2
	// never (strict accounting).
	OvercommitMemory int64  `json:"overcommit_memory"`
	OvercommitMode   string `json:"overcommit_mode"`
	// CommitLimit and CommittedAS are from /proc/meminfo, in bytes.
	CommitLimit int64 `json:"commit_limit"`
	CommittedAS int64 `json:"committed_as"`
	// MaxMapCount is vm.max_map_count: the most mappings a process may have.
	MaxMapCount int64 `json:"max_map_count"`
	// THPEnabled and THPDefrag are the selected transparent huge page modes.
	THPEnabled string `json:"thp_enabled"`
	THPDefrag  string `json:"thp_defrag"`
}

// statusJSON is `status --json`.
type statusJSON struct {
	Pid         int         `json:"pid"`
	Name        string      `json:"name"`
	VmSize      int64       `json:"vm_size"`
	VmRSS       int64       `json:"vm_rss"`
	VmLck       int64       `json:"vm_lck"`
	VmPin       int64       `json:"vm_pin"`
	VmSwap      int64       `json:"vm_swap"`
	MinorFaults int64       `json:"minor_faults"`
	MajorFaults int64       `json:"major_faults"`
	Memlock     limitJSON   `json:"memlock"`
	Machine     machineJSON `json:"machine"`
}

func runStatus(e *env, args []string) int {
	fs := newFlags(e, "status")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "print one JSON document")
	if code := parse(e, fs, args); code >= 0 {
		return code
	}
	pid, code := parsePid(e, "status", fs.Args())
	if code >= 0 {
		return code
	}
	st, err := proc.Status(pid)
	if err != nil {
		e.errorf("status: %v", err)
		return ExitError
	}
	faults, err := proc.FaultsOf(pid)
	if err != nil {
		e.errorf("status: %v", err)
		return ExitError
	}
	lim, err := memlockOf(pid)
	if err != nil {
		e.errorf("status: %v", err)
		return ExitError
	}
	s := statusJSON{Pid: st.Pid, Name: st.Name, VmSize: st.VmSize, VmRSS: st.VmRSS, VmLck: st.VmLck, VmPin: st.VmPin,
		VmSwap: st.VmSwap, MinorFaults: faults.Minor, MajorFaults: faults.Major, Memlock: lim, Machine: machine()}
	if asJSON {
		if err := writeJSONValue(e.stdout, s); err != nil {
			return ExitError // Main reports the write error
		}
		return ExitOK
	}
	var b strings.Builder
	line := func(label, value string) { fmt.Fprintf(&b, "%16s: %s\n", label, value) }
	fmt.Fprintf(&b, "Process %d (%s)\n", s.Pid, s.Name)
	line("VmSize", mem.FormatBytes(s.VmSize))
	line("VmRSS", mem.FormatBytes(s.VmRSS))
	line("VmLck", mem.FormatBytes(s.VmLck))
	line("VmPin", mem.FormatBytes(s.VmPin))
	line("VmSwap", mem.FormatBytes(s.VmSwap))
	line("Page faults", fmt.Sprintf("%d minor, %d major", s.MinorFaults, s.MajorFaults))
	line("RLIMIT_MEMLOCK", limitJSONText(s.Memlock))
	m := s.Machine
	b.WriteString("Machine\n")
	line("Overcommit", fmt.Sprintf("%d (%s); committed %s of %s", m.OvercommitMemory, m.OvercommitMode, mem.FormatBytes(m.CommittedAS), mem.FormatBytes(m.CommitLimit)))
	line("max_map_count", strconv.FormatInt(m.MaxMapCount, 10))
	line("Transparent HP", fmt.Sprintf("%s (defrag %s)", m.THPEnabled, m.THPDefrag))
	io.WriteString(e.stdout, b.String())
	return ExitOK
}

func limitJSONText(l limitJSON) string {
	f := func(p *int64) string {
		if p == nil {
			return "unlimited"
		}
		return mem.FormatBytes(*p)
	}
	return f(l.Soft) + " soft, " + f(l.Hard) + " hard"
}

// memlockOf reads the "Max locked memory" line of /proc/PID/limits, which
// any user may read, unlike prlimit(2) on another user's process.
func memlockOf(pid int) (limitJSON, error) {
	name := "/proc/self/limits"
	if pid != 0 {
		name = "/proc/" + strconv.Itoa(pid) + "/limits"
	}
	f, err := os.Open(name)
	if err != nil {
		return limitJSON{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Max locked memory")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			break
		}
		parse := func(s string) (*int64, error) {
			if s == "unlimited" {
				return nil, nil
			}
			v, err := strconv.ParseInt(s, 10, 64)
			return &v, err
		}
		soft, err1 := parse(fields[0])
		hard, err2 := parse(fields[1])
		if err1 != nil || err2 != nil {
			break
		}
		return limitJSON{Soft: soft, Hard: hard}, nil
	}
	return limitJSON{}, fmt.Errorf("%s: no readable \"Max locked memory\" line", name)
}

// machine reads the machine-wide settings; a setting that cannot be read is
// left zero or empty.
func machine() machineJSON {
	var m machineJSON
	m.OvercommitMemory, _ = readInt("/proc/sys/vm/overcommit_memory")
	m.OvercommitMode = map[int64]string{0: "heuristic", 1: "always", 2: "never, strict accounting"}[m.OvercommitMemory]
	m.MaxMapCount, _ = readInt("/proc/sys/vm/max_map_count")
	m.THPEnabled = selected("/sys/kernel/mm/transparent_hugepage/enabled")
	m.THPDefrag = selected("/sys/kernel/mm/transparent_hugepage/defrag")
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				continue
			}
			fields := strings.Fields(v)
			if len(fields) == 0 {
				continue
			}
			n, _ := strconv.ParseInt(fields[0], 10, 64)
			switch k {
			case "CommitLimit":
				m.CommitLimit = n * 1024
			case "Committed_AS":
				m.CommittedAS = n * 1024
			}
		}
	}
	return m
}

// selected returns the bracketed choice of a sysfs mode file such as
// "always [madvise] never".
func selected(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	s := string(b)
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return strings.TrimSpace(s)
	}
	return s[i+1 : j]
}
