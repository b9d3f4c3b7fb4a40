package ir

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMakeDivisible(t *testing.T) {
	// Values from the tutorial's _make_divisible in Python.
	for _, c := range []struct {
		v    float64
		d    int
		want int
	}{
		{32, 8, 32}, {16 * 0.75, 8, 16}, {24 * 0.75, 8, 24}, {32 * 0.5, 8, 16}, {1280, 8, 1280},
		{96 * 0.35, 8, 32}, {3, 8, 8}, {160 * 1.3, 8, 208}, {20, 8, 24}, {19, 8, 24}, {11, 8, 16}, {36, 8, 40}, {28, 8, 32},
	} {
		if got := MakeDivisible(c.v, c.d, 0); got != c.want {
			t.Errorf("MakeDivisible(%v, %d) = %d, want %d", c.v, c.d, got, c.want)
		}
	}
}

func TestInputTooSmall(t *testing.T) {
	g := &Graph{}
	g.Input = g.NewTensor([]int{3, 2, 2})
	g.Add(&Node{Op: OpConv, Name: "c", Conv: &Conv{InC: 3, OutC: 4, Window: SquareWindow(5, 1, 0), Groups: 1, Weight: make([]float32, 4*3*25)}}, g.Input)
	err := InferShapes(g)
	if err == nil || !strings.Contains(err.Error(), "c (Conv2d): input [3 2 2] smaller than kernel 5") {
		t.Errorf("error %v, want one about the input being too small", err)
	}
}

func TestBuildDefaultChannels(t *testing.T) {
	g, err := BuildMobileNetV2(DefaultDescription())
	if err != nil {
		t.Fatal(err)
	}
	var convs []string
	for _, n := range g.Nodes {
		if n.Op == OpConv && n.Conv.KH == 3 && !n.Conv.Depthwise() {
			convs = append(convs, n.Name)
		}
	}
	if diff := cmp.Diff([]string{"features.0.0"}, convs); diff != "" {
		t.Errorf("full 3x3 convs: %s", diff)
	}
	// torchvision's mobilenet_v2 has 3,504,872 trainable parameters; the state_dict adds
	// the BatchNorm running mean and variance (17,056 channels each).
	if got, want := g.ParamCount(), 3504872+2*17056; got != want {
		t.Errorf("ParamCount = %d, want %d", got, want)
	}
	if got := g.Tensors[g.Output].Shape; !EqualShape(got, []int{1000}) {
		t.Errorf("output shape %v", got)
	}
	adds := 0
	for _, n := range g.Nodes {
		if n.Op == OpAdd {
			adds++
		}
	}
	if adds != 10 {
		t.Errorf("%d residual adds, want 10", adds)
	}
}

// smallDesc is a quick MobileNetV2 with every block kind (t=1, expand, residual).
func smallDesc() *Description {
	d := DefaultDescription()
	d.NumClasses = 7
	d.WidthMult = 0.5
	d.Setting = [][]float64{{1, 16, 1, 1}, {4, 24, 2, 2}, {3, 32, 2, 1}}
	d.Input = []int{3, 20, 20}
	d.Preprocess = Preprocess{}
	return d
}

func randomInput(n int, shape []int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	e := n
	for _, d := range shape {
		e *= d
	}
	x := make([]float32, e)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func relDiff(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i] - b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(num / max(den, 1e-30))
}

