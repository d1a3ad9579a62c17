package obstack

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strconv"
	"unsafe"
)

// Defaults and bounds of Options. See doc.go for the design.
const (
	// DefaultChunkSize is the size of an ordinary chunk, as in GNU.
	DefaultChunkSize = 4096
	// MaxChunkSize bounds ChunkSize. Larger objects still get a chunk of
	// their own; this only bounds the size of ordinary chunks.
	MaxChunkSize = 1 << 30
	// DefaultAlignment is the platform's maximum alignment: that of C's
	// max_align_t on Linux amd64 and arm64, which is also glibc's malloc and
	// GNU obstack alignment. Every Go type needs at most 8.
	DefaultAlignment = 16
	// MaxAlignment bounds Alignment: one page of 4 KiB.
	MaxAlignment = 4096
	// maxObject bounds a single request, far below any address-space
	// overflow of the arithmetic on addresses: 64 TiB on 64-bit systems,
	// 1 GiB on 32-bit ones.
	maxObject = 1 << (30 + 16*(strconv.IntSize/64))
)

// Options configure New. The zero value is valid: 4096-byte chunks, 16-byte
// alignment, chunks from the default source.
type Options struct {
	// ChunkSize is the size of an ordinary chunk in bytes: 0 means
	// DefaultChunkSize. An object that does not fit an ordinary chunk gets
	// a chunk of its own. The default source gives chunks of exactly this
	// size (for a larger object, what it needs), not rounded to pages.
	ChunkSize int
	// Alignment is the boundary every object starts on, a power of two up
	// to MaxAlignment: 0 means DefaultAlignment, 1 packs objects.
	Alignment int
	// ChunkAlloc and ChunkFree are the chunk source (GNU's
	// obstack_chunk_alloc and obstack_chunk_free). Set both or neither.
	// ChunkAlloc returns at least size bytes, or an error; the obstack uses
	// every byte it returns. A chunk that is too short, or that overlaps
	// the current chunk, is refused with an error matching ErrChunkSource. ChunkFree gets back exactly the slices
	// ChunkAlloc returned, each once. The obstack keeps a reference to every
	// chunk it holds, so Go memory (make) is a valid, if pointless, source.
	//
	// When both are nil the obstack takes its chunks from vmkit's malloc
	// package, off the Go heap, and keeps freed chunks for reuse until
	// Release. malloc works on 64-bit systems only: on 32-bit ones give a
	// source of your own (mem.Map, or make).
	ChunkAlloc func(size int) ([]byte, error)
	ChunkFree  func(chunk []byte)
	// OnAllocFailed, when set, is called with the error before any method
	// returns a failure of the chunk source (GNU's
	// obstack_alloc_failed_handler). It may panic or exit; if it returns,
	// the method returns the error.
	OnAllocFailed func(err error)
}

// Validate reports whether the options are usable, with an error that names
// the field and the valid range.
func (opts Options) Validate() error {
	if opts.ChunkSize < 0 || opts.ChunkSize > MaxChunkSize {
		return fmt.Errorf("obstack: ChunkSize %d: want 0 (for %d) up to %d", opts.ChunkSize, DefaultChunkSize, MaxChunkSize)
	}
	if a := opts.Alignment; a < 0 || a > MaxAlignment || a&(a-1) != 0 {
		return fmt.Errorf("obstack: Alignment %d: want 0 (for %d) or a power of two up to %d", a, DefaultAlignment, MaxAlignment)
	}
	if (opts.ChunkAlloc == nil) != (opts.ChunkFree == nil) {
		return fmt.Errorf("obstack: set both ChunkAlloc and ChunkFree, or neither (for the default, vmkit's malloc)")
	}
	return nil
}

