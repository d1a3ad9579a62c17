//go:build linux

package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

type mapsDoc struct {
	Pid     int    `json:"pid"`
	Command string `json:"command"`
	Regions []struct {
		Start, End, Kind, Segment, Perms, Path string
		Size, Rss, Locked                      int64
		Flags                                  []string `json:"vm_flags"`
	} `json:"regions"`
	ByKind []struct {
		Kind    string `json:"kind"`
		Regions int    `json:"regions"`
		Size    int64  `json:"size"`
		Locked  int64  `json:"locked"`
	} `json:"by_kind"`
	Total struct {
		Regions int   `json:"regions"`
		Size    int64 `json:"size"`
		Locked  int64 `json:"locked"`
	} `json:"total"`
}

func decode(t *testing.T, r result, v any) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, r.stdout)
	}
}

// sleeper starts a process to look at.
func sleeper(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

func TestMaps(t *testing.T) {
	pid := sleeper(t)
	var d mapsDoc
	decode(t, vmkit(t, "maps", "--json", strconv.Itoa(pid)), &d)
	if d.Pid != pid || d.Command != "sleep 60" || len(d.Regions) == 0 || d.Total.Regions != len(d.Regions) {
		t.Fatalf("pid %d, command %q, %d regions, total %+v", d.Pid, d.Command, len(d.Regions), d.Total)
	}
	kinds := map[string]bool{}
	var size int64
	for _, r := range d.Regions {
		kinds[r.Kind] = true
		size += r.Size
		if r.Kind == "stack" && (r.Path != "[stack]" || r.Segment != "stack") {
			t.Errorf("stack region %+v", r)
		}
	}
	for _, k := range []string{"text", "data", "stack"} {
		if !kinds[k] {
			t.Errorf("no %s region in the map of sleep: %v", k, kinds)
		}
	}
	if size != d.Total.Size {
		t.Errorf("total size %d, regions add up to %d", d.Total.Size, size)
	}
	r := vmkit(t, "maps", strconv.Itoa(pid))
	if r.code != 0 || !strings.Contains(r.stdout, "total kB") || !strings.Contains(r.stdout, "[stack]") || !strings.Contains(r.stdout, "By kind:") {
		t.Errorf("text maps:\n%s", r.stdout)
	}
	// The first line names the process, as pmap's does.
	if first, _, _ := strings.Cut(r.stdout, "\n"); first != strconv.Itoa(pid)+":   sleep 60" {
		t.Errorf("first line %q, want the pid and the command line", first)
	}
	if r := vmkit(t, "maps", "999999999"); r.code != 1 || !strings.Contains(r.stderr, "999999999") {
		t.Errorf("maps of a missing process: exit %d, %q", r.code, r.stderr)
	}
}

func TestStatus(t *testing.T) {
	pid := sleeper(t)
	var s struct {
		Pid         int    `json:"pid"`
		Name        string `json:"name"`
		VmSize      int64  `json:"vm_size"`
		VmRSS       int64  `json:"vm_rss"`
		VmLck       *int64 `json:"vm_lck"`
		VmSwap      *int64 `json:"vm_swap"`
		MinorFaults int64  `json:"minor_faults"`
		Memlock     struct {
			Soft *int64 `json:"soft"`
		} `json:"memlock"`
		Machine struct {
			MaxMapCount int64  `json:"max_map_count"`
			Overcommit  *int64 `json:"overcommit_memory"`
			THP         string `json:"thp_enabled"`
		} `json:"machine"`
	}
	decode(t, vmkit(t, "status", "--json", strconv.Itoa(pid)), &s)
	if s.Pid != pid || s.Name != "sleep" || s.VmSize <= 0 || s.VmRSS <= 0 || s.VmLck == nil || s.VmSwap == nil || s.MinorFaults <= 0 {
		t.Errorf("status %+v", s)
	}
	mm, _ := os.ReadFile("/proc/sys/vm/max_map_count")
	if strconv.FormatInt(s.Machine.MaxMapCount, 10) != strings.TrimSpace(string(mm)) || s.Machine.Overcommit == nil || s.Machine.THP == "" {
		t.Errorf("machine %+v", s.Machine)
	}
	r := vmkit(t, "status")
	for _, w := range []string{"VmSize", "VmRSS", "VmLck", "VmSwap", "Page faults", "RLIMIT_MEMLOCK", "Overcommit", "max_map_count", "Transparent HP"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("status text lacks %q:\n%s", w, r.stdout)
		}
	}
}

func TestReport(t *testing.T) {
	r := vmkit(t, "report")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, w := range []string{
		"Page size: " + strconv.Itoa(os.Getpagesize()) + " bytes",
		"RLIMIT_MEMLOCK",
		"1 MiB anonymous: 256 pages, 0 resident",
		"lock: 256/256 resident, VmLck +1048576 bytes",
		"unlock: VmLck +0 bytes",
		"Segments",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, r.stdout)
		}
	}
	var d struct {
		PageSize  int `json:"page_size"`
		RoundTrip struct {
			Pages          int   `json:"pages"`
			ResidentMapped int   `json:"resident_mapped"`
			ResidentLocked int   `json:"resident_locked"`
			LockedDelta    int64 `json:"vmlck_delta_locked"`
			UnlockedDelta  int64 `json:"vmlck_delta_unlocked"`
		} `json:"round_trip"`
		Segments []struct {
			Kind    string `json:"kind"`
			Segment string `json:"segment"`
			Regions int    `json:"regions"`
		} `json:"segments"`
	}
	decode(t, vmkit(t, "report", "--json"), &d)
	rt := d.RoundTrip
	if d.PageSize != os.Getpagesize() || rt.Pages != 256 || rt.ResidentMapped != 0 || rt.ResidentLocked != 256 || rt.LockedDelta != 1<<20 || rt.UnlockedDelta != 0 {
		t.Errorf("report JSON: %+v", d)
	}
	seen := map[string]string{}
	for _, s := range d.Segments {
		seen[s.Kind] = s.Segment
	}
	for kind, seg := range map[string]string{"text": "text", "data": "data", "bss": "data", "stack": "stack", "anonymous": ""} {
		if got, ok := seen[kind]; !ok || got != seg {
			t.Errorf("segment of kind %s: %q, %v; want %q", kind, got, ok, seg)
		}
	}
}

// zombie starts a process that exits at once and is not waited for, and
// returns its pid once it is a zombie: a process without memory.
func zombie(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	pid := cmd.Process.Pid
	for range 1000 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		if _, rest, ok := strings.Cut(string(b), ") "); ok && strings.HasPrefix(rest, "Z") {
			return pid
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("process %d never became a zombie", pid)
	return 0
}

// TestMapsOfZombie: a process without memory has empty arrays, not null,
// in the JSON document, and a table with a zero total.
func TestMapsOfZombie(t *testing.T) {
	pid := zombie(t)
	r := vmkit(t, "maps", "--json", strconv.Itoa(pid))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, r.stdout)
	}
	for _, k := range []string{"regions", "by_kind"} {
		if string(raw[k]) != "[]" {
			t.Errorf("%q is %s, want []", k, raw[k])
		}
	}
	if r := vmkit(t, "maps", strconv.Itoa(pid)); r.code != 0 || !strings.Contains(r.stdout, "total kB") ||
		!strings.HasPrefix(r.stdout, strconv.Itoa(pid)+":   [true]\n") {
		t.Errorf("text maps of a zombie: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