// randomGraph builds d's graph with random weights from seed.
func randomGraph(t *testing.T, d *Description, seed uint64) *Graph {
	t.Helper()
	g, err := BuildRandom(d, seed)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// randomWeights gives c normal random weights and biases from r.
func randomWeights(c *Conv, r *rand.Rand) {
	c.Weight = make([]float32, c.OutC*c.InC/c.Groups*c.Taps())
	c.Bias = make([]float32, c.OutC)
	for i := range c.Weight {
		c.Weight[i] = float32(r.NormFloat64())
	}
	for i := range c.Bias {
		c.Bias[i] = float32(r.NormFloat64())
	}
}

func TestFuseKeepsOutputs(t *testing.T) {
	g := randomGraph(t, smallDesc(), 1)
	f := Fuse(g)
	for _, n := range f.Nodes {
		if n.Op == OpBatchNorm || n.Op == OpReLU || n.Op == OpDropout {
			t.Errorf("fused graph still has %s %s", n.Op, n.Name)
		}
	}
	if f.Node("features.0.0").Act != ActReLU || f.Node("features.1.conv.1").Act != ActNone {
		t.Errorf("fusion of features.0.0 / features.1.conv.1 wrong")
	}
	if g.Node("features.0.1") == nil {
		t.Errorf("Fuse changed the original graph")
	}
	sameOutputs(t, "fused vs unfused", g, f, 5, 2)
}

// sameOutputs runs want and got on the same n random inputs (seed) and
// wants their outputs equal within 1e-5 relative.
func sameOutputs(t *testing.T, what string, want, got *Graph, n int, seed uint64) {
	t.Helper()
	x := randomInput(n, want.Tensors[want.Input].Shape, seed)
	w, err := Run(want, x, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Run(got, x, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := relDiff(g, w); d > 1e-5 {
		t.Errorf("%s relative difference %g", what, d)
	}
}

// refConv is the textbook definition, for checking the interpreter's conv.
func refConv(c *Conv, in []float32, ih, iw int) []float32 {
	oh, ow := c.OutSize(ih, iw, false)
	icg, ocg := c.InC/c.Groups, c.OutC/c.Groups
	out := make([]float32, c.OutC*oh*ow)
	for oc := 0; oc < c.OutC; oc++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				var s float64
				if c.Bias != nil {
					s = float64(c.Bias[oc])
				}
				for ic := 0; ic < icg; ic++ {
					for ky := 0; ky < c.KH; ky++ {
						for kx := 0; kx < c.KW; kx++ {
							y, x := oy*c.SH-c.PadT+ky*c.DH, ox*c.SW-c.PadL+kx*c.DW
							if y < 0 || y >= ih || x < 0 || x >= iw {
								continue
							}
							s += float64(c.Weight[((oc*icg+ic)*c.KH+ky)*c.KW+kx]) * float64(in[((oc/ocg*icg+ic)*ih+y)*iw+x])
						}
					}
				}
				out[(oc*oh+oy)*ow+ox] = float32(s)
			}
		}
	}
	return out
}

