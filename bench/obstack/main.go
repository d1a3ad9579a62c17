// Command obstack measures vmkit's obstack against GNU obstack in C and
// against Go's make, in one run, on the same workload: n Copy calls of 8 to
// 64 bytes (sizes from a fixed pseudo-random table), with a Free back to a
// mark every `every` objects (issue 4).
//
//   - GNU: glibc's obstack.h compiled by cgo with -O2 (gnu.c), chunks from
//     glibc's malloc with trimming off (M_TRIM_THRESHOLD -1, M_MMAP_MAX 0), so
//     freed chunks are reused: its best case. The whole loop runs in C.
//   - vmkit: obstack.New(obstack.Options{}) with the default page source,
//     Copy(src[:n]) and Free(mark). src is a [64]byte, as the C side's
//     source buffer, so Copy may move a whole 64-byte block.
//   - make: make([]byte, n) plus copy, each object kept referenced until its
//     mark is "freed", so the collector does the work an obstack avoids.
//   - vmkit again with source slices whose capacity is their length, which
//     rules the block copy out: not a target, printed for honesty.
//
// The sizes are read from a table of 65,536 entries in both languages, and
// every loop adds the last byte of each object to a checksum, which must
// agree. Each round runs the four in turn; the medians over the rounds are
// printed, as wall-clock and process CPU time per object. The CPU time
// includes the garbage collector's background workers, which run on the
// other core while make's loop runs: that is the figure "with GC cost".
//
// Targets: vmkit at most 0.6x GNU per object, and make at least 10x vmkit.
//
//	cd bench && go run ./obstack
package main

/*
#cgo CFLAGS: -O2
#include "gnu.h"
*/
import "C"

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/obstack"
)

const nsizes = 1 << 16

var (
	sizes [nsizes]uint8
	src   [64]byte
)

func cpuNow() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}

type result struct{ wall, cpu []time.Duration }

