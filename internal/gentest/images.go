package gentest

import (
	"path/filepath"
	"testing"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ptq"
)

// TestImages is the first n of the bundled Fashion-MNIST test images,
// preprocessed for m (NCHW float32).
func TestImages(t testing.TB, m *compiler.Model, n int) []float32 {
	t.Helper()
	path := filepath.Join(RepoRoot(t), "testdata", "mobilenetv2_fmnist", "test_images.npy")
	ds, err := data.Open(path, "", ptq.Transform(m.Desc))
	if err != nil {
		t.Fatal(err)
	}
	var x []float32
	if err := data.Batches(ds, n, n, func(_ int, b []float32, _ []int) error {
		x = append(x, b...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return x
}
