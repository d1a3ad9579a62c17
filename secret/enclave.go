package secret

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/crypto/chacha20poly1305"
)

// An Enclave is a secret encrypted at rest with XChaCha20-Poly1305. The
// ciphertext lives in ordinary memory and costs no locked memory; the key is
// one per process, 32 random bytes in a standalone, locked, sealed
// (NoAccess) buffer, backed by memfd_secret(2) where the kernel offers it,
// opened only for the duration of a Seal or an Open. (A
// Seal of a buffer made with Options.AllowUnlocked, when no key can be
// locked, makes a second, unlocked key that serves only such buffers.) Each
// Seal draws a random 24-byte nonce, so there is no practical limit on the
// number of seals under one key. Purge destroys the key: every Enclave made
// before then can no longer be opened (ErrKeyDestroyed).
//
// An Enclave is immutable and safe for concurrent use.
type Enclave struct {
	// gen is the generation of the key that sealed it.
	gen uint64
	// box is nonce || ciphertext || tag.
	box  []byte
	size int
	opts Options
}

// key holds the process's enclave keys. keys[0] is locked; keys[1] exists
// only when a Seal in the degraded mode (Options.AllowUnlocked) could not
// lock a key, and serves only Seals that allow unlocked memory, so that a
// secret whose caller demanded locked memory is never sealed with a key that
// may be swapped.
var key struct {
	mu   sync.Mutex
	keys [2]struct {
		buf *Buffer
		// gen identifies the key: Enclave.gen names the one that sealed it.
		gen uint64
	}
	// gen counts keys made: each has its own generation.
	gen uint64
}

// additional data bound into every box: the format's name and version.
var enclaveAD = []byte("vmkit/secret enclave v1")

// sealKey returns the key for a buffer made with o, making one if there is
// none: the locked key, or, for o.AllowUnlocked only, the unlocked one when
// no locked key can be made.
func sealKey(o Options) (*Buffer, uint64, error) {
	key.mu.Lock()
	defer key.mu.Unlock()
	if k := &key.keys[0]; k.buf != nil && k.buf.Len() != 0 {
		return k.buf, k.gen, nil
	}
	if k := &key.keys[1]; o.AllowUnlocked && k.buf != nil && k.buf.Len() != 0 {
		return k.buf, k.gen, nil
	}
	// In memfd_secret memory where the kernel offers it: out of reach of
	// /proc/PID/mem and ptrace, as a MemfdSecret buffer sealed with it is.
	b, err := Options{Backing: PreferMemfdSecret, AllowUnlocked: o.AllowUnlocked}.NewRandom(chacha20poly1305.KeySize)
	if err != nil {
		return nil, 0, err
	}
	if err := b.NoAccess(); err != nil {
		b.Destroy()
		return nil, 0, err
	}
	b.setInternal()
	k := &key.keys[0]
	if !b.Locked() {
		k = &key.keys[1]
	}
	key.gen++
	k.buf, k.gen = b, key.gen
	return b, k.gen, nil
}

// openKey returns the key of generation gen, or ErrKeyDestroyed.
func openKey(gen uint64) (*Buffer, error) {
	key.mu.Lock()
	defer key.mu.Unlock()
	for _, k := range key.keys {
		if k.buf != nil && k.gen == gen && k.buf.Len() != 0 {
			return k.buf, nil
		}
	}
	return nil, ErrKeyDestroyed
}

// forgetKey retires the keys (Purge has destroyed or is destroying them).
func forgetKey() {
	key.mu.Lock()
	defer key.mu.Unlock()
	for i := range key.keys {
		if k := &key.keys[i]; k.buf != nil {
			k.buf.Destroy()
			k.buf = nil
		}
	}
}

