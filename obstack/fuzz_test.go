package obstack_test

import (
	"encoding/binary"
	"testing"
)

// FuzzOps runs the model of model_test.go on operation sequences the fuzzer
// chooses. The first bytes choose the chunk source, chunk size and
// alignment; every later value comes from the data, and the run ends when
// the data does. It fails when the obstack disagrees with the model or
// panics, and at the end checks that every chunk went back to the source.
//
//	go test -fuzz FuzzOps -fuzztime 60s ./obstack
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte{1, 1, 2, 3, 10, 10, 10, 13, 14, 14, 16, 2, 2, 7, 9})
	f.Add([]byte("\x02\x03\x04\x05the quick brown fox jumps over the lazy dog, again and again"))
	f.Add(binary.LittleEndian.AppendUint64([]byte{3, 0, 5, 1}, 0xfedcba9876543210))
	f.Add([]byte{0, 2, 0, 15, 16, 15, 16, 12, 12, 12, 18, 19, 19, 7, 7, 8, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 4 {
			return
		}
		i := 4
		rnd := func() int {
			if i >= len(data) {
				return 0
			}
			v := int(data[i])
			if i+1 < len(data) && data[i]&0x80 != 0 { // two-byte values now and then
				v = v<<8 | int(data[i+1])
				i++
			}
			i++
			return v
		}
		sizes := []int{1, 7, 64, 100, 4096}
		m := newModel(t, rnd, data[0]%4 == 0, sizes[int(data[1])%len(sizes)], 1<<(data[2]%7))
		for steps := 0; i < len(data) && steps < 2000; steps++ {
			m.step(rnd())
			m.verify()
		}
		m.finish()
	})
}
