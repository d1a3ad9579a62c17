package malloc_test

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/malloc"
)

func init() { testchild.Register("malloc-oom", oomChild) }

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

func TestOutOfMemory(t *testing.T) {
	var out string
	var code int
	for attempt := 1; ; attempt++ {
		out, code = testchild.Output(t, testchild.Command(t, "malloc-oom", nil))
		// The Go runtime of the child may itself find no address space
		// left at the moment the heap has taken the last of it; that is
		// the runtime's own fatal error, not a result of the test.
		if attempt < 3 && code != 0 && strings.Contains(out, "fatal error: runtime: cannot allocate memory") {
			t.Logf("attempt %d: the child's runtime ran out of address space; again", attempt)
			continue
		}
		break
	}
	if code != 0 || !strings.Contains(out, "OK refused") {
		t.Fatalf("child exited %d:\n%s", code, out)
	}
	t.Log(strings.TrimSpace(out))
	_ = os.Stdout
}
