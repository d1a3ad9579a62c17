package mem

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/procfs"
)

// LockAll locks the whole address space (mlockall(2)): with Current every
// page mapped now, with Future every page mapped from now on, and with
// OnFault only as pages are touched.
//
// A Go process reserves far more address space than it uses: an idle one has
// about 1.2 GB of PROT_NONE heap reservations, and the kernel counts all of
// it against RLIMIT_MEMLOCK. Without CAP_IPC_LOCK, mlockall(MCL_CURRENT)
// therefore fails, and mlockall(MCL_FUTURE) succeeds but kills the process
// with a fatal runtime error at its next heap growth. So LockAll checks first:
// it calls the kernel only when the process has CAP_IPC_LOCK, or when the
// soft RLIMIT_MEMLOCK covers VmSize plus headroom for growth (the larger of
// 256 MiB and a quarter of VmSize). Otherwise it returns an *Error wrapping
// unix.ENOMEM that names the limit, the process size and the remedies, and
// changes nothing.
//
// Future without OnFault faults every later mapping in completely when it is
// made: each heap growth of the runtime and each Map costs its full size in
// RAM at once. Use Future|OnFault to lock lazily.
func LockAll(flags LockAllFlags) error {
	if flags&^(Current|Future|OnFault) != 0 || flags&(Current|Future) == 0 {
		return fmt.Errorf("mem: LockAll(%s): give mem.Current, mem.Future or both, optionally with mem.OnFault", flags)
	}
	if err := CanLockAll(flags); err != nil {
		return err
	}
	mcl := 0
	if flags&Current != 0 {
		mcl |= unix.MCL_CURRENT
	}
	if flags&Future != 0 {
		mcl |= unix.MCL_FUTURE
	}
	if flags&OnFault != 0 {
		mcl |= unix.MCL_ONFAULT
	}
	if err := unix.Mlockall(mcl); err != nil {
		return &Error{Op: "mlockall(" + flags.String() + ")", Err: err, Hint: lockHint(err, 0)}
	}
	return nil
}

// LockAllHeadroom is the growth room LockAll demands above the current
// VmSize for a process of vmSize bytes without CAP_IPC_LOCK.
func LockAllHeadroom(vmSize int64) int64 { return max(256<<20, vmSize/4) }

// CanLockAll reports, without locking anything, whether LockAll(flags) would
// be let through: nil when it would, else the error LockAll would return.
func CanLockAll(flags LockAllFlags) error {
	capEff, err := procfs.CapEff(0)
	if err != nil {
		return fmt.Errorf("mem: LockAll: cannot read capabilities: %w", err)
	}
	if capEff&procfs.CapIPCLock != 0 {
		return nil
	}
	lim, err := LockLimit()
	if err != nil {
		return err
	}
	if lim.Soft == Unlimited {
		return nil
	}
	v, err := procfs.StatusBytes(0, "VmSize", "VmLck")
	if err != nil {
		return fmt.Errorf("mem: LockAll: %w", err)
	}
	vmSize := v[0]
	need := vmSize + LockAllHeadroom(vmSize)
	if lim.Soft >= need {
		return nil
	}
	return &Error{
		Op:  "mlockall(" + flags.String() + ")",
		Err: unix.ENOMEM,
		Hint: fmt.Sprintf("refused before calling the kernel: RLIMIT_MEMLOCK is %s but the process maps %s (VmSize, mostly address space the Go runtime reserves) and needs %s with room to grow; "+
			"a Go process cannot lock all of itself under this limit, and MCL_FUTURE would kill it at its next heap growth. "+
			"Grant CAP_IPC_LOCK, raise the limit to at least %s (ulimit -l, prlimit --memlock, systemd LimitMEMLOCK=), or lock only the ranges you need with mem.Lock or mem.LockOnFault",
			limitString(lim.Soft), FormatBytes(vmSize), FormatBytes(need), FormatBytes(need)),
	}
}

// UnlockAll unlocks every page of the process and ends the Future mode
// (munlockall(2)).
func UnlockAll() error {
	if err := unix.Munlockall(); err != nil {
		return &Error{Op: "munlockall", Err: err}
	}
	return nil
}

func fromRlim(v uint64) int64 {
	if v == unix.RLIM_INFINITY || v > 1<<62 {
		return Unlimited
	}
	return int64(v)
}

func toRlim(v int64) uint64 {
	if v == Unlimited {
		return unix.RLIM_INFINITY
	}
	return uint64(v)
}

// LockLimit returns RLIMIT_MEMLOCK: how many bytes the process may lock
// without CAP_IPC_LOCK.
func LockLimit() (Limit, error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r); err != nil {
		return Limit{}, &Error{Op: "getrlimit(RLIMIT_MEMLOCK)", Err: err}
	}
	return Limit{Soft: fromRlim(r.Cur), Hard: fromRlim(r.Max)}, nil
}

// SetLockLimit sets RLIMIT_MEMLOCK. Lowering either value, and raising Soft
// up to Hard, is always allowed; raising Hard needs CAP_SYS_RESOURCE.
func SetLockLimit(l Limit) error {
	for _, v := range []int64{l.Soft, l.Hard} {
		if v < 0 && v != Unlimited {
			return fmt.Errorf("mem: SetLockLimit(%s): a limit is a byte count or mem.Unlimited", l)
		}
	}
	if l.Hard != Unlimited && (l.Soft == Unlimited || l.Soft > l.Hard) {
		return fmt.Errorf("mem: SetLockLimit(%s): the soft limit cannot exceed the hard limit", l)
	}
	r := unix.Rlimit{Cur: toRlim(l.Soft), Max: toRlim(l.Hard)}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &r); err != nil {
		e := &Error{Op: "setrlimit(RLIMIT_MEMLOCK, " + l.String() + ")", Err: err}
		if err == unix.EPERM {
			e.Hint = "raising the hard limit needs CAP_SYS_RESOURCE; an unprivileged process may only lower it"
		}
		return e
	}
	return nil
}

// Locked returns the bytes of the process's memory that are locked (VmLck
// in /proc/self/status), counting lock-on-fault ranges in full.
func Locked() (int64, error) {
	v, err := procfs.StatusBytes(0, "VmLck")
	if err != nil {
		return 0, fmt.Errorf("mem: Locked: %w", err)
	}
	return v[0], nil
}
