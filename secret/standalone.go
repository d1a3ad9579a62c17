package secret

import "github.com/vmkit/vmkit/mem"

// standalone is the memory of a buffer with a mapping of its own: a guard
// page, the data pages (inner) and a guard page.
type standalone struct {
	// m covers the guards and inner; nil when a failed memfd_secret mapping
	// left it in pieces (then it is never closed).
	m *mem.Mapping
	// inner is the data pages: canary first, the data flush with its end.
	inner   []byte
	backing Backing
	locked  bool
}

// front and rear are the first addresses of the guard pages.
func (s *standalone) front() uintptr { return addrOf(s.inner) - uintptr(mem.PageSize()) }
func (s *standalone) rear() uintptr  { return addrOf(s.inner) + uintptr(len(s.inner)) }
