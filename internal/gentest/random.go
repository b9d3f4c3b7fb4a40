// Package gentest builds what the tests of generated packages share: random
// quantized models and a harness that builds and runs generated packages in a
// temporary module.
package gentest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
)

// RandomDesc is a small MobileNetV2 description: random input, width, classes
// and inverted residual setting (strides 1 and 2, with and without residuals).
func RandomDesc(r *rand.Rand) *ir.Description {
	d := ir.DefaultDescription()
	c := []int{1, 3}[r.IntN(2)]
	d.Input = []int{c, 5 + r.IntN(14), 5 + r.IntN(14)}
	d.Mean, d.Std = nil, nil
	for range c {
		d.Mean = append(d.Mean, float32(r.Float64()*0.5))
		d.Std = append(d.Std, float32(0.2+r.Float64()))
	}
	d.Preprocess = ir.Preprocess{}
	d.NumClasses = 2 + r.IntN(11)
	d.WidthMult = []float64{0.25, 0.35, 0.5}[r.IntN(3)]
	d.RoundNearest = []int{4, 8}[r.IntN(2)]
	d.Setting = nil
	for range 1 + r.IntN(3) {
		d.Setting = append(d.Setting, []float64{
			[]float64{1, 2, 3, 6}[r.IntN(4)], float64(8 + r.IntN(25)), float64(1 + r.IntN(3)), float64(1 + r.IntN(2)),
		})
	}
	return d
}

// oddGraph builds, by hand, the layer kinds MobileNetV2 lacks: a grouped (not
// depthwise) conv, a depthwise conv with channel multiplier 2 and a 5x5 kernel,
// a strided and a padded 1x1 conv, ReLU6, an add of two branches and an output
// that is still a feature map (dequantized back to NCHW).
func oddGraph(r *rand.Rand) (*ir.Description, *ir.Graph) {
	d := ir.DefaultDescription()
	d.Input = []int{3, 7 + r.IntN(6), 7 + r.IntN(6)}
	d.Mean, d.Std, d.Preprocess = []float32{0, 0.1, 0.2}, []float32{1, 0.5, 2}, ir.Preprocess{}
	g := &ir.Graph{Name: "odd"}
	g.Input = g.NewTensor(d.Input)
	conv := func(name string, in, inC, outC, k, s, p, groups int) int {
		return g.Add(&ir.Node{Op: ir.OpConv, Name: name, Conv: &ir.Conv{InC: inC, OutC: outC, Window: ir.SquareWindow(k, s, p), Groups: groups, Bias: make([]float32, outC)}}, in)
	}
	x := g.Add(&ir.Node{Op: ir.OpQuant, Name: "quant"}, g.Input)
	x = conv("grouped", x, 3, 6, 3, 1, 1, 3)
	x = g.Add(&ir.Node{Op: ir.OpReLU6, Name: "relu6"}, x)
	a := conv("pw_stride2", x, 6, 8, 1, 2, 0, 1)
	b := conv("dw_mult", x, 6, 12, 5, 2, 2, 6)
	b = g.Add(&ir.Node{Op: ir.OpReLU, Name: "relu"}, b)
	b = conv("pw_pad", b, 12, 8, 1, 1, 1, 1)
	b = conv("crop", b, 8, 8, 3, 1, 0, 1)
	x = g.Add(&ir.Node{Op: ir.OpAdd, Name: "add"}, a, b)
	x = conv("head", x, 8, 4, 3, 1, 1, 2)
	x = g.Add(&ir.Node{Op: ir.OpDeQuant, Name: "dequant"}, x)
	g.Output = x
	return d, g
}

// randomQParams gives every observed tensor qparams that cover its observed
// range in one of several ways, many with zero points near 0 or 255.
func randomQParams(r *rand.Rand, lo, hi float32) calibrate.QParams {
	lo, hi = min(lo, 0), max(hi, 0)
	span := float64(hi - lo)
	if span == 0 {
		span = 1
	}
	switch r.IntN(5) {
	case 0: // zero point near 0: the negative part saturates
		s := max(float64(hi), span/4) / (180 + 80*r.Float64())
		return calibrate.QParams{Scale: float64(float32(s)), ZeroPoint: int32(r.IntN(4))}
	case 1: // zero point near 255: the positive part saturates
		s := max(-float64(lo), span/4) / (180 + 80*r.Float64())
		return calibrate.QParams{Scale: float64(float32(s)), ZeroPoint: int32(252 + r.IntN(4))}
	case 2: // reduce_range style: 7 bits
		q := calibrate.CalculateQParams(lo, hi, calibrate.QUInt8, calibrate.Affine, true)
		return q
	case 3: // too small a scale: much saturates
		s := span / (1000 + 2000*r.Float64())
		return calibrate.QParams{Scale: float64(float32(s)), ZeroPoint: int32(r.IntN(256))}
	}
	return calibrate.CalculateQParams(lo, hi, calibrate.QUInt8, calibrate.Affine, false)
}

// quantizeRandom randomizes g's weights, observes its activations on random
// inputs and converts it with random activation qparams and the named qconfig's
// weight quantization.
func quantizeRandom(r *rand.Rand, d *ir.Description, g *ir.Graph, qconfig string) (*compiler.Model, error) {
	ir.Randomize(g, r.Uint64())
	if err := ir.InferShapes(g); err != nil {
		return nil, err
	}
	g = ir.Fuse(g)
	qc, err := calibrate.LookupQConfig(qconfig)
	if err != nil {
		return nil, err
	}
	lo, hi := map[int]float32{}, map[int]float32{}
	x := RandomInputs(r, g.Tensors[g.Input].Elems(), 4, false)
	if _, err := ir.Run(g, x, 4, func(n *ir.Node, out []float32, _ int) error {
		if !calibrate.Observed(n) {
			return nil
		}
		l, h := float32(math.Inf(1)), float32(math.Inf(-1))
		for _, v := range out {
			l, h = min(l, v), max(h, v)
		}
		lo[n.Out], hi[n.Out] = l, h
		return nil
	}); err != nil {
		return nil, err
	}
	cal := &calibrate.Result{QConfig: qc, Act: map[int]calibrate.QParams{}, Samples: 4}
	for _, n := range g.Nodes { // node order: deterministic draws
		if calibrate.Observed(n) {
			cal.Act[n.Out] = randomQParams(r, lo[n.Out], hi[n.Out])
		}
	}
	m, err := compiler.Convert(d, g, cal)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	m.Meta.Version = compiler.Version
	return m, nil
}

// RandomInputs are n normalized images; with specials, some values are
// huge, infinite or NaN, which the input quantization must saturate or zero.
func RandomInputs(r *rand.Rand, elems, n int, specials bool) []float32 {
	x := make([]float32, elems*n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 1.2)
	}
	if specials {
		for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e30, -1e30, 0} {
			x[r.IntN(len(x))] = v
		}
	}
	return x
}

// RandomModel is model number i of the property test: mostly random
// MobileNetV2s, every fourth one the hand-built odd graph.
func RandomModel(t testing.TB, seed uint64) *compiler.Model {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	qconfig := []string{"fbgemm", "default", "qnnpack", "onednn"}[seed%4]
	var d *ir.Description
	var g *ir.Graph
	if seed%4 == 3 {
		d, g = oddGraph(r)
	} else {
		d = RandomDesc(r)
		var err error
		if g, err = ir.BuildMobileNetV2(d); err != nil {
			t.Fatalf("model %d: %v", seed, err)
		}
	}
	m, err := quantizeRandom(r, d, g, qconfig)
	if err != nil {
		t.Fatalf("model %d: %v", seed, err)
	}
	return m
}
