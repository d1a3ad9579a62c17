// Package obstack gives Go the GNU obstack ("Obstacks" in the GNU C Library
// manual): a stack of objects in chunks of memory outside the Go heap.
// Freeing an object frees every object allocated after it, and one object at
// a time may grow in place until it is finished. It is the cheapest way to
// build many small objects (strings, tokens, syntax nodes) and to drop them
// together, and since the memory is not the garbage collector's, the
// collector neither scans it nor pauses for it nor counts it towards its next
// cycle.
//
// # Structures
//
// An Obstack is a stack of chunks. A chunk is one block of memory from the
// chunk source; the top one is current. Objects are laid out one after the
// other in the current chunk, each starting at the end of the previous one
// rounded up to the alignment (16 bytes by default, 1 packs them). The
// obstack keeps three addresses: next, the first free byte; limit, the end
// of the chunk rounded down to the alignment; and, while an object grows,
// base, its start. A chunk below the current one has a fixed used end:
// the part above it was too small for the object that opened the next chunk.
// An object larger than an ordinary chunk (ChunkSize, 4096 bytes by default)
// gets a chunk of its own. The chunk records live on the Go heap, not in
// the chunks as in GNU, so every byte of a chunk holds objects and an
// overrun of an object cannot corrupt the obstack's own state. Each chunk
// record also keeps emptyTo, the address below which none of its objects
// has a byte: the chunk holds a byte exactly when its top is above it, so
// Empty (GNU's obstack_empty_p) answers without a list of objects. Only
// slow paths move it; a fast allocation needs no bookkeeping, since it
// adds at least one byte at or above emptyTo.
//
// Chunks come from a source: Options.ChunkAlloc and ChunkFree (GNU's
// obstack_chunk_alloc and obstack_chunk_free), or by default vmkit's malloc
// package, outside the Go heap. The default source keeps the chunks given
// back to it, by size, so that an obstack freed to a mark and filled again,
// over and over, calls malloc only while it grows past its largest size so
// far; an object's own large chunk goes back to malloc at once. Release
// returns every chunk to malloc. malloc runs on 64-bit Linux only: elsewhere,
// and on 32-bit systems, New with the default source fails with an error
// that matches malloc.ErrNotSupported, and a program gives a source of its
// own (mem.Map, or make; see ExampleOptions_chunkSource).
//
// # States
//
// An obstack is Idle or Growing. The first Blank, Grow, Grow0, Byte, Ptr or
// Int (or fast variant), Write, WriteString, WriteByte or Printf begins an
// object at next rounded up to the alignment: Growing. Finish returns the
// object and goes back to Idle; so does Free, which abandons a growing object
// above the address freed to. While an object grows, every other allocation
// fails with ErrGrowing: GNU says none may be made, and here none can corrupt
// the growing object.
//
// A chunk moves from the source to current (when an object does not fit
// the current one), from current to below (when the next chunk opens), and
// back to the source when Free frees everything in it, when Free(nil) or
// Release frees all, or when a growing object moves out of a chunk that
// held nothing else.
//
// # The growing object as a writer
//
// The obstack is an io.Writer, io.StringWriter and io.ByteWriter on its
// growing object: Write is Grow that returns a count, WriteString copies
// from the string without converting it, WriteByte is Byte. So
// fmt.Fprintf, io.Copy and encoders build an object in place, and Printf
// (GNU's obstack_printf and obstack_vprintf) is fmt.Fprintf to the
// obstack: fmt formats into its own pooled buffer and hands it to one
// Write, so the object moves at most once per call. Write takes Grow's fast
// path (a compare and a copy, no allocation) when the bytes fit the chunk.
// MakeRoom (obstack_make_room) takes the new chunk ahead of time, so that a
// loop of fast grows sized by Room() never falls short.
//
// # The fast path
//
// Copy of a small object that fits, the package's hot path, takes these
// steps, with no lock and no allocation on the Go heap:
//
//  1. p is next rounded up to the alignment.
//  2. If the obstack is in a slow state (an object growing, no chunk, or an
//     alignment changed under next), or the object is empty or larger than
//     limit-p, take the slow path.
//  3. next becomes p+n, and the bytes are copied without a branch on their
//     number: as one fixed 64-byte block when b's capacity and the chunk's
//     room allow it, else, for 8 to 64 bytes, as eight 8-byte words at
//     offsets clamped to n-8, which overlap. Other sizes go to copy
//     (memmove), which picks a sequence by length and, with lengths that
//     vary, mispredicts that choice about half the time.
//  4. The object is returned as a slice of length and capacity n, so an
//     append to it moves it to the Go heap rather than overwrite the next
//     object.
//
// Copy and Alloc are not inlined: the Go compiler charges a call to the
// slow path 57 of the 80 units an inlined function may cost. The fast grows
// (BlankFast, ByteFast, PtrFast, IntFast), which panic instead of calling
// a slow path, are inlined.
//
// # The slow path
//
// allocSlow refuses allocations while an object grows and sizes that are
// negative or absurd, then places the object in the current chunk if it
// fits, else in a new one from newChunk:
//
//  1. The new chunk has room for the object, aligned, whatever the
//     source's alignment, and is at least ChunkSize. For a growing object
//     that moves, an eighth of its size and 100 bytes more, as GNU does, so
//     an object grown a byte at a time moves a logarithmic number of times.
//  2. A source failure goes to OnAllocFailed, then back to the caller as an
//     error that wraps it (errors.Is(err, unix.ENOMEM) holds for a failed
//     mmap); the obstack is unchanged.
//  3. The growing object, if any, is copied to the new chunk: Base changes.
//  4. The old chunk goes back to the source if nothing but the growing
//     object was in it, else stays below with its used end.
//
// No object, not even an empty one, starts at the end of a chunk, where
// another chunk may begin: so an address belongs to at most one chunk, and
// Free finds it without doubt. Free walks the chunks from the top, gives
// back those above the address, and sets next to it. An address in no
// chunk, above the allocated end, or inside the growing object gets an
// *Error that matches ErrNotAllocated and says which; nothing is freed.
//
// # Go's rules for this memory
//
// Objects are ordinary []byte slices (Make gives typed ones) that point
// outside the Go heap. The collector does not look inside them, so a Go
// pointer stored there does not keep its target alive: Make refuses types
// with pointers, strings, slices, maps, channels, functions or interfaces,
// and Ptr takes a uintptr. An object is valid until it is freed; using it
// afterwards is a use after free that Go cannot detect. With the default
// source the memory stays mapped until Release (a stale read sees the next
// object's bytes) and faults after it. Built with -tags invariants, the
// obstack checks its invariants after every slow path and fills freed
// memory with Poison.
//
// An Obstack is not safe for concurrent use: give each goroutine its own.
//
// # Differences from GNU
//
//   - Errors are returned, not sent to a handler that exits; OnAllocFailed
//     is still called first.
//   - Freeing an address the obstack does not hold is an error, not
//     undefined behaviour.
//   - The fast variants check the room and panic when it is short.
//   - Alloc(0), Copy(nil) and Finish with nothing growing return an empty
//     object with an address, which Free accepts: the usual mark.
//   - Ptr and Int append a uintptr and a Go int: 8 bytes on 64-bit systems.
//   - MakeRoom does not start an object. Empty counts bytes: empty
//     objects (marks) leave an obstack empty wherever they lie, where
//     GNU's obstack_empty_p is false whenever a second chunk is in use.
//   - Printf returns fmt's (int, error); formatting is Go's, not printf's.
//   - A chunk has no header, so ChunkSize bytes are all for objects.
package obstack
