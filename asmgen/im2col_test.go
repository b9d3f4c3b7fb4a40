package asmgen

import (
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/lower"
)

// im2colCases are random stems: 1 to 4 input channels, square windows of 3,
// 5 and 7 (strides 1 and 2, pads up to half the kernel) and rectangular
// ones with per-side pads, strides and vertical dilation, odd sizes, on
// both paths' inputs (randDense's outliers) and every requantization kind.
func im2colCases(r *rand.Rand, n int) []*denseCase {
	var cs []*denseCase
	for i := range n {
		cin, cout := 1+r.IntN(4), []int{1, 8, 16, 24, 32, 40, 64, 72}[r.IntN(8)]
		if i%2 == 0 {
			k := []int{3, 5, 7}[r.IntN(3)]
			s, p := 1+r.IntN(2), r.IntN(k/2+1)
			h, w := k+r.IntN(14), k+r.IntN(20)
			xmax := []int32{255, 255, 255, 127, 60}[r.IntN(5)] // mostly the image's codes: the i16 path
			c := randDense(r, denseShape{cin: cin, cout: cout, k: k, s: s, p: p, h: h, w: w, xmax: xmax,
				act: []string{"", "relu", "relu6"}[r.IntN(3)], smallW: r.IntN(4) == 0, bigM: r.IntN(10) == 0})
			c.d.Im2col = true
			cs = append(cs, c)
			continue
		}
		var win ir.Window
		var h, w int
		for {
			win, h, w = randWindow(r)
			win.DW = 1
			if oh, ow := win.OutSize(h, w, false); win.KH*win.KW > 1 && oh >= 1 && ow >= 1 {
				break
			}
		}
		c := randWinDense(r, cin, cout, win, h, w)
		c.d.Im2col = true
		cs = append(cs, c)
	}
	return cs
}

// TestDenseIm2col runs the im2col kernels of random stems on every tier
// against the interpreter's arithmetic, as TestDenseWindow does.
func TestDenseIm2col(t *testing.T) {
	testDenseCases(t, 11, "stem", func(r *rand.Rand) []*denseCase { return im2colCases(r, 60) },
		func(d *Dense) []int8 { return lower.PackIm2col(d.Weight, d.Cin, d.Cout, d.taps()) })
}
