package obstack

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// This file holds the growing object: the state Growing, entered by begin
// (from any of Blank, Grow, Grow0, Byte, Ptr, Int and their fast variants)
// and left by Finish or Free. See doc.go.

// begin enters the growing state: the object starts at next rounded up to
// the alignment, in a new chunk if that is past the current one or leaves
// less than need bytes. The chunk is taken before the state changes, so
// that a failure, even one that panics (OnAllocFailed may, and so may
// ChunkAlloc), leaves no object growing.
func (o *Obstack) begin(op string, need int) error {
	p := alignUp(o.next, o.mask)
	if len(o.chunks) == 0 || p >= o.limit || uintptr(need) > o.limit-p { // no object starts at the end: see allocSlow
		if err := o.newChunk(op, need, o.mask); err != nil {
			return err
		}
		p = alignUp(o.next, o.mask)
		o.chunks[len(o.chunks)-1].first = p // nothing below p in a new chunk
	}
	o.base, o.next = p, p
	o.growing = true
	o.fast = 0
	return nil
}

// reserve makes room for n more bytes of the growing object, starting it if
// needed, and returns where they go. It may move the object (see Base).
func (o *Obstack) reserve(op string, n int) (uintptr, error) {
	if n < 0 || n > maxObject {
		return 0, &Error{Op: op, Err: ErrSize, Detail: fmt.Sprintf("size %d: want 0 up to %d", n, maxObject)}
	}
	if !o.growing {
		if err := o.begin(op, n); err != nil { // room for n bytes, or no object
			return 0, err
		}
	}
	if uintptr(n) > o.limit-o.next {
		if err := o.newChunk(op, n, o.mask); err != nil {
			return 0, err
		}
	}
	p := o.next
	o.next += uintptr(n)
	if invariants {
		o.check()
	}
	return p, nil
}

// Blank adds n bytes of unspecified contents to the growing object (GNU's
// obstack_blank), starting an object if none is growing. A negative n
// shrinks the object, by at most its size. The object may move: see Base.
func (o *Obstack) Blank(n int) error {
	if n < 0 && o.growing {
		if uintptr(-n) > o.next-o.base {
			return &Error{Op: "Blank", Err: ErrSize, Detail: fmt.Sprintf("cannot shrink the growing object of %d bytes by %d", o.next-o.base, -n)}
		}
		o.next -= uintptr(-n)
		return nil
	}
	if n < 0 {
		return &Error{Op: "Blank", Err: ErrSize, Detail: fmt.Sprintf("cannot shrink by %d: no object is growing (a negative Blank shrinks the growing object; to drop finished objects, Free them)", -n)}
	}
	_, err := o.reserve("Blank", n)
	return err
}

// Grow appends a copy of b to the growing object (GNU's obstack_grow),
// starting an object if none is growing. The object may move: see Base.
// b may lie in the growing object itself.
func (o *Obstack) Grow(b []byte) error {
	if o.growing && uintptr(len(b)) <= o.limit-o.next {
		copy(bytesAt(o.next, uintptr(len(b))), b)
		o.next += uintptr(len(b))
		return nil
	}
	return o.growSlow("Grow", b, false)
}

// Grow0 appends a copy of b and a NUL byte to the growing object (GNU's
// obstack_grow0).
func (o *Obstack) Grow0(b []byte) error { return o.growSlow("Grow0", b, true) }

// Write appends a copy of b to the growing object, starting an object if
// none is growing, as Grow does, and returns len(b). It makes the obstack
// an io.Writer, so that fmt.Fprintf, io.Copy or an encoder can build an
// object in place; Finish returns it. On error (the chunk source failed)
// it returns 0 and the growing object is unchanged. b may lie in the
// growing object itself. Like Grow, it allocates nothing on the Go heap.
func (o *Obstack) Write(b []byte) (int, error) {
	if o.growing && uintptr(len(b)) <= o.limit-o.next {
		copy(bytesAt(o.next, uintptr(len(b))), b)
		o.next += uintptr(len(b))
		return len(b), nil
	}
	if err := o.growSlow("Write", b, false); err != nil {
		return 0, err
	}
	return len(b), nil
}

