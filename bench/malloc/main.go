// Command malloc compares vmkit's malloc package with glibc's malloc (in C,
// and through cgo), modernc.org/memory (alone and behind a sync.Mutex) and
// Go's make with the garbage collector, on five workloads:
//
//	(a) pairs:   malloc then free, sizes from a fixed xorshift sequence in [16, 1024]
//	(b) ring:    1,000 live blocks; free the oldest, allocate a new one
//	(c) larson:  2 goroutines, half of the frees crossing goroutines
//	(d) realloc: growth from 16 B to 1 MiB by a quarter at a time
//	(e) gc:      10 million 64-byte objects held off-heap against the same in
//	             Go slices, while the program churns the Go heap: GC CPU
//	             fraction and longest pause
//
// Each figure is the median of -runs runs; the runs of the allocators are
// interleaved so that noise from other processes spreads over all of them.
// The C program is compiled with the system compiler (cc -O2) into a
// temporary directory. Run from bench/:
//
//	go run ./malloc [-runs 7] [-n 2000000] [-gc=true]
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	_ "embed"

	"github.com/vmkit/vmkit/malloc"
	"modernc.org/memory"
)

//go:generate python3 gen.py

//go:embed csrc/glibc_bench.c
var cSource string

const (
	nsizes   = 4096
	ringLen  = 1000
	batchLen = 512
)

var sizes = func() (s [nsizes]int) {
	x := uint32(2463534242)
	for i := range s {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		s[i] = 16 + int(x%1009)
	}
	return s
}()

var sink []byte

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func mustP(p uintptr, err error) uintptr {
	if err != nil {
		panic(err)
	}
	return p
}

func grow(b []byte, n int) []byte {
	nb := make([]byte, n)
	copy(nb, b)
	return nb
}

// lockedModernc is modernc.org/memory behind a mutex: the way to share it
// between goroutines.
type lockedModernc struct {
	mu sync.Mutex
	a  memory.Allocator
}

func (l *lockedModernc) malloc(n int) uintptr {
	l.mu.Lock()
	p, err := l.a.UintptrMalloc(n)
	l.mu.Unlock()
	if err != nil {
		panic(err)
	}
	return p
}

func (l *lockedModernc) free(p uintptr) {
	l.mu.Lock()
	l.a.UintptrFree(p)
	l.mu.Unlock()
}

func (l *lockedModernc) realloc(p uintptr, n int) uintptr {
	l.mu.Lock()
	q, err := l.a.UintptrRealloc(p, n)
	l.mu.Unlock()
	if err != nil {
		panic(err)
	}
	return q
}

var sharedModernc = &lockedModernc{}

// larson runs workload (c) with g goroutines (1 or 2) and returns
// operations per second. Each worker keeps a ring of blocks; of the blocks
// it evicts, every other one goes into a batch that the other worker frees
// (with one goroutine, itself).
func larson[T any](g, n int, worker func(n int, in, out chan []T)) float64 {
	a, b := make(chan []T, 64), make(chan []T, 64)
	t0 := time.Now()
	if g == 1 {
		worker(n, a, a)
	} else {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); worker(n/2, a, b) }()
		go func() { defer wg.Done(); worker(n/2, b, a) }()
		wg.Wait()
	}
	return float64(n) / time.Since(t0).Seconds()
}

type result map[string][]float64 // workload -> values of the runs

func (r result) add(k string, v float64) { r[k] = append(r[k], v) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func runC(dir string, runs, n int) (result, error) {
	src := filepath.Join(dir, "glibc_bench.c")
	bin := filepath.Join(dir, "glibc_bench")
	if err := os.WriteFile(src, []byte(cSource), 0o644); err != nil {
		return nil, err
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if out, err := exec.Command(cc, "-O2", "-pthread", "-o", bin, src).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", cc, err, out)
	}
	res := result{}
	parse := func(args ...string) error {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			return err
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			k, v, _ := strings.Cut(line, " ")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("glibc_bench: %q", line)
			}
			res.add(k, f)
		}
		return nil
	}
	if err := parse(strconv.Itoa(runs), strconv.Itoa(n), "pairs", "ring", "larson1", "larson2", "realloc"); err != nil {
		return nil, err
	}
	if err := parse("1", strconv.Itoa(n), "ringpeak"); err != nil {
		return nil, err
	}
	return res, nil
}

