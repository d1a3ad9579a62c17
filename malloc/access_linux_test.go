package malloc_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/malloc"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/proc"
)

func init() {
	testchild.Register("malloc-lockall", lockAllChild)
	testchild.Register("malloc-locked-reserve", lockedReserveChild)
}

// regionMaps returns the mappings of the 64 MiB region that starts at the
// 4 MiB segment of p: the readable and writable part and the reserved one.
func regionMaps(t testing.TB, p uintptr) (open, reserved []proc.Region) {
	t.Helper()
	maps, err := proc.Maps(0)
	if err != nil {
		t.Fatal(err)
	}
	base := p &^ (4<<20 - 1)
	for _, m := range maps {
		if m.Start < base || m.End > base+64<<20 {
			continue
		}
		switch {
		case m.Perms.Read && m.Perms.Write:
			open = append(open, m)
		case m.Perms.None():
			reserved = append(reserved, m)
		}
	}
	return open, reserved
}

func total(ms []proc.Region) uintptr {
	var n uintptr
	for _, m := range ms {
		n += m.Len()
	}
	return n
}

// TestRegionOpensAsItGrows checks that a region is reserved without access
// and opened with mprotect as its top grows, with M_TOP_PAD to spare, as
// glibc grows its heaps; and that Trim closes what it gives back.
func TestRegionOpensAsItGrows(t *testing.T) {
	// One arena, so that both blocks are in the same region whichever P
	// the test runs on.
	h := newHeap(t, malloc.Options{ArenaMax: 1, MmapThreshold: 32 << 20, TopPad: 128 << 10})
	b, err := h.Malloc(100)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Free(b)
	open, reserved := regionMaps(t, addr(b))
	if n := total(open); n == 0 || n > 1<<20 {
		t.Fatalf("after one small block, %d bytes of the region are open: %v", n, open)
	}
	if n := total(reserved); n < 60<<20 {
		t.Fatalf("only %d bytes of the region are reserved without access: %v", n, reserved)
	}
	big, err := h.Malloc(8 << 20) // a mid-size block at the top of the same region
	if err != nil {
		t.Fatal(err)
	}
	clear(big)
	open, _ = regionMaps(t, addr(b))
	if n := total(open); n < 8<<20 || n > 9<<20+128<<10 {
		t.Fatalf("with an 8 MiB block, %d bytes of the region are open", n)
	}
	mustCheck(t, h)
	if err := h.Free(big); err != nil {
		t.Fatal(err)
	}
	h.Trim(0)
	open, _ = regionMaps(t, addr(b))
	if n := total(open); n > 1<<20 {
		t.Fatalf("after the 8 MiB block is freed and trimmed, %d bytes are still open: %v", n, open)
	}
	mustCheck(t, h)
	// The region opens again for the next growth.
	big, err = h.Malloc(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	clear(big)
	if err := h.Free(big); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, h)
}

// lockAllChild allocates one small block, locks the whole address space as
// realtime.Prepare does, and reports how much of the block's region became
// resident: only the open part, not the 64 MiB reserved.
func lockAllChild() int {
	h, err := malloc.NewHeap(malloc.Options{})
	if err != nil {
		fmt.Println("FAIL", err)
		return 1
	}
	b, err := h.Malloc(100)
	if err != nil {
		fmt.Println("FAIL", err)
		return 1
	}
	if err := mem.LockAll(mem.Current); err != nil {
		fmt.Println("FAIL LockAll:", err)
		return 1
	}
	defer mem.UnlockAll()
	maps, err := proc.Maps(0)
	if err != nil {
		fmt.Println("FAIL", err)
		return 1
	}
	base := addr(b) &^ (4<<20 - 1)
	var rss, locked int64
	for _, m := range maps {
		if m.Start >= base && m.End <= base+64<<20 {
			rss += m.Rss
			locked += m.Locked
		}
	}
	fmt.Printf("OK region rss %d locked %d\n", rss, locked)
	return 0
}

