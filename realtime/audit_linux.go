package realtime

import (
	"os"
	"strings"
)

// Audit lists the kernel settings under which even locked, pre-faulted
// memory can take page faults, so that an operator can fix them:
//
//   - vm.compact_unevictable_allowed = 1 lets memory compaction migrate
//     locked pages; touching a page while it moves is a minor fault.
//   - kernel.numa_balancing other than 0 (1, 2 for memory tiering, or 3)
//     unmaps pages periodically to sample their placement; each sample is
//     a minor fault.
//   - transparent huge pages "always" lets khugepaged rework the page
//     tables of the heap behind the program's back.
//
// Settings that cannot be read are not reported.
func Audit() []Finding { return audit(os.ReadFile) }

// audit is Audit reading the settings through read.
func audit(read func(string) ([]byte, error)) []Finding {
	var out []Finding
	check := func(path string, bad func(v string) bool, advice string) {
		data, err := read(path)
		if err != nil {
			return
		}
		v := strings.TrimSpace(string(data))
		if bad(v) {
			out = append(out, Finding{Setting: path, Value: v, Advice: advice})
		}
	}
	on := func(v string) bool { return v != "0" }
	check("/proc/sys/vm/compact_unevictable_allowed", on,
		"compaction may migrate locked pages, a minor fault for a section that touches one mid-move; set it to 0 (sysctl vm.compact_unevictable_allowed=0)")
	// 1 balances NUMA placement, 2 promotes pages between memory tiers, 3
	// does both: each samples pages by unmapping them.
	check("/proc/sys/kernel/numa_balancing", on,
		"NUMA balancing samples pages by unmapping them, a minor fault each; set it to 0 (sysctl kernel.numa_balancing=0) or bind the process to one node")
	check("/sys/kernel/mm/transparent_hugepage/enabled", func(v string) bool { return strings.Contains(v, "[always]") },
		"khugepaged may collapse the heap into huge pages behind the program; use madvise or never")
	return out
}
