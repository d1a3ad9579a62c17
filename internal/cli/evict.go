package cli

import (
	"sync/atomic"
	"time"

	"github.com/vmkit/vmkit/internal/pagecache"
)

// runEvict drops the files from the page cache with POSIX_FADV_DONTNEED and
// reports the residency that is left: pages locked or mapped by a process
// stay. Dirty pages are written back first (all of the file's span when
// cachestat could not count them), since the kernel keeps them otherwise.
func runEvict(e *env, args []string) int {
	var wf walkFlags
	wf.cmd = "evict"
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
	if err := o.Validate(); err != nil {
		return usageErr(e, wf.cmd, "%v", err)
	}
	count := o // the measurement before eviction needs counts only
	count.Pages = false
	c := &collector{list: wf.json || wf.verbose, bars: wf.verbose}
	var before atomic.Int64
	start := time.Now()
	prog := startProgress(e, "evict", 0, 0, wf.quiet)
	var st pagecache.Stats
	pagecache.Walk(roots, o, pagecache.Handler{
		Visit: func(en *pagecache.Entry) error {
			b, err := en.Measure(&count)
			if err != nil {
				return err
			}
			if b.Known && b.Resident == 0 && !o.Pages {
				c.add(en, b) // nothing to drop
				prog.add(1, en.Len)
				return nil
			}
			if b.Dirty+b.Writeback > 0 || !b.DirtyKnown {
				// Dirty pages cannot be dropped: write them first. When
				// they were not counted (mincore, or the kernel hides
				// the file's residency), write back whatever there is.
				if err := en.WriteBack(); err != nil {
					return err
				}
			}
			if err := en.Evict(); err != nil {
				return err
			}
			r, err := en.Measure(&o)
			if err != nil {
				return err
			}
			if b.Known && r.Known {
				before.Add(b.Resident)
			}
			c.add(en, r)
			prog.add(1, en.Len)
			return nil
		},
		Error: func(err error) { e.errorf("%v", err) },
		Warn:  func(msg string) { e.errorf("warning: %s", msg) },
	}, &st)
	prog.finish()
	s := c.summary(&st, methodName(&o))
	s.elapsed = time.Since(start)
	ev := &evictSummary{Before: before.Load()}
	if s.Resident != nil {
		ev.Evicted = max(0, ev.Before-*s.Resident)
	}
	s.Evict = ev
	return finish(e, &wf, c, s, false)
}
