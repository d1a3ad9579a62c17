package shm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/mem"
)

// Open opens the POSIX shared memory segment name, as shm_open(3) does: the
// file Dir/NAME on tmpfs, where name is "/NAME" (leading slashes are
// optional and dropped, as glibc does, so "NAME" and "//NAME" name the same
// segment; no other slash is allowed).
//
// With Create a missing segment is made with permission perm (less the
// umask); with Create|Exclusive an existing one is an error matching
// unix.EEXIST. Without Create a missing segment is an error matching
// fs.ErrNotExist. Open tells which case happened by trying O_CREAT|O_EXCL
// first, so a segment Open made is removed again if a later step fails: a
// failed Open leaves nothing behind.
//
// size is the size the caller needs. A segment Open creates, or opens with
// Truncate, gets exactly size bytes. An existing one smaller than size is
// grown to size (every party of the classic shm_open + ftruncate protocol
// asks for the same size, and a party may arrive between the creator's
// open and its ftruncate); opened ReadOnly it cannot be, and Open fails.
// A larger existing segment keeps its size: Size reports it. size 0 takes the
// segment as it is.
func Open(name string, size int64, flags OpenFlags, perm os.FileMode) (*Segment, error) {
	n, err := posixName("shm_open", name)
	if err != nil {
		return nil, err
	}
	seg := "/" + n
	switch {
	case flags&^(Create|Exclusive|ReadOnly|Truncate) != 0:
		return nil, &Error{Op: "shm_open", Segment: seg, Err: unix.EINVAL, Hint: "unknown flags " + flags.String()}
	case flags&Exclusive != 0 && flags&Create == 0:
		return nil, &Error{Op: "shm_open", Segment: seg, Err: unix.EINVAL, Hint: "Exclusive needs Create"}
	case flags&ReadOnly != 0 && flags&Truncate != 0:
		return nil, &Error{Op: "shm_open", Segment: seg, Err: unix.EINVAL, Hint: "Truncate needs write access: drop ReadOnly"}
	case flags&ReadOnly != 0 && flags&Create != 0 && size > 0:
		return nil, &Error{Op: "shm_open", Segment: seg, Err: unix.EINVAL, Hint: "a segment opened ReadOnly cannot be given a size: create it read-write"}
	case perm&^os.ModePerm != 0:
		return nil, &Error{Op: "shm_open", Segment: seg, Err: unix.EINVAL, Hint: "perm " + perm.String() + " has bits other than the nine permission bits"}
	}
	if err := checkSize("shm_open", seg, size); err != nil {
		return nil, err
	}

	path := Dir + "/" + n
	// O_NONBLOCK: something that is not a segment (a FIFO someone made in
	// Dir) must not make Open hang; it is refused below.
	mode := os.O_RDWR
	if flags&ReadOnly != 0 {
		mode = os.O_RDONLY
	}
	mode |= unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	var f *os.File
	created := false
	for attempt := 0; ; attempt++ {
		if flags&Create != 0 {
			f, err = os.OpenFile(path, mode|os.O_CREATE|os.O_EXCL, perm)
			if err == nil {
				created = true
				break
			}
			if !errors.Is(err, unix.EEXIST) || flags&Exclusive != 0 {
				return nil, openError(seg, flags, err)
			}
		}
		m := mode
		if flags&Truncate != 0 {
			m |= os.O_TRUNC
		}
		f, err = os.OpenFile(path, m, 0)
		if err == nil {
			break
		}
		// Removed between the two opens: make it after all.
		if errors.Is(err, unix.ENOENT) && flags&Create != 0 && attempt < 8 {
			continue
		}
		return nil, openError(seg, flags, err)
	}
	s := &Segment{f: f, name: seg, posix: true, readOnly: flags&ReadOnly != 0}
	if err := s.size(size, created || flags&Truncate != 0); err != nil {
		if created {
			removeCreated(path, f)
		}
		f.Close()
		return nil, err
	}
	return s, nil
}

