package secret_test

import (
	"bytes"
	"fmt"

	"github.com/vmkit/vmkit/secret"
)

// A key is born in locked, guarded memory that core dumps leave out, is
// used inside With, and is wiped and unmapped by Destroy.
func Example() {
	key, err := secret.NewRandom(32)
	if err != nil {
		panic(err) // a *secret.LockError names RLIMIT_MEMLOCK and the remedies
	}
	defer key.Destroy()
	err = key.With(func(k []byte) error {
		fmt.Println(len(k), bytes.Equal(k, make([]byte, 32)))
		return nil
	})
	fmt.Println(err, key.Locked())
	// Output:
	// 32 false
	// <nil> true
}

// NewFrom takes a password out of ordinary memory: it copies it into a
// locked buffer and wipes the original.
func ExampleNewFrom() {
	password := []byte("correct horse")
	buf, err := secret.NewFrom(password)
	if err != nil {
		panic(err)
	}
	defer buf.Destroy()
	fmt.Printf("%q\n", password)
	buf.With(func(p []byte) error {
		fmt.Println(string(p))
		return nil
	})
	// Output:
	// "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	// correct horse
}

// Seal encrypts a buffer into an Enclave, which holds only ciphertext in
// ordinary memory, and destroys the buffer; Open decrypts it into a new
// locked buffer when the secret is needed again.
func ExampleSeal() {
	buf, err := secret.NewFrom([]byte("api token"))
	if err != nil {
		panic(err)
	}
	e, err := secret.Seal(buf)
	if err != nil {
		panic(err)
	}
	back, err := e.Open()
	if err != nil {
		panic(err)
	}
	defer back.Destroy()
	back.With(func(p []byte) error {
		fmt.Println(string(p), e.Len())
		return nil
	})
	// Output: api token 9
}
