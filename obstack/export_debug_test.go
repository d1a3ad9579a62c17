package obstack

import "fmt"

func (o *Obstack) DebugChunks() string {
	s := fmt.Sprintf("next %#x limit %#x end %#x growing %v base %#x slow %v mask %d |", o.next, o.limit, o.end, o.growing, o.base, o.slow, o.mask)
	for i := range o.chunks {
		c := &o.chunks[i]
		s += fmt.Sprintf(" [%#x-%#x used %#x first %#x me %v]", c.start(), c.end(), c.used, c.first, c.maybeEmpty)
	}
	return s
}
