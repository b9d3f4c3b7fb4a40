package data

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// fmnistDir holds Debian's dataset-fashion-mnist.
const fmnistDir = "/usr/share/datasets/fashion-mnist"

// fmnistFile returns the path of a Fashion-MNIST file, skipping the test if it is
// absent (failing instead under CI=true, where the package must be installed).
func fmnistFile(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(fmnistDir, name)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Fashion-MNIST is required under CI=true (apt-get install dataset-fashion-mnist): %v", err)
		}
		t.Skipf("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): %v", err)
	}
	return path
}

func TestFashionMNISTTest(t *testing.T) {
	images := fmnistFile(t, "t10k-images-idx3-ubyte.gz")
	tr := fmnistTransform()
	ds, err := Open(images, "", tr)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 10000 {
		t.Fatalf("%d test images, want 10000", ds.Len())
	}
	counts := make([]int, 10)
	seen := 0
	err = Batches(ds, 256, 0, func(start int, x []float32, labels []int) error {
		if start != seen {
			t.Fatalf("batch starts at %d, want %d", start, seen)
		}
		seen += len(labels)
		if len(x) != len(labels)*3*32*32 {
			t.Fatalf("batch at %d: %d values for %d samples", start, len(x), len(labels))
		}
		for _, l := range labels {
			if l < 0 || l > 9 {
				t.Fatalf("label %d outside 0..9", l)
			}
			counts[l]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 10000 {
		t.Errorf("batches covered %d samples", seen)
	}
	for c, n := range counts {
		if n != 1000 {
			t.Errorf("class %d has %d test images, want 1000", c, n)
		}
	}

	x := make([]float32, 3*32*32)
	label, err := ds.Load(0, x)
	if err != nil {
		t.Fatal(err)
	}
	if label != 9 {
		t.Errorf("first test label %d, want 9 (ankle boot)", label)
	}
	zero := float32(float32(float32(0)-float32(0.286)) / float32(0.353))
	for _, i := range []int{0, 31, 31 * 32, 32*32 - 1} {
		for c := range 3 {
			if v := x[c*1024+i]; v != zero {
				t.Errorf("channel %d corner %d = %v, want %v", c, i, v, zero)
			}
		}
	}
	for i := range 1024 {
		if x[i] != x[1024+i] || x[i] != x[2048+i] {
			t.Fatalf("channels differ at %d: %v %v %v", i, x[i], x[1024+i], x[2048+i])
		}
	}
	// The image itself matches the raw IDX bytes.
	raw, err := ReadIDX(images)
	if err != nil {
		t.Fatal(err)
	}
	nonzero := 0
	for y := range 28 {
		for xx := range 28 {
			p := raw.Data[y*28+xx]
			want := float32(float32(float32(float32(p)/255)-float32(0.286)) / float32(0.353))
			if got := x[(y+2)*32+xx+2]; got != want {
				t.Fatalf("pixel (%d,%d) = %v, want %v", y, xx, got, want)
			}
			if p != 0 {
				nonzero++
			}
		}
	}
	if nonzero < 100 {
		t.Errorf("first image has only %d nonzero pixels", nonzero)
	}
	if v := x[16*32+16]; math.IsNaN(float64(v)) {
		t.Error("NaN pixel")
	}

	// An explicit labels path gives the same labels.
	ds2, err := Open(images, fmnistFile(t, "t10k-labels-idx1-ubyte.gz"), tr)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 4999, 9999} {
		a, err1 := ds.Load(i, x)
		b, err2 := ds2.Load(i, x)
		if err1 != nil || err2 != nil || a != b {
			t.Errorf("sample %d: labels %d, %d (%v, %v)", i, a, b, err1, err2)
		}
	}
}

func TestFashionMNISTTrainCalibration(t *testing.T) {
	images := fmnistFile(t, "train-images-idx3-ubyte.gz")
	ds, err := Open(images, "", fmnistTransform())
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 60000 {
		t.Fatalf("%d training images, want 60000", ds.Len())
	}
	// The 300 calibration images.
	n := 0
	err = Batches(ds, 32, 300, func(start int, x []float32, labels []int) error {
		n += len(labels)
		for _, l := range labels {
			if l < 0 || l > 9 {
				t.Fatalf("label %d outside 0..9", l)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 300 {
		t.Errorf("%d calibration samples, want 300", n)
	}
}
