package realtime

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/proc"
)

// Options configure Prepare. The zero value works: 256 KiB of stack, 16 MiB
// of heap reserve, the GC left alone.
type Options struct {
	// StackBytes is how much goroutine stack to grow and touch before the
	// section; 0 means 256 KiB, at most 256 MiB (64 MiB on 32-bit
	// systems, whose goroutine stacks are smaller). The section should not
	// use more.
	StackBytes int
	// HeapBytes is how much Go heap to fault in and leave free for the
	// section's allocations; 0 means 16 MiB. Prepare refuses reserves
	// larger than the memory available (MemAvailable).
	HeapBytes int
	// GCPercent, when not 0, is passed to debug.SetGCPercent during
	// Prepare; -1 turns the collector off until Release.
	GCPercent int
	// OnFault locks lazily (MCL_ONFAULT): pages are locked when first
	// touched, so memory mapped later is not faulted in whole. The reserves
	// are still touched, so they are locked and resident.
	OnFault bool
	// AllowHugePages keeps transparent huge pages on. By default Prepare
	// turns them off for the process (prctl PR_SET_THP_DISABLE): khugepaged
	// collapsing locked heap pages into a huge page is a fault for a
	// section that touches them meanwhile.
	AllowHugePages bool
}

const (
	defaultStack = 256 << 10
	defaultHeap  = 16 << 20
	// maxStack keeps the grown stack within the runtime's maximum
	// (1,000,000,000 bytes on 64-bit systems, 250,000,000 on 32-bit ones):
	// stacks double in size, so a section of n bytes on top of the
	// caller's frames needs a stack of the next power of two above n, and
	// 512 MiB asked a 1 GiB stack, a fatal "stack overflow".
	maxStack = int(64 << 20 << (2 * (^uintptr(0) >> 63))) // 256 MiB, or 64 MiB on 32-bit systems
)

