// The GNU obstack side of the benchmark: glibc's obstack.h compiled by cgo
// (-O2), its chunks from glibc's malloc with trimming off, its best case.
#include <malloc.h>
#include <obstack.h>
#include <stdint.h>
#include <stdlib.h>

#include "gnu.h"

#define obstack_chunk_alloc malloc
#define obstack_chunk_free free

static struct obstack ob;
static int ready;

void gnu_setup(void) {
	// Trimming off: chunks freed back to malloc stay in its heap, for reuse.
	mallopt(M_TRIM_THRESHOLD, -1);
	mallopt(M_MMAP_MAX, 0);
	if (!ready) {
		obstack_init(&ob);
		ready = 1;
	}
}

int gnu_chunk_size(void) { return obstack_chunk_size(&ob); }
int gnu_alignment(void) { return obstack_alignment_mask(&ob) + 1; }

// gnu_run makes n obstack_copy calls of sizes[i % nsizes] bytes of src and
// frees back to a mark every `every` objects. It returns a checksum of the
// last byte of every object, so the copies cannot be optimised away.
uint64_t gnu_run(const uint8_t *sizes, int nsizes, const uint8_t *src, long n, long every) {
	uint64_t s = 0;
	long i = 0;
	while (i < n) {
		void *mark = obstack_alloc(&ob, 0);
		long end = i + every < n ? i + every : n;
		for (; i < end; i++) {
			int sz = sizes[i & (nsizes - 1)];
			unsigned char *p = obstack_copy(&ob, src, sz);
			s += p[sz - 1];
		}
		obstack_free(&ob, mark);
	}
	return s;
}

#include <gnu/libc-version.h>
const char *gnu_get_libc_version_str(void) { return gnu_get_libc_version(); }
