package main

import (
	"fmt"
	"math"

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

// requant generates requant_avx2: y[i] = clamp(rne(float32(float32(acc[i])
// * m) + b) + z, lo, hi) for n a positive multiple of 16, m and b finite
// (runtime.Requantize, bit for bit: VCVTDQ2PS, VMULPS and VADDPS round as
// Go's float32 steps do, VCVTPS2DQ rounds half to even; s is first held to
// [-2^30, 2^30], which leaves the clamped result as it is and keeps the
// conversion in range).
func requant() {
	kernel("requant_avx2", "func(n int, acc *int32, m, b float32, z, lo, hi int32, y *uint8)",
		"requant_avx2 is Requantize for n a positive multiple of 16 and m, b finite.")
	ps := params("n", "acc", "y")
	n, acc, y := ps[0], ps[1], ps[2]
	vm, vb, vz, vlo, vhi, big, nbig := YMM(), YMM(), YMM(), YMM(), YMM(), YMM(), YMM()
	VBROADCASTSS(addr(Param("m")), vm)
	VBROADCASTSS(addr(Param("b")), vb)
	broadcastInt("z", vz)
	broadcastInt("lo", vlo)
	broadcastInt("hi", vhi)
	broadcast32(U32(math.Float32bits(0x1p30)), big)
	broadcast32(U32(math.Float32bits(-0x1p30)), nbig)
	v := [2]reg.VecVirtual{YMM(), YMM()}
	Label("loop")
	for k := range v {
		VCVTDQ2PS(Mem{Base: acc, Disp: 32 * k}, v[k])
		VMULPS(vm, v[k], v[k])
		VADDPS(vb, v[k], v[k])
		VMINPS(big, v[k], v[k])
		VMAXPS(nbig, v[k], v[k])
		VCVTPS2DQ(v[k], v[k])
		VPADDD(vz, v[k], v[k])
		VPMAXSD(vlo, v[k], v[k])
		VPMINSD(vhi, v[k], v[k])
	}
	// [a0-3 b0-3 | a4-7 b4-7] words, to [a0-7 | b0-7], to 16 bytes.
	VPACKSSDW(v[1], v[0], v[0])
	VPERMQ(U8(0xD8), v[0], v[0])
	hi := XMM()
	VEXTRACTI128(U8(1), v[0], hi)
	VPACKUSWB(hi, v[0].AsX(), hi)
	VMOVDQU(hi, Mem{Base: y})
	ADDQ(U8(64), acc)
	ADDQ(U8(16), y)
	SUBQ(U8(16), n)
	JNZ(LabelRef("loop"))
	VZEROUPPER()
	RET()
}

// addRow generates addrow_avx2: a[i] += w*x[i] - wz for n a positive
// multiple of 8 (a depthwise tap's products along an output row, stride 1;
// exact in int32).
func addRow() {
	kernel("addrow_avx2", "func(n int, a *int32, x *uint8, w, wz int32)",
		"addrow_avx2 is AddRow's stride 1 for n a positive multiple of 8.")
	ps := params("n", "a", "x")
	n, a, x := ps[0], ps[1], ps[2]
	vw, vwz, v := YMM(), YMM(), YMM()
	broadcastInt("w", vw)
	broadcastInt("wz", vwz)
	Label("loop")
	VPMOVZXBD(Mem{Base: x}, v)
	VPMULLD(vw, v, v)
	VPSUBD(vwz, v, v)
	VPADDD(Mem{Base: a}, v, v)
	VMOVDQU(v, Mem{Base: a})
	ADDQ(U8(32), a)
	ADDQ(U8(8), x)
	SUBQ(U8(8), n)
	JNZ(LabelRef("loop"))
	VZEROUPPER()
	RET()
}

// broadcastInt sets every int32 lane of v to the int32 parameter name.
func broadcastInt(name string, v reg.VecVirtual) {
	g := GP32()
	Load(Param(name), g)
	broadcast32(g, v)
}

// broadcast32 sets every 32-bit lane of v to src (a register or a constant).
func broadcast32(src Op, v reg.VecVirtual) {
	g := GP32()
	MOVL(src, g)
	VMOVD(g, v.AsX())
	VPBROADCASTD(v.AsX(), v)
}
