package malloc_test

import (
	"bufio"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/malloc"
)

// memTotal reads MemTotal from /proc/meminfo in bytes.
func memTotal(t *testing.T) int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n << 10
		}
	}
	t.Skip("no MemTotal")
	return 0
}

// Requests no machine can honour fail with ErrNoMemory (and ENOMEM), as
// glibc's do, instead of returning address space that kills the process
// when touched. Sizes past an arena's page count once wrapped to one page.
func TestImpossibleSizesFail(t *testing.T) {
	mode, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
	if err != nil || strings.TrimSpace(string(mode)) == "1" {
		t.Skip("overcommit_memory=1 lets any mapping succeed")
	}
	sizes := map[string]int{
		"twice the RAM": int(min(2*memTotal(t), math.MaxInt)),
	}
	if strconv.IntSize == 64 {
		shift := 40 // not a constant, so that 32-bit systems compile it
		sizes["32 TiB"] = 32 << shift
		sizes["past int32 pages"] = 9 << shift
	}
	for _, mmapMax := range []int{-1, 0} { // -1: default; 0: mmap off, arenas only
		h, err := malloc.NewHeap(malloc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if mmapMax == 0 {
			if err := h.Opt(malloc.M_MMAP_MAX, 0); err != nil {
				t.Fatal(err)
			}
		}
		for name, size := range sizes {
			b, err := h.Malloc(size)
			if err == nil || b != nil {
				t.Errorf("mmap_max=%d %s: Malloc(%d) = len %d, %v; want ErrNoMemory", mmapMax, name, size, len(b), err)
				continue
			}
			if !errors.Is(err, malloc.ErrNoMemory) || !errors.Is(err, unix.ENOMEM) {
				t.Errorf("mmap_max=%d %s: %v does not match ErrNoMemory and ENOMEM", mmapMax, name, err)
			}
			small, _ := h.Malloc(64)
			if r, err := h.Realloc(small, size); err == nil || r != nil {
				t.Errorf("mmap_max=%d %s: Realloc to %d succeeded", mmapMax, name, size)
			}
			h.Free(small)
		}
		if st := h.Info(); st.Uordblks != 0 || st.Hblkhd != 0 {
			t.Errorf("mmap_max=%d: after refusals the heap holds %+v", mmapMax, st)
		}
		if err := h.Check(); err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
}
