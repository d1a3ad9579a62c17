package pagecache

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The walk is described in the package documentation, "The walk".

// Handler receives what Walk finds. Its functions are called from several
// goroutines at once.
type Handler struct {
	// Visit is called once for every regular file, with the file open. The
	// *Entry is reused after Visit returns. An error it returns is passed
	// to Error and counted.
	Visit func(e *Entry) error
	// Error is called once for every entry that cannot be used; nil drops
	// them (they are still counted).
	Error func(err error)
	// Warn, if not nil, is told about odd but harmless finds, such as a
	// symlink loop.
	Warn func(msg string)
}

// batchSize is how many names of one directory make a job of their own.
const batchSize = 64

// splitSize is the file size from which a worker hands the rest of its
// batch back to the others before visiting the file: the work on a large
// file (reading, evicting, even cachestat) grows with its size, and a batch
// of large files must not run on one worker.
const splitSize = 1 << 20

// direntBuf is the size of each worker's getdents64 buffer.
const direntBuf = 64 << 10

// dirRef is an open directory shared by the jobs that work in it.
type dirRef struct {
	fd      int    // open O_DIRECTORY, or AT_FDCWD for the roots' pseudo directory
	path    string // as the user sees it; "" for the roots' pseudo directory
	dev     uint64 // the directory's device
	rootDev uint64 // the device of the root it was reached from (OneFilesystem)
	fsType  int64  // statfs magic of the directory's filesystem
	refs    atomic.Int32
}

func (d *dirRef) retain() { d.refs.Add(1) }

func (d *dirRef) release() {
	if d.refs.Add(-1) == 0 && d.fd != unix.AT_FDCWD {
		unix.Close(d.fd)
	}
}

// join is the path of name inside d.
func (d *dirRef) join(name string) string {
	switch {
	case d.path == "":
		return name
	case strings.HasSuffix(d.path, "/"):
		return d.path + name
	}
	return d.path + "/" + name
}

// name is one directory entry waiting for a worker.
type name struct {
	name   string
	dtype  uint8 // DT_REG, or DT_UNKNOWN/DT_LNK for an entry to stat first
	follow bool  // the entry was reached through a symlink: open it following links
}

// job is either a directory to enter (sub != "") or a batch of names in an
// open directory. A job holds one reference to dir.
type job struct {
	dir    *dirRef
	sub    string // a directory to open relative to dir
	follow bool   // sub was reached through a symlink
	root   bool   // sub is a root named by the user
	names  []name // a batch of entries of dir
	roots  bool   // names are roots: stat them and report special files
}

type devIno struct{ dev, ino uint64 }

type walker struct {
	o     *Options
	h     Handler
	stats *Stats

	mu      sync.Mutex
	cond    sync.Cond
	stack   []job
	pending int // jobs on the stack plus jobs being worked on

	seenMu   sync.Mutex
	seenDirs map[devIno]string // every directory entered, with its path
	// links holds, for each file with more than one link, the smallest of
	// its paths seen so far; those files are visited after the walk, so
	// that which name counts does not depend on timing.
	links map[devIno]string
	// direct holds, under Follow, the files of one link visited by the
	// walk itself: a symbolic link to one of them does not count it again.
	direct map[devIno]struct{}
}

// Walk visits every regular file named by roots or found below them, in
// parallel, and counts the rest in st. It returns an error only for invalid
// options; problems with entries go to h.Error. Roots that are symbolic
// links are followed.
func Walk(roots []string, o Options, h Handler, st *Stats) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if h.Visit == nil {
		h.Visit = func(*Entry) error { return nil }
	}
	w := &walker{o: &o, h: h, stats: st, seenDirs: map[devIno]string{}, links: map[devIno]string{}, direct: map[devIno]struct{}{}}
	w.cond.L = &w.mu
	cwd := &dirRef{fd: unix.AT_FDCWD}
	cwd.refs.Store(1 << 30) // never closed
	for i := 0; i < len(roots); i += batchSize {
		b := make([]name, 0, batchSize)
		for _, r := range roots[i:min(i+batchSize, len(roots))] {
			b = append(b, name{name: r, follow: true})
		}
		w.push(job{dir: cwd, names: b, roots: true})
	}
	n := o.Workers
	if n == 0 {
		n = DefaultWorkers()
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.work()
		}()
	}
	wg.Wait()
	w.visitLinks(n)
	return nil
}

