package ir

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpNear checks the accuracy sigmoids' certainty rests on: expNear
// within 2^-48 of math.Exp (sigmoidSlack is 2^-40).
func TestExpNear(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	worst := 0.0
	for i := range 1 << 20 {
		x := (r.Float64()*2 - 1) * sigmoidMax
		if i < 2000 {
			x = float64(i-1000) * math.Ln2 / 128 // the ends of the reduction
		}
		want := math.Exp(x)
		worst = max(worst, math.Abs(expNear(x)-want)/want)
	}
	t.Logf("expNear: worst relative error %.3g", worst)
	if worst > 0x1p-48 {
		t.Errorf("expNear: relative error %.3g above 2^-48", worst)
	}
}

// TestSigmoidsMatchUnaryFunc compares sigmoids with UnaryFunc on float32s
// spread over every exponent, random activations and the special values.
func TestSigmoidsMatchUnaryFunc(t *testing.T) {
	var xs []float32
	for b := uint32(0); b < math.MaxUint32-4093; b += 4093 {
		xs = append(xs, math.Float32frombits(b))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1 << 20 {
		xs = append(xs, float32(r.NormFloat64()*4))
	}
	inf := float32(math.Inf(1))
	xs = append(xs, 0, float32(math.Copysign(0, -1)), inf, -inf, float32(math.NaN()), sigmoidMax, -sigmoidMax,
		math.Nextafter32(sigmoidMax, inf), math.Nextafter32(-sigmoidMax, -inf), math.MaxFloat32, -math.MaxFloat32,
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 88.7, -88.7, 104, -104, 1e-30, -1e-30)
	for _, op := range []Op{OpSigmoid, OpSiLU} {
		f := UnaryFunc(&Node{Op: op})
		calls := 0
		counted := func(x float32) float32 { calls++; return f(x) }
		got := make([]float32, len(xs))
		sigmoids(got, xs, op == OpSiLU, counted)
		bad := 0
		for i, x := range xs {
			want := f(x)
			if math.Float32bits(got[i]) != math.Float32bits(want) && !(got[i] != got[i] && want != want) {
				if bad++; bad < 10 {
					t.Errorf("%s(%g) = %g, UnaryFunc %g", op, x, got[i], want)
				}
			}
		}
		t.Logf("%s: %d values, %d from UnaryFunc", op, len(xs), calls)
	}
}

// BenchmarkSigmoids is SiLU on 64K activations: sigmoids against
// UnaryFunc's loop.
func BenchmarkSigmoids(b *testing.B) {
	x := randomInput(1, []int{1 << 16}, 1)
	for i := range x {
		x[i] *= 3
	}
	y := make([]float32, len(x))
	f := UnaryFunc(&Node{Op: OpSiLU})
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			sigmoids(y, x, true, f)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
	})
	b.Run("UnaryFunc", func(b *testing.B) {
		for b.Loop() {
			for i, v := range x {
				y[i] = f(v)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
	})
}
