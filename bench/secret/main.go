// Command secret measures package secret against github.com/awnumar/memguard
// in one run:
//
//   - creating and destroying a 32-byte secret: secret.New plus Destroy
//     (packed, the default, and standalone) against memguard.NewBuffer plus
//     Destroy, per operation, median of alternating blocks (target: at most
//     0.5x memguard's time);
//   - 10,000 keys of 32 bytes held at once: the kernel mappings (lines of
//     /proc/self/maps), locked memory (VmLck) and resident memory (VmRSS)
//     each library adds (target: at most 1% of memguard's mappings).
//
// Run it as root (or with CAP_IPC_LOCK, or a memlock limit of at least 128
// MiB: memguard locks a page per key and panics when it cannot) from the
// bench module:
//
//	cd bench && go run ./secret
//
// The same measurements run as Go benchmarks:
//
//	cd bench && go test -run=^$ -bench=. -count=5 ./secret/
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/awnumar/memguard"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/secret"
)

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// contender is one way to create and destroy a 32-byte secret.
type contender struct {
	name string
	// cycle creates and destroys one secret.
	cycle func() error
	// hold creates n secrets and returns a function that destroys them.
	hold func(n int) (release func(), err error)
}

func contenders() []contender {
	vm := func(o secret.Options) contender {
		name := "secret packed"
		if o.Standalone {
			name = "secret standalone"
		}
		return contender{
			name: name,
			cycle: func() error {
				b, err := o.New(32)
				if err != nil {
					return err
				}
				return b.Destroy()
			},
			hold: func(n int) (func(), error) {
				keys := make([]*secret.Buffer, 0, n)
				for range n {
					b, err := o.New(32)
					if err != nil {
						return nil, err
					}
					keys = append(keys, b)
				}
				return func() {
					for _, b := range keys {
						b.Destroy()
					}
				}, nil
			},
		}
	}
	return []contender{
		vm(secret.Options{}),
		vm(secret.Options{Standalone: true}),
		{
			name: "memguard",
			cycle: func() error {
				memguard.NewBuffer(32).Destroy()
				return nil
			},
			hold: func(n int) (func(), error) {
				keys := make([]*memguard.LockedBuffer, 0, n)
				for range n {
					keys = append(keys, memguard.NewBuffer(32))
				}
				return func() {
					for _, b := range keys {
						b.Destroy()
					}
				}, nil
			},
		},
	}
}

// MapCount counts the lines of /proc/self/maps.
func MapCount() int {
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return -1
	}
	n := 0
	for _, c := range data {
		if c == '\n' {
			n++
		}
	}
	return n
}

// Footprint is what holding n keys adds to the process.
type Footprint struct {
	Maps             int
	Locked, Resident int64
}

func footprint() Footprint {
	v, err := procfs.StatusBytes(0, "VmLck", "VmRSS")
	if err != nil {
		return Footprint{Maps: MapCount()}
	}
	return Footprint{Maps: MapCount(), Locked: v[0], Resident: v[1]}
}

// Hold measures what holding n keys of 32 bytes adds. Package secret
// starts from nothing (Purge unmaps its arenas), so its arena's mappings
// count.
func Hold(c contender, n int) (Footprint, error) {
	if err := secret.Purge(); err != nil {
		return Footprint{}, err
	}
	before := footprint()
	release, err := c.hold(n)
	if err != nil {
		return Footprint{}, err
	}
	after := footprint()
	release()
	return Footprint{Maps: after.Maps - before.Maps, Locked: after.Locked - before.Locked, Resident: after.Resident - before.Resident}, nil
}

func main() {
	rounds := flag.Int("rounds", 15, "rounds of alternating blocks (median reported)")
	block := flag.Int("block", 2000, "create/destroy cycles per block")
	keys := flag.Int("keys", 10000, "keys held at once for the mapping count")
	flag.Parse()

	cs := contenders()
	times := make([][]time.Duration, len(cs))
	for _, c := range cs { // warm up: arenas, memguard's globals
		for range 100 {
			if err := c.cycle(); err != nil {
				fmt.Fprintln(os.Stderr, c.name, err)
				os.Exit(1)
			}
		}
	}
	for range *rounds {
		for i, c := range cs {
			t0 := time.Now()
			for range *block {
				if err := c.cycle(); err != nil {
					fmt.Fprintln(os.Stderr, c.name, err)
					os.Exit(1)
				}
			}
			times[i] = append(times[i], time.Since(t0)/time.Duration(*block))
		}
	}
	mg := median(times[len(cs)-1])
	fmt.Printf("create+destroy a 32-byte secret, median of %d blocks of %d:\n", *rounds, *block)
	for i, c := range cs {
		fmt.Printf("  %-18s %8v/op  %.3fx memguard\n", c.name, median(times[i]), float64(median(times[i]))/float64(mg))
	}

	fmt.Printf("holding %d keys of 32 bytes at once:\n", *keys)
	var prints []Footprint
	for _, c := range cs {
		f, err := Hold(c, *keys)
		if err != nil {
			fmt.Fprintln(os.Stderr, c.name, err)
			os.Exit(1)
		}
		prints = append(prints, f)
	}
	last := prints[len(prints)-1]
	for i, c := range cs {
		f := prints[i]
		fmt.Printf("  %-18s %6d mappings (%.4fx memguard)  VmLck +%-10s VmRSS +%s\n", c.name, f.Maps,
			float64(f.Maps)/float64(last.Maps), fmtBytes(f.Locked), fmtBytes(f.Resident))
	}
	s := secret.Stats()
	fmt.Printf("secret.Stats after: %d buffers, %d arenas, %s locked\n", s.Buffers, s.Arenas, fmtBytes(s.Locked))
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<20 || n <= -1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 || n <= -1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
