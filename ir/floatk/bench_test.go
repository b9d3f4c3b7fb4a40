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
		for _, c := range []struct {
			s, hw, ch int
			cold      bool
		}{{1, 112, 1, false}, {1, 14, 20, false}, {2, 112, 1, false}, {2, 112, 96, false}, {2, 112, 96, true}, {2, 56, 144, false}, {2, 14, 20, false}} {
			if !kt.HasDW3(c.s) {
				continue
			}
			b.Run(fmt.Sprintf("%s/s%d/%dx%dx%d/cold=%v", kt.Name, c.s, c.hw, c.hw, c.ch, c.cold), func(b *testing.B) {
				oh := (c.hw+2-3)/c.s + 1
				w, x := make([]float32, 9*c.ch), make([]float32, c.ch*c.hw*c.hw)
				y, bias := make([]float32, c.ch*oh*oh), make([]float32, c.ch)
				for i := range x { // written: untouched pages all read the zero page
					x[i] = float32(i%7) - 3
				}
				for b.Loop() {
					kt.DW3(c.s, 1, w, x, c.hw, c.hw, y, oh, oh, bias, 0, 6, c.cold)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(y)), "ns/output")
			})
		}
	}
}

// BenchmarkGemmLayers is MobileNetV2-224's 1x1 convs as ir's gemmTile walks
// them: each 16-column tile of the plane through all the panels of A, on
// the best tier's GemmDot and GemmDotPhased (ir picks one by K and M).
// Compare commits with -count and interleaved runs: B and C stream through
// the caches as in a forward pass, so the rates move with the machine's load.
func BenchmarkGemmLayers(b *testing.B) {
	kt := Best
	for _, l := range []struct{ k, m, hw int }{
		{32, 16, 112}, {16, 96, 112}, {24, 144, 56}, {96, 24, 56}, {32, 192, 28}, {192, 32, 28},
		{64, 384, 14}, {384, 64, 14}, {576, 96, 14}, {160, 960, 7}, {960, 160, 7},
	} {
		for _, name := range []string{"dot", "phased"} {
			mr := kt.MR
			if name == "dot" {
				mr = kt.MRDot
			}
			b.Run(fmt.Sprintf("%dto%dx%d/%s", l.k, l.m, l.hw, name), func(b *testing.B) {
				n := l.hw * l.hw / kt.NR * kt.NR // the full tiles
				a := make([]float32, l.k*l.m)
				for i := range a {
					a[i] = float32(i%7) * 0.1
				}
				bb, cc, bias := make([]float32, l.k*n), make([]float32, l.m*n), make([]float32, l.m)
				tmp := make([]float32, (3*kt.MR+l.k)*kt.NR)
				inf := float32(math.Inf(1))
				for b.Loop() {
					for t0 := 0; t0 < n; t0 += kt.NR {
						for m0 := 0; m0 < l.m; {
							panels, rows := (l.m-m0)/mr, mr
							if panels == 0 {
								panels, rows = 1, l.m-m0
							}
							as, cs := a[m0*l.k:(m0+panels*rows)*l.k], cc[m0*n+t0:]
							if name == "dot" {
								kt.GemmDot(panels, rows, l.k, as, bb[t0:], n, cs, n, bias[m0:], 0, inf, tmp)
							} else {
								kt.GemmDotPhased(panels, rows, l.k, as, bb[t0:], n, cs, n, bias[m0:], 0, inf, tmp)
							}
							m0 += panels * rows
						}
					}
				}
				b.ReportMetric(float64(l.k*l.m*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
			})
		}
	}
}
