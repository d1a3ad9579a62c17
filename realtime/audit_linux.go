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
//   - kernel.numa_balancing = 1 unmaps pages periodically to sample their
//     NUMA placement; each sample is a minor fault.
//   - transparent huge pages "always" lets khugepaged rework the page
//     tables of the heap behind the program's back.
//
// Settings that cannot be read are not reported.
func Audit() []Finding {
	var out []Finding
	check := func(path, bad, advice string) {
		data, err := os.ReadFile(path)
		if err != nil {
			return
		}
		v := strings.TrimSpace(string(data))
		if strings.Contains(v, bad) {
			out = append(out, Finding{Setting: path, Value: v, Advice: advice})
		}
	}
	check("/proc/sys/vm/compact_unevictable_allowed", "1",
		"compaction may migrate locked pages, a minor fault for a section that touches one mid-move; set it to 0 (sysctl vm.compact_unevictable_allowed=0)")
	check("/proc/sys/kernel/numa_balancing", "1",
		"NUMA balancing samples pages by unmapping them, a minor fault each; set it to 0 (sysctl kernel.numa_balancing=0) or bind the process to one node")
	check("/sys/kernel/mm/transparent_hugepage/enabled", "[always]",
		"khugepaged may collapse the heap into huge pages behind the program; use madvise or never")
	return out
}
