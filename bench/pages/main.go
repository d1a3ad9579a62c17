// Command pages measures vmkit's page layer against the raw system calls, in
// one run, on the same memory:
//
//   - mem.Resident on a 1 GiB mapping, in pages per second, against one raw
//     mincore(2) call over the same range (target: at least 0.95x);
//   - Mapping.Lock of 1 GiB against touching every page of the same size by
//     hand (target: at most 1.1x the time).
//
// Run it as root (or with CAP_IPC_LOCK) from the bench module:
//
//	cd bench && go run ./pages
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/mem"
)

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func main() {
	size := flag.Int("size", 1<<30, "bytes per mapping")
	rounds := flag.Int("rounds", 15, "rounds per measurement (median reported)")
	flag.Parse()
	ps := mem.PageSize()
	pages := *size / ps

	// Residency: one populated mapping, alternate the two readers.
	m, err := mem.Map(*size, mem.Read|mem.Write, mem.Populate)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	b := m.Bytes()
	vec := make([]byte, pages)
	var ours, into, raw []time.Duration
	var reuse mem.Residency
	if r, err := mem.Resident(b); err != nil || r.Count() != pages {
		fmt.Fprintln(os.Stderr, "Resident:", r, err)
		os.Exit(1)
	}
	// Blocks of calls, alternating between the two sides, so that neither
	// runs with the other's buffers in the caches.
	const block = 5
	for range *rounds {
		for range block {
			t0 := time.Now()
			_, err := mem.Resident(b)
			ours = append(ours, time.Since(t0))
			if err != nil {
				fmt.Fprintln(os.Stderr, "Resident:", err)
				os.Exit(1)
			}
		}
		for range block {
			t0 := time.Now()
			err := mem.ResidentInto(&reuse, b)
			into = append(into, time.Since(t0))
			if err != nil {
				fmt.Fprintln(os.Stderr, "ResidentInto:", err)
				os.Exit(1)
			}
		}
		for range block {
			t0 := time.Now()
			_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
			raw = append(raw, time.Since(t0))
			if e != 0 {
				fmt.Fprintln(os.Stderr, "mincore:", e)
				os.Exit(1)
			}
		}
	}
	m.Close()
	rate := func(d time.Duration) float64 { return float64(pages) / d.Seconds() / 1e6 }
	fmt.Printf("## Page layer, %s mapping, %d pages of %d B, medians of %d rounds\n\n", mem.FormatBytes(int64(*size)), pages, ps, *rounds)
	fmt.Println("| measurement | vmkit | baseline | ratio | target |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| Resident vs raw mincore (Mpages/s) | %.1f | %.1f | %.3fx | >= 0.95x |\n",
		rate(median(ours)), rate(median(raw)), rate(median(ours))/rate(median(raw)))
	fmt.Printf("| ResidentInto (reused bitset) vs raw mincore (Mpages/s) | %.1f | %.1f | %.3fx | >= 0.95x |\n",
		rate(median(into)), rate(median(raw)), rate(median(into))/rate(median(raw)))

	fmt.Fprintf(os.Stderr, "resident µs p10/p50/p90: vmkit %v/%v/%v raw %v/%v/%v\n",
		pct(ours, 10), pct(ours, 50), pct(ours, 90), pct(raw, 10), pct(raw, 50), pct(raw, 90))

	// Locking: fresh mappings each round, so both sides fault every page.
	var lock, touch []time.Duration
	for range *rounds {
		m, err := mem.Map(*size, mem.Read|mem.Write, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		t0 := time.Now()
		if err := m.Lock(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		lock = append(lock, time.Since(t0))
		m.Close()

		m, _ = mem.Map(*size, mem.Read|mem.Write, 0)
		b := m.Bytes()
		t0 = time.Now()
		for i := 0; i < len(b); i += ps {
			b[i] = 1
		}
		touch = append(touch, time.Since(t0))
		m.Close()
	}
	fmt.Printf("| Lock vs touching by hand (ms) | %.1f | %.1f | %.3fx | <= 1.1x |\n",
		ms(median(lock)), ms(median(touch)), float64(median(lock))/float64(median(touch)))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// pct returns the p-th percentile of d.
func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*p/100]
}