// testConvs are the conv geometries the float conv tests run: dense,
// depthwise, grouped, channel multipliers, and windows beyond the square.
var testConvs = []Conv{
	{InC: 3, OutC: 4, Window: SquareWindow(3, 2, 1), Groups: 1},
	{InC: 6, OutC: 6, Window: SquareWindow(3, 1, 1), Groups: 6},
	{InC: 6, OutC: 6, Window: SquareWindow(3, 2, 1), Groups: 6},
	{InC: 8, OutC: 5, Window: SquareWindow(1, 1, 0), Groups: 1},
	{InC: 4, OutC: 6, Window: SquareWindow(3, 1, 0), Groups: 2},
	{InC: 2, OutC: 3, Window: SquareWindow(5, 3, 2), Groups: 1},
	{InC: 18, OutC: 40, Window: SquareWindow(1, 2, 0), Groups: 2},
	{InC: 4, OutC: 6, Window: Window{KH: 1, KW: 7, SH: 1, SW: 1, PadL: 3, PadR: 3, DH: 1, DW: 1}, Groups: 1},
	{InC: 4, OutC: 6, Window: Window{KH: 7, KW: 1, SH: 1, SW: 1, PadT: 3, PadB: 3, DH: 1, DW: 1}, Groups: 2},
	{InC: 3, OutC: 3, Window: Window{KH: 3, KW: 2, SH: 2, SW: 1, PadT: 0, PadL: 1, PadB: 2, PadR: 0, DH: 1, DW: 1}, Groups: 3},
	{InC: 2, OutC: 4, Window: Window{KH: 3, KW: 3, SH: 1, SW: 2, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DH: 2, DW: 2}, Groups: 1},
	{InC: 8, OutC: 8, Window: SquareWindow(5, 2, 2), Groups: 8},
	{InC: 8, OutC: 16, Window: SquareWindow(3, 1, 1), Groups: 4},
	{InC: 3, OutC: 3, Window: SquareWindow(3, 1, 0), Groups: 3},
	{InC: 3, OutC: 3, Window: SquareWindow(3, 2, 2), Groups: 3},
	{InC: 40, OutC: 29, Window: SquareWindow(1, 1, 0), Groups: 1},
	{InC: 5, OutC: 5, Window: SquareWindow(5, 3, 2), Groups: 5},
	{InC: 4, OutC: 4, Window: SquareWindow(5, 2, 2), Groups: 4},
	{InC: 4, OutC: 4, Window: SquareWindow(2, 2, 0), Groups: 4},
	{InC: 18, OutC: 40, Window: SquareWindow(1, 2, 0), Groups: 1},
	// grouped (GEMM per group), channel multipliers (depthwise path)
	{InC: 8, OutC: 12, Window: SquareWindow(3, 1, 1), Groups: 4},
	{InC: 16, OutC: 16, Window: SquareWindow(3, 2, 1), Groups: 2},
	{InC: 64, OutC: 64, Window: SquareWindow(3, 1, 1), Groups: 8},
	{InC: 6, OutC: 9, Window: SquareWindow(1, 1, 0), Groups: 3},
	{InC: 6, OutC: 12, Window: SquareWindow(1, 2, 0), Groups: 2},
	{InC: 4, OutC: 8, Window: SquareWindow(3, 1, 1), Groups: 4},
	{InC: 3, OutC: 9, Window: SquareWindow(5, 2, 2), Groups: 3},
	// rectangular kernels, per-axis strides, four pads, dilation
	{InC: 5, OutC: 7, Window: Window{KH: 1, KW: 7, SH: 1, SW: 1, PadL: 3, PadR: 3, DH: 1, DW: 1}, Groups: 1},
	{InC: 5, OutC: 7, Window: Window{KH: 7, KW: 1, SH: 1, SW: 1, PadT: 3, PadB: 3, DH: 1, DW: 1}, Groups: 1},
	{InC: 4, OutC: 6, Window: Window{KH: 1, KW: 3, SH: 1, SW: 2, PadL: 1, PadR: 1, DH: 1, DW: 1}, Groups: 1},
	{InC: 4, OutC: 6, Window: Window{KH: 3, KW: 3, SH: 2, SW: 2, PadB: 1, PadR: 1, DH: 1, DW: 1}, Groups: 1},
	{InC: 3, OutC: 5, Window: Window{KH: 3, KW: 3, SH: 1, SW: 1, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DH: 2, DW: 2}, Groups: 1},
	{InC: 3, OutC: 5, Window: Window{KH: 3, KW: 2, SH: 3, SW: 1, PadT: 4, PadL: 0, PadB: 1, PadR: 3, DH: 1, DW: 3}, Groups: 1},
	{InC: 1, OutC: 3, Window: SquareWindow(3, 1, 5), Groups: 1},
	{InC: 6, OutC: 4, Window: Window{KH: 1, KW: 1, SH: 1, SW: 1, PadT: 1, PadL: 0, PadB: 0, PadR: 2, DH: 1, DW: 1}, Groups: 2},
	{InC: 8, OutC: 8, Window: Window{KH: 1, KW: 5, SH: 2, SW: 1, PadL: 2, PadR: 2, DH: 1, DW: 2}, Groups: 4},
	// depthwise beyond the square 3x3
	{InC: 6, OutC: 6, Window: SquareWindow(7, 1, 3), Groups: 6},
	{InC: 6, OutC: 6, Window: SquareWindow(7, 2, 3), Groups: 6},
	{InC: 4, OutC: 4, Window: Window{KH: 5, KW: 5, SH: 2, SW: 2, PadT: 1, PadL: 1, PadB: 2, PadR: 2, DH: 1, DW: 1}, Groups: 4},
	{InC: 4, OutC: 4, Window: Window{KH: 3, KW: 3, SH: 1, SW: 1, PadT: 0, PadL: 1, PadB: 1, PadR: 0, DH: 1, DW: 1}, Groups: 4},
	{InC: 4, OutC: 4, Window: Window{KH: 1, KW: 7, SH: 1, SW: 2, PadL: 3, PadR: 3, DH: 1, DW: 1}, Groups: 4},
	{InC: 4, OutC: 4, Window: Window{KH: 3, KW: 3, SH: 1, SW: 1, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DH: 2, DW: 2}, Groups: 4},
	{InC: 4, OutC: 4, Window: Window{KH: 3, KW: 3, SH: 3, SW: 2, PadT: 4, PadL: 3, PadB: 0, PadR: 1, DH: 2, DW: 3}, Groups: 4},
}

