package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

// The constants of sigmoid, four lanes each, 32 bytes apart (float32 ones
// in the low 16 bytes of their slot).
const (
	sgInvL = iota
	sgShifter
	sgL1
	sgL2
	sgOne
	sgC2
	sgC6
	sgC24
	sgC120
	sgSlackLo
	sgSlackHi
	sgNegZero
	sgMask63
	sgShifterBits
	sgBias // 1023*64: (n+sgBias)>>6 is floor(n/64)+1023
	sgAbs32
	sgMax32
	sgNaN32
	sgCount
)

// Keep in sync with ../floatk.go's sigmoidsGo.
const (
	sigSlack   = 0x1p-40
	sigMax     = 80
	sigShifter = 0x1.8p52
	sigL1      = 0x1.62e42fefp-7
	sigL2      = math.Ln2/64 - sigL1
)

// sigmoid: y[i] = float32(num/(1+exp(-x[i]))) in float64, num = x[i] (silu)
// or 1, for i < n (a multiple of 4) where that value is sure to be the
// float64 formula's (see ../floatk.go), else NaN. exp(t) is 2^m * 2^(j/64)
// * p(r) for t = (64m+j)*ln2/64 + r, 2^(j/64) gathered from a table.
func sigmoid(silu bool) {
	name := "sigmoid_avx2"
	if silu {
		name = "silu_avx2"
	}
	TEXT(name, NOSPLIT, "func(n int, x, y *float32)")
	Pragma("noescape")
	Doc(name + " is sigmoidsGo for n a multiple of 4 on AVX2.")
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	c, tab := GP64(), GP64()
	LEAQ(sigmoidConsts(), c)
	LEAQ(sigmoidTable(), tab)
	k := func(i int) Mem { return Mem{Base: c, Disp: 32 * i} }
	Label(name + "_loop")
	xf, ok32 := XMM(), XMM()
	VMOVUPS(Mem{Base: x}, xf)
	VANDPS(k(sgAbs32), xf, ok32)
	VCMPPS(U8(0x12), k(sgMax32), ok32, ok32) // |x| <= max, ordered (_CMP_LE_OQ)
	xd, ok64, t := YMM(), YMM(), YMM()
	VCVTPS2PD(xf, xd)
	VPMOVSXDQ(ok32, ok64)
	VXORPD(k(sgNegZero), xd, t)
	VANDPD(ok64, t, t) // t = -x, or 0 where the Go code calls UnaryFunc
	kf, kk := YMM(), YMM()
	VMULPD(k(sgInvL), t, kf)
	VADDPD(k(sgShifter), kf, kf)
	VSUBPD(k(sgShifter), kf, kk)
	j, s := YMM(), YMM()
	VPAND(k(sgMask63), kf, j)
	VPSUBQ(k(sgShifterBits), kf, s)
	VPADDQ(k(sgBias), s, s)
	VPSRLQ(U8(6), s, s)
	VPSLLQ(U8(52), s, s) // 2^m
	r, tmp := YMM(), YMM()
	VMULPD(k(sgL1), kk, tmp)
	VSUBPD(tmp, t, r)
	VMULPD(k(sgL2), kk, tmp)
	VSUBPD(tmp, r, r)
	p := YMM()
	VMULPD(k(sgC120), r, p)
	for _, ci := range []int{sgC24, sgC6, sgC2, sgOne} {
		VADDPD(k(ci), p, p)
		VMULPD(r, p, p)
	}
	VADDPD(k(sgOne), p, p)
	all, g := YMM(), YMM()
	VPCMPEQD(all, all, all)
	VXORPD(g, g, g)
	VGATHERQPD(all, Mem{Base: tab, Index: j, Scale: 8}, g)
	VMULPD(p, g, g)
	VMULPD(s, g, g)
	VADDPD(k(sgOne), g, g) // 1 + exp(-x)
	num := xd
	if !silu {
		num = YMM()
		VMOVUPD(k(sgOne), num)
	}
	yd := YMM()
	VDIVPD(g, num, yd)
	lo, hi := YMM(), YMM()
	VMULPD(k(sgSlackLo), yd, lo)
	VMULPD(k(sgSlackHi), yd, hi)
	flo, fhi := XMM(), XMM()
	VCVTPD2PSY(lo, flo)
	VCVTPD2PSY(hi, fhi)
	VCMPPS(U8(0), fhi, flo, fhi) // equal (_CMP_EQ_OQ)
	VANDPS(ok32, fhi, fhi)
	out := XMM()
	VMOVUPS(k(sgNaN32), out)
	VBLENDVPS(fhi, flo, out, out)
	VMOVUPS(out, Mem{Base: y})
	ADDQ(U8(16), x)
	ADDQ(U8(16), y)
	SUBQ(U8(4), n)
	JNZ(LabelRef(name + "_loop"))
	VZEROUPPER()
	RET()
}

var sigConstsMem, sigTableMem *Mem

func sigmoidConsts() Mem {
	if sigConstsMem == nil {
		m := GLOBL("sigmoid_consts", RODATA|NOPTR)
		f64 := map[int]float64{sgInvL: 64 / math.Ln2, sgShifter: sigShifter, sgL1: sigL1, sgL2: sigL2, sgOne: 1, sgC2: 1.0 / 2,
			sgC6: 1.0 / 6, sgC24: 1.0 / 24, sgC120: 1.0 / 120, sgSlackLo: 1 - sigSlack, sgSlackHi: 1 + sigSlack}
		u64 := map[int]uint64{sgNegZero: 1 << 63, sgMask63: 63, sgShifterBits: math.Float64bits(sigShifter), sgBias: 1023 * 64}
		u32 := map[int]uint32{sgAbs32: 0x7fffffff, sgMax32: math.Float32bits(sigMax), sgNaN32: 0x7fc00000}
		for i := range sgCount {
			for l := range 4 {
				switch {
				case i < sgNegZero:
					DATA(32*i+8*l, U64(math.Float64bits(f64[i])))
				case i < sgAbs32:
					DATA(32*i+8*l, U64(u64[i]))
				default:
					DATA(32*i+4*l, U32(u32[i]))
				}
			}
		}
		sigConstsMem = &m
	}
	return *sigConstsMem
}

// sigmoidTable is 2^(j/64), j < 64.
func sigmoidTable() Mem {
	if sigTableMem == nil {
		m := GLOBL("sigmoid_exp2", RODATA|NOPTR)
		for j := range 64 {
			DATA(8*j, U64(math.Float64bits(math.Exp2(float64(j)/64))))
		}
		sigTableMem = &m
	}
	return *sigTableMem
}
