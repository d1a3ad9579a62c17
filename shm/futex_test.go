//go:build linux

package shm_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

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
