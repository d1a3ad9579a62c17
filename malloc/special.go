package malloc

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// The slow mode: when hooks, perturbation, guard bytes or profiling are on,
// every call goes through special, which wraps the plain allocator.

type opKind int

const (
	opMalloc opKind = iota
	opFree
	opRealloc
	opMemalign
)

// Hooks are callbacks on every allocation call of a heap, the safe form of
// glibc's __malloc_hook family. Each receives the call's arguments, its
// result and the program counter of the caller outside package malloc. Any
// field may be nil.
//
// A hook may allocate and free through this package: while a hook runs,
// calls made by it (and by any other goroutine, for that moment) do not
// reach the hooks, so a hook never recurses into itself. Calls skipped that
// way are counted in HooksSkipped. A hook must not keep the memory it is
// shown past the matching free.
type Hooks struct {
	// Malloc follows Malloc, Calloc, UnsafeMalloc, New and MakeSlice;
	// result is nil when the call failed.
	Malloc func(size int, result unsafe.Pointer, caller uintptr)
	// Realloc follows Realloc and ReallocArray that resize a block (not
	// Realloc(nil, n), which is a Malloc, nor Realloc(b, 0), a Free).
	Realloc func(old unsafe.Pointer, size int, result unsafe.Pointer, caller uintptr)
	// Free follows every free, successful or refused.
	Free func(p unsafe.Pointer, caller uintptr)
	// Memalign follows AlignedAlloc, Memalign, PosixMemalign, Valloc and
	// PValloc, with the alignment used (at least 16).
	Memalign func(alignment, size int, result unsafe.Pointer, caller uintptr)
}

// SetHooks installs hooks (nil removes them). While hooks are installed
// every call takes the slow path.
func (h *Heap) SetHooks(hooks *Hooks) {
	if h == nil {
		panic(errNilHeap)
	}
	if hooks != nil && hooks.Malloc == nil && hooks.Realloc == nil && hooks.Free == nil && hooks.Memalign == nil {
		hooks = nil
	}
	h.hooks.Store(hooks)
	h.setMode(modeHooks, hooks != nil)
}

// HooksSkipped counts the calls that did not reach the hooks because a hook
// was running.
func (h *Heap) HooksSkipped() int64 { return h.hookSkipped.Load() }

// callerPC returns the program counter of the first caller outside package
// malloc (test files of the package count as outside).
func callerPC() uintptr {
	var pcs [16]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !inPackage(f.Function) || strings.HasSuffix(f.File, "_test.go") {
			return f.PC
		}
		if !more {
			return 0
		}
	}
}

func inPackage(fn string) bool {
	return strings.HasPrefix(fn, "github.com/vmkit/vmkit/malloc.")
}

// runHook calls fn unless a hook is running already.
func (h *Heap) runHook(fn func()) {
	if h.hookRun.Add(1) != 1 {
		h.hookRun.Add(-1)
		h.hookSkipped.Add(1)
		return
	}
	defer h.hookRun.Add(-1)
	fn()
}

// special runs one call in the slow mode.
func (h *Heap) special(op opKind, b []byte, size, align int, c *Cache) ([]byte, error) {
	mode := h.mode.Load()
	if mode&modeClosed != 0 {
		return nil, ErrClosed
	}
	var res []byte
	var err error
	old := addrOf(b)
	switch op {
	case opMalloc, opMemalign:
		var p uintptr
		p, err = h.allocSpecial(size, align, c)
		if err == nil {
			res = bytesAt(p, size)
		}
	case opFree:
		err = h.freeSpecial(old, c)
	case opRealloc:
		res, err = h.reallocSpecial(old, size, c)
	}
	if mode&modeProfile != 0 {
		if op == opFree || (op == opRealloc && err == nil) {
			h.prof.forget(h, old)
		}
		if err == nil && op != opFree {
			h.prof.maybeSample(h, addrOf(res), size)
		}
	}
	if hk := h.hooks.Load(); hk != nil && mode&modeHooks != 0 {
		var rp unsafe.Pointer
		if res != nil {
			rp = unsafe.Pointer(unsafe.SliceData(res))
		}
		pc := callerPC()
		switch {
		case op == opMalloc && hk.Malloc != nil:
			h.runHook(func() { hk.Malloc(size, rp, pc) })
		case op == opMemalign && hk.Memalign != nil:
			h.runHook(func() { hk.Memalign(align, size, rp, pc) })
		case op == opRealloc && hk.Realloc != nil:
			h.runHook(func() { hk.Realloc(ptr(old), size, rp, pc) })
		case op == opFree && hk.Free != nil:
			h.runHook(func() { hk.Free(ptr(old), pc) })
		}
	}
	return res, err
}

