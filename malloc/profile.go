package malloc

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
)

// ProfileName is the name of the runtime/pprof profile of sampled live
// blocks, shared by every heap: `go tool pprof` on the output of
// pprof.Lookup(ProfileName).WriteTo shows which call stacks hold off-heap
// blocks, one count per sample whatever its size, as runtime/pprof's own
// profiles of custom events do (they carry no bytes). For bytes, use
// WriteProfile, which weighs each sample by its size.
const ProfileName = "vmkit/malloc"

var (
	profOnce sync.Once
	profile  *pprof.Profile
)

func theProfile() *pprof.Profile {
	profOnce.Do(func() {
		if p := pprof.Lookup(ProfileName); p != nil {
			profile = p
			return
		}
		profile = pprof.NewProfile(ProfileName)
	})
	return profile
}

type sample struct {
	size  int
	rate  int64 // the sampling rate when it was taken (see sampleWeight)
	stack []uintptr
}

// profiler samples allocations as the runtime's heap profile does: the
// distance to the next sample is drawn from an exponential distribution with
// mean rate, so that every byte has the same chance to be sampled.
type profiler struct {
	rate  atomic.Int64
	until atomic.Int64 // bytes left before the next sample
	mu    sync.Mutex
	live  map[uintptr]sample
}

// SetProfileRate samples about one allocation per rate bytes into the
// "vmkit/malloc" profile; 0 stops sampling (blocks sampled so far stay in
// the profile until freed).
func (h *Heap) SetProfileRate(rate int) {
	if h == nil {
		panic(errNilHeap)
	}
	if rate < 0 {
		rate = 0
	}
	h.prof.rate.Store(int64(rate))
	h.prof.until.Store(nextSample(int64(rate)))
	theProfile()
	h.prof.mu.Lock()
	// While sampled blocks are live, frees keep taking the slow path so
	// that they leave the profile.
	h.setMode(modeProfile, rate > 0 || len(h.prof.live) > 0)
	h.prof.mu.Unlock()
}

func nextSample(rate int64) int64 {
	if rate <= 1 {
		return rate
	}
	return int64(-math.Log(1-rand.Float64()) * float64(rate))
}

func (pr *profiler) maybeSample(h *Heap, p uintptr, size int) {
	rate := pr.rate.Load()
	if rate <= 0 || p == 0 {
		return
	}
	if pr.until.Add(-int64(max(size, 1))) > 0 {
		return
	}
	pr.until.Store(nextSample(rate))
	var pcs [32]uintptr
	n := runtime.Callers(2, pcs[:])
	skip := 0
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !inPackage(f.Function) || !more {
			break
		}
		skip++
	}
	pr.mu.Lock()
	if pr.live == nil {
		pr.live = map[uintptr]sample{}
	}
	if _, dup := pr.live[p]; !dup {
		pr.live[p] = sample{size: size, rate: rate, stack: append([]uintptr(nil), pcs[min(skip, n):n]...)}
		theProfile().Add(p, skip+2)
		// SetProfileRate(0) may have run since this call read the rate,
		// and found no sampled block then: the frees of this one must
		// still take the slow path, to leave the profile. It is set before
		// the block is handed out, so any later free sees it.
		if h.mode.Load()&modeProfile == 0 {
			h.setMode(modeProfile, true)
		}
	}
	pr.mu.Unlock()
}

func (pr *profiler) forget(h *Heap, p uintptr) {
	pr.mu.Lock()
	if _, ok := pr.live[p]; ok {
		delete(pr.live, p)
		theProfile().Remove(p)
		if len(pr.live) == 0 && pr.rate.Load() == 0 {
			h.setMode(modeProfile, false)
		}
	}
	pr.mu.Unlock()
}

// forgetAll drops every sampled block from the profile, which all heaps
// share, keyed by address: at Heap.Close, whose blocks all go at once, so
// that a block another heap later has at one of their addresses can be
// sampled (pprof.Profile.Add panics on a key it holds already).
func (pr *profiler) forgetAll() {
	pr.mu.Lock()
	for p := range pr.live {
		theProfile().Remove(p)
	}
	pr.live = nil
	pr.mu.Unlock()
}

// sampleGroup is the live samples of one call stack: their number and
// bytes, and the blocks and bytes they stand for (see sampleWeight).
type sampleGroup struct {
	stack          []uintptr
	n              int
	bytes          int64
	estN, estBytes float64
}

// groups returns the live samples grouped by call stack, the largest
// estimate first, and the number of samples.
func (pr *profiler) groups() ([]*sampleGroup, int) {
	pr.mu.Lock()
	byStack := map[string]*sampleGroup{}
	for _, s := range pr.live {
		k := stackKey(s.stack)
		g := byStack[k]
		if g == nil {
			g = &sampleGroup{stack: s.stack}
			byStack[k] = g
		}
		g.n++
		g.bytes += int64(s.size)
		wt := sampleWeight(s.size, s.rate)
		g.estN += wt
		g.estBytes += wt * float64(s.size)
	}
	n := len(pr.live)
	pr.mu.Unlock()
	list := make([]*sampleGroup, 0, len(byStack))
	for _, g := range byStack {
		list = append(list, g)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].estBytes > list[j].estBytes })
	return list, n
}

// WriteLeaks writes the sampled blocks that are still allocated, grouped by
// the call stack that allocated them, largest first: the leak report. Where
// the sampling rate is above 1, each group also gives the blocks and bytes
// that its samples stand for (see WriteProfile). Call it at the end of main
// (with defer) or of a test. It needs profiling on (Options.ProfileRate,
// SetProfileRate or VMKIT_MALLOC_PROFILE_RATE).
func (h *Heap) WriteLeaks(w io.Writer) error {
	if h == nil {
		return errNilHeap
	}
	list, nlive := h.prof.groups()
	rate := h.prof.rate.Load()
	info := h.Info()
	if _, err := fmt.Fprintf(w, "malloc leak report: %d sampled live blocks in %d stacks (1 sample per %d bytes); in use now: %d bytes in arenas, %d bytes mapped\n",
		nlive, len(list), rate, info.Uordblks, info.Hblkhd); err != nil {
		return err
	}
	for _, g := range list {
		est := ""
		if n, b := int64(math.Round(g.estN)), int64(math.Round(g.estBytes)); n != int64(g.n) || b != g.bytes {
			est = fmt.Sprintf(" (about %d blocks, %d bytes, live from here)", n, b)
		}
		if _, err := fmt.Fprintf(w, "\n%d blocks, %d bytes sampled%s:\n", g.n, g.bytes, est); err != nil {
			return err
		}
		frames := runtime.CallersFrames(g.stack)
		for {
			f, more := frames.Next()
			if _, err := fmt.Fprintf(w, "\t%s\n\t\t%s:%d\n", f.Function, f.File, f.Line); err != nil {
				return err
			}
			if !more {
				break
			}
		}
	}
	return nil
}
