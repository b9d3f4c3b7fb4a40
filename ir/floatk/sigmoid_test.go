package floatk

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSigmoids checks each tier's Sigmoids against the float64 formula with
// math.Exp: the same float32 or NaN (unsure), NaN for few activations.
func TestSigmoids(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 1<<16+3)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 5)
	}
	x[7], x[8], x[9] = float32(math.NaN()), 81, -SigmoidMax
	for _, kt := range Tiers() {
		for _, silu := range []bool{false, true} {
			y := make([]float32, len(x))
			kt.Sigmoids(x, y, silu)
			unsure := 0
			for i, v := range x {
				num := 1.0
				if silu {
					num = float64(v)
				}
				want := float32(num / (1 + math.Exp(-float64(v))))
				switch {
				case y[i] != y[i]:
					unsure++
				case math.Float32bits(y[i]) != math.Float32bits(want):
					t.Fatalf("%s silu %v: x %g: %g, formula %g", kt.Name, silu, v, y[i], want)
				}
			}
			if y[7] == y[7] || y[8] == y[8] || y[9] != y[9] {
				t.Errorf("%s silu %v: NaN, 81 and -%d gave %v", kt.Name, silu, SigmoidMax, y[7:10])
			}
			if unsure > 10 {
				t.Errorf("%s silu %v: unsure of %d of %d activations", kt.Name, silu, unsure, len(x))
			}
		}
	}
}
