package cli

import (
	"time"

	"github.com/vmkit/vmkit/internal/pagecache"
)

func runResident(e *env, args []string) int {
	var wf walkFlags
	wf.cmd = "resident"
	var pages bool
	fs := newFlags(e, wf.cmd)
	wf.register(fs)
	fs.BoolVar(&pages, "pages", false, "list the resident page ranges of every file")
	if code := parse(e, fs, args); code >= 0 {
		return code
	}
	o, roots, code := wf.options(e, fs.Args(), true)
	if code >= 0 {
		return code
	}
	o.Pages = pages || wf.verbose
	if err := o.Validate(); err != nil {
		return usageErr(e, wf.cmd, "%v", err)
	}
	c := &collector{list: wf.json || wf.verbose || pages, bars: wf.verbose, ranges: pages}
	start := time.Now()
	prog := startProgress(e, "resident", 0, 0, wf.quiet)
	var st pagecache.Stats
	pagecache.Walk(roots, o, pagecache.Handler{
		Visit: func(en *pagecache.Entry) error {
			r, err := en.Measure(&o)
			if err != nil {
				return err
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
	return finish(e, &wf, c, s, pages)
}

// finish prints the result of a walk command and returns its exit status.
func finish(e *env, wf *walkFlags, c *collector, s summary, pages bool) int {
	switch {
	case wf.quiet:
	case wf.json:
		if err := writeJSON(e.stdout, document{Files: c.sorted(), Summary: s}); err != nil {
			return ExitError // Main reports the write error
		}
	default:
		if wf.verbose || pages {
			writeFiles(e.stdout, c.sorted(), wf.verbose, pages)
		}
		writeSummary(e.stdout, s)
	}
	if s.Errors > 0 {
		return ExitError
	}
	return ExitOK
}
