package shm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/sys"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/proc"
)

// SysV finds or makes the System V segment of key (shmget(2)).
//
// With SysVCreate a key without a segment gets a new one of size bytes
// (at least 1, at most kernel.shmmax), zero-filled, with the permission in
// the low nine bits of flags (0o600 when they are 0). With
// SysVCreate|SysVExclusive an existing segment is an error matching
// unix.EEXIST; without SysVCreate a missing one matches fs.ErrNotExist. The
// key Private always makes a new segment. size 0 opens an existing segment
// whatever its size; a larger size than it has is an error. SysV tells
// whether it created the segment by trying IPC_CREAT|IPC_EXCL first, so a
// failed call never leaves a segment behind.
//
// A System V segment outlives every process: Remove it when done.
func SysV(key int, size int, flags SysVFlags) (*SysVSegment, error) {
	seg := keyString(key)
	create := flags&SysVCreate != 0 || key == Private
	switch {
	case key < math.MinInt32 || key > math.MaxInt32:
		return nil, &Error{Op: "shmget", Segment: "key " + strconv.Itoa(key), Err: unix.EINVAL, Hint: "a key is a 32-bit key_t"}
	case flags&^(SysVCreate|SysVExclusive|SysVHugePages|SysVNoReserve|sysvPerm) != 0:
		return nil, &Error{Op: "shmget", Segment: seg, Err: unix.EINVAL, Hint: "unknown flags " + flags.String()}
	case flags&SysVExclusive != 0 && flags&SysVCreate == 0:
		return nil, &Error{Op: "shmget", Segment: seg, Err: unix.EINVAL, Hint: "SysVExclusive needs SysVCreate"}
	}
	if err := checkSize("shmget", seg, int64(size)); err != nil {
		return nil, err
	}
	if create && size == 0 && (key == Private || flags&SysVExclusive != 0) {
		return nil, &Error{Op: "shmget", Segment: seg, Err: unix.EINVAL, Hint: "a new segment needs a size of at least 1 byte"}
	}
	if max := shmmax(); create && uint64(size) > max {
		return nil, &Error{Op: "shmget", Segment: seg, Err: unix.EINVAL, Hint: fmt.Sprintf("size %d is above kernel.shmmax (%d); raise it with sysctl kernel.shmmax", size, max)}
	}
	perm := flags & sysvPerm
	if perm == 0 && create {
		perm = 0o600
	}
	kflags := int(flags&(SysVHugePages|SysVNoReserve) | perm)

	var id int
	var err error
	created := false
	for attempt := 0; ; attempt++ {
		if create && size > 0 {
			id, err = unix.SysvShmGet(key, size, kflags|unix.IPC_CREAT|unix.IPC_EXCL)
			if err == nil {
				created = true
				break
			}
			if !errors.Is(err, unix.EEXIST) || flags&SysVExclusive != 0 {
				return nil, getError(key, size, flags, err)
			}
		}
		// Permission bits in a plain get would demand that access: ask none.
		id, err = unix.SysvShmGet(key, size, kflags&^sysvPerm)
		if err == nil {
			break
		}
		// Removed between the two calls: make it after all.
		if errors.Is(err, unix.ENOENT) && create && size > 0 && attempt < 8 {
			continue
		}
		e := getError(key, size, flags, err)
		if errors.Is(err, unix.ENOENT) && create {
			e.Hint = "no segment has this key, and size 0 only opens one: give a size to create it"
		}
		return nil, e
	}
	s := &SysVSegment{made: true, id: id, key: key}
	if _, err := s.stat(); err != nil {
		if created {
			unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		}
		return nil, err
	}
	return s, nil
}

// SysVByID returns the segment with the given ID, as reported by ID, Stat or
// ipcs -m. It is how a child reaches a Private segment, and how a process
// gets a second handle for a second attachment.
func SysVByID(id int) (*SysVSegment, error) {
	if id < 0 || id > math.MaxInt32 {
		return nil, &Error{Op: "shmctl(IPC_STAT)", Segment: idString(id), Err: unix.EINVAL, Hint: "a segment ID is a non-negative 32-bit number"}
	}
	s := &SysVSegment{made: true, id: id}
	st, err := s.stat()
	if err != nil {
		return nil, err
	}
	s.key = st.Key
	return s, nil
}