// visitLinks visits the files with several links, each once under its
// smallest path, in parallel.
func (w *walker) visitLinks(workers int) {
	paths := make([]string, 0, len(w.links))
	for k, p := range w.links {
		if _, ok := w.direct[k]; ok {
			// Reached through a symbolic link, and counted already
			// under its own name.
			w.skip(SkipSymlink)
			continue
		}
		paths = append(paths, p)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(paths) {
					return
				}
				e, err := Open(paths[i], w.o)
				if err != nil {
					w.stats.Errors.Add(1)
					if w.h.Error != nil {
						w.h.Error(err)
					}
					continue
				}
				w.visit(e)
				e.Close()
			}
		}()
	}
	wg.Wait()
}

// visit hands e to the handler and counts its error.
func (w *walker) visit(e *Entry) {
	err := w.h.Visit(e)
	if err == nil {
		return
	}
	w.stats.Errors.Add(1)
	if w.h.Error != nil {
		var pe *PathError
		if !errors.As(err, &pe) {
			err = &PathError{Op: "read", Path: e.Path, Err: err}
		}
		w.h.Error(err)
	}
}

// DefaultWorkers is the number of walkers Walk runs when Options.Workers is
// 0: enough to keep every CPU busy while some wait on disk for inodes and
// directories that are not cached.
func DefaultWorkers() int { return min(32, max(8, 4*runtime.GOMAXPROCS(0))) }

func (w *walker) push(j job) {
	w.mu.Lock()
	w.stack = append(w.stack, j)
	w.pending++
	w.mu.Unlock()
	w.cond.Signal()
}

// pop takes the newest job, waiting while others may still add some. It
// returns false when the walk is over.
func (w *walker) pop() (job, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.stack) == 0 && w.pending > 0 {
		w.cond.Wait()
	}
	if len(w.stack) == 0 {
		return job{}, false
	}
	j := w.stack[len(w.stack)-1]
	w.stack[len(w.stack)-1] = job{}
	w.stack = w.stack[:len(w.stack)-1]
	return j, true
}

func (w *walker) done() {
	w.mu.Lock()
	w.pending--
	last := w.pending == 0
	w.mu.Unlock()
	if last {
		w.cond.Broadcast()
	}
}

func (w *walker) work() {
	buf := make([]byte, direntBuf)
	var e Entry
	for {
		j, ok := w.pop()
		if !ok {
			return
		}
		switch {
		case j.sub != "":
			w.enter(j, buf)
		case j.roots:
			for _, n := range j.names {
				w.root(n.name, &e)
			}
		default:
			w.batch(j.dir, j.names, &e)
		}
		j.dir.release()
		w.done()
	}
}

func (w *walker) fail(op, path string, err error) {
	w.stats.Errors.Add(1)
	if w.h.Error != nil {
		w.h.Error(&PathError{Op: op, Path: path, Err: err})
	}
}

func (w *walker) skip(r SkipReason) { w.stats.Skipped[r].Add(1) }

// root handles one path named by the user.
func (w *walker) root(path string, e *Entry) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		w.fail("stat", path, err)
		return
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		cwd := &dirRef{fd: unix.AT_FDCWD}
		cwd.refs.Store(1 << 30)
		w.push(job{dir: cwd, sub: path, follow: true, root: true})
	case unix.S_IFREG:
		// Stat followed the links: the root is a regular file, to be
		// opened following them too.
		cwd := &dirRef{fd: unix.AT_FDCWD}
		cwd.refs.Store(1 << 30)
		w.file(cwd, name{name: path, dtype: unix.DT_REG, follow: true}, true, e, nil)
	default:
		w.fail("open", path, fmt.Errorf("%w (%s)", ErrNotRegular, fileType(st.Mode)))
	}
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFDIR:
		return "a directory"
	}
	return "a special file"
}

// configfsMagic is CONFIGFS_MAGIC (linux/magic.h), which x/sys lacks.
const configfsMagic = 0x62656570

