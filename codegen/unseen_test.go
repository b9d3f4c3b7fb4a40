package codegen

import (
	"bytes"
	"math"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/ptq"
)

// TestTrainedModels generates packages for the trained test models, each under
// qconfigs other than the bundled package's (an unseen width and setting among
// them), and compares their logits with the interpreter's bit for bit.
func TestTrainedModels(t *testing.T) {
	testenv.SkipUnlessLong(t, "calibrates and builds generated packages of the trained models")
	const images = 100
	var pkgs []*Package
	var ms []*compiler.Model
	var inputs [][]float32
	for _, c := range []struct{ dir, qconfig, pkg string }{
		{"../testdata/mobilenetv2_fmnist_alt", "fbgemm", "alt_fbgemm"},
		{"../testdata/mobilenetv2_fmnist_alt", "qnnpack", "alt_qnnpack"},
		{"../testdata/mobilenetv2_fmnist", "default", "main_default"},
		{"../testdata/resnet_bottleneck", "onednn", "resnet_bottleneck_onednn"},
		{"../testdata/resnet_fmnist", "fbgemm", "resnet_fmnist_fbgemm"},
	} {
		if _, err := os.Stat(c.dir + "/model.json"); err != nil {
			t.Logf("skipping %s: %v", c.dir, err)
			continue
		}
		m, err := ptq.Quantize(ptq.Options{Model: c.dir + "/model.json", QConfig: c.qconfig, Calib: "../testdata/mobilenetv2_fmnist/calib_images.npy"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := generate(m, Options{Package: c.pkg})
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
	matchInterpreter(t, pkgs, ms, inputs, runHarness(t, pkgs, inputs, inLens, outs), images)
}

// matchInterpreter checks each package's outputs got[i] against the int8
// interpreter's on inputs[i], bit for bit, naming the first three that differ.
func matchInterpreter(t *testing.T, pkgs []*Package, ms []*compiler.Model, inputs, got [][]float32, images int) {
	t.Helper()
	for i, m := range ms {
		want, err := compiler.Run(m, inputs[i], images, nil)
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for j := range want {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[j]) {
				if bad < 3 {
					t.Errorf("%s: output %d = %v, interpreter %v", pkgs[i].Name, j, got[i][j], want[j])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d logits differ from the interpreter's", pkgs[i].Name, bad, len(want))
		}
	}
}

// TestPthBuildsLikeSafeTensors generates the bottleneck ResNet from its .pth
// and from its safetensors file: every file is the same, byte for byte.
func TestPthBuildsLikeSafeTensors(t *testing.T) {
	testenv.SkipShort(t, "calibrates twice and generates assembly")
	var pkgs []*Package
	for _, w := range []string{"model.pth", "model.safetensors"} {
		m, err := ptq.Quantize(ptq.Options{Model: "../testdata/resnet_bottleneck/model.json", Weights: "../testdata/resnet_bottleneck/" + w,
			QConfig: "fbgemm", Calib: "../testdata/mobilenetv2_fmnist/calib_images.npy", CalibLimit: 60})
		if err != nil {
			t.Fatal(err)
		}
		p, err := generate(m, Options{Package: "rb"})
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if diff := cmp.Diff(pkgs[0].Names(), pkgs[1].Names()); diff != "" {
		t.Fatalf("file lists differ:\n%s", diff)
	}
	for _, name := range pkgs[0].Names() {
		if !bytes.Equal(pkgs[0].Files[name], pkgs[1].Files[name]) {
			t.Errorf("%s differs between the .pth and the safetensors build", name)
		}
	}
}
