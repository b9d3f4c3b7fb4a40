package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/frontend"
	"github.com/ptqc/ptqc/ptq"
)

// TestEvalONNX: -model takes the bundled models' ONNX exports, bare (on
// images already preprocessed) or named by a description with "graph" (on
// raw images, with the description's preprocessing), and gives the float
// top-1 of their descriptions; a model quantized from ONNX saves and loads.
func TestEvalONNX(t *testing.T) {
	// The ResNet's export is checked in; the MobileNetV2's (8.9 MB) only
	// where tools/onnx_export.py has made it.
	dir := filepath.Join("..", "..", "testdata", "resnet_fmnist")
	fm := filepath.Join("..", "..", "testdata", "mobilenetv2_fmnist")
	images, labels := filepath.Join(fm, "test_images.npy"), filepath.Join(fm, "test_labels.npy")
	eval := func(model, x string) map[string]float64 {
		t.Helper()
		out, _, err := ptqc("eval", "-model", model, "-data", x, "-labels", labels, "-float", "-json")
		if err != nil {
			t.Fatalf("eval -model %s: %v", model, err)
		}
		var res map[string]float64
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("stdout %q: %v", out, err)
		}
		return res
	}
	for _, d := range []string{"resnet_fmnist", "mobilenetv2_fmnist"} {
		d := filepath.Join(dir, "..", d)
		if _, err := os.Stat(filepath.Join(d, "model.onnx")); err != nil {
			t.Logf("%s: no ONNX export (tools/onnx_export.py makes it): skipped", d)
			continue
		}
		want, got := eval(filepath.Join(d, "model.json"), images), eval(filepath.Join(d, "model_onnx.json"), images)
		if got["top1"] != want["top1"] || got["n"] != want["n"] {
			t.Errorf("%s: model_onnx.json: %v, description: %v", d, got, want)
		}
	}
	want := eval(filepath.Join(dir, "model.json"), images)
	// The bare graph has no preprocessing for 28x28 Fashion-MNIST: give it
	// the description's, applied beforehand.
	d, err := frontend.ReadDescription(filepath.Join(dir, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.Open(images, labels, ptq.Transform(d))
	if err != nil {
		t.Fatal(err)
	}
	var x []float32
	if err := data.Batches(ds, 100, ds.Len(), func(_ int, b []float32, _ []int) error { x = append(x, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	pre := filepath.Join(t.TempDir(), "x.npy")
	if err := data.WriteNpyF32(pre, []int{ds.Len(), 3, 32, 32}, x); err != nil {
		t.Fatal(err)
	}
	if got := eval(filepath.Join(dir, "model.onnx"), pre); got["top1"] != want["top1"] || got["n"] != want["n"] {
		t.Errorf("model.onnx: %v, description: %v", got, want)
	}
	// Quantized from ONNX, saved, and read back.
	q := filepath.Join(t.TempDir(), "m.ptqm")
	qargs := []string{"-data", images, "-labels", labels, "-limit", "200", "-json"}
	out, _, err := ptqc(append([]string{"eval", "-model", filepath.Join(dir, "model_onnx.json"), "-qconfig", "default",
		"-calib", filepath.Join(fm, "calib_images.npy"), "-calib-limit", "60", "-save-qmodel", q}, qargs...)...)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := ptqc(append([]string{"eval", "-qmodel", q}, qargs...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"top1"`) || back != out {
		t.Errorf("quantized from ONNX: %s, read back: %s", out, back)
	}
	out, _, err = ptqc("inspect", "-model", filepath.Join(dir, "model.onnx"), "-fused")
	if err != nil || !strings.Contains(out, "(layer1.0.conv1):") || !strings.Contains(out, "(fc):") {
		t.Errorf("inspect: %v\n%s", err, out)
	}
	if _, _, err := ptqc("eval", "-model", filepath.Join(dir, "model.onnx"), "-weights", filepath.Join(dir, "model.safetensors"), "-float", "-data", pre); err == nil || !strings.Contains(err.Error(), "-weights does not apply") {
		t.Errorf("-weights with an ONNX model: %v", err)
	}
}
