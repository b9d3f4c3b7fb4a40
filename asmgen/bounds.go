package asmgen

import "math"

// accBound bounds |acc| = |sum((q - zx) * w)| of one output channel, capped at
// 2^31 (an int32 cannot exceed it).
func accBound(w []int8, zx, xmax int32) float64 {
	s := 0.0
	for _, v := range w {
		s += math.Abs(float64(v))
	}
	d := float64(max(zx, xmax-zx, 0))
	return min(d*s, 1<<31)
}

// prodBounds bounds |float32(acc)*M + B| per channel, with room for float rounding.
func prodBounds(w []int8, m, b []float32, per int, zx, xmax int32) []float64 {
	out := make([]float64, len(m))
	for c := range m {
		out[c] = accBound(w[c*per:(c+1)*per], zx, xmax) * math.Abs(float64(m[c])) * (1 + 1.0/(1<<20))
		if b != nil {
			out[c] += math.Abs(float64(b[c])) * (1 + 1.0/(1<<20))
		}
	}
	return out
}
