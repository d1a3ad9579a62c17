package testchild

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// MeminfoKiB reads a "Key: N kB" (or "Key: N") line of /proc/meminfo; 0 if
// absent.
func MeminfoKiB(t testing.TB, key string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// HugePageSize is the system's default huge page size in bytes; it skips
// the test when there is none.
func HugePageSize(t testing.TB) int {
	t.Helper()
	hp := MeminfoKiB(t, "Hugepagesize:") << 10
	if hp == 0 {
		t.Skip("no huge pages on this system")
	}
	return hp
}

// ReserveHugePages makes sure n huge pages are free for the test, raising
// vm.nr_hugepages (and restoring it at the end) when it must, and skips the
// test when it cannot. It holds a lock on a file in the temporary directory
// until the test ends, so that the tests of several packages, which go test
// runs at once in processes of their own, never change the pool under each
// other: one restoring the pool while another uses it left huge pages
// reserved after the run. The pool it asks for is the pages in use plus n:
// surplus pages in use (vm.nr_overcommit_hugepages) are not counted in
// nr_hugepages, and become part of the raised pool.
func ReserveHugePages(t testing.TB, n int) {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "vmkit-test-hugepages.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() }) // registered first, so it runs last
	const knob = "/proc/sys/vm/nr_hugepages"
	free := MeminfoKiB(t, "HugePages_Free:")
	if free >= n {
		return
	}
	old, err := os.ReadFile(knob)
	if err != nil {
		t.Skipf("cannot read %s: %v", knob, err)
	}
	inUse := MeminfoKiB(t, "HugePages_Total:") - free
	if err := os.WriteFile(knob, []byte(strconv.Itoa(inUse+n)), 0); err != nil {
		t.Skipf("cannot reserve huge pages (%v): run as root or raise %s", err, knob)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(knob, old, 0); err != nil {
			t.Errorf("restoring %s: %v", knob, err)
		}
	})
	if MeminfoKiB(t, "HugePages_Free:") < n {
		t.Skipf("the kernel found no room for %d huge pages", n)
	}
}
