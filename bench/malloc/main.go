// Command malloc compares vmkit's malloc package with glibc's malloc (in C,
// and through cgo), modernc.org/memory (alone and behind a sync.Mutex) and
// Go's make with the garbage collector, on five workloads:
//
//	(a) pairs:   malloc then free, sizes from a fixed xorshift sequence in [16, 1024]
//	(b) ring:    1,000 live blocks; free the oldest, allocate a new one
//	(c) larson:  2 goroutines, half of the frees crossing goroutines
//	(d) realloc: growth from 16 B to 1 MiB by a quarter at a time
//	(e) gc:      10 million 64-byte objects held off-heap against the same in
//	             Go slices, while the program churns 4 GiB of Go garbage: GC
//	             CPU fraction, cycles, CPU per cycle and longest pause, with
//	             GOGC=100 and with GOGC=off and the same GOMEMLIMIT headroom
//
// Each figure is the median of -runs runs; the runs of the allocators are
// interleaved so that noise from other processes spreads over all of them.
// The C program is compiled with the system compiler (cc -O2) into a
// temporary directory. Run from bench/:
//
//	go run ./malloc [-runs 7] [-n 2000000] [-gc=true] [-gcruns 5]
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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	nsizes     = 4096
	ringLen    = 1000
	batchLen   = 512
	midPair    = 32 << 10 // the block of (f)
	midRingLen = 64       // the live blocks of (g)
)

// sizes and midSizes are the C program's sequences: one xorshift stream,
// sizes in [16, 1024] for (a) to (c), then sizes in [16 KiB, 128 KiB) for
// (g).
var sizes, midSizes = func() (s, m [nsizes]int) {
	x := uint32(2463534242)
	next := func() uint32 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return x
	}
	for i := range s {
		s[i] = 16 + int(next()%1009)
	}
	for i := range m {
		m[i] = 16<<10 + int(next()%(112<<10))
	}
	return s, m
}()

// sink is written by the Go make workloads, so that the compiler cannot
// drop their allocations; nothing reads it.
//
//lint:ignore U1000 written only, on purpose
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

