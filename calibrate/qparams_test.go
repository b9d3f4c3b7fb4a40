package calibrate

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// f32 is the float32 PyTorch computes for an exact quotient (IEEE division is
// correctly rounded, so float32(a)/float32(b) == float32(a/b) for exact a, b).
func f32(x float64) float64 { return float64(float32(x)) }

func TestCalculateQParams(t *testing.T) {
	inf := float32(math.Inf(1))
	eps := float64(Eps) // 2^-23
	tests := []struct {
		name     string
		min, max float32
		dtype    DType
		scheme   Scheme
		rr       bool
		want     QParams
	}{
		{"never observed", inf, -inf, QUInt8, Affine, true, QParams{1, 0}},
		{"never observed symmetric", inf, -inf, QInt8, Symmetric, false, QParams{1, 0}},
		// scale = 4/255; -(-1)/scale = 63.75 -> 64
		{"affine u8", -1, 3, QUInt8, Affine, false, QParams{f32(4.0 / 255), 64}},
		// scale = 4/127; 31.75 -> 32
		{"affine u8 reduced", -1, 3, QUInt8, Affine, true, QParams{f32(4.0 / 127), 32}},
		// qint8 affine: zp = -128 - round(-63.75) = -64; reduced: -64 + 32
		{"affine s8", -1, 3, QInt8, Affine, false, QParams{f32(4.0 / 255), -64}},
		{"affine s8 reduced", -1, 3, QInt8, Affine, true, QParams{f32(4.0 / 127), -32}},
		// the range always includes 0: [0.5, 2] -> [0, 2]
		{"positive only", 0.5, 2, QUInt8, Affine, false, QParams{f32(2.0 / 255), 0}},
		// [-2, -0.5] -> [-2, 0]: zp = round(2 / (2/255)) = 255
		{"negative only", -2, -0.5, QUInt8, Affine, false, QParams{f32(2.0 / 255), 255}},
		{"negative only reduced", -2, -0.5, QUInt8, Affine, true, QParams{f32(2.0 / 127), 127}},
		// min == max is not special-cased (only +Inf/-Inf is)
		{"constant", 2.5, 2.5, QUInt8, Affine, false, QParams{f32(2.5 / 255), 0}},
		{"constant negative", -2.5, -2.5, QUInt8, Affine, false, QParams{f32(2.5 / 255), 255}},
		// all zero: scale floored at eps
		{"zeros", 0, 0, QUInt8, Affine, true, QParams{eps, 0}},
		{"zeros symmetric", 0, 0, QInt8, Symmetric, false, QParams{eps, 0}},
		{"tiny positive", 0, 1e-6, QUInt8, Affine, false, QParams{eps, 0}},
		// 1e-6/2^-23 = 8.388608 -> 8
		{"tiny negative", -1e-6, 0, QUInt8, Affine, false, QParams{eps, 8}},
		// 2e-5/2^-23 = 167.77 -> 168
		{"eps floor", -2e-5, 1e-6, QUInt8, Affine, false, QParams{eps, 168}},
		// float32(1/255) is above 1/255, so 0.5/scale = 127.4999... -> 127
		{"float32 scale rounding", -0.5, 0.5, QUInt8, Affine, false, QParams{f32(1.0 / 255), 127}},
		// scale = (255/256)/255 = 1/256 exactly; 126.5 rounds half to even: 126
		{"round half even", -126.5 / 256, 128.5 / 256, QUInt8, Affine, false, QParams{1.0 / 256, 126}},
		// symmetric: max(|min|, max) / ((qmax-qmin)/2)
		{"symmetric s8", -1, 0.5, QInt8, Symmetric, false, QParams{f32(1 / 127.5), 0}},
		{"symmetric s8 reduced", -1, 0.5, QInt8, Symmetric, true, QParams{f32(1 / 63.5), 0}},
		{"symmetric u8", -1, 0.5, QUInt8, Symmetric, false, QParams{f32(1 / 127.5), 128}},
		// PyTorch's _calculate_qparams keeps 128 even for 0..127 (its observers
		// refuse this combination; CalculateQParams mirrors the function).
		{"symmetric u8 reduced", -1, 0.5, QUInt8, Symmetric, true, QParams{f32(1 / 63.5), 128}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CalculateQParams(tc.min, tc.max, tc.dtype, tc.scheme, tc.rr)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CalculateQParams(%v, %v, %v, %v, %v) (-want +got):\n%s",
					tc.min, tc.max, tc.dtype, tc.scheme, tc.rr, diff)
			}
		})
	}
}

func TestCalculateQParamsPanics(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range [][2]float32{{1, -1}, {nan, 1}, {0, nan}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("CalculateQParams(%v, %v) did not panic", c[0], c[1])
				}
			}()
			CalculateQParams(c[0], c[1], QUInt8, Affine, false)
		}()
	}
}

func TestQuantRange(t *testing.T) {
	type r struct{ Min, Max int32 }
	got := map[string]r{}
	for _, d := range []DType{QUInt8, QInt8} {
		for _, rr := range []bool{false, true} {
			lo, hi := QuantRange(d, rr)
			got[d.String()+map[bool]string{false: "", true: " reduced"}[rr]] = r{lo, hi}
		}
	}
	want := map[string]r{
		"quint8": {0, 255}, "quint8 reduced": {0, 127},
		"qint8": {-128, 127}, "qint8 reduced": {-64, 63},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("QuantRange (-want +got):\n%s", diff)
	}
}

func TestEps(t *testing.T) {
	// torch.finfo(torch.float32).eps
	if Eps != 1.1920928955078125e-07 {
		t.Errorf("Eps = %v", Eps)
	}
}
