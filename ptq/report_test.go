package ptq

import (
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
)

// smallQuantized calibrates a small random MobileNetV2 on random inputs.
func smallQuantized(t *testing.T, qconfig string) (*compiler.Model, *ir.Graph, []float32, int) {
	t.Helper()
	d := ir.DefaultDescription()
	d.NumClasses, d.WidthMult = 5, 0.5
	d.Setting = [][]float64{{1, 16, 1, 1}, {4, 24, 2, 2}, {3, 24, 2, 1}}
	d.Input, d.Preprocess = []int{3, 16, 16}, ir.Preprocess{}
	g, err := ir.BuildRandom(d, 11)
	if err != nil {
		t.Fatal(err)
	}
	g = ir.Fuse(g)
	r := rand.New(rand.NewPCG(3, 4))
	n := 40
	x := make([]float32, n*3*16*16)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	qc, err := calibrate.LookupQConfig(qconfig)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := calibrate.Calibrate(g, &data.Samples{X: x, C: 3, H: 16, W: 16}, qc, n, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := compiler.Convert(d, g, cal)
	if err != nil {
		t.Fatal(err)
	}
	return m, g, x, n
}

func TestReportRanksDamagedLayerWorst(t *testing.T) {
	m, g, x, n := smallQuantized(t, "fbgemm")
	reps, err := Report(m, g, x, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != len(m.Nodes)-1 {
		t.Errorf("%d layers reported, want %d", len(reps), len(m.Nodes)-1)
	}
	for _, r := range reps {
		if r.SQNR < 5 {
			t.Errorf("undamaged layer %s has SQNR %.1f dB", r.Name, r.SQNR)
		}
	}
	// Damage a residual branch's projection: all its outputs become 0. The add after it
	// still carries the skip path, so the damage shows at the layer itself.
	damaged := "features.3.conv.2"
	c := m.Node(damaged).Conv
	for i := range c.M {
		c.M[i] = 0
	}
	reps, err = Report(m, g, x, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reps[0].Name != damaged {
		t.Errorf("worst layer %s (%.1f dB), want %s; report: %+v", reps[0].Name, reps[0].SQNR, damaged, reps[:3])
	}
}
