package ir

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// poolInput is the 1x5x6 plane of tools' pool goldens: (i*0.37) % 3 - 1.2.
var poolInput = []float32{-1.2, -0.83, -0.46, -0.09, 0.28, 0.65, 1.02, 1.39, 1.76, -0.87, -0.5, -0.13, 0.24, 0.61, 0.98, 1.35, 1.72, -0.91, -0.54, -0.17, 0.2, 0.57, 0.94, 1.31, 1.68, -0.95, -0.58, -0.21, 0.160001, 0.53}

// runOne builds input -> node -> output on shape in, runs x through the
// reference and the compiled program and checks both give want.
func runOne(t *testing.T, nd *Node, in [][]int, xs [][]float32, wantShape []int, want []float32, tol float64) {
	t.Helper()
	g := &Graph{Name: "one"}
	// A graph has one input: the others are made from it by Slice nodes of a concatenation.
	if len(in) == 1 {
		g.Input = g.NewTensor(in[0])
		nd.Name = "op"
		g.Output = g.Add(nd, g.Input)
	} else {
		total := 0
		for _, s := range in {
			total += s[0]
		}
		shape := append([]int{total}, in[0][1:]...)
		g.Input = g.NewTensor(shape)
		var ids []int
		off := 0
		for i, s := range in {
			ids = append(ids, g.Add(&Node{Op: OpSlice, Name: "in" + string(rune('a'+i)), Slice: &Slice{off, off + s[0]}}, g.Input))
			off += s[0]
		}
		nd.Name = "op"
		g.Output = g.Add(nd, ids...)
	}
	if err := InferShapes(g); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantShape, g.Tensors[g.Output].Shape); diff != "" {
		t.Fatalf("%s shape (-want +got):\n%s", Repr(nd), diff)
	}
	var x []float32
	if len(in) == 1 {
		x = xs[0]
	} else {
		// Interleave per channel block: the inputs are channel ranges of one tensor.
		for _, v := range xs {
			x = append(x, v...)
		}
	}
	ref, err := Reference(g, x, 1, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := Run(g, x, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range [][]float32{ref, fast} {
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", Repr(nd), len(got), len(want))
		}
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > tol {
				t.Fatalf("%s: value %d = %g, want %g (all: %v)", Repr(nd), i, got[i], want[i], got)
			}
		}
	}
}

func win(kh, kw, sh, sw, pt, pl, pb, pr, dh, dw int) Window {
	return Window{KH: kh, KW: kw, SH: sh, SW: sw, PadT: pt, PadL: pl, PadB: pb, PadR: pr, DH: dh, DW: dw}
}

// TestPoolsMatchPyTorch: goldens from torch 1.13's F.avg_pool2d and
// F.max_pool2d on poolInput.
func TestPoolsMatchPyTorch(t *testing.T) {
	for _, c := range []struct {
		op    Op
		pool  Pool
		shape []int
		want  []float32
	}{
		{OpAvgPool, Pool{Window: SquareWindow(3, 2, 1), Ceil: true, CountPad: true}, []int{1, 3, 4},
			[]float32{0.042222, 0.1, -0.073333, 0.086667, 0.283333, 0.646667, 0.386667, 0.045, 0.002222, -0.126667, 0.366667, 0.306667}},
		{OpAvgPool, Pool{Window: SquareWindow(3, 2, 1), Ceil: true}, []int{1, 3, 4},
			[]float32{0.095, 0.15, -0.11, 0.26, 0.425, 0.646667, 0.386667, 0.09, 0.005, -0.19, 0.55, 0.92}},
		{OpAvgPool, Pool{Window: win(2, 3, 2, 1, 1, 1, 1, 1, 1, 1)}, []int{1, 3, 6},
			[]float32{-1.015, -0.83, -0.46, -0.09, 0.28, 0.465, 0.815, 1.0, 0.87, 0.74, 0.11, 0.045, 0.005, -0.06, -0.19, 0.18, 0.55, 0.735}},
		{OpAvgPool, Pool{Window: SquareWindow(2, 2, 0), Ceil: true, CountPad: true}, []int{1, 3, 3},
			[]float32{0.095, 0.085, 0.075, 0.035, 0.775, 0.765, 0.365, -0.395, 0.345001}},
		{OpMaxPool, Pool{Window: SquareWindow(3, 2, 0), Ceil: true}, []int{1, 2, 3},
			[]float32{1.76, 1.76, 1.72, 1.68, 1.72, 1.72}},
		{OpMaxPool, Pool{Window: win(2, 2, 2, 2, 1, 1, 1, 1, 2, 2)}, []int{1, 3, 3},
			[]float32{1.39, 1.39, -0.13, 1.39, 1.39, 1.31, -0.17, 0.57, 1.31}},
		{OpMaxPool, Pool{Window: win(3, 2, 1, 2, 1, 0, 1, 0, 1, 1), Ceil: true}, []int{1, 5, 3},
			[]float32{1.39, 1.76, 0.65, 1.39, 1.76, 1.72, 1.39, 1.76, 1.72, 1.68, 1.35, 1.72, 1.68, 0.57, 1.31}},
	} {
		p := c.pool
		runOne(t, &Node{Op: c.op, Pool: &p}, [][]int{{1, 5, 6}}, [][]float32{poolInput}, c.shape, c.want, 2e-6)
	}
}