// TestLockAllLocksOnlyWhatIsUsed: mlockall makes every readable page of
// the process resident, so a region mapped readable in full would cost its
// 64 MiB of memory to a program that locks itself after one malloc.
func TestLockAllLocksOnlyWhatIsUsed(t *testing.T) {
	if err := mem.CanLockAll(mem.Current); err != nil {
		t.Skipf("this process cannot lock all its memory: %v", err)
	}
	out, code := testchild.Output(t, testchild.Command(t, "malloc-lockall", nil))
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "OK") {
		t.Fatalf("child exited %d:\n%s", code, out)
	}
	var rss, locked int64
	if _, err := fmt.Sscanf(strings.TrimSpace(out), "OK region rss %d locked %d", &rss, &locked); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	t.Logf("region after mlockall: %d KiB resident, %d KiB locked", rss>>10, locked>>10)
	if rss > 2<<20 || locked > 2<<20 {
		t.Fatalf("mlockall made %d bytes of the region resident (%d locked); want what is in use, under 2 MiB", rss, locked)
	}
}

// lockedReserveChild locks the process (current and future mappings), then
// allocates 2,000 blocks of 512 bytes and writes one byte of each, counting
// the thread's page faults; with "reserve" it first allocates and frees the
// same blocks, as realtime's documentation advises.
func lockedReserveChild() int {
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0)
	if err := mem.LockAll(mem.Current | mem.Future); err != nil {
		fmt.Println("FAIL LockAll:", err)
		return 1
	}
	defer mem.UnlockAll()
	h, err := malloc.NewHeap(malloc.Options{})
	if err != nil {
		fmt.Println("FAIL", err)
		return 1
	}
	c := h.NewCache()
	bs := make([][]byte, 2000)
	if os.Getenv("RESERVE") != "" {
		for i := range bs {
			if bs[i], err = c.Malloc(512); err != nil {
				fmt.Println("FAIL", err)
				return 1
			}
		}
		for _, b := range bs {
			c.Free(b)
		}
	}
	f0, _ := proc.Faults()
	for i := range bs {
		if bs[i], err = c.Malloc(512); err != nil {
			fmt.Println("FAIL", err)
			return 1
		}
		bs[i][0] = 1
	}
	f1, _ := proc.Faults()
	fmt.Printf("OK faults %d\n", f1.ThreadMinor-f0.ThreadMinor+f1.ThreadMajor-f0.ThreadMajor)
	return 0
}

// TestLockedReserve: in a locked process, blocks carved from pages the heap
// opened and touched before (a reserve allocated and freed) take no page
// fault, where the same allocations on a fresh heap fault hundreds of times.
func TestLockedReserve(t *testing.T) {
	if err := mem.CanLockAll(mem.Current | mem.Future); err != nil {
		t.Skipf("this process cannot lock all its memory: %v", err)
	}
	faults := func(reserve string) int {
		out, code := testchild.Output(t, testchild.Command(t, "malloc-locked-reserve", nil, "RESERVE="+reserve))
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(out), "OK faults %d", &n); code != 0 || err != nil {
			t.Fatalf("child exited %d: %s", code, out)
		}
		return n
	}
	cold, warm := faults(""), faults("1")
	t.Logf("2,000 blocks of 512 bytes in a locked process: %d faults on a fresh heap, %d after a reserve", cold, warm)
	if cold < 100 {
		t.Fatalf("a fresh heap took only %d faults; the test no longer shows the cost of growing", cold)
	}
	if warm != 0 {
		t.Fatalf("%d faults after a reserve; want 0", warm)
	}
}

