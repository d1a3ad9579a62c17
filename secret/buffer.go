package secret

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/vmkit/vmkit/mem"
)

// state is the package's process-wide bookkeeping. Lock order: Buffer.mu
// before state.mu.
var state struct {
	mu sync.Mutex
	// head is the first live buffer; buffers link through prev and next.
	head *Buffer
	// heaps[0] holds locked arenas, heaps[1] unlocked ones (degraded mode).
	heaps [2]heap
	// Counters reported by Stats.
	buffers, packed, unlocked, memfd int
	bytes, locked, mapped            int64
}

// A Buffer holds one secret in locked, guarded memory outside the Go heap.
// Its methods are safe for concurrent use. Its contents never move: the
// slice from Bytes stays valid until Destroy. Make one with New, NewFrom or
// NewRandom, or the methods of Options; release it with Destroy (or Purge).
// The garbage collector does not free it.
//
// A buffer is either standalone (a mapping of its own, guard pages on both
// sides, page protection of its own) or packed (a slot in a shared arena
// page between canaries). The design essay in doc.go explains both.
type Buffer struct {
	mu sync.Mutex
	// data is the secret: len == cap == size. nil once destroyed.
	data []byte
	size int
	// rest is the protection asked for by ReadWrite, ReadOnly or NoAccess;
	// it applies whenever no With call is running (opens == 0).
	rest mem.Prot
	// cur is the protection in force now, and for a packed buffer the wish
	// counted on its page: RW while opens > 0, else rest.
	cur   mem.Prot
	opens int
	// doomed is set by Destroy during With: the last With to return
	// destroys the buffer.
	doomed bool
	opts   Options
	// internal buffers (the enclave key) are not counted in Stats.
	internal bool

	// Standalone buffers: their memory. nil when packed.
	sa *standalone

	// Packed buffers: the page and slot.
	pg   *page
	slot int

	// prev and next link the live buffers, under state.mu.
	prev, next *Buffer
}

// New returns a buffer of size bytes, zeroed, in locked memory, with the
// default Options: packed into a shared arena when size is at most
// MaxPacked, otherwise in a mapping of its own. It is readable and writable.
// When the memory cannot be locked it returns a *LockError at once; a size
// that is not positive is an error, and on systems other than Linux the
// error matches ErrNotSupported.
func New(size int) (*Buffer, error) { return Options{}.New(size) }

// NewFrom returns a buffer holding a copy of b and then wipes b (fills it
// with zeros). An empty b is an error, and so is a b that the process
// cannot write (a ReadOnly or NoAccess Buffer's Bytes, a string's bytes),
// since it could not be wiped; the others are New's. On error b is left as
// it was, so that the caller can retry, for example with AllowUnlocked, or
// wipe it.
func NewFrom(b []byte) (*Buffer, error) { return Options{}.NewFrom(b) }

// NewRandom returns a buffer of size bytes filled by the kernel's random
// generator, written straight into the locked memory: no other copy of the
// bytes ever exists. Its errors are New's, or the generator's.
func NewRandom(size int) (*Buffer, error) { return Options{}.NewRandom(size) }

// New is New with the options o.
func (o Options) New(size int) (*Buffer, error) {
	return o.make("New("+strconv.Itoa(size)+")", size)
}

// NewFrom is NewFrom with the options o.
func (o Options) NewFrom(b []byte) (*Buffer, error) {
	if len(b) == 0 {
		return nil, errors.New("secret: NewFrom: empty input: a secret has at least one byte")
	}
	// b may be memory the process cannot write (or read): a ReadOnly or
	// NoAccess Buffer's Bytes, a string's bytes. Wiping it would kill the
	// process with a fault, so every page of it is tried first, changing
	// nothing.
	if err := mem.Try(func() { touchPages(b) }); err != nil {
		return nil, fmt.Errorf("secret: NewFrom(%d bytes): the input is not writable memory, and NewFrom wipes what it copies: %w; it was left as it was. For read-only bytes (a ReadOnly or NoAccess Buffer's, a string's) use New and With to copy them, and wipe the original where it can be", len(b), err)
	}
	buf, err := o.make("NewFrom("+strconv.Itoa(len(b))+" bytes)", len(b))
	if err != nil {
		return nil, err
	}
	copy(buf.data, b)
	clear(b)
	return buf, nil
}

