package runtime

import (
	"math"
	"testing"
)

func TestSoftmax(t *testing.T) {
	for _, tc := range []struct {
		in       []float32
		soft, ls []float32
	}{
		{[]float32{0, 0}, []float32{0.5, 0.5}, []float32{-math.Ln2, -math.Ln2}},
		{[]float32{1, 2, 3}, []float32{0.09003057, 0.24472847, 0.66524096}, []float32{-2.4076059, -1.4076059, -0.40760595}},
		// Large logits: shifting by the max keeps exp finite.
		{[]float32{1000, 1000}, []float32{0.5, 0.5}, []float32{-math.Ln2, -math.Ln2}},
		{[]float32{-1e30, 0}, []float32{0, 1}, []float32{-1e30, 0}},
	} {
		s := append([]float32(nil), tc.in...)
		Softmax(s)
		l := append([]float32(nil), tc.in...)
		LogSoftmax(l)
		for i := range tc.in {
			if !near(s[i], tc.soft[i]) || !near(l[i], tc.ls[i]) {
				t.Errorf("%v: softmax %v log_softmax %v, want %v %v", tc.in, s, l, tc.soft, tc.ls)
				break
			}
		}
	}
	nan := []float32{1, float32(math.NaN())}
	Softmax(nan)
	if nan[0] == nan[0] {
		t.Errorf("softmax of a NaN input: %v, want NaNs as PyTorch", nan)
	}
	Softmax(nil)
	LogSoftmax(nil)
}

func near(a, b float32) bool {
	return math.Abs(float64(a-b)) <= 2e-7*max(1, math.Abs(float64(b)))
}