// An Obstack is a stack of objects in chunks of memory outside the Go heap.
// Freeing an object frees every object allocated after it. One object at a
// time may grow at the top of the stack until it is finished. See the
// package documentation.
//
// An Obstack is not safe for concurrent use. Its zero value is not usable:
// call New (its allocations fail with an error saying so). The garbage collector does not free its memory: call Release
// when done with it.
type Obstack struct {
	// The fields the fast paths read come first, in one cache line.

	// next is the first free byte of the current chunk: the end of the last
	// object, or of the growing object. 0 when there is no chunk.
	next uintptr
	// limit bounds the objects of the current chunk: its end rounded down to
	// the alignment. While no object grows it is aligned to mask; while one
	// grows, base <= next <= limit. 0 when there is no chunk.
	limit uintptr
	// mask is the alignment minus one: objects start at next rounded up by it.
	mask uintptr
	// fast is limit while the fast allocation paths may run, else 0: while
	// an object grows, when there is no chunk, and when next rounded up
	// passes limit, which only a change of alignment or a Free to an
	// unaligned mark can cause. Every slow path ends with settle, which
	// recomputes it.
	fast uintptr
	// growing says an object is growing: base is its start.
	growing bool
	base    uintptr
	// end is the true end of the current chunk (limit <= end).
	end uintptr

	// chunks is the stack of chunks in use: the last one is current.
	chunks    []chunk
	chunkSize int
	src       source
	onFail    func(error)
	stats     Stats
	// okType caches the last type Make accepted.
	okType reflect.Type
}

// chunk is one block of memory from the source.
type chunk struct {
	mem []byte // exactly as the source returned it
	// used is the end of the allocated part of a chunk below the current
	// one (fixed when it stopped being current). Unused for the current one.
	used uintptr
	// first: no object of the chunk begins below it, and next >= first
	// while the chunk is current. So a chunk whose next (or growing base)
	// is at or below first holds no object, unless maybeEmpty.
	first uintptr
	// maybeEmpty says a zero-length object may begin at first, so a chunk
	// whose objects all begin at or above next == first is not known empty.
	maybeEmpty bool
	// emptyTo: no finished object of the chunk has a byte below it, and the
	// chunk has one exactly when its top (next, base while an object grows,
	// used below the current chunk) is above it. While the chunk has none,
	// next rounded up to the alignment is emptyTo: the first object with a
	// byte starts there. Empty reads it; only slow paths write it.
	emptyTo uintptr
}

func (c *chunk) start() uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(c.mem))) }
func (c *chunk) end() uintptr   { return c.start() + uintptr(len(c.mem)) }

// New returns an obstack with its first chunk, as GNU's obstack_init does,
// so that a chunk source that cannot work fails here.
func New(opts Options) (*Obstack, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := &Obstack{
		chunkSize: opts.ChunkSize,
		mask:      uintptr(opts.Alignment) - 1,
		onFail:    opts.OnAllocFailed,
	}
	if o.chunkSize == 0 {
		o.chunkSize = DefaultChunkSize
	}
	if opts.Alignment == 0 {
		o.mask = DefaultAlignment - 1
	}
	if opts.ChunkAlloc != nil {
		o.src = funcSource{opts.ChunkAlloc, opts.ChunkFree}
	} else {
		src, err := newDefaultSource()
		if err != nil {
			return nil, err
		}
		o.src = src
	}
	if err := o.newChunk("New", 0, o.mask); err != nil {
		return nil, err
	}
	o.settle()
	return o, nil
}

// at turns the address of chunk memory into a pointer. The chunks are
// outside the Go heap, or (for a source of Go memory) referenced from
// o.chunks for as long as the obstack hands out addresses in them, and the
// Go heap does not move objects. The double conversion is the form go vet
// accepts for such addresses.
func at(addr uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }

// bytesAt is the slice of n bytes at addr, with its capacity clipped to n,
// so that append never writes over the next object.
func bytesAt(addr, n uintptr) []byte { return unsafe.Slice((*byte)(at(addr)), n) }

// addrOf is the address of b's first byte, also for an empty b.
func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func alignUp(a, mask uintptr) uintptr   { return (a + mask) &^ mask }
func alignDown(a, mask uintptr) uintptr { return a &^ mask }