// touchPages reads one byte of b in each page it spans and writes the same
// value back, so that a page that cannot be read or written faults here,
// before anything of b has changed.
func touchPages(b []byte) {
	ps := mem.PageSize()
	skew := int(addrOf(b) % uintptr(ps)) // b[0]'s offset in its page
	for i := 0; i < len(b); i += ps - (i+skew)%ps {
		storeByte(&b[i], b[i])
	}
}

// storeByte is not inlined, so that the compiler cannot drop a store of the
// value just loaded from the same address.
//
//go:noinline
func storeByte(p *byte, v byte) { *p = v }

// NewRandom is NewRandom with the options o.
func (o Options) NewRandom(size int) (*Buffer, error) {
	buf, err := o.make("NewRandom("+strconv.Itoa(size)+")", size)
	if err != nil {
		return nil, err
	}
	if err := fillRandom(buf.data); err != nil {
		buf.Destroy()
		return nil, err
	}
	return buf, nil
}

func (o Options) make(op string, size int) (*Buffer, error) {
	if err := supported(); err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, fmt.Errorf("secret: %s: the size must be positive", op)
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := canaryPattern(); err != nil {
		return nil, err
	}
	b := &Buffer{size: size, rest: mem.Read | mem.Write, cur: mem.Read | mem.Write, opts: o}
	if o.packs(size) {
		if err := b.makePacked(op); err != nil {
			return nil, err
		}
		return b, nil
	}
	sa, err := mapStandalone(op, size, o)
	if err != nil {
		return nil, err
	}
	b.sa = sa
	cut := len(sa.inner) - size
	fillCanary(sa.inner[:cut])
	b.data = sa.inner[cut:len(sa.inner):len(sa.inner)]
	state.mu.Lock()
	if sa.locked {
		state.locked += int64(len(sa.inner))
	}
	state.mapped += int64(len(sa.inner) + 2*mem.PageSize())
	b.link()
	state.mu.Unlock()
	return b, nil
}

// makePacked puts b in the locked heap, or in the unlocked one when locking
// fails and the options allow it.
func (b *Buffer) makePacked(op string) error {
	state.mu.Lock()
	defer state.mu.Unlock()
	p, slot, data, err := state.heaps[0].alloc(op, b.size)
	if err != nil {
		var le *LockError
		if !b.opts.AllowUnlocked || !errors.As(err, &le) {
			return err
		}
		p, slot, data, err = state.heaps[1].alloc(op, b.size)
		if err != nil {
			return err
		}
	}
	b.pg, b.slot, b.data = p, slot, data
	b.link()
	return nil
}

// link adds b to the live list and the counters. state.mu is held.
func (b *Buffer) link() {
	b.next = state.head
	if state.head != nil {
		state.head.prev = b
	}
	state.head = b
	if b.internal {
		return
	}
	state.buffers++
	state.bytes += int64(b.size)
	if b.pg != nil {
		state.packed++
	}
	if !b.lockedLocked() {
		state.unlocked++
	}
	if b.sa != nil && b.sa.backing == MemfdSecret {
		state.memfd++
	}
}

// unlink removes b from the live list and the counters. state.mu is held.
func (b *Buffer) unlink() {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		state.head = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	}
	b.prev, b.next = nil, nil
	if b.internal {
		return
	}
	state.buffers--
	state.bytes -= int64(b.size)
	if b.pg != nil {
		state.packed--
	}
	if !b.lockedLocked() {
		state.unlocked--
	}
	if b.sa != nil && b.sa.backing == MemfdSecret {
		state.memfd--
	}
}

// setInternal moves b out of the counters (it stays on the live list, so
// that Purge destroys it).
func (b *Buffer) setInternal() {
	state.mu.Lock()
	b.unlink()
	b.internal = true
	b.link()
	state.mu.Unlock()
}

// Bytes returns the secret's memory: len and cap are Len, so append cannot
// write past it. It returns nil once the buffer is destroyed. The slice is
// valid until Destroy; whether it may be read or written depends on the
// protection (ReadWrite, ReadOnly, NoAccess): an access the protection
// forbids kills the process with a fault message, unless it happens inside
// With.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.doomed {
		return nil
	}
	return b.data
}

// Len is the size of the secret in bytes, or 0 once destroyed.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.data == nil || b.doomed {
		return 0
	}
	return b.size
}

