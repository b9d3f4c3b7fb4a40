package gentest

import (
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/zoo"
	"github.com/ptqc/ptqc/ir"
)

// InceptionModel is an inception block (four branches: pointwise, a 3x1
// window conv, pool then pointwise, depthwise) concatenated, then hardswish, a
// squeeze-excitation, a per-channel affine and a head, calibrated with qconfig on N(0,1) samples.
// The SE's output is then split as ShuffleNet splits: a slice read by a
// pointwise conv and one read in place by a concat. With shared, the first
// concat and its first two branches share the first
// branch's qparams (as PyTorch FX's shared observers give), so those two
// convs write in place into the concat's output (lower's Direct) and the
// other two are requantized. Conv multipliers then no longer match the
// float model exactly; the int8 model stays a valid one, which is what the
// bit-exactness tests need.
func InceptionModel(tb testing.TB, qconfig string, shared bool) *compiler.Model {
	tb.Helper()
	return InceptionSized(tb, qconfig, shared, 7, 9, 1)
}

// InceptionSized is InceptionModel on h x w inputs with k times the channels.
func InceptionSized(tb testing.TB, qconfig string, shared bool, h, w, k int) *compiler.Model {
	tb.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	bld := zoo.NewBuilder("inception", r, 3, h, w)
	g, conv, add := bld.G, bld.Conv, bld.Op
	x := add(ir.OpQuant, "quant", nil, g.Input)
	x = conv("stem", x, 3, 20*k, 1, ir.SquareWindow(3, 1, 1), ir.ActReLU)
	b1 := conv("b1", x, 20*k, 5*k, 1, ir.SquareWindow(1, 1, 0), ir.ActReLU)
	b2 := conv("b2", x, 20*k, 19*k, 1, ir.Window{KH: 3, KW: 1, SH: 1, SW: 1, PadT: 1, PadB: 1, DH: 1, DW: 1}, ir.ActReLU)
	b3 := add(ir.OpMaxPool, "b3.pool", &ir.Node{Pool: &ir.Pool{Window: ir.SquareWindow(3, 1, 1)}}, x)
	b3 = conv("b3", b3, 20*k, 7*k, 1, ir.SquareWindow(1, 1, 0), ir.ActReLU)
	b4 := conv("b4", x, 20*k, 20*k, 20*k, ir.SquareWindow(3, 1, 1), ir.ActReLU6)
	c := 51 * k
	x = add(ir.OpConcat, "cat", nil, b1, b2, b3, b4)
	x = add(ir.OpHardSwish, "hs", nil, x)
	s := add(ir.OpAvgPool, "se.pool", &ir.Node{Pool: &ir.Pool{Window: ir.Window{KH: h, KW: w, SH: 1, SW: 1, DH: 1, DW: 1}}}, x)
	s = conv("se.fc1", s, c, 12*k, 1, ir.SquareWindow(1, 1, 0), ir.ActReLU)
	s = conv("se.fc2", s, 12*k, c, 1, ir.SquareWindow(1, 1, 0), ir.ActNone)
	s = add(ir.OpHardSigmoid, "se.hsig", &ir.Node{Unary: &ir.Unary{Alpha: 1.0 / 6, Beta: 0.5}}, s)
	x = add(ir.OpMul, "se.mul", nil, x, s)
	// ShuffleNet's split: a slice read by a pointwise conv (copied), one read
	// in place by a concat.
	// u is sliced first: the sliced tensor must outlive the slices.
	u := add(ir.OpSlice, "split.u", &ir.Node{Slice: &ir.Slice{Start: 0, End: 13 * k}}, x)
	v := add(ir.OpSlice, "split.v", &ir.Node{Slice: &ir.Slice{Start: 2, End: 2 + 20*k}}, x)
	v = conv("split.conv", v, 20*k, 38*k, 1, ir.SquareWindow(1, 1, 0), ir.ActReLU)
	x = add(ir.OpConcat, "cat.split", nil, v, u)
	af := &ir.Affine{C: c, Scale: make([]float32, c), Shift: make([]float32, c)}
	for i := range af.Scale {
		af.Scale[i], af.Shift[i] = float32(0.5+r.Float64()), float32(0.2*r.NormFloat64())
	}
	x = add(ir.OpAffine, "bn", &ir.Node{Affine: af}, x)
	x = conv("head", x, c, 10, 1, ir.SquareWindow(1, 1, 0), ir.ActNone)
	x = add(ir.OpMean, "mean", nil, x)
	g.Output = add(ir.OpDeQuant, "dequant", nil, x)
	m := Convert(tb, g, qconfig, r)
	if shared {
		ShareConcat(m, 2)
	}
	return m
}

// Convert infers g's shapes, calibrates it with qconfig on 32 N(0,1)
// samples from r and converts it (a model of as many classes as outputs).
func Convert(tb testing.TB, g *ir.Graph, qconfig string, r *rand.Rand) *compiler.Model {
	tb.Helper()
	d, cal, _, err := zoo.Calibrate(g, qconfig, r, 32)
	if err != nil {
		tb.Fatal(err)
	}
	return convert(tb, d, g, cal)
}

// convert is compiler.Convert, failing tb on an error.
func convert(tb testing.TB, d *ir.Description, g *ir.Graph, cal *calibrate.Result) *compiler.Model {
	tb.Helper()
	m, err := compiler.Convert(d, g, cal)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// ShareConcat gives the output of m's first concat and its first n inputs
// the first input's qparams and sets the concat's multipliers again.
func ShareConcat(m *compiler.Model, n int) {
	for _, nd := range m.Nodes {
		if nd.Kind != compiler.KConcat {
			continue
		}
		q := m.Tensors[nd.In[0]]
		for _, id := range append(nd.In[1:n:n], nd.Out) {
			m.Tensors[id].Scale, m.Tensors[id].Zero = q.Scale, q.Zero
		}
		y := m.Tensors[nd.Out]
		for i, id := range nd.In {
			x := m.Tensors[id]
			nd.Concat.M[i] = 0
			if x.Scale != y.Scale || x.Zero != y.Zero {
				nd.Concat.M[i] = float32(x.Scale / y.Scale)
			}
		}
		return
	}
}

// PairModel concatenates two pointwise convs of a wide tensor that dies
// with the second, sharing qparams: both write in place into the concat's
// output (which must not take the wide tensor's bytes), and the concat
// has nothing left to do.
func PairModel(t testing.TB) *compiler.Model {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	bld := zoo.NewBuilder("pair", r, 3, 6, 6)
	conv := func(name string, x, inC, outC int) int {
		return bld.Conv(name, x, inC, outC, 1, ir.SquareWindow(1, 1, 0), ir.ActReLU)
	}
	x := bld.Op(ir.OpQuant, "quant", nil, bld.G.Input)
	x = conv("wide", x, 3, 64)
	a, b := conv("a", x, 64, 8), conv("b", x, 64, 8)
	x = bld.Op(ir.OpConcat, "cat", nil, a, b)
	x = conv("head", x, 16, 4)
	g := bld.G
	g.Output = bld.Op(ir.OpDeQuant, "dequant", nil, x)
	m := Convert(t, g, "fbgemm", r)
	ShareConcat(m, 2)
	return m
}
