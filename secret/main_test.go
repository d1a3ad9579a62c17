package secret_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/vmkit/vmkit/internal/testchild"
)

func TestMain(m *testing.M) { testchild.Main(m) }

// vma is one mapping of /proc/self/smaps.
type vma struct {
	start, end uintptr
	perms      string
	flags      []string
	path       string
}

func (v vma) has(flags ...string) bool {
	for _, f := range flags {
		if !slices.Contains(v.flags, f) {
			return false
		}
	}
	return true
}

func (v vma) String() string {
	return fmt.Sprintf("%x-%x %s %s [%s]", v.start, v.end, v.perms, v.path, strings.Join(v.flags, " "))
}

// smaps parses /proc/self/smaps.
func smaps(t testing.TB) []vma {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var out []vma
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmFlags:") && len(out) > 0 {
			out[len(out)-1].flags = strings.Fields(strings.TrimPrefix(line, "VmFlags:"))
			continue
		}
		f := strings.Fields(line)
		if len(f) < 5 || !strings.Contains(f[0], "-") || strings.HasSuffix(f[0], ":") {
			continue
		}
		var v vma
		if n, _ := fmt.Sscanf(f[0], "%x-%x", &v.start, &v.end); n != 2 {
			continue
		}
		v.perms = f[1]
		if len(f) >= 6 {
			v.path = strings.Join(f[5:], " ")
		}
		out = append(out, v)
	}
	return out
}

// vmaAt returns the mapping that holds addr.
func vmaAt(t testing.TB, addr uintptr) vma {
	t.Helper()
	for _, v := range smaps(t) {
		if addr >= v.start && addr < v.end {
			return v
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return vma{}
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// poke writes v at p+off, past any bounds check: how an overflow happens.
func poke(b []byte, off int, v byte) {
	*(*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), off)) = v
}

// flip inverts the byte at b[off], even outside b's bounds. A canary is
// random, so writing a fixed value into one would leave it intact once in
// 256 tries; flipping changes it always.
func flip(b []byte, off int) {
	p := (*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), off))
	*p = ^*p
}
