package obstack

// source is where chunks come from and go back to. Options.ChunkAlloc and
// ChunkFree make a funcSource; without them New takes the default source,
// the mallocSource of source_malloc.go.
type source interface {
	// alloc returns at least size bytes, or an error.
	alloc(size int) ([]byte, error)
	// free takes back a chunk that alloc returned.
	free(chunk []byte)
	// release returns to the system what the source keeps for reuse. The
	// obstack has given every chunk back before it calls release.
	release()
	// counts reports the source's mmap calls and mapped bytes, or zeros.
	counts() (maps, bytes int64)
}

// funcSource is the user's ChunkAlloc and ChunkFree.
type funcSource struct {
	allocFn func(int) ([]byte, error)
	freeFn  func([]byte)
}

func (s funcSource) alloc(size int) ([]byte, error) { return s.allocFn(size) }
func (s funcSource) free(chunk []byte)              { s.freeFn(chunk) }
func (s funcSource) release()                       {}
func (s funcSource) counts() (int64, int64)         { return 0, 0 }
