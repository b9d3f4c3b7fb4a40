package ptq

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestInputsONNX: a build must not overwrite the ONNX graph a description names.
func TestInputsONNX(t *testing.T) {
	dir := filepath.Join("..", "testdata", "resnet_fmnist")
	for _, c := range []struct {
		model string
		want  []string
	}{
		{filepath.Join(dir, "model.onnx"), []string{filepath.Join(dir, "model.onnx")}},
		{filepath.Join(dir, "model_onnx.json"), []string{filepath.Join(dir, "model_onnx.json"), filepath.Join(dir, "model.onnx")}},
	} {
		o := Options{Model: c.model}
		if diff := cmp.Diff(c.want, o.Inputs()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.model, diff)
		}
	}
	if _, _, err := LoadModel(filepath.Join(dir, "model.onnx"), filepath.Join(dir, "model.safetensors")); err == nil {
		t.Error("-weights with an ONNX model: no error")
	}
}
