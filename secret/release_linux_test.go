package secret_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/secret"
)

// When secrets go, the pages they emptied are unlocked: after 300 secrets
// of mixed sizes are destroyed, VmLck is back within the few empty pages
// kept warm for the next secrets (secret.MaxIdlePages), where it used to
// stay about 1 MiB above until Purge. The released pages are wiped,
// unlocked, PROT_NONE (guards, still dump-excluded and wiped on fork), and
// locked again when they are reused.
func TestEmptyPagesUnlocked(t *testing.T) {
	must(t, secret.Purge())
	ps := int64(mem.PageSize())
	vmlck := func() int64 { n, err := mem.Locked(); must(t, err); return n }
	base := vmlck()
	budget := int64(secret.MaxIdlePages) * ps
	r := rand.New(rand.NewPCG(3, 300))
	for round := range 2 { // the second round reuses the released pages
		var bufs []*secret.Buffer
		var where []uintptr
		for range 300 {
			b, err := secret.NewRandom(1 + r.IntN(secret.MaxPacked()))
			must(t, err)
			if !b.Locked() || !b.Packed() {
				t.Fatalf("%v: not locked or not packed", b)
			}
			bufs = append(bufs, b)
			where = append(where, addr(b.Bytes()))
		}
		peak, s := vmlck()-base, secret.Stats()
		for _, a := range where {
			if v := vmaAt(t, a); !v.has("lo", "dd", "wf") || v.perms != "rw-p" {
				t.Fatalf("round %d: a live secret's page: %v", round, v)
			}
		}
		for _, b := range bufs {
			must(t, b.Destroy())
		}
		after, sa := vmlck()-base, secret.Stats()
		t.Logf("round %d: 300 secrets: VmLck +%s (Stats.Locked %s); destroyed: VmLck +%s (Stats.Locked %s)",
			round, mem.FormatBytes(peak), mem.FormatBytes(s.Locked), mem.FormatBytes(after), mem.FormatBytes(sa.Locked))
		if peak < 64*ps || s.Locked != peak {
			t.Fatalf("round %d: 300 secrets locked only %d bytes (Stats.Locked %d)", round, peak, s.Locked)
		}
		if after > budget || sa.Locked != after {
			t.Fatalf("round %d: after Destroy VmLck is %d bytes above where it was (Stats.Locked %d); want at most %d", round, after, sa.Locked, budget)
		}
		// The pages left locked are the warm ones; every other page that
		// held a secret is unlocked, sealed and all zeros (no canary, no
		// secret), and keeps its dump and fork exclusions.
		mf, err := os.Open("/proc/self/mem")
		must(t, err)
		warm := map[uintptr]bool{}
		for _, a := range where {
			page := a &^ uintptr(ps-1)
			v := vmaAt(t, a)
			if v.has("lo") {
				warm[page] = true
				continue
			}
			if v.perms != "---p" || !v.has("dd", "wf") {
				t.Fatalf("round %d: a released page: %v", round, v)
			}
			buf := make([]byte, ps)
			if _, err := mf.ReadAt(buf, int64(page)); err != nil {
				t.Fatal(err)
			}
			for i, c := range buf {
				if c != 0 {
					t.Fatalf("round %d: released page %#x holds %#x at %d", round, page, c, i)
				}
			}
		}
		mf.Close()
		if int64(len(warm)) > int64(secret.MaxIdlePages) {
			t.Fatalf("round %d: %d pages stay locked", round, len(warm))
		}
	}
	must(t, secret.Purge())
	if after := vmlck() - base; after != 0 {
		t.Fatalf("after Purge VmLck is %d bytes above", after)
	}
}

// A released page is a guard: an access from a neighbouring secret into
// it faults, and With reports a *GuardError naming it.
func TestReleasedPageIsGuard(t *testing.T) {
	must(t, secret.Purge())
	ps := uintptr(mem.PageSize())
	n := secret.MaxPacked() // one secret per page, pages in order
	var bufs []*secret.Buffer
	for range secret.MaxIdlePages + 3 {
		bufs = append(bufs, mustNew(t, secret.Options{}, n))
	}
	for i, b := range bufs {
		if i > 0 && addr(b.Bytes()) != addr(bufs[i-1].Bytes())+ps {
			t.Fatalf("secret %d is not on the page after secret %d", i, i-1)
		}
	}
	// The first MaxIdlePages pages emptied stay warm; the next one is
	// released. The secret after it is left with a guard in front.
	last := len(bufs) - 1
	for _, b := range bufs[:last] {
		must(t, b.Destroy())
	}
	released := addr(bufs[last].Bytes())&^(ps-1) - ps
	if v := vmaAt(t, released); v.perms != "---p" || v.has("lo") {
		t.Fatalf("the page before the last secret: %v", v)
	}
	err := bufs[last].With(func(p []byte) error { flip(p, -17); return nil }) // the canary, then the page before
	var ge *secret.GuardError
	if !errors.As(err, &ge) || ge.Guard != released || ge.Rear {
		t.Fatalf("an underflow into the released page: %v", err)
	}
	t.Log(err)
	must(t, bufs[last].Destroy())
}
