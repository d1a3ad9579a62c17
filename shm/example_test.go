//go:build linux

package shm_test

import (
	"fmt"
	"os"

	"github.com/vmkit/vmkit/mem"
	"github.com/vmkit/vmkit/shm"
)

// Two processes that know a name share a POSIX segment; here both sides
// are in one process for brevity.
func ExampleOpen() {
	name := fmt.Sprintf("/vmkit-example-%d", os.Getpid())
	w, err := shm.Open(name, 4096, shm.Create|shm.Exclusive, 0o600)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)
	defer w.Close()
	wm, _ := w.Map(mem.Read | mem.Write)
	copy(wm.Bytes(), "hello")

	r, err := shm.Open(name, 0, shm.ReadOnly, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	rm, _ := r.Map(mem.Read)
	fmt.Println(string(rm.Bytes()[:5]))
	// Output: hello
}

// The sealed hand-over: fill, seal, give the file to a child in
// exec.Cmd.ExtraFiles, where FromFile and CheckSeals let it trust the size
// and contents.
func ExampleSegment_Seal() {
	seg, err := shm.Anonymous(4096, "config")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Close()
	seg.WriteAt([]byte("frozen"), 0) // no writable mapping, so SealWrite can follow
	if err := seg.Seal(shm.SealShrink | shm.SealGrow | shm.SealWrite | shm.SealSeal); err != nil {
		fmt.Println(err)
		return
	}
	// cmd.ExtraFiles = []*os.File{seg.File()}; in the child:
	//	seg, err := shm.FromFile(os.NewFile(3, "config"))
	fmt.Println(seg.CheckSeals(shm.SealShrink | shm.SealWrite))
	_, err = seg.Map(mem.Read | mem.Write)
	fmt.Println(err != nil)
	// Output:
	// <nil>
	// true
}

// A System V segment outlives its processes: remove it.
func ExampleSysV() {
	s, err := shm.SysV(shm.Private, 8192, shm.SysVCreate|0o600)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Remove()
	m, err := s.Attach(mem.Read | mem.Write)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Detach()
	s.Lock() // SHM_LOCK: pages stay once touched; none is touched yet
	r, _ := m.Resident()
	st, _ := s.Stat()
	fmt.Println(r.Count(), st.Attached, st.Locked)
	// Output: 0 1 true
}
