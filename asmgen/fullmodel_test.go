package asmgen

import (
	"os"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ptq"
	"github.com/ptqc/ptqc/runtime"
)

// TestFullModel checks any model a user has, at full size, as the family
// tests check the small ones: quantized (fbgemm, the first 4 calibration
// samples), built into packages for every tier this CPU runs and run on 1, 2
// and 3 workers against the int8 interpreter, bit for bit. It runs only when
// asked (minutes for a 224x224 model: the interpreter is plain Go), e.g. on
// the full-size torchvision models of tools/families/export_full.py:
//
//	PTQC_FULL_MODEL=m.onnx PTQC_FULL_CALIB=calib224.npy go test ./asmgen -run FullModel -timeout 60m
func TestFullModel(t *testing.T) {
	path := os.Getenv("PTQC_FULL_MODEL")
	if path == "" {
		t.Skip("set PTQC_FULL_MODEL (and PTQC_FULL_CALIB) to check a model")
	}
	m, err := ptq.Quantize(ptq.Options{Model: path, QConfig: "fbgemm", Calib: os.Getenv("PTQC_FULL_CALIB"), CalibLimit: 4})
	if err != nil {
		t.Fatal(err)
	}
	testModelTiers(t, []asmGen{Generate}, []*compiler.Model{m}, []uint64{0},
		[]string{runtime.TierGeneric, runtime.AVX2.Name, runtime.AVX512VNNI.Name, runtime.AVX512.Name, runtime.AMX.Name})
}