func shmmax() uint64 {
	b, err := os.ReadFile("/proc/sys/kernel/shmmax")
	if err != nil {
		return math.MaxUint64
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return math.MaxUint64
	}
	return v
}

func getError(key, size int, flags SysVFlags, err error) *Error {
	e := &Error{Op: "shmget", Segment: keyString(key), Err: err}
	switch {
	case errors.Is(err, unix.ENOENT):
		e.Hint = "no segment has this key: pass shm.SysVCreate to make one (ipcs -m lists them)"
	case errors.Is(err, unix.EEXIST):
		e.Hint = "the key has a segment already: drop shm.SysVExclusive to open it, or remove it (ipcrm -M 0x" + strconv.FormatUint(uint64(uint32(int32(key))), 16) + ")"
	case errors.Is(err, unix.EACCES):
		e.Hint = "the segment's permissions forbid this user: see ipcs -m -c, or ask its owner"
	case errors.Is(err, unix.EINVAL) && size > 0:
		if id, gerr := unix.SysvShmGet(key, 0, 0); gerr == nil {
			var d unix.SysvShmDesc
			if _, serr := unix.SysvShmCtl(id, unix.IPC_STAT, &d); serr == nil {
				e.Hint = fmt.Sprintf("the key's segment (id %d) has %d bytes, fewer than the %d asked: ask for 0 to take it as it is", id, d.Segsz, size)
				break
			}
		}
		e.Hint = "the size is outside kernel.shmmin..kernel.shmmax, or the key's segment is smaller than asked"
	case errors.Is(err, unix.ENOSPC):
		e.Hint = "no room for another segment: the system's limits kernel.shmmni (segments) or kernel.shmall (pages) are reached; remove unused segments (ipcs -m, ipcrm)"
	case errors.Is(err, unix.ENOMEM):
		e.Hint = "the kernel has no memory for the segment's bookkeeping"
	case errors.Is(err, unix.EPERM) && flags&SysVHugePages != 0:
		e.Hint = "huge page segments need CAP_IPC_LOCK or membership of vm.hugetlb_shm_group"
	}
	return e
}

// ID is the segment's identifier, valid in every process.
func (s *SysVSegment) ID() int { return s.id }

// Key is the key the segment was found or made by; Private for none.
func (s *SysVSegment) Key() int { return s.key }

