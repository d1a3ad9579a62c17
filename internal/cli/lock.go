package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vmkit/vmkit/internal/pagecache"
	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/mem"
)

// lockFlags are the flags of lock besides the walk flags.
type lockFlags struct {
	daemon  bool
	pidfile string
	wait    bool
	onFault bool
}

// mapHeadroom is the number of mappings left free for the Go runtime's own
// growth when lock checks vm.max_map_count.
const mapHeadroom = 256

// runLock maps and locks the files and holds them until SIGTERM, SIGINT or
// SIGHUP. With -d the work is done by a daemon (the same binary, started
// again in a new session); the parent waits until the daemon has passed the
// up-front checks (with -w: until everything is locked) and exits with the
// daemon's verdict.
func runLock(e *env, args []string) int {
	var wf walkFlags
	wf.cmd = "lock"
	var lf lockFlags
	fs := newFlags(e, wf.cmd)
	wf.register(fs)
	fs.BoolVarP(&lf.daemon, "daemon", "d", false, "run in the background as a daemon")
	fs.StringVarP(&lf.pidfile, "pidfile", "P", "", "write the process id of the locker to this file")
	fs.BoolVarP(&lf.wait, "wait", "w", false, "with -d: wait until everything is locked before returning")
	fs.BoolVar(&lf.onFault, "on-fault", false, "lock with mlock2(MLOCK_ONFAULT): lock the pages cached now, read nothing more")
	if code := parse(e, fs, args); code >= 0 {
		return code
	}
	if lf.wait && !lf.daemon {
		return usageErr(e, wf.cmd, "-w only applies with -d")
	}
	o, roots, code := wf.options(e, fs.Args(), false)
	if code >= 0 {
		return code
	}
	if lf.daemon && e.daemon == nil {
		// The daemon parses the same arguments, but its stdin is
		// /dev/null: a -b list read from stdin here is handed on.
		var batch []byte
		if wf.batch == "-" {
			sep := "\n"
			if wf.nul {
				sep = "\x00"
			}
			batch = []byte(strings.Join(roots[len(fs.Args()):], sep))
		}
		return spawnLockDaemon(e, args, batch)
	}
	return lockAndHold(e, &wf, &lf, o, roots)
}

// lockedFile is one file mapped and locked.
type lockedFile struct {
	t *target
	m *mem.Mapping
}

// lockAndHold is the work of lock, in the foreground or in the daemon.
func lockAndHold(e *env, wf *walkFlags, lf *lockFlags, o pagecache.Options, roots []string) int {
	// Catch the signals first: a SIGTERM sent the moment the parent returns
	// must find the handler in place.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sig)

	start := time.Now()
	var st pagecache.Stats
	ts := collect(e, roots, o, &st)
	if err := checkLockable(ts); err != nil {
		e.errorf("lock: %v", err)
		return ExitError
	}
	pidfile := ""
	if lf.pidfile != "" {
		var err error
		if pidfile, err = writePidfile(lf.pidfile); err != nil {
			e.errorf("lock: %v", err)
			return ExitError
		}
		defer removePidfile(pidfile)
	}
	if lf.daemon && !lf.wait {
		if !wf.quiet {
			var total int64
			for _, t := range ts {
				total += t.len
			}
			e.errorf("lock: daemon %d is locking %s in %d %s", os.Getpid(), mem.FormatBytes(total), len(ts), plural(int64(len(ts)), "file", "files"))
		}
		// Paths that could not be used are known now: they are in the
		// verdict, as they would be in the foreground.
		verdict := ExitOK
		if st.Errors.Load() > 0 {
			verdict = ExitError
		}
		daemonReady(e, verdict)
	}

	if testHookBeforeLock != nil {
		testHookBeforeLock()
	}
	locked, failed := lockTargets(e, ts, o, lf.onFault)
	c := &collector{list: wf.json || wf.verbose, bars: wf.verbose}
	o.Pages = wf.verbose
	var errs atomic.Int64
	errs.Store(failed)
	measureTargets(e, ts, o, c, &errs)
	s := c.summary(&st, methodName(&o))
	s.Errors += errs.Load()
	s.elapsed = time.Since(start)
	var bytes int64
	for _, l := range locked {
		bytes += l.t.len
	}
	s.Lock = &lockSummary{Bytes: bytes, Files: int64(len(locked)), Failed: failed, OnFault: lf.onFault, Pid: os.Getpid()}
	status := finish(e, wf, c, s, false)
	defer func() {
		for _, l := range locked {
			l.m.Unlock()
			l.m.Close()
		}
	}()
	if len(locked) == 0 {
		return status // nothing to hold
	}
	if !wf.quiet && !lf.daemon {
		e.errorf("lock: holding %s in %d %s until SIGTERM, SIGINT or SIGHUP (pid %d)", mem.FormatBytes(bytes), len(locked), plural(int64(len(locked)), "file", "files"), os.Getpid())
	}
	if lf.daemon {
		daemonReady(e, status)
		os.Chdir("/")
	}
	<-sig
	return status
}

