package cli

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmkit/vmkit/internal/pagecache"
)

// target is a file found by the first walk of touch and lock.
type target struct {
	path     string
	size     int64
	off, len int64
	failed   atomic.Bool // an error was reported for it already
}

// collect walks the roots and returns the regular files with their spans.
func collect(e *env, roots []string, o pagecache.Options, st *pagecache.Stats) []*target {
	var mu sync.Mutex
	var ts []*target
	pagecache.Walk(roots, o, pagecache.Handler{
		Visit: func(en *pagecache.Entry) error {
			t := &target{path: en.Path, size: en.Size, off: en.Off, len: en.Len}
			mu.Lock()
			ts = append(ts, t)
			mu.Unlock()
			return nil
		},
		Error: func(err error) { e.errorf("%v", err) },
		Warn:  func(msg string) { e.errorf("warning: %s", msg) },
	}, st)
	return ts
}

// parallel runs fn(i) for i in [0, n) on workers goroutines.
func parallel(n, workers int, fn func(worker, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range min(workers, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}()
	}
	wg.Wait()
}

// measureTargets measures every target that has not failed and adds it to c.
func measureTargets(e *env, ts []*target, o pagecache.Options, c *collector, errs *atomic.Int64) {
	workers := o.Workers
	if workers == 0 {
		workers = pagecache.DefaultWorkers()
	}
	parallel(len(ts), workers, func(_, i int) {
		t := ts[i]
		if t.failed.Load() {
			return
		}
		en, err := pagecache.Open(t.path, &o)
		if err == nil {
			var r pagecache.Result
			r, err = en.Measure(&o)
			if err == nil {
				c.add(en, r)
			}
			en.Close()
		}
		if err != nil {
			errs.Add(1)
			e.errorf("%v", err)
		}
	})
}

// Reading is cut into chunks so that the workers share a large file; each
// reads its chunk with pread into a buffer of its own.
//
// Measured on the benchmark tree (bench/cli): 16 MiB chunks with 8 workers
// read about 1.6x faster than one worker per file (the 200 MiB files were
// the tail), and plain pread beat mmap with MADV_POPULATE_READ (whose
// faults read around in small pieces) and fadvise(WILLNEED) on large files
// (forced read-ahead uses single pages). Files below prefetchBelow are
// prefetched with fadvise(WILLNEED) first: 25% faster on the 20,000 small
// files, 10-15% on the whole tree.
const (
	touchChunk    = 16 << 20
	touchBuf      = 256 << 10
	touchWorkers  = 8
	prefetchBelow = 1 << 20
)

type chunk struct {
	t        *target
	off, len int64
}

// runTouch reads every page of the files into the page cache and reports the
// throughput and the residency after.
func runTouch(e *env, args []string) int {
	var wf walkFlags
	wf.cmd = "touch"
	fs := newFlags(e, wf.cmd)
	wf.register(fs)
	if code := parse(e, fs, args); code >= 0 {
		return code
	}
	o, roots, code := wf.options(e, fs.Args(), false)
	if code >= 0 {
		return code
	}
	o.Pages = wf.verbose
	start := time.Now()
	var st pagecache.Stats
	ts := collect(e, roots, o, &st)

	var chunks []chunk
	var total int64
	for _, t := range ts {
		total += t.len
		for off := t.off; off < t.off+t.len; off += touchChunk {
			chunks = append(chunks, chunk{t: t, off: off, len: min(touchChunk, t.off+t.len-off)})
		}
	}
	// Large files first: while they stream, the small files' reads,
	// started all at once below, complete.
	small := func(c chunk) int {
		if c.t.len < prefetchBelow {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(chunks, func(a, b chunk) int { return cmp.Compare(small(a), small(b)) })
	prog := startProgress(e, "touch", int64(len(ts)), total, wf.quiet)
	readStart := time.Now()
	// Start the reads of all small files: with many in flight the disk
	// merges and overlaps them, where one synchronous read per worker waits
	// a full latency per file. (The reading below finds them cached.)
	parallel(len(ts), touchWorkers, func(_, i int) {
		if t := ts[i]; t.len < prefetchBelow {
			pagecache.Prefetch(t.path, t.off, t.len)
		}
	})
	workers := touchWorkers
	if o.Workers > 0 {
		workers = o.Workers
	}
	bufs := make([][]byte, workers)
	var read, errs atomic.Int64
	parallel(len(chunks), workers, func(w, i int) {
		ch := chunks[i]
		if ch.t.failed.Load() {
			return
		}
		if bufs[w] == nil {
			bufs[w] = make([]byte, touchBuf)
		}
		en, err := pagecache.Open(ch.t.path, &o)
		var n int64
		if err == nil {
			n, err = pagecache.ReadSpan(en.Fd(), ch.off, ch.len, bufs[w])
			en.Close()
			if err != nil {
				err = &pagecache.PathError{Op: "read", Path: ch.t.path, Err: err}
			}
		}
		read.Add(n)
		files := int64(0)
		if ch.off+ch.len == ch.t.off+ch.t.len {
			files = 1
		}
		prog.add(files, n)
		if err != nil && !ch.t.failed.Swap(true) {
			errs.Add(1)
			e.errorf("%v", err)
		}
	})
	readTime := time.Since(readStart)
	prog.finish()

	c := &collector{list: wf.json || wf.verbose, bars: wf.verbose}
	measureTargets(e, ts, o, c, &errs)
	s := c.summary(&st, methodName(&o))
	s.Errors += errs.Load()
	s.elapsed = time.Since(start)
	ts2 := &touchSummary{Bytes: read.Load(), Seconds: readTime.Seconds()}
	if ts2.Seconds > 0 {
		ts2.BytesPerSecond = float64(ts2.Bytes) / ts2.Seconds
	}
	s.Touch = ts2
	return finish(e, &wf, c, s, false)
}
