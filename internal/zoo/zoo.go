// Package zoo builds the test graph that holds every op of the imported
// families (a float ir graph with random weights, 3x9x9 in, 6 logits out),
// and its calibration, for the tests of compiler, lower, codegen and asmgen
// alike.
package zoo

import (
	"math/rand/v2"

	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/ir"
)

// Graph holds every op the imported families bring, in the patterns they
// use: a rectangular grouped conv, hardswish, a
// squeeze-excitation with hardsigmoid, SiLU and sigmoid, CBAM's spatial
// attention (channel max and mean, a sigmoid plane times every channel), the activations of
// hand-written CNNs (softplus, mish, PReLU, tanh, ELU, a clip, SELU, CELU,
// softsign, abs, erf, GELU), a standalone affine
// with its ReLU (DenseNet's BatchNorm and ReLU after a concat), subtractions
// (one into a conv's epilogue, with a ReLU), a ReLU6 that
// fuses into nothing (after a pool), LeakyReLU,
// concats of differing and of equal qparams, slices and a channel shuffle,
// ceil-mode, rectangular and count_include_pad pools, a dilated grouped conv,
// grouped convs of 8 channels a group in an odd number of groups (RegNetY's
// 104 channels in 13) and of 10 -> 3, and a linear layer on a flattened 2x3 map
// (VGG's and AlexNet's classifier), whose outputs end in a LogSoftmax.
func Graph(r *rand.Rand) *ir.Graph {
	bld := NewBuilder("zoo", r, 3, 9, 9)
	g, conv, add := bld.G, bld.Conv, bld.Op
	x := add(ir.OpQuant, "quant", nil, g.Input)
	x = conv("stem", x, 3, 8, 1, ir.Window{KH: 1, KW: 3, SH: 1, SW: 2, PadL: 1, PadR: 1, DH: 1, DW: 1}, ir.ActNone)     // 8x9x5
	x = conv("grouped", x, 8, 8, 4, ir.Window{KH: 3, KW: 1, SH: 1, SW: 1, PadT: 2, PadB: 0, DH: 1, DW: 1}, ir.ActReLU6) // 8x9x5
	x = add(ir.OpHardSwish, "hs", nil, x)
	s := add(ir.OpAvgPool, "se.pool", &ir.Node{Pool: &ir.Pool{Window: ir.Window{KH: 9, KW: 5, SH: 1, SW: 1, DH: 1, DW: 1}}}, x)
	s = conv("se.fc1", s, 8, 4, 1, ir.SquareWindow(1, 1, 0), ir.ActReLU)
	s = conv("se.fc2", s, 4, 8, 1, ir.SquareWindow(1, 1, 0), ir.ActNone)
	s = add(ir.OpHardSigmoid, "se.hsig", &ir.Node{Unary: &ir.Unary{Alpha: 1.0 / 6, Beta: 0.5}}, s)
	x = add(ir.OpMul, "se.mul", nil, x, s)
	// CBAM's spatial gate: the channels' max and mean, a conv to one plane.
	sm := add(ir.OpChannelMax, "sa.max", nil, x)
	sg := conv("sa.mean", x, 8, 1, 1, ir.SquareWindow(1, 1, 0), ir.ActNone)
	sa := add(ir.OpConcat, "sa.cat", nil, sm, sg)
	sa = conv("sa", sa, 2, 1, 1, ir.SquareWindow(3, 1, 1), ir.ActNone)
	sa = add(ir.OpSigmoid, "sa.sig", nil, sa)
	x = add(ir.OpMul, "sa.mul", nil, x, sa)
	a := conv("a", x, 8, 8, 8, ir.SquareWindow(5, 1, 2), ir.ActNone) // depthwise 5x5
	a = add(ir.OpSoftplus, "a.softplus", nil, a)                     // the conv's epilogue
	a = add(ir.OpSiLU, "a.silu", nil, a)
	a = add(ir.OpMish, "a.mish", nil, a)
	b := add(ir.OpSlice, "b", &ir.Node{Slice: &ir.Slice{Start: 2, End: 6}}, x)
	b = add(ir.OpLeakyReLU, "b.lrelu", &ir.Node{Unary: &ir.Unary{Alpha: 0.1}}, b)
	b = add(ir.OpPReLU, "b.prelu", &ir.Node{Slope: []float32{0.5, -0.25, 2, 0}}, b)
	b = add(ir.OpSELU, "b.selu", &ir.Node{Unary: &ir.Unary{Alpha: 1.6732632, Beta: 1.050701}}, b)
	b = add(ir.OpCELU, "b.celu", &ir.Node{Unary: &ir.Unary{Alpha: 0.7}}, b)
	b = add(ir.OpSoftsign, "b.softsign", nil, b)
	c := add(ir.OpSigmoid, "c", nil, x)
	d := add(ir.OpMul, "d", nil, c, x) // elementwise
	d = add(ir.OpTanh, "d.tanh", nil, d)
	d = add(ir.OpELU, "d.elu", &ir.Node{Unary: &ir.Unary{Alpha: 0.5}}, d)
	d = add(ir.OpSub, "d.sub", nil, d, c) // the add kernel at a negative scale
	d = add(ir.OpAbs, "d.abs", nil, d)
	d = add(ir.OpErf, "d.erf", nil, d)
	d = add(ir.OpGELU, "d.gelu", nil, d)
	// A concat of x and a slice of it: with a min/max observer its qparams
	// are x's, and its inputs are copied.
	e := add(ir.OpSlice, "e", &ir.Node{Slice: &ir.Slice{Start: 0, End: 3}}, x)
	e = add(ir.OpConcat, "cat2", nil, x, e) // 11 channels
	e = add(ir.OpClip, "e.clip", &ir.Node{Unary: &ir.Unary{Alpha: -0.5, Beta: 1.5}}, e)
	x = add(ir.OpConcat, "cat", nil, a, b, c, d, e) // 39 channels
	x = add(ir.OpShuffle, "shuffle", &ir.Node{Perm: ShufflePerm(39, 3)}, x)
	af := &ir.Affine{C: 39, Scale: make([]float32, 39), Shift: make([]float32, 39)}
	for i := range af.Scale {
		af.Scale[i], af.Shift[i] = float32(0.5+r.Float64()), float32(0.2*r.NormFloat64())
	}
	x = add(ir.OpAffine, "bn", &ir.Node{Affine: af, Act: ir.ActReLU}, x)
	x = add(ir.OpMaxPool, "maxpool", &ir.Node{Pool: &ir.Pool{Window: ir.SquareWindow(3, 2, 0), Ceil: true}}, x)                 // 39x5x2
	x = add(ir.OpReLU6, "pool.relu6", nil, x)                                                                                   // fuses into nothing
	x = add(ir.OpAvgPool, "avgpool", &ir.Node{Pool: &ir.Pool{Window: ir.SquareWindow(2, 2, 1), Ceil: true, CountPad: true}}, x) // 39x3x2
	x = conv("dilated", x, 39, 24, 3, ir.Window{KH: 2, KW: 2, SH: 1, SW: 1, PadT: 1, PadL: 1, PadB: 1, PadR: 1, DH: 2, DW: 1}, ir.ActReLU)
	x = conv("widen", x, 24, 40, 1, ir.SquareWindow(1, 1, 0), ir.ActReLU)
	y := conv("sub.conv", x, 40, 40, 1, ir.SquareWindow(1, 1, 0), ir.ActNone)
	x = add(ir.OpSub, "sub", &ir.Node{Act: ir.ActReLU}, x, y)                                                                                                 // x - conv(x): the conv's epilogue, the conv's codes at a negative scale
	x = conv("regnet", x, 40, 40, 5, ir.SquareWindow(3, 1, 1), ir.ActReLU)                                                                                    // 8 -> 8 a group, 2.5 units
	x = conv("resnext", x, 40, 12, 4, ir.SquareWindow(3, 1, 1), ir.ActReLU)                                                                                   // square grouped
	x = add(ir.OpMaxPool, "rectpool", &ir.Node{Pool: &ir.Pool{Window: ir.Window{KH: 2, KW: 3, SH: 1, SW: 1, PadL: 1, PadR: 1, DH: 1, DW: 1}, Ceil: true}}, x) // 12x2x3
	x = add(ir.OpFlatten, "flatten", nil, x)
	x = bld.Linear("head", x, 72, 6)
	x = add(ir.OpLogSoftmax, "logsoftmax", nil, x)
	g.Output = add(ir.OpDeQuant, "dequant", nil, x)
	return g
}

// ShufflePerm is ShuffleNet's channel shuffle of c channels in g groups.
func ShufflePerm(c, g int) []int {
	p := make([]int, c)
	for i := range p {
		p[i] = i%g*(c/g) + i/g
	}
	return p
}

// Calibrated is Graph (shapes inferred) calibrated with qconfig on 64 N(0,1)
// samples in batches of 16, with a description of its 3x9x9 input (no
// normalization); it returns the first 16 samples too, NCHW.
func Calibrated(qconfig string) (*ir.Graph, *ir.Description, *calibrate.Result, []float32, error) {
	r := rand.New(rand.NewPCG(7, 8))
	g := Graph(r)
	d, cal, ds, err := Calibrate(g, qconfig, r, 64)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return g, d, cal, ds.X[:16*3*81], nil
}
