package secret

import (
	"errors"
	"strconv"

	"github.com/vmkit/vmkit/mem"
)

var (
	// ErrDestroyed is returned by the methods of a Buffer after Destroy or
	// Purge.
	ErrDestroyed = errors.New("secret: buffer is destroyed")
	// ErrKeyDestroyed is returned by Enclave.Open when Purge has destroyed
	// the key the enclave was sealed with: its contents are gone for good.
	ErrKeyDestroyed = errors.New("secret: the enclave's key was destroyed by Purge; its contents cannot be recovered")
	// ErrNotSupported is returned on systems other than Linux.
	ErrNotSupported = errors.New("secret: not supported on this system")
)

func hex(a uintptr) string { return "0x" + strconv.FormatUint(uint64(a), 16) }

// LockError reports that memory for a secret could not be locked into RAM.
// It comes back at once, never as a hang or a panic, and names the limit and
// the remedies. It wraps the system error: errors.Is(err, unix.ENOMEM)
// (limit reached) or errors.Is(err, unix.EPERM) (limit 0 without
// CAP_IPC_LOCK) holds, and for memfd_secret errors.Is(err, unix.EAGAIN).
type LockError struct {
	// Op is the call that failed, such as "New(65536)".
	Op string
	// Size is how many bytes the call tried to lock.
	Size int64
	// Limit is RLIMIT_MEMLOCK when the call failed.
	Limit mem.Limit
	// Locked is how much the process had locked already (VmLck).
	Locked int64
	// Err is the underlying error, usually a *mem.Error.
	Err error
}

// Error reads like "secret: New(65536): cannot lock 68 KiB: cannot allocate
// memory; RLIMIT_MEMLOCK is 16 KiB and 4 KiB is locked already; ...".
func (e *LockError) Error() string {
	cause := e.Err
	var me *mem.Error
	if errors.As(cause, &me) {
		cause = me.Err // its hint says the same as the remedies below
	}
	s := "secret: " + e.Op + ": cannot lock " + mem.FormatBytes(e.Size)
	if cause != nil {
		s += ": " + cause.Error()
	}
	s += "; RLIMIT_MEMLOCK is " + limitText(e.Limit.Soft) + " and " + mem.FormatBytes(e.Locked) + " is locked already" +
		"; raise the limit (ulimit -l, prlimit --memlock, systemd LimitMEMLOCK=, docker run --ulimit memlock=), grant CAP_IPC_LOCK," +
		" or set secret.Options{AllowUnlocked: true} to keep the secret unlocked but still out of core dumps, wiped in forked children and guarded"
	return s
}

// Unwrap returns the underlying error.
func (e *LockError) Unwrap() error { return e.Err }

func limitText(v int64) string {
	if v == mem.Unlimited {
		return "unlimited"
	}
	return mem.FormatBytes(v)
}

// GuardError reports an access inside With that hit a guard page: the
// inaccessible page before or after a buffer's data. It wraps the *mem.Fault
// that the hardware raised.
type GuardError struct {
	// Guard is the first address of the guard page that was hit.
	Guard uintptr
	// Addr is the address that faulted.
	Addr uintptr
	// Rear reports an overflow (the guard after the data); otherwise the
	// access was an underflow into the guard before it.
	Rear bool
	// Data and Len bound the buffer's data.
	Data uintptr
	Len  int
	// Fault is the fault itself.
	Fault *mem.Fault
}

// Error reads like "secret: With: access 1 byte past the end of a 32-byte
// buffer at 0x7f..fe0 hit the rear guard page at 0x7f..000".
func (e *GuardError) Error() string {
	var where string
	if e.Addr >= e.Data+uintptr(e.Len) {
		where = strconv.FormatUint(uint64(e.Addr-(e.Data+uintptr(e.Len))+1), 10) + " byte(s) past the end"
	} else if e.Addr < e.Data {
		where = strconv.FormatUint(uint64(e.Data-e.Addr), 10) + " byte(s) before the start"
	} else {
		where = "inside"
	}
	side := "front"
	if e.Rear {
		side = "rear"
	}
	return "secret: With: access " + where + " of a " + strconv.Itoa(e.Len) + "-byte buffer at " + hex(e.Data) +
		" hit the " + side + " guard page at " + hex(e.Guard) + " (fault at " + hex(e.Addr) + ")"
}

// Unwrap returns the fault.
func (e *GuardError) Unwrap() error { return e.Fault }

// CanaryError reports canary bytes next to a buffer's data that were
// overwritten: an underflow (the canary before the data) or, for packed
// buffers, an overflow (the canary after the data, which is where the next
// secret's canary begins). Destroy still wipes and frees the buffer and
// repairs the canary; the error tells that memory was corrupted.
type CanaryError struct {
	// Op is "Destroy" or "With".
	Op string
	// Addr is the first corrupted byte.
	Addr uintptr
	// Count is how many canary bytes differ.
	Count int
	// After reports the canary after the data (an overflow); otherwise the
	// canary before the data (an underflow) was hit.
	After bool
	// Data and Len bound the buffer's data.
	Data uintptr
	Len  int
}

// Error reads like "secret: Destroy: canary before the 32-byte buffer at
// 0x... is corrupted at 0x... (1 byte): an underflow wrote before the data".
func (e *CanaryError) Error() string {
	side, what := "before", "an underflow wrote before the data"
	if e.After {
		side, what = "after", "an overflow wrote past the end of the data"
	}
	return "secret: " + e.Op + ": canary " + side + " the " + strconv.Itoa(e.Len) + "-byte buffer at " + hex(e.Data) +
		" is corrupted at " + hex(e.Addr) + " (" + strconv.Itoa(e.Count) + " byte(s)): " + what
}
