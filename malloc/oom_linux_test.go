package malloc_test

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/malloc"
)

func init() {
	testchild.Register("malloc-oom", oomChild)
	testchild.Register("malloc-oom-concurrent", oomConcurrentChild)
}

// oomChild lowers RLIMIT_AS to 256 MiB above what the process has mapped,
// then allocates until the system refuses: every refusal must be
// ErrNoMemory wrapping ENOMEM, and the heap must stay consistent and usable.
func oomChild() int {
	fail := func(format string, args ...any) int {
		fmt.Printf("FAIL "+format+"\n", args...)
		return 1
	}
	debug.SetGCPercent(-1) // keep the Go heap from growing into the limit
	h, err := malloc.NewHeap(malloc.Options{MmapThreshold: 4 << 20})
	if err != nil {
		return fail("%v", err)
	}
	blocks := make([][]byte, 0, 4096)
	// Warm the heap so that its caches and first region exist.
	b, err := h.Malloc(100)
	if err != nil {
		return fail("%v", err)
	}
	blocks = append(blocks, b)
	// Give the Go heap room before the limit falls: the runtime grows its
	// heap by whole arenas, and a growth under the limit (for the heap's
	// page metadata, span records) would kill the child with a fatal
	// error rather than an ENOMEM this test can see. The freed ballast
	// leaves its arena reserved for those later allocations.
	ballast := make([]byte, 32<<20)
	ballast[len(ballast)-1] = 1
	ballast = nil
	debug.FreeOSMemory()
	vm, err := procfs.StatusBytes(0, "VmSize")
	if err != nil {
		return fail("%v", err)
	}
	lim := uint64(vm[0]) + 256<<20
	if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: lim, Max: lim}); err != nil {
		return fail("setrlimit: %v", err)
	}
	refused := map[string]int{}
	for _, size := range []int{8 << 20, 1 << 20, 20000, 1000} { // mapped, mid, mid, small
		for range 100000 {
			b, err := h.Malloc(size)
			if err != nil {
				if !errors.Is(err, malloc.ErrNoMemory) || !errors.Is(err, unix.ENOMEM) {
					return fail("Malloc(%d): %v does not wrap ErrNoMemory and ENOMEM", size, err)
				}
				refused[fmt.Sprint(size)]++
				if strings.TrimSpace(err.Error()) == "" {
					return fail("empty error")
				}
				// Leave the runtime some address space: it maps memory
				// of its own now and then (span structures, stacks), and
				// it dies when it cannot.
				for range 2 {
					if k := len(blocks) - 1; k > 0 {
						if err := h.Free(blocks[k]); err != nil {
							return fail("Free: %v", err)
						}
						blocks = blocks[:k]
					}
				}
				break
			}
			b[0], b[len(b)-1] = 1, 2
			if len(blocks) == cap(blocks) {
				break
			}
			blocks = append(blocks, b)
		}
		if err := h.Check(); err != nil {
			return fail("Check after refusals at %d: %v", size, err)
		}
	}
	if refused["8388608"] == 0 || refused["1048576"] == 0 {
		return fail("the limit was never hit: %v", refused)
	}
	for _, b := range blocks {
		if err := h.Free(b); err != nil {
			return fail("Free: %v", err)
		}
	}
	if err := h.Check(); err != nil {
		return fail("Check after freeing: %v", err)
	}
	b, err = h.Malloc(1 << 20)
	if err != nil {
		return fail("Malloc after freeing: %v", err)
	}
	h.Free(b)
	fmt.Printf("OK refused %v, %d blocks held at the limit\n", refused, len(blocks))
	return 0
}

// runOOMChild runs an out-of-memory role and returns its output and exit
// code. The Go runtime of the child may itself find no address space left
// at the moment the heap has taken the last of it; that is the runtime's
// own fatal error, not a result of the test, and the child runs again, up
// to three times in all.
func runOOMChild(t *testing.T, role string) (string, int) {
	for attempt := 1; ; attempt++ {
		out, code := testchild.Output(t, testchild.Command(t, role, nil))
		if attempt < 3 && code != 0 && strings.Contains(out, "fatal error: runtime: cannot allocate memory") {
			t.Logf("attempt %d: the child's runtime ran out of address space; again", attempt)
			continue
		}
		return out, code
	}
}