func TestElementwiseOps(t *testing.T) {
	x := []float32{-4, -1, -0.25, 0, 0.5, 2, 3.5, 7}
	shape := []int{2, 2, 2}
	apply := func(f func(float64) float64) []float32 {
		var y []float32
		for _, v := range x {
			y = append(y, float32(f(float64(v))))
		}
		return y
	}
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	clamp := func(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }
	for _, c := range []struct {
		nd   Node
		want []float32
	}{
		{Node{Op: OpSigmoid}, apply(sig)},
		{Node{Op: OpSiLU}, apply(func(v float64) float64 { return v * sig(v) })},
		{Node{Op: OpHardSigmoid, Unary: &Unary{Alpha: 0.2, Beta: 0.5}}, apply(func(v float64) float64 { return clamp(0.2*v+0.5, 0, 1) })},
		{Node{Op: OpHardSwish}, apply(func(v float64) float64 { return v * clamp(v+3, 0, 6) / 6 })},
		{Node{Op: OpLeakyReLU, Unary: &Unary{Alpha: 0.1}}, apply(func(v float64) float64 { return math.Max(v, 0.1*v) })},
		{Node{Op: OpTanh}, apply(math.Tanh)},
		{Node{Op: OpELU, Unary: &Unary{Alpha: 0.5}}, apply(func(v float64) float64 { return math.Max(v, 0.5*(math.Exp(math.Min(v, 0))-1)) })},
		{Node{Op: OpSoftplus}, apply(func(v float64) float64 { return math.Log(1 + math.Exp(v)) })},
		{Node{Op: OpMish}, apply(func(v float64) float64 { return v * math.Tanh(math.Log(1+math.Exp(v))) })},
		{Node{Op: OpClip, Unary: &Unary{Alpha: -0.5, Beta: 3}}, apply(func(v float64) float64 { return clamp(v, -0.5, 3) })},
		// torch.nn.functional's values at x (PyTorch 1.13).
		{Node{Op: OpSELU, Unary: &Unary{Alpha: 1.6732632, Beta: 1.050701}}, []float32{-1.7258986, -1.1113307, -0.38889018, 0, 0.5253505, 2.101402, 3.6774535, 7.354907}},
		{Node{Op: OpCELU, Unary: &Unary{Alpha: 0.5}}, []float32{-0.49983227, -0.43233237, -0.19673467, 0, 0.5, 2, 3.5, 7}},
		{Node{Op: OpSoftsign}, []float32{-0.8, -0.5, -0.2, 0, 0.33333334, 0.6666667, 0.7777778, 0.875}},
		{Node{Op: OpAbs}, []float32{4, 1, 0.25, 0, 0.5, 2, 3.5, 7}},
		{Node{Op: OpErf}, []float32{-1, -0.8427008, -0.2763264, 0, 0.5204999, 0.9953223, 0.9999993, 1}},
		{Node{Op: OpGELU}, []float32{-0.00012671947, -0.15865529, -0.10032343, 0, 0.3457312, 1.95450, 3.4991856, 7}},
		{Node{Op: OpPReLU, Slope: []float32{0.5, -2}}, []float32{-2, -0.5, -0.125, 0, 0.5, 2, 3.5, 7}},
		{Node{Op: OpAffine, Affine: &Affine{C: 2, Scale: []float32{2, -1}, Shift: []float32{0.5, 1}}},
			[]float32{-7.5, -1.5, 0, 0.5, 0.5, -1, -2.5, -6}},
		{Node{Op: OpAffine, Act: ActReLU6, Affine: &Affine{C: 2, Scale: []float32{-2, 1}, Shift: []float32{0.5, -1}}},
			[]float32{6, 2.5, 1, 0.5, 0, 1, 2.5, 6}},
		{Node{Op: OpShuffle, Perm: []int{1, 0}}, []float32{0.5, 2, 3.5, 7, -4, -1, -0.25, 0}},
		{Node{Op: OpSlice, Slice: &Slice{1, 2}}, []float32{0.5, 2, 3.5, 7}},
	} {
		nd := c.nd
		want := shape
		if nd.Op == OpSlice {
			want = []int{1, 2, 2}
		}
		runOne(t, &nd, [][]int{shape}, [][]float32{x}, want, c.want, 1e-6)
	}
}

