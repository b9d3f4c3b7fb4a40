package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/frontend"
	"github.com/ptqc/ptqc/ir"
)

// tinyModel writes a small random MobileNetV2 (description + safetensors) and
// 60 float32 .npy samples with int64 labels into dir.
func tinyModel(t *testing.T, dir string) (model, x, y string) {
	t.Helper()
	desc := `{"arch": "mobilenetv2", "num_classes": 4, "width_mult": 0.35,
	  "inverted_residual_setting": [[1, 16, 1, 1], [2, 24, 2, 2]],
	  "input": [3, 12, 12], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
	  "preprocess": {"resize": 0, "crop": 0, "pad": 0}, "weights": "w.safetensors"}`
	model = filepath.Join(dir, "model.json")
	if err := os.WriteFile(model, []byte(desc), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := frontend.ReadDescription(model)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ir.BuildRandom(d, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := frontend.WriteSafeTensors(filepath.Join(dir, "w.safetensors"), frontend.StateDict(g), nil); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	n := 60
	xs := make([]float32, n*3*12*12)
	for i := range xs {
		xs[i] = float32(r.NormFloat64())
	}
	ys := make([]int64, n)
	for i := range ys {
		ys[i] = int64(r.IntN(4))
	}
	x, y = filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	if err := data.WriteNpyF32(x, []int{n, 3, 12, 12}, xs); err != nil {
		t.Fatal(err)
	}
	if err := data.WriteNpyI64(y, []int{n}, ys); err != nil {
		t.Fatal(err)
	}
	return model, x, y
}

func ptqc(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = run(args, &o, &e)
	return o.String(), e.String(), err
}

func TestEvalJSON(t *testing.T) {
	dir := t.TempDir()
	model, x, y := tinyModel(t, dir)
	logits := filepath.Join(dir, "logits.npy")
	out, _, err := ptqc("eval", "-model", model, "-data", x, "-labels", y, "-float", "-json", "-save-logits", logits, "-batch", "7")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]float64
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %q", out)
	}
	if res["n"] != 60 || res["size_mb"] <= 0 || res["top1"] < 0 || res["top5"] < res["top1"] {
		t.Errorf("result %v", res)
	}
	l, err := data.ReadNpy(logits)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{60, 4}, l.Shape); diff != "" {
		t.Errorf("logits shape: %s", diff)
	}
	// The same through the library must give the same logits.
	_, g, err := frontend.Load(model, "")
	if err != nil {
		t.Fatal(err)
	}
	xs, err := data.ReadNpy(x)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ir.Run(ir.Fuse(g), xs.F32, 60, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, l.F32); diff != "" {
		t.Errorf("saved logits differ from ir.Run: %s", diff)
	}

	out, _, err = ptqc("eval", "-model", model, "-data", x, "-labels", y, "-qconfig", "fbgemm", "-calib", x, "-calib-limit", "30", "-json")
	if err != nil {
		t.Fatal(err)
	}
	var q map[string]any
	if err := json.Unmarshal([]byte(out), &q); err != nil {
		t.Fatalf("stdout is not one JSON object: %q", out)
	}
	keys := []string{}
	for k := range q {
		keys = append(keys, k)
	}
	if diff := cmp.Diff([]string{"float_size_mb", "n", "qconfig", "size_mb", "top1", "top5"}, keys, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("JSON keys: %s", diff)
	}
	if q["qconfig"] != "fbgemm" || q["size_mb"].(float64) >= q["float_size_mb"].(float64) {
		t.Errorf("result %v", q)
	}
}