// size brings a freshly opened segment to the size Open promises.
func (s *Segment) size(size int64, exact bool) error {
	var st unix.Stat_t
	if err := fstat(s.f, &st); err != nil {
		return &Error{Op: "fstat", Segment: s.name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return &Error{Op: "shm_open", Segment: s.name, Err: unix.EINVAL, Hint: Dir + s.name + " is not a regular file, so not a shared memory segment"}
	}
	have := st.Size
	if have == size || (!exact && have > size) {
		return nil
	}
	if s.readOnly {
		return &Error{Op: "shm_open", Segment: s.name, Err: unix.EINVAL,
			Hint: fmt.Sprintf("the segment has %d bytes, fewer than the %d asked, and a read-only opener cannot grow it: open it with size 0, or wait until its creator has sized it", have, size)}
	}
	return s.truncate(size)
}

// removeCreated unlinks path if it still names the file f, which this
// process created: a failed Open must not leave its segment behind, nor
// remove one that another process made there since.
func removeCreated(path string, f *os.File) {
	var a, b unix.Stat_t
	if fstat(f, &a) != nil || unix.Lstat(path, &b) != nil {
		return
	}
	if a.Dev == b.Dev && a.Ino == b.Ino {
		unix.Unlink(path)
	}
}

func openError(seg string, flags OpenFlags, err error) error {
	err = unwrapPath(err)
	e := &Error{Op: "shm_open", Segment: seg, Err: err}
	switch {
	case errors.Is(err, unix.ENOENT) && flags&Create == 0:
		e.Hint = "no segment by that name: pass shm.Create to make it, or check the name with ls " + Dir
	case errors.Is(err, unix.ENOENT):
		e.Hint = Dir + " does not exist: mount a tmpfs there (mount -t tmpfs tmpfs " + Dir + ")"
	case errors.Is(err, unix.EEXIST):
		e.Hint = "a segment by that name exists: open it without shm.Exclusive, or remove it with shm.Unlink"
	case errors.Is(err, unix.EACCES):
		e.Hint = "its permissions (ls -l " + Dir + seg + ") forbid this access: open it shm.ReadOnly, or ask its owner"
	case errors.Is(err, unix.ELOOP):
		e.Hint = Dir + seg + " is a symbolic link, not a segment"
	case errors.Is(err, unix.EISDIR):
		e.Hint = Dir + seg + " is a directory, not a segment"
	case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE):
		e.Hint = "out of file descriptors: close some, or raise ulimit -n"
	}
	return e
}

// Unlink removes the POSIX segment name, as shm_unlink(3) does. Processes
// that have it open or mapped keep it until they close and unmap it; the
// name is free at once. A missing segment is an error matching
// fs.ErrNotExist.
func Unlink(name string) error {
	n, err := posixName("shm_unlink", name)
	if err != nil {
		return err
	}
	if err := unix.Unlink(Dir + "/" + n); err != nil {
		e := &Error{Op: "shm_unlink", Segment: "/" + n, Err: err}
		switch {
		case errors.Is(err, unix.ENOENT):
			e.Hint = "no segment by that name (ls " + Dir + ")"
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			e.Hint = "only its owner or root may remove it from the sticky " + Dir
		case errors.Is(err, unix.EISDIR):
			e.Hint = "a directory, not a segment"
		}
		return e
	}
	return nil
}