// WriteString is Write of the bytes of s (io.StringWriter), without
// converting s to a []byte on the Go heap.
func (o *Obstack) WriteString(s string) (int, error) {
	b := unsafe.Slice(unsafe.StringData(s), len(s)) // only read: growSlow copies from it
	if o.growing && uintptr(len(b)) <= o.limit-o.next {
		copy(bytesAt(o.next, uintptr(len(b))), b)
		o.next += uintptr(len(b))
		return len(b), nil
	}
	if err := o.growSlow("WriteString", b, false); err != nil {
		return 0, err
	}
	return len(b), nil
}

// WriteByte is Byte under the name of io.ByteWriter.
func (o *Obstack) WriteByte(c byte) error { return o.Byte(c) }

// Printf appends text formatted as fmt.Printf does to the growing object,
// starting an object if none is growing, and returns the number of bytes
// appended (GNU's obstack_printf; Go's variadic arguments also serve for
// obstack_vprintf). It is fmt.Fprintf(o, ...): the text is formatted in
// fmt's own buffer and copied in by one Write, so the object moves at most
// once. Boxing the arguments may allocate, as for any fmt call; formatting
// does not, once fmt's buffers are warm.
func (o *Obstack) Printf(format string, args ...any) (int, error) {
	return fmt.Fprintf(o, format, args...)
}

func (o *Obstack) growSlow(op string, b []byte, nul bool) error {
	n := len(b)
	if nul {
		n++
	}
	if o.growing && uintptr(n) > o.limit-o.next && len(o.chunks) > 0 {
		// The move may free the chunk that b lies in (b may be a part of the
		// growing object itself): keep a copy. This is the rare path.
		c := &o.chunks[len(o.chunks)-1]
		if a := addrOf(b); len(b) > 0 && a < c.end() && a+uintptr(len(b)) > c.start() {
			b = append([]byte(nil), b...)
		}
	}
	p, err := o.reserve(op, n)
	if err != nil {
		return err
	}
	copy(bytesAt(p, uintptr(len(b))), b)
	if nul {
		*(*byte)(at(p + uintptr(len(b)))) = 0
	}
	return nil
}

// Byte appends the byte c to the growing object (GNU's obstack_1grow).
func (o *Obstack) Byte(c byte) error {
	if o.growing && o.next < o.limit {
		*(*byte)(at(o.next)) = c
		o.next++
		return nil
	}
	p, err := o.reserve("Byte", 1)
	if err != nil {
		return err
	}
	*(*byte)(at(p)) = c
	return nil
}

// PtrSize is the size of the word Ptr and PtrFast append.
const PtrSize = int(unsafe.Sizeof(uintptr(0)))

// IntSize is the size of the word Int and IntFast append.
const IntSize = int(unsafe.Sizeof(int(0)))

// Ptr appends the pointer-sized word p to the growing object, in the
// machine's byte order and unaligned (GNU's obstack_ptr_grow). It takes a
// uintptr because the garbage collector does not see obstack memory: an
// address stored here must be of memory outside the Go heap (such as
// another obstack object) or be kept alive by other means.
func (o *Obstack) Ptr(p uintptr) error {
	dst, err := o.reserve("Ptr", PtrSize)
	if err != nil {
		return err
	}
	putWord(dst, uint64(p))
	return nil
}

// Int appends the int-sized word v to the growing object, in the machine's
// byte order and unaligned (GNU's obstack_int_grow; a Go int, 8 bytes on
// 64-bit systems).
func (o *Obstack) Int(v int) error {
	dst, err := o.reserve("Int", IntSize)
	if err != nil {
		return err
	}
	putWord(dst, uint64(v))
	return nil
}

