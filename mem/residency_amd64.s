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
