package runtime

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTopK(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		name   string
		scores []float32
		k      int
		want   []int
	}{
		{"best first", []float32{0.1, 0.9, 0.5}, 2, []int{1, 2}},
		{"ties to the lower index", []float32{1, 3, 3, 1}, 3, []int{1, 2, 0}},
		{"k larger than the classes", []float32{2, 1}, 5, []int{0, 1}},
		{"k zero", []float32{2, 1}, 0, []int{}},
		{"k negative", []float32{2, 1}, -1, []int{}},
		{"NaN last", []float32{nan, -1, nan, 2}, 4, []int{3, 1, 0, 2}},
		{"empty", nil, 3, []int{}},
		{"all", []float32{-3, -1, -2}, 3, []int{1, 2, 0}},
	} {
		if diff := cmp.Diff(c.want, TopK(c.scores, c.k)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestScalarOps(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint8
	}{
		{"quantize half to even", QuantizeValue(0.25, 10, 0), 2},
		{"quantize NaN", QuantizeValue(float32(math.NaN()), 10, 128), 0},
		{"quantize saturates", QuantizeValue(100, 10, 128), 255},
		{"requantize clamps to lo", Requantize(-1000, 0.01, 0, 7, 7, 255), 7},
		{"requantize clamps to hi", Requantize(1000, 1, 0, 0, 0, 100), 100},
		{"requantize half to even", Requantize(25, 0.1, 0, 0, 0, 255), 2},
		{"add", AddQ(10, 20, 0, 0, 0.5, 0.25, 3), 13},
		{"mean", MeanQ(-30, 0.25, 64), 56},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	if got := Dequantize(3, 0.5, 7); got != -2 {
		t.Errorf("Dequantize(3, 0.5, 7) = %v, want -2", got)
	}
}