func TestConvMatchesDefinition(t *testing.T) {
	for _, c := range testConvs {
		for _, hw := range [][2]int{{7, 7}, {8, 5}, {1, 1}, {3, 4}} {
			if oh, ow := c.OutSize(hw[0], hw[1], false); oh < 1 || ow < 1 {
				continue
			}
			c := c
			randomWeights(&c, rand.New(rand.NewPCG(uint64(hw[0]), uint64(c.InC))))
			in := randomInput(1, []int{c.InC, hw[0], hw[1]}, 3)
			oh, ow := c.OutSize(hw[0], hw[1], false)
			got := make([]float32, c.OutC*oh*ow)
			conv(&c, []int{c.InC, hw[0], hw[1]}, in, []int{c.OutC, oh, ow}, got, 0, c.OutC)
			if d := relDiff(got, refConv(&c, in, hw[0], hw[1])); d > 1e-6 {
				t.Errorf("conv %+v on %v: relative difference %g", c, hw, d)
			}
		}
	}
}

func TestPrint(t *testing.T) {
	g := randomGraph(t, smallDesc(), 1)
	var b bytes.Buffer
	if err := Print(&b, Fuse(g)); err != nil {
		t.Fatal(err)
	}
	printHas(t, b.String(),
		"(features.0.0):",
		"ConvReLU2d(3, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=True) -> [16 10 10]",
		"(features.1.conv.0.0):",
		"ConvReLU2d(16, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=16, bias=True)",
		"(classifier.1):",
		"Linear(in_features=1280, out_features=7, bias=True) -> [7]",
		"parameters:",
	)
}

func TestEqualizeKeepsOutputs(t *testing.T) {
	g := randomGraph(t, smallDesc(), 5)
	f := Fuse(g)
	e := f.Clone()
	var names [][2]string
	for _, p := range EqualizePairs(e) {
		names = append(names, [2]string{p.First.Name, p.Second.Name})
	}
	want := [][2]string{
		{"features.0.0", "features.1.conv.0.0"},
		{"features.1.conv.0.0", "features.1.conv.1"},
		{"features.1.conv.1", "features.2.conv.0.0"},
		{"features.2.conv.0.0", "features.2.conv.1.0"},
		{"features.2.conv.1.0", "features.2.conv.2"},
		{"features.3.conv.0.0", "features.3.conv.1.0"},
		{"features.3.conv.1.0", "features.3.conv.2"},
		{"features.4.conv.0.0", "features.4.conv.1.0"},
		{"features.4.conv.1.0", "features.4.conv.2"},
		{"features.5.conv.0.0", "features.5.conv.1.0"},
		{"features.5.conv.1.0", "features.5.conv.2"},
		{"features.6.0", "classifier.1"},
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("pairs (-want +got):\n%s", diff)
	}
	before := ChannelSpread(e.Node("features.1.conv.0.0"))
	Equalize(e, 100, 1e-6)
	after := ChannelSpread(e.Node("features.1.conv.0.0"))
	if !(after < before) {
		t.Errorf("first depthwise spread %g -> %g, want it smaller", before, after)
	}
	sameOutputs(t, "equalized vs original", f, e, 4, 9)
}