func mustU(p unsafe.Pointer, err error) unsafe.Pointer {
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
//
// A worker that finishes first leaves the batches the other sends after
// that in the channels; drain frees them, untimed, so that no run leaves
// blocks behind for the next (as the C program does after joining).
func larson[T any](g, n int, worker func(n int, in, out chan []T), drain func(...chan []T)) float64 {
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
	ops := float64(n) / time.Since(t0).Seconds()
	drain(a, b)
	return ops
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

// buildC compiles the C program into dir and returns its path.
func buildC(dir string) (string, error) {
	src := filepath.Join(dir, "glibc_bench.c")
	bin := filepath.Join(dir, "glibc_bench")
	if err := os.WriteFile(src, []byte(cSource), 0o644); err != nil {
		return "", err
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if out, err := exec.Command(cc, "-O2", "-pthread", "-o", bin, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", cc, err, out)
	}
	return bin, nil
}

// cPeers are the C allocators measured besides glibc, by the same C program
// with their library preloaded, when the library is installed (Debian:
// libmimalloc2.0, libjemalloc2, libtcmalloc-minimal4).
var cPeers = []struct{ name, lib string }{
	{"mimalloc C", "libmimalloc.so.2"},
	{"jemalloc C", "libjemalloc.so.2"},
	{"tcmalloc C", "libtcmalloc_minimal.so.4"},
}

// findLib returns the path of a shared library in the usual directories,
// or "".
func findLib(name string) string {
	for _, d := range []string{"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"} {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// runC runs the C program's workloads, with preload (a library path) in
// LD_PRELOAD when it is not "".
func runC(bin, preload string, runs, n int) (result, error) {
	res := result{}
	parse := func(args ...string) error {
		cmd := exec.Command(bin, args...)
		if preload != "" {
			cmd.Env = append(os.Environ(), "LD_PRELOAD="+preload)
		}
		out, err := cmd.Output()
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
	if err := parse(strconv.Itoa(runs), strconv.Itoa(n), "pairs", "ring", "larson1", "larson2", "realloc", "midpairs", "midring"); err != nil {
		return nil, err
	}
	if err := parse("1", strconv.Itoa(n), "ringpeak"); err != nil {
		return nil, err
	}
	return res, nil
}

// gcSetting is how workload (e) configures the garbage collector for the
// churn.
type gcSetting struct {
	name string
	// gogc is GOGC during the churn (-1: off).
	gogc int
	// headroom, when above 0, sets GOMEMLIMIT to the Go memory the limit
	// counts after setup and a full collection (everything the runtime has
	// mapped and not released: heap spans, free pages, span and GC
	// metadata, stacks; not just the live heap) plus headroom. Off-heap
	// memory is outside what the limit counts, so both variants get the same
	// room for garbage, and the same process budget within the allocators'
	// overheads: a user with a budget B sets GOMEMLIMIT to B less the bytes
	// held off-heap.
	headroom int64
}

// gcResult is what one run of workload (e) measured over its churn. CPU
// times are the runtime's /cpu/classes estimates in seconds (time a P spent
// in each state, not OS CPU time), except process.
type gcResult struct {
	cycles   float64 // GC cycles completed (/gc/cycles/total)
	gc       float64 // /cpu/classes/gc/total: mark assists, dedicated, fractional and idle mark workers, pauses (not sweeping)
	gcIdle   float64 // /cpu/classes/gc/mark/idle: the part done by idle-priority mark workers on otherwise idle Ps
	user     float64 // /cpu/classes/user: the mutator, sweeping and the rest of the runtime
	total    float64 // /cpu/classes/total: GOMAXPROCS × wall time
	process  float64 // user+sys CPU time of the process (getrusage)
	wall     float64 // seconds
	maxPause float64 // upper bound of the highest /sched/pauses/total/gc bucket hit, seconds
	limiter  bool    // the GC CPU limiter engaged (/gc/limiter/last-enabled)
	goMem    uint64  // Go memory as GOMEMLIMIT counts it, after setup
	limit    int64   // GOMEMLIMIT during the churn (math.MaxInt64: none)
	offHeap  uint64  // vmkit's mapped bytes (Info Arena+Hblkhd) after setup
	peakRSS  uint64  // VmHWM over the churn
}

// frac is the GC CPU fraction: all of the GC's CPU time over the CPU time
// available (/cpu/classes/gc/total over /cpu/classes/total), the runtime's
// own classes, which its documentation says to compare only with each
// other.
func (r gcResult) frac() float64 { return r.gc / r.total }

// goFrac is the fraction as runtime.MemStats.GCCPUFraction and
// GODEBUG=gctrace=1 compute it (runtime/mgc.go): the GC's CPU time less
// idle-priority marking, over the CPU time available.
func (r gcResult) goFrac() float64 { return (r.gc - r.gcIdle) / r.total }

// goMemory returns the bytes GOMEMLIMIT counts: everything the runtime has
// mapped less what it has released to the system.
func goMemory() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// gcRun holds objects objects of 64 bytes, either off-heap (vmkit's
// malloc, on a heap of its own, their addresses in a pointer-free Go
// []uintptr) or as Go objects (a []*[64]byte), writes each once, then
// churns churn bytes of Go garbage in 1 KiB slices, writing a byte of each:
// the same mutator work in both variants. It measures the churn under s.
func gcRun(offHeap bool, objects int, churn int64, s gcSetting) (r gcResult) {
	var off []uintptr
	var on []*[64]byte
	if offHeap {
		// A heap of its own, closed at the end, so that every run starts
		// from the same state: the allocator keeps Go-heap metadata for
		// its spans and for batches of freed blocks.
		h, err := malloc.NewHeap(malloc.Options{})
		if err != nil {
			panic(err)
		}
		defer h.Close()
		off = make([]uintptr, objects)
		for i := range off {
			p, err := h.UnsafeMalloc(64)
			if err != nil {
				panic(err)
			}
			*(*byte)(p) = byte(i)
			off[i] = uintptr(p)
		}
		st := h.Info()
		r.offHeap = uint64(st.Arena + st.Hblkhd)
	} else {
		on = make([]*[64]byte, objects)
		for i := range on {
			on[i] = new([64]byte)
			on[i][0] = byte(i)
		}
	}
	runtime.GC()
	r.goMem = goMemory()
	oldGC := debug.SetGCPercent(s.gogc)
	r.limit = math.MaxInt64
	if s.headroom > 0 {
		r.limit = int64(r.goMem) + s.headroom
	}
	oldLimit := debug.SetMemoryLimit(r.limit)
	defer func() {
		debug.SetGCPercent(oldGC)
		debug.SetMemoryLimit(oldLimit)
	}()
	samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}, {Name: "/cpu/classes/user:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"}, {Name: "/gc/limiter/last-enabled:gc-cycle"}, {Name: "/sched/pauses/total/gc:seconds"}}
	value := func(i int) float64 {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			return float64(samples[i].Value.Uint64())
		}
		return samples[i].Value.Float64()
	}
	resetPeakRSS()
	metrics.Read(samples)
	var v0 [5]float64
	for i := range v0 {
		v0[i] = value(i)
	}
	pauses := append([]uint64(nil), samples[6].Value.Float64Histogram().Counts...)
	cpu0 := processCPU()
	t0 := time.Now()
	for done := int64(0); done < churn; done += 1024 {
		b := make([]byte, 1024)
		b[0] = byte(done >> 10)
		sink = b
	}
	r.wall = time.Since(t0).Seconds()
	r.process = processCPU() - cpu0
	metrics.Read(samples)
	r.peakRSS = peakRSS()
	d := func(i int) float64 { return value(i) - v0[i] }
	r.cycles, r.gc, r.gcIdle, r.user, r.total = d(0), d(1), d(2), d(3), d(4)
	r.limiter = value(5) > v0[0]
	h := samples[6].Value.Float64Histogram()
	for i := range h.Counts {
		if h.Counts[i] > pauses[i] {
			r.maxPause = h.Buckets[i+1]
		}
	}
	runtime.KeepAlive(off)
	runtime.KeepAlive(on)
	return r
}

// processCPU returns the user and system CPU time of the process so far, in
// seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// resetPeakRSS resets the kernel's peak resident set size of the process
// (VmHWM), as `echo 5 > /proc/self/clear_refs` does.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS returns VmHWM from /proc/self/status in bytes (0 if unknown).
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// gcReport runs workload (e) runs times in each setting, the two variants
// interleaved (alternating which goes first), and prints medians with the
// range over the runs; verbose prints every run too.
func gcReport(runs, objects int, churn int64, settings []gcSetting, verbose bool) {
	for _, s := range settings {
		var off, on []gcResult
		for i := range runs {
			for _, offHeap := range []bool{i%2 == 0, i%2 != 0} {
				debug.FreeOSMemory()
				r := gcRun(offHeap, objects, churn, s)
				if offHeap {
					off = append(off, r)
				} else {
					on = append(on, r)
				}
				if verbose {
					fmt.Printf("  %s, off-heap %-5v: cycles %.0f, GC CPU %.3f s (idle marking %.3f s), user %.3f s, total %.3f s, process CPU %.3f s, wall %.3f s, fraction %.3f (GCCPUFraction %.3f), limiter %v, Go memory %s, limit %s, off-heap %s, peak RSS %s\n",
						s.name, offHeap, r.cycles, r.gc, r.gcIdle, r.user, r.total, r.process, r.wall, r.frac(), r.goFrac(), r.limiter,
						mib(r.goMem), mib(uint64(r.limit)), mib(r.offHeap), mib(r.peakRSS))
				}
			}
		}
		fmt.Printf("(e) %d objects of 64 B held, %s of Go garbage churned in 1 KiB slices, %s, GOMAXPROCS=%d; medians of %d runs [min-max]:\n",
			objects, mib(uint64(churn)), s.name, runtime.GOMAXPROCS(0), runs)
		fmt.Printf("    %-44s %-24s %-24s %s\n", "", "off-heap (vmkit)", "Go heap", "off-heap/Go heap")
		line := func(what, format string, f func(gcResult) float64) {
			var a, b, q []float64
			for i := range off {
				a, b, q = append(a, f(off[i])), append(b, f(on[i])), append(q, f(off[i])/f(on[i]))
			}
			cell := func(v []float64) string {
				return fmt.Sprintf(format+" ["+format+"-"+format+"]", median(v), slices.Min(v), slices.Max(v))
			}
			ratio := "-"
			if !slices.ContainsFunc(q, func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }) {
				ratio = fmt.Sprintf("%.3fx [%.3f-%.3f]", median(q), slices.Min(q), slices.Max(q))
			}
			fmt.Printf("    %-44s %-24s %-24s %s\n", what, cell(a), cell(b), ratio)
		}
		count := func(v []gcResult, f func(gcResult) bool) (n int) {
			for _, r := range v {
				if f(r) {
					n++
				}
			}
			return n
		}
		line("GC CPU fraction (gc/total)", "%.3f", gcResult.frac)
		line("GCCPUFraction ((gc - idle marking)/total)", "%.3f", gcResult.goFrac)
		line("GC cycles", "%.0f", func(r gcResult) float64 { return r.cycles })
		line("GC CPU s", "%.3f", func(r gcResult) float64 { return r.gc })
		line("GC CPU per cycle ms", "%.1f", func(r gcResult) float64 { return 1e3 * r.gc / r.cycles })
		line("idle marking s", "%.3f", func(r gcResult) float64 { return r.gcIdle })
		line("user CPU s (/cpu/classes/user)", "%.3f", func(r gcResult) float64 { return r.user })
		line("process CPU s (getrusage)", "%.3f", func(r gcResult) float64 { return r.process })
		line("wall s", "%.3f", func(r gcResult) float64 { return r.wall })
		line("longest pause µs (bucket bound)", "%.0f", func(r gcResult) float64 { return 1e6 * r.maxPause })
		line("Go memory after setup MiB", "%.0f", func(r gcResult) float64 { return float64(r.goMem) / (1 << 20) })
		if s.headroom > 0 {
			line("budget: GOMEMLIMIT + off-heap MiB", "%.0f", func(r gcResult) float64 { return float64(uint64(r.limit)+r.offHeap) / (1 << 20) })
		}
		line("peak RSS over the churn MiB", "%.0f", func(r gcResult) float64 { return float64(r.peakRSS) / (1 << 20) })
		limited := func(r gcResult) bool { return r.limiter }
		fmt.Printf("    %-44s %-24s %-24s\n", "GC CPU limiter engaged (runs)", fmt.Sprintf("%d of %d", count(off, limited), runs), fmt.Sprintf("%d of %d", count(on, limited), runs))
	}
}

// mib formats a byte count in MiB ("none" for math.MaxInt64 and above).
func mib(b uint64) string {
	if b >= math.MaxInt64 {
		return "none"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
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

// lineTransfer returns the time, in nanoseconds, that one cache line takes
// to go from one CPU to the other: two goroutines locked to their threads
// hand a counter back and forth. Workload (c) moves a cache line or two
// between the CPUs for every block that crosses goroutines, so its
// 2-goroutine figure follows this latency, which on a virtual machine
// depends on where the hypervisor places the vCPUs at the moment and can
// change from minute to minute. It needs two CPUs free.
func lineTransfer(rounds int) float64 {
	var x struct {
		_ [64]byte
		v atomic.Int64
		_ [64]byte
	}
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for i := int64(1); i < 2*int64(rounds); i += 2 {
			for x.v.Load() != i {
			}
			x.v.Store(i + 1)
		}
		close(done)
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := time.Now()
	x.v.Store(1)
	for i := int64(2); i < 2*int64(rounds); i += 2 {
		for x.v.Load() != i {
		}
		x.v.Store(i + 1)
	}
	<-done
	return float64(time.Since(t0).Nanoseconds()) / float64(2*rounds)
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
	gcRuns := flag.Int("gcruns", 5, "runs per figure of workload (e) (-only gc uses -runs)")
	objects := flag.Int("objects", 10_000_000, "objects held in workload (e)")
	churn := flag.Int64("churn", 4<<30, "bytes of Go garbage churned in workload (e)")
	headroom := flag.Int64("headroom", 256<<20, "workload (e)'s memory-limited setting: GOMEMLIMIT is the Go memory after setup plus this many bytes")
	only := flag.String("only", "", "run only this workload of vmkit (pairs, cachepairs, ring, cachering, unsafepairs, unsafering, ringpeak, realloc, larson1, larson2 (on Caches), transfer (a cache line's trip between the CPUs, in ns), ceiling1, ceiling2 (workload (c) on an allocator that does nothing: what the harness allows), indep1, indep2 (the control of (c): pairs on 1 or 2 goroutines, nothing crossing), plarson1, plarson2 (package-level), midpairs, cachemidpairs, midring, cachemidring (workloads (f) and (g)), gc) or of modernc (moderncpairs, moderncring; moderncbytespairs, moderncbytesring with its []byte API), for profiling")
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
	settings := []gcSetting{
		{name: "GOGC=100", gogc: 100},
		{name: fmt.Sprintf("GOGC=off, GOMEMLIMIT=Go memory+%s", mib(uint64(*headroom))), gogc: -1, headroom: *headroom},
	}
	if *only == "gc" {
		gcReport(*runs, *objects, *churn, settings, true)
		return
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
				v = ringvmkit(*n)
			case "cachering":
				v = ringvmkitCache(*n)
			case "unsafepairs":
				v = pairsvmkitCacheUnsafe(*n)
			case "unsafering":
				v = ringvmkitCacheUnsafe(*n)
			case "moderncpairs":
				v = pairsmodernc(*n)
			case "moderncring":
				v = ringmodernc(*n)
			case "moderncbytespairs":
				v = pairsmoderncBytes(*n)
			case "moderncbytesring":
				v = ringmoderncBytes(*n)
			case "realloc":
				v = reallocvmkit(*n / 20)
			case "larson1":
				v = 1e9 / larson(1, *n, larsonvmkitCache, larsonDrainvmkitCache)
			case "larson2":
				v = 1e9 / larson(2, *n, larsonvmkitCache, larsonDrainvmkitCache)
				if os.Getenv("DIAG") != "" {
					st := malloc.Info()
					fmt.Printf("arena %d uord %d fsm %d\n", st.Arena, st.Uordblks, st.Fsmblks)
				}
			case "transfer":
				v = lineTransfer(*n / 10)
			case "ceiling1":
				v = 1e9 / ceiling(1, *n)
			case "ceiling2":
				v = 1e9 / ceiling(2, *n)
			case "indep1":
				v = 1e9 / independent(1, *n, true)
			case "indep2":
				v = 1e9 / independent(2, *n, true)
			case "plarson1":
				v = 1e9 / larson(1, *n, larsonvmkit, larsonDrainvmkit)
			case "plarson2":
				v = 1e9 / larson(2, *n, larsonvmkit, larsonDrainvmkit)
			case "midpairs":
				v = midpairsvmkit(*n / 4)
			case "cachemidpairs":
				v = midpairsvmkitCache(*n / 4)
			case "midring":
				v = midringvmkit(*n / 4)
			case "cachemidring":
				v = midringvmkitCache(*n / 4)
			case "ringpeak":
				h, err := malloc.NewHeap(malloc.Options{})
				if err != nil {
					panic(err)
				}
				ratio, usable := ringPeak(h, *n)
				h.Close()
				fmt.Printf("ring footprint %.3f (over usable %.3f)\n", ratio, usable)
				continue
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
	cbin, err := buildC(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "glibc in C:", err)
		os.Exit(1)
	}
	cres, err := runC(cbin, "", *runs, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "glibc in C:", err)
		os.Exit(1)
	}
	names := []string{"glibc C"}
	res := map[string]result{"glibc C": cres}
	for _, pe := range cPeers {
		lib := findLib(pe.lib)
		if lib == "" {
			fmt.Fprintf(os.Stderr, "%s: %s not installed, left out\n", pe.name, pe.lib)
			continue
		}
		fmt.Fprintf(os.Stderr, "%s: running the C program with LD_PRELOAD=%s...\n", pe.name, lib)
		r, err := runC(cbin, lib, *runs, *n)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v, left out\n", pe.name, err)
			continue
		}
		names = append(names, pe.name)
		res[pe.name] = r
	}
	goNames := []string{"vmkit Cache", "vmkit Cache unsafe", "vmkit", "modernc", "modernc []byte", "modernc+mutex", "glibc cgo", "Go make"}
	names = append(names, goNames...)
	for _, nm := range goNames {
		res[nm] = result{}
	}
	// add measures one workload of one allocator after a full garbage
	// collection, so that no allocator runs while the GC still sweeps the
	// previous workload's garbage (Go make's above all).
	add := func(nm, k string, f func() float64) {
		runtime.GC()
		res[nm].add(k, f())
	}
	var peakRatio, peakUsable []float64
	for r := range *runs + 1 {
		if r == 0 {
			fmt.Fprintf(os.Stderr, "warm-up run (discarded)\n")
		} else {
			fmt.Fprintf(os.Stderr, "run %d/%d\n", r, *runs)
		}
		add("vmkit Cache", "pairs", func() float64 { return pairsvmkitCache(*n) })
		add("vmkit Cache unsafe", "pairs", func() float64 { return pairsvmkitCacheUnsafe(*n) })
		add("vmkit", "pairs", func() float64 { return pairsvmkit(*n) })
		add("modernc", "pairs", func() float64 { return pairsmodernc(*n) })
		add("modernc []byte", "pairs", func() float64 { return pairsmoderncBytes(*n) })
		add("modernc+mutex", "pairs", func() float64 { return pairsmoderncMutex(*n) })
		add("glibc cgo", "pairs", func() float64 { return pairscgo(*n) })
		add("Go make", "pairs", func() float64 { return pairsgoMake(*n) })

		add("vmkit Cache", "ring", func() float64 { return ringvmkitCache(*n) })
		add("vmkit Cache unsafe", "ring", func() float64 { return ringvmkitCacheUnsafe(*n) })
		add("vmkit", "ring", func() float64 { return ringvmkit(*n) })
		add("modernc", "ring", func() float64 { return ringmodernc(*n) })
		add("modernc []byte", "ring", func() float64 { return ringmoderncBytes(*n) })
		add("modernc+mutex", "ring", func() float64 { return ringmoderncMutex(*n) })
		add("glibc cgo", "ring", func() float64 { return ringcgo(*n) })
		add("Go make", "ring", func() float64 { return ringgoMake(*n) })

		add("vmkit Cache", "larson1", func() float64 { return larson(1, *n, larsonvmkitCache, larsonDrainvmkitCache) })
		add("vmkit Cache", "larson2", func() float64 { return larson(2, *n, larsonvmkitCache, larsonDrainvmkitCache) })
		add("vmkit", "larson1", func() float64 { return larson(1, *n, larsonvmkit, larsonDrainvmkit) })
		add("vmkit", "larson2", func() float64 { return larson(2, *n, larsonvmkit, larsonDrainvmkit) })
		add("modernc+mutex", "larson1", func() float64 { return larson(1, *n, larsonmoderncMutex, larsonDrainmoderncMutex) })
		add("modernc+mutex", "larson2", func() float64 { return larson(2, *n, larsonmoderncMutex, larsonDrainmoderncMutex) })
		add("glibc cgo", "larson1", func() float64 { return larson(1, *n, larsoncgo, larsonDraincgo) })
		add("glibc cgo", "larson2", func() float64 { return larson(2, *n, larsoncgo, larsonDraincgo) })
		add("Go make", "larson1", func() float64 { return larson(1, *n, larsongoMake, larsonDraingoMake) })
		add("Go make", "larson2", func() float64 { return larson(2, *n, larsongoMake, larsonDraingoMake) })

		add("vmkit Cache", "transfer", func() float64 { return lineTransfer(*n / 10) })
		add("vmkit Cache", "ceiling1", func() float64 { return ceiling(1, *n) })
		add("vmkit Cache", "ceiling2", func() float64 { return ceiling(2, *n) })
		add("vmkit Cache", "indep1", func() float64 { return independent(1, *n, true) })
		add("vmkit Cache", "indep2", func() float64 { return independent(2, *n, true) })
		add("vmkit", "indep1", func() float64 { return independent(1, *n, false) })
		add("vmkit", "indep2", func() float64 { return independent(2, *n, false) })

		add("vmkit Cache", "realloc", func() float64 { return reallocvmkitCache(*n / 20) })
		add("vmkit", "realloc", func() float64 { return reallocvmkit(*n / 20) })
		add("modernc", "realloc", func() float64 { return reallocmodernc(*n / 20) })
		add("modernc+mutex", "realloc", func() float64 { return reallocmoderncMutex(*n / 20) })
		add("glibc cgo", "realloc", func() float64 { return realloccgo(*n / 20) })
		add("Go make", "realloc", func() float64 { return reallocgoMake(*n / 20) })

		add("vmkit Cache", "midpairs", func() float64 { return midpairsvmkitCache(*n / 4) })
		add("vmkit", "midpairs", func() float64 { return midpairsvmkit(*n / 4) })
		add("modernc", "midpairs", func() float64 { return midpairsmodernc(*n / 4) })
		add("modernc+mutex", "midpairs", func() float64 { return midpairsmoderncMutex(*n / 4) })
		add("glibc cgo", "midpairs", func() float64 { return midpairscgo(*n / 4) })
		add("Go make", "midpairs", func() float64 { return midpairsgoMake(*n / 4) })
		add("vmkit Cache", "midring", func() float64 { return midringvmkitCache(*n / 4) })
		add("vmkit", "midring", func() float64 { return midringvmkit(*n / 4) })
		add("modernc", "midring", func() float64 { return midringmodernc(*n / 4) })
		add("modernc+mutex", "midring", func() float64 { return midringmoderncMutex(*n / 4) })
		add("glibc cgo", "midring", func() float64 { return midringcgo(*n / 4) })
		add("Go make", "midring", func() float64 { return midringgoMake(*n / 4) })
		if r == 0 {
			for nm, m := range res {
				if !slices.Contains(goNames, nm) {
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
	// The same ratio taken run by run (the two figures of a run were
	// measured a moment apart, in the same placement of the vCPUs), then
	// the median and the range over the runs.
	fmt.Printf("%-28s", "(c) 2 vs 1, per run")
	for _, nm := range names {
		a, b := res[nm]["larson1"], res[nm]["larson2"]
		if len(a) == 0 || len(a) != len(b) {
			fmt.Printf(" %20s", "-")
			continue
		}
		r := make([]float64, len(a))
		for i := range a {
			r[i] = b[i] / a[i]
		}
		fmt.Printf(" %20s", fmt.Sprintf("%.2fx [%.2f-%.2f]", median(r), slices.Min(r), slices.Max(r)))
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
	if a, b := res["vmkit Cache"]["ceiling1"], res["vmkit Cache"]["ceiling2"]; len(a) > 0 && len(a) == len(b) {
		r := make([]float64, len(a))
		for i := range a {
			r[i] = b[i] / a[i]
		}
		fmt.Printf("%-28s %20s\n", "(c) ceiling, 2 vs 1", fmt.Sprintf("%.2fx; per run %.2fx [%.2f-%.2f]", median(b)/median(a), median(r), slices.Min(r), slices.Max(r)))
	}
	fmt.Printf("%-28s %20s\n", "(c) cache line CPU->CPU, ns", fmt.Sprintf("%.0f", median(res["vmkit Cache"]["transfer"])))
	row("(d) realloc ns/op", "realloc", 1, "")
	row("(f) mid pairs (32 KiB) ns/op", "midpairs", 1, "")
	row("(g) mid ring (16-128 KiB) ns/op", "midring", 1, "")
	fmt.Printf("\n(b) footprint at the end of the ring, fresh heap: mapped/live (requested bytes): glibc C %.3f (mallinfo2 arena+hblkhd), vmkit Cache %.3f (Info Arena+Hblkhd); vmkit mapped/usable bytes %.3f\n",
		median(cres["ringpeak"]), median(peakRatio), median(peakUsable))
	fmt.Printf("(b) footprint by the growth of the C program's resident set over the ring, over live bytes:")
	for _, nm := range names {
		if v := res[nm]["ringrss"]; len(v) > 0 {
			fmt.Printf(" %s %.3f", nm, median(v))
		}
	}
	fmt.Println()
	if *gc {
		gcReport(*gcRuns, *objects, *churn, settings, false)
	}
}

// ptr turns an address outside the Go heap into a pointer, in the form go
// vet accepts.
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