// gcRun holds objects objects of 64 bytes, either off-heap (vmkit) or in Go
// slices, then churns the Go heap and reports the GC's share of CPU time and
// its longest pause.
func gcRun(offHeap bool, objects int, churn int64, limited bool) (frac, maxPause, perCycle float64) {
	var off []uintptr
	var on []*[64]byte
	if offHeap {
		off = make([]uintptr, objects)
		for i := range off {
			p, err := malloc.UnsafeMalloc(64)
			if err != nil {
				panic(err)
			}
			off[i] = uintptr(p)
		}
	} else {
		on = make([]*[64]byte, objects)
		for i := range on {
			on[i] = new([64]byte)
		}
	}
	runtime.GC()
	if limited {
		// A memory-limited service: no GOGC, a limit 256 MiB above the
		// live heap, so both variants get the same headroom.
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(live)
		oldGC := debug.SetGCPercent(-1)
		oldLimit := debug.SetMemoryLimit(int64(live[0].Value.Uint64()) + 256<<20)
		defer func() {
			debug.SetGCPercent(oldGC)
			debug.SetMemoryLimit(oldLimit)
		}()
	}
	// The GC's CPU time without idle-priority marking (which only uses
	// otherwise idle CPUs), over the CPU time that was not idle.
	samples := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"},
		{Name: "/sched/pauses/total/gc:seconds"}, {Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}, {Name: "/cpu/classes/idle:cpu-seconds"}}
	metrics.Read(samples)
	gc0 := samples[0].Value.Float64() - samples[3].Value.Float64()
	tot0 := samples[1].Value.Float64() - samples[4].Value.Float64()
	h0 := samples[2].Value.Float64Histogram()
	before := append([]uint64(nil), h0.Counts...)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	for done := int64(0); done < churn; done += 1024 {
		sink = make([]byte, 1024)
	}
	runtime.ReadMemStats(&ms1)
	metrics.Read(samples)
	gc1 := samples[0].Value.Float64() - samples[3].Value.Float64()
	tot1 := samples[1].Value.Float64() - samples[4].Value.Float64()
	h1 := samples[2].Value.Float64Histogram()
	for i := range h1.Counts {
		if h1.Counts[i] > before[i] {
			maxPause = h1.Buckets[i+1]
		}
	}
	if offHeap {
		for _, p := range off {
			malloc.UnsafeFree(ptr(p))
		}
	}
	runtime.KeepAlive(on)
	cycles := float64(max(ms1.NumGC-ms0.NumGC, 1))
	return (gc1 - gc0) / (tot1 - tot0), maxPause, (gc1 - gc0) / cycles
}

// ringPeak runs workload (b) through a Cache of h and returns the heap's
// mapped bytes over the live requested bytes, and over the live usable
// bytes, at the end.
func ringPeak(h *malloc.Heap, n int) (ratio, usable float64) {
	c := h.NewCache()
	defer c.Close()
	var r [ringLen][]byte
	var rs [ringLen]int
	live := int64(0)
	for j := range r {
		r[j] = must(c.Malloc(sizes[j]))
		rs[j] = sizes[j]
		live += int64(rs[j])
	}
	j := 0
	for i := 0; i < n; i++ {
		c.Free(r[j])
		s := sizes[i&(nsizes-1)]
		live += int64(s - rs[j])
		rs[j] = s
		r[j] = must(c.Malloc(s))
		j = (j + 1) % ringLen
	}
	st := h.Info()
	mapped := float64(st.Arena + st.Hblkhd)
	ratio, usable = mapped/float64(live), mapped/float64(st.Uordblks)
	for _, b := range r {
		c.Free(b)
	}
	return ratio, usable
}

