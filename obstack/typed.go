package obstack

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"
)

// Make allocates a slice of n zeroed values of type T in o, aligned for T.
// T must hold no Go pointers: no pointer, string, slice, map, channel,
// function, interface or unsafe.Pointer, at any depth of its fields and
// array elements. The garbage collector does not scan obstack memory, so a
// Go pointer stored there would not keep its target alive. Make returns an
// error matching ErrPointers for such a T, naming the field at fault; each
// type is examined once per process.
//
// The slice is an object of the obstack like any other: FreeSlice frees it
// and everything allocated after it.
func Make[T any](o *Obstack, n int) ([]T, error) {
	if err := o.checkType(reflect.TypeFor[T]()); err != nil {
		return nil, err
	}
	var zero T
	size, align := unsafe.Sizeof(zero), unsafe.Alignof(zero)
	if n < 0 || size > 0 && uintptr(n) > maxObject/size {
		return nil, &Error{Op: "Make", Err: ErrSize, Detail: fmt.Sprintf("%d values of %d bytes: want 0 up to %d bytes", n, size, maxObject)}
	}
	var b []byte
	var err error
	if align-1 <= o.mask {
		b, err = o.Alloc(int(size) * n)
	} else {
		b, err = o.allocSlow("Make", int(size)*n, align-1)
	}
	if err != nil {
		return nil, err
	}
	clear(b)
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n), nil
}

// FreeSlice frees s, which Make returned, and everything allocated after it;
// see Free. A nil s is an error, not Free(nil): call o.Free(nil) to free
// everything.
func FreeSlice[T any](o *Obstack, s []T) error {
	if err := o.checkType(reflect.TypeFor[T]()); err != nil {
		return err
	}
	if s == nil {
		return &Error{Op: "FreeSlice", Err: ErrNotAllocated, Detail: "the slice is nil; to free everything call Free(nil)"}
	}
	var zero T
	return o.free("FreeSlice", uintptr(unsafe.Pointer(unsafe.SliceData(s))), uintptr(len(s))*unsafe.Sizeof(zero))
}

// checkType returns nil if t holds no Go pointers. The obstack remembers the
// last type it accepted, and the package every type it examined.
func (o *Obstack) checkType(t reflect.Type) error {
	if t == o.okType {
		return nil
	}
	err := pointerFree(t)
	if err == nil {
		o.okType = t
	}
	return err
}

// checked maps a reflect.Type to the error of pointerFree (nil for a
// pointer-free type).
var checked sync.Map

func pointerFree(t reflect.Type) error {
	if v, ok := checked.Load(t); ok {
		if v == nil {
			return nil
		}
		return v.(error)
	}
	var err error
	if where, kind, found := findPointer(t, ""); found {
		at := ""
		if where != "" {
			at = " in " + where
		}
		err = &Error{Op: "type check", Err: ErrPointers, Detail: fmt.Sprintf(
			"type %v holds a Go pointer (%s%s): the garbage collector does not scan obstack memory, so what it points to could be freed while still in use; use a pointer-free type (indices or uintptr offsets instead of pointers, fixed-size byte arrays instead of strings)",
			t, kind, at)}
	}
	checked.Store(t, err)
	return err
}

// findPointer looks for a Go pointer in t and returns the path to it (such
// as "field Next" or "field Items, element") and the kind found.
func findPointer(t reflect.Type, path string) (string, string, bool) {
	switch t.Kind() {
	case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Chan,
		reflect.Func, reflect.Interface, reflect.UnsafePointer:
		return path, t.String(), true
	case reflect.Array:
		if t.Len() == 0 {
			return "", "", false
		}
		return findPointer(t.Elem(), join(path, "array element"))
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if w, k, ok := findPointer(f.Type, join(path, "field "+f.Name)); ok {
				return w, k, true
			}
		}
	}
	return "", "", false
}

func join(path, s string) string {
	if path == "" {
		return s
	}
	return path + ", " + s
}
