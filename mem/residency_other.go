//go:build !amd64

package mem

// packWords packs bit 0 of each byte of src into dst, 64 bytes to a word,
// byte k of a group to bit k; len(src) == 64*len(dst).
func packWords(dst []uint64, src []byte) { packWordsGeneric(dst, src) }
