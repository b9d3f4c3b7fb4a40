package compiler

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/ir"
)

// zooGraph holds every op the imported families bring, in the patterns they
// use: a rectangular grouped conv, hardswish, a squeeze-excitation with
// hardsigmoid, SiLU and sigmoid, a standalone affine, LeakyReLU, concat of
// differing qparams, slice and channel shuffle, ceil-mode pools.
func zooGraph(r *rand.Rand) *ir.Graph {
	g := &ir.Graph{Name: "zoo"}
	g.Input = g.NewTensor([]int{3, 9, 9})
	conv := func(name string, x, inC, outC, groups int, w ir.Window, act ir.Act) int {
		c := &ir.Conv{InC: inC, OutC: outC, Groups: groups, Window: w, Bias: make([]float32, outC)}
		c.Weight = make([]float32, outC*inC/groups*w.Taps())
		sd := 1 / math.Sqrt(float64(inC/groups*w.Taps()))
		for i := range c.Weight {
			c.Weight[i] = float32(r.NormFloat64() * sd)
		}
		for i := range c.Bias {
			c.Bias[i] = float32(0.1 * r.NormFloat64())
		}
		return g.Add(&ir.Node{Op: ir.OpConv, Name: name, Conv: c, Act: act}, x)
	}
	add := func(op ir.Op, name string, n *ir.Node, in ...int) int {
		if n == nil {
			n = &ir.Node{}
		}
		n.Op, n.Name = op, name
		return g.Add(n, in...)
	}
	x := add(ir.OpQuant, "quant", nil, g.Input)
	x = conv("stem", x, 3, 8, 1, ir.Window{KH: 1, KW: 3, SH: 1, SW: 2, PadL: 1, PadR: 1, DH: 1, DW: 1}, ir.ActNone)     // 8x9x5
	x = conv("grouped", x, 8, 8, 4, ir.Window{KH: 3, KW: 1, SH: 1, SW: 1, PadT: 2, PadB: 0, DH: 1, DW: 1}, ir.ActReLU6) // 8x9x5
	x = add(ir.OpHardSwish, "hs", nil, x)
	// squeeze-excitation
	s := add(ir.OpAvgPool, "se.pool", &ir.Node{Pool: &ir.Pool{Window: ir.Window{KH: 9, KW: 5, SH: 1, SW: 1, DH: 1, DW: 1}}}, x)
	s = conv("se.fc1", s, 8, 4, 1, ir.SquareWindow(1, 1, 0), ir.ActReLU)
	s = conv("se.fc2", s, 4, 8, 1, ir.SquareWindow(1, 1, 0), ir.ActNone)
	s = add(ir.OpHardSigmoid, "se.hsig", &ir.Node{Unary: &ir.Unary{Alpha: 1.0 / 6, Beta: 0.5}}, s)
	x = add(ir.OpMul, "se.mul", nil, x, s)
	a := conv("a", x, 8, 8, 8, ir.SquareWindow(5, 1, 2), ir.ActNone) // depthwise 5x5
	a = add(ir.OpSiLU, "a.silu", nil, a)
	b := add(ir.OpSlice, "b", &ir.Node{Slice: &ir.Slice{Start: 2, End: 6}}, x)
	b = add(ir.OpLeakyReLU, "b.lrelu", &ir.Node{Unary: &ir.Unary{Alpha: 0.1}}, b)
	c := add(ir.OpSigmoid, "c", nil, x)
	x = add(ir.OpConcat, "cat", nil, a, b, c) // 20 channels
	x = add(ir.OpShuffle, "shuffle", &ir.Node{Perm: shufflePerm(20, 2)}, x)
	af := &ir.Affine{C: 20, Scale: make([]float32, 20), Shift: make([]float32, 20)}
	for i := range af.Scale {
		af.Scale[i], af.Shift[i] = float32(0.5+r.Float64()), float32(0.2*r.NormFloat64())
	}
	x = add(ir.OpAffine, "bn", &ir.Node{Affine: af}, x)
	x = add(ir.OpMaxPool, "maxpool", &ir.Node{Pool: &ir.Pool{Window: ir.SquareWindow(3, 2, 0), Ceil: true}}, x)                  // 20x5x2
	x = add(ir.OpAvgPool, "avgpool", &ir.Node{Pool: &ir.Pool{Window: ir.SquareWindow(2, 2, 1), Ceil: true, CountPad: false}}, x) // 20x3x2
	x = conv("head", x, 20, 6, 1, ir.Window{KH: 3, KW: 2, SH: 1, SW: 1, DH: 1, DW: 1}, ir.ActNone)
	x = add(ir.OpFlatten, "flatten", nil, x)
	g.Output = add(ir.OpDeQuant, "dequant", nil, x)
	return g
}