func TestOutOfMemory(t *testing.T) {
	out, code := runOOMChild(t, "malloc-oom")
	if code != 0 || !strings.Contains(out, "OK refused") {
		t.Fatalf("child exited %d:\n%s", code, out)
	}
	t.Log(strings.TrimSpace(out))
	_ = os.Stdout
}

// oomConcurrentChild is oomChild with four goroutines allocating mixed
// sizes through their own Caches and the Heap at once, until each has been
// refused a few times: the refusals race with each other's successes in
// the same arenas. Every refusal must be ErrNoMemory, the heap must pass
// Check, and after everything is freed it must be empty and usable.
func oomConcurrentChild() int {
	fail := func(format string, args ...any) int {
		fmt.Printf("FAIL "+format+"\n", args...)
		return 1
	}
	debug.SetGCPercent(-1)
	h, err := malloc.NewHeap(malloc.Options{ArenaMax: 2, MmapThreshold: 4 << 20})
	if err != nil {
		return fail("%v", err)
	}
	ballast := make([]byte, 64<<20)
	ballast[len(ballast)-1] = 1
	ballast = nil
	debug.FreeOSMemory()
	vm, err := procfs.StatusBytes(0, "VmSize")
	if err != nil {
		return fail("%v", err)
	}
	lim := uint64(vm[0]) + 384<<20
	if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: lim, Max: lim}); err != nil {
		return fail("setrlimit: %v", err)
	}
	const workers = 4
	held := make([][][]byte, workers)
	errs := make(chan string, workers)
	var refusals atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := h.NewCache()
			defer c.Close()
			sizes := []int{8 << 20, 1 << 20, 70000, 3000, 100}
			blocks := make([][]byte, 0, 8192)
			refused := 0
			for i := 0; refused < 20 && len(blocks) < cap(blocks); i++ {
				size := sizes[(i+w)%len(sizes)]
				var b []byte
				var err error
				if i%2 == 0 {
					b, err = c.Malloc(size)
				} else {
					b, err = h.Malloc(size)
				}
				if err != nil {
					if !errors.Is(err, malloc.ErrNoMemory) || !errors.Is(err, unix.ENOMEM) {
						errs <- fmt.Sprintf("Malloc(%d): %v does not wrap ErrNoMemory and ENOMEM", size, err)
						return
					}
					refused++
					refusals.Add(1)
					continue
				}
				b[0], b[len(b)-1] = byte(w), byte(i)
				blocks = append(blocks, b)
			}
			held[w] = blocks
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		return fail("%s", e)
	}
	if refusals.Load() == 0 {
		return fail("the limit was never hit")
	}
	if err := h.Check(); err != nil {
		return fail("Check at the limit: %v", err)
	}
	n := 0
	for w, blocks := range held {
		for _, b := range blocks {
			if b[0] != byte(w) {
				return fail("a block lost its first byte")
			}
			if err := h.Free(b); err != nil {
				return fail("Free: %v", err)
			}
			n++
		}
	}
	if err := h.Check(); err != nil {
		return fail("Check after freeing: %v", err)
	}
	if s := h.Info(); s.Uordblks != 0 || s.Hblks != 0 {
		return fail("%d bytes and %d mappings in use after freeing everything", s.Uordblks, s.Hblks)
	}
	b, err := h.Malloc(1 << 20)
	if err != nil {
		return fail("Malloc after freeing: %v", err)
	}
	h.Free(b)
	fmt.Printf("OK %d refusals, %d blocks held at the limit\n", refusals.Load(), n)
	return 0
}

func TestOutOfMemoryConcurrent(t *testing.T) {
	out, code := runOOMChild(t, "malloc-oom-concurrent")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "OK") {
		t.Fatalf("child exited %d:\n%s", code, out)
	}
	t.Log(strings.TrimSpace(out))
}
