package shm

import (
	"errors"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/sys"
)

// Wait sleeps while the shared word w holds val (futex(2) FUTEX_WAIT, in its
// process-shared form), until Wake on the same word, from this or any other
// process that maps the page, or until timeout passes (timeout <= 0: no
// limit). It returns nil when woken, when w no longer held val on entry, or
// on a spurious wake-up, so callers loop:
//
//	for w.Load() == busy {
//		if err := shm.Wait(w, busy, 0); err != nil { ... }
//	}
//
// It returns an error matching ErrTimeout when the time passes. The timeout
// is a deadline, measured on the monotonic clock from the call: a signal
// that interrupts the sleep (EINTR, which Linux returns for a timed wait
// whatever SA_RESTART says) does not end the call; Wait sleeps again for
// the time left, so a stream of signals neither returns early nor stretches
// the wait. The calling goroutine's thread blocks in the kernel meanwhile,
// as in any system call.
func Wait(w *atomic.Uint32, val uint32, timeout time.Duration) error {
	if w == nil {
		return &Error{Op: "futex(FUTEX_WAIT)", Err: unix.EINVAL, Hint: "nil word"}
	}
	var ts *unix.Timespec
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
		t := unix.NsecToTimespec(int64(min(timeout, maxSleep)))
		ts = &t
	}
	for {
		err := sys.FutexWait((*uint32)(unsafeWord(w)), val, ts)
		switch {
		case err == nil, errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, unix.EINTR):
			// FUTEX_WAIT takes a relative timeout: sleep again for what
			// is left of it. The kernel checks the word again first.
			if ts == nil {
				continue
			}
			left := time.Until(deadline)
			if left <= 0 {
				return errTimeout(timeout)
			}
			*ts = unix.NsecToTimespec(int64(min(left, maxSleep)))
			continue
		case errors.Is(err, unix.ETIMEDOUT):
			// A timeout beyond maxSleep sleeps in several parts.
			if left := time.Until(deadline); timeout > maxSleep && left > 0 {
				*ts = unix.NsecToTimespec(int64(min(left, maxSleep)))
				continue
			}
			return errTimeout(timeout)
		}
		return &Error{Op: "futex(FUTEX_WAIT)", Err: err, Hint: futexHint(err)}
	}
}

// maxSleep bounds one FUTEX_WAIT: a 32-bit system's timespec holds at
// most MaxInt32 seconds (68 years), and a longer timeout wrapped to a
// negative one, which the kernel refuses with EINVAL.
const maxSleep = math.MaxInt32 * time.Second

func errTimeout(timeout time.Duration) error {
	return &Error{Op: "futex(FUTEX_WAIT)", Err: ErrTimeout, Hint: "no wake-up within " + timeout.String()}
}

// Wake wakes up to n goroutines or processes sleeping in Wait on the shared
// word w (futex(2) FUTEX_WAKE) and returns how many it woke; math.MaxInt
// wakes them all. Change the word before calling Wake, or a waiter may
// sleep again.
func Wake(w *atomic.Uint32, n int) (int, error) {
	if w == nil {
		return 0, &Error{Op: "futex(FUTEX_WAKE)", Err: unix.EINVAL, Hint: "nil word"}
	}
	if n <= 0 {
		return 0, &Error{Op: "futex(FUTEX_WAKE)", Err: unix.EINVAL, Hint: "wake at least one waiter, not " + strconv.Itoa(n)}
	}
	// The kernel reads n as a 32-bit int: math.MaxInt would arrive as -1
	// and 1<<32 as 0, each of which wakes one waiter.
	woke, err := sys.FutexWake((*uint32)(unsafeWord(w)), min(n, math.MaxInt32))
	if err != nil {
		return 0, &Error{Op: "futex(FUTEX_WAKE)", Err: err, Hint: futexHint(err)}
	}
	return woke, nil
}

func futexHint(err error) string {
	switch {
	case errors.Is(err, unix.EFAULT):
		return "the word is not in mapped memory: was its mapping closed?"
	case errors.Is(err, unix.EINVAL):
		return "the word is not 4-byte aligned"
	}
	return ""
}