// independent runs workload (a) on g goroutines, each with its own Cache and
// no block crossing goroutines, and returns malloc+free pairs per second: a
// control for (c), which shows how far the machine lets two goroutines
// scale at all.
func independent(g, n int, cache bool) float64 {
	var wg sync.WaitGroup
	t0 := time.Now()
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cache {
				pairsvmkitCache(n / g)
			} else {
				pairsvmkit(n / g)
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(t0).Seconds()
}

func main() {
	runs := flag.Int("runs", 7, "runs per figure (the median is printed)")
	n := flag.Int("n", 2000000, "operations per run")
	gc := flag.Bool("gc", true, "run workload (e)")
	objects := flag.Int("objects", 10_000_000, "objects held in workload (e)")
	only := flag.String("only", "", "run only this workload of vmkit (pairs, cachepairs, ring, ringpeak, realloc, larson1, larson2 (on Caches), plarson1, plarson2 (package-level), gc), for profiling")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *only != "" {
		for range *runs {
			var v float64
			switch *only {
			case "pairs":
				v = pairsvmkit(*n)
			case "cachepairs":
				v = pairsvmkitCache(*n)
			case "ring":
				v = ringvmkit(*n, nil)
			case "realloc":
				v = reallocvmkit(*n / 20)
			case "larson1":
				v = 1e9 / larson(1, *n, larsonvmkitCache)
			case "larson2":
				v = 1e9 / larson(2, *n, larsonvmkitCache)
			case "plarson1":
				v = 1e9 / larson(1, *n, larsonvmkit)
			case "plarson2":
				v = 1e9 / larson(2, *n, larsonvmkit)
			case "ringpeak":
				h, err := malloc.NewHeap(malloc.Options{})
				if err != nil {
					panic(err)
				}
				ratio, usable := ringPeak(h, *n)
				h.Close()
				fmt.Printf("ring footprint %.3f (over usable %.3f)\n", ratio, usable)
				continue
			case "gc":
				fOff, pOff, cOff := gcRun(true, *objects, 4<<30, false)
				fOn, pOn, cOn := gcRun(false, *objects, 4<<30, false)
				fmt.Printf("gc off %.4f (%v, %v/cycle) on %.4f (%v, %v/cycle)\n", fOff, pOff, cOff, fOn, pOn, cOn)
			}
			fmt.Printf("%s %.1f ns/op\n", *only, v)
		}
		return
	}
	dir, err := os.MkdirTemp("", "vmkit-bench-malloc-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(os.Stderr, "glibc in C: compiling and running...\n")
	cres, err := runC(dir, *runs, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "glibc in C:", err)
		os.Exit(1)
	}
	names := []string{"glibc C", "vmkit Cache", "vmkit", "modernc", "modernc+mutex", "glibc cgo", "Go make"}
	res := map[string]result{"glibc C": cres}
	for _, nm := range names[1:] {
		res[nm] = result{}
	}
	var peakRatio, peakUsable []float64
	for r := range *runs + 1 {
		if r == 0 {
			fmt.Fprintf(os.Stderr, "warm-up run (discarded)\n")
		} else {
			fmt.Fprintf(os.Stderr, "run %d/%d\n", r, *runs)
		}
		res["vmkit Cache"].add("pairs", pairsvmkitCache(*n))
		res["vmkit"].add("pairs", pairsvmkit(*n))
		res["modernc"].add("pairs", pairsmodernc(*n))
		res["modernc+mutex"].add("pairs", pairsmoderncMutex(*n))
		res["glibc cgo"].add("pairs", pairscgo(*n))
		res["Go make"].add("pairs", pairsgoMake(*n))

		res["vmkit Cache"].add("ring", ringvmkitCache(*n, nil))
		res["vmkit"].add("ring", ringvmkit(*n, nil))
		res["modernc"].add("ring", ringmodernc(*n, nil))
		res["modernc+mutex"].add("ring", ringmoderncMutex(*n, nil))
		res["glibc cgo"].add("ring", ringcgo(*n, nil))
		res["Go make"].add("ring", ringgoMake(*n, nil))

		res["vmkit Cache"].add("larson1", larson(1, *n, larsonvmkitCache))
		res["vmkit Cache"].add("larson2", larson(2, *n, larsonvmkitCache))
		res["vmkit"].add("larson1", larson(1, *n, larsonvmkit))
		res["vmkit"].add("larson2", larson(2, *n, larsonvmkit))
		res["modernc+mutex"].add("larson1", larson(1, *n, larsonmoderncMutex))
		res["modernc+mutex"].add("larson2", larson(2, *n, larsonmoderncMutex))
		res["glibc cgo"].add("larson1", larson(1, *n, larsoncgo))
		res["glibc cgo"].add("larson2", larson(2, *n, larsoncgo))
		res["Go make"].add("larson1", larson(1, *n, larsongoMake))
		res["Go make"].add("larson2", larson(2, *n, larsongoMake))

		res["vmkit Cache"].add("indep1", independent(1, *n, true))
		res["vmkit Cache"].add("indep2", independent(2, *n, true))
		res["vmkit"].add("indep1", independent(1, *n, false))
		res["vmkit"].add("indep2", independent(2, *n, false))

		res["vmkit Cache"].add("realloc", reallocvmkitCache(*n/20))
		res["vmkit"].add("realloc", reallocvmkit(*n/20))
		res["modernc"].add("realloc", reallocmodernc(*n/20))
		res["modernc+mutex"].add("realloc", reallocmoderncMutex(*n/20))
		res["glibc cgo"].add("realloc", realloccgo(*n/20))
		res["Go make"].add("realloc", reallocgoMake(*n/20))
		if r == 0 {
			for nm, m := range res {
				if nm == "glibc C" {
					continue
				}
				for k := range m {
					m[k] = nil
				}
			}
		}
	}
	// The footprint of (b): the ring on a fresh heap, as the C program
	// measures it in a fresh process.
	for range *runs {
		h, err := malloc.NewHeap(malloc.Options{})
		if err != nil {
			panic(err)
		}
		ratio, usable := ringPeak(h, *n)
		peakRatio = append(peakRatio, ratio)
		peakUsable = append(peakUsable, usable)
		h.Close()
	}

	fmt.Printf("bench/malloc: medians of %d runs, %d operations each; GOMAXPROCS=%d, %d CPUs, %s\n", *runs, *n, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())
	fmt.Printf("cells: value (ratio to glibc in C); for (a), (b), (d) lower is better, for (c) higher is better\n\n")
	fmt.Printf("%-28s", "workload")
	for _, nm := range names {
		fmt.Printf(" %20s", nm)
	}
	fmt.Println()
	row := func(title, key string, scale float64, unit string) {
		fmt.Printf("%-28s", title)
		base := median(cres[key])
		for _, nm := range names {
			v := median(res[nm][key])
			if math.IsNaN(v) {
				fmt.Printf(" %20s", "-")
				continue
			}
			fmt.Printf(" %20s", fmt.Sprintf("%.1f%s (%.2fx)", v*scale, unit, v/base))
		}
		fmt.Println()
	}
	row("(a) pairs ns/op", "pairs", 1, "")
	row("(b) ring ns/op", "ring", 1, "")
	row("(c) 1 goroutine Mops/s", "larson1", 1e-6, "")
	row("(c) 2 goroutines Mops/s", "larson2", 1e-6, "")
	fmt.Printf("%-28s", "(c) 2 vs 1 goroutine")
	for _, nm := range names {
		a, b := median(res[nm]["larson1"]), median(res[nm]["larson2"])
		if math.IsNaN(a) {
			fmt.Printf(" %20s", "-")
		} else {
			fmt.Printf(" %20s", fmt.Sprintf("%.2fx", b/a))
		}
	}
	fmt.Println()
	fmt.Printf("%-28s", "(c) control: no crossing, 2 vs 1")
	for _, nm := range names {
		a, b := median(res[nm]["indep1"]), median(res[nm]["indep2"])
		if math.IsNaN(a) {
			fmt.Printf(" %20s", "-")
		} else {
			fmt.Printf(" %20s", fmt.Sprintf("%.2fx", b/a))
		}
	}
	fmt.Println()
	row("(d) realloc ns/op", "realloc", 1, "")
	fmt.Printf("\n(b) footprint at the end of the ring, fresh heap: mapped/live (requested bytes): glibc C %.3f (mallinfo2 arena+hblkhd), vmkit Cache %.3f (Info Arena+Hblkhd); vmkit mapped/usable bytes %.3f\n",
		median(cres["ringpeak"]), median(peakRatio), median(peakUsable))
	if *gc {
		for _, limited := range []bool{false, true} {
			// Three runs each; the medians are printed.
			var v [6][]float64
			for range 3 {
				debug.FreeOSMemory()
				f, p, c := gcRun(true, *objects, 4<<30, limited)
				v[0], v[1], v[2] = append(v[0], f), append(v[1], p), append(v[2], c)
				debug.FreeOSMemory()
				f, p, c = gcRun(false, *objects, 4<<30, limited)
				v[3], v[4], v[5] = append(v[3], f), append(v[4], p), append(v[5], c)
			}
			fOff, pOff, cOff := median(v[0]), median(v[1]), median(v[2])
			fOn, pOn, cOn := median(v[3]), median(v[4]), median(v[5])
			how := "GOGC=100"
			if limited {
				how = "GOGC=off, GOMEMLIMIT=live+256MiB"
			}
			fmt.Printf("(e) %d objects of 64 B held, 4 GiB of Go garbage churned (%s): GC CPU fraction (idle marking excluded) off-heap %.4f vs Go heap %.4f (%.3fx);\n    GC CPU per cycle %s vs %s (%.3fx); longest pause (histogram bucket) %s vs %s\n",
				*objects, how, fOff, fOn, fOff/fOn, time.Duration(cOff*1e9), time.Duration(cOn*1e9), cOff/cOn, time.Duration(pOff*1e9), time.Duration(pOn*1e9))
		}
	}
}

// ptr turns an address outside the Go heap into a pointer, in the form go
// vet accepts.
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
