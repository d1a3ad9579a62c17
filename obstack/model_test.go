package obstack_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"unsafe"

	"github.com/vmkit/vmkit/obstack"
)

// This file holds the model: a plain Go description of what an obstack
// must hold after any sequence of operations, run side by side with a real
// obstack. TestModel drives it with pseudo-random sequences and FuzzOps with
// the fuzzer's.

// source is a chunk source that records every chunk it hands out and checks
// every chunk it gets back: exactly a slice it returned, once. Its chunks
// are Go memory at deliberately odd addresses (offset 0 to 15 into a larger
// buffer) and sometimes larger than asked, to exercise the obstack's
// alignment and its use of every byte. It can be told to fail.
type source struct {
	out    map[uintptr]int    // address -> length of chunks handed out
	bufs   map[uintptr][]byte // address -> the buffer around the chunk
	allocs int
	frees  int
	failAt int // fail the failAt-th allocation (1-based); 0 never
	rnd    func() int
	err    error // first contract violation seen
}

var errSourceDown = errors.New("test source: out of chunks")

func newSource(rnd func() int) *source {
	return &source{out: map[uintptr]int{}, bufs: map[uintptr][]byte{}, rnd: rnd}
}

func (s *source) alloc(size int) ([]byte, error) {
	if s.failAt != 0 && s.allocs+1 == s.failAt {
		s.failAt = 0
		return nil, errSourceDown
	}
	s.allocs++
	off := s.rnd() & 15
	extra := 0
	if s.rnd()&3 == 0 {
		extra = s.rnd() & 63
	}
	buf := make([]byte, off+size+extra+guard)
	for i := range buf {
		buf[i] = guardByte // the chunk's bytes too: the obstack must not care
	}
	c := buf[off : off+size+extra : off+size+extra]
	s.out[uintptr(unsafe.Pointer(&c[0]))] = len(c)
	s.bufs[uintptr(unsafe.Pointer(&c[0]))] = buf[:off+len(c)+guard]
	return c, nil
}

func (s *source) free(c []byte) {
	s.frees++
	a := uintptr(unsafe.Pointer(unsafe.SliceData(c)))
	n, ok := s.out[a]
	switch {
	case !ok && s.err == nil:
		s.err = fmt.Errorf("ChunkFree of %#x+%d, which is not out (never handed out, or freed twice)", a, len(c))
	case ok && n != len(c) && s.err == nil:
		s.err = fmt.Errorf("ChunkFree of %#x with length %d, handed out with %d", a, len(c), n)
	}
	s.checkGuards()
	delete(s.out, a)
	delete(s.bufs, a)
	for i := range c {
		c[i] = 0x5a // a use after free by the obstack shows in the contents
	}
}

// guard bytes of guardByte follow every chunk, and precede it when it was
// handed out at an offset: a write outside a chunk changes them.
const (
	guard     = 80
	guardByte = 0xee
)

// checkGuards records an error if a byte around a chunk changed.
func (s *source) checkGuards() {
	for a, buf := range s.bufs {
		n := s.out[a]
		off := len(buf) - n - guard
		for i, c := range buf {
			if (i < off || i >= off+n) && c != guardByte && s.err == nil {
				s.err = fmt.Errorf("byte %d outside chunk %#x+%d was written: %#x", i-off, a, n, c)
			}
		}
	}
}

func (s *source) options(chunkSize, align int) obstack.Options {
	return obstack.Options{ChunkSize: chunkSize, Alignment: align, ChunkAlloc: s.alloc, ChunkFree: s.free}
}

// object is a finished object in the model.
type object struct {
	b    []byte // as the obstack returned it
	want []byte // what it must hold
	mask int    // alignment mask when it was allocated
}

