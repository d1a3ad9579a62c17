package realtime_test

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/realtime"
)

func init() {
	testchild.Register("thp", func() int {
		thp := func() int {
			r, err := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
			if err != nil {
				return -1
			}
			return r
		}
		fmt.Printf("before=%d\n", thp())
		if err := realtime.Prepare(realtime.Options{HeapBytes: 1 << 20}); err != nil {
			fmt.Println("prepare:", err)
			return 1
		}
		fmt.Printf("prepared=%d\n", thp())
		if err := realtime.Release(); err != nil {
			fmt.Println("release:", err)
			return 1
		}
		fmt.Printf("released=%d\n", thp())
		// THP turned off by the program itself stays off through a
		// Prepare and Release.
		unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0)
		if err := realtime.Prepare(realtime.Options{HeapBytes: 1 << 20}); err != nil {
			fmt.Println("prepare:", err)
			return 1
		}
		realtime.Release()
		fmt.Printf("kept=%d\n", thp())
		return 0
	})
}

// Release undoes Prepare: transparent huge pages, which Prepare turns off
// for the process (and for every child it starts afterwards), are on again
// after Release; a program that had turned them off itself keeps them off.
func TestReleaseRestoresHugePages(t *testing.T) {
	out, code := testchild.Output(t, testchild.Command(t, "thp", nil))
	m := kv(out)
	if code != 0 || m["before"] != "0" || m["prepared"] != "1" || m["released"] != "0" || m["kept"] != "1" {
		t.Fatalf("PR_GET_THP_DISABLE before Prepare, prepared, released, kept: %s, %s, %s, %s; want 0, 1, 0, 1 (exit %d)\n%s",
			m["before"], m["prepared"], m["released"], m["kept"], code, out)
	}
}

// Audit reports every kernel.numa_balancing mode that unmaps pages to
// sample them: 1 (NUMA placement), 2 (memory tiering) and 3 (both), not only
// 1; and compaction of locked pages whenever it is allowed.
func TestAuditNUMABalancingModes(t *testing.T) {
	const numa = "/proc/sys/kernel/numa_balancing"
	for v, want := range map[string]bool{"0": false, "1": true, "2": true, "3": true} {
		fs := map[string]string{numa: v + "\n", "/proc/sys/vm/compact_unevictable_allowed": "0\n"}
		found := false
		for _, f := range realtime.AuditWith(func(path string) ([]byte, error) {
			if s, ok := fs[path]; ok {
				return []byte(s), nil
			}
			return nil, os.ErrNotExist
		}) {
			if f.Setting == numa {
				found = true
			} else {
				t.Errorf("numa_balancing %s: unexpected finding %v", v, f)
			}
		}
		if found != want {
			t.Errorf("numa_balancing = %s: reported %v, want %v", v, found, want)
		}
	}
}
