package malloc_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vmkit/vmkit/malloc"
)

//go:noinline
func profSmall(h *malloc.Heap, n, size int) (out [][]byte) {
	for range n {
		b, err := h.Malloc(size)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	return out
}

//go:noinline
func profBig(h *malloc.Heap, n, size int) (out [][]byte) {
	for range n {
		b, err := h.Malloc(size)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	return out
}

// pprofTop runs `go tool pprof -top` on a profile and returns the flat
// value of each function, in bytes or blocks.
func pprofTop(t *testing.T, file, index string) map[string]int64 {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to run pprof:", err)
	}
	out, err := exec.Command(goBin, "tool", "pprof", "-top", "-nodefraction=0", "-unit=B", "-sample_index="+index, file).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	flat := map[string]int64{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 6 || !strings.HasSuffix(f[1], "%") {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(f[0], "B"), 10, 64)
		if err != nil {
			continue
		}
		// Functions by their name in the package: pprof prints the path.
		flat[f[5][strings.LastIndex(f[5], "/")+1:]] += v
	}
	return flat
}

func writeProfile(t *testing.T, h *malloc.Heap) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "malloc.pprof")
	var buf bytes.Buffer
	if err := h.WriteProfile(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// With every allocation sampled, `go tool pprof` reads from WriteProfile
// exactly the bytes and blocks each call stack holds, small and mapped
// blocks alike, and a freed block leaves it.
func TestWriteProfileExact(t *testing.T) {
	h := newHeap(t, malloc.Options{ProfileRate: 1})
	small := profSmall(h, 10, 1000)
	big := profBig(h, 3, 1<<20)
	if err := h.Free(big[2]); err != nil {
		t.Fatal(err)
	}
	file := writeProfile(t, h)
	space := pprofTop(t, file, "inuse_space")
	if got := space["malloc_test.profSmall"]; got != 10000 {
		t.Errorf("profSmall holds %d bytes in the profile, want 10000 (%v)", got, space)
	}
	if got := space["malloc_test.profBig"]; got != 2<<20 {
		t.Errorf("profBig holds %d bytes in the profile, want %d (%v)", got, 2<<20, space)
	}
	objects := pprofTop(t, file, "inuse_objects")
	if objects["malloc_test.profSmall"] != 10 || objects["malloc_test.profBig"] != 2 {
		t.Errorf("blocks in the profile: %v, want 10 for profSmall and 2 for profBig", objects)
	}
	for _, b := range append(small, big[:2]...) {
		if err := h.Free(b); err != nil {
			t.Fatal(err)
		}
	}
	if got := pprofTop(t, writeProfile(t, h), "inuse_space"); got["malloc_test.profSmall"] != 0 || got["malloc_test.profBig"] != 0 {
		t.Errorf("after freeing everything the profile still holds %v", got)
	}
}

// With one sample per 64 KiB, the profile scales each sample up as Go's heap
// profile does: 20,000 blocks of 1000 bytes (about 300 samples) come out
// near 20 MB, and 1 MiB blocks, each sure to be sampled, exactly.
func TestWriteProfileScaled(t *testing.T) {
	h := newHeap(t, malloc.Options{ProfileRate: 64 << 10})
	small := profSmall(h, 20000, 1000)
	big := profBig(h, 8, 1<<20)
	file := writeProfile(t, h)
	space := pprofTop(t, file, "inuse_space")
	if got := space["malloc_test.profSmall"]; got < 14e6 || got > 26e6 {
		t.Errorf("profSmall holds %d bytes by the profile, want about 20e6 (%v)", got, space)
	}
	if got := space["malloc_test.profBig"]; got < 8<<20 || got > 8<<20+8 {
		t.Errorf("profBig holds %d bytes by the profile, want %d (%v)", got, 8<<20, space)
	}
	var leaks bytes.Buffer
	if err := h.WriteLeaks(&leaks); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(leaks.String(), "bytes, live from here)") {
		t.Errorf("the leak report gives no estimate at rate 64 KiB:\n%s", leaks.String())
	}
	for _, b := range append(small, big...) {
		if err := h.Free(b); err != nil {
			t.Fatal(err)
		}
	}
}

// The package-level WriteProfile writes the default heap's profile, which
// pprof reads even when nothing is sampled.
func TestWriteProfileDefaultHeap(t *testing.T) {
	var buf bytes.Buffer
	if err := malloc.WriteProfile(&buf); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "default.pprof")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	pprofTop(t, file, "inuse_space")
}
