package calibrate

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/ir"
)

// samples is an in-memory dataset of 1x8x8 samples.
type samples [][]float32

func (s samples) Len() int             { return len(s) }
func (s samples) Shape() (c, h, w int) { return 1, 8, 8 }
func (s samples) Load(i int, dst []float32) (int, error) {
	copy(dst, s[i])
	return -1, nil
}

// TestCalibrateCellsFallback checks that a calibration whose histogram cells
// fail (a batch's range far past the ones before) runs again without them,
// and that with or without the failure Calibrate's result is that of
// counting from copies alone.
func TestCalibrateCellsFallback(t *testing.T) {
	g := &ir.Graph{Name: "quant"}
	g.Input = g.NewTensor([]int{1, 8, 8})
	g.Output = g.Add(&ir.Node{Op: ir.OpQuant, Name: "quant"}, g.Input)
	if err := ir.InferShapes(g); err != nil {
		t.Fatal(err)
	}
	qc, err := LookupQConfig("fbgemm")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		scales []float32 // per batch of 4 samples
		fails  bool
	}{
		{"steady", []float32{3, 3, 4, 3}, false},
		{"jump", []float32{2, 2, 200, 3}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var ds samples
			for _, s := range c.scales {
				for range 4 {
					x := make([]float32, 64)
					for i := range x {
						x[i] = float32(r.NormFloat64()) * s
					}
					ds = append(ds, x)
				}
			}
			want, err := calibrate(g, ds, qc, 0, 4, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			_, err = calibrate(g, ds, qc, 0, 4, nil, true)
			if failed := errors.Is(err, errCellsFailed); failed != c.fails || err != nil && !failed {
				t.Fatalf("with cells: %v, want failure %v", err, c.fails)
			}
			got, err := Calibrate(g, ds, qc, 0, 4, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fmt.Sprint(want), fmt.Sprint(got)); diff != "" {
				t.Errorf("(-copies +Calibrate):\n%s", diff)
			}
		})
	}
}
