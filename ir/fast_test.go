package ir

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/ir/floatk"
)

// The fast path must compute the reference interpreter's values exactly:
// a tolerance of 0 ulps (a zero's sign may differ: the kernels' ReLU6 keeps
// -0, Go's max does not). Calibration's histogram search amplifies any
// difference (see floatk's package comment).
const fastTolUlps = 0

func ulpsApart(a, b float32) int64 {
	if a == b || (a != a && b != b) {
		return 0
	}
	d := int64(int32(math.Float32bits(a))) - int64(int32(math.Float32bits(b)))
	if d < 0 {
		d = -d
	}
	return max(d, 1)
}

// convGraph is one conv of c on a cxhxw input.
func convGraph(c Conv, h, w int, act Act, seed uint64) *Graph {
	randomWeights(&c, rand.New(rand.NewPCG(seed, uint64(c.InC))))
	g := &Graph{Name: "conv"}
	g.Input = g.NewTensor([]int{c.InC, h, w})
	g.Output = g.Add(&Node{Op: OpConv, Name: "conv", Conv: &c, Act: act}, g.Input)
	if err := InferShapes(g); err != nil {
		panic(err)
	}
	return g
}

// checkFast runs each node of g on the reference's input to it, on every
// tier, and compares with the reference output within fastTolUlps; then the
// whole graph.
func checkFast(t *testing.T, g *Graph, n int, seed uint64) {
	t.Helper()
	x := randomInput(n, g.Tensors[g.Input].Shape, seed)
	ref := map[int][]float32{g.Input: x}
	if _, err := Reference(g, x, n, nil, func(nd *Node, out []float32, _ int) error {
		ref[nd.Out] = out
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	compare := func(what string, got, want []float32) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, reference %d", what, len(got), len(want))
		}
		for j := range want {
			if d := ulpsApart(got[j], want[j]); d > fastTolUlps {
				t.Fatalf("%s: element %d is %v, reference %v: %d ulps apart (tolerance %d)", what, j, got[j], want[j], d, fastTolUlps)
			}
		}
	}
	for _, kt := range floatk.Tiers() {
		p, err := CompileWith(g, kt)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range p.steps {
			nd := st.nd
			if st.kind == stepRef && nd.Op != OpBatchNorm {
				t.Errorf("%s: %s %s (%s) runs the reference's code", kt.Name, g.Name, nd.Name, nd.Op)
			}
			vals := make([][]float32, len(g.Tensors))
			for _, id := range nd.In {
				vals[id] = ref[id]
			}
			for _, w := range []int{0, 1} {
				got, err := p.runStep(st, vals, n, nil, nil, nil, w)
				if err != nil {
					t.Fatal(err)
				}
				compare(kt.Name+": "+g.Name+" "+nd.Name, got, ref[nd.Out])
			}
		}
		for _, pl := range []*pool{nil, &p.pool} {
			for _, w := range []int{0, 1} {
				out, err := p.run(x, n, nil, nil, nil, pl, w, false)
				if err != nil {
					t.Fatal(err)
				}
				compare(kt.Name+": "+g.Name+" output", out, ref[g.Output])
			}
		}
	}
}

func TestFastMatchesReferenceConvs(t *testing.T) {
	for i, c := range testConvs {
		for _, hw := range [][2]int{{7, 7}, {8, 5}, {1, 1}, {3, 4}, {23, 37}} {
			if oh, ow := c.OutSize(hw[0], hw[1], false); oh < 1 || ow < 1 {
				continue
			}
			for _, act := range []Act{ActNone, ActReLU, ActReLU6} {
				checkFast(t, convGraph(c, hw[0], hw[1], act, uint64(i)), 3, uint64(hw[0]))
			}
		}
	}
}

// TestFastMatchesReferenceRandomConvs draws random windows, group counts
// and planes (down to 1x1, and smaller than the kernel with padding).
func TestFastMatchesReferenceRandomConvs(t *testing.T) {
	r := rand.New(rand.NewPCG(24, 7))
	pick := func(lo, hi int) int { return lo + r.IntN(hi-lo+1) }
	for i := 0; i < 120; {
		w := Window{KH: pick(1, 7), KW: pick(1, 7), SH: pick(1, 3), SW: pick(1, 3), DH: pick(1, 3), DW: pick(1, 3)}
		if r.IntN(3) == 0 {
			w.DH, w.DW = 1, 1
		}
		w.PadT, w.PadB = pick(0, w.KH), pick(0, w.KH)
		w.PadL, w.PadR = pick(0, w.KW), pick(0, w.KW)
		groups, icg, ocg := 1, pick(1, 5), pick(1, 5)
		switch r.IntN(3) {
		case 1: // depthwise, or with a channel multiplier
			groups, icg, ocg = pick(2, 6), 1, pick(1, 2)
		case 2:
			groups = pick(2, 4)
		}
		c := Conv{InC: groups * icg, OutC: groups * ocg, Groups: groups, Window: w}
		h, wd := pick(1, 19), pick(1, 19)
		if oh, ow := c.OutSize(h, wd, false); oh < 1 || ow < 1 {
			continue
		}
		act := Act(r.IntN(3))
		t.Logf("case %d: %+v on %dx%d", i, c, h, wd)
		checkFast(t, convGraph(c, h, wd, act, uint64(i)), pick(1, 3), uint64(i))
		i++
	}
}

