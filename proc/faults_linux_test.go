package proc_test

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/proc"
)

const pages = 256

// freshPages maps pages anonymous pages with huge pages (and multi-size
// THP) disabled, so that each first touch is exactly one fault.
func freshPages(t *testing.T) []byte {
	t.Helper()
	b := mmap(t, pages*os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, 0)
	if err := unix.Madvise(b, unix.MADV_NOHUGEPAGE); err != nil {
		t.Fatal(err)
	}
	return b
}

func touch(b []byte) {
	for i := 0; i < len(b); i += os.Getpagesize() {
		b[i] = 1
	}
}

func faults(t *testing.T) proc.PageFaults {
	t.Helper()
	f, err := proc.Faults()
	if err != nil {
		t.Fatal(err)
	}
	if f.Minor < f.ThreadMinor || f.Major < f.ThreadMajor {
		t.Errorf("thread counts exceed the process's: %+v", f)
	}
	return f
}

func TestFaultsTouch(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b := freshPages(t)

	before := faults(t)
	touch(b)
	first := faults(t).Sub(before)
	if first.ThreadMinor < pages || first.Minor < pages {
		t.Errorf("touching %d fresh pages: %+v, want ThreadMinor and Minor >= %d", pages, first, pages)
	}

	before = faults(t)
	touch(b)
	again := faults(t).Sub(before)
	if again.ThreadMinor >= pages/4 {
		t.Errorf("touching %d resident pages again took %d faults", pages, again.ThreadMinor)
	}
}

// TestFaultsOtherThread shows that RUSAGE_THREAD counts only the calling
// thread, while RUSAGE_SELF counts them all.
func TestFaultsOtherThread(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b := freshPages(t)

	before := faults(t)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // any thread but ours, which is locked
		defer runtime.UnlockOSThread()
		touch(b)
		close(done)
	}()
	<-done
	d := faults(t).Sub(before)
	if d.Minor < pages || d.ThreadMinor >= pages/4 {
		t.Errorf("another thread touched %d pages: %+v, want Minor >= %[1]d and ThreadMinor small", pages, d)
	}
}

func TestFaultsSub(t *testing.T) {
	tests := map[string]struct{ a, b, want proc.PageFaults }{
		"zero":     {},
		"same":     {a: proc.PageFaults{1, 2, 3, 4}, b: proc.PageFaults{1, 2, 3, 4}},
		"delta":    {a: proc.PageFaults{10, 20, 30, 40}, b: proc.PageFaults{1, 2, 3, 4}, want: proc.PageFaults{9, 18, 27, 36}},
		"negative": {a: proc.PageFaults{}, b: proc.PageFaults{1, 2, 3, 4}, want: proc.PageFaults{-1, -2, -3, -4}},
	}
	for name, tt := range tests {
		if got := tt.a.Sub(tt.b); got != tt.want {
			t.Errorf("%s: %+v.Sub(%+v) = %+v, want %+v", name, tt.a, tt.b, got, tt.want)
		}
	}
}

func TestFaultsOfSelf(t *testing.T) {
	for name, pid := range map[string]int{"pid 0": 0, "own pid": os.Getpid()} {
		t.Run(name, func(t *testing.T) {
			f := faults(t)
			g, err := proc.FaultsOf(pid)
			if err != nil {
				t.Fatal(err)
			}
			// Both count every thread; /proc was read second.
			if g.Minor < f.Minor || g.Major < f.Major {
				t.Errorf("FaultsOf %+v < Faults %+v", g, f)
			}
			if g.Minor-f.Minor > 1000 {
				t.Errorf("FaultsOf %d minor faults, Faults %d just before", g.Minor, f.Minor)
			}
			if g.ThreadMinor != 0 || g.ThreadMajor != 0 {
				t.Errorf("FaultsOf set thread counts: %+v", g)
			}
		})
	}
}

func TestFaultsOfChild(t *testing.T) {
	cmd := startSleep(t)
	f, err := proc.FaultsOf(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if f.Minor <= 0 {
		t.Errorf("a freshly exec'd sleep has %d minor faults", f.Minor)
	}
	s, err := proc.StatOf(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if s.Comm != "sleep" || s.Pid != cmd.Process.Pid || s.PPid != os.Getpid() || s.MinFlt < f.Minor ||
		s.NumThreads != 1 || s.VSize <= 0 || s.RssPages <= 0 {
		t.Errorf("StatOf(sleep) = %+v", s)
	}
	if _, err := proc.FaultsOf(deadPid(t)); !isNotExist(err) {
		t.Errorf("FaultsOf(dead) = %v, want fs.ErrNotExist", err)
	}
}
