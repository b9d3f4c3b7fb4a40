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
		for _, name := range []string{"seq", "dot", "dotPhased"} {
			mr := kt.MR
			if name == "dot" {
				mr = kt.MRDot
			}
			b.Run(fmt.Sprintf("%s/%s%d", kt.Name, name, mr), func(b *testing.B) {
				a := make([]float32, k*mr)
				bb := make([]float32, k*kt.NR)
				cc := make([]float32, mr*kt.NR)
				bias := make([]float32, mr)
				tmp := make([]float32, 3*mr*kt.NR)
				inf := float32(math.Inf(1))
				for b.Loop() {
					switch name {
					case "seq":
						kt.GemmSeq(1, mr, k, a, bb, kt.NR, cc, kt.NR, bias, -inf, inf)
					case "dot":
						kt.GemmDot(1, mr, k, a, bb, kt.NR, cc, kt.NR, bias, -inf, inf)
					default:
						kt.GemmDotPhased(1, mr, k, a, bb, kt.NR, cc, kt.NR, bias, -inf, inf, tmp)
					}
				}
				b.ReportMetric(float64(2*k*mr*kt.NR)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
