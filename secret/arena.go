package secret

import (
	"fmt"

	"github.com/vmkit/vmkit/mem"
)

// The packed arena: steps P1 to P5 of the design in doc.go. Everything here
// runs with state.mu held.

// arenaPages is how many data pages one arena reserves. Reserving costs
// address space only: a page is opened, locked and paid for when it is first
// handed out.
const arenaPages = 512

// MaxPacked is the largest secret, in bytes, that goes into the packed arena
// by default: a page less a canary on each side (4064 bytes with 4 KiB
// pages). Larger secrets, and any made with Options.Standalone, get a
// mapping of their own.
func MaxPacked() int { return mem.PageSize() - 2*canaryLen }

// classOf rounds a size up to its size class: a multiple of canaryLen.
func classOf(size int) int { return (size + canaryLen - 1) / canaryLen * canaryLen }

// maxIdle is how many empty pages a heap keeps open and locked for the
// next secrets (16 KiB with 4 KiB pages): enough for a create/destroy loop
// to make no system call, few enough that a process whose secrets are
// gone holds almost no locked memory. Every other page that empties is
// released (see retire).
const maxIdle = 4

// heap is the set of arenas of one kind: locked, or (degraded mode)
// unlocked.
type heap struct {
	arenas []*arena
	// partial[class/canaryLen] lists the pages of that class with a free
	// slot. A page whose last secret goes stays in it when it is the
	// class's only page and the heap has fewer than maxIdle idle pages,
	// so that a create/destroy loop touches no system call.
	partial [][]*page
	// spare holds empty pages of no class, open, locked (in a locked heap)
	// and all canary, taken before any other when a class needs a page.
	spare []*page
	// idle counts the empty pages that are open: those in spare and those
	// left in their class's partial list. At most maxIdle.
	idle int
}

// arena is one mapping: a front guard, arenaPages data pages and a rear
// guard, all marked MADV_DONTDUMP and MADV_WIPEONFORK. Data pages
// [0, used) that are not retired are readable and writable (or as their
// page protection says) and locked when the heap is; retired pages and
// pages [used, arenaPages) are PROT_NONE, unlocked and hold no memory, and
// act as guards until they are handed out.
type arena struct {
	h     *heap
	m     *mem.Mapping
	inner []byte
	pages []*page // len == used
	// free holds the retired pages: in [0, used), of no class, all zeros.
	free []*page
	// live counts secrets in this arena.
	live int
}

// page is one data page of an arena. Its slots have a fixed stride of
// class+canaryLen bytes, after a leading canary:
//
//	| canary | slot 0 data | canary | slot 1 data | canary | ... | canary (rest) |
//
// A secret of n bytes sits at the end of its slot, so the byte after it is
// the next canary. Every byte that is not inside a live secret is canary.
type page struct {
	a   *arena
	b   []byte // the page
	idx int    // index in a.pages
	// class is the data size of each slot; 0 while the page is free.
	class int
	// freeSlots is a stack of free slot numbers.
	freeSlots []uint16
	// live counts secrets on the page; want counts those of them that need
	// write access (ReadWrite, or inside With) and wantRead those that need
	// read access only (ReadOnly).
	live, wantRW, wantRead int
	// prot is the protection the page has now.
	prot mem.Prot
	// inPartial is the page's index in its class's partial list, or -1.
	inPartial int
	// retired: the page was emptied and released (see retire); it is in
	// its arena's free list, and nothing may touch it until revive.
	retired bool
}

// isLocked tells the locked heap from the degraded one.
func (h *heap) isLocked() bool { return h != &state.heaps[1] }

func (h *heap) classList(class int) *[]*page {
	i := class / canaryLen
	for len(h.partial) <= i {
		h.partial = append(h.partial, nil)
	}
	return &h.partial[i]
}

func (h *heap) addPartial(p *page) {
	l := h.classList(p.class)
	p.inPartial = len(*l)
	*l = append(*l, p)
}

func (h *heap) removePartial(p *page) {
	if p.inPartial < 0 {
		return
	}
	l := h.classList(p.class)
	last := (*l)[len(*l)-1]
	(*l)[p.inPartial] = last
	last.inPartial = p.inPartial
	*l = (*l)[:len(*l)-1]
	p.inPartial = -1
}

