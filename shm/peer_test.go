//go:build linux

package shm_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vmkit/vmkit/internal/procfs"
	"github.com/vmkit/vmkit/internal/testchild"
	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/shm"
	"golang.org/x/sys/unix"
)

// The "segment" role is a child that holds one Segment and one mapping of
// it and obeys the parent's commands, one per line:
//
//	open NAME ro|rw     shm.Open an existing POSIX segment
//	fd                  shm.FromFile on the inherited descriptor 3
//	map r|rw            Map the segment
//	check SEED          compare the mapping with pattern(SEED)
//	write SEED          fill the mapping with pattern(SEED)
//	size | seals        report Size or Seals
//	checkseals S1|S2    CheckSeals
//	truncate N          Truncate
//	pwrite              WriteAt one byte, through the file
//	lock | unlock       mlock / munlock the mapping
//	vmlck | resident    report VmLck and the resident page count
//	wait OFF VAL        futex-wait on the word at OFF while it holds VAL
//	store OFF VAL       store VAL in the word at OFF and wake its waiters
func init() {
	testchild.Register("segment", func() int {
		var seg *shm.Segment
		var m *mem.Mapping
		return serve(func(line string) (string, error) {
			f := strings.Fields(line)
			if len(f) == 0 {
				return "", errors.New("empty command")
			}
			arg := func(i int) string {
				if i < len(f) {
					return f[i]
				}
				return ""
			}
			num := func(i int) uint64 { n, _ := strconv.ParseUint(arg(i), 0, 64); return n }
			needMap := func() error {
				if m == nil {
					return errors.New("not mapped")
				}
				return nil
			}
			var err error
			switch f[0] {
			case "open":
				fl := shm.OpenFlags(0)
				if arg(2) == "ro" {
					fl = shm.ReadOnly
				}
				seg, err = shm.Open(arg(1), 0, fl, 0)
				return "ok", err
			case "fd":
				seg, err = shm.FromFile(os.NewFile(3, "inherited"))
				if err != nil {
					return "", err
				}
				return "ok " + seg.Name(), nil
			case "map":
				p := mem.Read
				if arg(1) == "rw" {
					p |= mem.Write
				}
				m, err = seg.Map(p)
				return "ok", err
			case "check":
				if err := needMap(); err != nil {
					return "", err
				}
				if i := checkPattern(m.Bytes(), num(1)); i >= 0 {
					return fmt.Sprintf("mismatch at %d", i), nil
				}
				return "ok", nil
			case "write":
				if err := needMap(); err != nil {
					return "", err
				}
				pattern(m.Bytes(), num(1))
				return "ok", nil
			case "size":
				n, err := seg.Size()
				return strconv.FormatInt(n, 10), err
			case "seals":
				s, err := seg.Seals()
				return s.String(), err
			case "checkseals":
				var need shm.SealFlags
				for _, n := range strings.Split(arg(1), "|") {
					need |= map[string]shm.SealFlags{"shrink": shm.SealShrink, "grow": shm.SealGrow, "write": shm.SealWrite, "future-write": shm.SealFutureWrite, "seal": shm.SealSeal}[n]
				}
				return "ok", seg.CheckSeals(need)
			case "truncate":
				return "ok", seg.Truncate(int64(num(1)))
			case "pwrite":
				_, err := seg.WriteAt([]byte{1}, 0)
				return "ok", err
			case "lock":
				if err := needMap(); err != nil {
					return "", err
				}
				return "ok", m.Lock()
			case "unlock":
				if err := needMap(); err != nil {
					return "", err
				}
				return "ok", m.Unlock()
			case "vmlck":
				v, err := procfs.StatusBytes(0, "VmLck")
				if err != nil {
					return "", err
				}
				return strconv.FormatInt(v[0], 10), nil
			case "resident":
				if err := needMap(); err != nil {
					return "", err
				}
				r, err := m.Resident()
				return strconv.Itoa(r.Count()), err
			case "wait":
				if err := needMap(); err != nil {
					return "", err
				}
				w, err := shm.Word(m.Bytes(), int(num(1)))
				if err != nil {
					return "", err
				}
				val := uint32(num(2))
				deadline := time.Now().Add(10 * time.Second)
				for w.Load() == val {
					if err := shm.Wait(w, val, time.Until(deadline)); err != nil {
						return "", err
					}
				}
				return "ok " + strconv.FormatUint(uint64(w.Load()), 10), nil
			case "store":
				if err := needMap(); err != nil {
					return "", err
				}
				w, err := shm.Word(m.Bytes(), int(num(1)))
				if err != nil {
					return "", err
				}
				w.Store(uint32(num(2)))
				n, err := shm.Wake(w, 1)
				return "ok " + strconv.Itoa(n), err
			}
			return "", fmt.Errorf("unknown command %q", line)
		})
	})
}

// errnoOf names the errno an error wraps, for messages and checks.
func errnoOf(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	if err == nil {
		return "none"
	}
	return "?"
}