// Anonymous makes a segment with no name in any directory (memfd_create(2)),
// of size bytes, zero-filled. Other processes reach it only through its file:
// hand File to a child in exec.Cmd.ExtraFiles (the child gets it as fd 3+i
// and calls FromFile) or pass it over a Unix socket. name is a label that
// shows in /proc/PID/maps as "/memfd:NAME"; it must be non-empty, without
// slashes, at most 249 bytes.
//
// The segment allows sealing (see Seal), so that a receiver can trust its
// size and contents, and is sealed against becoming executable where the
// kernel supports it (MFD_NOEXEC_SEAL, Linux 6.3+). It vanishes when the last
// descriptor and the last mapping are gone. A failed call leaves nothing.
func Anonymous(size int64, name string) (*Segment, error) {
	if err := memfdName(name); err != nil {
		return nil, err
	}
	seg := "memfd:" + name
	if err := checkSize("memfd_create", seg, size); err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_NOEXEC_SEAL)
	if errors.Is(err, unix.EINVAL) {
		// Before Linux 6.3 MFD_NOEXEC_SEAL is unknown.
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		e := &Error{Op: "memfd_create", Segment: seg, Err: err}
		if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
			e.Hint = "out of file descriptors: close some, or raise ulimit -n"
		}
		return nil, e
	}
	s := &Segment{f: os.NewFile(uintptr(fd), seg), name: seg}
	if size > 0 {
		if err := s.truncate(size); err != nil {
			s.f.Close()
			return nil, err
		}
	}
	return s, nil
}

// FromFile makes a Segment of a file that refers to shared memory: a memfd
// received from a parent (os.NewFile(3, "seg") in a child started with
// ExtraFiles) or over a socket, or a file opened under Dir. It checks that f
// lives on tmpfs or hugetlbfs and is a regular file. The Segment takes
// ownership of f: Close closes it.
//
// A receiver should not trust a memfd's size before checking its seals:
// without SealShrink the sender may shrink it, and touching the lost pages
// raises SIGBUS. See CheckSeals.
func FromFile(f *os.File) (*Segment, error) {
	if f == nil {
		return nil, &Error{Op: "fstat", Err: unix.EBADF, Hint: "nil *os.File"}
	}
	name := f.Name()
	control(f, func(fd int) {
		if link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil {
			name = link
		}
	})
	var fs unix.Statfs_t
	var ferr error
	if err := control(f, func(fd int) { ferr = unix.Fstatfs(fd, &fs) }); err != nil {
		return nil, &Error{Op: "fstatfs", Segment: name, Err: err}
	}
	if ferr != nil {
		return nil, &Error{Op: "fstatfs", Segment: name, Err: ferr}
	}
	// Statfs_t.Type is 32 bits on some systems, where HUGETLBFS_MAGIC does
	// not fit an int32: compare the low 32 bits, which are the magic.
	if t := uint32(fs.Type); t != uint32(unix.TMPFS_MAGIC) && t != uint32(unix.HUGETLBFS_MAGIC) {
		return nil, &Error{Op: "fstatfs", Segment: name, Err: unix.EINVAL, Hint: "not on tmpfs or hugetlbfs, so not shared memory: map ordinary files with mem.MapFile"}
	}
	var st unix.Stat_t
	if err := fstat(f, &st); err != nil {
		return nil, &Error{Op: "fstat", Segment: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &Error{Op: "fstat", Segment: name, Err: unix.EINVAL, Hint: "not a regular file"}
	}
	s := &Segment{f: f}
	// /proc shows an unlinked file as "PATH (deleted)"; with no link left
	// the suffix is not part of the name (which may be another segment's).
	if st.Nlink == 0 {
		name = strings.TrimSuffix(name, " (deleted)")
	}
	switch {
	case strings.HasPrefix(name, "/memfd:"):
		s.name = strings.TrimSuffix(name[1:], " (deleted)")
	case strings.HasPrefix(name, Dir+"/") && !strings.Contains(name[len(Dir)+1:], "/"):
		s.name, s.posix = name[len(Dir):], true
	default:
		s.name = name
	}
	var acc int
	var aerr error
	control(f, func(fd int) { acc, aerr = unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0) })
	s.readOnly = aerr == nil && acc&unix.O_ACCMODE == unix.O_RDONLY
	return s, nil
}

// Name is "/NAME" for a POSIX segment and "memfd:NAME" for an anonymous one.
func (s *Segment) Name() string { return s.name }

