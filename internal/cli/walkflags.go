package cli

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/vmkit/vmkit/internal/pagecache"
)

// walkFlags are the flags that resident, touch, evict and lock share: what
// to walk (vmtouch's options) and how to print.
type walkFlags struct {
	cmd string
	// fs is the flag set the flags were registered in: an empty -p, -m
	// or -b is told from an absent one by fs.Changed.
	fs        *pflag.FlagSet
	follow    bool
	oneFS     bool
	hardLinks bool
	ignore    []string
	include   []string
	maxSize   string
	pageRange string
	batch     string
	nul       bool
	verbose   bool
	quiet     bool
	json      bool
	method    string
	workers   int
}

func (w *walkFlags) register(fs *pflag.FlagSet) {
	w.fs = fs
	fs.BoolVarP(&w.verbose, "verbose", "v", false, "list every file with a residency bar")
	fs.BoolVarP(&w.quiet, "quiet", "q", false, "print nothing but errors")
	fs.BoolVar(&w.json, "json", false, "print one JSON document: {\"files\": [...], \"summary\": {...}}")
	fs.BoolVarP(&w.follow, "follow", "f", false, "follow symbolic links inside directories")
	fs.BoolVarP(&w.oneFS, "one-file-system", "F", false, "do not cross into other filesystems")
	fs.BoolVarP(&w.hardLinks, "hard-links", "h", false, "count every hard link of a file (default: each inode once)")
	fs.StringArrayVarP(&w.ignore, "ignore", "i", nil, "skip files and directories whose name matches this glob (repeatable)")
	fs.StringArrayVarP(&w.include, "include", "I", nil, "only files whose name matches this glob (repeatable)")
	fs.StringVarP(&w.maxSize, "max-size", "m", "", "skip files larger than this: a decimal size, at least 1 byte, with an optional unit k, m, g, t (such as 4096, 64k or 1.5G)")
	fs.StringVarP(&w.pageRange, "range", "p", "", "only this part of each file: A-B, A-, -B or B (the same as -B), with sizes or percentages (such as 10k-50%); an end of 0 is refused")
	fs.StringVarP(&w.batch, "batch", "b", "", "read more paths from this file, one a line ('-' for stdin; a CR before the newline is dropped)")
	fs.BoolVarP(&w.nul, "null", "0", false, "paths in the -b file are separated by NUL bytes")
	fs.StringVar(&w.method, "method", "auto", "how residency is read: auto, cachestat or mincore")
	fs.IntVar(&w.workers, "workers", 0, "parallel walkers (default: four times the CPUs, at least 8)")
	fs.MarkHidden("workers")
}

// options turns the flags into walk options and the list of roots.
// defaultDot makes "." the root when none is given.
func (w *walkFlags) options(e *env, args []string, defaultDot bool) (pagecache.Options, []string, int) {
	o := pagecache.Options{Follow: w.follow, OneFilesystem: w.oneFS, HardLinks: w.hardLinks,
		Ignore: w.ignore, Include: w.include, Workers: w.workers}
	var err error
	// A flag given with an empty value is a mistake (an unset shell
	// variable), not the flag left out: -p "" is not the whole file.
	if w.fs.Changed("max-size") {
		if o.MaxSize, err = pagecache.ParseSize(w.maxSize); err != nil {
			return o, nil, usageErr(e, w.cmd, "-m: %v", err)
		}
		// vmtouch -m 0 skips every file that is not empty, while a zero
		// MaxSize is no limit: refuse what could mean either.
		if o.MaxSize == 0 {
			return o, nil, usageErr(e, w.cmd, "-m %s: the maximum file size must be at least 1 byte (such as 500M); leave -m out for no limit", w.maxSize)
		}
	}
	if w.fs.Changed("range") {
		if o.Range, err = pagecache.ParseRange(w.pageRange); err != nil {
			return o, nil, usageErr(e, w.cmd, "-p: %v", err)
		}
	}
	if w.fs.Changed("batch") && w.batch == "" {
		return o, nil, usageErr(e, w.cmd, "-b: empty file name: want a file of paths, or '-' for stdin")
	}
	if o.Method, err = pagecache.ParseMethod(w.method); err != nil {
		return o, nil, usageErr(e, w.cmd, "--method: %v", err)
	}
	if w.quiet && (w.verbose || w.json) {
		return o, nil, usageErr(e, w.cmd, "-q cannot be combined with -v or --json")
	}
	if w.nul && !w.fs.Changed("batch") {
		return o, nil, usageErr(e, w.cmd, "-0 only applies to a -b file")
	}
	roots := append([]string{}, args...)
	if w.batch != "" {
		more, err := readBatch(e, w.batch, w.nul)
		if err != nil {
			e.errorf("%s: -b %s: %v", w.cmd, w.batch, err)
			return o, nil, ExitError
		}
		roots = append(roots, more...)
	}
	// An empty -b list is no files, not the default: `find ... | vmkit
	// resident -b -` that finds nothing must not measure the working
	// directory instead.
	if len(roots) == 0 && w.batch == "" {
		if !defaultDot {
			return o, nil, usageErr(e, w.cmd, "no paths given")
		}
		roots = []string{"."}
	}
	if err := o.Validate(); err != nil {
		return o, nil, usageErr(e, w.cmd, "%v", err)
	}
	return o, roots, -1
}

// readBatch reads the paths of a -b file.
func readBatch(e *env, name string, nul bool) ([]string, error) {
	var r io.Reader
	if name == "-" {
		r = e.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	sep := byte('\n')
	if nul {
		sep = 0
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, sep); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	var out []string
	for sc.Scan() {
		p := sc.Text()
		if !nul {
			// A list written on Windows, or by a tool that ends lines
			// with CRLF, names its files without the '\r', as
			// bufio.ScanLines reads it: kept, the '\r' ended up in
			// every path and hid in the errors' output. A name that
			// really ends in '\r' can be given with -0.
			p = strings.TrimSuffix(p, "\r")
		}
		if p != "" {
			out = append(out, p)
		}
	}
	return out, sc.Err()
}