// shufflePerm is ShuffleNet's channel shuffle of c channels in g groups.
func shufflePerm(c, g int) []int {
	p := make([]int, c)
	for i := range p {
		p[i] = i%g*(c/g) + i/g
	}
	return p
}

// zooModel calibrates zooGraph on N(0,1) samples (fbgemm) and converts it;
// it returns the model, the float graph and 16 samples.
func zooModel(tb testing.TB) (*Model, *ir.Graph, []float32) {
	tb.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	g := zooGraph(r)
	if err := ir.InferShapes(g); err != nil {
		tb.Fatal(err)
	}
	ds := &data.Samples{C: 3, H: 9, W: 9, X: make([]float32, 64*3*81)}
	for i := range ds.X {
		ds.X[i] = float32(r.NormFloat64())
	}
	qc, err := calibrate.LookupQConfig("fbgemm")
	if err != nil {
		tb.Fatal(err)
	}
	cal, err := calibrate.Calibrate(g, ds, qc, 0, 16, nil)
	if err != nil {
		tb.Fatal(err)
	}
	d := ir.DefaultDescription()
	d.Input, d.Mean, d.Std, d.Preprocess, d.NumClasses = []int{3, 9, 9}, []float32{0, 0, 0}, []float32{1, 1, 1}, ir.Preprocess{}, 6
	m, err := Convert(d, g, cal)
	if err != nil {
		tb.Fatal(err)
	}
	return m, g, ds.X[:16*3*81]
}

func TestInt8OfZooOps(t *testing.T) {
	m, g, x := zooModel(t)
	if diff := cmp.Diff([]int{6}, g.Tensors[g.Output].Shape); diff != "" {
		t.Fatalf("output shape (-want +got):\n%s", diff)
	}
	for name, want := range map[string]Kind{"hs": KTable, "se.pool": KAvgPool, "se.hsig": KTable, "se.mul": KMul, "a.silu": KTable,
		"b": KSlice, "cat": KConcat, "shuffle": KShuffle, "bn": KTable, "maxpool": KMaxPool, "avgpool": KAvgPool} {
		if got := m.Node(name).Kind; got != want {
			t.Errorf("%s: kind %s, want %s", name, got, want)
		}
	}
	if hs := m.Tensors[m.Node("se.hsig").Out]; hs.Scale != 1.0/256 || hs.Zero != 0 {
		t.Errorf("hardsigmoid qparams %v/%d, want PyTorch's fixed 1/256, 0", hs.Scale, hs.Zero)
	}
	f, err := ir.Reference(g, x, 16, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Run(m, x, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The int8 logits follow the float ones within a few output steps.
	step := m.Tensors[m.Node("head").Out].Scale
	var worst float64
	for i := range f {
		worst = max(worst, math.Abs(float64(q[i]-f[i]))/step)
	}
	t.Logf("largest int8 - float difference: %.2f output steps", worst)
	if worst > 8 {
		t.Errorf("int8 logits %.1f steps from float (want <= 8)", worst)
	}
	// The .ptqm round trip keeps every parameter.
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := DecodeModel(b)
	if err != nil {
		t.Fatal(err)
	}
	q2, err := Run(m2, x, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(q, q2); diff != "" {
		t.Errorf("decoded model differs (-before +after):\n%s", diff)
	}
}

// TestZooEqualizeBiasCorrect: equalization and bias correction run on a
// graph with grouped and rectangular convs, SE, concat and tables; what
// they change keeps the float function and the int8 model within a step.
func TestZooEqualizeBiasCorrect(t *testing.T) {
	m, g, x := zooModel(t)
	e := g.Clone()
	n := ir.Equalize(e, 10, 1e-4)
	t.Logf("equalized %d pairs", n)
	want, err := ir.Reference(g, x, 16, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ir.Reference(e, x, 16, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("equalized output %d: %v, want %v", i, got[i], want[i])
		}
	}
	before, err := Run(m, x, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := BiasCorrect(m, g, x, 16, nil); err != nil {
		t.Fatal(err)
	}
	after, err := Run(m, x, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	var de, db float64
	for i := range want {
		de += math.Abs(float64(after[i] - want[i]))
		db += math.Abs(float64(before[i] - want[i]))
	}
	t.Logf("mean |int8 - float| before bias correction %.4f, after %.4f", db/float64(len(want)), de/float64(len(want)))
	if de > 1.5*db {
		t.Errorf("bias correction moved the int8 outputs away from float: %.4f -> %.4f", db, de)
	}
}
