package malloc

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Options configure a Heap. The zero value gives glibc's defaults on a
// 64-bit system: a dynamic mmap threshold starting at 128 KiB, a trim
// threshold of 128 KiB, a top pad of 128 KiB, up to 65,536 mapped blocks,
// and one arena per CPU, at most ArenaTest (8 by default).
type Options struct {
	// ArenaMax is the number of arenas (M_ARENA_MAX); 0 chooses from the
	// number of CPUs and ArenaTest.
	ArenaMax int
	// ArenaTest caps the number of arenas chosen from the CPU count when
	// ArenaMax is 0 (M_ARENA_TEST); 0 means 8.
	ArenaTest int
	// MmapThreshold is the request size from which a block gets its own
	// mapping (M_MMAP_THRESHOLD). 0 keeps glibc's dynamic threshold, which
	// starts at 128 KiB and rises to the size of any larger mapped block that
	// is freed, up to 32 MiB. Requests up to MaxSmall always use size classes.
	MmapThreshold int
	// MmapMax is the number of blocks that may have their own mapping at once
	// (M_MMAP_MAX); 0 means 65,536 and a negative value means none.
	MmapMax int
	// TopPad is how much free memory at the top of a region is kept when the
	// region is trimmed (M_TOP_PAD); 0 means 128 KiB.
	TopPad int
	// TrimThreshold is how much free memory may gather at the top of a
	// region before it is given back to the system (M_TRIM_THRESHOLD); 0
	// means 128 KiB, dynamic while MmapThreshold is: twice the size of a
	// mapped block freed as the mmap threshold rises (as in glibc), and
	// twice the swing when a region's top grows back over what the last
	// trims gave back, up to 64 MiB. A negative value never trims.
	TrimThreshold int
	// Perturb, when not 0, fills every allocated block with the complement of
	// its low byte and every freed block with the byte (M_PERTURB), to make
	// reads of uninitialised or freed memory visible.
	Perturb int
	// Guard surrounds every block with guard bytes, checked by Free and by
	// Probe: an overrun of even one byte past the requested size, or a write
	// just before the block, is reported. Every free then claims its block
	// under a lock, so two goroutines freeing one block at the same moment
	// get one success and one ErrDoubleFree, which the fast path does not
	// promise. It costs a hash-map lookup per call.
	Guard bool
	// ProfileRate samples one allocation per ProfileRate bytes on average
	// into the "vmkit/malloc" pprof profile; 0 disables profiling.
	ProfileRate int
	// Brk lets the first arena take its region from the program break
	// (mem.Sbrk) in a binary without cgo. Only set it when nothing else in the
	// program moves the break; in a cgo binary it falls back to mmap.
	Brk bool
}

// Validate reports the first invalid field.
func (o Options) Validate() error {
	switch {
	case o.ArenaMax < 0:
		return invalidArg("Options", fmt.Sprintf("ArenaMax %d is negative", o.ArenaMax))
	case o.ArenaMax > 1024:
		return invalidArg("Options", fmt.Sprintf("ArenaMax %d is above 1024", o.ArenaMax))
	case o.ArenaTest < 0:
		return invalidArg("Options", fmt.Sprintf("ArenaTest %d is negative", o.ArenaTest))
	case o.MmapThreshold < 0 || o.MmapThreshold > maxMmapThreshold:
		return invalidArg("Options", fmt.Sprintf("MmapThreshold %d is outside [0, 32 MiB]", o.MmapThreshold))
	case o.TopPad < 0:
		return invalidArg("Options", fmt.Sprintf("TopPad %d is negative", o.TopPad))
	case o.Perturb < 0 || o.Perturb > 255:
		return invalidArg("Options", fmt.Sprintf("Perturb %d is not a byte", o.Perturb))
	case o.ProfileRate < 0:
		return invalidArg("Options", fmt.Sprintf("ProfileRate %d is negative", o.ProfileRate))
	}
	return nil
}

// Param names a tunable of Opt, with glibc's mallopt numbers.
type Param int

// The parameters of mallopt(3).
const (
	M_TRIM_THRESHOLD Param = -1 // see Options.TrimThreshold
	M_TOP_PAD        Param = -2 // see Options.TopPad
	M_MMAP_THRESHOLD Param = -3 // see Options.MmapThreshold
	M_MMAP_MAX       Param = -4 // see Options.MmapMax; 0 disables mapped blocks
	M_PERTURB        Param = -6 // see Options.Perturb
	M_ARENA_TEST     Param = -7 // see Options.ArenaTest
	M_ARENA_MAX      Param = -8 // see Options.ArenaMax
)

// String is the parameter's glibc name, such as "M_MMAP_MAX".
func (p Param) String() string {
	switch p {
	case M_TRIM_THRESHOLD:
		return "M_TRIM_THRESHOLD"
	case M_TOP_PAD:
		return "M_TOP_PAD"
	case M_MMAP_THRESHOLD:
		return "M_MMAP_THRESHOLD"
	case M_MMAP_MAX:
		return "M_MMAP_MAX"
	case M_PERTURB:
		return "M_PERTURB"
	case M_ARENA_TEST:
		return "M_ARENA_TEST"
	case M_ARENA_MAX:
		return "M_ARENA_MAX"
	}
	return "Param(" + strconv.Itoa(int(p)) + ")"
}