// Validate reports the first option that cannot work.
func (o Options) Validate() error {
	switch {
	case o.StackBytes < 0 || o.StackBytes > maxStack:
		return fmt.Errorf("realtime: StackBytes %d: give 0 (default 256 KiB) up to %d MiB", o.StackBytes, maxStack>>20)
	case o.HeapBytes < 0:
		return fmt.Errorf("realtime: HeapBytes %d: give 0 (default 16 MiB) or a positive size", o.HeapBytes)
	case o.GCPercent < -1:
		return fmt.Errorf("realtime: GCPercent %d: give 0 to leave the GC alone, -1 to turn it off, or a percentage", o.GCPercent)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.StackBytes == 0 {
		o.StackBytes = defaultStack
	}
	if o.HeapBytes == 0 {
		o.HeapBytes = defaultHeap
	}
	return o
}

var (
	mu       sync.Mutex
	prepared bool
	stack    = defaultStack // bytes Run grows its stack by
	oldGC    = 0            // GC percent before Prepare, when it changed it
	gcSet    bool
	// thpSet is set while transparent huge pages are off because Prepare
	// turned them off; Release turns them back on.
	thpSet bool
)

// Prepare locks the process and reserves stack and heap, as the package
// documentation describes. It fails without side effects when the lock
// cannot be taken safely; the error then comes from mem.LockAll and names
// RLIMIT_MEMLOCK and the remedies. Transparent huge pages, when Prepare
// turns them off, stay off until Release (or a failed Prepare) turns them
// back on; children started meanwhile inherit the setting.
func Prepare(opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	opts = opts.withDefaults()
	mu.Lock()
	defer mu.Unlock()
	flags := mem.Current | mem.Future
	if opts.OnFault {
		flags |= mem.OnFault
	}
	if err := mem.CanLockAll(flags); err != nil {
		return fmt.Errorf("realtime: Prepare: %w", err)
	}
	// The reserves are faulted in and locked: more than the machine has
	// would end in the runtime's fatal "out of memory" or the OOM killer.
	avail, err := availableMemory()
	if err != nil {
		return fmt.Errorf("realtime: Prepare: %w", err)
	}
	if need := int64(opts.HeapBytes) + int64(opts.StackBytes); avail >= 0 && need > avail {
		return fmt.Errorf("realtime: Prepare: HeapBytes %d and StackBytes %d need %s of RAM, more than the %s available (MemAvailable in /proc/meminfo); give smaller reserves",
			opts.HeapBytes, opts.StackBytes, mem.FormatBytes(need), mem.FormatBytes(avail))
	}
	setTHP := false // this call turned THP off
	if !opts.AllowHugePages {
		off, err := thpDisabled()
		if err != nil {
			return fmt.Errorf("realtime: Prepare: %w", err)
		}
		if !off {
			if err := setTHPDisabled(true); err != nil {
				return fmt.Errorf("realtime: Prepare: %w", err)
			}
			setTHP = true
		}
	}
	if err := mem.LockAll(flags); err != nil {
		if setTHP {
			setTHPDisabled(false)
		}
		return fmt.Errorf("realtime: Prepare: %w", err)
	}
	thpSet = thpSet || setTHP
	reserveHeap(opts.HeapBytes)
	stack = opts.StackBytes
	growStack(stack)
	if opts.GCPercent != 0 {
		old := debug.SetGCPercent(opts.GCPercent)
		if !gcSet {
			oldGC, gcSet = old, true
		}
	}
	prepared = true
	return nil
}

// Prepared reports whether Prepare succeeded and Release has not run since.
func Prepared() bool {
	mu.Lock()
	defer mu.Unlock()
	return prepared
}

// Release undoes Prepare: it unlocks the process (ending the Future mode),
// restores the GC percentage, and turns transparent huge pages back on if
// Prepare turned them off. Locks do not nest: after two Prepares one Release
// unlocks everything. Without a successful Prepare since the last Release it
// changes nothing and returns an error.
func Release() error {
	mu.Lock()
	defer mu.Unlock()
	if !prepared {
		return errors.New("realtime: Release without a successful Prepare")
	}
	if gcSet {
		debug.SetGCPercent(oldGC)
		gcSet = false
	}
	prepared = false
	var thpErr error
	if thpSet {
		thpErr = setTHPDisabled(false)
		thpSet = false
	}
	if err := mem.UnlockAll(); err != nil {
		return fmt.Errorf("realtime: Release: %w", err)
	}
	if thpErr != nil {
		return fmt.Errorf("realtime: Release: %w", thpErr)
	}
	return nil
}

// reserveHeap faults in n bytes of Go heap and frees it again, leaving the
// pages in the runtime's free spans.
func reserveHeap(n int) {
	const piece = 256 << 10
	hold := make([][]byte, 0, n/piece+1)
	for n > 0 {
		b := make([]byte, min(piece, n))
		for i := 0; i < len(b); i += 1024 {
			b[i] = 1
		}
		hold = append(hold, b)
		n -= len(b)
	}
	runtime.KeepAlive(hold)
	hold = nil
	runtime.GC()
}

// frame is the stack each growStack call takes.
const frame = 16 << 10

// growStack makes the goroutine's stack at least n bytes deep and writes to
// every page of it. The result is returned so that the compiler cannot drop
// the writes.
//
//go:noinline
func growStack(n int) byte {
	var buf [frame]byte
	for i := 0; i < len(buf); i += 512 {
		buf[i] = byte(i)
	}
	if n > frame {
		return growStack(n-frame) + buf[n%frame]
	}
	return buf[n%frame]
}

// Faults are the page faults a section took on its thread.
type Faults struct {
	// Minor faults were resolved without I/O: a page was allocated,
	// copied for copy-on-write, or found in the page cache.
	Minor int64
	// Major faults needed I/O to read the page.
	Major int64
}

// String reads like "0 minor, 0 major".
func (f Faults) String() string { return fmt.Sprintf("%d minor, %d major", f.Minor, f.Major) }

// Run locks the calling goroutine to its OS thread, grows its stack by the
// prepared amount (256 KiB before any Prepare), runs fn there and returns the
// page faults the thread took during fn (getrusage RUSAGE_THREAD). fn runs on
// the calling goroutine, so goroutines that fn starts are not measured. Run
// works without Prepare too, which shows what the preparation saves. It
// returns an error for a nil fn, or when the counters cannot be read.
func Run(fn func()) (Faults, error) {
	if fn == nil {
		return Faults{}, errors.New("realtime: Run(nil)")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mu.Lock()
	n := stack
	mu.Unlock()
	growStack(n)
	before, err := proc.Faults()
	if err != nil {
		return Faults{}, fmt.Errorf("realtime: %w", err)
	}
	fn()
	after, err := proc.Faults()
	if err != nil {
		return Faults{}, fmt.Errorf("realtime: %w", err)
	}
	d := after.Sub(before)
	return Faults{Minor: d.ThreadMinor, Major: d.ThreadMajor}, nil
}
