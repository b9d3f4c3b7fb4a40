package ptq

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/ir"
)

// zooGolden is the part of a testdata/fmnist_zoo model's golden.json
// (tools/families/fmnist_zoo.py) the test reads.
type zooGolden struct {
	FloatTop1    float64 `json:"float_top1"`
	FloatCorrect int     `json:"float_correct"`
	N            int     `json:"n"`
}

// TestFMNISTZoo: models of the quantizable families trained on
// Fashion-MNIST and exported by torch.onnx.export (opset 13; the ShuffleNetV2
// with a dynamic batch axis), read through their ONNX description and run as
// `ptqc eval -float` runs them (LoadFloat, the fused and compiled fast path):
// the first 1,000 test images' logits within 1e-4 of PyTorch's (per sample,
// relative to max(1, its largest |logit|)) and, in the long suite, top-1 over
// all 10,000 within 0.02 points (2 images) of PyTorch's.
func TestFMNISTZoo(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "testdata", "fmnist_zoo", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no models in testdata/fmnist_zoo (%v)", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			d, g, err := LoadFloat(filepath.Join(dir, "model_onnx.json"), "")
			if err != nil {
				t.Fatal(err)
			}
			p, err := ir.Compile(g)
			if err != nil {
				t.Fatal(err)
			}
			fwd := func(x []float32, n int) ([]float32, error) { return p.Run(x, n, nil, nil) }
			k := d.NumClasses
			want, err := data.ReadNpy(filepath.Join(dir, "logits1k.npy"))
			if err != nil {
				t.Fatal(err)
			}
			ds, err := data.Open(filepath.Join(bundled, "test_images.npy"), filepath.Join(bundled, "test_labels.npy"), Transform(d))
			if err != nil {
				t.Fatal(err)
			}
			_, got, err := Evaluate(ds, k, 100, len(want.F32)/k, fwd, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want.F32) || len(got) != 1000*k {
				t.Fatalf("%d logits, PyTorch's file has %d", len(got), len(want.F32))
			}
			worst := worstRel(got, want.F32, k, 1)
			if worst > 1e-4 {
				t.Errorf("logits of 1,000 test images differ from PyTorch's by %.3g relative (want <= 1e-4)", worst)
			}
			t.Logf("logits of 1,000 test images: largest relative difference from PyTorch %.3g", worst)
			if !testenv.Long() && !testenv.Full() {
				return
			}
			needIDX(t)
			b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			var gd zooGolden
			if err := json.Unmarshal(b, &gd); err != nil {
				t.Fatal(err)
			}
			full, err := data.Open(fmnistTest, "", Transform(d))
			if err != nil {
				t.Fatal(err)
			}
			acc, _, err := Evaluate(full, k, 200, 0, fwd, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			correct := int(math.Round(acc.Top1 * float64(acc.N) / 100))
			if acc.N != gd.N || math.Abs(float64(correct-gd.FloatCorrect)) > 0.0002*float64(gd.N) {
				t.Errorf("float top-1 %.2f (%d of %d), PyTorch %.2f (%d of %d): want within 0.02 points",
					acc.Top1, correct, acc.N, gd.FloatTop1, gd.FloatCorrect, gd.N)
			}
			t.Logf("float top-1 %.2f (%d of %d), PyTorch %.2f", acc.Top1, correct, acc.N, gd.FloatTop1)
		})
	}
}
