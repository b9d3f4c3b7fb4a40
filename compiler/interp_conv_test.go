package compiler

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/ir"
)

// directConv is the interpreter's conv written out term by term, as it was
// before convRun: each output's sum over its taps in order, the padding
// skipped (its bytes hold z_x).
func directConv(c *Conv, src *Tensor, x []uint8, dst *Tensor, y []uint8, sums []int64) {
	ih, iw, oh, ow := 1, 1, 1, 1
	if len(src.Shape) == 3 {
		ih, iw = src.Shape[1], src.Shape[2]
	}
	if len(dst.Shape) == 3 {
		oh, ow = dst.Shape[1], dst.Shape[2]
	}
	icg, ocg := c.InC/c.Groups, c.OutC/c.Groups
	w := c.Window()
	taps := w.Taps()
	for oc := range c.OutC {
		g := oc / ocg
		for oy := range oh {
			for ox := range ow {
				var acc int32
				for ic := range icg {
					plane := x[(g*icg+ic)*ih*iw:]
					wk := c.Weight[(oc*icg+ic)*taps:]
					for ky := range w.KH {
						iy := oy*w.SH - w.PadT + ky*w.DH
						for kx := range w.KW {
							ix := ox*w.SW - w.PadL + kx*w.DW
							if iy >= 0 && iy < ih && ix >= 0 && ix < iw {
								acc += (int32(plane[iy*iw+ix]) - src.Zero) * int32(wk[ky*w.KW+kx])
							}
						}
					}
				}
				if sums != nil {
					sums[oc] += int64(acc)
					continue
				}
				y[(oc*oh+oy)*ow+ox] = Requantize(acc, c.M[oc], c.B[oc], dst.Zero, c.Lo, c.Hi)
			}
		}
	}
}

// TestConvRunMatchesDirect: convRun's outputs and bias-correction sums are
// directConv's for dense, grouped, depthwise (with channel multipliers)
// and pointwise convs of any window, and a linear layer; the operands span
// the int8 ranges, extremes included.
func TestConvRunMatchesDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, c := range []struct {
		inC, outC, groups, h, w int
		win                     ir.Window
	}{
		{3, 8, 1, 9, 11, ir.SquareWindow(3, 2, 1)},  // a stem
		{16, 24, 1, 7, 7, ir.SquareWindow(1, 1, 0)}, // pointwise
		{20, 12, 1, 6, 5, ir.SquareWindow(1, 2, 0)}, // strided 1x1: not pointwise
		{8, 8, 8, 10, 9, ir.SquareWindow(3, 1, 1)},  // depthwise
		{8, 8, 8, 11, 10, ir.SquareWindow(3, 2, 1)},
		{6, 12, 6, 9, 9, ir.SquareWindow(5, 2, 2)}, // channel multiplier 2
		{4, 4, 4, 8, 8, ir.Window{KH: 3, KW: 3, SH: 1, SW: 1, DH: 2, DW: 2, PadT: 2, PadL: 2, PadB: 2, PadR: 2}},
		{4, 4, 4, 9, 7, ir.Window{KH: 1, KW: 5, SH: 2, SW: 1, DH: 1, DW: 1, PadT: 0, PadL: 1, PadB: 0, PadR: 3}},
		{4, 4, 4, 3, 3, ir.Window{KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 3, PadL: 3, PadB: 3, PadR: 3}}, // taps wholly in the padding
		{16, 32, 4, 8, 8, ir.SquareWindow(3, 1, 1)},                                                              // grouped
		{32, 16, 1, 9, 8, ir.Window{KH: 1, KW: 7, SH: 1, SW: 1, DH: 1, DW: 1, PadT: 0, PadL: 3, PadB: 0, PadR: 3}},
		{64, 40, 1, 5, 6, ir.Window{KH: 3, KW: 2, SH: 2, SW: 1, DH: 1, DW: 2, PadT: 1, PadL: 0, PadB: 2, PadR: 1}},
		{40, 10, 1, 0, 0, ir.SquareWindow(1, 1, 0)}, // a linear layer
	} {
		name := fmt.Sprintf("%d->%d/g%d/%dx%d/%+v", c.inC, c.outC, c.groups, c.h, c.w, c.win)
		t.Run(name, func(t *testing.T) {
			src := &Tensor{Shape: []int{c.inC, c.h, c.w}, Zero: int32(r.IntN(256))}
			dst := &Tensor{Zero: int32(r.IntN(256))}
			if c.h == 0 {
				src.Shape = []int{c.inC}
				dst.Shape = []int{c.outC}
			} else {
				oh, ow := c.win.OutSize(c.h, c.w, false)
				dst.Shape = []int{c.outC, oh, ow}
			}
			win := c.win
			cv := &Conv{InC: c.inC, OutC: c.outC, Groups: c.groups, Geom: &win, Lo: 0, Hi: 255,
				Weight: make([]int8, c.outC*c.inC/c.groups*c.win.Taps()), M: make([]float32, c.outC), B: make([]float32, c.outC)}
			for i := range cv.Weight {
				cv.Weight[i] = int8(r.IntN(255) - 127)
			}
			for oc := range cv.M {
				cv.M[oc], cv.B[oc] = float32(r.Float64()*1e-3), float32(r.NormFloat64())
			}
			x := make([]uint8, src.Elems())
			for i := range x {
				x[i] = uint8(r.IntN(256))
			}
			if len(x) > 0 {
				x[0], x[len(x)-1] = 0, 255
			}
			want, got := make([]uint8, dst.Elems()), make([]uint8, dst.Elems())
			directConv(cv, src, x, dst, want, nil)
			newConvRun(cv, src, dst).run(x, got, nil)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("outputs (-direct +convRun):\n%s", diff)
			}
			ws, gs := make([]int64, c.outC), make([]int64, c.outC)
			directConv(cv, src, x, dst, nil, ws)
			newConvRun(cv, src, dst).run(x, nil, gs)
			if diff := cmp.Diff(ws, gs); diff != "" {
				t.Errorf("sums (-direct +convRun):\n%s", diff)
			}
		})
	}
}

