#include "textflag.h"

// func packWords(dst []uint64, src []byte)
TEXT ·packWords(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	TESTQ CX, CX
	JZ done

loop:
	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	// Bit 0 of byte k becomes bit 7 of byte k; the other bits of a byte
	// land in the low bits of the next byte, which PMOVMSKB ignores.
	PSLLQ $7, X0
	PSLLQ $7, X1
	PSLLQ $7, X2
	PSLLQ $7, X3
	PMOVMSKB X0, AX
	PMOVMSKB X1, BX
	PMOVMSKB X2, DX
	PMOVMSKB X3, R8
	SHLQ $16, BX
	SHLQ $32, DX
	SHLQ $48, R8
	ORQ BX, AX
	ORQ DX, AX
	ORQ R8, AX
	MOVQ AX, 0(DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JNZ loop

done:
	RET

// func packBlocks(dst []uint64, src []byte) (all, none uint64)
//
// Packs like packWords, a block of eight words at a time, and sets bit j of
// all (none) when every word of block j is all ones (all zeros). The loop
// uses AVX-512BW (VPTESTMB tests bit 0 of 64 bytes at once), AVX2 or SSE2,
// as packLevel says.
TEXT ·packBlocks(SB), NOSPLIT, $0-64
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	XORQ R10, R10 // all
	XORQ R11, R11 // none
	MOVQ $1, R12  // bit of the current block
	SHRQ $3, CX   // blocks
	JZ   done
	MOVBLZX ·packLevel(SB), AX
	CMPQ AX, $2
	JEQ  avx512
	CMPQ AX, $1
	JEQ  avx2

sse2block:
	MOVQ $-1, R13 // AND of the block's words
	XORQ DX, DX   // OR of the block's words
	LEAQ 512(SI), R9

sse2word:
	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	PSLLQ $7, X0
	PSLLQ $7, X1
	PSLLQ $7, X2
	PSLLQ $7, X3
	PMOVMSKB X0, AX
	PMOVMSKB X1, BX
	SHLQ $16, BX
	ORQ  BX, AX
	PMOVMSKB X2, BX
	SHLQ $32, BX
	ORQ  BX, AX
	PMOVMSKB X3, BX
	SHLQ $48, BX
	ORQ  BX, AX
	MOVQ AX, 0(DI)
	ANDQ AX, R13
	ORQ  AX, DX
	ADDQ $64, SI
	ADDQ $8, DI
	CMPQ SI, R9
	JNE  sse2word
	CMPQ R13, $-1
	JNE  sse2mixed
	ORQ  R12, R10

sse2mixed:
	TESTQ DX, DX
	JNZ   sse2next
	ORQ   R12, R11

sse2next:
	SHLQ $1, R12
	DECQ CX
	JNZ  sse2block
	JMP  done

avx2:
avx2block:
	MOVQ $-1, R13
	XORQ DX, DX
	LEAQ 512(SI), R9

avx2word:
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VPSLLQ $7, Y0, Y0
	VPSLLQ $7, Y1, Y1
	VPMOVMSKB Y0, AX
	VPMOVMSKB Y1, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 0(DI)
	ANDQ AX, R13
	ORQ  AX, DX
	ADDQ $64, SI
	ADDQ $8, DI
	CMPQ SI, R9
	JNE  avx2word
	CMPQ R13, $-1
	JNE  avx2mixed
	ORQ  R12, R10

avx2mixed:
	TESTQ DX, DX
	JNZ   avx2next
	ORQ   R12, R11

avx2next:
	SHLQ $1, R12
	DECQ CX
	JNZ  avx2block
	VZEROUPPER
	JMP  done

avx512:
	MOVL $0x01010101, AX
	VPBROADCASTD AX, Z1

avx512block:
	MOVQ $-1, R13
	XORQ DX, DX
	LEAQ 512(SI), R9

avx512word:
	VPTESTMB 0(SI), Z1, K1
	KMOVQ K1, AX
	MOVQ AX, 0(DI)
	ANDQ AX, R13
	ORQ  AX, DX
	ADDQ $64, SI
	ADDQ $8, DI
	CMPQ SI, R9
	JNE  avx512word
	CMPQ R13, $-1
	JNE  avx512mixed
	ORQ  R12, R10

avx512mixed:
	TESTQ DX, DX
	JNZ   avx512next
	ORQ   R12, R11

avx512next:
	SHLQ $1, R12
	DECQ CX
	JNZ  avx512block
	VZEROUPPER

done:
	MOVQ R10, all+48(FP)
	MOVQ R11, none+56(FP)
	RET
