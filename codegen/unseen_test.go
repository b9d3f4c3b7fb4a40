package codegen

import (
	"math"
	"os"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
)

// TestTrainedModels generates packages for the trained test models, each under
// qconfigs other than the bundled package's (an unseen width and setting among
// them), and compares their logits with the interpreter's bit for bit.
func TestTrainedModels(t *testing.T) {
	if testing.Short() {
		t.Skip("calibrates and builds generated packages")
	}
	const images = 100
	var pkgs []*Package
	var ms []*compiler.Model
	var inputs [][]float32
	for _, c := range []struct{ dir, qconfig, pkg string }{
		{"../testdata/mobilenetv2_fmnist_alt", "fbgemm", "alt_fbgemm"},
		{"../testdata/mobilenetv2_fmnist_alt", "qnnpack", "alt_qnnpack"},
		{"../testdata/mobilenetv2_fmnist", "default", "main_default"},
	} {
		if _, err := os.Stat(c.dir + "/model.json"); err != nil {
			t.Logf("skipping %s: %v", c.dir, err)
			continue
		}
		m, err := compiler.Quantize(compiler.Options{Model: c.dir + "/model.json", QConfig: c.qconfig, Calib: "../testdata/mobilenetv2_fmnist/calib_images.npy"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := Generate(m, Options{Package: c.pkg})
		if err != nil {
			t.Fatal(err)
		}
		pkgs, ms, inputs = append(pkgs, p), append(ms, m), append(inputs, gentest.TestImages(t, m, images))
	}
	if len(pkgs) == 0 {
		t.Skip("no trained models in testdata")
	}
	inLens, outs := make([]int, len(pkgs)), make([]int, len(pkgs))
	for i, m := range ms {
		inLens[i], outs[i] = m.Tensors[m.Input].Elems(), m.NumClasses()
	}
	got := runHarness(t, pkgs, inputs, inLens, outs)
	for i, m := range ms {
		want, err := compiler.Run(m, inputs[i], images, nil)
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for j := range want {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[j]) {
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d logits differ from the interpreter's", pkgs[i].Name, bad, len(want))
		}
	}
}