// model runs operations on an obstack and on a plain description of it, and
// checks after each that they agree.
type model struct {
	t        testing.TB
	o        *obstack.Obstack
	src      *source // nil with the default page source
	objs     []object
	growing  bool
	grow     []byte // what the growing object must hold
	failed   int    // calls of OnAllocFailed
	failures int    // operations that failed because the source failed
	rnd      func() int
	log      []string
}

func newModel(t testing.TB, rnd func() int, useDefault bool, chunkSize, align int) *model {
	m := &model{t: t, rnd: rnd}
	var opts obstack.Options
	if useDefault {
		opts = obstack.Options{ChunkSize: chunkSize, Alignment: align}
	} else {
		m.src = newSource(rnd)
		opts = m.src.options(chunkSize, align)
	}
	opts.OnAllocFailed = func(error) { m.failed++ }
	o, err := obstack.New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	m.o = o
	return m
}

func (m *model) fatalf(f string, args ...any) {
	m.t.Helper()
	start := max(0, len(m.log)-12)
	m.t.Fatalf("after %d operations (last: %v): %s", len(m.log), m.log[start:], fmt.Sprintf(f, args...))
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func (m *model) pattern(n int) []byte {
	b := make([]byte, n)
	seed := byte(m.rnd())
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// sourceCapped returns a copy of b in a Go buffer whose capacity is either
// len(b) or at least 64, so both paths of Copy run.
func (m *model) sourceCapped(b []byte) []byte {
	if m.rnd()&1 == 0 {
		return slices.Clip(append([]byte(nil), b...))
	}
	buf := make([]byte, len(b), len(b)+64)
	copy(buf, b)
	return buf
}

// allocated records a new finished object, checking its address.
// nextBefore is NextFree before the allocation if Room() had space for it,
// else nil.
func (m *model) allocated(op string, b []byte, want []byte, err error, nextBefore unsafe.Pointer) {
	m.t.Helper()
	if err != nil {
		if errors.Is(err, errSourceDown) {
			m.failures++
			return
		}
		m.fatalf("%s: %v", op, err)
	}
	if b == nil || len(b) != len(want) || cap(b) != len(b) {
		m.fatalf("%s returned len %d cap %d nil %v, want len and cap %d", op, len(b), cap(b), b == nil, len(want))
	}
	mask := m.o.AlignmentMask()
	if int(addr(b))&mask != 0 {
		m.fatalf("%s returned %#x, not aligned to %d", op, addr(b), mask+1)
	}
	// An object that fits starts at the NextFree of before.
	if nextBefore != nil && unsafe.Pointer(unsafe.SliceData(b)) != nextBefore {
		m.fatalf("%s of %d bytes, with room for it, returned %#x, not NextFree %p", op, len(b), addr(b), nextBefore)
	}
	m.objs = append(m.objs, object{b: b, want: slices.Clone(want), mask: mask})
}

// step runs one operation chosen by op with arguments from m.rnd.
func (m *model) step(op int) {
	o := m.o
	n := m.rnd() % 200
	if m.rnd()%16 == 0 {
		n = m.rnd() % 9000 // larger than a chunk
	}
	switch op % 26 {
	case 0, 1: // Alloc, then fill
		m.log = append(m.log, fmt.Sprintf("Alloc(%d)", n))
		before := m.fits(n)
		b, err := o.Alloc(n)
		if m.growing {
			m.wantGrowing("Alloc", err)
			return
		}
		want := m.pattern(n)
		if err == nil {
			copy(b, want)
		}
		m.allocated("Alloc", b, want, err, before)
	case 2, 3, 4: // Copy
		want := m.pattern(n % 80)
		m.log = append(m.log, fmt.Sprintf("Copy(%d)", len(want)))
		before := m.fits(len(want))
		b, err := o.Copy(m.sourceCapped(want))
		if m.growing {
			m.wantGrowing("Copy", err)
			return
		}
		m.allocated("Copy", b, want, err, before)
	case 5: // Copy0
		want := m.pattern(n % 40)
		m.log = append(m.log, fmt.Sprintf("Copy0(%d)", len(want)))
		b, err := o.Copy0(want)
		if m.growing {
			m.wantGrowing("Copy0", err)
			return
		}
		m.allocated("Copy0", b, append(want, 0), err, nil)
	case 6: // Make
		m.log = append(m.log, fmt.Sprintf("Make[[3]uint32](%d)", n%10))
		s, err := obstack.Make[[3]uint32](o, n%10)
		if m.growing {
			m.wantGrowing("Make", err)
			return
		}
		if err == nil {
			for i := range s {
				if s[i] != [3]uint32{} {
					m.fatalf("Make returned non-zero values")
				}
			}
			if uintptr(unsafe.Pointer(unsafe.SliceData(s)))%4 != 0 {
				m.fatalf("Make returned misaligned values")
			}
		}
		var b []byte
		if err == nil {
			b = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*12)
		}
		m.allocated("Make", b, make([]byte, len(b)), err, nil)
	case 7, 8: // Free an object
		if len(m.objs) == 0 {
			return
		}
		k := len(m.objs) - 1 - m.rnd()%min(len(m.objs), 6) // mostly near the top
		if m.rnd()%8 == 0 {
			k = m.rnd() % len(m.objs)
		}
		m.log = append(m.log, fmt.Sprintf("Free(obj %d of %d)", k, len(m.objs)))
		target := m.objs[k].b
		if err := o.Free(target); err != nil {
			m.fatalf("Free(obj %d): %v", k, err)
		}
		m.objs = m.objs[:k]
		m.growing, m.grow = false, nil
		if o.NextFree() != unsafe.Pointer(unsafe.SliceData(target)) && int(addr(target))&o.AlignmentMask() == 0 {
			m.fatalf("after Free(obj at %#x) NextFree is %p", addr(target), o.NextFree())
		}
	case 9: // Free(nil), sometimes Release, both rarely
		if m.rnd()%8 != 0 {
			return
		}
		if m.rnd()%4 == 0 {
			m.log = append(m.log, "Release")
			o.Release()
		} else {
			m.log = append(m.log, "Free(nil)")
			if err := o.Free(nil); err != nil {
				m.fatalf("Free(nil): %v", err)
			}
		}
		m.objs, m.growing, m.grow = nil, false, nil
		if m.src != nil && len(m.src.out) != 0 {
			m.fatalf("after Free(nil) the source still has %d chunks out", len(m.src.out))
		}
	case 10, 11: // Grow, Grow0, Write, WriteString
		b := m.pattern(n % 300)
		zero := op%26 == 11
		how := m.rnd() % 3
		m.log = append(m.log, fmt.Sprintf("Grow(%d, nul %v, how %d)", len(b), zero, how))
		var err error
		switch {
		case zero:
			err = o.Grow0(b)
		case how == 0:
			err = o.Grow(b)
		case how == 1:
			var k int
			k, err = o.Write(b)
			m.wrote("Write", k, len(b), err)
		default:
			var k int
			k, err = o.WriteString(string(b))
			m.wrote("WriteString", k, len(b), err)
		}
		m.grew(err, b, zero)
	case 12: // Grow with a piece of the growing object itself
		// Each such grow may double the object: past maxSelfGrow, 2000
		// steps would take more memory than the machine has.
		if !m.growing || len(m.grow) == 0 || len(m.grow) > maxSelfGrow {
			return
		}
		from := m.rnd() % len(m.grow)
		piece := unsafe.Slice((*byte)(o.Base()), o.ObjectSize())[from:]
		m.log = append(m.log, fmt.Sprintf("Grow(self[%d:])", from))
		want := slices.Clone(m.grow[from:])
		m.grew(o.Grow(piece), want, false)
	case 13: // Byte, Ptr, Int
		switch m.rnd() % 3 {
		case 0:
			c := byte(m.rnd())
			if m.rnd()%2 == 0 {
				m.log = append(m.log, "WriteByte")
				m.grew(o.WriteByte(c), []byte{c}, false)
				break
			}
			m.log = append(m.log, "Byte")
			m.grew(o.Byte(c), []byte{c}, false)
		case 1:
			v := uintptr(uint64(m.rnd()) * 0x0101010101)
			m.log = append(m.log, "Ptr")
			m.grew(o.Ptr(v), wordBytes(uint64(v), obstack.PtrSize), false)
		default:
			v := m.rnd() * -77777
			m.log = append(m.log, "Int")
			m.grew(o.Int(v), wordBytes(uint64(v), obstack.IntSize), false)
		}
	case 14: // the fast variants, within Room()
		room := o.Room()
		k := min(room, n%50)
		m.log = append(m.log, fmt.Sprintf("fast(%d of room %d)", k, room))
		for i := 0; i < k; {
			switch {
			case k-i >= 8 && m.rnd()%3 == 0:
				v := m.rnd()
				o.IntFast(v)
				m.grew(nil, wordBytes(uint64(v), obstack.IntSize), false)
				i += 8
			case k-i >= 8 && m.rnd()%3 == 0:
				v := uintptr(m.rnd())
				o.PtrFast(v)
				m.grew(nil, wordBytes(uint64(v), obstack.PtrSize), false)
				i += 8
			case m.rnd()%4 == 0:
				j := 1 + m.rnd()%(k-i)
				o.BlankFast(j)
				m.filled(j)
				i += j
			default:
				c := byte(m.rnd())
				o.ByteFast(c)
				m.grew(nil, []byte{c}, false)
				i++
			}
		}
	case 15: // Blank, possibly negative
		if m.growing && len(m.grow) > 0 && m.rnd()%2 == 0 {
			k := 1 + m.rnd()%len(m.grow)
			m.log = append(m.log, fmt.Sprintf("Blank(-%d)", k))
			if err := o.Blank(-k); err != nil {
				m.fatalf("Blank(-%d): %v", k, err)
			}
			m.grow = m.grow[:len(m.grow)-k]
			return
		}
		m.log = append(m.log, fmt.Sprintf("Blank(%d)", n))
		err := o.Blank(n)
		if err != nil {
			m.grew(err, nil, false)
			return
		}
		m.growing = true
		m.filled(n)
	case 16, 17, 20, 21, 22, 23: // Finish
		m.log = append(m.log, "Finish")
		failedBefore := m.failed
		b := o.Finish()
		if !m.growing {
			if b == nil || len(b) != 0 {
				m.fatalf("Finish with nothing growing returned %d bytes (nil %v)", len(b), b == nil)
			}
			if m.failed != failedBefore { // it needed a chunk and the source failed
				m.failures++
				if err := o.Free(b); !errors.Is(err, obstack.ErrNotAllocated) {
					m.fatalf("Free of the empty object of a failed Finish: %v", err)
				}
				return
			}
			m.objs = append(m.objs, object{b: b, want: []byte{}, mask: o.AlignmentMask()})
			return
		}
		if !bytes.Equal(b, m.grow) || cap(b) != len(b) || b == nil {
			m.fatalf("Finish returned %d bytes %x, want %x", len(b), b, m.grow)
		}
		m.objs = append(m.objs, object{b: b, want: m.grow, mask: -1})
		m.growing, m.grow = false, nil
	case 18: // alignment and chunk size
		if m.rnd()%2 == 0 {
			mask := 1<<(m.rnd()%6) - 1
			m.log = append(m.log, fmt.Sprintf("SetAlignmentMask(%d)", mask))
			if err := o.SetAlignmentMask(mask); err != nil {
				m.fatalf("SetAlignmentMask(%d): %v", mask, err)
			}
		} else {
			size := []int{1, 32, 100, 300, 1000, 4096}[m.rnd()%6]
			m.log = append(m.log, fmt.Sprintf("SetChunkSize(%d)", size))
			if err := o.SetChunkSize(size); err != nil {
				m.fatalf("SetChunkSize(%d): %v", size, err)
			}
		}
	case 24: // Printf
		v, pat := m.rnd(), m.pattern(n%40)
		want := []byte(fmt.Sprintf("<%d:%x>", v, pat))
		m.log = append(m.log, fmt.Sprintf("Printf(%d bytes)", len(want)))
		k, err := o.Printf("<%d:%x>", v, pat)
		m.wrote("Printf", k, len(want), err)
		m.grew(err, want, false)
	case 25: // MakeRoom, then fill it with the fast variants
		k := n % 300
		m.log = append(m.log, fmt.Sprintf("MakeRoom(%d)", k))
		base, size := o.Base(), o.ObjectSize()
		if err := o.MakeRoom(k); err != nil {
			if !errors.Is(err, errSourceDown) {
				m.fatalf("MakeRoom(%d): %v", k, err)
			}
			m.failures++
			if o.Base() != base || o.ObjectSize() != size {
				m.fatalf("a failed MakeRoom moved or changed the object")
			}
			return
		}
		if o.Room() < k || o.ObjectSize() != size {
			m.fatalf("MakeRoom(%d): Room %d, object size %d, was %d", k, o.Room(), o.ObjectSize(), size)
		}
		if m.growing && m.rnd()%2 == 0 {
			for i := range k {
				o.ByteFast(byte(i))
				m.grew(nil, []byte{byte(i)}, false)
			}
		}
	case 19: // misuse: foreign addresses, and a source that fails
		var foreign [8]byte
		m.log = append(m.log, "Free(foreign)")
		if err := o.Free(foreign[:]); !errors.Is(err, obstack.ErrNotAllocated) {
			m.fatalf("Free of Go memory: %v, want ErrNotAllocated", err)
		}
		if m.src != nil && m.rnd()%2 == 0 {
			m.src.failAt = m.src.allocs + 1
		}
	}
}

// maxSelfGrow is the size above which the model no longer grows the object
// with a piece of itself (which FuzzOps, doubling it at every step, had
// take 24 GB and the out-of-memory killer).
const maxSelfGrow = 64 << 10

func wordBytes(v uint64, size int) []byte {
	b := make([]byte, 8)
	*(*uint64)(unsafe.Pointer(&b[0])) = v // native byte order
	if size == 4 {
		*(*uint32)(unsafe.Pointer(&b[0])) = uint32(v)
	}
	return b[:size]
}

// fits returns NextFree if an object of n bytes fits the current chunk
// (Room() > 0 and n <= Room()), else nil.
func (m *model) fits(n int) unsafe.Pointer {
	if r := m.o.Room(); !m.growing && r > 0 && n <= r {
		return m.o.NextFree()
	}
	return nil
}

// wantGrowing checks that an allocation was refused while an object grows.
func (m *model) wantGrowing(op string, err error) {
	m.t.Helper()
	if !errors.Is(err, obstack.ErrGrowing) {
		m.fatalf("%s while an object grows: %v, want ErrGrowing", op, err)
	}
}

// grew records that the growing object grew by want, or checks that a
// failure was the source's.
func (m *model) grew(err error, want []byte, nul bool) {
	m.t.Helper()
	if err != nil {
		if errors.Is(err, errSourceDown) {
			m.failures++
			return
		}
		m.fatalf("grow: %v", err)
	}
	m.growing = true
	m.grow = append(m.grow, want...)
	if nul {
		m.grow = append(m.grow, 0)
	}
}

// wrote checks the count of an io.Writer-style method: all of the bytes, or
// none with an error.
func (m *model) wrote(op string, k, n int, err error) {
	m.t.Helper()
	if (err == nil && k != n) || (err != nil && k != 0) {
		m.fatalf("%s of %d bytes returned %d, %v", op, n, k, err)
	}
}

// filled writes a pattern over the last n bytes of the growing object (the
// bytes Blank added) and records it.
func (m *model) filled(n int) {
	m.growing = true
	b := unsafe.Slice((*byte)(m.o.Base()), m.o.ObjectSize())
	p := m.pattern(n)
	copy(b[len(b)-n:], p)
	m.grow = append(m.grow, p...)
}

// verify checks every live object, the growing object, and the source.
func (m *model) verify() {
	m.t.Helper()
	o := m.o
	for i, ob := range m.objs {
		if !bytes.Equal(ob.b, ob.want) {
			m.fatalf("object %d at %#x (%d bytes) holds %x, want %x", i, addr(ob.b), len(ob.b), ob.b, ob.want)
		}
		if ob.mask > 0 && int(addr(ob.b))&ob.mask != 0 {
			m.fatalf("object %d at %#x is not aligned to %d", i, addr(ob.b), ob.mask+1)
		}
	}
	if m.growing {
		if o.ObjectSize() != len(m.grow) {
			m.fatalf("ObjectSize %d, want %d", o.ObjectSize(), len(m.grow))
		}
		if uintptr(o.NextFree())-uintptr(o.Base()) != uintptr(len(m.grow)) {
			m.fatalf("NextFree - Base = %d, want %d", uintptr(o.NextFree())-uintptr(o.Base()), len(m.grow))
		}
		if got := unsafe.Slice((*byte)(o.Base()), o.ObjectSize()); !bytes.Equal(got, m.grow) {
			m.fatalf("growing object holds %x, want %x", got, m.grow)
		}
	} else if o.ObjectSize() != 0 {
		m.fatalf("ObjectSize %d with nothing growing", o.ObjectSize())
	}
	// Empty: no object holds a byte, finished or growing.
	empty := len(m.grow) == 0
	for _, ob := range m.objs {
		empty = empty && len(ob.b) == 0
	}
	if o.Empty() != empty {
		m.fatalf("Empty() = %v with %d objects (%d growing bytes)", o.Empty(), len(m.objs), len(m.grow))
	}
	// No two live objects overlap.
	type span struct{ a, b uintptr }
	var spans []span
	for _, ob := range m.objs {
		if len(ob.b) > 0 {
			spans = append(spans, span{addr(ob.b), addr(ob.b) + uintptr(len(ob.b))})
		}
	}
	slices.SortFunc(spans, func(x, y span) int { return int(x.a - y.a) })
	for i := 1; i < len(spans); i++ {
		if spans[i].a < spans[i-1].b {
			m.fatalf("objects %#x-%#x and %#x-%#x overlap", spans[i-1].a, spans[i-1].b, spans[i].a, spans[i].b)
		}
	}
	if m.src != nil {
		if len(m.log)%16 == 0 {
			m.src.checkGuards()
		}
		if m.src.err != nil {
			m.fatalf("chunk source: %v", m.src.err)
		}
		st := o.Stats()
		if st.Chunks != len(m.src.out) {
			m.fatalf("Stats.Chunks %d, but the source has %d chunks out", st.Chunks, len(m.src.out))
		}
	}
	if m.failed != m.failures {
		m.fatalf("OnAllocFailed was called %d times for %d failures", m.failed, m.failures)
	}
}

// finish releases the obstack and checks that every chunk came back.
func (m *model) finish() {
	m.o.Release()
	if m.src != nil {
		if len(m.src.out) != 0 || m.src.allocs != m.src.frees || m.src.err != nil {
			m.fatalf("after Release: %d chunks out, %d allocs, %d frees, err %v", len(m.src.out), m.src.allocs, m.src.frees, m.src.err)
		}
	}
	if st := m.o.Stats(); st.Chunks != 0 || st.SourceBytes != 0 {
		m.fatalf("after Release: %+v", st)
	}
}
