//go:build linux

package shm_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/shm"
)

// Wait and Wake across processes: each side sleeps in the kernel on a word
// of a shared memfd and is woken by the other process. Wake's count proves
// the waiter was asleep in the futex, not spinning.
func TestFutexAcrossProcesses(t *testing.T) {
	seg, err := shm.Anonymous(4096, "futex")
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	m, err := seg.Map(mem.Read | mem.Write)
	if err != nil {
		t.Fatal(err)
	}
	child := startPeer(t, "segment", nil, []*os.File{seg.File()})
	child.do("fd")
	child.do("map rw")
	w0, _ := shm.Word(m.Bytes(), 0)
	w4, _ := shm.Word(m.Bytes(), 4)

	// The child sleeps on word 0 until it leaves 0.
	if _, err := fmt.Fprintln(child.in, "wait 0 0"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let it reach the futex
	w0.Store(5)
	n, err := shm.Wake(w0, 1)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := child.out.ReadString('\n')
	if err != nil || strings.TrimSpace(ans) != "ok 5" {
		t.Fatalf("child's wait: %q, %v", ans, err)
	}
	if n != 1 {
		t.Fatalf("Wake woke %d waiters, want the sleeping child", n)
	}

	// The parent sleeps on word 4; the child wakes it.
	done := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for w4.Load() == 0 {
			if err := shm.Wait(w4, 0, time.Until(deadline)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	time.Sleep(200 * time.Millisecond)
	if got := child.do("store 4 7"); got != "ok 1" {
		t.Fatalf("child's store and wake: %q, want one waiter woken", got)
	}
	if err := <-done; err != nil || w4.Load() != 7 {
		t.Fatalf("parent's wait: %v, word %d", err, w4.Load())
	}
	child.wait()
}

func TestWaitTimesOut(t *testing.T) {
	seg, err := shm.Anonymous(4096, "timeout")
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	m, _ := seg.Map(mem.Read | mem.Write)
	w, _ := shm.Word(m.Bytes(), 8)
	start := time.Now()
	err = shm.Wait(w, 0, 50*time.Millisecond)
	if !errors.Is(err, shm.ErrTimeout) || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("Wait: %v after %v", err, time.Since(start))
	}
	// A word that does not hold val returns at once.
	w.Store(1)
	start = time.Now()
	if err := shm.Wait(w, 0, 10*time.Second); err != nil || time.Since(start) > time.Second {
		t.Fatalf("Wait on a changed word: %v after %v", err, time.Since(start))
	}
	if n, err := shm.Wake(w, 1); err != nil || n != 0 {
		t.Fatalf("Wake with no waiter: %d, %v", n, err)
	}
}

// A signal that interrupts a timed Wait does not end it: Linux returns
// EINTR from a timed FUTEX_WAIT whenever a handler runs (SA_RESTART does not
// restart it), and Wait used to report that as a wake-up, so that a caller
// looping on the word started the whole timeout again after every signal.
// Here a goroutine sends SIGURG (which the Go runtime handles and ignores)
// to the waiting thread every millisecond: Wait must still sleep until its
// deadline, and not much longer.
func TestWaitTimeoutSurvivesSignals(t *testing.T) {
	w := anonWord(t, "eintr")

	const timeout = 150 * time.Millisecond
	tids := make(chan int)
	type result struct {
		err     error
		elapsed time.Duration
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread() // the signals go to this thread
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		start := time.Now()
		err := shm.Wait(w, 0, timeout)
		done <- result{err, time.Since(start)}
	}()
	tid := <-tids
	sent := 0
	var res result
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case res = <-done:
			break loop
		case <-tick.C:
			if err := unix.Tgkill(os.Getpid(), tid, unix.SIGURG); err != nil {
				t.Fatalf("tgkill: %v", err)
			}
			sent++
		}
	}
	t.Logf("Wait(%v) with %d signals sent: %v after %v", timeout, sent, res.err, res.elapsed)
	if !errors.Is(res.err, shm.ErrTimeout) {
		t.Fatalf("Wait returned %v after %v and %d signals; want ErrTimeout after %v", res.err, res.elapsed, sent, timeout)
	}
	if res.elapsed < timeout || res.elapsed > timeout+time.Second {
		t.Fatalf("Wait(%v) took %v", timeout, res.elapsed)
	}
	if sent < 10 {
		t.Fatalf("only %d signals sent during the wait: the test proves nothing", sent)
	}
}

// Wake(w, n) with n above the kernel's int (math.MaxInt, the natural "wake
// them all") must wake every waiter: futex(2) reads n as a 32-bit int, and
// math.MaxInt truncated to it is -1, and 1<<32 is 0, each of which wakes
// one.
func TestWakeAllWithMaxInt(t *testing.T) {
	w := anonWord(t, "wakeall")
	ns := []int{math.MaxInt}
	if strconv.IntSize == 64 {
		one := uint64(1)
		big := int(one << 32)
		ns = append(ns, big, big>>1) // 1<<31 arrives as MinInt32: wakes one too
	}
	for _, n := range ns {
		w.Store(0)
		const waiters = 3
		done := make(chan error, waiters)
		for range waiters {
			go func() { done <- shm.Wait(w, 0, 3*time.Second) }()
		}
		time.Sleep(200 * time.Millisecond) // let them reach the futex
		w.Store(1)
		woke, err := shm.Wake(w, n)
		if err != nil {
			t.Fatal(err)
		}
		for range waiters {
			if err := <-done; err != nil {
				t.Errorf("Wake(w, %d): a waiter was not woken: %v", n, err)
			}
		}
		if woke != waiters {
			t.Errorf("Wake(w, %d) woke %d waiters, want %d", n, woke, waiters)
		}
	}
}

// A timeout of 68 years or more is a long wait, not an error: on 32-bit
// systems the timespec's seconds wrapped to a negative number, and Wait
// returned EINVAL at once with a hint about alignment.
func TestWaitVeryLongTimeout(t *testing.T) {
	w := anonWord(t, "long")
	for _, years := range []time.Duration{70, 200, 292} {
		d := years * 365 * 24 * time.Hour
		done := make(chan error, 1)
		go func() { done <- shm.Wait(w, 0, d) }()
		select {
		case err := <-done:
			t.Fatalf("Wait with a timeout of %d years returned at once: %v", years, err)
		case <-time.After(200 * time.Millisecond):
		}
		w.Store(1)
		if _, err := shm.Wake(w, 1); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("woken: %v", err)
		}
		w.Store(0)
	}
}

// anonWord maps a page of a new anonymous segment for the test and returns
// its first word; the segment is closed when the test ends.
func anonWord(t *testing.T, name string) *atomic.Uint32 {
	t.Helper()
	seg, err := shm.Anonymous(4096, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	m, err := seg.Map(mem.Read | mem.Write)
	if err != nil {
		t.Fatal(err)
	}
	w, err := shm.Word(m.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
