package obstack

import "fmt"

// Poison is the byte that fills freed memory in builds with the invariants
// tag, so that a use after free reads an obvious pattern.
const Poison = 0xdb

func poison(b []byte) {
	for i := range b {
		b[i] = Poison
	}
}

// check panics if an invariant of the obstack is broken. It runs after every
// slow path in builds with the invariants tag.
func (o *Obstack) check() {
	fail := func(f string, args ...any) {
		panic(fmt.Sprintf("obstack: invariant broken: "+f, args...))
	}
	if o.mask&(o.mask+1) != 0 {
		fail("mask %#x", o.mask)
	}
	if len(o.chunks) == 0 {
		if o.next != 0 || o.limit != 0 || o.growing || o.fast != 0 {
			fail("no chunk but next %#x limit %#x growing %v fast %#x", o.next, o.limit, o.growing, o.fast)
		}
		return
	}
	c := &o.chunks[len(o.chunks)-1]
	if o.end != c.end() || o.limit > o.end || o.next < c.first || c.first < c.start() || o.next > o.end {
		fail("chunk %#x-%#x first %#x end %#x limit %#x next %#x", c.start(), c.end(), c.first, o.end, o.limit, o.next)
	}
	if o.growing {
		if o.fast != 0 || o.base > o.next || o.next > o.limit || o.base >= o.limit || o.base < c.first {
			fail("growing: first %#x base %#x next %#x limit %#x fast %#x", c.first, o.base, o.next, o.limit, o.fast)
		}
	} else if o.fast != 0 && (o.fast != o.limit || o.limit&o.mask != 0 || alignUp(o.next, o.mask) > o.limit) {
		fail("fast path open with next %#x limit %#x fast %#x mask %#x", o.next, o.limit, o.fast, o.mask)
	}
	if !o.growing && o.next <= c.emptyTo && alignUp(o.next, o.mask) != c.emptyTo {
		fail("no byte allocated, but next %#x rounded up to mask %#x is not emptyTo %#x", o.next, o.mask, c.emptyTo)
	}
	for i := range len(o.chunks) - 1 {
		b := &o.chunks[i]
		if b.used < b.start() || b.used > b.end() || b.first < b.start() {
			fail("chunk %d %#x-%#x used %#x first %#x", i, b.start(), b.end(), b.used, b.first)
		}
	}
}