// File is the segment's file, for exec.Cmd.ExtraFiles or a Unix socket. It
// stays owned by the Segment: do not close it; it is nil after Close.
func (s *Segment) File() *os.File {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

// Size is the segment's current size in bytes, which another process may
// change unless the segment is sealed (SealShrink, SealGrow).
func (s *Segment) Size() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return 0, ErrClosed
	}
	var st unix.Stat_t
	if err := fstat(s.f, &st); err != nil {
		return 0, &Error{Op: "fstat", Segment: s.name, Err: err}
	}
	return st.Size, nil
}

// Map maps the whole segment shared (MAP_SHARED) with protection prot, so
// that writes are seen by every process that maps it, and returns it as a
// *mem.Mapping: Protect, Lock, LockOnFault, Advise, Resident, ReadAt and
// WriteAt all work on it. Map may be called many times; each call makes a
// new mapping of the same pages. Close on the Segment unmaps those still
// open. A write-sealed segment maps only mem.Read; a segment opened ReadOnly
// likewise.
func (s *Segment) Map(prot mem.Prot) (*mem.Mapping, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil, ErrClosed
	}
	var st unix.Stat_t
	if err := fstat(s.f, &st); err != nil {
		return nil, &Error{Op: "fstat", Segment: s.name, Err: err}
	}
	if st.Size == 0 {
		return nil, &Error{Op: "mmap", Segment: s.name, Err: unix.EINVAL, Hint: "the segment is empty: give it a size with Truncate first"}
	}
	if st.Size > maxSize {
		return nil, &Error{Op: "mmap", Segment: s.name, Err: unix.EOVERFLOW, Hint: "the segment is larger than the address space can map as one []byte"}
	}
	m, err := mem.MapFile(s.f, 0, int(st.Size), prot, mem.Shared)
	if err != nil {
		e := &Error{Op: "mmap", Segment: s.name, Err: err}
		seals, _ := s.seals()
		switch {
		case errors.Is(err, unix.EPERM) && seals&(SealWrite|SealFutureWrite) != 0 && prot&mem.Write != 0:
			e.Hint = "the segment is sealed against writing (" + (seals & (SealWrite | SealFutureWrite)).String() + "): map it mem.Read"
		case errors.Is(err, unix.EACCES) && s.readOnly && prot&mem.Write != 0:
			e.Hint = "the segment was opened read-only: map it mem.Read, or open it read-write"
		}
		return nil, e
	}
	live := s.maps[:0]
	for _, o := range s.maps {
		if o.Len() != 0 {
			live = append(live, o)
		}
	}
	s.maps = append(live, m)
	return m, nil
}

// ReadAt reads from the segment's file at offset off (pread(2)), without a
// mapping, as io.ReaderAt. After Close, or when Close runs while it reads,
// it returns ErrClosed.
func (s *Segment) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	f := s.f
	s.mu.Unlock()
	if f == nil {
		return 0, ErrClosed
	}
	n, err := f.ReadAt(p, off)
	if errors.Is(err, os.ErrClosed) { // Close ran after we took f
		return n, ErrClosed
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, &Error{Op: "pread", Segment: s.name, Err: unwrapPath(err)}
	}
	return n, err
}

// WriteAt writes to the segment's file at offset off (pwrite(2)), without a
// mapping, as io.WriterAt: the way to fill a segment before SealWrite, which
// refuses while writable mappings exist. Writing past the end grows the
// segment, unless it is sealed against growing. After Close, or when Close
// runs while it writes, it returns ErrClosed.
func (s *Segment) WriteAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	f := s.f
	s.mu.Unlock()
	if f == nil {
		return 0, ErrClosed
	}
	n, err := f.WriteAt(p, off)
	if errors.Is(err, os.ErrClosed) { // Close ran after we took f
		return n, ErrClosed
	}
	if err != nil {
		e := &Error{Op: "pwrite", Segment: s.name, Err: unwrapPath(err)}
		switch seals, _ := sealsOf(f); {
		case errors.Is(err, unix.EPERM) && seals&(SealWrite|SealFutureWrite) != 0:
			e.Hint = "the segment is sealed against writing (" + (seals & (SealWrite | SealFutureWrite)).String() + ")"
		case errors.Is(err, unix.EPERM) && seals&SealGrow != 0:
			e.Hint = "the write would grow the segment, which is sealed against growing"
		case errors.Is(err, unix.EBADF) && s.readOnly:
			e.Hint = "the segment was opened read-only"
		}
		return n, e
	}
	return n, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Truncate sets the segment's size (ftruncate(2)). Pages cut off are freed
