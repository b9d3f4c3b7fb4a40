package asmgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/zoo"
	"github.com/ptqc/ptqc/ir"
)

// BenchmarkPoolKernels times the layers of a 56x56x64 stage in a generated
// package with LayerTimes, one worker, on the portable kernels and on avx2:
// Inception's 3x3 s1 p1 average pool (padding counted), ResNet-D's 2x2 s2
// ceil-mode one, a dilated 3x3 max pool, a slice read by a conv (copied),
// a channel shuffle (groups 2) read by an Add (a gather, gather.go) and a
// grouped 1x3 conv (16 groups of 4); a dense 3x3 conv and the pointwise
// ones give the cost per multiply-add to compare with. Pools, the slice and
// the gather are reported in ns per output byte, convs per multiply-add:
//
//	go test ./asmgen -run '^$' -bench PoolKernels -v
func BenchmarkPoolKernels(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement")
	}
	r := rand.New(rand.NewPCG(31, 9))
	bld := zoo.NewBuilder("pools", r, 3, 56, 56)
	g, conv, add := bld.G, bld.Conv, bld.Op
	pool := func(op ir.Op, name string, x int, w ir.Window, ceil, countPad bool) int {
		return add(op, name, &ir.Node{Pool: &ir.Pool{Window: w, Ceil: ceil, CountPad: countPad}}, x)
	}
	x := add(ir.OpQuant, "quant", nil, g.Input)
	x = conv("stem", x, 3, 64, 1, ir.SquareWindow(3, 1, 1), ir.ActReLU)
	x = conv("dense3x3", x, 64, 64, 1, ir.SquareWindow(3, 1, 1), ir.ActReLU)
	x = pool(ir.OpAvgPool, "avg3x3s1p1", x, ir.SquareWindow(3, 1, 1), false, true)
	x = pool(ir.OpMaxPool, "max3x3d2", x, ir.Window{KH: 3, KW: 3, SH: 1, SW: 1, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DH: 2, DW: 2}, false, false)
	x = conv("g16x4_1x3", x, 64, 64, 16, ir.Window{KH: 1, KW: 3, SH: 1, SW: 1, PadL: 1, PadR: 1, DH: 1, DW: 1}, ir.ActReLU)
	x = conv("pw", x, 64, 128, 1, ir.SquareWindow(1, 1, 0), ir.ActNone)
	x = add(ir.OpSlice, "slice64", &ir.Node{Slice: &ir.Slice{Start: 32, End: 96}}, x)
	x = conv("pw2", x, 64, 64, 1, ir.SquareWindow(1, 1, 0), ir.ActReLU)
	sh := add(ir.OpShuffle, "shuffle64g2", &ir.Node{Perm: zoo.ShufflePerm(64, 2)}, x)
	x = add(ir.OpAdd, "add", nil, x, sh)
	x = pool(ir.OpAvgPool, "avg2x2s2ceil", x, ir.SquareWindow(2, 2, 0), true, false)
	x = add(ir.OpMean, "mean", nil, x)
	g.Output = add(ir.OpDeQuant, "dequant", nil, x)
	m := gentest.Convert(b, g, "fbgemm", r)
	p, err := generatePkg(m, "pools", Generate)
	if err != nil {
		b.Fatal(err)
	}
	res := layerTimes(b, []gentest.Pkg{{Name: p.Name, Files: p.Files}})
	var tab strings.Builder
	fmt.Fprintf(&tab, "%-14s %9s %9s %9s %9s %s\n", "layer", "generic", "avx2", "generic", "avx2", "unit")
	for i, nd := range m.Nodes {
		y := m.Tensors[nd.Out]
		gn, a := res["generic"][0][i], res["avx2"][0][i]
		unit, n := "ns/B", y.Elems()
		switch {
		case nd.Conv != nil:
			w := nd.Conv.Window()
			unit, n = "ns/MAC", y.Elems()*nd.Conv.InC/nd.Conv.Groups*w.Taps()
		case nd.Pool == nil && nd.Slice == nil && nd.Perm == nil:
			continue
		}
		fmt.Fprintf(&tab, "%-14s %7.0fus %7.0fus %9.4f %9.4f %s\n", nd.Name, gn/1e3, a/1e3, gn/float64(n), a/float64(n), unit)
		b.ReportMetric(a/float64(n), fmt.Sprintf("%s-avx2-%s", nd.Name, unit))
		b.ReportMetric(gn/float64(n), fmt.Sprintf("%s-go-%s", nd.Name, unit))
	}
	b.Logf("one worker, best of 3 x 10 runs:\n%s", tab.String())
}
