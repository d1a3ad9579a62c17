package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/spf13/pflag"
)

// Exit statuses.
const (
	// ExitOK: everything named was handled.
	ExitOK = 0
	// ExitError: some path or file could not be handled; the rest was.
	ExitError = 1
	// ExitUsage: the command line is wrong; nothing was done.
	ExitUsage = 2
)

// env carries the streams of one run. Data goes to stdout; progress, warnings
// and errors go to stderr, serialised by mu so that lines do not interleave.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	mu     sync.Mutex
	stderr io.Writer
	// progress, when not nil, owns the last line of a terminal stderr and
	// is cleared before anything else is written there.
	progress *progress
	// daemon is set in the daemon that `vmkit lock -d` started: its output
	// goes to the parent through this pipe until it is ready.
	daemon *daemonPipe
}

// errorf prints "vmkit: ..." on stderr.
func (e *env) errorf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.progress.clearLocked()
	fmt.Fprintf(e.stderr, "vmkit: "+format+"\n", args...)
}

// command is one subcommand.
type command struct {
	name  string
	args  string // the synopsis after the name
	short string // one line for the help list
	run   func(e *env, args []string) int
}

var commands []*command

func init() {
	commands = []*command{
		{name: "resident", args: "[flags] [PATH...]", short: "show how much of files is in the page cache (vmtouch, fincore)", run: runResident},
		{name: "touch", args: "[flags] PATH...", short: "read files into the page cache (vmtouch -t)", run: runTouch},
		{name: "evict", args: "[flags] PATH...", short: "drop files from the page cache (vmtouch -e)", run: runEvict},
		{name: "lock", args: "[flags] PATH...", short: "lock files in memory until signalled (vmtouch -l)", run: runLock},
		{name: "maps", args: "[flags] [PID]", short: "list a process's memory regions (pmap -x, smaps)", run: runMaps},
		{name: "status", args: "[flags] [PID]", short: "show a process's memory figures and the machine's settings", run: runStatus},
		{name: "report", args: "[flags]", short: "report on vmkit's own process: pages, locks, segments", run: runReport},
	}
}

// Main runs vmkit with args, the command line without the program name, and
// returns the exit status. It never calls os.Exit.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	out := &errWriter{w: stdout}
	e := &env{stdin: stdin, stdout: out, stderr: stderr}
	code := run(e, args)
	if out.err != nil {
		// Output that did not arrive (a full disk, a closed pipe) is a
		// failure, however the command went otherwise.
		e.errorf("write output: %v", out.err)
		if code == ExitOK {
			code = ExitError
		}
	}
	return code
}

// errWriter keeps the first error of the writes to w and fails every later
// write with it.
type errWriter struct {
	w   io.Writer
	err error
}

func (w *errWriter) Write(b []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.Write(b)
	if err != nil {
		w.err = err
	}
	return n, err
}

// run dispatches the command line to its command.
func run(e *env, args []string) int {
	if os.Getenv(daemonEnv) != "" {
		if code := becomeDaemon(e, args); code >= 0 {
			return code
		}
	}
	if len(args) == 0 {
		usage(e.stdout)
		return ExitOK
	}
	switch args[0] {
	case "-h", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			c := lookup(args[1])
			if c == nil {
				e.errorf("help: unknown command %q; run 'vmkit' for the list", args[1])
				return ExitUsage
			}
			return c.run(e, []string{"--help"})
		}
		usage(e.stdout)
		return ExitOK
	}
	c := lookup(args[0])
	if c == nil {
		e.errorf("unknown command %q; run 'vmkit' for the list", args[0])
		return ExitUsage
	}
	return c.run(e, args[1:])
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usage is the short help of bare vmkit.
func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("vmkit: page cache residency, touch, evict and lock; a process's memory map.\n\nUsage:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  vmkit %-8s %s\n", c.name, c.args)
	}
	b.WriteString("\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.short)
	}
	b.WriteString("\nRun 'vmkit COMMAND --help' for a command's flags.\n")
	io.WriteString(w, b.String())
}

// newFlags makes the flag set of a command: POSIX style, short flags
// combine; parse errors are returned, not printed.
func newFlags(e *env, c string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("vmkit "+c, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(e.stderr)
	cmd := lookup(c)
	// pflag calls Usage only for an explicit --help (-h where it is free):
	// asked for, so it goes to stdout.
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "Usage: vmkit %s %s\n\n%s.\n\nFlags:\n%s", c, cmd.args, upperFirst(cmd.short), fs.FlagUsages())
	}
	return fs
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// parse parses args into fs. It returns the exit status to return at once,
// or -1 to go on.
func parse(e *env, fs *pflag.FlagSet, args []string) int {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return -1
	case errors.Is(err, pflag.ErrHelp):
		return ExitOK
	}
	e.errorf("%s: %v; run '%s --help' for usage", fs.Name()[len("vmkit "):], err, fs.Name())
	return ExitUsage
}

// usageErr reports a command-line mistake found after parsing.
func usageErr(e *env, c, format string, args ...any) int {
	e.errorf("%s: %s; run 'vmkit %s --help' for usage", c, fmt.Sprintf(format, args...), c)
	return ExitUsage
}
