package compiler

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/ir"
)

// TestLargeMultiplierBias: channels whose folded weight scale is far above their
// neighbours' (as BN folding makes them) have M = s_x*s_w/s_y > 1, where an int32
// bias at s_x*s_w would be coarser than the output grid. With the bias kept in
// float every output stays within one step of quantizing the float output.
func TestLargeMultiplierBias(t *testing.T) {
	g := &ir.Graph{}
	g.Input = g.NewTensor([]int{2, 4, 4})
	x := g.Add(&ir.Node{Op: ir.OpQuant, Name: "quant"}, g.Input)
	// Channel 0 is ordinary; channels 1-4 have 1000x its weights (per-channel
	// scale 2.35, M = 3.7) and see x0 - x1 = 0, so their output is their bias.
	bias := []float32{0.1, 0.035, -0.11, 0.18, -0.035}
	w := []float32{0.2, -0.1}
	for range 4 {
		w = append(w, 300, -300)
	}
	x = g.Add(&ir.Node{Op: ir.OpConv, Name: "conv", Conv: &ir.Conv{InC: 2, OutC: 5, Window: ir.SquareWindow(1, 1, 0), Groups: 1,
		Weight: w, Bias: bias}}, x)
	g.Output = g.Add(&ir.Node{Op: ir.OpDeQuant, Name: "dequant"}, x)
	if err := ir.InferShapes(g); err != nil {
		t.Fatal(err)
	}
	d := ir.DefaultDescription()
	d.Input, d.Mean, d.Std, d.Preprocess = []int{2, 4, 4}, []float32{0, 0}, []float32{1, 1}, ir.Preprocess{}
	qc, err := calibrate.LookupQConfig("fbgemm")
	if err != nil {
		t.Fatal(err)
	}
	out := calibrate.QParams{Scale: 0.02, ZeroPoint: 128}
	cal := &calibrate.Result{QConfig: qc, Act: map[int]calibrate.QParams{
		1: {Scale: 4.0 / 127, ZeroPoint: 0}, // reduce_range: 7-bit activations
		2: out,
	}}
	m, err := Convert(d, g, cal)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Node("conv").Conv
	for o := 1; o < 5; o++ {
		if c.M[o] <= 1 {
			t.Fatalf("channel %d: M = %v, the test needs M > 1", o, c.M[o])
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	n := 20
	in := make([]float32, n*32)
	for s := range n {
		for p := range 16 {
			v := float32(4 * r.Float64())
			in[s*32+p], in[s*32+16+p] = v, v
		}
	}
	f, err := ir.Run(g, in, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Run(m, in, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f {
		ref := min(max(math.RoundToEven(float64(f[i])/out.Scale)+float64(out.ZeroPoint), 0), 255)
		got := math.RoundToEven(float64(q[i])/out.Scale) + float64(out.ZeroPoint)
		if math.Abs(got-ref) > 1 {
			ch := i / 16 % 5
			t.Fatalf("sample %d channel %d: int8 output at step %v, float output quantizes to %v (M = %v, bias %v)", i/80, ch, got, ref, c.M[ch], bias[ch])
		}
	}
}
