package malloc_test

import (
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/malloc"
)

func init() { testchild.Register("malloc-store-go-pointer", storeGoPointer) }

var keepAlive *int

// storeGoPointer writes a Go pointer into memory from Malloc, which the
// typed API exists to prevent. Under GOEXPERIMENT=cgocheck2 the runtime
// kills the process; without it the write goes unnoticed.
func storeGoPointer() int {
	b, err := malloc.Malloc(8)
	if err != nil {
		return 2
	}
	keepAlive = new(int)
	*(**int)(unsafe.Pointer(unsafe.SliceData(b))) = keepAlive
	return 0
}

// Only GOEXPERIMENT=cgocheck2 catches a Go pointer stored in non-Go memory
// (the facts note): this shows it for memory from this package. Run the
// package's tests with GOEXPERIMENT=cgocheck2 to see the refusal.
func TestCgocheck2SeesGoPointers(t *testing.T) {
	out, code := testchild.Output(t, testchild.Command(t, "malloc-store-go-pointer", nil))
	if strings.Contains(os.Getenv("GOEXPERIMENT"), "cgocheck2") {
		if code == 0 || !strings.Contains(out, "Go pointer stored into non-Go memory") {
			t.Fatalf("cgocheck2 did not catch the store (exit %d):\n%s", code, out)
		}
		return
	}
	if code != 0 {
		t.Fatalf("without cgocheck2 the store should pass unnoticed (exit %d):\n%s", code, out)
	}
}