// Guard layout: the block the allocator returns holds headGuard bytes of
// pattern, then the caller's size bytes, then at least tailGuard bytes of
// pattern. The table maps each caller address to its block.
const (
	guardByte = 0xAB
	headGuard = 16
	tailGuard = 16
)

type guardRec struct {
	raw   uintptr // the underlying block
	head  int     // bytes of head guard
	size  int     // the caller's size
	freed bool    // freed since; kept to report a double free
}

type guardTable struct {
	mu sync.Mutex
	m  map[uintptr]guardRec
}

func (g *guardTable) get(p uintptr) (guardRec, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.m[p]
	return r, ok && !r.freed
}

func (h *Heap) allocSpecial(size, align int, c *Cache) (uintptr, error) {
	if !h.guard {
		p, err := h.alloc("malloc", size, align, c)
		if err == nil {
			h.fillAlloc(p, size)
		}
		return p, err
	}
	head := max(headGuard, align)
	if uint64(size) > 1<<46 {
		return 0, tooLarge("malloc", size, 1<<46)
	}
	raw, err := h.alloc("malloc", head+size+tailGuard, max(align, 16), c)
	if err != nil {
		return 0, err
	}
	p := raw + uintptr(head)
	fill(raw, head, guardByte)
	fill(p+uintptr(size), tailGuard, guardByte)
	h.fillAlloc(p, size)
	h.guards.mu.Lock()
	h.guards.m[p] = guardRec{raw: raw, head: head, size: size}
	h.guards.mu.Unlock()
	return p, nil
}

func fill(p uintptr, n int, v byte) {
	b := bytesAt(p, n)
	for i := range b {
		b[i] = v
	}
}

func (h *Heap) fillAlloc(p uintptr, n int) {
	if v := h.perturb.Load(); v != 0 {
		fill(p, n, ^byte(v))
	}
}

// guardStatus checks the guard bytes of rec.
func guardStatus(p uintptr, rec guardRec) Status {
	for _, v := range bytesAt(rec.raw, rec.head) {
		if v != guardByte {
			return HEAD
		}
	}
	for _, v := range bytesAt(p+uintptr(rec.size), tailGuard) {
		if v != guardByte {
			return TAIL
		}
	}
	return OK
}

func (h *Heap) freeSpecial(p uintptr, c *Cache) error {
	if !h.guard {
		if v := h.perturb.Load(); v != 0 {
			bi, err := h.info("free", p)
			if err != nil {
				return err
			}
			fill(p, bi.usable, byte(v))
		}
		return h.free("free", p, c)
	}
	h.guards.mu.Lock()
	rec, ok := h.guards.m[p]
	if !ok || rec.freed {
		h.guards.mu.Unlock()
		if ok {
			return doubleFree("free", p, "the block is already free")
		}
		if _, err := h.info("free", p); err != nil {
			return err
		}
		return invalidPointer("free", p, "not a block returned by this heap")
	}
	rec.freed = true
	h.guards.m[p] = rec
	h.guards.mu.Unlock()
	st := guardStatus(p, rec)
	if v := h.perturb.Load(); v != 0 {
		fill(p, rec.size, byte(v))
	}
	if err := h.free("free", rec.raw, c); err != nil {
		return err
	}
	if st != OK {
		return &opError{msg: fmt.Sprintf("free(%#x): %v corruption: the guard bytes %s the %d-byte block were overwritten",
			p, st, map[Status]string{HEAD: "before", TAIL: "after"}[st], rec.size), err: ErrCorrupt}
	}
	return nil
}

func (h *Heap) reallocSpecial(old uintptr, size int, c *Cache) ([]byte, error) {
	if !h.guard {
		oldSize := 0
		if v := h.perturb.Load(); v != 0 {
			bi, err := h.info("realloc", old)
			if err != nil {
				return nil, err
			}
			oldSize = bi.usable
		}
		q, err := h.reallocRaw(old, size, c)
		if err != nil {
			return nil, err
		}
		if oldSize > 0 && size > oldSize {
			h.fillAlloc(q+uintptr(oldSize), size-oldSize)
		}
		return bytesAt(q, size), nil
	}
	rec, ok := h.guards.get(old)
	if !ok {
		return nil, h.freeSpecial(old, c) // reports the error
	}
	q, err := h.allocSpecial(size, 0, c)
	if err != nil {
		return nil, err
	}
	copy(bytesAt(q, size), bytesAt(old, min(size, rec.size)))
	if err := h.freeSpecial(old, c); err != nil {
		return bytesAt(q, size), err
	}
	return bytesAt(q, size), nil
}
