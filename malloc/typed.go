package malloc

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"
)

// typeOK caches, per type, the verdict of pointerFree.
var typeOK sync.Map // reflect.Type -> error (nil entries stored as okType)

type okType struct{}

// checkType refuses T if it holds Go pointers, walking the type once and
// caching the answer.
func checkType[T any]() error {
	t := reflect.TypeFor[T]()
	if v, ok := typeOK.Load(t); ok {
		if e, isErr := v.(error); isErr {
			return e
		}
		return nil
	}
	var res any = okType{}
	if path := pointerPath(t, t.String()); path != "" {
		res = &opError{msg: fmt.Sprintf("type %v holds a Go pointer at %s; the garbage collector does not scan memory from this package, so keep such values on the Go heap", t, path), err: ErrPointerType}
	}
	typeOK.Store(t, res)
	if e, isErr := res.(error); isErr {
		return e
	}
	return nil
}

// pointerPath returns where t holds a pointer, or "".
func pointerPath(t reflect.Type, at string) string {
	switch t.Kind() {
	case reflect.Pointer, reflect.UnsafePointer, reflect.String, reflect.Slice, reflect.Map,
		reflect.Chan, reflect.Func, reflect.Interface:
		return at + " (" + t.Kind().String() + ")"
	case reflect.Array:
		if t.Len() == 0 {
			return ""
		}
		return pointerPath(t.Elem(), at+"[0]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if p := pointerPath(f.Type, at+"."+f.Name); p != "" {
				return p
			}
		}
	}
	return ""
}

// New allocates a zeroed T outside the Go heap on the default heap. T must
// hold no Go pointers (no pointers, strings, slices, maps, channels, funcs,
// interfaces or unsafe.Pointer, at any depth): such a T gives an error
// matching ErrPointerType. Free the value with Delete.
func New[T any]() (*T, error) {
	if err := checkType[T](); err != nil {
		return nil, err
	}
	var zero T
	b, err := defaultHeap.Calloc(1, int(unsafe.Sizeof(zero)))
	if err != nil {
		return nil, err
	}
	return (*T)(unsafe.Pointer(unsafe.SliceData(b))), nil
}

// Delete frees a value allocated by New; nil does nothing.
func Delete[T any](p *T) error {
	if p == nil {
		return nil
	}
	return defaultHeap.UnsafeFree(unsafe.Pointer(p))
}

// MakeSlice allocates a zeroed slice of len elements and capacity cap
// outside the Go heap on the default heap, with the same rule on T as New.
// Free it with FreeSlice.
func MakeSlice[T any](len, cap int) ([]T, error) {
	if err := checkType[T](); err != nil {
		return nil, err
	}
	if len < 0 || cap < len {
		return nil, invalidArg("MakeSlice", fmt.Sprintf("len %d, cap %d: want 0 <= len <= cap", len, cap))
	}
	var zero T
	n, err := mulSize("MakeSlice", cap, int(unsafe.Sizeof(zero)))
	if err != nil {
		return nil, err
	}
	b, err := defaultHeap.Calloc(n, 1)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), cap)[:len], nil
}

// FreeSlice frees a slice allocated by MakeSlice (s must start where it
// started); a nil slice does nothing.
func FreeSlice[T any](s []T) error {
	p := unsafe.SliceData(s)
	if p == nil {
		return nil
	}
	return defaultHeap.UnsafeFree(unsafe.Pointer(p))
}