// in every process; a process that touches them in its mapping gets SIGBUS
// (mem's ReadAt and WriteAt return a *mem.Fault instead). Growing adds zero
// bytes, but existing mappings keep their length: Map again to see them.
func (s *Segment) Truncate(size int64) error {
	if err := checkSize("ftruncate", s.name, size); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return ErrClosed
	}
	return s.truncate(size)
}

func (s *Segment) truncate(size int64) error {
	var terr error
	if err := control(s.f, func(fd int) { terr = unix.Ftruncate(fd, size) }); err != nil {
		terr = err
	}
	if terr == nil {
		return nil
	}
	e := &Error{Op: "ftruncate " + strconv.FormatInt(size, 10), Segment: s.name, Err: terr}
	switch {
	case errors.Is(terr, unix.EPERM):
		seals, _ := s.seals()
		var st unix.Stat_t
		fstat(s.f, &st)
		switch {
		case size < st.Size && seals&SealShrink != 0:
			e.Hint = fmt.Sprintf("the segment is sealed against shrinking (seals %s): it keeps its %d bytes", seals, st.Size)
		case size > st.Size && seals&SealGrow != 0:
			e.Hint = fmt.Sprintf("the segment is sealed against growing (seals %s): it keeps its %d bytes", seals, st.Size)
		default:
			e.Hint = "the segment is sealed (" + seals.String() + ")"
		}
	case errors.Is(terr, unix.EFBIG):
		e.Hint = "over the file size limit (ulimit -f) or the filesystem's largest file"
	case errors.Is(terr, unix.EINVAL), errors.Is(terr, unix.EBADF):
		if s.readOnly {
			e.Hint = "the segment was opened read-only and cannot be resized"
		}
	case errors.Is(terr, unix.ENOSPC), errors.Is(terr, unix.ENOMEM):
		e.Hint = "the tmpfs is full: see df " + Dir + " and its size= mount option"
	}
	return e
}

// Seal adds seals to an anonymous segment (fcntl F_ADD_SEALS). Seals are
// forever and bind every process that holds the file, the sealer included.
// The usual hand-over is: write the contents, Close the writable mappings,
// Seal(SealShrink|SealGrow|SealWrite|SealSeal), then pass File to the
// receiver, which checks with CheckSeals and maps mem.Read. SealWrite fails
// with EBUSY while any process maps the segment shared and writable;
// SealFutureWrite has no such condition. POSIX segments from Open cannot be
// sealed (EPERM).
func (s *Segment) Seal(seals SealFlags) error {
	if seals&^allSeals != 0 {
		return &Error{Op: "fcntl(F_ADD_SEALS)", Segment: s.name, Err: unix.EINVAL, Hint: "unknown seals " + seals.String()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return ErrClosed
	}
	var serr error
	if err := control(s.f, func(fd int) { _, serr = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, int(seals)) }); err != nil {
		serr = err
	}
	if serr == nil {
		return nil
	}
	e := &Error{Op: "fcntl(F_ADD_SEALS " + seals.String() + ")", Segment: s.name, Err: serr}
	have, _ := s.seals()
	switch {
	case errors.Is(serr, unix.EPERM) && s.posix:
		e.Hint = "POSIX segments cannot be sealed: make the segment with shm.Anonymous"
	case errors.Is(serr, unix.EPERM) && have&SealSeal != 0:
		e.Hint = "the segment is sealed against more seals (seal); it has " + have.String()
	case errors.Is(serr, unix.EPERM):
		e.Hint = "the file was opened read-only, or it is a memfd made without sealing allowed"
	case errors.Is(serr, unix.EBUSY):
		e.Hint = "SealWrite needs every shared writable mapping of the segment, in every process, to be closed first; or use SealFutureWrite, which lets existing mappings keep writing"
	case errors.Is(serr, unix.EINVAL):
		e.Hint = "this kernel does not know one of these seals, or the file is not a memfd"
	}
	return e
}