// alloc takes a slot for size bytes and returns the page, the slot number
// and the data, zeroed and writable. The new secret counts as wanting write
// access. P1 to P3 of the design.
func (h *heap) alloc(op string, size int) (*page, int, []byte, error) {
	class := classOf(size)
	var p *page
	if l := *h.classList(class); len(l) > 0 {
		p = l[len(l)-1] // P1: a page of the class with room
		if p.live == 0 {
			h.idle-- // an idle page left in its class's list
		}
	} else {
		fp, err := h.freePage(op) // P2: a free page, or a new one
		if err != nil {
			return nil, 0, nil, err
		}
		p = fp
		p.class = class
		n := (len(p.b) - canaryLen) / (class + canaryLen)
		p.freeSlots = p.freeSlots[:0]
		for s := n - 1; s >= 0; s-- {
			p.freeSlots = append(p.freeSlots, uint16(s))
		}
		h.addPartial(p)
	}
	slot := int(p.freeSlots[len(p.freeSlots)-1])
	p.freeSlots = p.freeSlots[:len(p.freeSlots)-1]
	if len(p.freeSlots) == 0 {
		h.removePartial(p)
	}
	p.live++
	p.a.live++
	p.wantRW++
	if err := p.apply(); err != nil { // P3: the page must be writable now
		h.release(p, slot)
		p.wantRW--
		p.apply()
		return nil, 0, nil, fmt.Errorf("secret: %s: %w", op, err)
	}
	data := p.data(slot, size)
	clear(data)
	return p, slot, data, nil
}

// data returns the bytes of a secret of size bytes in slot.
func (p *page) data(slot, size int) []byte {
	end := canaryLen + slot*(p.class+canaryLen) + p.class
	return p.b[end-size : end : end]
}

// around returns the canary before the data (from the end of the previous
// slot) and the canary after it.
func (p *page) around(slot, size int) (before, after []byte) {
	start := slot * (p.class + canaryLen)
	end := canaryLen + slot*(p.class+canaryLen) + p.class
	return p.b[start : end-size], p.b[end : end+canaryLen]
}

// freePage returns a page that belongs to no class: a spare page (no
// system call), or a retired page opened and locked again, or the next
// untouched page of the newest arena, or the first page of a new arena.
func (h *heap) freePage(op string) (*page, error) {
	if n := len(h.spare); n > 0 {
		p := h.spare[n-1]
		h.spare[n-1] = nil
		h.spare = h.spare[:n-1]
		h.idle--
		return p, nil
	}
	for _, a := range h.arenas {
		if n := len(a.free); n > 0 {
			p := a.free[n-1]
			if err := p.revive(op); err != nil {
				return nil, err
			}
			a.free[n-1] = nil
			a.free = a.free[:n-1]
			return p, nil
		}
	}
	var a *arena
	if n := len(h.arenas); n > 0 && len(h.arenas[n-1].pages) < arenaPages {
		a = h.arenas[n-1]
	} else {
		na, err := h.newArena(op)
		if err != nil {
			return nil, err
		}
		a = na
	}
	return a.grow(op)
}

// newArena reserves an arena: P2a.
func (h *heap) newArena(op string) (*arena, error) {
	ps := mem.PageSize()
	m, err := mem.Map((arenaPages+2)*ps, mem.None, 0)
	if err != nil {
		return nil, fmt.Errorf("secret: %s: %w", op, err)
	}
	a := &arena{h: h, m: m, inner: m.Bytes()[ps : (arenaPages+1)*ps : (arenaPages+1)*ps]}
	for _, adv := range []mem.Advice{mem.DontDump, mem.WipeOnFork} {
		if err := mem.Advise(a.inner, adv); err != nil {
			m.Close()
			return nil, fmt.Errorf("secret: %s: %w", op, err)
		}
	}
	h.arenas = append(h.arenas, a)
	state.mapped += int64(len(m.Bytes()))
	return a, nil
}