func TestSoftmax(t *testing.T) {
	x := []float32{1, 2, 3, 0, 0, 0}
	runOne(t, &Node{Op: OpSoftmax}, [][]int{{3}}, [][]float32{x[:3]}, []int{3}, []float32{0.09003057, 0.24472847, 0.66524096}, 1e-7)
	runOne(t, &Node{Op: OpLogSoftmax}, [][]int{{3, 1, 1}}, [][]float32{x[:3]}, []int{3, 1, 1}, []float32{-2.40760596, -1.40760596, -0.40760596}, 1e-7)
}

func TestMulConcat(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	// Squeeze-excitation: x * mean(x) per channel.
	g := &Graph{Name: "se"}
	g.Input = g.NewTensor([]int{2, 2, 2})
	m := g.Add(&Node{Op: OpAvgPool, Name: "pool", Pool: &Pool{Window: SquareWindow(2, 1, 0)}}, g.Input)
	g.Output = g.Add(&Node{Op: OpMul, Name: "mul"}, g.Input, m)
	if err := InferShapes(g); err != nil {
		t.Fatal(err)
	}
	for _, run := range []func() ([]float32, error){
		func() ([]float32, error) { return Reference(g, a, 1, nil, nil) },
		func() ([]float32, error) { return Run(g, a, 1, nil) },
	} {
		got, err := run()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]float32{2.5, 5, 7.5, 10, 32.5, 39, 45.5, 52}, got); diff != "" {
			t.Errorf("squeeze-excitation (-want +got):\n%s", diff)
		}
	}
	runOne(t, &Node{Op: OpMul}, [][]int{{1, 2, 2}, {1, 2, 2}}, [][]float32{a[:4], a[4:]}, []int{1, 2, 2},
		[]float32{5, 12, 21, 32}, 0)
	runOne(t, &Node{Op: OpSub, Act: ActReLU}, [][]int{{1, 2, 2}, {1, 2, 2}}, [][]float32{{1, 5, 3, 9}, {2, 4, 3, 1}}, []int{1, 2, 2},
		[]float32{0, 1, 0, 8}, 0)
	runOne(t, &Node{Op: OpChannelMax}, [][]int{{2, 2, 2}}, [][]float32{{1, -2, 3, 8, 5, 0, -3, 4}}, []int{1, 2, 2},
		[]float32{5, 0, 3, 8}, 0)
	// Spatial attention: each channel times the one plane.
	runOne(t, &Node{Op: OpMul}, [][]int{{2, 2, 2}, {1, 2, 2}}, [][]float32{a, a[:4]}, []int{2, 2, 2},
		[]float32{1, 4, 9, 16, 5, 12, 21, 32}, 0)
	runOne(t, &Node{Op: OpConcat}, [][]int{{1, 2, 2}, {2, 2, 2}}, [][]float32{a[:4], a}, []int{3, 2, 2},
		append(append([]float32(nil), a[:4]...), a...), 0)
}