// Alloc allocates an object of n bytes and returns it (GNU's obstack_alloc).
// Its contents are unspecified: they may be those of a freed object.
// The object starts on the obstack's alignment; its capacity is n, so append
// copies it to the Go heap rather than overwrite the next object.
//
// Alloc(0) returns an empty object, not nil: its address is a mark that Free
// can return to. While an object is growing Alloc fails with ErrGrowing; a
// negative n, or one above the largest object (64 TiB on 64-bit systems,
// 1 GiB on 32-bit ones), fails with ErrSize; a failure of the chunk source
// comes back wrapped, after OnAllocFailed. Every error is an *Error and
// leaves the obstack unchanged.
func (o *Obstack) Alloc(n int) ([]byte, error) {
	p := alignUp(o.next, o.mask)
	room := max(int(o.fast)-int(p), 0)
	if uint(n)-1 >= uint(room) { // n < 1, or n > room (0 in a slow state)
		return o.allocSlow("Alloc", n, o.mask)
	}
	o.next = p + uintptr(n)
	return bytesAt(p, uintptr(n)), nil
}

// Copy allocates an object holding a copy of b (GNU's obstack_copy). It is
// the fast path of the package: when the object fits the current chunk it
// takes a few nanoseconds, takes no lock and allocates nothing on the Go heap.
// See Alloc for the rules that apply to every allocation.
func (o *Obstack) Copy(b []byte) ([]byte, error) {
	n := uintptr(len(b))
	p := alignUp(o.next, o.mask)
	room := int(o.fast) - int(p) // < 0 in a slow state
	if n-1 < blockSize && cap(b) >= blockSize && room >= blockSize && !raceEnabled {
		// The block copy: see blockSize. Eight loads, then eight stores.
		o.next = p + n
		s, d := (*[blockSize]byte)(unsafe.Pointer(unsafe.SliceData(b))), (*[blockSize]byte)(at(p))
		le := binary.LittleEndian
		a0, a1, a2, a3 := le.Uint64(s[0:]), le.Uint64(s[8:]), le.Uint64(s[16:]), le.Uint64(s[24:])
		a4, a5, a6, a7 := le.Uint64(s[32:]), le.Uint64(s[40:]), le.Uint64(s[48:]), le.Uint64(s[56:])
		le.PutUint64(d[0:], a0)
		le.PutUint64(d[8:], a1)
		le.PutUint64(d[16:], a2)
		le.PutUint64(d[24:], a3)
		le.PutUint64(d[32:], a4)
		le.PutUint64(d[40:], a5)
		le.PutUint64(d[48:], a6)
		le.PutUint64(d[56:], a7)
		return d[:n:n], nil
	}
	if n-8 <= 64-8 && room >= int(n) { // 8 <= n <= 64, and it fits
		o.next = p + n
		// Eight 8-byte words at offsets 0, 8, ..., 56, each clamped to n-8:
		// they cover the n bytes, overlapping where n < 64, and stay inside
		// both b and the object. No branch depends on n, where copy
		// (memmove) chooses among several sequences by length and, with
		// lengths that vary, mispredicts about half the time. b cannot
		// overlap the free space the object takes, so the first four
		// words may be stored before the last four are loaded.
		s, d, last := unsafe.Pointer(unsafe.SliceData(b)), at(p), int(n-8)
		q1, q2, q3 := clamp(8, last), clamp(16, last), clamp(24, last)
		a0, a1, a2, a3 := load8(s, 0), load8(s, q1), load8(s, q2), load8(s, q3)
		store8(d, 0, a0)
		store8(d, q1, a1)
		store8(d, q2, a2)
		store8(d, q3, a3)
		q4, q5, q6, q7 := clamp(32, last), clamp(40, last), clamp(48, last), clamp(56, last)
		a4, a5, a6, a7 := load8(s, q4), load8(s, q5), load8(s, q6), load8(s, q7)
		store8(d, q4, a4)
		store8(d, q5, a5)
		store8(d, q6, a6)
		store8(d, q7, a7)
		return unsafe.Slice((*byte)(d), n), nil
	}
	return o.copyOther(b)
}

// clamp is min(k, last) without a branch, which the compiler would emit
// for min here and mispredict.
func clamp(k, last int) uintptr {
	d := k - last
	return uintptr(last + d&(d>>(strconv.IntSize-1)))
}

