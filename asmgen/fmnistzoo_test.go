package asmgen

import (
	"path/filepath"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/ptq"
)

// TestGeneratedFMNISTZoo builds the trained zoo models of issue 25
// (testdata/fmnist_zoo: MobileNetV3-Small, ShuffleNetV2, GoogLeNet, a
// ResNeXt, an EfficientNet-B0; every op int8) and checks their packages
// against the interpreter bit for bit on every tier this CPU runs and the
// avx512vnni, avx512 and amx designs emulated. Each model is quantized with
// a different qconfig, so that the u8 and i16 paths and both rounding rules
// of the tables are exercised.
func TestGeneratedFMNISTZoo(t *testing.T) {
	testenv.SkipUnlessLong(t, "builds packages of the five trained zoo models")
	calib := filepath.Join("..", "testdata", "mobilenetv2_fmnist", "calib_images.npy")
	var ms []*compiler.Model
	var seeds []uint64
	for i, c := range []struct{ model, qconfig string }{
		{"mobilenet_v3_small", "fbgemm"},
		{"shufflenet_v2", "qnnpack"},
		{"googlenet", "onednn"},
		{"resnext", "fbgemm"},
		{"efficientnet_b0", "default"},
	} {
		m, err := ptq.Quantize(ptq.Options{Model: filepath.Join("..", "testdata", "fmnist_zoo", c.model, "model_onnx.json"),
			QConfig: c.qconfig, Calib: calib, CalibLimit: 64})
		if err != nil {
			t.Fatalf("%s: %v", c.model, err)
		}
		ms, seeds = append(ms, m), append(seeds, uint64(i))
	}
	testModelEveryTier(t, ms, seeds)
}