func TestNewOpShapeErrors(t *testing.T) {
	for _, c := range []struct {
		nd   *Node
		in   [][]int
		want string
	}{
		{&Node{Op: OpMul}, [][]int{{2, 3, 3}, {3, 1, 1}}, "want equal shapes, or [C,H,W] and [C,1,1]"},
		{&Node{Op: OpSoftmax}, [][]int{{2, 3, 3}}, "input shape [2 3 3], want [features]"},
		{&Node{Op: OpClip, Unary: &Unary{Alpha: 1, Beta: 1}}, [][]int{{2, 3, 3}}, "clip bounds [1, 1]"},
		{&Node{Op: OpChannelMax}, [][]int{{6}}, "want [C,H,W]"},
		{&Node{Op: OpPReLU, Slope: []float32{1}}, [][]int{{2, 3, 3}}, "1 slopes for input shape [2 3 3]"},
		{&Node{Op: OpConcat}, [][]int{{2, 3, 3}, {2, 4, 3}}, "differ past the channels"},
		{&Node{Op: OpSlice, Slice: &Slice{2, 5}}, [][]int{{4, 1, 1}}, "channels [2, 5)"},
		{&Node{Op: OpShuffle, Perm: []int{0, 0}}, [][]int{{2, 1, 1}}, "is not one of 2 channels"},
		{&Node{Op: OpAffine, Affine: &Affine{C: 3, Scale: []float32{1}, Shift: []float32{1}}}, [][]int{{3, 1, 1}}, "1 scales and 1 shifts for 3 channels"},
		{&Node{Op: OpMaxPool, Pool: &Pool{Window: SquareWindow(3, 1, 3)}}, [][]int{{1, 4, 4}}, "padding [3 3 3 3]"},
		{&Node{Op: OpAvgPool, Pool: &Pool{Window: win(3, 3, 1, 1, 0, 0, 0, 0, 2, 1)}}, [][]int{{1, 9, 9}}, "average pooling has none"},
		{&Node{Op: OpConv, Conv: &Conv{InC: 1, OutC: 1, Groups: 1, Window: win(3, 3, 0, 1, 0, 0, 0, 0, 1, 1)}}, [][]int{{1, 9, 9}}, "each must be in [1,"},
		{&Node{Op: OpConv, Conv: &Conv{InC: 1, OutC: 1, Groups: 1, Window: SquareWindow(3, 1, 1), Weight: make([]float32, 8)}}, [][]int{{1, 9, 9}}, "weight has 8 values, want 9"},
	} {
		g := &Graph{}
		var ids []int
		for _, s := range c.in {
			ids = append(ids, g.NewTensor(s))
		}
		c.nd.Name = "n"
		g.Output = g.Add(c.nd, ids...)
		err := InferShapes(g)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.nd.Op, err, c.want)
		}
	}
}