func TestEvalQuantizedText(t *testing.T) {
	dir := t.TempDir()
	model, x, y := tinyModel(t, dir)
	qm := filepath.Join(dir, "m.ptqm")
	out, _, err := ptqc("eval", "-model", model, "-data", x, "-labels", y, "-qconfig", "default", "-calib", x, "-calib-limit", "30", "-save-qmodel", qm, "-equalize", "-bias-correct")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"QConfig(activation=functools.partial(<class 'torch.ao.quantization.observer.MinMaxObserver'>, reduce_range=True)", "calibration done", "convert done", "Acc@1", "Size (MB):"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The saved model evaluates identically without recalibrating.
	again, _, err := ptqc("eval", "-data", x, "-labels", y, "-qmodel", qm)
	if err != nil {
		t.Fatal(err)
	}
	acc := func(s string) string { return s[strings.Index(s, "Acc@1"):] }
	if acc(again) != acc(out) {
		t.Errorf("-qmodel result %q, want %q", acc(again), acc(out))
	}
	insp, _, err := ptqc("inspect", "-qmodel", qm)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(insp, "QuantizedConvReLU2d(3, 16, kernel_size=(3, 3), stride=(2, 2), scale=") {
		t.Errorf("inspect output:\n%s", insp)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	model, x, y := tinyModel(t, dir)
	// Bad inputs of every kind a user may bring.
	nan := filepath.Join(dir, "nan.npy")
	xs, err := data.ReadNpy(x)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]float32(nil), xs.F32...)
	bad[5*3*12*12+7] = float32(math.NaN())
	if err := data.WriteNpyF32(nan, []int{60, 3, 12, 12}, bad); err != nil {
		t.Fatal(err)
	}
	wrongShape := filepath.Join(dir, "shape.npy")
	if err := data.WriteNpyF32(wrongShape, []int{2, 3, 10, 10}, make([]float32, 600)); err != nil {
		t.Fatal(err)
	}
	badLabels := filepath.Join(dir, "labels7.npy")
	ls := make([]int64, 60)
	ls[3] = 7
	if err := data.WriteNpyI64(badLabels, []int{60}, ls); err != nil {
		t.Fatal(err)
	}
	shortLabels := filepath.Join(dir, "labels59.npy")
	if err := data.WriteNpyI64(shortLabels, []int{59}, ls[:59]); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.npy")
	if err := data.WriteNpyF32(empty, []int{0, 3, 12, 12}, nil); err != nil {
		t.Fatal(err)
	}
	flat := filepath.Join(dir, "flat") // images without class folders
	if err := os.MkdirAll(flat, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 12, 12))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(flat, "a.png"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big") // a calibration image the preprocessing leaves too large
	if err := os.MkdirAll(big, 0o755); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 20, 16))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(big, "a.png"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	zeroHidden := filepath.Join(dir, "zero.json")
	if err := os.WriteFile(zeroHidden, []byte(`{"arch": "mobilenetv2", "width_mult": 0.1, "round_nearest": 1, "inverted_residual_setting": [[0.01, 16, 1, 1]]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"eval", "-model", model, "-data", x}, "give either -float or a quantized model"},
		{[]string{"eval", "-model", model, "-data", x, "-labels", y, "-qconfig", "int4", "-calib", x}, `unknown qconfig "int4" (valid: default, fbgemm, onednn, qnnpack, x86)`},
		{[]string{"eval", "-model", model, "-data", x, "-labels", y, "-qconfig", "fbgemm", "-calib", x, "-calib-limit", "1000"}, "1000 samples asked for, only 60 available"},
		{[]string{"eval", "-model", model, "-data", x, "-float"}, "sample 0 has no label (give -labels)"},
		{[]string{"eval", "-model", model, "-data", flat, "-float"}, "flat: images without class folders have no labels; evaluation takes an ImageFolder"},
		{[]string{"eval", "-model", model, "-data", x, "-labels", y, "-qconfig", "x86", "-calib", big}, `but the model input is 12x12: the model description's "preprocess" (resize, crop, pad) says how images become the input, such as "preprocess": {"resize": 12, "crop": 12}`},
		{[]string{"eval", "-model", filepath.Join(dir, "nope.json"), "-data", x, "-float"}, "nope.json"},
		{[]string{"inspect", "-model", model, "-weights", x}, "x.npy"},
		{[]string{"eval", "-model", model, "-data", x, "-labels", y, "-qconfig", "fbgemm", "-calib", nan, "-calib-limit", "60"}, "calibration data: sample 5 has NaN at element 7"},
		{[]string{"eval", "-model", model, "-data", x, "-labels", y, "-qconfig", "fbgemm", "-calib", empty}, "empty"},
		{[]string{"eval", "-model", model, "-data", wrongShape, "-float"}, "shape.npy"},
		{[]string{"eval", "-model", model, "-data", x, "-labels", badLabels, "-float"}, "sample 3 has label 7, outside 0..3"},
		{[]string{"eval", "-model", model, "-data", x, "-labels", shortLabels, "-float"}, "59"},
		{[]string{"inspect", "-model", zeroHidden}, "0 hidden channels"},
	} {
		_, _, err := ptqc(c.args...)
		t.Logf("%v", err)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ptqc %v: error %v, want it to contain %q", c.args, err, c.want)
		}
	}
}

// TestCalibLimitDefault: with -calib-limit left alone, a set smaller than the
// default calibrates on all its samples and says so; an explicit larger limit
// is an error.
func TestCalibLimitDefault(t *testing.T) {
	dir := t.TempDir()
	model, x, _ := tinyModel(t, dir)
	a, err := data.ReadNpy(x)
	if err != nil {
		t.Fatal(err)
	}
	x50 := filepath.Join(dir, "x50.npy")
	if err := data.WriteNpyF32(x50, []int{50, 3, 12, 12}, a.F32[:50*3*12*12]); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := ptqc("inspect", "-model", model, "-qconfig", "fbgemm", "-calib", x50)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"the calibration data has 50 samples, fewer than the default 300: calibrating on all 50\n", "calibration done (50 samples)\n"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, _, err := ptqc("inspect", "-model", model, "-qconfig", "fbgemm", "-calib", x50, "-calib-limit", "51"); err == nil || !strings.Contains(err.Error(), "51 samples asked for, only 50 available") {
		t.Errorf("-calib-limit 51 of 50: error %v", err)
	}
}