// withAEAD runs fn with an XChaCha20-Poly1305 instance keyed from k, opened
// for the call, and wipes the instance's copy of the key afterwards.
func withAEAD(k *Buffer, fn func(cipher.AEAD) error) error {
	err := k.With(func(kb []byte) error {
		aead, err := chacha20poly1305.NewX(kb)
		if err != nil {
			return err
		}
		defer wipeAEAD(aead)
		return fn(aead)
	})
	if errors.Is(err, ErrDestroyed) {
		return ErrKeyDestroyed
	}
	return err
}

// wipeAEAD zeroes the key that chacha20poly1305.NewX copied into its
// heap-allocated instance: a struct whose only field is the key. It checks
// that shape first and leaves anything else alone.
func wipeAEAD(a cipher.AEAD) {
	v := reflect.ValueOf(a)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	t := v.Type().Elem()
	if t.Kind() != reflect.Struct || t.NumField() != 1 || t.Size() != chacha20poly1305.KeySize {
		return
	}
	if f := t.Field(0); f.Type.Kind() != reflect.Array || f.Type.Elem().Kind() != reflect.Uint8 {
		return
	}
	clear(unsafe.Slice((*byte)(v.UnsafePointer()), chacha20poly1305.KeySize))
}

// Seal encrypts the contents of b into an Enclave and destroys b. The
// plaintext is read in place, inside b's locked memory; only ciphertext
// reaches ordinary memory. Open remakes the buffer with b's Options.
//
// The cipher's working state (its copy of the key, which is wiped, and
// per-call subkeys, which Go gives no way to wipe) lives briefly on the Go
// heap and stack; see the design essay.
func Seal(b *Buffer) (*Enclave, error) {
	if b == nil {
		return nil, errors.New("secret: Seal(nil)")
	}
	b.mu.Lock()
	size, o := b.size, b.opts
	alive := b.data != nil && !b.doomed
	b.mu.Unlock()
	if !alive {
		return nil, ErrDestroyed
	}
	k, gen, err := sealKey(o)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+size+chacha20poly1305.Overhead)
	if err := fillRandom(nonce); err != nil {
		return nil, err
	}
	var box []byte
	err = b.With(func(p []byte) error {
		return withAEAD(k, func(aead cipher.AEAD) error {
			box = aead.Seal(nonce, nonce, p, enclaveAD)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("secret: Seal: %w", err)
	}
	if err := b.Destroy(); err != nil {
		return nil, err
	}
	return &Enclave{gen: gen, box: box, size: size, opts: o}, nil
}

// Len is the size of the sealed secret in bytes.
func (e *Enclave) Len() int { return e.size }

// String describes the enclave without its contents.
func (e *Enclave) String() string {
	return "secret.Enclave(" + strconv.Itoa(e.size) + " bytes)"
}

// Open decrypts the enclave into a new Buffer, made with the Options of the
// buffer that was sealed. The plaintext is written straight into the new
// buffer's locked memory. The enclave stays valid and may be opened again.
// It fails with ErrKeyDestroyed after Purge, and with an error when the
// ciphertext was altered.
func (e *Enclave) Open() (*Buffer, error) {
	if e == nil || len(e.box) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, errors.New("secret: Open of an empty or malformed Enclave")
	}
	k, err := openKey(e.gen)
	if err != nil {
		return nil, err
	}
	out, err := e.opts.New(e.size)
	if err != nil {
		return nil, err
	}
	nonce, ct := e.box[:chacha20poly1305.NonceSizeX], e.box[chacha20poly1305.NonceSizeX:]
	err = out.With(func(dst []byte) error {
		return withAEAD(k, func(aead cipher.AEAD) error {
			pt, err := aead.Open(dst[:0], nonce, ct, enclaveAD)
			if err != nil {
				return fmt.Errorf("secret: Open: the enclave was altered or corrupted: %w", err)
			}
			if len(pt) != len(dst) || unsafe.SliceData(pt) != unsafe.SliceData(dst) {
				clear(pt)
				return errors.New("secret: Open: the cipher did not decrypt in place")
			}
			return nil
		})
	})
	if err != nil {
		out.Destroy()
		return nil, err
	}
	return out, nil
}
