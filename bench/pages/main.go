// Command pages measures vmkit's page layer against the raw system calls, in
// one run, on the same memory:
//
//   - mem.Resident (and mem.ResidentInto, reusing one set) on a 1 GiB
//     mapping, in pages per second, against one raw mincore(2) call over the
//     same range (target: at least 0.95x), the three taking turns call by
//     call;
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
	var reuse mem.Residency
	if r, err := mem.Resident(b); err != nil || r.Count() != pages {
		fmt.Fprintln(os.Stderr, "Resident:", r, err)
		os.Exit(1)
	}
	// The three readers take turns call by call, in an order that rotates
	// every turn, so that a burst of noise from the other tenants of this
	// machine falls on all of them alike, and no reader always runs with
	// the caches as the same other reader left them. Each turn also gives
	// a paired ratio (raw time over our time in the same turn): their
	// median is steadier than the ratio of the two medians.
	readers := []func() error{
		func() error { _, err := mem.Resident(b); return err },
		func() error { return mem.ResidentInto(&reuse, b) },
		func() error {
			_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
			if e != 0 {
				return e
			}
			return nil
		},
	}
	names := []string{"Resident", "ResidentInto", "mincore"}
	const perRound = 5
	times := make([][]time.Duration, len(readers))
	for turn := range *rounds * perRound {
		for j := range readers {
			k := (j + turn) % len(readers)
			t0 := time.Now()
			err := readers[k]()
			times[k] = append(times[k], time.Since(t0))
			if err != nil {
				fmt.Fprintln(os.Stderr, names[k]+":", err)
				os.Exit(1)
			}
		}
	}
	m.Close()
	ours, into, raw := times[0], times[1], times[2]
	rate := func(d time.Duration) float64 { return float64(pages) / d.Seconds() / 1e6 }
	fmt.Printf("## Page layer, %s mapping, %d pages of %d B, %d rounds of %d calls each\n\n", mem.FormatBytes(int64(*size)), pages, ps, *rounds, perRound)
	fmt.Println("Rates and times are medians; ratio is of the medians; paired is the median of the per-turn ratios.")
	fmt.Println()
	fmt.Println("| measurement | vmkit | baseline | ratio | paired | target |")
	fmt.Println("|---|---|---|---|---|---|")
	fmt.Printf("| Resident vs raw mincore (Mpages/s) | %.1f | %.1f | %.3fx | %.3fx | >= 0.95x |\n",
		rate(median(ours)), rate(median(raw)), rate(median(ours))/rate(median(raw)), pairedRate(ours, raw))
	fmt.Printf("| ResidentInto (reused set) vs raw mincore (Mpages/s) | %.1f | %.1f | %.3fx | %.3fx | >= 0.95x |\n",
		rate(median(into)), rate(median(raw)), rate(median(into))/rate(median(raw)), pairedRate(into, raw))

	fmt.Fprintf(os.Stderr, "residency µs p10/p50/p90: Resident %v/%v/%v ResidentInto %v/%v/%v raw %v/%v/%v\n",
		pct(ours, 10), pct(ours, 50), pct(ours, 90), pct(into, 10), pct(into, 50), pct(into, 90), pct(raw, 10), pct(raw, 50), pct(raw, 90))

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
	fmt.Printf("| Lock vs touching by hand (ms) | %.1f | %.1f | %.3fx | %.3fx | <= 1.1x |\n",
		ms(median(lock)), ms(median(touch)), float64(median(lock))/float64(median(touch)), 1/pairedRate(lock, touch))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// pairedRate is the median over turns of base[i]/ours[i]: the rate of ours
// relative to base, measured side by side.
func pairedRate(ours, base []time.Duration) float64 {
	r := make([]float64, len(ours))
	for i := range ours {
		r[i] = float64(base[i]) / float64(ours[i])
	}
	slices.Sort(r)
	return r[len(r)/2]
}

// pct returns the p-th percentile of d.
func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*p/100]
}
