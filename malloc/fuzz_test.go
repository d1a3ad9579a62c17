package malloc_test

import (
	"testing"

	"github.com/vmkit/vmkit/malloc"
)

// FuzzOptionsFromEnv feeds arbitrary values to the environment variables
// the default heap reads. Each value is either refused with an error that
// names the variable, or gives Options that make a working heap.
func FuzzOptionsFromEnv(f *testing.F) {
	for _, s := range [][2]string{
		{"arena_max=2:perturb=0xa5:guard=1", ""},
		{"mmap_threshold=64k:top_pad=1m", "3"},
		{"", "0x10"},
		{"vmkit.malloc.trim_threshold=-1", "-1"},
		{"guard", "9999999999999999999g"},
		{"profile_rate=1k:brk=1", "1G"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, tunables, arenaMax string) {
		env := map[string]string{"VMKIT_MALLOC_TUNABLES": tunables, "VMKIT_MALLOC_ARENA_MAX": arenaMax}
		o, err := malloc.OptionsFromEnv(func(k string) string { return env[k] })
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if o.Brk {
			o.Brk = false // the break is the process's; leave it alone here
		}
		if o.ArenaMax > 4 {
			o.ArenaMax = 4 // keep the fuzzer's heaps small
		}
		h, err := malloc.NewHeap(o)
		if err != nil {
			t.Fatalf("OptionsFromEnv accepted %+v, which NewHeap refuses: %v", o, err)
		}
		defer h.Close()
		b, err := h.Malloc(100)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		b[99] = 1
		if err := h.Free(b); err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if err := h.Check(); err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
	})
}
