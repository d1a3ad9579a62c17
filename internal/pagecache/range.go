package pagecache

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

var pageSize = int64(os.Getpagesize())

// PageSize is the size in bytes of the pages every count of this package is
// in.
func PageSize() int64 { return pageSize }

// Pages is the number of pages that n bytes occupy: n/PageSize rounded up.
func Pages(n int64) int64 { return (n + pageSize - 1) / pageSize }

// ParseSize reads a size such as "4096", "64k", "1.5G" or "10MiB". Units are
// binary (k = 1024) and case-insensitive; a trailing "B" or "iB" is allowed.
func ParseSize(s string) (int64, error) {
	v, pct, err := parseBound(s)
	if err != nil {
		return 0, err
	}
	if pct {
		return 0, fmt.Errorf("size %q: a percentage is not a size here", s)
	}
	return v, nil
}

// parseBound reads a size or a percentage ("50%"). A percentage is returned in
// hundredths of a percent (50% is 5000) so that "12.5%" is exact.
func parseBound(s string) (v int64, percent bool, err error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, false, errors.New("empty size")
	}
	if strings.HasSuffix(t, "%") {
		f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(t, "%")), 64)
		if err != nil || f < 0 || f > 100 || math.IsNaN(f) {
			return 0, false, fmt.Errorf("bad percentage %q: want 0%% to 100%%", s)
		}
		return int64(math.Round(f * 100)), true, nil
	}
	lower := strings.ToLower(t)
	lower = strings.TrimSuffix(lower, "ib")
	lower = strings.TrimSuffix(lower, "b")
	mult := int64(1)
	if n := len(lower); n > 0 {
		switch lower[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		case 'p':
			mult = 1 << 50
		}
		if mult != 1 {
			lower = lower[:n-1]
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(lower), 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, fmt.Errorf("bad size %q: want a number of bytes with an optional unit k, m, g, t (such as 64k or 1.5G)", s)
	}
	b := f * float64(mult)
	if b >= math.MaxInt64 {
		return 0, false, fmt.Errorf("size %q is too large", s)
	}
	return int64(b), false, nil
}

// Bound is one end of a Range: a byte offset, or a percentage of the file's
// size.
type Bound struct {
	// Value is bytes, or hundredths of a percent when Percent is set.
	Value int64
	// Percent marks Value as a share of the file size.
	Percent bool
}

func (b Bound) bytes(size int64) int64 {
	if !b.Percent {
		return b.Value
	}
	// size * Value / 10000 without overflow for any file size.
	return int64(math.Floor(float64(size) * float64(b.Value) / 10000))
}

// Range selects a part of every file, as vmtouch's -p does: "10k-50%" is
// from byte 10240 to the middle of the file. The zero Range is the whole
// file.
type Range struct {
	// Start is where the part begins; the zero Bound is the file's start.
	Start Bound
	// End is where the part ends; HasEnd false means the end of the file.
	End    Bound
	HasEnd bool
}

// ParseRange reads a range "A-B", "A-" (from A to the end), "-B" (from the
// start to B) or "B" (the same as "-B"). A and B are sizes as ParseSize reads
// them, or percentages of each file's size ("25%").
func ParseRange(s string) (Range, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Range{}, errors.New("empty page range: want A-B, A-, -B or B, such as 10k-50%")
	}
	var r Range
	a, b, dash := strings.Cut(t, "-")
	if !dash {
		a, b = "", t
	}
	if a != "" {
		v, p, err := parseBound(a)
		if err != nil {
			return Range{}, fmt.Errorf("page range %q: %w", s, err)
		}
		r.Start = Bound{Value: v, Percent: p}
	}
	if b != "" {
		v, p, err := parseBound(b)
		if err != nil {
			return Range{}, fmt.Errorf("page range %q: %w", s, err)
		}
		r.End, r.HasEnd = Bound{Value: v, Percent: p}, true
	}
	if r.HasEnd && r.Start.Percent == r.End.Percent && r.End.Value < r.Start.Value {
		return Range{}, fmt.Errorf("page range %q ends before it starts", s)
	}
	return r, nil
}

// IsWhole reports whether r is the whole file.
func (r Range) IsWhole() bool { return r == Range{} }

// Span returns the byte span of a file of size bytes that r selects, widened
// to whole pages: off is rounded down and the end up, then the end is
// clamped to the file's last page. A span past the end of the file is empty.
func (r Range) Span(size int64) (off, n int64) {
	if size <= 0 {
		return 0, 0
	}
	start := r.Start.bytes(size)
	end := size
	if r.HasEnd {
		end = min(r.End.bytes(size), size)
	}
	start = start / pageSize * pageSize
	end = min(Pages(end)*pageSize, Pages(size)*pageSize)
	if end <= start {
		return start, 0
	}
	return start, end - start
}

// String renders r in the syntax ParseRange reads.
func (r Range) String() string {
	f := func(b Bound) string {
		if b.Percent {
			return strconv.FormatFloat(float64(b.Value)/100, 'f', -1, 64) + "%"
		}
		return strconv.FormatInt(b.Value, 10)
	}
	s := f(r.Start) + "-"
	if r.HasEnd {
		s += f(r.End)
	}
	return s
}