// Attach maps the segment into this process (shmat(2)) and returns the
// attachment as a *mem.Mapping of the segment's size: protection, locking,
// residency and advice work on it as on any mapping, and its Close detaches
// it just as Detach does. prot is mem.Read (SHM_RDONLY) or mem.Read|mem.Write,
// optionally with mem.Exec (SHM_EXEC).
//
// To give the attachment the form of a *mem.Mapping, Attach first reserves
// the address range with mem.Map and then attaches the segment over it with
// SHM_REMAP; the kernel swaps one mapping for the other in one step, so no
// other mapping can slip in between. A segment of huge pages (SysVHugePages,
// or made so by another process) needs an address aligned to the huge page
// size: the first attempt is made at an address that is not (when the
// segment's size is not a multiple of it), the kernel refuses it with
// EINVAL, and Attach reserves a range of the system's huge pages (mem.Map
// with mem.HugePages|mem.NoReserve, which takes none from the pool) and
// tries again. A segment of huge pages whose size is a multiple of the
// huge page may be attached at the first attempt, when the range happens to
// fall on a boundary: Attach then reads the attachment's page size in
// /proc/self/smaps and, for huge pages, attaches it again so. The Mapping
// of a segment of huge pages is thus one of huge pages, as mem.Map makes
// them: it covers the segment's size rounded up to whole huge pages, as the
// kernel maps it, and Remap changes it in whole huge pages and only
// shrinks it (the kernel never grows hugetlb memory: EINVAL, with a hint
// that says so).
func (s *SysVSegment) Attach(prot mem.Prot) (*mem.Mapping, error) {
	seg := idString(s.id)
	if prot&^(mem.Read|mem.Write|mem.Exec) != 0 || prot&mem.Read == 0 {
		return nil, &Error{Op: "shmat", Segment: seg, Err: unix.EINVAL, Hint: "attach with mem.Read or mem.Read|mem.Write, optionally |mem.Exec; shmat cannot give " + prot.String()}
	}
	if !s.made {
		return nil, ErrNoSegment
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m != nil && s.m.Len() != 0 {
		return nil, ErrAttached
	}
	st, err := s.stat()
	if err != nil {
		return nil, err
	}
	if st.Size <= 0 || st.Size > maxSize {
		return nil, &Error{Op: "shmat", Segment: seg, Err: unix.EOVERFLOW, Hint: "the segment's size " + strconv.FormatInt(st.Size, 10) + " cannot be mapped as one []byte"}
	}
	fl := sys.ShmRemap
	if prot&mem.Write == 0 {
		fl |= unix.SHM_RDONLY
	}
	if prot&mem.Exec != 0 {
		fl |= sys.ShmExec
	}
	m, base, at, err := s.attachOver(int(st.Size), 0, prot, fl)
	if m != nil && (errors.Is(err, unix.EINVAL) || err == nil && attachedHuge(int(st.Size), base)) {
		if hp := hugePageSize(); hp > 0 {
			m.Close()
			size := (int(st.Size) + hp - 1) &^ (hp - 1)
			m, base, at, err = s.attachOver(size, hp, prot, fl)
		}
	}
	if m == nil {
		return nil, &Error{Op: "shmat (reserve)", Segment: seg, Err: err}
	}
	if err != nil {
		m.Close()
		e := &Error{Op: "shmat", Segment: seg, Err: err}
		switch {
		case errors.Is(err, unix.EACCES):
			e.Hint = "the segment's permissions (" + st.Perm.String() + ", owner uid " + strconv.Itoa(st.UID) + ") forbid " + prot.String() + " for this user"
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EIDRM):
			e.Hint = "the segment was removed (or its huge pages could not be placed)"
		case errors.Is(err, unix.ENOMEM):
			e.Hint = "out of address space or over vm.max_map_count"
		}
		return nil, e
	}
	if at != uintptr(base) {
		// SHM_REMAP with an address never lands elsewhere; if it did, the
		// Mapping would describe the wrong pages.
		sys.Shmdt(at)
		m.Close()
		return nil, &Error{Op: "shmat", Segment: seg, Err: unix.EFAULT, Hint: fmt.Sprintf("the kernel attached at %#x, not at the reserved %#x", at, uintptr(base))}
	}
	s.m = m
	return m, nil
}

// attachOver reserves size bytes, of huge pages when align is not 0 (the
// huge page size), and attaches the segment over the reservation with
// SHM_REMAP. It returns the reservation (nil when reserving failed), its
// address and where the kernel attached; on a shmat error the caller closes
// the reservation.
//
// The reservation's Mapping is what Attach returns, so it must describe
// the pages the segment brings: a Mapping of huge pages rounds Remap to
// them, one of ordinary pages gave the kernel lengths it refuses or rounds
// up behind the Mapping's back (so that Close then failed with EINVAL).
// With mem.NoReserve the reservation takes no huge page from the pool: it
// is replaced before anything touches it.
func (s *SysVSegment) attachOver(size, align int, prot mem.Prot, fl int) (*mem.Mapping, unsafe.Pointer, uintptr, error) {
	var m *mem.Mapping
	var err error
	if align == 0 {
		m, err = reserveOffHuge(size, prot)
	} else if m, err = mem.Map(size, prot, mem.Shared|mem.HugePages|mem.NoReserve); err != nil {
		// A kernel that refuses even that still places the segment
		// on an aligned range, as before, at the price of a Mapping
		// of ordinary pages.
		m, err = mem.MapAligned(size, align, prot, mem.Shared)
	}
	if err != nil {
		return nil, nil, 0, err
	}
	base := unsafe.Pointer(unsafe.SliceData(m.Bytes()))
	at, err := sys.Shmat(s.id, base, fl)
	return m, base, at, err
}

