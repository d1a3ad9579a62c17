//go:build linux

package shm_test

import (
	"testing"

	"github.com/vmkit/vmkit/shm"
)

func TestParseSysVIPC(t *testing.T) {
	const header = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n"
	for name, tc := range map[string]struct {
		in    string
		n     int
		check func(t *testing.T, st []shm.SysVStat)
		bad   bool
	}{
		"empty": {in: header, n: 0},
		"locked-removed": {in: header + "1442852096      32786  3640                 12293 25353 25354      2     0     0     0     0 1795437172          0 1795437170                  4096                     0\n", n: 1,
			check: func(t *testing.T, st []shm.SysVStat) {
				s := st[0]
				if s.Key != 0x56002d00 || s.ID != 32786 || s.Perm != 0o640 || !s.Locked || !s.Removed || s.Size != 12293 ||
					s.CreatorPID != 25353 || s.LastPID != 25354 || s.Attached != 2 || s.Resident != 4096 || !s.DetachTime.IsZero() || s.AttachTime.Unix() != 1795437172 {
					t.Fatalf("%+v", s)
				}
			}},
		"negative-key": {in: header + "-1          5   600 4096 1 1 0 0 0 0 0 0 0 0 0 0\n", n: 1,
			check: func(t *testing.T, st []shm.SysVStat) {
				if st[0].Key != -1 || st[0].Locked {
					t.Fatalf("%+v", st[0])
				}
			}},
		"huge-size": {in: header + "0 1 600 18446744073692774399 1 1 0 0 0 0 0 0 0 0 0 0\n", n: 1,
			check: func(t *testing.T, st []shm.SysVStat) {
				if st[0].Size <= 0 {
					t.Fatalf("size %d", st[0].Size)
				}
			}},
		"short-line": {in: header + "0 1 600\n", bad: true},
		"garbage":    {in: header + "a b c d e f g h i j k l m n o p\n", bad: true},
	} {
		t.Run(name, func(t *testing.T) {
			st, err := shm.ParseSysVIPC([]byte(tc.in))
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed %+v", st)
				}
				return
			}
			if err != nil || len(st) != tc.n {
				t.Fatalf("%d entries, %v", len(st), err)
			}
			if tc.check != nil {
				tc.check(t, st)
			}
		})
	}
}

func FuzzParseSysVIPC(f *testing.F) {
	f.Add([]byte("key shmid\n0 1 600 4096 1 1 0 0 0 0 0 0 0 0 0 0\n"))
	f.Add([]byte("h\n-5 2 3777 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := shm.ParseSysVIPC(data)
		if err == nil {
			for _, s := range st {
				if s.Perm&^0o777 != 0 {
					t.Fatalf("perm %o has more than nine bits", s.Perm)
				}
			}
		}
	})
}
