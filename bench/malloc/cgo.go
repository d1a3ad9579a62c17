package main

// #include <stdlib.h>
// #include <malloc.h>
// static size_t mapped(void) { struct mallinfo2 m = mallinfo2(); return m.arena + m.hblkhd; }
import "C"

import "unsafe"

func cMalloc(n int) unsafe.Pointer { return C.malloc(C.size_t(n)) }
func cFree(p unsafe.Pointer)       { C.free(p) }
func cRealloc(p unsafe.Pointer, n int) unsafe.Pointer {
	return C.realloc(p, C.size_t(n))
}