// TestFastStreamMatchesReference runs every short-sum 1x1 conv with
// GemmDotStream's non-temporal stores: planes whose rows are whole vectors
// (16x16) take them, the others (7x9) fall back to GemmDot.
func TestFastStreamMatchesReference(t *testing.T) {
	defer func(n int) { streamMinOut = n }(streamMinOut)
	streamMinOut = 0
	for _, hw := range [][2]int{{16, 16}, {7, 9}, {32, 8}} {
		c := Conv{InC: 8, OutC: 11, Groups: 1, Window: SquareWindow(1, 1, 0)}
		g := convGraph(c, hw[0], hw[1], ActReLU6, 3)
		p, err := Compile(g)
		if err != nil {
			t.Fatal(err)
		}
		if !p.steps[0].stream {
			t.Fatalf("%dx%d: the conv does not stream", hw[0], hw[1])
		}
		checkFast(t, g, 3, 5)
	}
	checkFast(t, Fuse(randomGraph(t, smallDesc(), 1)), 3, 2)
}

func TestFastMatchesReferenceMobileNetV2(t *testing.T) {
	g := randomGraph(t, smallDesc(), 1)
	checkFast(t, Fuse(g), 5, 2)
	checkFast(t, g, 2, 3) // unfused: BatchNorm, ReLU6 and Dropout nodes too
}

func TestFastMatchesReferenceResNet(t *testing.T) {
	d := &Description{Arch: "resnet", Block: "bottleneck", Layers: []int{1, 2, 1, 1}, Widths: []int{8, 8, 16, 16}, WidthPerGroup: 32, Groups: 1,
		NumClasses: 5, Input: []int{3, 24, 24}, Mean: []float32{0, 0, 0}, Std: []float32{1, 1, 1}, Weights: "model.safetensors"}
	g := randomGraph(t, d, 2)
	checkFast(t, Fuse(g), 3, 2) // max-pool, add_relu
	checkFast(t, g, 2, 3)
}

func TestFastMatchesReferenceMBNets(t *testing.T) {
	for _, arch := range []string{"mnv3", "effb0"} {
		g := buildMBNet(arch, 40)
		checkFast(t, Fuse(g), 3, 4) // SE: AvgPool, Mul by [C,1,1]; HardSwish, SiLU, (Hard)Sigmoid
		checkFast(t, g, 2, 5)       // unfused: BatchNorm and ReLU nodes too
	}
}

