package mem

// packWords packs bit 0 of each byte of src into dst, 64 bytes to a word,
// byte k of a group to bit k; len(src) == 64*len(dst). On amd64 it is SSE2
// assembly: shift bit 0 of every byte to bit 7 and collect the top bits with
// PMOVMSKB, sixteen pages per instruction.
//
//go:noescape
func packWords(dst []uint64, src []byte)