// Opt sets a tunable, like mallopt(3). Unlike mallopt it reports a bad value
// with an error matching ErrInvalidArgument. Setting M_MMAP_THRESHOLD,
// M_TRIM_THRESHOLD, M_TOP_PAD or M_MMAP_MAX turns the dynamic mmap threshold
// off, as in glibc. M_ARENA_MAX and M_ARENA_TEST affect caches made later.
func (h *Heap) Opt(param Param, value int) error {
	if err := h.check(nil); err != nil {
		return err
	}
	bad := func(why string) error {
		return invalidArg("Opt", fmt.Sprintf("%v %d: %s", param, value, why))
	}
	switch param {
	case M_TRIM_THRESHOLD:
		h.trimThreshold.Store(int64(value))
		h.mmapDynamic.Store(false)
	case M_TOP_PAD:
		if value < 0 {
			return bad("negative")
		}
		h.topPad.Store(int64(value))
		h.mmapDynamic.Store(false)
	case M_MMAP_THRESHOLD:
		if value < 0 || value > maxMmapThreshold {
			return bad("outside [0, 32 MiB]")
		}
		h.mmapThreshold.Store(int64(value))
		h.mmapDynamic.Store(false)
	case M_MMAP_MAX:
		if value < 0 {
			return bad("negative")
		}
		h.mmapMax.Store(int64(value))
		h.mmapDynamic.Store(false)
	case M_PERTURB:
		if value < 0 || value > 255 {
			return bad("not a byte")
		}
		h.perturb.Store(int32(value))
		h.setMode(modePerturb, value != 0)
	case M_ARENA_TEST, M_ARENA_MAX:
		if value <= 0 || value > 1024 {
			return bad("outside [1, 1024]")
		}
		h.mu.Lock()
		if param == M_ARENA_MAX {
			h.arenaLimit.Store(int32(value))
		} else {
			h.arenaLimit.Store(int32(max(1, min(8*runtime.NumCPU(), min(value, runtime.NumCPU())))))
		}
		// The per-P caches keep their arenas, as glibc's threads keep
		// theirs: a cache holds blocks of its arena only, and its owner
		// may be using it right now.
		h.mu.Unlock()
	default:
		return bad("unknown parameter")
	}
	return nil
}

// envNames maps the environment variables read for the default heap to
// their fields.
var envNames = []string{"ARENA_MAX", "ARENA_TEST", "MMAP_THRESHOLD", "MMAP_MAX", "TOP_PAD", "TRIM_THRESHOLD", "PERTURB", "GUARD", "PROFILE_RATE", "BRK"}

// OptionsFromEnv returns the Options given by the environment, as the
// default heap reads them at start. Each field has a variable
// VMKIT_MALLOC_<NAME> (VMKIT_MALLOC_ARENA_MAX, _ARENA_TEST, _MMAP_THRESHOLD,
// _MMAP_MAX, _TOP_PAD, _TRIM_THRESHOLD, _PERTURB, _GUARD, _PROFILE_RATE,
// _BRK), and VMKIT_MALLOC_TUNABLES sets several at once in the manner of
// GLIBC_TUNABLES: "arena_max=2:perturb=0xa5:guard=1". Numbers may be decimal,
// 0x hex, or carry a k, m or g suffix. The separate variables win over
// VMKIT_MALLOC_TUNABLES.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var o Options
	vals := map[string]string{}
	if t := getenv("VMKIT_MALLOC_TUNABLES"); t != "" {
		for _, kv := range strings.Split(t, ":") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return o, invalidArg("VMKIT_MALLOC_TUNABLES", fmt.Sprintf("%q is not name=value", kv))
			}
			vals[strings.ToUpper(strings.TrimPrefix(k, "vmkit.malloc."))] = v
		}
	}
	for _, n := range envNames {
		if v := getenv("VMKIT_MALLOC_" + n); v != "" {
			vals[n] = v
		}
	}
	for k, v := range vals {
		n, err := parseNum(v)
		if err != nil {
			return o, invalidArg("VMKIT_MALLOC_"+k, err.Error())
		}
		switch k {
		case "ARENA_MAX":
			o.ArenaMax = n
		case "ARENA_TEST":
			o.ArenaTest = n
		case "MMAP_THRESHOLD":
			o.MmapThreshold = n
		case "MMAP_MAX":
			o.MmapMax = n
			if n == 0 {
				o.MmapMax = -1
			}
		case "TOP_PAD":
			o.TopPad = n
		case "TRIM_THRESHOLD":
			o.TrimThreshold = n
		case "PERTURB":
			o.Perturb = n
		case "GUARD":
			o.Guard = n != 0
		case "PROFILE_RATE":
			o.ProfileRate = n
		case "BRK":
			o.Brk = n != 0
		default:
			return o, invalidArg("VMKIT_MALLOC_TUNABLES", fmt.Sprintf("unknown tunable %q", k))
		}
	}
	return o, o.Validate()
}

func parseNum(s string) (int, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "g"), strings.HasSuffix(s, "G"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n > math.MaxInt64/mult || n < math.MinInt64/mult {
		// The product would wrap, perhaps to a valid but other value.
		return 0, fmt.Errorf("%q times %d is out of range", s, mult)
	}
	return int(n * mult), nil
}