// Locked reports whether the secret's pages are locked in RAM. It is false
// only for a buffer made in the degraded mode (Options.AllowUnlocked) when
// locking failed.
func (b *Buffer) Locked() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lockedLocked()
}

func (b *Buffer) lockedLocked() bool {
	if b.pg != nil {
		return b.pg.a.h.isLocked()
	}
	return b.sa != nil && b.sa.locked
}

// Packed reports whether the secret shares an arena page with others.
func (b *Buffer) Packed() bool { return b.pg != nil }

// Backing reports the memory behind the buffer: Anonymous or MemfdSecret.
func (b *Buffer) Backing() Backing {
	if b.sa != nil {
		return b.sa.backing
	}
	return Anonymous
}

// String describes the buffer without its contents, so that printing a
// *Buffer by mistake shows no secret.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.data == nil {
		return "secret.Buffer(destroyed)"
	}
	s := "secret.Buffer(" + strconv.Itoa(b.size) + " bytes"
	if b.pg != nil {
		s += ", packed"
	} else {
		s += ", " + b.sa.backing.String()
	}
	if !b.lockedLocked() {
		s += ", unlocked"
	}
	return s + ", " + b.rest.String() + ")"
}

// GoString is String, for %#v.
func (b *Buffer) GoString() string { return b.String() }

// ReadWrite lets the secret be read and written (the state after New).
func (b *Buffer) ReadWrite() error { return b.setRest("ReadWrite", mem.Read|mem.Write) }

// ReadOnly lets the secret be read; a write faults.
//
// A standalone buffer's pages become read-only (r--p in /proc/self/maps). A
// packed buffer shares its page: the page becomes read-only once none of the
// secrets on it wants write access, and stays writable until then. Use
// Options.Standalone for protection that depends on no other secret.
func (b *Buffer) ReadOnly() error { return b.setRest("ReadOnly", mem.Read) }

// NoAccess seals the secret: any read or write faults (---p in
// /proc/self/maps) until ReadWrite or ReadOnly, or inside With, which opens
// it for the call. For a packed buffer the page is sealed once every secret
// on it is sealed, as ReadOnly explains.
func (b *Buffer) NoAccess() error { return b.setRest("NoAccess", mem.None) }

func (b *Buffer) setRest(op string, p mem.Prot) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.data == nil || b.doomed {
		return ErrDestroyed
	}
	if b.opens == 0 && p != b.cur {
		if err := b.protect(p); err != nil {
			return fmt.Errorf("secret: %s: %w", op, err)
		}
	}
	b.rest = p
	return nil
}

// protect changes the buffer's protection from b.cur to p. b.mu is held.
func (b *Buffer) protect(p mem.Prot) error {
	if b.sa != nil {
		if err := mem.Protect(b.sa.inner, p); err != nil {
			return err
		}
		b.cur = p
		return nil
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if err := b.pg.want(b.cur, p); err != nil {
		// The wish is counted even when the page could not follow it.
		b.pg.want(p, b.cur)
		return err
	}
	b.cur = p
	return nil
}

// Wipe fills the secret with zeros. The buffer stays usable.
func (b *Buffer) Wipe() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.data == nil || b.doomed {
		return ErrDestroyed
	}
	rw := mem.Read | mem.Write
	cur := b.cur
	if cur != rw {
		if err := b.protect(rw); err != nil {
			return fmt.Errorf("secret: Wipe: %w", err)
		}
	}
	clear(b.data)
	if cur != rw {
		if err := b.protect(cur); err != nil {
			return fmt.Errorf("secret: Wipe: %w", err)
		}
	}
	return nil
}