func TestBatchNormToAffine(t *testing.T) {
	g := &Graph{Name: "bn"}
	g.Input = g.NewTensor([]int{2, 1, 2})
	r := g.Add(&Node{Op: OpReLU, Name: "relu"}, g.Input)
	g.Output = g.Add(&Node{Op: OpBatchNorm, Name: "bn", BN: &BatchNorm{C: 2, Weight: []float32{2, 0.5}, Bias: []float32{1, -1},
		Mean: []float32{0.5, 2}, Var: []float32{4, 0.25}, Eps: 1e-5}}, r)
	if err := InferShapes(g); err != nil {
		t.Fatal(err)
	}
	x := []float32{-1, 3, 2, 0.5}
	want, err := Reference(g, x, 1, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := Fuse(g)
	if f.Nodes[1].Op != OpAffine {
		t.Fatalf("after Fuse: %s, want Affine", f.Nodes[1].Op)
	}
	got, err := Run(f, x, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := relDiff(got, want); d > 1e-6 {
		t.Errorf("affine %v vs BatchNorm %v", got, want)
	}
}

// TestFuseAffineReLU: a BatchNorm that follows a ReLU (DenseNet) becomes an
// affine, and the ReLU or ReLU6 after it its activation (PyTorch's
// BNReLU2d), with the unfused graph's values.
func TestFuseAffineReLU(t *testing.T) {
	for _, op := range []Op{OpReLU, OpReLU6} {
		g := &Graph{Name: "bnrelu"}
		g.Input = g.NewTensor([]int{2, 1, 3})
		r := g.Add(&Node{Op: OpReLU, Name: "relu0"}, g.Input)
		bn := g.Add(&Node{Op: OpBatchNorm, Name: "bn", BN: &BatchNorm{C: 2, Weight: []float32{2, -0.5}, Bias: []float32{1, -1},
			Mean: []float32{0.5, 2}, Var: []float32{4, 0.25}, Eps: 1e-5}}, r)
		g.Output = g.Add(&Node{Op: op, Name: "relu1"}, bn)
		if err := InferShapes(g); err != nil {
			t.Fatal(err)
		}
		x := []float32{-1, 3, 9, 0.5, -2, 6}
		want, err := Reference(g, x, 1, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		f := Fuse(g)
		wantAct := map[Op]Act{OpReLU: ActReLU, OpReLU6: ActReLU6}[op]
		if len(f.Nodes) != 2 || f.Nodes[1].Op != OpAffine || f.Nodes[1].Act != wantAct {
			t.Fatalf("%s: after Fuse %d nodes, the last %s with %v; want an affine with %v", op, len(f.Nodes), f.Nodes[len(f.Nodes)-1].Op, f.Nodes[len(f.Nodes)-1].Act, wantAct)
		}
		if got := Repr(f.Nodes[1]); got != map[Op]string{OpReLU: "AffineReLU(2)", OpReLU6: "AffineReLU6(2)"}[op] {
			t.Errorf("%s: printed %s", op, got)
		}
		ref, err := Reference(f, x, 1, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The affine rounds as the BatchNorm does not (TestBatchNormToAffine).
		if d := relDiff(ref, want); d > 1e-6 {
			t.Errorf("%s: fused %v, unfused %v", op, ref, want)
		}
		fast, err := Run(f, x, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ref, fast); diff != "" {
			t.Errorf("%s: fast path against the reference (-want +got):\n%s", op, diff)
		}
	}
}

func TestPrintMACs(t *testing.T) {
	g := &Graph{Name: "m"}
	g.Input = g.NewTensor([]int{4, 6, 6})
	c := &Conv{InC: 4, OutC: 8, Groups: 2, Window: win(1, 3, 1, 2, 0, 1, 0, 1, 1, 1)}
	x := g.Add(&Node{Op: OpConv, Name: "c", Conv: c}, g.Input)
	x = g.Add(&Node{Op: OpFlatten, Name: "f"}, x)
	g.Output = g.Add(&Node{Op: OpLinear, Name: "fc", Linear: &Linear{In: 8 * 6 * 3, Out: 10}}, x)
	if err := InferShapes(g); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := PrintMACs(&b, g); err != nil {
		t.Fatal(err)
	}
	// conv: 8*6*3 outputs x 2 input channels x 3 taps = 864; fc: 1440.
	printHas(t, b.String(),
		"Conv2d(4, 8, kernel_size=(1, 3), stride=(1, 2), padding=(0, 1), groups=2, bias=False) -> [8 6 3]  MACs 864\n",
		"Flatten() -> [144]\n",
		"-> [10]  MACs 1.4k\n",
		"MACs per sample: 2.3k\n",
	)
}

// printHas reports each of wants that the printout lacks.
func printHas(t *testing.T, printout string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(printout, want) {
			t.Errorf("printout lacks %q:\n%s", want, printout)
		}
	}
}

// TestIsUnary: IsUnary names exactly the ops UnaryFunc defines, ReLU and
// ReLU6 aside, so that a new one reaches the interpreters and Convert.
func TestIsUnary(t *testing.T) {
	for op := range Op(len(opNames)) {
		nd := &Node{Op: op, Unary: &Unary{Alpha: 0.5, Beta: 1}}
		want := UnaryFunc(nd) != nil && op != OpReLU && op != OpReLU6
		if IsUnary(op) != want {
			t.Errorf("IsUnary(%v) = %v, want %v", op, IsUnary(op), want)
		}
	}
}