func putWord(dst uintptr, v uint64) {
	if PtrSize == 8 {
		binary.NativeEndian.PutUint64((*[8]byte)(at(dst))[:], v)
	} else {
		binary.NativeEndian.PutUint32((*[4]byte)(at(dst))[:], uint32(v))
	}
}

// The fast variants (GNU's obstack_blank_fast, obstack_1grow_fast,
// obstack_ptr_grow_fast and obstack_int_grow_fast) are for loops that check
// Room() first, as in the package's "fast growing" example. They inline to a
// compare and a store and never move the object. Like the others they start
// an object if none is growing. They still check the room: when it is short
// they panic with a message saying so, rather than write past the chunk;
// the fast variants cannot return an error, and the ordinary methods grow
// the chunk instead.

// roomPanic is the message of a fast variant called with too little room.
const roomPanic = "obstack: a fast grow (BlankFast, ByteFast, PtrFast or IntFast) was called with Room() too small: check Room() first, or call Blank, Byte, Ptr or Int, which move the object to a new chunk"

// fastStart returns where the growing object continues, or would start.
// The callers inline it.
func (o *Obstack) fastStart() uintptr {
	if o.growing {
		return o.next
	}
	return alignUp(o.next, o.mask)
}

// fastBegin marks the object starting at p as growing, if it was not.
func (o *Obstack) fastBegin(p uintptr) {
	if !o.growing {
		o.base, o.growing, o.fast = p, true, 0
	}
}

// BlankFast adds n bytes to the growing object without moving it (GNU's
// obstack_blank_fast), starting an object if none is growing; see Blank. It
// is for loops that check Room (or call MakeRoom) first: when n exceeds
// Room it panics rather than grow the chunk. A negative n shrinks the
// object, and panics if it would shrink it below empty.
func (o *Obstack) BlankFast(n int) {
	p, lo := o.next, o.base
	if !o.growing {
		p = alignUp(p, o.mask)
		lo = p
	}
	q := p + uintptr(n)                         // wraps for a negative n
	if q < lo || q > o.limit || lo >= o.limit { // no object starts at the end, nor with no chunk
		panic(roomPanic)
	}
	o.fastBegin(p)
	o.next = q
}

// ByteFast appends c to the growing object without moving it (GNU's
// obstack_1grow_fast), starting an object if none is growing; see Byte. It
// panics when Room is 0: check Room, or call MakeRoom, first.
func (o *Obstack) ByteFast(c byte) {
	p := o.fastStart()
	if p >= o.limit {
		panic(roomPanic)
	}
	o.fastBegin(p)
	*(*byte)(at(p)) = c
	o.next = p + 1
}

// PtrFast appends the word v to the growing object without moving it (GNU's
// obstack_ptr_grow_fast), starting an object if none is growing; see Ptr. It
// panics when Room is less than PtrSize: check Room, or call MakeRoom,
// first.
func (o *Obstack) PtrFast(v uintptr) {
	p := o.fastStart()
	if p > o.limit || uintptr(PtrSize) > o.limit-p {
		panic(roomPanic)
	}
	o.fastBegin(p)
	putWord(p, uint64(v))
	o.next = p + uintptr(PtrSize)
}

// IntFast appends the word v to the growing object without moving it (GNU's
// obstack_int_grow_fast), starting an object if none is growing; see Int. It
// panics when Room is less than IntSize: check Room, or call MakeRoom,
// first.
func (o *Obstack) IntFast(v int) {
	p := o.fastStart()
	if p > o.limit || uintptr(IntSize) > o.limit-p {
		panic(roomPanic)
	}
	o.fastBegin(p)
	putWord(p, uint64(v))
	o.next = p + uintptr(IntSize)
}

