package ir

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/ir/floatk"
)

// checkSigmoids compares Program.sigmoids on xs with UnaryFunc bit for bit
// on every tier; it returns how many values came from UnaryFunc.
func checkSigmoids(t *testing.T, xs []float32, logBad bool) (fallbacks, bad int) {
	got := make([]float32, len(xs))
	for _, kt := range floatk.Tiers() {
		p := &Program{k: kt}
		for _, op := range []Op{OpSigmoid, OpSiLU} {
			f := UnaryFunc(&Node{Op: op})
			calls := 0
			p.sigmoids(got, xs, op == OpSiLU, func(x float32) float32 { calls++; return f(x) })
			fallbacks += calls
			for i, x := range xs {
				want := f(x)
				if math.Float32bits(got[i]) != math.Float32bits(want) && !(got[i] != got[i] && want != want) {
					if bad++; logBad && bad < 10 {
						t.Errorf("%s: %s(%g) = %g, UnaryFunc %g", kt.Name, op, x, got[i], want)
					}
				}
			}
		}
	}
	return fallbacks, bad
}

// TestSigmoidsMatchUnaryFunc: float32s spread over every exponent, random
// activations, the special values.
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
	xs = append(xs, 0, float32(math.Copysign(0, -1)), inf, -inf, float32(math.NaN()), floatk.SigmoidMax, -floatk.SigmoidMax,
		math.Nextafter32(floatk.SigmoidMax, inf), math.Nextafter32(-floatk.SigmoidMax, -inf), math.MaxFloat32, -math.MaxFloat32,
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 88.7, -88.7, 104, -104, 1e-30, -1e-30)
	fallbacks, _ := checkSigmoids(t, xs, true)
	t.Logf("%d values, %d from UnaryFunc", len(xs), fallbacks)
	// Activations: Sigmoids must be sure of nearly all.
	if fallbacks, _ := checkSigmoids(t, xs[len(xs)-1<<20-19:len(xs)-19], true); fallbacks > 100*len(floatk.Tiers()) {
		t.Errorf("%d of 2^20 random activations from UnaryFunc", fallbacks)
	}
}

// TestSigmoidsExhaustive checks every float32 with |x| <= SigmoidMax
// (PTQC_LONG: minutes).
func TestSigmoidsExhaustive(t *testing.T) {
	testenv.SkipUnlessLong(t, "every float32 through Sigmoid and SiLU")
	limit := math.Float32bits(floatk.SigmoidMax)
	const chunk = 1 << 20
	var mu sync.Mutex
	bad, fallbacks := 0, 0
	Parallel(int(limit/chunk+1)*2, func(j int) {
		sign, b0 := uint32(j%2), uint32(j/2)*chunk
		xs := make([]float32, 0, chunk)
		for b := b0; b < b0+chunk && b <= limit; b++ {
			xs = append(xs, math.Float32frombits(sign<<31|b))
		}
		f, n := checkSigmoids(t, xs, false)
		mu.Lock()
		fallbacks, bad = fallbacks+f, bad+n
		mu.Unlock()
	})
	t.Logf("%d values from UnaryFunc", fallbacks)
	if bad > 0 {
		t.Errorf("%d values differ from UnaryFunc's", bad)
	}
}

// BenchmarkSigmoids is SiLU on 64K activations: Program.sigmoids on each
// tier against UnaryFunc's loop.
func BenchmarkSigmoids(b *testing.B) {
	x := randomInput(1, []int{1 << 16}, 1)
	for i := range x {
		x[i] *= 3
	}
	y := make([]float32, len(x))
	f := UnaryFunc(&Node{Op: OpSiLU})
	for _, kt := range floatk.Tiers() {
		p := &Program{k: kt}
		b.Run(kt.Name, func(b *testing.B) {
			for b.Loop() {
				p.sigmoids(y, x, true, f)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
		})
	}
	b.Run("UnaryFunc", func(b *testing.B) {
		for b.Loop() {
			for i, v := range x {
				y[i] = f(v)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
	})
}