// blockSize is the size of the block that Copy moves whole when both sides
// have room for it, the fastest of its paths: a fixed copy, with no branch
// and no arithmetic on the length. Copy does it only when b has blockSize
// bytes within its capacity (the same Go allocation, so they are readable)
// and the chunk has blockSize bytes of room (free space, which may take any
// bytes). It is left out of builds with the race detector, which could
// report the read past b's length as a race on memory the caller did not
// pass.
const blockSize = 64

// load8 and store8 move 8 bytes at p+off in one unaligned access on
// machines that allow it (the compiler merges the byte accesses of
// encoding/binary into one).
func load8(p unsafe.Pointer, off uintptr) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(p, off))[:])
}

func store8(p unsafe.Pointer, off uintptr, v uint64) {
	binary.LittleEndian.PutUint64((*[8]byte)(unsafe.Add(p, off))[:], v)
}

// copyOther is Copy when the object is shorter than 8 bytes or longer than
// 64, when the chunk's room is short, or when the obstack is in a slow
// state.
func (o *Obstack) copyOther(b []byte) ([]byte, error) {
	n := uintptr(len(b))
	p := alignUp(o.next, o.mask)
	if room := max(int(o.fast)-int(p), 0); n-1 < uintptr(room) {
		o.next = p + n
		dst := bytesAt(p, n)
		copy(dst, b)
		return dst, nil
	}
	dst, err := o.allocSlow("Copy", len(b), o.mask)
	if err != nil {
		return nil, err
	}
	copy(dst, b)
	return dst, nil
}

// Copy0 allocates an object holding a copy of b followed by a NUL byte
// (GNU's obstack_copy0), a C string. The object returned includes the NUL:
// its length is len(b)+1.
func (o *Obstack) Copy0(b []byte) ([]byte, error) {
	dst, err := o.Alloc(len(b) + 1)
	if err != nil {
		return nil, err
	}
	copy(dst, b)
	dst[len(b)] = 0
	return dst, nil
}

// allocSlow allocates n bytes aligned to amask+1 (at least the obstack's
// alignment) when the fast path cannot: no chunk, not enough room, n == 0,
// an object growing, or an unaligned next.
func (o *Obstack) allocSlow(op string, n int, amask uintptr) ([]byte, error) {
	if o.growing {
		return nil, o.errGrowing(op)
	}
	if n < 0 || n > maxObject {
		return nil, &Error{Op: op, Err: ErrSize, Detail: fmt.Sprintf("size %d: want 0 up to %d", n, maxObject)}
	}
	amask |= o.mask
	p := alignUp(o.next, amask)
	// p < limit also for n == 0: no object, not even an empty one, starts
	// at the end of its chunk, where another chunk may begin.
	if len(o.chunks) == 0 || p >= o.limit || uintptr(n) > o.limit-p {
		if err := o.newChunk(op, n, amask); err != nil {
			return nil, err
		}
		p = alignUp(o.next, amask)
		o.chunks[len(o.chunks)-1].first = p // nothing below p in a new chunk
	}
	c := &o.chunks[len(o.chunks)-1]
	if o.next <= c.emptyTo { // no byte below: none below p either
		c.emptyTo = p
	}
	if n == 0 && p == c.first {
		c.maybeEmpty = true
	}
	o.next = p + uintptr(n)
	o.settle()
	return bytesAt(p, uintptr(n)), nil
}

// settle recomputes fast after a slow path, and checks the invariants when
// built with the invariants tag.
func (o *Obstack) settle() {
	o.fast = o.limit
	if o.growing || len(o.chunks) == 0 || alignUp(o.next, o.mask) > o.limit {
		o.fast = 0
	}
	if invariants {
		o.check()
	}
}

