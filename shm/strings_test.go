//go:build linux

package shm_test

import (
	"testing"

	"github.com/vmkit/vmkit/shm"
)

func TestFlagStrings(t *testing.T) {
	for name, tc := range map[string]struct{ got, want string }{
		"open-zero":   {shm.OpenFlags(0).String(), "open"},
		"open-all":    {(shm.Create | shm.Exclusive | shm.ReadOnly | shm.Truncate).String(), "create|exclusive|readonly|truncate"},
		"open-bad":    {shm.OpenFlags(1 << 7).String(), "0x80"},
		"seal-none":   {shm.SealFlags(0).String(), "none"},
		"seal-some":   {(shm.SealShrink | shm.SealWrite | shm.SealFutureWrite).String(), "shrink|write|future-write"},
		"sysv-perm":   {shm.SysVFlags(0o600).String(), "0600"},
		"sysv-create": {(shm.SysVCreate | shm.SysVExclusive | 0o640).String(), "create|exclusive|0640"},
		"sysv-bad":    {(shm.SysVCreate | 1<<20).String(), "create|0x100000|0000"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", name, tc.got, tc.want)
		}
	}
}