func TestAbsorbHighBias(t *testing.T) {
	g := &Graph{}
	g.Input = g.NewTensor([]int{2, 3, 3})
	x := g.Add(&Node{Op: OpConv, Name: "c1", Act: ActReLU, Conv: &Conv{InC: 2, OutC: 2, Window: SquareWindow(1, 1, 0), Groups: 1,
		Weight: []float32{0.1, -0.1, 0.2, 0.1}, Bias: []float32{5, -1},
		OutMean: []float32{5, -1}, OutStd: []float32{1, 1}}}, g.Input)
	g.Output = g.Add(&Node{Op: OpConv, Name: "c2", Conv: &Conv{InC: 2, OutC: 1, Window: SquareWindow(1, 1, 0), Groups: 1,
		Weight: []float32{0.5, 2}, Bias: []float32{0.25}}}, x)
	if err := InferShapes(g); err != nil {
		t.Fatal(err)
	}
	in := randomInput(3, []int{2, 3, 3}, 4)
	want, err := Run(g, in, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := AbsorbHighBias(g); n != 1 {
		t.Errorf("%d channels absorbed, want 1 (only channel 0 has beta - 3 gamma > 0)", n)
	}
	// c = 5 - 3 = 2 moves from c1's channel 0 into c2: 0.25 + 0.5*2.
	if diff := cmp.Diff([]float32{3, -1}, g.Node("c1").Conv.Bias); diff != "" {
		t.Errorf("c1 bias: %s", diff)
	}
	if diff := cmp.Diff([]float32{1.25}, g.Node("c2").Conv.Bias); diff != "" {
		t.Errorf("c2 bias: %s", diff)
	}
	got, err := Run(g, in, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := relDiff(got, want); d > 1e-6 {
		t.Errorf("outputs moved by %g relative", d)
	}
}

func TestEqualizeUnpaired(t *testing.T) {
	g := &Graph{}
	g.Input = g.NewTensor([]int{4, 5, 5})
	conv := func(name string, act Act, groups int, x int) int {
		return g.Add(&Node{Op: OpConv, Name: name, Act: act, Conv: &Conv{InC: 4, OutC: 4, Window: SquareWindow(1, 1, 0), Groups: groups,
			Weight: make([]float32, 16/groups), Bias: make([]float32, 4)}}, x)
	}
	a := conv("a", ActReLU6, 1, g.Input)
	b := conv("b", ActReLU, 1, a)
	s := g.Add(&Node{Op: OpSiLU, Name: "silu"}, b)
	c := conv("c", ActNone, 1, s)
	d := conv("d", ActNone, 2, c)
	e := conv("e", ActReLU, 1, d)
	f := conv("f", ActNone, 1, e)
	h := conv("h", ActNone, 1, e)
	g.Output = g.Add(&Node{Op: OpAdd, Name: "add"}, f, h)
	if err := InferShapes(g); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"ReLU6 clips":          1,
		"followed by SiLU":     1,
		"next conv is grouped": 1,
		"output read by several nodes (residual, concat, split)": 1,
		"followed by Add": 2,
	}
	if diff := cmp.Diff(want, EqualizeUnpaired(g)); diff != "" {
		t.Errorf("unpaired convs (-want +got):\n%s", diff)
	}
}