// newChunk makes a new chunk current, with room for need bytes at alignment
// amask+1 after the growing object, if any, which it moves there.
//
// Slow path step by step:
//  1. Size: the larger of ChunkSize and what the request needs, plus, for a
//     growing object, an eighth of its size and 100 bytes of slack, as GNU
//     does, so that an object grown byte by byte moves a logarithmic number
//     of times.
//  2. Get the chunk from the source; a failure goes to OnAllocFailed and
//     is returned, with the obstack unchanged.
//  3. Copy the growing object to the new chunk's first aligned address.
//  4. The old current chunk is freed if nothing but the growing object was
//     in it (GNU does the same), else it is kept below with its used end.
func (o *Obstack) newChunk(op string, need int, amask uintptr) error {
	if o.src == nil {
		return &Error{Op: op, Err: ErrChunkSource, Detail: "this Obstack has no chunk source: it is a zero Obstack, which is not usable; make one with New"}
	}
	var objSize uintptr
	if o.growing {
		objSize = o.next - o.base
	}
	want := uintptr(need) + objSize + amask + o.mask + 1 // fits, with p < limit, whatever the source's alignment
	if o.growing {
		want += objSize>>3 + 100
	}
	if want > maxObject {
		return o.failed(&Error{Op: op, Err: ErrSize, Detail: fmt.Sprintf("an object of %d bytes is larger than the obstack allows (%d)", uintptr(need)+objSize, maxObject)})
	}
	size := max(int(want), o.chunkSize)
	mem, err := o.src.alloc(size)
	if err != nil {
		return o.failed(&Error{Op: op, Size: size, Err: err})
	}
	if len(mem) < size || addrOf(mem) == 0 {
		if mem != nil {
			o.src.free(mem)
		}
		return o.failed(&Error{Op: op, Size: size, Err: ErrChunkSource,
			Detail: fmt.Sprintf("ChunkAlloc(%d) returned %d bytes; it must return at least the size asked for, or an error", size, len(mem))})
	}
	if c, ok := o.overlap(mem); ok {
		// Not given back: ChunkFree would get memory twice.
		return o.failed(&Error{Op: op, Size: size, Err: ErrChunkSource,
			Detail: fmt.Sprintf("ChunkAlloc(%d) returned %#x-%#x, which overlaps the chunk %#x-%#x that the obstack holds; it must return memory not in use", size, addrOf(mem), addrOf(mem)+uintptr(len(mem)), c.start(), c.end())})
	}
	o.stats.ChunkAllocs++
	nc := chunk{mem: mem}
	start, end := nc.start(), nc.end()
	p := alignUp(start, amask)
	nc.first = start
	nc.emptyTo = alignUp(start, o.mask)
	if o.growing {
		nc.first, nc.emptyTo = p, p
		copy(bytesAt(p, objSize), bytesAt(o.base, objSize))
	}
	var old []byte
	if k := len(o.chunks); k > 0 {
		c := &o.chunks[k-1]
		top := o.next
		if o.growing {
			top = o.base
		}
		if top <= c.first && !c.maybeEmpty {
			old = c.mem
			o.chunks[k-1] = chunk{}
			o.chunks = o.chunks[:k-1]
		} else {
			c.used = top
		}
	}
	o.chunks = append(o.chunks, nc)
	o.end = end
	o.limit = alignDown(end, o.mask)
	o.fast = 0 // the caller settles
	if o.growing {
		o.base, o.next = p, p+objSize
	} else {
		o.next = start
	}
	if old != nil {
		o.giveBack(old)
	}
	return nil
}

// overlap returns a chunk the obstack holds that mem overlaps: a source
// that hands out a chunk in use (the same buffer every time, say) would
// have objects overwrite each other. It compares with the current chunk,
// the one such a source most likely repeats, and with every chunk when
// built with the invariants tag (a walk that would make filling n chunks
// cost n² otherwise).
func (o *Obstack) overlap(mem []byte) (*chunk, bool) {
	lo, hi := addrOf(mem), addrOf(mem)+uintptr(len(mem))
	for i := len(o.chunks) - 1; i >= 0; i-- {
		if c := &o.chunks[i]; lo < c.end() && c.start() < hi {
			return c, true
		}
		if !invariants {
			break
		}
	}
	return nil, false
}

// giveBack returns a chunk to the source. The chunk is off the stack, and
// nothing of the obstack's state points into it any more: ChunkFree may
// panic, and once that panic is recovered the obstack must not write into
// memory the source has taken back.
func (o *Obstack) giveBack(mem []byte) {
	if invariants {
		poison(mem)
	}
	o.stats.ChunkFrees++
	o.src.free(mem)
}