// Trim unmaps a region that holds no block any more, address space
// included (all but the arena's first); pointers into it are then refused,
// a Cache that remembered it keeps working, and the heap grows again.
func TestTrimRetiresEmptyRegions(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 1, MmapThreshold: 32 << 20})
	c := h.NewCache()
	defer c.Close()
	vmSize := func() int64 {
		t.Helper()
		v, err := procfs.StatusBytes(0, "VmSize")
		if err != nil {
			t.Fatal(err)
		}
		return v[0]
	}
	// 100 blocks of 1 MiB, from the arena (the mmap threshold is 32 MiB):
	// more than one 64 MiB region.
	alloc := func() [][]byte {
		var bs [][]byte
		for range 100 {
			b, err := c.Malloc(1 << 20)
			if err != nil {
				t.Fatal(err)
			}
			b[0], b[len(b)-1] = 1, 2
			bs = append(bs, b)
		}
		return bs
	}
	bs := alloc()
	two := regionsAspace(t, h)
	if two < 128<<20 {
		t.Fatalf("100 MiB of blocks in %d bytes of regions: expected two regions", two)
	}
	old := bs[len(bs)-1] // in the second region
	for _, b := range bs {
		if err := c.Free(b); err != nil {
			t.Fatal(err)
		}
	}
	before := vmSize()
	if !h.Trim(0) {
		t.Fatal("Trim released nothing")
	}
	if one := regionsAspace(t, h); one != two-64<<20 && one >= two {
		t.Fatalf("regions span %d bytes after Trim, %d before: the empty one was kept", one, two)
	}
	// The old block's pages are unmapped: mincore (mem.Resident) says so
	// with ENOMEM.
	// (VmSize could not say it: under -race the runtime mapped a heap
	// arena of 64 MiB of its own at the same time, once.)
	page := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(unsafe.Pointer(unsafe.SliceData(old)))&^uintptr(os.Getpagesize()-1))), os.Getpagesize())
	if _, err := mem.Resident(page); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("mincore of a page of the empty region after Trim: %v, want ENOMEM (VmSize %d before, %d after)", err, before, vmSize())
	}
	mustCheck(t, h)
	// A pointer into the unmapped region, through the Cache that
	// remembered it, through the heap, and as a pointer.
	if err := c.Free(old); !errors.Is(err, malloc.ErrInvalidPointer) {
		t.Fatalf("free of a block of the unmapped region: %v", err)
	}
	if err := h.Free(old); !errors.Is(err, malloc.ErrInvalidPointer) {
		t.Fatalf("Heap.Free of a block of the unmapped region: %v", err)
	}
	if u := h.UsableSize(old); u != 0 {
		t.Fatalf("UsableSize of a block of the unmapped region: %d", u)
	}
	// The heap grows again (perhaps over the same addresses), and the
	// Cache frees the new blocks.
	bs = alloc()
	for _, b := range bs {
		if b[0] != 1 || b[len(b)-1] != 2 {
			t.Fatal("a new block lost its contents")
		}
		if err := c.Free(b); err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, h)
	if s := h.Info(); s.Uordblks != 0 {
		t.Fatalf("%d bytes in use after every block was freed", s.Uordblks)
	}
}

// A heap retires at most 16 regions: a program that trims after every
// swing of its use across a region boundary keeps a bounded reservation
// (each retired region keeps its state bytes' address space), and past
// the bound an empty region simply stays mapped, its pages given back.
func TestTrimRetiresAtMost16(t *testing.T) {
	h := newHeap(t, malloc.Options{ArenaMax: 1, MmapThreshold: 32 << 20})
	for cycle := 1; cycle <= 18; cycle++ {
		var bs [][]byte
		for range 100 { // two regions' worth
			b, err := h.Malloc(1 << 20)
			if err != nil {
				t.Fatal(err)
			}
			bs = append(bs, b)
		}
		for _, b := range bs {
			h.Free(b)
		}
		h.Trim(0)
		got, want := regionsAspace(t, h), int64(64<<20)
		if cycle > 16 {
			want = 128 << 20 // the empty region stays
		}
		if got != want {
			t.Fatalf("cycle %d: regions span %d bytes after Trim, want %d", cycle, got, want)
		}
	}
	mustCheck(t, h)
}

// regionsAspace is the address space of h's regions, from malloc_info.
func regionsAspace(t *testing.T, h *malloc.Heap) int64 {
	t.Helper()
	var b strings.Builder
	if err := h.WriteInfo(&b); err != nil {
		t.Fatal(err)
	}
	const attr = `<aspace type="total" size="`
	s := b.String()
	i := strings.LastIndex(s, attr)
	n, err := strconv.ParseInt(strings.SplitN(s[i+len(attr):], `"`, 2)[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
