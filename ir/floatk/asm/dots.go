package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// dotsI16 generates dotsi16x<rows>: the int32 dot products of one row a of
// k int16 values with rows rows of b (ldb values apart), into out[0:rows],
// for k a positive multiple of 16. VPMADDWD's pairs of products and sums
// are exact for the int8 interpreter's operands (|q - z| <= 255, |w| <=
// 127), and an int32 sum is the same in any order: no tier but AVX2's is
// needed (ymm; AVX-512's tier runs it too).
func dotsI16(rows int) {
	name := fmt.Sprintf("dotsi16x%d", rows)
	kernel(name, "func(k int, a, b *int16, ldb int, out *int32)",
		fmt.Sprintf("%s is DotsI16 for %s of b and k a positive multiple of 16.", name, map[int]string{1: "one row", 4: "four rows"}[rows]))
	ps := params("k", "a", "b", "ldb", "out")
	k, a, b, ldb, out := ps[0], ps[1], ps[2], ps[3], ps[4]
	SHLQ(U8(1), ldb) // bytes
	bs := []reg.GPVirtual{b}
	for r := 1; r < rows; r++ {
		p := GP64()
		LEAQ(Mem{Base: bs[r-1], Index: ldb, Scale: 1}, p)
		bs = append(bs, p)
	}
	acc := make([]reg.VecVirtual, rows)
	for r := range acc {
		acc[r] = YMM()
		VPXOR(acc[r], acc[r], acc[r])
	}
	va, t := YMM(), YMM()
	Label("loop")
	VMOVDQU(Mem{Base: a}, va)
	for r := range rows {
		VPMADDWD(Mem{Base: bs[r]}, va, t)
		VPADDD(t, acc[r], acc[r])
	}
	ADDQ(U8(32), a)
	for _, p := range bs {
		ADDQ(U8(32), p)
	}
	SUBQ(U8(16), k)
	JNZ(LabelRef("loop"))
	// Each accumulator's eight lanes to one sum, in row order.
	for len(acc) < 4 {
		z := YMM()
		VPXOR(z, z, z)
		acc = append(acc, z)
	}
	h01, h23 := YMM(), YMM()
	VPHADDD(acc[1], acc[0], h01)
	VPHADDD(acc[3], acc[2], h23)
	VPHADDD(h23, h01, h01)
	hi := XMM()
	VEXTRACTI128(U8(1), h01, hi)
	VPADDD(hi, h01.AsX(), hi)
	switch rows {
	case 4:
		VMOVDQU(hi, Mem{Base: out})
	case 1:
		VMOVD(hi, Mem{Base: out})
	default:
		panic("dotsI16: rows 1 or 4")
	}
	VZEROUPPER()
	RET()
}