// pseudoFS reports whether files on a filesystem of this statfs magic have no
// page cache to speak of.
func pseudoFS(magic int64) bool {
	switch magic {
	case unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC, unix.DEBUGFS_MAGIC, unix.TRACEFS_MAGIC,
		unix.SECURITYFS_MAGIC, unix.CGROUP_SUPER_MAGIC, unix.CGROUP2_SUPER_MAGIC,
		unix.BPF_FS_MAGIC, unix.DEVPTS_SUPER_MAGIC, unix.PSTOREFS_MAGIC, unix.EFIVARFS_MAGIC,
		configfsMagic:
		return true
	}
	return false
}

// enter opens the directory j.sub, checks it, and reads it.
func (w *walker) enter(j job, buf []byte) {
	parent := j.dir
	path := parent.join(j.sub)
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if !j.follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat(parent.fd, j.sub, flags, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) && !j.follow {
			w.skip(SkipSymlink) // replaced by a link since it was listed
			return
		}
		w.fail("open", path, err)
		return
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		w.fail("stat", path, err)
		return
	}
	d := &dirRef{fd: fd, path: path, dev: uint64(st.Dev), rootDev: parent.rootDev, fsType: parent.fsType}
	d.refs.Store(1)
	if j.root {
		d.rootDev = uint64(st.Dev)
	}
	if w.o.OneFilesystem && !j.root && uint64(st.Dev) != parent.rootDev {
		unix.Close(fd)
		w.skip(SkipOtherFS)
		return
	}
	if j.root || uint64(st.Dev) != parent.dev {
		var sfs unix.Statfs_t
		if err := unix.Fstatfs(fd, &sfs); err == nil {
			d.fsType = int64(sfs.Type)
		}
		if pseudoFS(d.fsType) {
			unix.Close(fd)
			if j.root {
				w.fail("open", path, ErrPseudoFS)
			} else {
				w.skip(SkipPseudoFS)
			}
			return
		}
	}
	key := devIno{uint64(st.Dev), st.Ino}
	w.seenMu.Lock()
	first, seen := w.seenDirs[key]
	if !seen {
		w.seenDirs[key] = path
	}
	w.seenMu.Unlock()
	if seen {
		unix.Close(fd)
		w.skip(SkipVisited)
		if w.h.Warn != nil && j.follow && !j.root {
			w.h.Warn("symlink loop or repeated directory: " + path + " is " + first + ", entered already")
		}
		return
	}
	w.stats.Directories.Add(1)
	w.read(d, buf)
	d.release()
}

// read lists the directory d: subdirectories become jobs, files are batched.
// The last batch is visited by this worker.
func (w *walker) read(d *dirRef, buf []byte) {
	var batch []name
	flush := func() {
		if len(batch) == 0 {
			return
		}
		d.retain()
		w.push(job{dir: d, names: batch})
		batch = nil
	}
	for {
		n, err := unix.Getdents(d.fd, buf)
		if err != nil {
			w.fail("read directory", d.path, err)
			break
		}
		if n <= 0 {
			break
		}
		for b := buf[:n]; len(b) > 0; {
			// struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
			reclen := int(*(*uint16)(unsafe.Pointer(&b[16])))
			if reclen < 20 || reclen > len(b) {
				break
			}
			typ := b[18]
			nb := b[19:reclen]
			if i := indexZero(nb); i >= 0 {
				nb = nb[:i]
			}
			b = b[reclen:]
			if len(nb) == 0 || (nb[0] == '.' && (len(nb) == 1 || (len(nb) == 2 && nb[1] == '.'))) {
				continue
			}
			nm := string(nb)
			switch typ {
			case unix.DT_DIR:
				if w.o.ignored(nm) {
					w.skip(SkipIgnored)
					continue
				}
				d.retain()
				w.push(job{dir: d, sub: nm})
			case unix.DT_REG, unix.DT_LNK, unix.DT_UNKNOWN:
				if typ == unix.DT_LNK && !w.o.Follow {
					w.skip(SkipSymlink)
					continue
				}
				if w.o.ignored(nm) {
					w.skip(SkipIgnored)
					continue
				}
				batch = append(batch, name{name: nm, dtype: typ})
				if len(batch) == batchSize {
					flush()
				}
			default:
				w.skip(SkipSpecial)
			}
		}
	}
	var e Entry
	w.batch(d, batch, &e)
}

