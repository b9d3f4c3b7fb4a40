package gentest

import (
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/zoo"
	"github.com/ptqc/ptqc/ir"
)

// ZooModel calibrates zoo.Graph on N(0,1) samples with qconfig and
// converts it.
func ZooModel(tb testing.TB, qconfig string) *compiler.Model {
	tb.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	g := zoo.Graph(r)
	if err := ir.InferShapes(g); err != nil {
		tb.Fatal(err)
	}
	ds := &data.Samples{C: 3, H: 9, W: 9, X: make([]float32, 64*3*81)}
	for i := range ds.X {
		ds.X[i] = float32(r.NormFloat64())
	}
	qc, err := calibrate.LookupQConfig(qconfig)
	if err != nil {
		tb.Fatal(err)
	}
	cal, err := calibrate.Calibrate(g, ds, qc, 0, 16, nil)
	if err != nil {
		tb.Fatal(err)
	}
	d := ir.DefaultDescription()
	d.Input, d.Mean, d.Std, d.Preprocess, d.NumClasses = []int{3, 9, 9}, []float32{0, 0, 0}, []float32{1, 1, 1}, ir.Preprocess{}, ir.Elems(g.Tensors[g.Output].Shape)
	m, err := compiler.Convert(d, g, cal)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