// grow hands out the arena's next untouched page: P2b. It opens the page,
// locks it (in a locked heap) and fills it with canary.
func (a *arena) grow(op string) (*page, error) {
	ps := mem.PageSize()
	i := len(a.pages)
	b := a.inner[i*ps : (i+1)*ps : (i+1)*ps]
	if err := mem.Protect(b, mem.Read|mem.Write); err != nil {
		return nil, fmt.Errorf("secret: %s: %w", op, err)
	}
	if a.h.isLocked() {
		if err := mem.Lock(b); err != nil {
			mem.Protect(b, mem.None)
			a.h.dropIfEmpty(a)
			return nil, lockError(op, int64(ps), err)
		}
		state.locked += int64(ps)
	}
	fillCanary(b)
	p := &page{a: a, b: b, idx: i, prot: mem.Read | mem.Write, inPartial: -1}
	a.pages = append(a.pages, p)
	return p, nil
}

// revive opens, locks (in a locked heap) and fills with canary a retired
// page, as grow does an untouched one. On failure the page stays retired.
func (p *page) revive(op string) error {
	if err := mem.Protect(p.b, mem.Read|mem.Write); err != nil {
		return fmt.Errorf("secret: %s: %w", op, err)
	}
	if p.a.h.isLocked() {
		if err := mem.Lock(p.b); err != nil {
			mem.Protect(p.b, mem.None)
			return lockError(op, int64(len(p.b)), err)
		}
		state.locked += int64(len(p.b))
	}
	fillCanary(p.b)
	p.prot, p.retired = mem.Read|mem.Write, false
	return nil
}

// retire releases an empty page that the heap does not keep idle:
//
//	R1. Wipe it: zeros over the canary, while it is still locked.
//	R2. Unlock it (in a locked heap), so that it stops counting against
//	    RLIMIT_MEMLOCK.
//	R3. Give its memory back (MADV_DONTNEED): it reads as zeros from now on.
//	R4. Seal it PROT_NONE: a guard between its neighbours until reused.
//
// MADV_DONTDUMP and MADV_WIPEONFORK stay on it: they belong to the
// arena's mapping. Should R1 or R2 fail (they do not on memory the heap
// mapped), the page stays open and locked as a spare, over the idle
// budget, rather than half released.
func (h *heap) retire(p *page) {
	if p.open() != nil {
		h.keepSpare(p)
		return
	}
	clear(p.b) // R1
	if h.isLocked() {
		if err := mem.Unlock(p.b); err != nil { // R2
			fillCanary(p.b)
			h.keepSpare(p)
			return
		}
		state.locked -= int64(len(p.b))
	}
	mem.Advise(p.b, mem.DontNeed) // R3: best effort; the page is wiped already
	if mem.Protect(p.b, mem.None) == nil {
		p.prot = mem.None // R4
	}
	p.retired = true
	p.a.free = append(p.a.free, p)
}

// keepSpare adds an empty, open page to the spares.
func (h *heap) keepSpare(p *page) {
	h.spare = append(h.spare, p)
	h.idle++
}

// target is the protection the page's secrets ask for: the most open of
// their wishes, and read-write when it holds none.
func (p *page) target() mem.Prot {
	switch {
	case p.wantRW > 0 || p.live == 0:
		return mem.Read | mem.Write
	case p.wantRead > 0:
		return mem.Read
	}
	return mem.None
}

// apply gives the page the protection its secrets ask for. A retired page
// keeps PROT_NONE.
func (p *page) apply() error {
	if p.retired {
		return nil
	}
	t := p.target()
	if t == p.prot {
		return nil
	}
	if err := mem.Protect(p.b, t); err != nil {
		return err
	}
	p.prot = t
	return nil
}

// open makes the page writable for the package's own work (wiping,
// checking canaries) whatever its secrets ask; apply undoes it.
func (p *page) open() error {
	if p.prot == mem.Read|mem.Write {
		return nil
	}
	if err := mem.Protect(p.b, mem.Read|mem.Write); err != nil {
		return err
	}
	p.prot = mem.Read | mem.Write
	return nil
}

// want moves one secret's wish from old to new protection.
func (p *page) want(old, new mem.Prot) error {
	p.count(old, -1)
	p.count(new, +1)
	return p.apply()
}

func (p *page) count(w mem.Prot, d int) {
	switch {
	case w&mem.Write != 0:
		p.wantRW += d
	case w&mem.Read != 0:
		p.wantRead += d
	}
}

