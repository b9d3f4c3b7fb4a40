package compiler

import (
	"strings"
	"testing"

	"github.com/ptqc/ptqc/frontend/onnx"
)

func TestPythonFloats(t *testing.T) {
	// Python's repr(float(np.float32(v))) and str(torch.tensor([that])) in
	// PyTorch 1.13.
	for _, c := range []struct {
		v           float64
		repr, torch string
	}{
		{0.1, "0.10000000149011612", "0.1000"},
		{0.0123, "0.012299999594688416", "0.0123"},
		{1e-5, "9.999999747378752e-06", "1.0000e-05"},
		{1, "1.0", "1."},
		{0, "0.0", "0."},
		{123456, "123456.0", "123456."},
		{0.0001, "9.999999747378752e-05", "1.0000e-04"},
		{2.5e17, "2.4999999607668736e+17", "2.5000e+17"},
		{0.00012, "0.00011999999696854502", "0.0001"},
		{1234.5678, "1234.5677490234375", "1234.5677"},
	} {
		if got := pyFloat(c.v); got != c.repr {
			t.Errorf("pyFloat(%v) = %s, want %s", c.v, got, c.repr)
		}
		if got := torchScalar(c.v); got != c.torch {
			t.Errorf("torchScalar(%v) = %s, want %s", c.v, got, c.torch)
		}
	}
}

// TestPrintName: a quantized ONNX model prints under no architecture's name.
func TestPrintName(t *testing.T) {
	m, _, _ := zooModel(t)
	for arch, want := range map[string]string{onnx.Arch: "Model(  # quantized, qconfig fbgemm\n", "mobilenetv2": "MobileNetV2(  # quantized, qconfig fbgemm\n"} {
		m.Desc.Arch = arch
		var b strings.Builder
		if err := Print(&b, m); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(b.String(), want) {
			t.Errorf("arch %s: printed %q..., want %q", arch, b.String()[:min(b.Len(), 60)], want)
		}
	}
}