// reserveOffHuge reserves size bytes for a first attempt to attach a
// segment whose kind is not known, at an address that is not a multiple of
// the huge page size when the segment's size is not a multiple of it. A
// segment of huge pages attached at such an address would succeed and be
// mapped in whole huge pages, beyond the reservation and over whatever
// follows it (SHM_REMAP replaces mappings); elsewhere the kernel refuses
// it with EINVAL, and Attach retries with a range of whole huge pages.
func reserveOffHuge(size int, prot mem.Prot) (*mem.Mapping, error) {
	hp := hugePageSize()
	ps := os.Getpagesize()
	if hp <= ps || (size+hp-1)&^(hp-1) == (size+ps-1)&^(ps-1) {
		return mem.Map(size, prot, mem.Shared)
	}
	var held []*mem.Mapping
	defer func() {
		for _, h := range held {
			h.Close()
		}
	}()
	// Another range reserved while the aligned one is held lands
	// elsewhere (below it, as Linux places mappings top-down).
	for range 8 {
		m, err := mem.Map(size, prot, mem.Shared)
		if err != nil {
			return nil, err
		}
		if uintptr(unsafe.Pointer(unsafe.SliceData(m.Bytes())))%uintptr(hp) != 0 {
			return m, nil
		}
		held = append(held, m)
	}
	return nil, &Error{Op: "shmat (reserve)", Err: unix.ENOMEM, Hint: "every range reserved fell on a huge page boundary"}
}

// attachedHuge reports whether a segment of size bytes, attached at base by
// the first attempt, is one of huge pages: possible only when base is on a
// huge page boundary and size a multiple of the huge page (otherwise
// reserveOffHuge made sure the kernel refused it). The kernel's page size
// for the attachment is in /proc/self/smaps; when it cannot be read the
// attachment is taken for ordinary pages, as before.
func attachedHuge(size int, base unsafe.Pointer) bool {
	hp := hugePageSize()
	if hp <= os.Getpagesize() || size%hp != 0 || uintptr(base)%uintptr(hp) != 0 {
		return false
	}
	regions, err := proc.Maps(0)
	if err != nil {
		return false
	}
	r, ok := proc.Find(regions, uintptr(base))
	return ok && r.KernelPageSize > int64(os.Getpagesize())
}

// hugePageSize is the system's default huge page size from /proc/meminfo,
// or 0 when it has none. It is read once.
var hugePageSize = sync.OnceValue(readHugePageSize)

func readHugePageSize() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Hugepagesize:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				if n, err := strconv.Atoi(f[0]); err == nil && n > 0 && n&(n-1) == 0 {
					return n << 10
				}
			}
		}
	}
	return 0
}

// Mapping is the current attachment, or nil when detached.
func (s *SysVSegment) Mapping() *mem.Mapping {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || s.m.Len() == 0 {
		return nil
	}
	return s.m
}

// Bytes is the attached memory, or nil when detached. It points straight at
// the shared pages and is invalid after Detach: read mem.Mapping's doc.
func (s *SysVSegment) Bytes() []byte {
	if m := s.Mapping(); m != nil {
		return m.Bytes()
	}
	return nil
}

// Detach unmaps the current attachment (shmdt(2)); Close on the Mapping that
// Attach returned does the same. The segment itself stays until Remove and
// its last detach. Without an attachment it returns ErrNotAttached.
func (s *SysVSegment) Detach() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || s.m.Len() == 0 {
		s.m = nil
		return ErrNotAttached
	}
	// munmap of the whole attachment is shmdt: the kernel drops the attach
	// count when the segment's mapping goes, whichever call removes it.
	if err := s.m.Close(); err != nil {
		return &Error{Op: "shmdt", Segment: idString(s.id), Err: err}
	}
	s.m = nil
	return nil
}

