package ir

import "math"

// Sigmoid and SiLU are UnaryFunc's float64 formulas, float32(x/(1+exp(-x)))
// and float32(1/(1+exp(-x))), whose math.Exp calls cost an EfficientNet's
// calibration more than all its convs. sigmoids computes them with an
// inlined exp accurate to ~1e-15 and keeps a result only where it is
// certain: if y*(1-sigmoidSlack) and y*(1+sigmoidSlack) round to the same
// float32, so does UnaryFunc's value, which lies between them (math.Exp's
// error and ours are far below the slack, and rounding is monotonic).
// Elsewhere (a few in 10^5, and |x| > sigmoidMax or NaN) it calls UnaryFunc.

// sigmoidSlack bounds the relative distance between sigmoids' float64 value
// and UnaryFunc's: 2^-40, against ~1e-15 for either.
const sigmoidSlack = 0x1p-40

// sigmoidMax bounds the inputs sigmoids computes itself: exp stays normal.
const sigmoidMax = 80

// expTab[j] = 2^(j/64).
var expTab = func() (t [64]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 64)
	}
	return t
}()

// Constants of expNear.
const (
	expInvL    = 64 / math.Ln2
	expShifter = 0x1.8p52 // adding it rounds to an integer, in the low bits
	// ln2/64 in two parts; expL1 has 33 significant bits, so k*expL1 is exact.
	expL1 = 0x1.62e42fefp-7
	expL2 = math.Ln2/64 - expL1
)

// expNear is exp(t) for |t| <= sigmoidMax, within ~1e-15 relative: t =
// (64m+j)*ln2/64 + r with |r| <= ln2/128, exp(t) = 2^m * 2^(j/64) * e^r,
// e^r by its Taylor polynomial to r^5 (truncation below 4e-17). sigmoids
// holds a copy (expNear is too large to inline).
func expNear(t float64) float64 {
	kf := float64(t*expInvL) + expShifter
	n := int32(math.Float64bits(kf))
	k := kf - expShifter
	r := float64(t-float64(k*expL1)) - float64(k*expL2)
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120)))))
	return float64(expTab[n&63]*p) * math.Float64frombits(uint64(n>>6+1023)<<52)
}

// sigmoids sets dst[i] to UnaryFunc(nd)(src[i]) for nd a Sigmoid (silu
// false) or SiLU.
func sigmoids(dst, src []float32, silu bool, ref func(float32) float32) {
	const blk = 64
	var den [blk]float64
	for i0 := 0; i0 < len(src); i0 += blk {
		s := src[i0:min(len(src), i0+blk)]
		d := dst[i0 : i0+len(s)]
		// 1+exp(-x) first: a loop without calls or branches, whose
		// iterations overlap. The body is expNear's.
		for i, v := range s {
			t := -float64(v)
			if !(math.Abs(t) <= sigmoidMax) {
				t = 0 // the second loop calls ref
			}
			kf := float64(t*expInvL) + expShifter
			n := int32(math.Float64bits(kf))
			k := kf - expShifter
			r := float64(t-float64(k*expL1)) - float64(k*expL2)
			p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120)))))
			den[i] = 1 + float64(expTab[n&63]*p)*math.Float64frombits(uint64(n>>6+1023)<<52)
		}
		for i, v := range s {
			x := float64(v)
			num := 1.0
			if silu {
				num = x
			}
			y := num / den[i]
			lo, hi := float32(y*(1-sigmoidSlack)), float32(y*(1+sigmoidSlack))
			if lo != hi || !(math.Abs(x) <= sigmoidMax) {
				lo = ref(v)
			}
			d[i] = lo
		}
	}
}