// giveBackAll gives back chunks taken off the stack (a slice beyond its
// length, which it clears), the last first.
func (o *Obstack) giveBackAll(cs []chunk) {
	for j := len(cs) - 1; j >= 0; j-- {
		mem := cs[j].mem
		cs[j] = chunk{}
		o.giveBack(mem)
	}
}

func (o *Obstack) failed(err error) error {
	if o.onFail != nil {
		o.onFail(err)
	}
	return err
}

// Free frees obj and every object allocated after it (GNU's obstack_free).
// obj may be any object of this obstack, empty or not, or any part of one:
// an address inside an object frees from there. A growing object above obj
// is abandoned. NextFree is then obj's address.
//
// Free(nil) frees everything and gives every chunk back to the source; the
// obstack stays usable and takes a new chunk at its next allocation.
//
// Freeing memory the obstack does not hold (another obstack's, the Go
// heap's, an object already freed) returns an *Error that matches
// ErrNotAllocated and says where the address lies; nothing is freed then.
func (o *Obstack) Free(obj []byte) error {
	if obj == nil {
		o.freeAll()
		return nil
	}
	return o.free("Free", addrOf(obj), uintptr(len(obj)))
}

// free frees from addr, checking that [addr, addr+n) lies in the allocated
// part of a chunk. It walks the chunks from the top, as GNU does.
func (o *Obstack) free(op string, addr, n uintptr) error {
	for i := len(o.chunks) - 1; i >= 0; i-- {
		c := &o.chunks[i]
		if addr < c.start() || addr >= c.end() { // see allocSlow: no object starts at an end
			continue
		}
		used := c.used
		if i == len(o.chunks)-1 {
			used = o.next
			if o.growing && addr > o.base && addr <= o.next {
				return &Error{Op: op, Addr: addr, Err: ErrNotAllocated, Detail: fmt.Sprintf(
					"the address is inside the growing object %#x+%d, which is not allocated yet: Finish it first, or shrink it with a negative Blank", o.base, o.next-o.base)}
			}
		}
		if addr > used {
			where := "the free space of the current chunk"
			if i < len(o.chunks)-1 {
				where = "the unused tail of a chunk below the current one"
			}
			return &Error{Op: op, Addr: addr, Err: ErrNotAllocated, Detail: fmt.Sprintf(
				"the address is %d bytes above the allocated end %#x, in %s %#x-%#x: the object was already freed, or never allocated here",
				addr-used, used, where, c.start(), c.end())}
		}
		if n > used-addr {
			return &Error{Op: op, Addr: addr, Err: ErrNotAllocated, Detail: fmt.Sprintf(
				"the object %#x+%d runs %d bytes past the allocated end %#x of its chunk %#x-%#x: it was already freed, at least in part",
				addr, n, addr+n-used, used, c.start(), c.end())}
		}
		above := o.chunks[i+1:] // given back once the state is set
		o.chunks = o.chunks[:i+1]
		if invariants {
			poison(bytesAt(addr, used-addr))
		}
		// A zero-length object at first may have been allocated before the
		// object freed at the same address, and then it lives on: only
		// freeing below first is known to free it.
		if addr < c.first {
			c.first, c.maybeEmpty = addr, false
		}
		if addr <= c.emptyTo { // every byte was at or above emptyTo
			c.emptyTo = alignUp(addr, o.mask)
		}
		o.growing = false
		o.next = addr
		o.end = c.end()
		o.limit = alignDown(o.end, o.mask)
		o.settle()
		o.giveBackAll(above)
		return nil
	}
	return &Error{Op: op, Addr: addr, Err: ErrNotAllocated, Detail: o.describeForeign()}
}

func (o *Obstack) describeForeign() string {
	if len(o.chunks) == 0 {
		return "the address is not in this obstack, which holds no chunk (everything was freed)"
	}
	s := fmt.Sprintf("the address is not in any of the %d chunks of this obstack (", len(o.chunks))
	for i := len(o.chunks) - 1; i >= 0 && i >= len(o.chunks)-3; i-- {
		c := &o.chunks[i]
		if i < len(o.chunks)-1 {
			s += ", "
		}
		s += fmt.Sprintf("%#x-%#x", c.start(), c.end())
	}
	if len(o.chunks) > 3 {
		s += ", ..."
	}
	return s + "): it belongs to another obstack or the Go heap, or its chunk was freed already"
}

