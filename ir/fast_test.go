package ir

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/ir/floatk"
)

// fastTolUlps bounds each fast output's distance from the reference
// interpreter's on the same input, in ulps of the sum of the magnitudes of
// its terms (|bias| + sum |w*x|): both sum the same float32 products, the
// fast kernels with fused multiply-adds and (1x1 convs) in another order,
// so they may differ by a few roundings at that magnitude, never more.
const fastTolUlps = 16

func ulp32(x float64) float64 {
	b := math.Float32bits(float32(math.Abs(x)))
	return float64(math.Float32frombits(b+1)) - float64(math.Float32frombits(b))
}

// absGraph is g with |weights| and |biases| and no fused activations: run on
// |x| it gives each output's sum of term magnitudes.
func absGraph(g *Graph) *Graph {
	a := g.Clone()
	abs := func(s []float32) {
		for i, v := range s {
			s[i] = float32(math.Abs(float64(v)))
		}
	}
	for _, n := range a.Nodes {
		n.Act = ActNone
		if n.Conv != nil {
			abs(n.Conv.Weight)
			abs(n.Conv.Bias)
		}
		if n.Linear != nil {
			abs(n.Linear.Weight)
			abs(n.Linear.Bias)
		}
	}
	return a
}

// convGraph is one conv of c on a cxhxw input.
func convGraph(c Conv, h, w int, act Act, seed uint64) *Graph {
	r := rand.New(rand.NewPCG(seed, uint64(c.InC)))
	c.Weight = make([]float32, c.OutC*c.InC/c.Groups*c.Kernel*c.Kernel)
	c.Bias = make([]float32, c.OutC)
	for i := range c.Weight {
		c.Weight[i] = float32(r.NormFloat64())
	}
	for i := range c.Bias {
		c.Bias[i] = float32(r.NormFloat64())
	}
	g := &Graph{Name: "conv"}
	g.Input = g.NewTensor([]int{c.InC, h, w})
	g.Output = g.Add(&Node{Op: OpConv, Name: "conv", Conv: &c, Act: act}, g.Input)
	if err := InferShapes(g); err != nil {
		panic(err)
	}
	return g
}

// checkFast runs each node of g on the reference's input to it, on every
// tier, and compares with the reference output within fastTolUlps.
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
	ag := absGraph(g)
	for _, kt := range floatk.Tiers() {
		p, err := CompileWith(g, kt)
		if err != nil {
			t.Fatal(err)
		}
		ap, err := CompileWith(ag, kt)
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range p.steps {
			nd := st.nd
			vals, avals := make([][]float32, len(g.Tensors)), make([][]float32, len(g.Tensors))
			for _, id := range nd.In {
				vals[id] = ref[id]
				avals[id] = make([]float32, len(ref[id]))
				for j, v := range ref[id] {
					avals[id][j] = float32(math.Abs(float64(v)))
				}
			}
			got, err := p.runStep(st, vals, n, nil)
			if err != nil {
				t.Fatal(err)
			}
			mag, err := ap.runStep(ap.steps[i], avals, n, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := ref[nd.Out]
			worst, at := 0.0, 0
			for j := range want {
				d := math.Abs(float64(got[j])-float64(want[j])) / ulp32(float64(mag[j]))
				if !(d <= worst) {
					worst, at = d, j
				}
			}
			if !(worst <= fastTolUlps) {
				t.Fatalf("%s: %s %s: element %d is %v, reference %v: %.1f ulps of the magnitude %v apart (tolerance %d)",
					kt.Name, g.Name, nd.Name, at, got[at], want[at], worst, mag[at], fastTolUlps)
			}
		}
		// The whole graph: the same output as the reference to within float noise.
		out, err := p.Run(x, n, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := relDiff(out, ref[g.Output]); d > 1e-5 {
			t.Errorf("%s: %s output: relative difference %g from the reference", kt.Name, g.Name, d)
		}
	}
}

func TestFastMatchesReferenceConvs(t *testing.T) {
	for i, c := range []Conv{
		{InC: 3, OutC: 4, Kernel: 3, Stride: 2, Pad: 1, Groups: 1},
		{InC: 6, OutC: 6, Kernel: 3, Stride: 1, Pad: 1, Groups: 6},
		{InC: 6, OutC: 6, Kernel: 3, Stride: 2, Pad: 1, Groups: 6},
		{InC: 8, OutC: 5, Kernel: 1, Stride: 1, Pad: 0, Groups: 1},
		{InC: 40, OutC: 29, Kernel: 1, Stride: 1, Pad: 0, Groups: 1},
		{InC: 4, OutC: 6, Kernel: 3, Stride: 1, Pad: 0, Groups: 2},
		{InC: 2, OutC: 3, Kernel: 5, Stride: 3, Pad: 2, Groups: 1},
		{InC: 5, OutC: 5, Kernel: 5, Stride: 3, Pad: 2, Groups: 5},
		{InC: 18, OutC: 40, Kernel: 1, Stride: 2, Pad: 0, Groups: 1},
	} {
		for _, hw := range [][2]int{{7, 7}, {8, 5}, {1, 1}, {3, 4}, {23, 37}} {
			if hw[0]+2*c.Pad < c.Kernel || hw[1]+2*c.Pad < c.Kernel {
				continue
			}
			for _, act := range []Act{ActNone, ActReLU, ActReLU6} {
				checkFast(t, convGraph(c, hw[0], hw[1], act, uint64(i)), 3, uint64(hw[0]))
			}
		}
	}
}

func TestFastMatchesReferenceMobileNetV2(t *testing.T) {
	g, err := BuildMobileNetV2(smallDesc())
	if err != nil {
		t.Fatal(err)
	}
	Randomize(g, 1)
	checkFast(t, Fuse(g), 5, 2)
	checkFast(t, g, 2, 3) // unfused: BatchNorm, ReLU6 and Dropout nodes too
}

// TestFastPreHook checks that the pre hook sees Conv and Linear outputs
// before their activation, and that the activation is applied after it.
func TestFastPreHook(t *testing.T) {
	g, err := BuildMobileNetV2(smallDesc())
	if err != nil {
		t.Fatal(err)
	}
	Randomize(g, 4)
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
		if d := relDiff(gotPre[name], w); d > 1e-5 {
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
		if d := relDiff(gotPost[name], w); d > 1e-5 {
			t.Errorf("hook at %s: relative difference %g", name, d)
		}
	}
}