// Remove marks the segment for destruction (shmctl IPC_RMID): its key is
// free at once and its memory is freed at the last detach. Processes
// attached keep working; Linux still lets SysVByID find and attach it until
// then. Only the owner, the creator or a process with CAP_SYS_ADMIN may
// remove it.
func (s *SysVSegment) Remove() error {
	if !s.made {
		return ErrNoSegment
	}
	if _, err := unix.SysvShmCtl(s.id, unix.IPC_RMID, nil); err != nil {
		e := &Error{Op: "shmctl(IPC_RMID)", Segment: idString(s.id), Err: err}
		switch {
		case errors.Is(err, unix.EPERM):
			e.Hint = "only the segment's owner or creator, or a process with CAP_SYS_ADMIN, may remove it"
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EIDRM):
			e.Hint = "no such segment: it was removed and destroyed already"
		}
		return e
	}
	return nil
}

// Lock keeps the segment's pages in RAM (shmctl SHM_LOCK). Unlike mlock it
// faults nothing in: a page is locked when some process first touches it.
// The lock belongs to the segment, not to a process: it holds while no one
// is attached, and a process's VmLck does not count it.
//
// Without CAP_IPC_LOCK only the segment's owner or creator may lock it, and
// the whole segment is charged to the real user ID that locks it against
// its RLIMIT_MEMLOCK, summed over every segment that user has locked, in any
// process: the error then names the limit and what the user has locked.
func (s *SysVSegment) Lock() error { return s.lockCtl(sys.ShmLock, "SHM_LOCK") }

// Unlock undoes Lock (shmctl SHM_UNLOCK) and returns the charge to the user
// who locked. The pages stay in RAM until the kernel needs them.
func (s *SysVSegment) Unlock() error { return s.lockCtl(sys.ShmUnlock, "SHM_UNLOCK") }

func (s *SysVSegment) lockCtl(cmd int, name string) error {
	if !s.made {
		return ErrNoSegment
	}
	_, err := unix.SysvShmCtl(s.id, cmd, nil)
	if err == nil {
		return nil
	}
	e := &Error{Op: "shmctl(" + name + ")", Segment: idString(s.id), Err: err}
	var lim unix.Rlimit
	limErr := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
	switch {
	case errors.Is(err, unix.EPERM) && cmd == sys.ShmLock && limErr == nil && lim.Cur == 0:
		e.Hint = "RLIMIT_MEMLOCK is 0 and the process lacks CAP_IPC_LOCK: raise the limit with `ulimit -l`, prlimit --memlock or systemd's LimitMEMLOCK=, or grant CAP_IPC_LOCK"
	case errors.Is(err, unix.EPERM):
		e.Hint = "without CAP_IPC_LOCK only the segment's owner or creator may lock or unlock it"
	case errors.Is(err, unix.ENOMEM):
		need := int64(0)
		if st, serr := s.stat(); serr == nil {
			need = roundPage(st.Size)
		}
		uid := os.Getuid()
		already := lockedBy(uid)
		e.Hint = fmt.Sprintf("RLIMIT_MEMLOCK is %s, and SHM_LOCK charges each locked segment to the real user who locked it, across all that user's processes; uid %d owns %s of locked System V segments (/proc/sysvipc/shm), and this one needs %s more: SHM_UNLOCK or remove other segments, raise the limit (ulimit -l, prlimit --memlock, LimitMEMLOCK=), or grant CAP_IPC_LOCK",
			rlimString(lim.Cur, limErr), uid, mem.FormatBytes(already), mem.FormatBytes(need))
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EIDRM):
		e.Hint = "no such segment: it was removed and destroyed"
	}
	return e
}

func rlimString(v uint64, err error) string {
	switch {
	case err != nil:
		return "unknown"
	case v == unix.RLIM_INFINITY:
		return "unlimited"
	}
	return mem.FormatBytes(int64(v))
}

func roundPage(n int64) int64 {
	ps := int64(os.Getpagesize())
	return (n + ps - 1) / ps * ps
}