func (o *Obstack) freeAll() {
	all := o.chunks
	o.chunks = o.chunks[:0]
	o.next, o.limit, o.end, o.base = 0, 0, 0, 0
	o.growing = false
	o.settle()
	o.giveBackAll(all)
}

// Release frees everything, gives every chunk back to the chunk source, and
// lets the default source unmap the memory it keeps for reuse. The obstack
// stays usable: a later allocation takes a new chunk.
func (o *Obstack) Release() {
	o.freeAll()
	if o.src != nil { // nil in a zero Obstack
		o.src.release()
	}
}

// errGrowing is the error of an allocation while an object grows.
func (o *Obstack) errGrowing(op string) error {
	return &Error{Op: op, Err: ErrGrowing, Detail: fmt.Sprintf(
		"an object of %d bytes is growing at %#x: call Finish before allocating another object", o.next-o.base, o.base)}
}

// AlignmentMask returns the alignment minus one (GNU's
// obstack_alignment_mask): objects start at addresses a with a&mask == 0.
func (o *Obstack) AlignmentMask() int { return int(o.mask) }

// SetAlignmentMask sets the alignment to mask+1, which must be a power of
// two up to MaxAlignment. It applies to the next object allocated or begun;
// a growing object keeps its start.
func (o *Obstack) SetAlignmentMask(mask int) error {
	if mask < 0 || mask >= MaxAlignment || mask&(mask+1) != 0 {
		return &Error{Op: "SetAlignmentMask", Err: ErrSize, Detail: fmt.Sprintf("mask %d: want a power of two minus one, below %d", mask, MaxAlignment)}
	}
	o.mask = uintptr(mask)
	if !o.growing && len(o.chunks) > 0 {
		o.limit = alignDown(o.end, o.mask)
		if c := &o.chunks[len(o.chunks)-1]; o.next <= c.emptyTo {
			c.emptyTo = alignUp(o.next, o.mask) // where the next object starts
		}
	}
	o.settle()
	return nil
}

// ChunkSize returns the size of the next ordinary chunk (GNU's
// obstack_chunk_size).
func (o *Obstack) ChunkSize() int { return o.chunkSize }

// SetChunkSize sets the size of ordinary chunks from the next one on,
// between 1 and MaxChunkSize.
func (o *Obstack) SetChunkSize(n int) error {
	if n < 1 || n > MaxChunkSize {
		return &Error{Op: "SetChunkSize", Err: ErrSize, Detail: fmt.Sprintf("size %d: want 1 up to %d", n, MaxChunkSize)}
	}
	o.chunkSize = n
	return nil
}

// Stats counts the chunks of an obstack.
type Stats struct {
	// Chunks is the number of chunks held now.
	Chunks int
	// ChunkBytes is their total size.
	ChunkBytes int64
	// ChunkAllocs counts the chunks taken from the source since New.
	ChunkAllocs int64
	// ChunkFrees counts the chunks given back to the source since New.
	ChunkFrees int64
	// SourceMaps counts the default source's calls to malloc.Malloc since
	// New (0 with ChunkAlloc): once the obstack has reached its largest
	// size, freeing and reallocating reuses chunks without calling malloc.
	SourceMaps int64
	// SourceBytes is the memory the default source holds from malloc now,
	// chunks in use and kept for reuse together.
	SourceBytes int64
}

// Stats returns the obstack's counters. It walks the chunks: it is meant for
// tests and monitoring, not for hot paths.
func (o *Obstack) Stats() Stats {
	s := o.stats
	s.Chunks = len(o.chunks)
	for i := range o.chunks {
		s.ChunkBytes += int64(len(o.chunks[i].mem))
	}
	if o.src != nil { // nil in a zero Obstack
		s.SourceMaps, s.SourceBytes = o.src.counts()
	}
	return s
}
