// Command shm measures the round trip of a 64-byte message between two
// processes, in one run, over five transports:
//
//   - shm+spin: a shared memfd segment (package shm); each side publishes
//     the message and a sequence number, and the other busy-waits on the
//     number. No system call per message. (A side idle for tens of
//     milliseconds, as while the other transports are measured, falls
//     asleep in the futex.)
//   - shm+futex: the same segment, but a side that finds no new message
//     sleeps in futex(2) (shm.Wait) and the sender wakes it (shm.Wake) when
//     it has flagged itself asleep: two system calls and two wake-ups per
//     round trip.
//   - shm+spin/futex: spins a while (-spin iterations), then sleeps: what a
//     real queue does.
//   - pipe: a pair of pipes, read(2) and write(2) on blocking descriptors.
//   - unix: a SOCK_STREAM socketpair, read(2) and write(2) on blocking
//     descriptors.
//   - unix(net.Conn): the same socketpair through net.FileConn, as Go code
//     usually talks to a socket (the runtime's poller parks and wakes the
//     goroutine).
//
// The child is this binary run again, with the descriptors in
// exec.Cmd.ExtraFiles. Every reply is checked against the request, so the
// bytes really cross. Run from the bench module:
//
//	cd bench && go run ./shm
//
// Spinning needs two free cores: on a busy machine the spinning transports
// degrade to the scheduler's time slice. The load average is printed with
// the figures for that reason.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/shm"
)

const (
	msgSize  = 64
	envChild = "VMKIT_BENCH_SHM_CHILD"
	envSpin  = "VMKIT_BENCH_SHM_SPIN"
	envPin   = "VMKIT_BENCH_SHM_PIN"
	// stop is the sequence number that tells a shared-memory child to exit.
	stop = ^uint32(0)
)

// Layout of the shared segment: two channels (request, reply), each on its
// own cache lines so that the two writers never share a line.
//
//	channel: +0 seq, +4 sleepers, +64 message (64 bytes)
const (
	reqOff  = 0
	respOff = 256
)

// spinIdle is the spin budget of shm+spin: far more than a round trip
// (about 2^26 loads, tens of milliseconds), so that no measured message
// ever finds the receiver asleep, yet a child idle while the other
// transports are measured sleeps instead of stealing a core from them.
const spinIdle = 1 << 26

// channel is one direction of a shared-memory transport.
type channel struct {
	seq      *atomic.Uint32 // number of the last message published
	sleepers *atomic.Uint32 // receivers asleep (or about to sleep) on seq
	msg      []byte
}

func channelAt(b []byte, off int) channel {
	seq, err := shm.Word(b, off)
	check(err)
	sl, err := shm.Word(b, off+4)
	check(err)
	return channel{seq: seq, sleepers: sl, msg: b[off+64 : off+64+msgSize]}
}

// send publishes msg as number n and wakes a sleeping receiver.
func (c channel) send(msg []byte, n uint32) {
	copy(c.msg, msg)
	c.seq.Store(n)
	// Store and Load are sequentially consistent: either the receiver sees
	// n before it sleeps, or this Load sees its sleeper count. A receiver
	// that is spinning costs the sender no system call.
	if c.sleepers.Load() != 0 {
		_, err := shm.Wake(c.seq, 1)
		check(err)
	}
}

// recv waits for message number n (or for stop, which only the parent
// sends) and copies it to dst: it spins spin times and then sleeps in the
// futex. It returns the number it saw.
func (c channel) recv(dst []byte, n uint32, spin int) uint32 {
	for range spin {
		if s := c.seq.Load(); s == n || s == stop {
			copy(dst, c.msg)
			return s
		}
	}
	for {
		old := c.seq.Load()
		if old == n || old == stop {
			copy(dst, c.msg)
			return old
		}
		c.sleepers.Add(1)
		// Sleep only if nothing came since old was read; the kernel
		// re-checks the word under its lock, so no wake-up is lost.
		if c.seq.Load() == old {
			check(shm.Wait(c.seq, old, 0))
		}
		c.sleepers.Add(^uint32(0))
	}
}

// transport is one way to move the message; roundTrip sends request n and
// returns when its reply is in reply.
type transport struct {
	name      string
	spin      int // for shared memory: -1 spin only, 0 futex only, >0 both
	shared    bool
	roundTrip func(req, reply []byte, n uint32)
	finish    func()
}