// Finish ends the growing object and returns it (GNU's obstack_finish). Its
// capacity is its length. The next object starts after it, at the
// alignment. With no object growing, Finish returns an empty object, as GNU
// does; should that need a chunk the source cannot give, the empty object
// is not in the obstack, and freeing it is an error.
func (o *Obstack) Finish() []byte {
	if !o.growing {
		b, err := o.allocSlow("Finish", 0, o.mask)
		if err != nil {
			return outside[:0:0]
		}
		return b
	}
	n := o.next - o.base
	if n == 0 {
		c := &o.chunks[len(o.chunks)-1]
		if o.base == c.first {
			c.maybeEmpty = true
		}
		if o.base <= c.emptyTo { // the alignment may have changed meanwhile
			c.emptyTo = alignUp(o.base, o.mask)
		}
	}
	o.growing = false
	o.limit = alignDown(o.end, o.mask) // the alignment may have changed
	o.settle()
	return bytesAt(o.base, n)
}

// outside gives Finish an address that is in no obstack.
var outside [1]byte

// ObjectSize is the size in bytes of the growing object, 0 if none grows
// (GNU's obstack_object_size).
func (o *Obstack) ObjectSize() int {
	if !o.growing {
		return 0
	}
	return int(o.next - o.base)
}

// Base returns the address of the growing object (GNU's obstack_base), or,
// with none growing, where the next object will start if it fits the
// current chunk. It may change until Finish: growing past the end of the
// chunk moves the object to a new one. nil when the obstack holds no chunk.
func (o *Obstack) Base() unsafe.Pointer {
	if o.growing {
		return at(o.base)
	}
	return o.NextFree()
}

// Empty reports whether no object of the obstack holds a byte (GNU's
// obstack_empty_p): nothing was allocated since New, Free(nil) or Release,
// or everything allocated since has been freed, or has length 0, such as
// the marks Alloc(0) returns; and the growing object, if one grows, is
// empty. Like Room and ObjectSize it makes no system call and allocates
// nothing. It walks the chunks, of which there is usually one when Empty
// is true.
func (o *Obstack) Empty() bool {
	if o.growing && o.next > o.base {
		return false
	}
	for i := len(o.chunks) - 1; i >= 0; i-- {
		c := &o.chunks[i]
		top := c.used
		if i == len(o.chunks)-1 {
			top = o.next
			if o.growing {
				top = o.base
			}
		}
		if top > c.emptyTo {
			return false
		}
	}
	return true
}

// NextFree returns the address of the first free byte of the current chunk
// (GNU's obstack_next_free): the end of the growing object, or, with none
// growing, where the next object will start if it fits (the end of the last
// object rounded up to the alignment). After Free(obj) it is obj's address.
// nil when the obstack holds no chunk.
func (o *Obstack) NextFree() unsafe.Pointer {
	if len(o.chunks) == 0 {
		return nil
	}
	if o.growing {
		return at(o.next)
	}
	return at(min(alignUp(o.next, o.mask), o.end))
}

// MakeRoom makes sure that the growing object, or an object begun now,
// can take n more bytes without a new chunk (GNU's obstack_make_room):
// afterwards Room() >= n, so that n bytes of fast grows (BlankFast,
// ByteFast, PtrFast, IntFast) cannot panic. It adds nothing to the object
// and does not start one. When the current chunk is short, a growing
// object moves to a new chunk at once (Base changes); with none growing,
// the next object starts in the new chunk. n must be 0 up to the largest
// object (see Alloc), else the error matches ErrSize; a failure of the chunk
// source is returned, with the obstack unchanged.
func (o *Obstack) MakeRoom(n int) error {
	if n < 0 || n > maxObject {
		return &Error{Op: "MakeRoom", Err: ErrSize, Detail: fmt.Sprintf("size %d: want 0 up to %d", n, maxObject)}
	}
	if n <= o.Room() {
		return nil
	}
	if err := o.newChunk("MakeRoom", n, o.mask); err != nil {
		return err
	}
	o.settle()
	return nil
}

// Room is the number of bytes that the growing object, or an object begun
// now, can take without a new chunk (GNU's obstack_room).
func (o *Obstack) Room() int {
	p := o.next
	if !o.growing {
		p = alignUp(p, o.mask)
	}
	if len(o.chunks) == 0 || p > o.limit {
		return 0
	}
	return int(o.limit - p)
}
