package ptq

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/frontend"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/runtime"
)

// The bundled model and PyTorch's results on it (tools/fmnist.py wrote them), and
// a second model of another width and setting, standing in for one never seen.
var (
	bundled      = filepath.Join("..", "testdata", "mobilenetv2_fmnist")
	alt          = filepath.Join("..", "testdata", "mobilenetv2_fmnist_alt")
	models       = []string{bundled, alt}
	resnetFMNIST = filepath.Join("..", "testdata", "resnet_fmnist")
	resnets      = []string{resnetFMNIST, filepath.Join("..", "testdata", "resnet_bottleneck")}
)

// testData returns the 1,000 bundled test images for dir's model: for the bundled
// model the uint8 .npy as committed, for the other one preprocessed into a float32
// N x C x H x W .npy, the form a user of another model would bring.
func testData(t *testing.T, dir string) (images, labels string) {
	t.Helper()
	images, labels = filepath.Join(bundled, "test_images.npy"), filepath.Join(bundled, "test_labels.npy")
	if dir == bundled {
		return images, labels
	}
	d, err := frontend.ReadDescription(filepath.Join(dir, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.Open(images, labels, Transform(d))
	if err != nil {
		t.Fatal(err)
	}
	var x []float32
	if err := data.Batches(ds, 100, 0, func(_ int, b []float32, _ []int) error {
		x = append(x, b...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f32 := filepath.Join(t.TempDir(), "test_f32.npy")
	if err := data.WriteNpyF32(f32, []int{ds.Len(), d.Input[0], d.Input[1], d.Input[2]}, x); err != nil {
		t.Fatal(err)
	}
	return f32, labels
}

const fmnistTest = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

type goldenLayer struct {
	Scale       float64   `json:"scale"`
	ZeroPoint   int32     `json:"zero_point"`
	WeightScale []float64 `json:"weight_scale"`
}

type goldenQ struct {
	Top1   float64                `json:"top1"`
	Top5   float64                `json:"top5"`
	Layers map[string]goldenLayer `json:"layers"`
}

type golden struct {
	FloatTop1 float64            `json:"float_top1"`
	FloatTop5 float64            `json:"float_top5"`
	PyTorch   map[string]goldenQ `json:"pytorch"`
}

func readGolden(t *testing.T, dir string) *golden {
	t.Helper()
	var g golden
	testenv.ReadJSON(t, filepath.Join(dir, "golden.json"), &g)
	return &g
}

// needIDX skips when Fashion-MNIST's IDX files are absent, except in CI.
func needIDX(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(fmnistTest); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing in CI (.ci/run installs dataset-fashion-mnist)", fmnistTest)
		}
		t.Skipf("%s absent: apt-get install dataset-fashion-mnist", fmnistTest)
	}
}

func TestFloatMatchesPyTorch(t *testing.T) {
	testenv.SkipShort(t, "1,000 images per model: skipped with -short")
	for _, dir := range models {
		t.Run(filepath.Base(dir), func(t *testing.T) { floatMatchesPyTorch(t, dir) })
	}
}

// TestResNetFloatMatchesPyTorch checks the ResNets (basic blocks trained on
// Fashion-MNIST, bottlenecks with random weights) from both their .pth and
// their safetensors file.
func TestResNetFloatMatchesPyTorch(t *testing.T) {
	for _, dir := range resnets {
		for _, w := range []string{"", "model.safetensors"} {
			t.Run(filepath.Base(dir)+"/"+w, func(t *testing.T) { floatMatchesPyTorch(t, dir, w) })
		}
	}
}

// floatModel loads dir's fused float model (weights, when not empty,
// overriding the description's) and its 1,000 test images (testData).
func floatModel(t *testing.T, dir, weights string) (*ir.Description, *ir.Graph, data.Dataset) {
	t.Helper()
	d, g, err := LoadFloat(filepath.Join(dir, "model.json"), weights)
	if err != nil {
		t.Fatal(err)
	}
	images, labels := testData(t, dir)
	ds, err := data.Open(images, labels, Transform(d))
	if err != nil {
		t.Fatal(err)
	}
	return d, g, ds
}

func floatMatchesPyTorch(t *testing.T, dir string, weights ...string) {
	w := ""
	if len(weights) > 0 && weights[0] != "" {
		w = filepath.Join(dir, weights[0])
	}
	d, g, ds := floatModel(t, dir, w)
	want, err := data.ReadNpy(filepath.Join(dir, "golden_float_logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	k := d.NumClasses
	_, logits, err := Evaluate(ds, k, 100, len(want.F32)/k, func(x []float32, n int) ([]float32, error) { return ir.Run(g, x, n, nil) }, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.F32) != len(logits) {
		t.Fatalf("%d logits, golden has %d", len(logits), len(want.F32))
	}
	worst := worstRel(logits, want.F32, k, 1e-3)
	if worst > 1e-4 {
		t.Errorf("float logits differ from PyTorch's by %.3g relative (want <= 1e-4)", worst)
	}
	t.Logf("float logits: worst relative difference from PyTorch %.3g", worst)
	if !testenv.Full() {
		return
	}
	needIDX(t)
	gd := readGolden(t, dir)
	full, err := data.Open(fmnistTest, "", Transform(d))
	if err != nil {
		t.Fatal(err)
	}
	acc, _, err := Evaluate(full, k, 200, 0, func(x []float32, n int) ([]float32, error) { return ir.Run(g, x, n, nil) }, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(acc.Top1-gd.FloatTop1) > 0.05 {
		t.Errorf("float top-1 %.2f, PyTorch %.2f", acc.Top1, gd.FloatTop1)
	}
}

// TestQParamsMatchPyTorch calibrates the bundled model with every qconfig on the
// same 300 images and batches as the PyTorch run and compares each layer's frozen
// output scale and zero point and weight scales with PyTorch's.
func TestQParamsMatchPyTorch(t *testing.T) {
	for _, dir := range append(models, resnetFMNIST) {
		t.Run(filepath.Base(dir), func(t *testing.T) { qparamsMatchPyTorch(t, dir) })
	}
}

func qparamsMatchPyTorch(t *testing.T, dir string) {
	testenv.SkipShort(t, "calibrates four qconfigs: skipped with -short")
	gd := readGolden(t, dir)
	for _, qc := range []string{"default", "fbgemm", "qnnpack", "onednn"} {
		t.Run(qc, func(t *testing.T) {
			// The quick suite keeps one: MinMax on the bundled model, exact.
			if !(qc == "default" && dir == bundled) {
				testenv.SkipUnlessLong(t, "calibrates with "+qc)
			}
			want, ok := gd.PyTorch[qc]
			if !ok {
				t.Fatalf("golden.json has no %s results", qc)
			}
			m, err := Quantize(Options{
				Model: filepath.Join(dir, "model.json"), QConfig: qc,
				Calib: filepath.Join(bundled, "calib_images.npy"),
			})
			if err != nil {
				t.Fatal(err)
			}
			// MinMax scales must match PyTorch's exactly (same ranges, same arithmetic).
			// Histogram scales come from the same algorithm, bit-exact on identical inputs
			// (calibrate's TestHistogramMobileNetV2Layer), but PyTorch 1.13's search is
			// unstable: float32 cancellation turns activations a few ulps apart (our convs
			// vs oneDNN's) into ranges up to ~15% apart. So two thirds of the layers must match to 1e-3
			// and none may be far off (measured: 50/64 layers on the bundled model, 30/41 on the
			// other one).
			tol, far := 1e-3, 0.2
			if qc == "default" {
				tol, far = 1e-5, 1e-5
			}
			seen, near := 0, 0
			for _, n := range m.Nodes {
				w, ok := want.Layers[n.Name]
				if !ok {
					if n.Kind != compiler.KMean && n.Kind != compiler.KDequantize && n.Kind != compiler.KMaxPool {
						t.Errorf("%s: no PyTorch qparams", n.Name)
					}
					continue
				}
				seen++
				got := m.Tensors[n.Out]
				rel := math.Abs(got.Scale-w.Scale) / w.Scale
				switch {
				case rel <= tol && got.Zero == w.ZeroPoint:
					near++
				case rel > far || math.Abs(float64(got.Zero-w.ZeroPoint)) > 3:
					t.Errorf("%s: scale %v zero_point %d, PyTorch %v %d (relative %.2g)", n.Name, got.Scale, got.Zero, w.Scale, w.ZeroPoint, rel)
				default:
					t.Logf("%s: scale %v zero_point %d, PyTorch %v %d (relative %.2g)", n.Name, got.Scale, got.Zero, w.Scale, w.ZeroPoint, rel)
				}
				if n.Conv == nil {
					continue
				}
				if len(w.WeightScale) != 1 && len(w.WeightScale) != n.Conv.OutC {
					t.Errorf("%s: PyTorch has %d weight scales", n.Name, len(w.WeightScale))
					continue
				}
				for c, s := range n.Conv.WScale {
					ws := w.WeightScale[min(c, len(w.WeightScale)-1)]
					if rel := math.Abs(s-ws) / ws; rel > 1e-5 {
						t.Errorf("%s: weight scale[%d] %v, PyTorch %v", n.Name, c, s, ws)
						break
					}
				}
			}
			if seen != len(want.Layers) {
				t.Errorf("compared %d layers, PyTorch has %d", seen, len(want.Layers))
			}
			t.Logf("%s: %d of %d layers' qparams within %g of PyTorch's", qc, near, seen, tol)
			if 3*near < 2*seen {
				t.Errorf("%s: only %d of %d layers' qparams within %g of PyTorch's", qc, near, seen, tol)
			}
			agreeWithPyTorch(t, dir, m, qc, want)
		})
	}
}

// agreeWithPyTorch checks top-1 agreement with PyTorch's int8 predictions on the
// 1,000 bundled test images (all 10,000 with PTQC_FULL=1, plus top-1 within 0.3).
func agreeWithPyTorch(t *testing.T, dir string, m *compiler.Model, qc string, want goldenQ) {
	preds, err := data.ReadNpy(filepath.Join(dir, "pytorch_"+qc+"_preds.npy"))
	if err != nil {
		t.Fatal(err)
	}
	path, labels := testData(t, dir)
	if testenv.Full() {
		needIDX(t)
		path, labels = fmnistTest, ""
	}
	ds, err := data.Open(path, labels, Transform(m.Desc))
	if err != nil {
		t.Fatal(err)
	}
	acc, logits, err := Evaluate(ds, 10, 200, 0, func(x []float32, n int) ([]float32, error) { return compiler.Run(m, x, n, nil) }, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	agree := 0
	for i := 0; i < acc.N; i++ {
		if int64(runtime.TopK(logits[i*10:(i+1)*10], 1)[0]) == preds.I64[i] {
			agree++
		}
	}
	rate := 100 * float64(agree) / float64(acc.N)
	t.Logf("%s: top-1 %.2f on %d images, agreement with PyTorch %.2f%% (PyTorch top-1 on 10k: %.2f)", qc, acc.Top1, acc.N, rate, want.Top1)
	// Both sides requantize with a float bias added after scaling (fbgemm and oneDNN
	// do; ARCHITECTURE.md), so with per-channel weights or PyTorch's x86 engine the
	// predictions differ only where calibration does (a few histogram scales) or an
	// output ties. QNNPACK rounds the bias to int32 and requantizes in fixed point, a
	// numerics ptqc does not copy (one definition for every qconfig), and its
	// per-tensor results are fragile: agreement there is lower (92-98%).
	// Measured on 10,000 images: fbgemm 98.1-98.6%, onednn 98.9-99.3% (goldens evaluated
	// at oneDNN's exact VNNI ISA: tools/fmnist.py), default 99.7-99.8%.
	minRate := 97.5
	if qc == "qnnpack" {
		minRate = 90
	}
	if want.Top1 > 20 && rate < minRate {
		t.Errorf("%s: top-1 agreement with PyTorch %.2f%%, want >= %.1f%%", qc, rate, minRate)
	}
	// Not worse than PyTorch: by 0.1 with the x86 qconfigs (issue 13), by 0.3 with qnnpack.
	slack := 0.1
	if qc == "qnnpack" {
		slack = 0.3
	}
	if testenv.Full() && acc.Top1 < want.Top1-slack {
		t.Errorf("%s: top-1 %.2f, below PyTorch's %.2f - %.1f", qc, acc.Top1, want.Top1, slack)
	}
}

// TestEqualizeKeepsFloatModel: cross-layer equalization (and high-bias absorption)
// leave the bundled model's float logits unchanged.
func TestEqualizeKeepsFloatModel(t *testing.T) {
	testenv.SkipShort(t, "runs the bundled model: skipped with -short")
	_, g, ds := floatModel(t, bundled, "")
	run := func(g *ir.Graph) []float32 {
		_, l, err := Evaluate(ds, 10, 100, 300, func(x []float32, n int) ([]float32, error) { return ir.Run(g, x, n, nil) }, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	want := run(g)
	e := g.Clone()
	before := ir.ChannelSpread(e.Node("features.1.conv.0.0"))
	ir.Equalize(e, 200, 1e-6)
	absorbed := ir.AbsorbHighBias(e)
	after := ir.ChannelSpread(e.Node("features.1.conv.0.0"))
	got := run(e)
	worst, flips := 0.0, 0
	for i := 0; i < len(want); i += 10 {
		scale := 0.0
		for _, v := range want[i : i+10] {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		for j := i; j < i+10; j++ {
			worst = math.Max(worst, math.Abs(float64(got[j]-want[j]))/scale)
		}
		if runtime.TopK(got[i:i+10], 1)[0] != runtime.TopK(want[i:i+10], 1)[0] {
			flips++
		}
	}
	t.Logf("first depthwise weight range spread %.0f -> %.1f; %d channels absorbed; logits moved %.2g relative", before, after, absorbed, worst)
	if worst > 2e-5 || flips > 0 {
		t.Errorf("equalization changed the float model: logits moved %.3g relative, %d top-1 changes", worst, flips)
	}
}

// TestEqualizeKeptOnlyWhenItHelps: -equalize rescues per-tensor weights, so it
// stays for `default`; on the bundled model it lowers `fbgemm`'s fidelity
// (per-channel weights need no balancing), so it is dropped and the model is
// exactly the one quantized without it.
func TestEqualizeKeptOnlyWhenItHelps(t *testing.T) {
	testenv.SkipUnlessLong(t, "quantizes the bundled model four times")
	// All 300 calibration images: on the first 128 the check keeps it (18.3 vs 17.8
	// dB); on 300, and on 2,000 test images, it costs ~2 dB.
	model := filepath.Join(bundled, "model.json")
	calib := filepath.Join(bundled, "calib_images.npy")
	quantize := func(qc string, eq bool) *compiler.Model {
		var log strings.Builder
		m, _, _, err := QuantizeFloat(Options{Model: model, QConfig: qc, Calib: calib, Equalize: eq, Log: &log})
		if err != nil {
			t.Fatal(err)
		}
		if eq {
			t.Logf("%s: %s", qc, m.Meta.EqualizeNote)
		}
		if eq && !strings.Contains(log.String(), "equalization "+strings.Fields(m.Meta.EqualizeNote)[0]) {
			t.Errorf("%s: the log does not give the decision:\n%s", qc, log.String())
		}
		return m
	}
	if m := quantize("default", true); !m.Meta.Equalize || !strings.HasPrefix(m.Meta.EqualizeNote, "kept:") {
		t.Errorf("default: equalization not kept (%v, %q)", m.Meta.Equalize, m.Meta.EqualizeNote)
	}
	m := quantize("fbgemm", true)
	if m.Meta.Equalize || !strings.HasPrefix(m.Meta.EqualizeNote, "dropped:") {
		t.Fatalf("fbgemm: equalization not dropped (%v, %q)", m.Meta.Equalize, m.Meta.EqualizeNote)
	}
	plain := quantize("fbgemm", false)
	m.Meta.EqualizeNote = ""
	if diff := cmp.Diff(plain, m, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("fbgemm with equalization dropped differs from the plain model (-plain +dropped):\n%s", diff)
	}
}

// worstRel is the largest |got - want| over samples of k logits, each
// relative to its sample's largest |want| (at least floor).
func worstRel(got, want []float32, k int, floor float64) float64 {
	worst := 0.0
	for i := 0; i+k <= len(want); i += k {
		scale := floor
		for _, v := range want[i : i+k] {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		for j := i; j < i+k; j++ {
			worst = math.Max(worst, math.Abs(float64(got[j])-float64(want[j]))/scale)
		}
	}
	return worst
}