// batch visits names in d; file may hand the rest back to the stack.
func (w *walker) batch(d *dirRef, names []name, e *Entry) {
	for len(names) > 0 {
		n := names[0]
		names = names[1:]
		w.file(d, n, false, e, &names)
	}
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// file opens one entry of d and visits it if it is a regular file. An entry
// whose type the directory did not give, or a symlink under Follow, is
// stat'ed first, and may turn out to be a directory to enter. rest, when
// not nil, is the remainder of the caller's batch: before visiting a large
// file, file pushes it as a job of its own and empties it.
func (w *walker) file(d *dirRef, n name, root bool, e *Entry, rest *[]name) {
	path := d.join(n.name)
	follow := n.follow
	if n.dtype == unix.DT_LNK || n.dtype == unix.DT_UNKNOWN {
		flags := unix.AT_SYMLINK_NOFOLLOW
		if n.dtype == unix.DT_LNK {
			flags, follow = 0, true
		}
		var st unix.Stat_t
		err := unix.Fstatat(d.fd, n.name, &st, flags)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK && (w.o.Follow || n.follow) {
			// A link the directory did not mark as one (DT_UNKNOWN):
			// follow it as a DT_LNK entry would be.
			follow = true
			err = unix.Fstatat(d.fd, n.name, &st, 0)
		}
		if err != nil {
			w.fail("stat", path, err)
			return
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
		case unix.S_IFDIR:
			d.retain()
			w.push(job{dir: d, sub: n.name, follow: follow})
			return
		case unix.S_IFLNK:
			w.skip(SkipSymlink)
			return
		default:
			w.skip(SkipSpecial)
			return
		}
	}
	if !root && !w.o.included(n.name) {
		w.skip(SkipIgnored)
		return
	}
	if root && len(w.o.Include) > 0 && !w.o.included(baseName(n.name)) {
		w.skip(SkipIgnored)
		return
	}
	flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat(d.fd, n.name, flags, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) && !follow {
			w.skip(SkipSymlink)
			return
		}
		w.fail("open", path, err)
		return
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		w.fail("stat", path, err)
		return
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		if root {
			w.fail("open", path, fmt.Errorf("%w (%s)", ErrNotRegular, fileType(st.Mode)))
		} else {
			w.skip(SkipSpecial)
		}
		return
	}
	fsType := d.fsType
	if root || uint64(st.Dev) != d.dev {
		var sfs unix.Statfs_t
		if err := unix.Fstatfs(fd, &sfs); err == nil {
			fsType = int64(sfs.Type)
		}
		if pseudoFS(fsType) {
			if root {
				w.fail("open", path, ErrPseudoFS)
			} else {
				w.skip(SkipPseudoFS)
			}
			return
		}
	}
	if w.o.MaxSize > 0 && st.Size > w.o.MaxSize {
		w.skip(SkipTooLarge)
		return
	}
	key := devIno{uint64(st.Dev), st.Ino}
	// A file of several links, or under Follow one reached through a
	// symbolic link (or named as a root), may be met under several names:
	// it is visited after the walk, once, under its smallest name.
	if !w.o.HardLinks && (st.Nlink > 1 || w.o.Follow && follow) {
		w.seenMu.Lock()
		first, seen := w.links[key]
		if !seen || path < first {
			w.links[key] = path
		}
		w.seenMu.Unlock()
		if seen && st.Nlink > 1 {
			w.skip(SkipHardLink)
		} else if seen {
			w.skip(SkipSymlink)
		}
		return
	}
	if !w.o.HardLinks && w.o.Follow {
		w.seenMu.Lock()
		w.direct[key] = struct{}{}
		w.seenMu.Unlock()
	}
	if rest != nil && len(*rest) > 0 && st.Size >= splitSize {
		d.retain()
		w.push(job{dir: d, names: *rest})
		*rest = nil
	}
	*e = Entry{Path: path, Size: st.Size, Dev: uint64(st.Dev), Ino: st.Ino, Uid: st.Uid, Mode: st.Mode,
		Blocks: st.Blocks, FSType: fsType, fd: fd}
	e.Off, e.Len = w.o.Range.Span(st.Size)
	w.visit(e)
	e.fd = -1
}

func baseName(p string) string {
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