func (r *result) add(wall, cpu time.Duration) {
	r.wall = append(r.wall, wall)
	r.cpu = append(r.cpu, cpu)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func measure(r *result, fn func() uint64) uint64 {
	runtime.GC()
	w0, c0 := time.Now(), cpuNow()
	sum := fn()
	r.add(time.Since(w0), cpuNow()-c0)
	return sum
}

func main() {
	n := flag.Int("n", 10_000_000, "Copy calls per round")
	every := flag.Int("every", 100_000, "objects between frees back to the mark")
	rounds := flag.Int("rounds", 7, "rounds (medians reported)")
	flag.Parse()

	rng := rand.New(rand.NewPCG(4, 2026))
	for i := range sizes {
		sizes[i] = uint8(8 + rng.IntN(57))
	}
	for i := range src {
		src[i] = byte(i + 1)
	}

	C.gnu_setup()
	o, err := obstack.New(obstack.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer o.Release()

	gnu := func() uint64 {
		return uint64(C.gnu_run((*C.uint8_t)(&sizes[0]), nsizes, (*C.uint8_t)(&src[0]), C.long(*n), C.long(*every)))
	}
	vmkit := func() uint64 {
		var s uint64
		for i := 0; i < *n; {
			mark, err := o.Alloc(0)
			if err != nil {
				panic(err)
			}
			for end := min(i+*every, *n); i < end; i++ {
				sz := int(sizes[i&(nsizes-1)])
				p, err := o.Copy(src[:sz])
				if err != nil {
					panic(err)
				}
				s += uint64(p[sz-1])
			}
			if err := o.Free(mark); err != nil {
				panic(err)
			}
		}
		return s
	}
	// The same with source slices whose capacity is their length, so that
	// Copy cannot move a fixed 64-byte block and calls memmove instead.
	var clipped [65][]byte
	for n := range clipped {
		clipped[n] = slices.Clip(append(make([]byte, 0, n), src[:n]...))
	}
	vmkitClipped := func() uint64 {
		var s uint64
		for i := 0; i < *n; {
			mark, _ := o.Alloc(0)
			for end := min(i+*every, *n); i < end; i++ {
				sz := int(sizes[i&(nsizes-1)])
				p, err := o.Copy(clipped[sz])
				if err != nil {
					panic(err)
				}
				s += uint64(p[sz-1])
			}
			if err := o.Free(mark); err != nil {
				panic(err)
			}
		}
		return s
	}
	live := make([][]byte, *every)
	gomake := func() uint64 {
		var s uint64
		for i := 0; i < *n; {
			for j, end := 0, min(i+*every, *n); i < end; i, j = i+1, j+1 {
				sz := int(sizes[i&(nsizes-1)])
				p := make([]byte, sz)
				copy(p, src[:sz])
				s += uint64(p[sz-1])
				live[j] = p
			}
			clear(live) // the "free": the objects become garbage
		}
		return s
	}

	// One warm-up round each: chunks, malloc's heap, the Go heap.
	want := gnu()
	if vmkit() != want || gomake() != want || vmkitClipped() != want {
		fmt.Fprintln(os.Stderr, "checksums differ: the three loops do not do the same work")
		os.Exit(1)
	}
	st0 := o.Stats()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)

	var rg, rv, rm, rc result
	for range *rounds {
		measure(&rg, gnu)
		measure(&rv, vmkit)
		measure(&rm, gomake)
		measure(&rc, vmkitClipped)
	}
	runtime.ReadMemStats(&ms1)
	st1 := o.Stats()

	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(*n) }
	fmt.Printf("workload: %d Copy calls of 8-64 bytes per round, Free to a mark every %d; %d rounds, medians\n", *n, *every, *rounds)
	fmt.Printf("GNU obstack: glibc %s, chunk size %d, alignment %d; vmkit: chunk size %d, alignment %d; GOMAXPROCS %d\n\n",
		C.GoString(C.gnu_get_libc_version_str()), int(C.gnu_chunk_size()), int(C.gnu_alignment()), o.ChunkSize(), o.AlignmentMask()+1, runtime.GOMAXPROCS(0))
	fmt.Printf("%-28s %14s %14s\n", "", "wall ns/obj", "CPU ns/obj")
	for _, r := range []struct {
		name string
		res  *result
	}{{"GNU obstack (C, glibc)", &rg}, {"vmkit obstack", &rv}, {"Go make (GC included)", &rm}, {"vmkit, cap(b)==len(b)", &rc}} {
		fmt.Printf("%-28s %14.2f %14.2f\n", r.name, per(median(r.res.wall)), per(median(r.res.cpu)))
	}
	vg := per(median(rv.cpu)) / per(median(rg.cpu))
	mv := per(median(rm.cpu)) / per(median(rv.cpu))
	fmt.Printf("\nvmkit / GNU (CPU):  %.2fx   target <= 0.60x  %s\n", vg, verdict(vg <= 0.6))
	fmt.Printf("make / vmkit (CPU): %.1fx   target >= 10x    %s\n", mv, verdict(mv >= 10))
	fmt.Printf("vmkit / GNU (wall): %.2fx;  make / vmkit (wall): %.1fx\n",
		per(median(rv.wall))/per(median(rg.wall)), per(median(rm.wall))/per(median(rv.wall)))
	fmt.Printf("with cap(b)==len(b) (no 64-byte block: overlapping words): vmkit / GNU %.2fx, make / vmkit %.1fx (CPU)\n",
		per(median(rc.cpu))/per(median(rg.cpu)), per(median(rm.cpu))/per(median(rc.cpu)))
	fmt.Printf("\nGC cycles during the measured rounds: %d (all from make); vmkit mmap calls during them: %d; Go heap allocations by vmkit: see go test -bench Copy ./obstack (0 allocs/op)\n",
		ms1.NumGC-ms0.NumGC, st1.SourceMaps-st0.SourceMaps)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
