//go:build !linux

package shm

import (
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/vmkit/vmkit/mem"
)

// errNotSupported names the system and matches ErrNotSupported.
var errNotSupported error = notSupported{}

type notSupported struct{}

func (notSupported) Error() string {
	return "shm: not supported on " + runtime.GOOS + ": vmkit targets Linux"
}
func (notSupported) Is(target error) bool { return target == ErrNotSupported }

// Open is not supported on this system.
func Open(name string, size int64, flags OpenFlags, perm os.FileMode) (*Segment, error) {
	return nil, errNotSupported
}

// Unlink is not supported on this system.
func Unlink(name string) error { return errNotSupported }

// Anonymous is not supported on this system.
func Anonymous(size int64, name string) (*Segment, error) { return nil, errNotSupported }

// FromFile is not supported on this system.
func FromFile(f *os.File) (*Segment, error) { return nil, errNotSupported }

// Name is the segment's name.
func (s *Segment) Name() string { return s.name }

// File is nil on this system.
func (s *Segment) File() *os.File { return nil }

// Size is not supported on this system.
func (s *Segment) Size() (int64, error) { return 0, errNotSupported }

// Map is not supported on this system.
func (s *Segment) Map(prot mem.Prot) (*mem.Mapping, error) { return nil, errNotSupported }

// Truncate is not supported on this system.
func (s *Segment) Truncate(size int64) error { return errNotSupported }

// Seal is not supported on this system.
func (s *Segment) Seal(seals SealFlags) error { return errNotSupported }

// Seals is not supported on this system.
func (s *Segment) Seals() (SealFlags, error) { return 0, errNotSupported }

// CheckSeals is not supported on this system.
func (s *Segment) CheckSeals(need SealFlags) error { return errNotSupported }

// Unlink is not supported on this system.
func (s *Segment) Unlink() error { return errNotSupported }

// Close does nothing on this system; a Segment cannot exist here.
func (s *Segment) Close() error { return nil }

// SysV is not supported on this system.
func SysV(key int, size int, flags SysVFlags) (*SysVSegment, error) { return nil, errNotSupported }

// SysVByID is not supported on this system.
func SysVByID(id int) (*SysVSegment, error) { return nil, errNotSupported }

// SysVSegments is not supported on this system.
func SysVSegments() ([]SysVStat, error) { return nil, errNotSupported }

// ID is the segment's identifier.
func (s *SysVSegment) ID() int { return s.id }

// Key is the segment's key.
func (s *SysVSegment) Key() int { return s.key }

// Attach is not supported on this system.
func (s *SysVSegment) Attach(prot mem.Prot) (*mem.Mapping, error) { return nil, errNotSupported }

// Mapping is nil on this system.
func (s *SysVSegment) Mapping() *mem.Mapping { return nil }

// Bytes is nil on this system.
func (s *SysVSegment) Bytes() []byte { return nil }

// Detach is not supported on this system.
func (s *SysVSegment) Detach() error { return errNotSupported }

// Remove is not supported on this system.
func (s *SysVSegment) Remove() error { return errNotSupported }

// Lock is not supported on this system.
func (s *SysVSegment) Lock() error { return errNotSupported }

// Unlock is not supported on this system.
func (s *SysVSegment) Unlock() error { return errNotSupported }

// Stat is not supported on this system.
func (s *SysVSegment) Stat() (SysVStat, error) { return SysVStat{}, errNotSupported }

// Wait is not supported on this system.
func Wait(w *atomic.Uint32, val uint32, timeout time.Duration) error { return errNotSupported }

// Wake is not supported on this system.
func Wake(w *atomic.Uint32, n int) (int, error) { return 0, errNotSupported }

// ReadAt is not supported on this system.
func (s *Segment) ReadAt(p []byte, off int64) (int, error) { return 0, errNotSupported }

// WriteAt is not supported on this system.
func (s *Segment) WriteAt(p []byte, off int64) (int, error) { return 0, errNotSupported }
