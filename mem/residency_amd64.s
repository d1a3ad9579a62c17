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
// all (none) when every word of block j is all ones (all zeros); the words
// of such a uniform block may be left unwritten. The loop uses AVX-512BW
// (VPTESTMB tests bit 0 of 64 bytes at once), AVX2 or SSE2, as packLevel
// says; the two wider loops find a uniform block from the AND and the OR of
// its bytes, without packing it.
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
	// The AND and OR of the block's bytes first: a uniform block needs
	// no packing; a mixed one is read again, from L1, and packed.
	VMOVDQU 0(SI), Y2
	VMOVDQU 32(SI), Y3
	VPAND   Y3, Y2, Y4
	VPOR    Y3, Y2, Y5
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VPAND   Y2, Y4, Y4
	VPAND   Y3, Y4, Y4
	VPOR    Y2, Y5, Y5
	VPOR    Y3, Y5, Y5
	VMOVDQU 128(SI), Y2
	VMOVDQU 160(SI), Y3
	VPAND   Y2, Y4, Y4
	VPAND   Y3, Y4, Y4
	VPOR    Y2, Y5, Y5
	VPOR    Y3, Y5, Y5
	VMOVDQU 192(SI), Y2
	VMOVDQU 224(SI), Y3
	VPAND   Y2, Y4, Y4
	VPAND   Y3, Y4, Y4
	VPOR    Y2, Y5, Y5
	VPOR    Y3, Y5, Y5
	VMOVDQU 256(SI), Y2
	VMOVDQU 288(SI), Y3
	VPAND   Y2, Y4, Y4
	VPAND   Y3, Y4, Y4
	VPOR    Y2, Y5, Y5
	VPOR    Y3, Y5, Y5
	VMOVDQU 320(SI), Y2
	VMOVDQU 352(SI), Y3
	VPAND   Y2, Y4, Y4
	VPAND   Y3, Y4, Y4
	VPOR    Y2, Y5, Y5
	VPOR    Y3, Y5, Y5
	VMOVDQU 384(SI), Y2
	VMOVDQU 416(SI), Y3
	VPAND   Y2, Y4, Y4
	VPAND   Y3, Y4, Y4
	VPOR    Y2, Y5, Y5
	VPOR    Y3, Y5, Y5
	VMOVDQU 448(SI), Y2
	VMOVDQU 480(SI), Y3
	VPAND   Y2, Y4, Y4
	VPAND   Y3, Y4, Y4
	VPOR    Y2, Y5, Y5
	VPOR    Y3, Y5, Y5
	VPSLLQ    $7, Y4, Y4
	VPMOVMSKB Y4, AX
	CMPL      AX, $0xffffffff
	JEQ       avx2all
	VPSLLQ    $7, Y5, Y5
	VPMOVMSKB Y5, AX
	TESTL     AX, AX
	JEQ       avx2none
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
	ADDQ $64, SI
	ADDQ $8, DI
	CMPQ SI, R9
	JNE  avx2word
	JMP  avx2next

avx2all:
	ORQ R12, R10
	JMP avx2skip

avx2none:
	ORQ R12, R11

avx2skip:
	ADDQ $512, SI
	ADDQ $64, DI

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
	// Load the block's 512 bytes, then test bit 0 of their AND and of
	// their OR: a uniform block needs no packing at all.
	VMOVDQU64 0(SI), Z2
	VMOVDQU64 64(SI), Z3
	VMOVDQU64 128(SI), Z4
	VMOVDQU64 192(SI), Z5
	VMOVDQU64 256(SI), Z6
	VMOVDQU64 320(SI), Z7
	VMOVDQU64 384(SI), Z8
	VMOVDQU64 448(SI), Z9
	VPANDQ Z3, Z2, Z10
	VPORQ  Z3, Z2, Z12
	VPANDQ Z5, Z4, Z11
	VPORQ  Z5, Z4, Z13
	VPANDQ Z11, Z10, Z10
	VPORQ  Z13, Z12, Z12
	VPANDQ Z7, Z6, Z11
	VPORQ  Z7, Z6, Z13
	VPANDQ Z11, Z10, Z10
	VPORQ  Z13, Z12, Z12
	VPANDQ Z9, Z8, Z11
	VPORQ  Z9, Z8, Z13
	VPANDQ Z11, Z10, Z10
	VPORQ  Z13, Z12, Z12
	VPTESTMB Z10, Z1, K1
	KORTESTQ K1, K1
	JCS      avx512all // CF: every byte of the AND has bit 0
	VPTESTMB Z12, Z1, K2
	KORTESTQ K2, K2
	JEQ      avx512none // ZF: no byte of the OR has bit 0

	// Mixed: pack the eight words from the registers.
	VPTESTMB Z2, Z1, K1
	KMOVQ    K1, AX
	MOVQ     AX, 0(DI)
	VPTESTMB Z3, Z1, K1
	KMOVQ    K1, AX
	MOVQ     AX, 8(DI)
	VPTESTMB Z4, Z1, K1
	KMOVQ    K1, AX
	MOVQ     AX, 16(DI)
	VPTESTMB Z5, Z1, K1
	KMOVQ    K1, AX
	MOVQ     AX, 24(DI)
	VPTESTMB Z6, Z1, K1
	KMOVQ    K1, AX
	MOVQ     AX, 32(DI)
	VPTESTMB Z7, Z1, K1
	KMOVQ    K1, AX
	MOVQ     AX, 40(DI)
	VPTESTMB Z8, Z1, K1
	KMOVQ    K1, AX
	MOVQ     AX, 48(DI)
	VPTESTMB Z9, Z1, K1
	KMOVQ    K1, AX
	MOVQ     AX, 56(DI)
	JMP      avx512next

avx512all:
	ORQ R12, R10
	JMP avx512next

avx512none:
	ORQ R12, R11

avx512next:
	ADDQ $512, SI
	ADDQ $64, DI
	SHLQ $1, R12
	DECQ CX
	JNZ  avx512block
	VZEROUPPER

done:
	MOVQ R10, all+48(FP)
	MOVQ R11, none+56(FP)
	RET
