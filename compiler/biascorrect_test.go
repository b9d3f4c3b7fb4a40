package compiler

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/ir"
)

// shiftedLayer is quant -> 1x1 conv (2 -> 2 channels) -> dequant whose per-tensor
// weight scale is set by channel 1, so channel 0's small weights (0.75 quanta)
// round up to 1 and shift its mean output.
func shiftedLayer(t *testing.T) (*ir.Description, *ir.Graph, *calibrate.Result, []float32, int) {
	g := &ir.Graph{}
	g.Input = g.NewTensor([]int{2, 4, 4})
	x := g.Add(&ir.Node{Op: ir.OpQuant, Name: "quant"}, g.Input)
	x = g.Add(&ir.Node{Op: ir.OpConv, Name: "conv", Conv: &ir.Conv{InC: 2, OutC: 2, Window: ir.SquareWindow(1, 1, 0), Groups: 1,
		Weight: []float32{0.75 / 127, 0.75 / 127, 1, -0.5}, Bias: []float32{0.1, 0}}}, x)
	g.Output = g.Add(&ir.Node{Op: ir.OpDeQuant, Name: "dequant"}, x)
	if err := ir.InferShapes(g); err != nil {
		t.Fatal(err)
	}
	d := ir.DefaultDescription()
	d.Input, d.Mean, d.Std, d.Preprocess = []int{2, 4, 4}, []float32{0, 0}, []float32{1, 1}, ir.Preprocess{}
	d.Setting = [][]float64{{1, 16, 1, 1}}
	qc, err := calibrate.LookupQConfig("default")
	if err != nil {
		t.Fatal(err)
	}
	cal := &calibrate.Result{QConfig: qc, Act: map[int]calibrate.QParams{
		1: {Scale: 4.0 / 255, ZeroPoint: 0},
		2: {Scale: 0.01, ZeroPoint: 100},
	}}
	r := rand.New(rand.NewPCG(1, 2))
	n := 50
	in := make([]float32, n*32)
	for i := range in {
		in[i] = float32(1 + r.Float64()*2)
	}
	return d, g, cal, in, n
}

func channelMeans(out []float32, n, c int) []float64 {
	per := len(out) / n / c
	m := make([]float64, c)
	for s := 0; s < n; s++ {
		for ch := 0; ch < c; ch++ {
			for _, v := range out[(s*c+ch)*per : (s*c+ch+1)*per] {
				m[ch] += float64(v) / float64(n*per)
			}
		}
	}
	return m
}

func TestBiasCorrectRemovesMeanShift(t *testing.T) {
	d, g, cal, x, n := shiftedLayer(t)
	m, err := Convert(d, g, cal)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ir.Run(g, x, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := channelMeans(f, n, 2)
	shift := func() float64 {
		q, err := Run(m, x, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		return math.Abs(channelMeans(q, n, 2)[0] - want[0])
	}
	before := shift()
	if err := BiasCorrect(m, g, x, n, nil); err != nil {
		t.Fatal(err)
	}
	after := shift()
	// Channel 0's weights grow by 0.25/127 each; with inputs of mean 2 its mean moves by
	// about 0.0079. After correction only rounding (well under one 0.01 quantum) is left.
	if before < 0.005 || after > 0.001 {
		t.Errorf("channel 0 mean shift %.4f before, %.4f after correction", before, after)
	}
	if !m.Meta.BiasCorrect {
		t.Error("Meta.BiasCorrect not set")
	}
}

// TestAccHookBiasesApply checks that biases an accHook sets are the ones its
// layer's output is requantized with in the same run (bias correction's
// later layers see the corrected earlier ones), and that the hook sees the
// accumulators without them.
func TestAccHookBiasesApply(t *testing.T) {
	d, g, cal, x, n := shiftedLayer(t)
	m, err := Convert(d, g, cal)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Convert(d, g, cal)
	if err != nil {
		t.Fatal(err)
	}
	var before []int64
	hooked, err := run(m, x, n, nil, func(nd *Node, sums []int64, count int) error {
		before = append([]int64(nil), sums...)
		for c := range nd.Conv.B {
			nd.Conv.B[c] += 30
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range m2.Nodes {
		if nd.Conv != nil {
			for c := range nd.Conv.B {
				nd.Conv.B[c] += 30
			}
		}
	}
	set, err := Run(m2, x, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(set, hooked); diff != "" {
		t.Errorf("outputs with the hook's biases differ from a model built with them (-set +hooked):\n%s", diff)
	}
	var again []int64
	if _, err := run(m2, x, n, nil, func(nd *Node, sums []int64, count int) error {
		again = append([]int64(nil), sums...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, again); diff != "" {
		t.Errorf("accumulator sums depend on the biases (-first +biased):\n%s", diff)
	}
}
