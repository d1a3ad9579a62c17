package cli

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/vmkit/vmkit/mem"
)

// progress draws a one-line bar on stderr while long work runs: files, bytes,
// rate and, when the totals are known, the ETA. It appears only when stderr
// is a terminal, and only after progressDelay, so short runs print nothing.
type progress struct {
	e     *env
	verb  string
	files atomic.Int64
	bytes atomic.Int64
	// totalFiles and totalBytes are the work to do, or 0 when unknown.
	totalFiles, totalBytes int64
	start                  time.Time
	shown                  bool // a line is on the screen (guarded by e.mu)
	stop, done             chan struct{}
}

const (
	progressDelay = time.Second
	progressTick  = 250 * time.Millisecond
)

// startProgress returns a running progress line, or nil when stderr is not a
// terminal or quiet is set. Every method is safe on nil.
func startProgress(e *env, verb string, totalFiles, totalBytes int64, quiet bool) *progress {
	f, ok := e.stderr.(*os.File)
	if quiet || !ok || !isTerminal(f) {
		return nil
	}
	p := &progress{e: e, verb: verb, totalFiles: totalFiles, totalBytes: totalBytes,
		start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	e.mu.Lock()
	e.progress = p
	e.mu.Unlock()
	go p.loop()
	return p
}

func (p *progress) add(files, bytes int64) {
	if p == nil {
		return
	}
	p.files.Add(files)
	p.bytes.Add(bytes)
}

func (p *progress) loop() {
	defer close(p.done)
	delay := time.NewTimer(progressDelay)
	defer delay.Stop()
	select {
	case <-p.stop:
		return
	case <-delay.C:
	}
	t := time.NewTicker(progressTick)
	defer t.Stop()
	for {
		p.draw()
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

func (p *progress) draw() {
	el := time.Since(p.start).Seconds()
	files, bytes := p.files.Load(), p.bytes.Load()
	line := fmt.Sprintf("%s: %d", p.verb, files)
	if p.totalFiles > 0 {
		line += fmt.Sprintf("/%d", p.totalFiles)
	}
	line += " files, " + mem.FormatBytes(bytes)
	if p.totalBytes > 0 {
		line += "/" + mem.FormatBytes(p.totalBytes)
	}
	rate := float64(bytes) / el
	line += ", " + mem.FormatBytes(int64(rate)) + "/s"
	if p.totalBytes > 0 && rate > 0 && bytes < p.totalBytes {
		eta := time.Duration(float64(p.totalBytes-bytes) / rate * float64(time.Second))
		line += ", ETA " + eta.Round(time.Second).String()
	}
	p.e.mu.Lock()
	fmt.Fprintf(p.e.stderr, "\r\x1b[K%s", line)
	p.shown = true
	p.e.mu.Unlock()
}

// clearLocked erases the line; the caller holds e.mu.
func (p *progress) clearLocked() {
	if p == nil || !p.shown {
		return
	}
	fmt.Fprint(p.e.stderr, "\r\x1b[K")
	p.shown = false
}

// finish stops the line and erases it.
func (p *progress) finish() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
	p.e.mu.Lock()
	p.clearLocked()
	p.e.progress = nil
	p.e.mu.Unlock()
}
