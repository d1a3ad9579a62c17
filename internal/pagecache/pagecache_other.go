//go:build !linux

package pagecache

import (
	"errors"
	"runtime"
)

// ErrNotSupported is returned on systems other than Linux.
var ErrNotSupported = errors.New("pagecache: not supported on " + runtime.GOOS)

// Handler receives what Walk finds (see the Linux documentation).
type Handler struct {
	Visit func(e *Entry) error
	Error func(err error)
	Warn  func(msg string)
}

// Walk is not supported on this system.
func Walk(roots []string, o Options, h Handler, st *Stats) error { return ErrNotSupported }

// DefaultWorkers is the number of walkers Walk would run.
func DefaultWorkers() int { return 4 }

// HaveCachestat reports false on this system.
func HaveCachestat() bool { return false }

// Truthful reports false on this system.
func (e *Entry) Truthful() bool { return false }

// Measure is not supported on this system.
func (e *Entry) Measure(o *Options) (Result, error) { return Result{}, ErrNotSupported }

// Evict is not supported on this system.
func (e *Entry) Evict() error { return ErrNotSupported }

// WriteBack is not supported on this system.
func (e *Entry) WriteBack() error { return ErrNotSupported }

// Prefetch is not supported on this system.
func Prefetch(path string, off, n int64) error { return ErrNotSupported }

// ReadSpan is not supported on this system.
func ReadSpan(fd int, off, n int64, buf []byte) (int64, error) { return 0, ErrNotSupported }

// Open is not supported on this system.
func Open(path string, o *Options) (*Entry, error) { return nil, ErrNotSupported }

// Close does nothing on this system.
func (e *Entry) Close() error { return nil }

// Read is not supported on this system.
func (e *Entry) Read(buf []byte) (int64, error) { return 0, ErrNotSupported }
