package secret

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/mem"
)

func supported() error { return nil }

// fillRandom fills b from the kernel's random source (getrandom(2)), which
// writes straight into b: no copy of the bytes passes through other memory.
func fillRandom(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Getrandom(b, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("secret: getrandom: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// mapStandalone makes the memory of a standalone buffer of size bytes: steps
// S1 to S4 of the design (doc.go). Nothing is written into it yet.
func mapStandalone(op string, size int, o Options) (*standalone, error) {
	ps := mem.PageSize()
	if size > int(^uint(0)>>2) {
		return nil, fmt.Errorf("secret: %s: %d bytes is more than the address space holds", op, size)
	}
	pages := (size + canaryLen + ps - 1) / ps
	if o.Backing != Anonymous {
		s, err := mapSecretMem(op, pages)
		if err == nil {
			return s, nil
		}
		var le *LockError
		if o.Backing == MemfdSecret || (errors.As(err, &le) && !o.AllowUnlocked) {
			return nil, err
		}
		// PreferMemfdSecret: fall back to anonymous memory below.
	}
	// S1: reserve guard+inner+guard with no access at all.
	m, err := mem.Map((pages+2)*ps, mem.None, 0)
	if err != nil {
		return nil, fmt.Errorf("secret: %s: %w", op, err)
	}
	s := &standalone{m: m, inner: m.Bytes()[ps : (pages+1)*ps : (pages+1)*ps], backing: Anonymous}
	// S2: open the inner pages; the guards stay PROT_NONE.
	// S3: keep them out of core dumps and forked children.
	for _, step := range []func() error{
		func() error { return mem.Protect(s.inner, mem.Read|mem.Write) },
		func() error { return mem.Advise(s.inner, mem.DontDump) },
		func() error { return mem.Advise(s.inner, mem.WipeOnFork) },
	} {
		if err := step(); err != nil {
			m.Close()
			return nil, fmt.Errorf("secret: %s: %w", op, err)
		}
	}
	// S4: lock them, or run degraded if the caller allowed it.
	if err := mem.Lock(s.inner); err != nil {
		if !o.AllowUnlocked {
			m.Close()
			return nil, lockError(op, int64(len(s.inner)), err)
		}
	} else {
		s.locked = true
	}
	return s, nil
}

// mapSecretMem makes the memory of a standalone buffer from memfd_secret(2):
// an anonymous PROT_NONE reservation for the guards with the secret memory
// mapped over its middle.
func mapSecretMem(op string, pages int) (*standalone, error) {
	ps := mem.PageSize()
	length := pages * ps
	fd, err := memfdSecret(unix.O_CLOEXEC)
	if err != nil {
		return nil, memfdSecretError(op, err)
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, int64(length)); err != nil {
		return nil, fmt.Errorf("secret: %s: ftruncate memfd_secret to %s: %w", op, mem.FormatBytes(int64(length)), err)
	}
	m, err := mem.Map((pages+2)*ps, mem.None, 0)
	if err != nil {
		return nil, fmt.Errorf("secret: %s: %w", op, err)
	}
	all := m.Bytes()
	inner := all[ps : (pages+1)*ps : (pages+1)*ps]
	p := unsafe.Pointer(unsafe.SliceData(inner))
	if _, err := unix.MmapPtr(fd, 0, p, uintptr(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED); err != nil {
		// A failed MAP_FIXED may or may not have removed the reservation
		// under it (kernels before 6.12 remove it first). Unmap only the
		// guards, which are certainly ours, and leave the middle alone:
		// at worst some address space without memory leaks.
		unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(all)), uintptr(ps))
		unix.MunmapPtr(unsafe.Add(p, length), uintptr(ps))
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOMEM) {
			return nil, lockError(op, int64(length), &mem.Error{Op: "mmap memfd_secret", Addr: uintptr(p), Len: length, Err: err})
		}
		return nil, fmt.Errorf("secret: %s: mmap memfd_secret: %w", op, err)
	}
	s := &standalone{m: m, inner: inner, backing: MemfdSecret, locked: true}
	// The kernel locks the pages and marks them VM_DONTDUMP itself; the
	// mapping is shared, so a child must not get it at all.
	if err := mem.Advise(inner, mem.DontFork); err != nil {
		m.Close()
		return nil, fmt.Errorf("secret: %s: %w", op, err)
	}
	return s, nil
}

func memfdSecretError(op string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, unix.ENOSYS):
		hint = "the kernel lacks memfd_secret(2): it needs Linux 5.14+ built with CONFIG_SECRETMEM, and before 6.5 the boot parameter secretmem.enable=1; seccomp filters (containers) may also refuse it"
	case errors.Is(err, unix.EPERM):
		hint = "a seccomp filter or security module refuses memfd_secret(2)"
	case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE):
		hint = "out of file descriptors"
	}
	s := fmt.Errorf("secret: %s: memfd_secret: %w", op, err)
	if hint != "" {
		s = fmt.Errorf("secret: %s: memfd_secret: %w (%s); use secret.PreferMemfdSecret to fall back to anonymous memory", op, err, hint)
	}
	return s
}

// MemfdSecretAvailable reports whether memfd_secret(2) works here: nil, or
// the error that MemfdSecret buffers would get, saying why. It makes and
// closes one descriptor; it locks nothing, so a memlock limit too small for
// the pages themselves shows only when a buffer is made.
func MemfdSecretAvailable() error {
	fd, err := memfdSecret(unix.O_CLOEXEC)
	if err != nil {
		return memfdSecretError("MemfdSecretAvailable", err)
	}
	unix.Close(fd)
	return nil
}

func lockError(op string, size int64, err error) *LockError {
	lim, _ := mem.LockLimit()
	locked, _ := mem.Locked()
	return &LockError{Op: op, Size: size, Limit: lim, Locked: locked, Err: err}
}