// lockedBy sums the page-rounded sizes of the locked segments uid owns.
func lockedBy(uid int) int64 {
	all, err := SysVSegments()
	if err != nil {
		return 0
	}
	var n int64
	for _, st := range all {
		if st.Locked && st.UID == uid {
			n += roundPage(st.Size)
		}
	}
	return n
}

// Stat returns what the kernel records about the segment (shmctl IPC_STAT):
// size, owner, permission, attach count, creator and last pids, times, and
// whether it is locked or removed. It needs read permission on the segment.
func (s *SysVSegment) Stat() (SysVStat, error) {
	if !s.made {
		return SysVStat{}, ErrNoSegment
	}
	return s.stat()
}

func (s *SysVSegment) stat() (SysVStat, error) {
	var d unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(s.id, unix.IPC_STAT, &d); err != nil {
		e := &Error{Op: "shmctl(IPC_STAT)", Segment: idString(s.id), Err: err}
		switch {
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EIDRM):
			e.Hint = "no segment has this ID (ipcs -m lists them)"
		case errors.Is(err, unix.EACCES):
			e.Hint = "the segment's permissions deny this user read access"
		}
		return SysVStat{}, e
	}
	mode := d.Perm.Mode
	return SysVStat{
		ID:         s.id,
		Key:        int(d.Perm.Key),
		Size:       int64(d.Segsz),
		Perm:       os.FileMode(mode & sysvPerm),
		UID:        int(d.Perm.Uid),
		GID:        int(d.Perm.Gid),
		CreatorUID: int(d.Perm.Cuid),
		CreatorGID: int(d.Perm.Cgid),
		Attached:   int(d.Nattch),
		CreatorPID: int(d.Cpid),
		LastPID:    int(d.Lpid),
		AttachTime: unixTime(int64(d.Atime)),
		DetachTime: unixTime(int64(d.Dtime)),
		ChangeTime: unixTime(int64(d.Ctime)),
		Locked:     mode&sys.ShmLocked != 0,
		Removed:    mode&sys.ShmDest != 0,
	}, nil
}

func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// SysVSegments lists every System V segment of the IPC namespace, as
// /proc/sysvipc/shm shows them (ipcs -m), including Resident and Swapped.
func SysVSegments() ([]SysVStat, error) {
	data, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return nil, &Error{Op: "read /proc/sysvipc/shm", Err: err}
	}
	return parseSysVIPC(data)
}

// parseSysVIPC parses /proc/sysvipc/shm. Columns: key shmid perms size cpid
// lpid nattch uid gid cuid cgid atime dtime ctime rss swap.
func parseSysVIPC(data []byte) ([]SysVStat, error) {
	var out []SysVStat
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if line == 1 || len(f) == 0 {
			continue
		}
		if len(f) < 14 {
			return nil, fmt.Errorf("shm: /proc/sysvipc/shm line %d has %d fields, want at least 14", line, len(f))
		}
		var v [16]int64
		for i := range min(len(f), 16) {
			base := 10
			if i == 2 {
				base = 8
			}
			n, err := strconv.ParseInt(f[i], base, 64)
			if err != nil {
				if u, uerr := strconv.ParseUint(f[i], base, 64); uerr == nil {
					n = int64(min(u, math.MaxInt64))
				} else {
					return nil, fmt.Errorf("shm: /proc/sysvipc/shm line %d field %d: %w", line, i+1, err)
				}
			}
			v[i] = n
		}
		out = append(out, SysVStat{
			Key: int(int32(v[0])), ID: int(v[1]), Perm: os.FileMode(v[2] & sysvPerm), Size: v[3],
			CreatorPID: int(v[4]), LastPID: int(v[5]), Attached: int(v[6]),
			UID: int(v[7]), GID: int(v[8]), CreatorUID: int(v[9]), CreatorGID: int(v[10]),
			AttachTime: unixTime(v[11]), DetachTime: unixTime(v[12]), ChangeTime: unixTime(v[13]),
			Locked: v[2]&sys.ShmLocked != 0, Removed: v[2]&sys.ShmDest != 0,
			Resident: v[14], Swapped: v[15],
		})
	}
	return out, sc.Err()
}
