package ptq

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/runtime"
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
			var gd zooGolden
			testenv.ReadJSON(t, filepath.Join(dir, "golden.json"), &gd)
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

// zooPyTorch is the part of a testdata/fmnist_zoo model's pytorch_int8.json
// (tools/families/zoo_anchors.py) the test reads.
type zooPyTorch struct {
	QConfigs map[string]struct {
		Top1   float64 `json:"top1"`
		Engine string  `json:"engine"`
	} `json:"qconfigs"`
}

// TestFMNISTZooInt8 (long: 10,000 images per model and qconfig) checks issue
// 25's accuracy bars on the zoo's models, quantized as `ptqc eval -qconfig Q
// -calib testdata/mobilenetv2_fmnist/calib_images.npy` does: where PyTorch
// has an eager int8 anchor (pytorch_int8.json), top-1 >= PyTorch's - 0.2 with
// fbgemm and onednn; >= PyTorch's - 0.5 with default and qnnpack, or >=
// PyTorch's with -equalize -bias-correct; and agreement with PyTorch's int8
// predictions. Without one (the EfficientNet: SiLU and its SE stay float in
// PyTorch), the whole graph int8 and fbgemm within 1.5 points of float.
func TestFMNISTZooInt8(t *testing.T) {
	if !testenv.Full() {
		t.Skip("quantizes and evaluates each zoo model on 10,000 images per qconfig (5 minutes on 2 cores): PTQC_FULL=1 runs it")
	}
	needIDX(t)
	dirs, err := filepath.Glob(filepath.Join("..", "testdata", "fmnist_zoo", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no models in testdata/fmnist_zoo (%v)", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var gd zooGolden
			testenv.ReadJSON(t, filepath.Join(dir, "golden.json"), &gd)
			var pt zooPyTorch
			anchored := true
			if _, err := os.Stat(filepath.Join(dir, "pytorch_int8.json")); errors.Is(err, fs.ErrNotExist) {
				anchored = false
			} else {
				testenv.ReadJSON(t, filepath.Join(dir, "pytorch_int8.json"), &pt)
			}
			qcs := []string{"fbgemm", "onednn", "default", "qnnpack"}
			if !anchored {
				qcs = []string{"fbgemm"}
			}
			for _, qc := range qcs {
				t.Run(qc, func(t *testing.T) {
					o := Options{Model: filepath.Join(dir, "model_onnx.json"), QConfig: qc,
						Calib: filepath.Join(bundled, "calib_images.npy")}
					m, top1, preds := zooInt8(t, o)
					if !anchored {
						zooAllInt8(t, m)
						t.Logf("top-1 %.2f, float %.2f", top1, gd.FloatTop1)
						if top1 < gd.FloatTop1-1.5 {
							t.Errorf("top-1 %.2f, more than 1.5 points below float's %.2f", top1, gd.FloatTop1)
						}
						return
					}
					want, ok := pt.QConfigs[qc]
					if !ok {
						t.Fatalf("pytorch_int8.json has no %s", qc)
					}
					agree := zooAgreement(t, filepath.Join(dir, "pytorch_"+qc+"_preds.npy"), preds)
					t.Logf("top-1 %.2f, PyTorch %.2f (%s engine), agreement %.2f%%", top1, want.Top1, want.Engine, agree)
					// Measured 97.4-100% but MobileNetV3-Small's fbgemm (95.6%) and onednn
					// (93.75%: PyTorch's onednn engine, AVX2 only here, saturates u8*s8 pair sums
					// at int16, so its predictions are not exact int8; docs/accuracy.md).
					if minAgree := map[bool]float64{true: 93, false: 95}[qc == "onednn"]; agree < minAgree {
						t.Errorf("agreement with PyTorch's predictions %.2f%%, want >= %.0f%%", agree, minAgree)
					}
					switch qc {
					case "fbgemm", "onednn":
						if top1 < want.Top1-0.2 {
							t.Errorf("top-1 %.2f, below PyTorch's %.2f - 0.2", top1, want.Top1)
						}
					default:
						if top1 >= want.Top1-0.5 {
							return
						}
						o.Equalize, o.BiasCorrect = true, true
						_, eq, _ := zooInt8(t, o)
						t.Logf("top-1 %.2f, below PyTorch's %.2f - 0.5; with -equalize -bias-correct %.2f", top1, want.Top1, eq)
						if eq < want.Top1 {
							t.Errorf("top-1 %.2f, with -equalize -bias-correct %.2f: below PyTorch's %.2f - 0.5 and %.2f",
								top1, eq, want.Top1, want.Top1)
						}
					}
				})
			}
		})
	}
}

// zooInt8 quantizes as o says and returns the model and the int8
// interpreter's top-1 and predictions on the 10,000 Fashion-MNIST test images.
func zooInt8(t *testing.T, o Options) (*compiler.Model, float64, []int) {
	t.Helper()
	m, err := Quantize(o)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.Open(fmnistTest, "", Transform(m.Desc))
	if err != nil {
		t.Fatal(err)
	}
	k := m.Desc.NumClasses
	acc, logits, err := Evaluate(ds, k, 200, 0, func(x []float32, n int) ([]float32, error) { return compiler.Run(m, x, n, nil) }, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	preds := make([]int, acc.N)
	for i := range preds {
		preds[i] = runtime.TopK(logits[i*k:(i+1)*k], 1)[0]
	}
	return m, acc.Top1, preds
}

// zooAllInt8 checks that the quantized graph has no float op: one Quantize of
// the input, one Dequantize of the output.
func zooAllInt8(t *testing.T, m *compiler.Model) {
	t.Helper()
	var float []string
	for i, n := range m.Nodes {
		if (n.Kind == compiler.KQuantize && i != 0) || (n.Kind == compiler.KDequantize && i != len(m.Nodes)-1) {
			float = append(float, n.Name)
		}
	}
	if len(float) > 0 {
		t.Errorf("float between int8 ops at %v", float)
	}
}

// zooAgreement is the percentage of preds equal to PyTorch's in path (uint8).
func zooAgreement(t *testing.T, path string, preds []int) float64 {
	t.Helper()
	want, err := data.ReadNpy(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.U8) != len(preds) {
		t.Fatalf("%s: %d predictions (uint8), ptqc made %d", path, len(want.U8), len(preds))
	}
	agree := 0
	for i, p := range preds {
		if int(want.U8[i]) == p {
			agree++
		}
	}
	return 100 * float64(agree) / float64(len(preds))
}
