package secret

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/mem"
)

// Usage is what Stats reports: the package's secrets and the locked memory
// they hold, against the process's limit.
type Usage struct {
	// Buffers is the number of live buffers (the enclave key not counted).
	Buffers int
	// Packed is how many of them share arena pages.
	Packed int
	// Unlocked is how many of them run in the degraded mode: not locked.
	Unlocked int
	// MemfdSecret is how many of them are backed by memfd_secret(2).
	MemfdSecret int
	// Bytes is the sum of their lengths.
	Bytes int64
	// Locked is the memory the package holds locked, in bytes: the data
	// pages of locked standalone buffers (memfd_secret included), the arena
	// pages in use and up to four empty ones kept for the next secrets, and
	// the enclave key's page. Guard pages and released arena pages are not
	// locked.
	Locked int64
	// Mapped is the address space the package holds, guards and arena
	// reserves included; it costs no memory beyond Locked and the unlocked
	// pages.
	Mapped int64
	// Arenas is the number of packed arenas, locked and unlocked.
	Arenas int
	// ProcessLocked is all the memory the process has locked (VmLck), by
	// this package or anyone else; -1 when /proc could not be read.
	ProcessLocked int64
	// Limit is RLIMIT_MEMLOCK, which bounds ProcessLocked unless Exempt.
	Limit mem.Limit
	// Exempt reports that the process has CAP_IPC_LOCK, so the kernel
	// ignores Limit.
	Exempt bool
}

// Available is how many more bytes the process may lock: Limit.Soft less
// ProcessLocked, or mem.Unlimited when the limit does not apply.
func (u Usage) Available() int64 {
	if u.Exempt || u.Limit.Soft == mem.Unlimited {
		return mem.Unlimited
	}
	return max(0, u.Limit.Soft-u.ProcessLocked)
}

// Stats reports the package's secrets and the locked memory they hold,
// against the memlock limit.
func Stats() Usage {
	state.mu.Lock()
	u := Usage{
		Buffers:     state.buffers,
		Packed:      state.packed,
		Unlocked:    state.unlocked,
		MemfdSecret: state.memfd,
		Bytes:       state.bytes,
		Locked:      state.locked,
		Mapped:      state.mapped,
		Arenas:      len(state.heaps[0].arenas) + len(state.heaps[1].arenas),
	}
	state.mu.Unlock()
	u.ProcessLocked = -1
	if n, err := mem.Locked(); err == nil {
		u.ProcessLocked = n
	}
	if l, err := mem.LockLimit(); err == nil {
		u.Limit = l
	}
	if c, err := procfs.CapEff(0); err == nil {
		u.Exempt = c&procfs.CapIPCLock != 0
	}
	return u
}

// Purge destroys every live buffer, as Destroy does, and the key of every
// Enclave, which can then no longer be opened. Buffers made by other
// goroutines while Purge runs may survive it. Buffers inside a With call
// are destroyed when it returns. It then gives the empty arenas back to the
// system. The error joins the *CanaryError of any buffer whose canary was
// corrupted; every buffer is destroyed all the same.
func Purge() error {
	var errs []error
	for round := 0; round < 8; round++ {
		state.mu.Lock()
		var list []*Buffer
		for b := state.head; b != nil; b = b.next {
			list = append(list, b)
		}
		state.mu.Unlock()
		progress := false
		for _, b := range list {
			b.mu.Lock()
			alive := b.data != nil && !b.doomed
			b.mu.Unlock()
			if !alive {
				continue
			}
			progress = true
			if err := b.Destroy(); err != nil {
				errs = append(errs, err)
			}
		}
		// Buffers made while we worked are caught by the next round; a
		// round that destroyed nothing ends it (doomed buffers wait for
		// their With). A caller that keeps making buffers while Purge runs
		// may keep some: the rounds are bounded.
		if !progress {
			break
		}
	}
	forgetKey()
	state.mu.Lock()
	for i := range state.heaps {
		h := &state.heaps[i]
		for _, a := range append([]*arena(nil), h.arenas...) {
			if a.live == 0 {
				h.drop(a)
			}
		}
	}
	state.mu.Unlock()
	return errors.Join(errs...)
}

// PurgeOnSignal installs a handler for SIGINT and SIGTERM that calls Purge
// when one arrives. Then, if then is nil, it restores the signal's default
// action and sends the signal to the process again, so that the process ends
// as it would have without the handler (killed by SIGINT or SIGTERM); note
// that this also drops any other signal.Notify for that signal. If then is
// not nil, then(sig) runs instead and the process goes on.
//
// Nothing is installed until this is called: importing the package changes
// nothing process-wide. stop removes the handler; it is idempotent.
func PurgeOnSignal(then func(os.Signal)) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			signal.Stop(ch)
			Purge()
			if then != nil {
				then(sig)
				return
			}
			signal.Reset(sig)
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				p.Signal(sig)
			}
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}
