package obstack_test

import (
	"fmt"
	"strings"

	"github.com/vmkit/vmkit/obstack"
)

// The seed's copystring: a NUL-terminated copy of a string in the obstack,
// by Alloc and copy as in C, and by Copy0, which does both.
func Example_copystring() {
	stringObstack, err := obstack.New(obstack.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stringObstack.Release()

	copystring := func(s string) []byte {
		b, err := stringObstack.Alloc(len(s) + 1)
		if err != nil {
			panic(err)
		}
		copy(b, s)
		b[len(s)] = 0
		return b
	}
	a := copystring("hello")
	b, _ := stringObstack.Copy0([]byte("obstack"))
	fmt.Printf("%q %q\n", a, b)
	// Output: "hello\x00" "obstack\x00"
}

// A growing object: pieces are added at the top of the obstack with Grow
// and Byte, and Finish returns the whole. Nothing else may be allocated
// meanwhile, and the object may move to a bigger chunk as it grows, so its
// address (Base) is known for sure only after Finish.
func Example_growing() {
	o, _ := obstack.New(obstack.Options{})
	defer o.Release()

	words := []string{"obstacks", "grow", "objects", "in", "place"}
	for i, w := range words {
		if i > 0 {
			o.Byte(' ')
		}
		o.Grow([]byte(w))
	}
	fmt.Println(o.ObjectSize())
	_, err := o.Copy([]byte("not now"))
	fmt.Println(err != nil)
	sentence := o.Finish()
	fmt.Printf("%s\n", sentence)
	// Output:
	// 30
	// true
	// obstacks grow objects in place
}

// The GNU manual's add_string: add bytes with the unchecked-looking fast
// variant as long as Room() says they fit, and with Byte, which may move
// the object to a new chunk, when it does not.
func Example_fastGrowing() {
	o, _ := obstack.New(obstack.Options{ChunkSize: 64})
	defer o.Release()

	addString := func(s string) {
		for len(s) > 0 {
			room := o.Room()
			if room == 0 {
				o.Byte(s[0]) // not enough room: one byte the slow way
				s = s[1:]
				continue
			}
			room = min(room, len(s))
			for i := range room {
				o.ByteFast(s[i])
			}
			s = s[room:]
		}
	}
	for range 10 {
		addString("twelve bytes")
	}
	b := o.Finish()
	fmt.Println(len(b), strings.Count(string(b), "twelve"))
	// Output: 120 10
}

// Free frees an object and everything allocated after it. An empty object
// makes a mark to return to.
func ExampleObstack_Free() {
	o, _ := obstack.New(obstack.Options{})
	defer o.Release()

	keep, _ := o.Copy([]byte("kept"))
	mark, _ := o.Alloc(0)
	for i := range 1000 {
		o.Copy([]byte(fmt.Sprint("temporary ", i)))
	}
	if err := o.Free(mark); err != nil {
		fmt.Println(err)
	}
	fmt.Printf("%s %v\n", keep, o.NextFree() == o.Base())

	// An address the obstack does not hold is an error.
	err := o.Free([]byte("Go heap"))
	fmt.Println(strings.Contains(err.Error(), "not in any of the 1 chunks"))
	// Output:
	// kept true
	// true
}

// Make allocates typed values that hold no Go pointers.
func ExampleMake() {
	o, _ := obstack.New(obstack.Options{})
	defer o.Release()

	type point struct{ X, Y float64 }
	pts, _ := obstack.Make[point](o, 3)
	pts[2] = point{1.5, -2}
	fmt.Println(pts)

	type named struct{ Name string }
	_, err := obstack.Make[named](o, 1)
	fmt.Println(err != nil)
	// Output:
	// [{0 0} {0 0} {1.5 -2}]
	// true
}

// A chunk source of the caller's: here it counts the chunks. ChunkFree gets
// back every chunk, at the latest at Release.
func ExampleOptions_chunkSource() {
	out := 0
	o, _ := obstack.New(obstack.Options{
		ChunkSize:  256,
		ChunkAlloc: func(n int) ([]byte, error) { out++; return make([]byte, n), nil },
		ChunkFree:  func([]byte) { out-- },
	})
	for range 100 {
		o.Copy(make([]byte, 40))
	}
	fmt.Println(out > 1)
	o.Release()
	fmt.Println(out)
	// Output:
	// true
	// 0
}

// A parser's error messages built in place with Printf (GNU's
// obstack_printf): the obstack is an io.Writer on its growing object.
func ExampleObstack_Printf() {
	o, _ := obstack.New(obstack.Options{})
	defer o.Release()

	mark, _ := o.Alloc(0)
	for _, tok := range []struct {
		line int
		text string
	}{{3, "}"}, {7, "else"}} {
		o.Printf("line %d: unexpected %q\n", tok.line, tok.text)
	}
	fmt.Fprintf(o, "%d errors", 2) // any io.Writer user appends too
	msg := o.Finish()
	fmt.Println(string(msg))
	o.Free(mark)
	fmt.Println(o.Empty())
	// Output:
	// line 3: unexpected "}"
	// line 7: unexpected "else"
	// 2 errors
	// true
}