// free checks the canaries around a secret, wipes it back to canary and
// returns its slot: P4 and P5. wish is what the secret asked for last. The
// error is a *CanaryError when a canary was corrupted; the slot is freed all
// the same.
func (h *heap) free(p *page, slot, size int, wish mem.Prot) error {
	if err := p.open(); err != nil {
		return fmt.Errorf("secret: Destroy: %w", err)
	}
	err := checkAround(p, slot, size, "Destroy")
	before, after := p.around(slot, size)
	// One run from the canary before to the canary after: the data is
	// wiped and any damage to either canary is repaired.
	fillCanary(p.b[addrOf(before)-addrOf(p.b) : addrOf(after)-addrOf(p.b)+canaryLen])
	p.count(wish, -1)
	h.release(p, slot)
	p.apply()
	return err
}

// checkAround checks the canaries on both sides of a packed secret. The page
// must be readable.
func checkAround(p *page, slot, size int, op string) error {
	before, after := p.around(slot, size)
	data := p.data(slot, size)
	if i, n := checkCanary(before); i >= 0 {
		return &CanaryError{Op: op, Addr: addrOf(before) + uintptr(i), Count: n, Data: addrOf(data), Len: size}
	}
	if i, n := checkCanary(after); i >= 0 {
		return &CanaryError{Op: op, Addr: addrOf(after) + uintptr(i), Count: n, After: true, Data: addrOf(data), Len: size}
	}
	return nil
}

// release returns a slot to its page, and the arena to the system when it
// is empty and not the heap's last. A page that empties stays idle while
// the heap has fewer than maxIdle idle pages: in its class's list when it
// is the class's only page, else as a spare. Otherwise it is retired:
// wiped, unlocked, its memory given back.
func (h *heap) release(p *page, slot int) {
	p.freeSlots = append(p.freeSlots, uint16(slot))
	p.live--
	p.a.live--
	if p.inPartial < 0 {
		h.addPartial(p)
	}
	if p.live == 0 {
		only := len(*h.classList(p.class)) == 1
		switch {
		case h.idle < maxIdle && only:
			h.idle++
		case h.idle < maxIdle:
			h.removePartial(p)
			p.class = 0
			h.keepSpare(p)
		default:
			h.removePartial(p)
			p.class = 0
			h.retire(p)
		}
	}
	h.dropIfEmpty(p.a)
}

// dropIfEmpty unmaps an arena that holds no secret, unless it is the heap's
// only one.
func (h *heap) dropIfEmpty(a *arena) {
	if a.live != 0 || len(h.arenas) < 2 {
		return
	}
	h.drop(a)
}

// drop unmaps an arena that holds no secret. Its pages are all canary
// (idle) or zeros (retired).
func (h *heap) drop(a *arena) {
	open := 0
	for _, p := range a.pages {
		if p.inPartial >= 0 {
			h.removePartial(p)
			h.idle-- // empty, so idle
		}
		if !p.retired {
			open++
		}
	}
	spare := h.spare[:0]
	for _, p := range h.spare {
		if p.a == a {
			h.idle--
		} else {
			spare = append(spare, p)
		}
	}
	clear(h.spare[len(spare):])
	h.spare = spare
	for i, x := range h.arenas {
		if x == a {
			h.arenas = append(h.arenas[:i], h.arenas[i+1:]...)
			break
		}
	}
	if h.isLocked() {
		state.locked -= int64(open * mem.PageSize())
	}
	state.mapped -= int64(len(a.m.Bytes()))
	a.m.Close()
}

// guardAt finds the guard page for a fault address: a guard is the front
// guard, a retired page, or the PROT_NONE run after the pages in use
// (untouched pages and the rear guard). rear says the guard lies after
// data, the faulting secret. It returns 0 when addr is in none of them.
func (a *arena) guardAt(addr, data uintptr) (guard uintptr, rear bool) {
	all := a.m.Bytes()
	base := addrOf(all)
	ps := uintptr(mem.PageSize())
	inner := addrOf(a.inner)
	tail := inner + uintptr(len(a.pages))*ps
	switch {
	case addr >= base && addr < base+ps:
		return base, false
	case addr >= tail && addr < base+uintptr(len(all)):
		return tail, true
	case addr >= inner && addr < tail && a.pages[(addr-inner)/ps].retired:
		g := inner + (addr-inner)/ps*ps
		return g, g > data
	}
	return 0, false
}