// checkLockable refuses up front what the kernel would refuse file by file:
// more bytes than RLIMIT_MEMLOCK without CAP_IPC_LOCK, or more mappings than
// vm.max_map_count.
func checkLockable(ts []*target) error {
	var total int64
	var maps int
	for _, t := range ts {
		total += t.len
		if t.len > 0 {
			maps++
		}
	}
	capEff, err := procfs.CapEff(0)
	if err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	if capEff&procfs.CapIPCLock == 0 {
		lim, err := mem.LockLimit()
		if err != nil {
			return err
		}
		already, _ := mem.Locked()
		if lim.Soft != mem.Unlimited && already+total > lim.Soft {
			errno := syscall.ENOMEM // what mlock would return
			if lim.Soft == 0 {
				errno = syscall.EPERM
			}
			return &mem.Error{Op: "mlock", Err: errno, Hint: fmt.Sprintf(
				"the %d %s %s locked, but RLIMIT_MEMLOCK is %s (%s locked already) and the process lacks CAP_IPC_LOCK: "+
					"raise the limit (ulimit -l, prlimit --memlock, systemd LimitMEMLOCK=), grant CAP_IPC_LOCK "+
					"(setcap cap_ipc_lock+ep on the binary), or lock less (-m, -i, -I, -p)",
				len(ts), plural(int64(len(ts)), "file needs", "files need"), mem.FormatBytes(total), limitText(lim.Soft), mem.FormatBytes(already))}
		}
	}
	max, err := readInt("/proc/sys/vm/max_map_count")
	if err != nil {
		return fmt.Errorf("read vm.max_map_count: %w", err)
	}
	have, err := countLines("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("count mappings: %w", err)
	}
	if int64(have+maps+mapHeadroom) > max {
		return &mem.Error{Op: "mmap", Err: syscall.ENOMEM, Hint: fmt.Sprintf(
			"%d files need %d mappings, the process has %d already and keeps %d free for its own growth, but vm.max_map_count is %d: "+
				"raise it (sysctl -w vm.max_map_count=%d), or lock fewer files (-m, -i, -I)",
			maps, maps, have, mapHeadroom, max, have+maps+mapHeadroom)}
	}
	return nil
}

func limitText(v int64) string {
	if v == mem.Unlimited {
		return "unlimited"
	}
	return mem.FormatBytes(v)
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func countLines(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return bytes.Count(b, []byte{'\n'}), nil
}

// lockTargets maps and locks every target in parallel. Each failure is
// reported; the rest stay locked.
func lockTargets(e *env, ts []*target, o pagecache.Options, onFault bool) ([]lockedFile, int64) {
	var mu sync.Mutex
	var locked []lockedFile
	var failed atomic.Int64
	workers := touchWorkers
	if o.Workers > 0 {
		workers = o.Workers
	}
	parallel(len(ts), workers, func(_, i int) {
		t := ts[i]
		if t.len == 0 {
			return
		}
		m, err := lockOne(t, o, onFault)
		if err != nil {
			t.failed.Store(true)
			failed.Add(1)
			var pe *fs.PathError
			var ce *pagecache.PathError
			if errors.As(err, &pe) || errors.As(err, &ce) {
				e.errorf("lock: %v", err) // names the path already
			} else {
				e.errorf("lock %s: %v", t.path, err)
			}
			return
		}
		mu.Lock()
		locked = append(locked, lockedFile{t: t, m: m})
		mu.Unlock()
	})
	return locked, failed.Load()
}

// testHookBeforeLock, when set by a test, runs between the walk and the
// locking: it changes the files there, as another process may.
var testHookBeforeLock func()

// lockOne maps t's span and locks it. With onFault only the pages cached
// now are touched, so only they are locked; a file whose residency the
// kernel hides gets none touched.
//
// A file that shrank since the walk no longer has pages for the whole
// span: mlock cannot fault them in and fails with ENOMEM, whose hint would
// blame RLIMIT_MEMLOCK. lockOne checks the size once the file is open, and
// again when the lock fails (for a file truncated in between), and then
// says that the file changed.
func lockOne(t *target, o pagecache.Options, onFault bool) (*mem.Mapping, error) {
	f, err := os.Open(t.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := checkShrank(f, t); err != nil {
		return nil, err
	}
	var set *mem.Residency
	if onFault {
		po := o
		po.Pages = true
		en, err := pagecache.Open(t.path, &po)
		if err != nil {
			return nil, err
		}
		r, err := en.Measure(&po)
		en.Close()
		if err != nil {
			return nil, err
		}
		set = r.Set
	}
	m, err := mem.MapFile(f, t.off, int(t.len), mem.Read, mem.Shared)
	if err != nil {
		return nil, err
	}
	if !onFault {
		err = m.Lock()
	} else if err = m.LockOnFault(); err == nil && set != nil {
		err = touchRuns(m, set)
	}
	if err != nil {
		m.Close()
		if serr := checkShrank(f, t); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	return m, nil
}

// checkShrank returns an error when f no longer has pages for all of t's
// span, the file having been truncated since it was walked.
func checkShrank(f *os.File, t *target) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if pagecache.Pages(st.Size())*pagecache.PageSize() < t.off+t.len {
		return fmt.Errorf("the file shrank from %d to %d bytes since it was listed, and its pages up to byte %d no longer exist; nothing of it is locked (run lock again)",
			t.size, st.Size(), t.off+t.len)
	}
	return nil
}

// touchRuns reads one byte of every page of m that set marks resident, so
// that a lock-on-fault mapping locks exactly those pages.
func touchRuns(m *mem.Mapping, set *mem.Residency) error {
	ps := int(pagecache.PageSize())
	b := m.Bytes()
	var sink byte
	err := mem.Try(func() {
		for r := range set.Runs() {
			for p := r.Start; p < r.Start+r.Len && p*ps < len(b); p++ {
				sink += b[p*ps]
			}
		}
	})
	touchSink.Store(uint32(sink))
	return err
}

// touchSink keeps the reads of touchRuns from being optimised away.
var touchSink atomic.Uint32

// writePidfile writes the process id to path atomically and returns the
// absolute path, for removal at exit.
func writePidfile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	tmp := abs + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("pidfile: %w", err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("pidfile: %w", err)
	}
	return abs, nil
}

// removePidfile removes the pidfile if it still names this process.
func removePidfile(path string) {
	b, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		os.Remove(path)
	}
}
