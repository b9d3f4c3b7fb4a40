package asmgen

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/ptq"
)

// TestFamiliesInt8 quantizes the small instance of every torchvision family
// (testdata/families, calibrated on its two inputs), runs the int8
// interpreter on them and generates every tier's kernels: the whole
// pipeline up to the package, on the patterns each family brings (DenseNet's
// BatchNorm and ReLU after a concat, VGG's linear layer on a 2x2 map, RegNet's
// grouped convs with squeeze-excitation), which the zoo test graph holds one
// of each.
func TestFamiliesInt8(t *testing.T) {
	dirs, err := filepath.Glob("../testdata/families/*/model_op13.onnx")
	if err != nil || len(dirs) < 20 {
		t.Fatalf("%d family models in testdata/families (%v)", len(dirs), err)
	}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		if filepath.Base(filepath.Dir(dir)) != "families" {
			continue // out_of_scope/
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			in := filepath.Join(dir, "input.npy")
			m, err := ptq.Quantize(ptq.Options{Model: path, QConfig: "fbgemm", Calib: in})
			if err != nil {
				t.Fatal(err)
			}
			x, err := data.ReadNpy(in)
			if err != nil {
				t.Fatal(err)
			}
			n := len(x.F32) / m.Tensors[m.Input].Elems()
			y, err := compiler.Run(m, x.F32, n, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range y {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("logit %d is %v", i, v)
				}
			}
			lm, err := lower.Lower(m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Generate(lm, "p"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
