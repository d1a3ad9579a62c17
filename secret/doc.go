// Package secret keeps keys and passwords in memory that the kernel will not
// write to swap, leave in a core dump or copy into a forked child, behind
// guard pages and canaries that catch an overflow at either edge, and wipes
// it when the secret is destroyed.
//
//	k, err := secret.NewRandom(32)   // locked, dump-excluded, wiped on fork
//	if err != nil { ... }            // a *LockError names the limit and the remedies
//	defer k.Destroy()                // checks the canaries, wipes, gives the memory back
//	err = k.With(func(b []byte) error { return use(b) })
//
// The peers are awnumar/memguard, libsodium's sodium_malloc and OpenSSL's
// secure heap. This package answers what their users complain about: a
// failed mlock comes back at once as an error that says what limit was hit
// and how to lift it (never a hang or a panic); a degraded mode runs where
// the memlock limit is tiny, but only when asked; small secrets are packed
// many to a page instead of costing a mapping of three pages or more each
// (guard, data, guard); and secrets are wiped in forked children.
//
// # Structures
//
// A Buffer is one secret. It is standalone or packed.
//
// A standalone buffer owns one mapping of whole pages:
//
//	| guard page | canary ........ data | guard page |
//	  PROT_NONE    locked, MADV_DONTDUMP,   PROT_NONE
//	               MADV_WIPEONFORK
//
// The data sits flush against the rear guard, so a write one byte past its
// end faults; the canary fills the rest of the data pages in front of it, so
// a write before its start changes the canary, which Destroy checks. The
// guards are never locked and cost no memory. In /proc/self/smaps the data
// pages show VmFlags lo, dd and wf, the guards ---p. ReadOnly, NoAccess and
// ReadWrite change the protection of the data pages alone (r--p, ---p, rw-p).
//
// A packed buffer is a slot in an arena, as in OpenSSL's secure heap. An
// arena is one mapping of 512 data pages between two guard pages, marked
// MADV_DONTDUMP and MADV_WIPEONFORK as a whole. Pages are handed out in
// order; a page is opened and locked only when it is first needed, so an
// arena costs address space, not locked memory, until it fills. Pages not
// yet handed out stay PROT_NONE and act as part of the rear guard. Each page
// in use belongs to one size class (a multiple of 16 bytes, up to a page
// less 32 bytes) and is cut into slots between canaries:
//
//	| canary | slot 0 | canary | slot 1 | canary | ... | canary |
//
// A secret sits at the end of its slot, so the byte after it is canary too,
// and With and Destroy check both sides. The canary is a random 16-byte
// pattern laid by address (byte a holds pattern[a%16]): every byte of a page
// not inside a live secret is canary, a freed slot is wiped by writing the
// canary back over it, and an empty page can change class without being
// formatted. Ten thousand 32-byte keys take 118 pages of one arena: four
// mappings, where a mapping per key, standalone or in memguard, makes 20,004
// (two per key, as the kernel merges the guards of neighbours; the default
// vm.max_map_count is 65,530). docs/benchmarks.md has the figures.
//
// A page whose last secret goes is idle or retired. Up to four idle pages
// per heap stay open, locked and all canary, so that a loop that makes and
// destroys secrets makes no system call: an idle page is its class's only
// page, kept in the class, or a spare that any class takes first. Every
// other page that empties is retired, as libsodium and memguard release
// memory on free: wiped to zeros while still locked, unlocked, its memory
// given back (MADV_DONTNEED) and sealed PROT_NONE, where it is a guard
// between its neighbours. It still carries the arena's MADV_DONTDUMP and
// MADV_WIPEONFORK, and is opened, locked and filled with canary again when
// a class next needs a page. So a process whose secrets are gone holds at
// most four arena pages locked (16 KiB with 4 KiB pages), not every page
// its secrets ever filled (300 secrets of mixed sizes fill 944 KiB), and
// Purge releases those four too. A retired page between pages in use
// splits the arena's mapping, so a fragmented arena costs more mappings:
// at worst one per page.
//
// Page protection is per page, so a packed buffer's ReadOnly or NoAccess is
// a wish counted on its page: the page is as open as its most demanding
// secret needs (rw-p while any wants writing or is inside With, r--p while
// any wants reading, ---p when all are sealed). Options.Standalone gives a
// secret protection of its own.
//
// Buffers whose memory cannot be locked live, when Options.AllowUnlocked
// allows it, in a second set of arenas (or standalone mappings) that are
// guarded, dump-excluded and wiped on fork like the others, and not locked.
// Buffer.Locked tells which one a caller got; Stats counts them.
//
// With Options.Backing set to MemfdSecret, a standalone buffer's data pages
// come from memfd_secret(2), mapped over the middle of a PROT_NONE
// reservation that provides the guards. The kernel removes these pages from
// its direct map, locks them and leaves them out of core dumps. The mapping
// is shared, so MADV_WIPEONFORK does not apply; MADV_DONTFORK leaves it out
// of a child altogether.
//
// Every live buffer is on one list, so that Purge can destroy them all. The
// package installs nothing on import: no init function, no signal handler.
// PurgeOnSignal installs one for SIGINT and SIGTERM when called.
//
// An Enclave is a secret encrypted at rest (XChaCha20-Poly1305) in ordinary
// memory. Its key is one per process, a standalone sealed buffer (in
// memfd_secret memory where the kernel offers it) opened only while Seal or
// Open runs. The key is locked; only when a Seal in the degraded mode cannot
// lock one does it make a second, unlocked key, which seals no buffer but
// those that allow unlocked memory. Enclaves cost no locked memory: keep
// many secrets sealed and open the one in use.
//
// # States
//
// A buffer is live, then destroyed. While live it rests in one of three
// protections (ReadWrite after creation, ReadOnly, NoAccess), and With opens
// it for reading and writing while calls run (opens > 0), then restores the
// resting protection. Destroy during With marks it doomed; the last With to
// return destroys it, so memory is never unmapped under a running function.
//
// # Creating a standalone buffer (Options.New)
//
//	S1. mmap guard+data+guard pages, PROT_NONE.
//	S2. mprotect the data pages read-write; the guards stay PROT_NONE.
//	S3. madvise MADV_DONTDUMP and MADV_WIPEONFORK on the data pages.
//	S4. mlock the data pages. On failure: unmap and return a *LockError, or
//	    in the degraded mode keep the pages unlocked.
//	S5. Write the canary in front of the data, then the data (NewFrom copies
//	    the caller's bytes and wipes them; NewRandom has getrandom(2) write
//	    straight into the page).
//
// Nothing is written into the pages before S4, so no byte of a secret is
// ever in memory that is not yet protected.
//
// # Creating a packed buffer: the fast path and the slow path
//
//	P1. Fast: take a free slot from a page of the size class. No system call.
//	P2. Slow: no page of the class has room. Take a spare page (no system
//	    call), or open, lock and fill with canary a retired page, or (P2b)
//	    the next page of the newest arena, or (P2a) reserve a new arena
//	    first. A lock failure is a *LockError, or, in the degraded mode, a
//	    retry in the unlocked arenas.
//	P3. Count the new secret's wish for write access on its page, which
//	    makes the page writable if it was not, and zero the data.
//
// # Destroying (Destroy)
//
//	D1. Make the memory writable and check the canary before the data (and
//	    after it, for a packed buffer).
//	D2. Wipe: standalone data is zeroed; a packed slot is overwritten with
//	    canary from the canary before it to the one after it, which also
//	    repairs damage to either.
//	D3. Standalone: munmap, which also unlocks. Packed (P4, P5): return the
//	    slot to its page. An empty page stays idle (in its class if it is
//	    the class's only page, else as a spare) while the heap has fewer
//	    than four idle pages, so that a create/destroy loop makes no system
//	    call; otherwise it is retired: zeroed, munlocked, MADV_DONTNEED,
//	    PROT_NONE. An empty arena is unmapped unless it is the last one.
//	D4. Remove the buffer from the live list.
//
// # Errors
//
// A constructor that cannot lock its memory returns a *LockError (unless
// Options.AllowUnlocked); a damaged canary comes back from With or Destroy
// as a *CanaryError, and an access to a guard page inside With as a
// *GuardError; the methods of a destroyed Buffer return ErrDestroyed, and
// Enclave.Open after Purge ErrKeyDestroyed. Other failures of the kernel
// come back wrapped (a *mem.Error where package mem made the call), so
// errors.Is(err, unix.ENOMEM) and the like hold. On systems other than
// Linux every call fails with an error matching ErrNotSupported.
//
// # What it cannot do
//
// Go copies what it likes: a secret passed by value, converted to a string,
// or handed to a function that copies it (a hash, a cipher's key schedule)
// lands on the Go heap or stack, out of reach of this package. Keep secrets
// in a Buffer and pass the slice. The enclave's cipher keeps its key copy on
// the heap for the duration of a call (wiped afterwards) and derives per-call
// subkeys that cannot be wiped; Go 1.26's runtime/secret, once it leaves
// GOEXPERIMENT, is the answer to that. /proc/PID/mem and ptrace can read
// anonymous pages whatever their protection (root or the same user with
// ptrace rights); memfd_secret pages are out of their reach. Locked memory
// does not survive hibernation unencrypted.
package secret