// TestFastMatchesReferenceOps runs the ops without MACs on planes large
// enough to be split across workers.
func TestFastMatchesReferenceOps(t *testing.T) {
	for _, hw := range [][2]int{{1, 1}, {5, 3}, {90, 70}} {
		g := &Graph{Name: "ops"}
		g.Input = g.NewTensor([]int{6, hw[0], hw[1]})
		add := func(nd *Node, in ...int) int { return g.Add(nd, in...) }
		x := add(&Node{Op: OpAffine, Name: "affine", Affine: &Affine{C: 6, Scale: []float32{2, -1, 0.5, 3, 1, -0.25}, Shift: []float32{0.5, 1, -1, 0, 2, 0.1}}}, g.Input)
		r := add(&Node{Op: OpReLU, Name: "relu"}, x)
		r6 := add(&Node{Op: OpReLU6, Name: "relu6"}, g.Input)
		l := add(&Node{Op: OpLeakyReLU, Name: "leaky", Unary: &Unary{Alpha: 0.1}}, r6)
		m := add(&Node{Op: OpMul, Name: "mul"}, r, l)
		hs := add(&Node{Op: OpHardSigmoid, Name: "hsig", Unary: &Unary{Alpha: 0.2, Beta: 0.5}}, m)
		cat := add(&Node{Op: OpConcat, Name: "cat"}, hs, g.Input, m)
		sh := add(&Node{Op: OpShuffle, Name: "shuffle", Perm: []int{3, 17, 0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}, cat)
		sl := add(&Node{Op: OpSlice, Name: "slice", Slice: &Slice{Start: 2, End: 14}}, sh)
		mp := add(&Node{Op: OpMaxPool, Name: "maxpool", Pool: &Pool{Window: SquareWindow(3, 2, 1), Ceil: true}}, sl)
		ap := add(&Node{Op: OpAvgPool, Name: "avgpool", Pool: &Pool{Window: win(2, 3, 2, 1, 1, 1, 1, 1, 1, 1), CountPad: true}}, mp)
		gp := add(&Node{Op: OpAvgPool, Name: "gpool", Pool: &Pool{Window: win(hw[0], hw[1], hw[0], hw[1], 0, 0, 0, 0, 1, 1)}}, sl)
		se := add(&Node{Op: OpSigmoid, Name: "sigmoid"}, gp)
		y := add(&Node{Op: OpMul, Name: "se"}, sl, se)
		pl := add(&Node{Op: OpChannelMax, Name: "plane"}, y)
		y = add(&Node{Op: OpMul, Name: "spatial"}, y, pl)
		y = add(&Node{Op: OpSub, Name: "sub"}, y, sl)
		y = add(&Node{Op: OpSiLU, Name: "silu"}, y)
		y = add(&Node{Op: OpHardSwish, Name: "hswish"}, y)
		y = add(&Node{Op: OpPReLU, Name: "prelu", Slope: []float32{0.5, -1, 2, 0, 0.1, 3, -0.5, 1, 1, 0.25, 0, 4}}, y)
		y = add(&Node{Op: OpMish, Name: "mish"}, y)
		y = add(&Node{Op: OpELU, Name: "elu", Unary: &Unary{Alpha: 0.7}}, y)
		y = add(&Node{Op: OpTanh, Name: "tanh"}, y)
		y = add(&Node{Op: OpSoftplus, Name: "softplus"}, y)
		y = add(&Node{Op: OpSELU, Name: "selu", Unary: &Unary{Alpha: 1.5, Beta: 1.1}}, y)
		y = add(&Node{Op: OpCELU, Name: "celu", Unary: &Unary{Alpha: 0.6}}, y)
		y = add(&Node{Op: OpGELU, Name: "gelu"}, y)
		y = add(&Node{Op: OpErf, Name: "erf"}, y)
		y = add(&Node{Op: OpAbs, Name: "abs"}, y)
		y = add(&Node{Op: OpSoftsign, Name: "softsign"}, y)
		y = add(&Node{Op: OpClip, Name: "clip", Unary: &Unary{Alpha: -0.3, Beta: 0.9}}, y)
		y = add(&Node{Op: OpMean, Name: "mean"}, y)
		z := add(&Node{Op: OpMean, Name: "mean2"}, ap)
		y = add(&Node{Op: OpConcat, Name: "cat2"}, y, z)
		g.Output = add(&Node{Op: OpAffine, Name: "affine1d", Affine: &Affine{C: 24, Scale: make([]float32, 24), Shift: make([]float32, 24)}}, y)
		for i := range 24 {
			g.Nodes[len(g.Nodes)-1].Affine.Scale[i] = float32(i) - 11.5
		}
		sm := add(&Node{Op: OpSoftmax, Name: "softmax"}, g.Output)
		g.Output = add(&Node{Op: OpLogSoftmax, Name: "logsoftmax"}, sm)
		if err := InferShapes(g); err != nil {
			t.Fatal(err)
		}
		checkFast(t, g, 3, uint64(hw[0]))
	}
}

// TestFastPreHook checks that the pre hook sees Conv and Linear outputs
// before their activation, and that the activation is applied after it.
func TestFastPreHook(t *testing.T) {
	g := randomGraph(t, smallDesc(), 4)
	g = Fuse(g)
	x := randomInput(2, g.Tensors[g.Input].Shape, 5)
	collect := func(m map[string][]float32) Hook {
		return func(nd *Node, out []float32, _ int) error {
			m[nd.Name] = append([]float32(nil), out...)
			return nil
		}
	}
	wantPre, wantPost := map[string][]float32{}, map[string][]float32{}
	if _, err := Reference(g, x, 2, collect(wantPre), collect(wantPost)); err != nil {
		t.Fatal(err)
	}
	gotPre, gotPost := map[string][]float32{}, map[string][]float32{}
	if _, err := RunHooks(g, x, 2, collect(gotPre), collect(gotPost)); err != nil {
		t.Fatal(err)
	}
	if len(gotPre) != len(wantPre) || len(gotPost) != len(wantPost) {
		t.Fatalf("hooks saw %d and %d nodes, reference %d and %d", len(gotPre), len(gotPost), len(wantPre), len(wantPost))
	}
	negatives := 0
	for name, w := range wantPre {
		if d := relDiff(gotPre[name], w); d != 0 {
			t.Errorf("pre hook at %s: relative difference %g", name, d)
		}
		for _, v := range gotPre[name] {
			if v < 0 {
				negatives++
			}
		}
	}
	if negatives == 0 {
		t.Errorf("the pre hook saw no negative value: activations were applied before it")
	}
	for name, w := range wantPost {
		if d := relDiff(gotPost[name], w); d != 0 {
			t.Errorf("hook at %s: relative difference %g", name, d)
		}
	}
}
