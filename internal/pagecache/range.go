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

// ParseSize reads a size such as "4096", "64k", "1.5G" or "10MiB": a
// decimal number (digits with at most one decimal point) and an optional
// unit k, m, g, t or p, binary (k = 1024) and case-insensitive, which may be
// followed by "B" or "iB"; a bare "B" means bytes. A fraction of a byte is
// dropped. Exponents ("1e3"), hexadecimal ("0x10", "0x1p3"), signs, "Inf"
// and "NaN", which strconv.ParseFloat would take, are refused: an operator
// who types them has made a mistake, and vmtouch's strtod would read them
// differently from what was meant.
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

// sizeForm and percentForm say what ParseSize and a percentage accept, for
// the errors.
const (
	sizeForm    = "want a decimal number of bytes with an optional unit k, m, g, t or p (1k = 1024), such as 4096, 64k or 1.5G"
	percentForm = "want a decimal percentage from 0% to 100%, such as 25% or 12.5%"
)

// units are the multipliers of ParseSize, by the unit's letter.
var units = map[byte]int64{'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40, 'p': 1 << 50}

// parseBound reads a size or a percentage ("50%"). A percentage is returned in
// hundredths of a percent (50% is 5000) so that "12.5%" is exact.
func parseBound(s string) (v int64, percent bool, err error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, false, fmt.Errorf("empty size: %s", sizeForm)
	}
	if num, ok := strings.CutSuffix(t, "%"); ok {
		num = strings.TrimSpace(num)
		if !isDecimal(num) {
			return 0, false, fmt.Errorf("bad percentage %q: %s", s, percentForm)
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f > 100 {
			return 0, false, fmt.Errorf("bad percentage %q: %s", s, percentForm)
		}
		return int64(math.Round(f * 100)), true, nil
	}
	// The number is the leading digits and point; the rest is the unit.
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult := int64(1)
	if unit != "" && unit != "b" {
		m, ok := units[unit[0]]
		if rest := unit[1:]; !ok || (rest != "" && rest != "b" && rest != "ib") {
			return 0, false, fmt.Errorf("bad size %q: %s", s, sizeForm)
		}
		mult = m
	}
	if !isDecimal(num) {
		return 0, false, fmt.Errorf("bad size %q: %s", s, sizeForm)
	}
	f, err := strconv.ParseFloat(num, 64)
	b := f * float64(mult)
	if err != nil || b >= math.MaxInt64 {
		// Only ErrRange is possible for a decimal number.
		return 0, false, fmt.Errorf("size %q is too large", s)
	}
	return int64(b), false, nil
}

// isDecimal reports whether s is digits with at most one decimal point and
// at least one digit: "12", "1.5", ".5", "3.".
func isDecimal(s string) bool {
	digits, points := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			points++
		default:
			return false
		}
	}
	return digits > 0 && points <= 1
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
// them, or percentages of each file's size ("25%"). A range must name at
// least one end, and an end B of 0 (or 0%) is refused: it would select
// nothing, and vmtouch reads an end of 0 as the end of the file, so an
// operator who writes it may mean either.
func ParseRange(s string) (Range, error) {
	const form = "want A-B, A-, -B or B, with sizes or percentages, such as 10k-50%"
	t := strings.TrimSpace(s)
	if t == "" {
		return Range{}, errors.New("empty page range: " + form)
	}
	var r Range
	a, b, dash := strings.Cut(t, "-")
	if !dash {
		a, b = "", t
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" && b == "" {
		return Range{}, fmt.Errorf("page range %q names neither end: %s", s, form)
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
		if v == 0 {
			return Range{}, fmt.Errorf("page range %q ends at 0, which selects nothing (vmtouch reads it as the end of the file): write A- for the rest of the file", s)
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
