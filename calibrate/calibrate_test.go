package calibrate

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/ir"
)

// samples is an in-memory dataset of samples of shape chw.
type samples struct {
	chw [3]int
	s   [][]float32
}

func (s *samples) Len() int             { return len(s.s) }
func (s *samples) Shape() (c, h, w int) { return s.chw[0], s.chw[1], s.chw[2] }
func (s *samples) Load(i int, dst []float32) (int, error) {
	copy(dst, s.s[i])
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
			ds := &samples{chw: [3]int{1, 8, 8}}
			for _, s := range c.scales {
				for range 4 {
					x := make([]float32, 64)
					for i := range x {
						x[i] = float32(r.NormFloat64()) * s
					}
					ds.s = append(ds.s, x)
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

// TestCalibrateParts checks a calibration whose convs' outputs are observed
// in parts as they are computed (over 768 KB a sample: ir.PartHook), a
// sample per core: each observer ends as one fed each batch's whole tensor
// on the reference interpreter.
func TestCalibrateParts(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	conv := func(in, out, groups, k int) *ir.Conv {
		c := &ir.Conv{InC: in, OutC: out, Groups: groups, Window: ir.SquareWindow(k, 1, k/2)}
		c.Weight = make([]float32, out*in/groups*k*k)
		for i := range c.Weight {
			c.Weight[i] = float32(r.NormFloat64()) / float32(k*k*in/groups)
		}
		c.Bias = make([]float32, out)
		for i := range c.Bias {
			c.Bias[i] = float32(r.NormFloat64()) / 4
		}
		return c
	}
	g := &ir.Graph{Name: "parts"}
	g.Input = g.NewTensor([]int{3, 64, 64})
	x := g.Add(&ir.Node{Op: ir.OpQuant, Name: "quant"}, g.Input)
	x = g.Add(&ir.Node{Op: ir.OpConv, Name: "stem", Conv: conv(3, 16, 1, 3), Act: ir.ActReLU6}, x)
	// 72x64x64, 1.2 MB: ir runs it in channel bands with the depthwise conv
	// (its Hook gets no output, its parts all of it).
	x = g.Add(&ir.Node{Op: ir.OpConv, Name: "expand", Conv: conv(16, 72, 1, 1), Act: ir.ActReLU6}, x)
	x = g.Add(&ir.Node{Op: ir.OpConv, Name: "dw", Conv: conv(72, 72, 72, 3), Act: ir.ActReLU}, x)
	g.Output = g.Add(&ir.Node{Op: ir.OpConv, Name: "project", Conv: conv(72, 60, 1, 1)}, x)
	if err := ir.InferShapes(g); err != nil {
		t.Fatal(err)
	}
	// Ranges that grow, shrink and jump between samples: both the guessed
	// edges' cells and the recounts run.
	ds := &samples{chw: [3]int{3, 64, 64}}
	for _, s := range []float32{1, 1.5, 1, 4, 0.5, 2, 9, 1} {
		v := make([]float32, 3*64*64)
		for i := range v {
			v[i] = float32(r.NormFloat64()) * s
		}
		ds.s = append(ds.s, v)
	}
	const batch = 3
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, name := range []string{"fbgemm", "default"} {
		qc, err := LookupQConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		obs := map[int]Observer{}
		for s0 := 0; s0 < ds.Len(); s0 += batch {
			k := min(batch, ds.Len()-s0)
			var in []float32
			for _, v := range ds.s[s0 : s0+k] {
				in = append(in, v...)
			}
			_, err := ir.Reference(g, in, k, nil, func(n *ir.Node, out []float32, _ int) error {
				if Observed(n) {
					if obs[n.Out] == nil {
						obs[n.Out] = NewObserver(qc.Act)
					}
					obs[n.Out].Observe(out)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		want := &Result{QConfig: qc, Act: map[int]QParams{}, Range: map[int][2]float32{}, Samples: ds.Len()}
		for id, o := range obs {
			lo, hi := o.MinMax()
			want.Act[id], want.Range[id] = o.QParams(), [2]float32{lo, hi}
		}
		for _, procs := range []int{1, 2} {
			runtime.GOMAXPROCS(procs)
			got, err := Calibrate(g, ds, qc, 0, batch, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fmt.Sprint(want), fmt.Sprint(got)); diff != "" {
				t.Errorf("%s, %d cores: (-whole batches +Calibrate):\n%s", name, procs, diff)
			}
		}
	}
}
