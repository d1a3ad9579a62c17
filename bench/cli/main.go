// Command cli benchmarks `vmkit resident`, `evict` and `touch` against the
// tools operators use today, in one run on one tree: util-linux fincore
// (over find | xargs), vmtouch when it is installed, and parallel cat for
// reading.
//
// The tree is 20,000 files of 4–64 KiB in 200 directories plus 8 files of
// 200 MiB (2.37 GB), generated once under -dir, which must be on a real
// disk, not tmpfs. Every measurement is repeated -runs times in rounds that
// interleave the tools, so that drift on a shared machine hits all of them,
// and the medians are compared.
//
//	cd bench && go run ./cli                 # default: -dir /var/tmp/vmkit-bench-tree -runs 5
//	cd bench && go run ./cli -runs 3 -skip-touch
//
// It needs root for nothing but installing vmtouch when it is missing (it
// tries apt-get once and says so when that fails).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	smallFiles = 20000
	perDir     = 100
	bigFiles   = 8
	bigSize    = 200 << 20
	marker     = ".vmkit-bench-tree-v1"
)

func main() {
	dir := flag.String("dir", "/var/tmp/vmkit-bench-tree", "where the tree is generated (a real disk, not tmpfs)")
	runs := flag.Int("runs", 5, "repetitions of every measurement")
	root := flag.String("root", "..", "the vmkit repository, to build cmd/vmkit from")
	skipTouch := flag.Bool("skip-touch", false, "skip the cold-cache touch measurements (the slow part)")
	skipEvict := flag.Bool("skip-evict", false, "skip the evict measurements")
	flag.Parse()
	if err := run(*dir, *root, *runs, *skipTouch, *skipEvict); err != nil {
		fmt.Fprintln(os.Stderr, "bench/cli:", err)
		os.Exit(1)
	}
}

func run(dir, root string, runs int, skipTouch, skipEvict bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return err
	}
	if sfs.Type == unix.TMPFS_MAGIC || sfs.Type == unix.RAMFS_MAGIC {
		return fmt.Errorf("%s is on tmpfs: give -dir on a real disk", dir)
	}
	if err := generate(dir); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "vmkit-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	vmkit := filepath.Join(tmp, "vmkit")
	build := exec.Command("go", "build", "-o", vmkit, "./cmd/vmkit")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build vmkit in %s: %v\n%s", root, err, out)
	}
	vmtouch := findVmtouch()
	if _, err := exec.LookPath("fincore"); err != nil {
		return errors.New("fincore (util-linux) is not installed")
	}
	ncpu := runtime.NumCPU()
	fmt.Printf("tree: %s (%d files of 4-64 KiB + %d x %d MiB), %d CPUs, kernel %s, %d runs, medians\n",
		dir, smallFiles, bigFiles, bigSize>>20, ncpu, kernel(), runs)
	if vmtouch == "" {
		fmt.Println("vmtouch: not installed and apt-get install -y vmtouch failed: its columns are left out")
	}

	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	fincore := "find " + quote(dir) + " -type f -print0 | xargs -0 fincore -b -n -r -o PAGES,FILE > /dev/null"
	cat := func(p int) string {
		return fmt.Sprintf("find %s -type f -print0 | xargs -0 -P %d -n 64 cat > /dev/null", quote(dir), p)
	}
	sh := func(s string) []string { return []string{"sh", "-c", s} }

	// Residency scan, warm metadata.
	scan := []tool{
		{name: "vmkit resident", argv: []string{vmkit, "resident", "-q", dir}},
		{name: "vmkit resident --method=mincore", argv: []string{vmkit, "resident", "-q", "--method=mincore", dir}, info: true},
		{name: "find | xargs fincore", argv: sh(fincore), peer: true},
	}
	if vmtouch != "" {
		scan = append(scan, tool{name: "vmtouch", argv: []string{vmtouch, "-q", dir}, peer: true})
	}
	for _, t := range scan { // warm the dentry and inode caches
		t.time()
	}
	scan = measure(scan, runs, nil)
	report("resident (warm metadata, cache state as found)", scan, 0.3, "time")

	if !skipEvict {
		evict := []tool{{name: "vmkit evict", argv: []string{vmkit, "evict", "-q", dir}}}
		if vmtouch != "" {
			evict = append(evict, tool{name: "vmtouch -e", argv: []string{vmtouch, "-e", "-q", dir}, peer: true})
		}
		warm := func() { exec.Command(vmkit, "touch", "-q", dir).Run() }
		evict = measure(evict, runs, warm)
		report("evict (every page resident before)", evict, 0.5, "time")
	}

	if !skipTouch {
		touch := []tool{
			{name: "vmkit touch", argv: []string{vmkit, "touch", "-q", dir}},
			{name: fmt.Sprintf("cat, xargs -P %d", ncpu), argv: sh(cat(ncpu)), peer: true, group: "cat"},
			{name: fmt.Sprintf("cat, xargs -P %d", 4*ncpu), argv: sh(cat(4 * ncpu)), peer: true, group: "cat"},
		}
		if vmtouch != "" {
			touch = append(touch, tool{name: "vmtouch -t", argv: []string{vmtouch, "-t", "-q", dir}, peer: true, group: "vmtouch"})
		}
		cold := func() { exec.Command(vmkit, "evict", "-q", dir).Run() }
		touch = measure(touch, runs, cold)
		report("touch (cold page cache)", touch, 0, "time")
		bytes := float64(smallBytes(dir) + bigFiles*bigSize)
		fmt.Printf("  throughput: ")
		for _, t := range touch {
			fmt.Printf("%s %.2f GB/s; ", t.name, bytes/t.median().Seconds()/1e9)
		}
		fmt.Println()
		best := func(group string) time.Duration {
			var b time.Duration
			for _, t := range touch {
				if t.group == group && (b == 0 || t.median() < b) {
					b = t.median()
				}
			}
			return b
		}
		v := touch[0].median()
		if c := best("cat"); c > 0 {
			fmt.Printf("  target: throughput >= 0.9x the faster parallel cat: %.2fx -> %s\n", c.Seconds()/v.Seconds(), verdict(c.Seconds()/v.Seconds() >= 0.9))
		}
		if t := best("vmtouch"); t > 0 {
			fmt.Printf("  target: time <= 0.5x vmtouch -t: %.2fx -> %s\n", v.Seconds()/t.Seconds(), verdict(v.Seconds()/t.Seconds() <= 0.5))
		}
	}
	return nil
}

