package malloc_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/malloc"
)

func TestMain(m *testing.M) {
	if strconv.IntSize < 64 {
		os.Exit(refusesSmallSystems())
	}
	testchild.Main(m)
}

// refusesSmallSystems checks, on a 32-bit system, that every way into the
// allocator fails with ErrNotSupported: the rest of the tests assume that it
// works, which it does only on 64-bit systems.
func refusesSmallSystems() int {
	failed := 0
	check := func(what string, err error) {
		if !errors.Is(err, malloc.ErrNotSupported) {
			fmt.Fprintf(os.Stderr, "%s on a %d-bit system: %v, want ErrNotSupported\n", what, strconv.IntSize, err)
			failed = 1
		}
	}
	_, err := malloc.Malloc(100)
	check("Malloc", err)
	_, err = malloc.NewCache().Malloc(100)
	check("NewCache().Malloc", err)
	_, err = malloc.NewHeap(malloc.Options{})
	check("NewHeap", err)
	_, err = malloc.MakeSlice[int32](10, 10)
	check("MakeSlice", err)
	if failed == 0 {
		fmt.Printf("ok: malloc refuses to work on a %d-bit system, as documented\n", strconv.IntSize)
	}
	return failed
}
