package generated

import (
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/internal/gentest"
)

// ensure224 returns the directory of the synthetic ImageNet-shaped
// MobileNetV2 (weights and calibration inputs, not checked in): testdata's
// when go generate made it, else the test cache's.
func ensure224(t testing.TB) string { return gentest.Synthetic(t, "mobilenetv2_224") }

// images224 are n deterministic N(0, 1) 3x224x224 inputs, like the peers'
// torch.randn (seed 1000 + n: other than the calibration inputs).
func images224(n int) []float32 {
	r := rand.New(rand.NewPCG(uint64(1000+n), 0x5eed))
	x := make([]float32, n*3*224*224)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}
