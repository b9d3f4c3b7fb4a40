package floatk

import (
	"fmt"
	"math"
	"testing"
)

// BenchmarkGemm is the micro-kernels' rate on data in L1 (GFLOP/s counts a
// multiply and an add as two).
func BenchmarkGemm(b *testing.B) {
	const k = 256
	for _, kt := range Tiers() {
		for _, c := range []struct {
			name string
			mr   int
			f    func(panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32, lo, hi float32)
		}{{"seq", kt.MRSeq, kt.GemmSeq}, {"dot", kt.MRDot, kt.GemmDot}} {
			b.Run(fmt.Sprintf("%s/%s%d", kt.Name, c.name, c.mr), func(b *testing.B) {
				a := make([]float32, k*c.mr)
				bb := make([]float32, k*kt.NR)
				cc := make([]float32, c.mr*kt.NR)
				bias := make([]float32, c.mr)
				inf := float32(math.Inf(1))
				for b.Loop() {
					c.f(1, c.mr, k, a, bb, kt.NR, cc, kt.NR, bias, -inf, inf)
				}
				b.ReportMetric(float64(2*k*c.mr*kt.NR)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
