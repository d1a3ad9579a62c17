package secret

import (
	"sync"
	"unsafe"
)

// canaryLen is the least number of canary bytes on each side of packed data
// and before standalone data.
const canaryLen = 16

// The canary is a per-process random pattern of canaryLen bytes. A canary
// byte at address a holds pattern[a%canaryLen], so any run of canary bytes
// can be written or checked knowing only where it lies, and a page whose
// secrets are all gone is entirely canary: no page ever needs formatting
// for a size class.
var (
	patternOnce sync.Once
	pattern     [canaryLen]byte
	patternErr  error
)

func canaryPattern() error {
	patternOnce.Do(func() { patternErr = fillRandom(pattern[:]) })
	return patternErr
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// fillCanary writes the canary over b.
func fillCanary(b []byte) {
	if len(b) == 0 {
		return
	}
	a := addrOf(b)
	var row [canaryLen]byte // the pattern as it lies from b[0] on
	for k := range row {
		row[k] = pattern[(a+uintptr(k))%canaryLen]
	}
	for i := 0; i < len(b); i += canaryLen {
		copy(b[i:], row[:])
	}
}

// checkCanary returns the index of the first byte of b that is not canary
// and how many are not, or -1 and 0.
func checkCanary(b []byte) (first, count int) {
	first = -1
	a := addrOf(b)
	for i, c := range b {
		if c != pattern[(a+uintptr(i))%canaryLen] {
			if first < 0 {
				first = i
			}
			count++
		}
	}
	return first, count
}
