package malloc

import (
	"bufio"
	"compress/gzip"
	"io"
	"math"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// WriteProfile writes the sampled live blocks of the heap as a heap profile
// in pprof's format (gzipped protocol buffers), as runtime/pprof writes the
// Go heap's: `go tool pprof` then shows, by call stack, how many bytes and
// blocks of off-heap memory are held (sample types inuse_space, the
// default, and inuse_objects). The figures are estimates scaled up from the
// samples as Go scales its heap profile: a block of s bytes sampled at rate
// r stands for 1/(1-exp(-s/r)) blocks. The "vmkit/malloc" profile of
// runtime/pprof (ProfileName) counts the same samples, one each, whatever
// their size; this one weighs them. Profiling must be on (Options.ProfileRate,
// SetProfileRate or VMKIT_MALLOC_PROFILE_RATE).
//
// To serve it next to net/http/pprof's profiles:
//
//	http.HandleFunc("/debug/vmkit/malloc", func(w http.ResponseWriter, _ *http.Request) {
//		w.Header().Set("Content-Type", "application/octet-stream")
//		if err := malloc.WriteProfile(w); err != nil {
//			http.Error(w, err.Error(), http.StatusInternalServerError)
//		}
//	})
func (h *Heap) WriteProfile(w io.Writer) error {
	if h == nil {
		return errNilHeap
	}
	list, _ := h.prof.groups()
	rate := h.prof.rate.Load()
	var b profileBuilder
	b.str("") // index 0 is the empty string
	b.textMapping()
	b.valueType(1, "inuse_objects", "count")
	b.valueType(1, "inuse_space", "bytes")
	for _, g := range list {
		locs := make([]uint64, len(g.stack))
		for i, pc := range g.stack {
			locs[i] = b.location(pc)
		}
		b.out.message(2, func(m *protoBuf) {
			m.packedUint64(1, locs)
			m.packedInt64(2, []int64{int64(math.Round(g.estN)), int64(math.Round(g.estBytes))})
		})
	}
	b.finish(rate)
	zw := gzip.NewWriter(w)
	if _, err := zw.Write(b.out.b); err != nil {
		return err
	}
	return zw.Close()
}

// WriteProfile writes the heap profile of the default heap; see
// Heap.WriteProfile.
func WriteProfile(w io.Writer) error { return defaultHeap.WriteProfile(w) }

// sampleWeight is how many blocks of size bytes one sample stands for when
// one is taken per rate bytes on average: the chance that such a block is
// sampled is 1-exp(-size/rate).
func sampleWeight(size int, rate int64) float64 {
	if rate <= 1 {
		return 1
	}
	return 1 / -math.Expm1(-float64(max(size, 1))/float64(rate))
}

func stackKey(s []uintptr) string {
	b := make([]byte, 0, 8*len(s))
	for _, pc := range s {
		for i := range 8 {
			b = append(b, byte(pc>>(8*i)))
		}
	}
	return string(b)
}

// profileBuilder assembles a perftools.profiles.Profile message
// (github.com/google/pprof/proto/profile.proto): the samples are written as
// they come; locations, functions and strings are gathered and written at
// the end.
type profileBuilder struct {
	out       protoBuf
	textLo    uintptr // the executable's text mapping, as mapping 1, or 0s
	textHi    uintptr
	strings   []string
	stringIdx map[string]int64
	locs      map[uintptr]uint64
	locMsgs   protoBuf
	funcs     map[[2]string]uint64
	funcMsgs  protoBuf
}

func (b *profileBuilder) str(s string) int64 {
	if i, ok := b.stringIdx[s]; ok {
		return i
	}
	if b.stringIdx == nil {
		b.stringIdx = map[string]int64{}
	}
	i := int64(len(b.strings))
	b.strings = append(b.strings, s)
	b.stringIdx[s] = i
	return i
}

// valueType writes a ValueType message as field f of the profile.
func (b *profileBuilder) valueType(f int, typ, unit string) {
	t, u := b.str(typ), b.str(unit)
	b.out.message(f, func(m *protoBuf) {
		m.int64Field(1, t)
		m.int64Field(2, u)
	})
}

// textMapping writes, as mapping 1, the mapping of the executable's text
// found in /proc/self/maps, so that pprof knows the binary; it says that
// the locations carry their functions, files, lines and inlined frames, so
// that pprof does not look for symbols. Where the file cannot be read, the
// profile has no mapping, which pprof accepts.
func (b *profileBuilder) textMapping() {
	pc := reflect.ValueOf(sampleWeight).Pointer()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 {
			continue
		}
		lo, hi, ok := strings.Cut(fs[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseUint(fs[2], 16, 64)
		if !ok || err1 != nil || err2 != nil || err3 != nil || uint64(pc) < start || uint64(pc) >= end {
			continue
		}
		b.textLo, b.textHi = uintptr(start), uintptr(end)
		file := b.str(strings.Join(fs[5:], " "))
		b.out.message(3, func(m *protoBuf) {
			m.uint64Field(1, 1)
			m.uint64Field(2, start)
			m.uint64Field(3, end)
			m.uint64Field(4, off)
			m.int64Field(5, file)
			for f := 7; f <= 10; f++ { // has_functions, _filenames, _line_numbers, _inline_frames
				m.uint64Field(f, 1)
			}
		})
		return
	}
}

// location returns the id of pc's location, made on first use with a line
// for each frame at pc, the inlined ones first, as runtime/pprof does.
func (b *profileBuilder) location(pc uintptr) uint64 {
	if id, ok := b.locs[pc]; ok {
		return id
	}
	if b.locs == nil {
		b.locs = map[uintptr]uint64{}
		b.funcs = map[[2]string]uint64{}
	}
	id := uint64(len(b.locs) + 1)
	b.locs[pc] = id
	type line struct {
		fn   uint64
		line int64
	}
	var lines []line
	frames := runtime.CallersFrames([]uintptr{pc})
	for {
		f, more := frames.Next()
		name := f.Function
		if name == "" {
			name = "?"
		}
		lines = append(lines, line{b.function(name, f.File), int64(f.Line)})
		if !more {
			break
		}
	}
	b.locMsgs.message(4, func(m *protoBuf) {
		m.uint64Field(1, id)
		if pc >= b.textLo && pc < b.textHi {
			m.uint64Field(2, 1)
		}
		m.uint64Field(3, uint64(pc))
		for _, l := range lines {
			m.message(4, func(lm *protoBuf) {
				lm.uint64Field(1, l.fn)
				lm.int64Field(2, l.line)
			})
		}
	})
	return id
}

func (b *profileBuilder) function(name, file string) uint64 {
	k := [2]string{name, file}
	if id, ok := b.funcs[k]; ok {
		return id
	}
	id := uint64(len(b.funcs) + 1)
	b.funcs[k] = id
	n, f := b.str(name), b.str(file)
	b.funcMsgs.message(5, func(m *protoBuf) {
		m.uint64Field(1, id)
		m.int64Field(2, n)
		m.int64Field(3, n)
		m.int64Field(4, f)
	})
	return id
}

// finish writes the locations, functions, strings and the profile's
// header fields after the samples.
func (b *profileBuilder) finish(rate int64) {
	b.out.b = append(b.out.b, b.locMsgs.b...)
	b.out.b = append(b.out.b, b.funcMsgs.b...)
	space, bytes := b.str("space"), b.str("bytes")
	def := b.str("inuse_space")
	for _, s := range b.strings {
		b.out.stringField(6, s)
	}
	b.out.int64Field(9, time.Now().UnixNano())
	b.out.message(11, func(m *protoBuf) {
		m.int64Field(1, space)
		m.int64Field(2, bytes)
	})
	b.out.int64Field(12, rate)
	b.out.int64Field(14, def)
}

// protoBuf encodes protocol buffer fields; zero numbers are left out, as
// proto3 leaves out default values.
type protoBuf struct{ b []byte }

func (p *protoBuf) varint(x uint64) {
	for x >= 0x80 {
		p.b = append(p.b, byte(x)|0x80)
		x >>= 7
	}
	p.b = append(p.b, byte(x))
}

func (p *protoBuf) key(f, wire int) { p.varint(uint64(f)<<3 | uint64(wire)) }

func (p *protoBuf) uint64Field(f int, x uint64) {
	if x != 0 {
		p.key(f, 0)
		p.varint(x)
	}
}

func (p *protoBuf) int64Field(f int, x int64) { p.uint64Field(f, uint64(x)) }

// stringField writes s even when it is empty: the string table's first
// entry must be "".
func (p *protoBuf) stringField(f int, s string) {
	p.key(f, 2)
	p.varint(uint64(len(s)))
	p.b = append(p.b, s...)
}

func (p *protoBuf) packedUint64(f int, xs []uint64) {
	p.message(f, func(m *protoBuf) {
		for _, x := range xs {
			m.varint(x)
		}
	})
}

func (p *protoBuf) packedInt64(f int, xs []int64) {
	p.message(f, func(m *protoBuf) {
		for _, x := range xs {
			m.varint(uint64(x))
		}
	})
}

// message writes field f holding what fill writes, prefixed by its length.
func (p *protoBuf) message(f int, fill func(*protoBuf)) {
	var m protoBuf
	fill(&m)
	p.key(f, 2)
	p.varint(uint64(len(m.b)))
	p.b = append(p.b, m.b...)
}