// BenchmarkConvRun times one sample of MobileNetV2-224's layer kinds on the
// interpreter: a 56x56 depthwise 3x3, a 1x1 of 144 -> 24 channels and the
// 3x3 stride-2 stem.
func BenchmarkConvRun(b *testing.B) {
	for _, c := range []struct {
		name                 string
		inC, outC, groups, h int
		win                  ir.Window
	}{
		{"depthwise56", 144, 144, 144, 56, ir.SquareWindow(3, 1, 1)},
		{"pointwise56", 144, 24, 1, 56, ir.SquareWindow(1, 1, 0)},
		{"stem224", 3, 32, 1, 224, ir.SquareWindow(3, 2, 1)},
	} {
		b.Run(c.name, func(b *testing.B) {
			win := c.win
			oh, ow := win.OutSize(c.h, c.h, false)
			src, dst := &Tensor{Shape: []int{c.inC, c.h, c.h}, Zero: 3}, &Tensor{Shape: []int{c.outC, oh, ow}, Zero: 5}
			cv := &Conv{InC: c.inC, OutC: c.outC, Groups: c.groups, Geom: &win, Hi: 255,
				Weight: make([]int8, c.outC*c.inC/c.groups*win.Taps()), M: make([]float32, c.outC), B: make([]float32, c.outC)}
			for i := range cv.Weight {
				cv.Weight[i] = int8(i%255 - 127)
			}
			for oc := range cv.M {
				cv.M[oc] = 1e-3
			}
			x, y := make([]uint8, src.Elems()), make([]uint8, dst.Elems())
			for i := range x {
				x[i] = uint8(i * 7)
			}
			run := newConvRun(cv, src, dst)
			for b.Loop() {
				run.run(x, y, nil)
			}
		})
	}
}