func main() {
	if role := os.Getenv(envChild); role != "" {
		child(role)
		return
	}
	rounds := flag.Int("n", 20000, "round trips per measurement")
	reps := flag.Int("reps", 5, "measurements per transport (median and best reported)")
	warm := flag.Int("warmup", 2000, "round trips before measuring")
	spin := flag.Int("spin", 20000, "spin iterations before sleeping, for shm+spin/futex")
	only := flag.String("only", "", "comma-separated transports to run (default all)")
	pin := flag.Bool("pin", false, "pin parent to CPU 0 and child to CPU 1")
	flag.Parse()
	if *pin {
		pinTo(0)
	}
	runtime.LockOSThread()

	names := []string{"shm+spin", "shm+futex", "shm+spin/futex", "pipe", "unix", "unix(net.Conn)"}
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	type result struct {
		name      string
		med, best float64
	}
	// All children run at once and the measurements interleave, in an order
	// that rotates from one repetition to the next, so that a burst of load
	// from elsewhere on the machine spreads over every transport instead of
	// spoiling one. Idle children sleep (see spinIdle).
	trs := make([]*transport, len(names))
	for i, name := range names {
		trs[i] = start(name, *spin, *pin)
	}
	req := make([]byte, msgSize)
	reply := make([]byte, msgSize)
	seqs := make([]uint32, len(trs))
	run := func(i, k int) {
		tr := trs[i]
		for range k {
			seqs[i]++
			n := seqs[i]
			binary.LittleEndian.PutUint32(req, n)
			req[msgSize-1] = byte(n)
			tr.roundTrip(req, reply, n)
			if binary.LittleEndian.Uint32(reply) != n+1 || reply[msgSize-1] != byte(n) {
				fail(fmt.Errorf("%s: reply %x to request %d", tr.name, reply[:8], n))
			}
		}
	}
	ns := make([][]float64, len(trs))
	for i := range trs {
		run(i, *warm)
	}
	for rep := range *reps {
		for j := range trs {
			i := (j + rep) % len(trs)
			t0 := time.Now()
			run(i, *rounds)
			ns[i] = append(ns[i], float64(time.Since(t0).Nanoseconds())/float64(*rounds))
		}
	}
	var results []result
	for i, tr := range trs {
		tr.finish()
		s := slices.Clone(ns[i])
		slices.Sort(s)
		results = append(results, result{name: tr.name, med: s[len(s)/2], best: s[0]})
	}

	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("ping-pong of a %d-byte message between two processes: %d × %d round trips per transport (after %d warm-up)\n",
		msgSize, *reps, *rounds, *warm)
	fmt.Printf("GOMAXPROCS %d, %d CPUs, pinned %v, load average %s\n", runtime.GOMAXPROCS(0), runtime.NumCPU(), *pin, strings.Join(strings.Fields(string(load))[:3], " "))
	med, best := map[string]float64{}, map[string]float64{}
	for _, r := range results {
		med[r.name], best[r.name] = r.med, r.best
	}
	fmt.Println("ratios: how many times faster than the pipe or the socket, from the medians and (in brackets) from the best runs")
	fmt.Printf("%-16s %14s %10s %18s %18s\n", "transport", "ns/round trip", "best", "vs pipe", "vs unix")
	for _, r := range results {
		ratio := func(base string) string {
			m, okm := med[base]
			b, okb := best[base]
			if !okm || !okb {
				return "-"
			}
			return fmt.Sprintf("%.2fx (%.2fx)", m/r.med, b/r.best)
		}
		fmt.Printf("%-16s %14.0f %10.0f %18s %18s\n", r.name, r.med, r.best, ratio("pipe"), ratio("unix"))
	}
}

