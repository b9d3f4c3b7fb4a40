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
				tmp := make([]float32, (3*mr+k)*kt.NR)
				inf := float32(math.Inf(1))
				for b.Loop() {
					switch name {
					case "seq":
						kt.GemmSeq(1, mr, k, a, bb, kt.NR, cc, kt.NR, bias, -inf, inf)
					case "dot":
						kt.GemmDot(1, mr, k, a, bb, kt.NR, cc, kt.NR, bias, -inf, inf, tmp)
					default:
						kt.GemmDotPhased(1, mr, k, a, bb, kt.NR, cc, kt.NR, bias, -inf, inf, tmp)
					}
				}
				b.ReportMetric(float64(2*k*mr*kt.NR)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkDW3 is the direct 3x3 depthwise kernel on MobileNetV2-224's
// planes (a job's channels: the whole 112x112 plane, 20 of 14x14).
func BenchmarkDW3(b *testing.B) {
	for _, kt := range Tiers() {
		for _, c := range []struct{ s, hw, ch int }{{1, 112, 1}, {1, 14, 20}, {2, 112, 1}, {2, 14, 20}} {
			if !kt.HasDW3(c.s) {
				continue
			}
			b.Run(fmt.Sprintf("%s/s%d/%dx%d", kt.Name, c.s, c.hw, c.hw), func(b *testing.B) {
				oh := (c.hw+2-3)/c.s + 1
				w, x := make([]float32, 9*c.ch), make([]float32, c.ch*c.hw*c.hw)
				y, bias := make([]float32, c.ch*oh*oh), make([]float32, c.ch)
				for b.Loop() {
					kt.DW3(c.s, 1, w, x, c.hw, c.hw, y, oh, oh, bias, 0, 6)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(y)), "ns/output")
			})
		}
	}
}