// tool is one command measured.
type tool struct {
	name  string
	argv  []string
	peer  bool   // a tool vmkit is compared with
	info  bool   // shown, not compared
	group string // peers compared as the best of a group
	times []time.Duration
}

func (t *tool) time() (time.Duration, error) {
	cmd := exec.Command(t.argv[0], t.argv[1:]...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s: %v: %s", t.name, err, errb.String())
	}
	return d, nil
}

func (t *tool) median() time.Duration {
	s := slices.Clone(t.times)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// measure runs every tool runs times, in rounds whose order rotates; prep,
// when given, runs untimed before each measurement.
func measure(tools []tool, runs int, prep func()) []tool {
	for r := range runs {
		for i := range tools {
			t := &tools[(i+r)%len(tools)]
			if prep != nil {
				prep()
			}
			d, err := t.time()
			if err != nil {
				fmt.Fprintln(os.Stderr, "  warning:", err)
			}
			t.times = append(t.times, d)
		}
	}
	return tools
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// report prints the medians and the ratio of vmkit (the first tool) to the
// fastest peer, against target when it is not 0.
func report(title string, tools []tool, target float64, _ string) {
	fmt.Printf("\n%s\n", title)
	var fastest time.Duration
	var fastestName string
	for _, t := range tools {
		if t.peer && (fastest == 0 || t.median() < fastest) {
			fastest, fastestName = t.median(), t.name
		}
	}
	for _, t := range tools {
		line := fmt.Sprintf("  %-34s %9.1f ms", t.name, float64(t.median().Microseconds())/1000)
		if fastest > 0 {
			line += fmt.Sprintf("   %.2fx the fastest peer", t.median().Seconds()/fastest.Seconds())
		}
		fmt.Println(line)
	}
	if target > 0 && fastest > 0 {
		r := tools[0].median().Seconds() / fastest.Seconds()
		fmt.Printf("  target: %s <= %.1fx %s: %.2fx -> %s\n", tools[0].name, target, fastestName, r, verdict(r <= target))
	}
}

func kernel() string {
	var u unix.Utsname
	unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}

// findVmtouch returns vmtouch's path, installing it with apt-get once if
// it is missing and this is root.
func findVmtouch() string {
	if p, err := exec.LookPath("vmtouch"); err == nil {
		return p
	}
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("apt-get"); err == nil {
			fmt.Fprintln(os.Stderr, "vmtouch is missing: trying apt-get install -y vmtouch")
			exec.Command("apt-get", "install", "-y", "vmtouch").Run()
		}
	}
	p, _ := exec.LookPath("vmtouch")
	return p
}

// generate makes the tree unless the marker says it is complete.
func generate(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
		return nil
	}
	fmt.Fprintf(os.Stderr, "generating the tree under %s ...\n", dir)
	rng := rand.New(rand.NewPCG(20000, 8))
	data := make([]byte, bigSize/200)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for i := range smallFiles {
		d := filepath.Join(dir, "small", fmt.Sprintf("d%03d", i/perDir))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		n := (4 + rng.IntN(61)) << 10
		off := rng.IntN(len(data) - n)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), data[off:off+n], 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "big"), 0o755); err != nil {
		return err
	}
	for i := range bigFiles {
		f, err := os.Create(filepath.Join(dir, "big", "b"+strconv.Itoa(i)))
		if err != nil {
			return err
		}
		for j := 0; j < bigSize/len(data); j++ {
			data[0], data[1] = byte(i), byte(j)
			if _, err := f.Write(data); err != nil {
				f.Close()
				return err
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, marker), nil, 0o644)
}

// smallBytes is the total size of the small files.
func smallBytes(dir string) int64 {
	var n int64
	filepath.Walk(filepath.Join(dir, "small"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
