package secret

import (
	"fmt"
	"strconv"
)

// Options choose how a Buffer is backed. The zero value is the default that
// New, NewFrom and NewRandom use: anonymous memory, locked, small secrets
// packed into a shared arena, and an error instead of unlocked memory when
// the memlock limit is reached.
type Options struct {
	// Standalone gives the buffer a mapping of its own, with a guard page on
	// each side and the data against the rear guard, even when it is small
	// enough to be packed. Then a one-byte overflow faults at once, and
	// ReadOnly and NoAccess protect this secret alone. Packed buffers (the
	// default below MaxPacked bytes) share pages with other secrets: an
	// overflow hits a canary, reported by With and Destroy, and page
	// protection is shared (see Buffer.NoAccess).
	Standalone bool

	// AllowUnlocked is the degraded mode. When mlock fails (RLIMIT_MEMLOCK
	// reached, or 0 without CAP_IPC_LOCK), the buffer is made anyway without
	// the lock: still excluded from core dumps, wiped in forked children,
	// behind guard pages and canaries, but it may be written to swap.
	// Buffer.Locked reports which one the caller got. Without it, the
	// constructors return a *LockError at once.
	AllowUnlocked bool

	// Backing chooses the memory behind the buffer. Anything other than
	// Anonymous implies Standalone.
	Backing Backing
}

// Backing is the kind of memory behind a Buffer.
type Backing int

const (
	// Anonymous is private anonymous memory, locked with mlock(2), marked
	// MADV_DONTDUMP and MADV_WIPEONFORK.
	Anonymous Backing = iota
	// MemfdSecret is memory from memfd_secret(2) (Linux 5.14+, enabled by
	// default since 6.5, otherwise with the boot parameter
	// secretmem.enable=1). The kernel removes its pages from its own direct
	// map: not even the process itself can read them through
	// /proc/PID/mem, ptrace or a kernel bug that reads kernel memory. The
	// pages are locked and left out of core dumps by the kernel. Because the
	// mapping is shared, a forked child would see it: it is marked
	// MADV_DONTFORK instead of MADV_WIPEONFORK, so the range is absent in a
	// child. When the kernel refuses memfd_secret, the constructors fail with
	// an error that says why.
	MemfdSecret
	// PreferMemfdSecret uses memfd_secret(2) when the kernel offers it and
	// falls back to Anonymous when it does not. Buffer.Backing tells which
	// was used and MemfdSecretAvailable tells why.
	PreferMemfdSecret
)

// String names the backing: "anonymous", "memfd_secret" or
// "prefer-memfd_secret".
func (k Backing) String() string {
	switch k {
	case Anonymous:
		return "anonymous"
	case MemfdSecret:
		return "memfd_secret"
	case PreferMemfdSecret:
		return "prefer-memfd_secret"
	}
	return "backing(" + strconv.Itoa(int(k)) + ")"
}

// Validate reports whether o can be used.
func (o Options) Validate() error {
	if o.Backing < Anonymous || o.Backing > PreferMemfdSecret {
		return fmt.Errorf("secret: unknown Backing %d: use secret.Anonymous, secret.MemfdSecret or secret.PreferMemfdSecret", int(o.Backing))
	}
	return nil
}

// packs reports whether a buffer of size bytes made with o goes into the
// packed arena.
func (o Options) packs(size int) bool {
	return !o.Standalone && o.Backing == Anonymous && size <= MaxPacked()
}