// Seals returns the seals of the segment (fcntl F_GET_SEALS). A POSIX
// segment reports SealSeal: it can take none.
func (s *Segment) Seals() (SealFlags, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return 0, ErrClosed
	}
	return s.seals()
}

func (s *Segment) seals() (SealFlags, error) {
	v, err := sealsOf(s.f)
	if err != nil {
		return 0, &Error{Op: "fcntl(F_GET_SEALS)", Segment: s.name, Err: err}
	}
	return v, nil
}

func sealsOf(f *os.File) (SealFlags, error) {
	var v int
	var gerr error
	if err := control(f, func(fd int) { v, gerr = unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0) }); err != nil {
		gerr = err
	}
	if gerr != nil {
		return 0, gerr
	}
	return SealFlags(v), nil
}

// CheckSeals returns an error matching ErrNotSealed unless the segment has
// every seal in need. A receiver calls it before trusting Size: with
// SealShrink|SealGrow the size it reads stays true, and with SealWrite the
// contents it reads stay put.
func (s *Segment) CheckSeals(need SealFlags) error {
	have, err := s.Seals()
	if err != nil {
		return err
	}
	if missing := need &^ have; missing != 0 {
		return &Error{Op: "check seals", Segment: s.name, Err: ErrNotSealed,
			Hint: "missing " + missing.String() + " (it has " + have.String() + "): the sender must Seal before handing the segment over"}
	}
	return nil
}

// Unlink removes the name of a POSIX segment; see the function Unlink. The
// Segment and its mappings stay usable. It removes the name only while it
// still names this segment: once the name was removed (by this or another
// process), Unlink fails with an error matching fs.ErrNotExist, and leaves
// alone a new segment made under the same name since.
func (s *Segment) Unlink() error {
	if !s.posix {
		return &Error{Op: "shm_unlink", Segment: s.name, Err: unix.EINVAL, Hint: "an anonymous segment has no name to remove: it vanishes with its last descriptor and mapping"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		var own, named unix.Stat_t
		if fstat(s.f, &own) == nil {
			lerr := unix.Lstat(Dir+s.name, &named)
			switch {
			case own.Nlink == 0:
				return &Error{Op: "shm_unlink", Segment: s.name, Err: unix.ENOENT, Hint: "this segment's name was removed already; the segment lives on until its last close and unmap"}
			case lerr == nil && (own.Dev != named.Dev || own.Ino != named.Ino):
				return &Error{Op: "shm_unlink", Segment: s.name, Err: unix.ENOENT, Hint: "the name now belongs to another segment, made after this one's name was removed; it was left alone (the function shm.Unlink removes a name whatever it names)"}
			}
		}
	}
	return Unlink(s.name)
}

// Close unmaps the mappings made by Map that are still open, then closes the
// file. It does not remove a POSIX segment's name (see Unlink). Later calls
// return nil; other methods return ErrClosed.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	var first error
	for _, m := range s.maps {
		if err := m.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.maps = nil
	if err := s.f.Close(); err != nil && first == nil {
		first = err
	}
	s.f = nil
	return first
}

func fstat(f *os.File, st *unix.Stat_t) error {
	var serr error
	if err := control(f, func(fd int) { serr = unix.Fstat(fd, st) }); err != nil {
		return err
	}
	return serr
}

// control runs fn with f's descriptor without making it blocking, as Fd
// would.
func control(f *os.File, fn func(fd int)) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) })
}