// start launches the child for one transport and returns the parent's side.
func start(name string, spin int, pin bool) *transport {
	seg, err := shm.Anonymous(4096, "pingpong")
	check(err)
	m, err := seg.Map(mem.Read | mem.Write)
	check(err)
	// Residency and a lock keep page faults out of the measurement.
	check(m.Lock())
	extra := []*os.File{seg.File()}
	tr := &transport{name: name}
	var closers []io.Closer
	switch name {
	case "shm+spin", "shm+futex", "shm+spin/futex":
		tr.shared = true
		tr.spin = map[string]int{"shm+spin": spinIdle, "shm+futex": 0, "shm+spin/futex": spin}[name]
		req, resp := channelAt(m.Bytes(), reqOff), channelAt(m.Bytes(), respOff)
		tr.roundTrip = func(q, r []byte, n uint32) {
			req.send(q, n)
			resp.recv(r, n, tr.spin)
		}
		tr.finish = func() { req.send(make([]byte, msgSize), stop) }
	case "pipe":
		var p2c, c2p [2]int
		check(unix.Pipe2(p2c[:], unix.O_CLOEXEC))
		check(unix.Pipe2(c2p[:], unix.O_CLOEXEC))
		toChild, fromChild := p2c[1], c2p[0]
		cr, cw := os.NewFile(uintptr(p2c[0]), "p2c-r"), os.NewFile(uintptr(c2p[1]), "c2p-w")
		extra = append(extra, cr, cw)
		closers = append(closers, cr, cw)
		tr.roundTrip = func(q, r []byte, n uint32) {
			writeAll(toChild, q)
			readFull(fromChild, r)
		}
		tr.finish = func() { unix.Close(toChild); unix.Close(fromChild) }
	case "unix", "unix(net.Conn)":
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		check(err)
		cf := os.NewFile(uintptr(sp[1]), "sock-child")
		extra = append(extra, cf, cf)
		closers = append(closers, cf)
		if name == "unix" {
			fd := sp[0]
			tr.roundTrip = func(q, r []byte, n uint32) {
				writeAll(fd, q)
				readFull(fd, r)
			}
			tr.finish = func() { unix.Close(fd) }
		} else {
			pf := os.NewFile(uintptr(sp[0]), "sock-parent")
			c, err := net.FileConn(pf)
			check(err)
			pf.Close()
			tr.roundTrip = func(q, r []byte, n uint32) {
				_, err := c.Write(q)
				check(err)
				_, err = io.ReadFull(c, r)
				check(err)
			}
			tr.finish = func() { c.Close() }
		}
	default:
		fail(fmt.Errorf("unknown transport %q", name))
	}
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envChild+"="+name, envSpin+"="+strconv.Itoa(tr.spin))
	if pin {
		cmd.Env = append(cmd.Env, envPin+"=1")
	}
	cmd.ExtraFiles = extra
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(cmd.Start())
	for _, c := range closers {
		c.Close()
	}
	finish := tr.finish
	tr.finish = func() {
		finish()
		check(cmd.Wait())
		check(seg.Close())
	}
	return tr
}

// child answers each request with the same bytes, the first word plus one.
func child(role string) {
	runtime.LockOSThread()
	if os.Getenv(envPin) != "" {
		pinTo(1)
	}
	seg, err := shm.FromFile(os.NewFile(3, "seg"))
	check(err)
	m, err := seg.Map(mem.Read | mem.Write)
	check(err)
	buf := make([]byte, msgSize)
	answer := func() { binary.LittleEndian.PutUint32(buf, binary.LittleEndian.Uint32(buf)+1) }
	switch role {
	case "shm+spin", "shm+futex", "shm+spin/futex":
		spin, _ := strconv.Atoi(os.Getenv(envSpin))
		req, resp := channelAt(m.Bytes(), reqOff), channelAt(m.Bytes(), respOff)
		for n := uint32(1); ; n++ {
			if req.recv(buf, n, spin) == stop {
				return
			}
			answer()
			resp.send(buf, n)
		}
	case "pipe", "unix":
		rd, wr := 4, 5
		for {
			if !readFull(rd, buf) {
				return
			}
			answer()
			writeAll(wr, buf)
		}
	case "unix(net.Conn)":
		c, err := net.FileConn(os.NewFile(4, "sock"))
		check(err)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			answer()
			_, err := c.Write(buf)
			check(err)
		}
	}
	fail(fmt.Errorf("unknown child role %q", role))
}

func readFull(fd int, b []byte) bool {
	for got := 0; got < len(b); {
		n, err := unix.Read(fd, b[got:])
		if err == unix.EINTR {
			continue
		}
		if n == 0 && err == nil {
			return false
		}
		check(err)
		got += n
	}
	return true
}

func writeAll(fd int, b []byte) {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		check(err)
		b = b[n:]
	}
}

func pinTo(cpu int) {
	var set unix.CPUSet
	set.Set(cpu)
	check(unix.SchedSetaffinity(0, &set))
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/shm:", err)
	os.Exit(1)
}
