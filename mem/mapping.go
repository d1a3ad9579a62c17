package mem

import (
	"sync"
	"unsafe"
)

// A Mapping is a range of virtual memory obtained from the kernel with Map or
// MapFile. Its methods act on all of its pages. It is safe for concurrent use:
// Close and Remap wait for ReadAt, WriteAt and the other methods to finish,
// and after Close every method returns ErrClosed instead of touching unmapped
// memory.
//
// The slice from Bytes points straight at the mapped pages. It stays valid
// until Close or Remap; using it afterwards is a use-after-free that Go cannot
// detect, which is why ReadAt and WriteAt exist. A Mapping is not freed by the
// garbage collector: call Close.
type Mapping struct {
	mu sync.RWMutex
	// base is the page-aligned start of the kernel mapping; nil once closed.
	base unsafe.Pointer
	// size is the length given to mmap: a whole number of pages for
	// anonymous memory, head+length for files, and a whole number of huge
	// pages for hugetlb memory of either kind.
	size uintptr
	// page is the size of the mapping's pages: PageSize, or the huge page
	// size of hugetlb memory, which the kernel unmaps, protects and remaps
	// only in whole huge pages.
	page uintptr
	// head is the distance from base to the caller's first byte: the part of
	// the first page that precedes an unaligned file offset. 0 for anonymous.
	head uintptr
	// length is what Len and Bytes report.
	length int
	// prot is the protection last set on the whole mapping.
	prot  Prot
	flags Flags
	// file reports whether a file backs the mapping.
	file bool
	// release, when set, unmaps an adopted mapping instead of munmap.
	release func() error
}

// Len is the length in bytes that was asked for (or set by Remap); 0 after
// Close.
func (m *Mapping) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.base == nil {
		return 0
	}
	return m.length
}

// Bytes returns the mapped memory, or nil after Close. Read its doc on
// Mapping before keeping the slice.
func (m *Mapping) Bytes() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.base == nil {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(m.base, m.head)), m.length)
}

// Prot is the protection last set on the whole mapping by Map or Protect.
func (m *Mapping) Prot() Prot {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.prot
}

// Flags are the flags the mapping was made with.
func (m *Mapping) Flags() Flags { return m.flags }

// Addr is the address of the first byte of Bytes, or 0 after Close.
func (m *Mapping) Addr() uintptr {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.base == nil {
		return 0
	}
	return uintptr(m.base) + m.head
}

// user returns the caller's range, or ErrClosed. The caller holds m.mu.
func (m *Mapping) user() (unsafe.Pointer, uintptr, error) {
	if m.base == nil {
		return nil, 0, ErrClosed
	}
	return unsafe.Add(m.base, m.head), uintptr(m.length), nil
}