// With opens the buffer for reading and writing, calls fn with its bytes,
// and restores the protection it had, whatever fn does. Calls may nest and
// run concurrently; the buffer stays open while any is running.
//
// A memory fault inside fn (on fn's goroutine) does not kill the process:
// With returns it. An access that hit one of the buffer's guard pages comes
// back as a *GuardError carrying the guard's first address; any other fault
// as a *mem.Fault. After fn, With checks the canaries and reports damage as a
// *CanaryError. Otherwise it returns fn's error.
//
// Destroy (or Purge) during With does not unmap memory under fn: the buffer
// is destroyed when the last With returns, and that With returns Destroy's
// error.
func (b *Buffer) With(fn func([]byte) error) (err error) {
	if fn == nil {
		return errors.New("secret: With(nil)")
	}
	b.mu.Lock()
	if b.data == nil || b.doomed {
		b.mu.Unlock()
		return ErrDestroyed
	}
	if b.opens == 0 && b.cur != mem.Read|mem.Write {
		if err := b.protect(mem.Read | mem.Write); err != nil {
			b.mu.Unlock()
			return fmt.Errorf("secret: With: %w", err)
		}
	}
	b.opens++
	data := b.data
	b.mu.Unlock()

	defer func() {
		if cerr := b.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	var fnErr error
	if fault := mem.Try(func() { fnErr = fn(data) }); fault != nil {
		return b.faultError(fault)
	}
	return fnErr
}

// close ends one With call: the last one checks the canaries and reseals,
// or destroys a doomed buffer.
func (b *Buffer) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opens--
	if b.opens > 0 {
		return nil
	}
	if b.doomed {
		return b.destroy()
	}
	err := b.checkCanaries("With")
	if b.rest != b.cur {
		if perr := b.protect(b.rest); perr != nil {
			err = errors.Join(err, fmt.Errorf("secret: With: reseal: %w", perr))
		}
	}
	return err
}

// checkCanaries checks the canary before the data and, for a packed
// buffer, the one after. The buffer is readable (b.opens was > 0 or the
// caller opened it). b.mu is held.
func (b *Buffer) checkCanaries(op string) error {
	if b.sa != nil {
		before := b.sa.inner[:len(b.sa.inner)-b.size]
		if i, n := checkCanary(before); i >= 0 {
			return &CanaryError{Op: op, Addr: addrOf(before) + uintptr(i), Count: n, Data: addrOf(b.data), Len: b.size}
		}
		return nil
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if err := b.pg.open(); err != nil {
		return err
	}
	err := checkAround(b.pg, b.slot, b.size, op)
	b.pg.apply()
	return err
}

// faultError turns a fault inside With into a *GuardError when it hit one
// of the buffer's guards.
func (b *Buffer) faultError(err error) error {
	var f *mem.Fault
	if !errors.As(err, &f) {
		return err
	}
	ge := &GuardError{Addr: f.Addr, Data: addrOf(b.data), Len: b.size, Fault: f}
	ps := uintptr(mem.PageSize())
	if b.sa != nil {
		switch front, rear := b.sa.front(), b.sa.rear(); {
		case f.Addr >= rear && f.Addr < rear+ps:
			ge.Guard, ge.Rear = rear, true
			return ge
		case f.Addr >= front && f.Addr < front+ps:
			ge.Guard = front
			return ge
		}
		return err
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if g, rear := b.pg.a.guardAt(f.Addr, addrOf(b.data)); g != 0 {
		ge.Guard, ge.Rear = g, rear
		return ge
	}
	return err
}

// Destroy checks the canary, wipes the secret, unlocks and unmaps its
// memory (a packed buffer's slot is wiped back to canary and reused), and
// drops the buffer from the live set. It is idempotent: later calls return
// nil. A corrupted canary comes back as a *CanaryError after the buffer has
// been destroyed all the same. Called during With, it takes effect when the
// last With returns.
func (b *Buffer) Destroy() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.data == nil || b.doomed {
		return nil
	}
	if b.opens > 0 {
		b.doomed = true
		return nil
	}
	return b.destroy()
}

// destroy does Destroy's work: D1 to D4 of the design. b.mu is held.
func (b *Buffer) destroy() error {
	var err error
	if b.sa != nil {
		if b.cur != mem.Read|mem.Write {
			err = b.protect(mem.Read | mem.Write)
		}
		if err == nil {
			err = b.checkCanaries("Destroy") // D1
			clear(b.data)                    // D2
		}
		state.mu.Lock()
		b.unlink()
		if b.sa.locked {
			state.locked -= int64(len(b.sa.inner))
		}
		state.mapped -= int64(len(b.sa.inner) + 2*mem.PageSize())
		state.mu.Unlock()
		if b.sa.m != nil {
			if cerr := b.sa.m.Close(); cerr != nil { // D3, D4: munmap unlocks
				err = errors.Join(err, fmt.Errorf("secret: Destroy: %w", cerr))
			}
		}
	} else {
		state.mu.Lock()
		err = b.pg.a.h.free(b.pg, b.slot, b.size, b.cur)
		b.unlink()
		state.mu.Unlock()
	}
	b.data = nil
	b.doomed = false
	return err
}
