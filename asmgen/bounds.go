package asmgen

import "math"

// accBound bounds |acc| of one output channel: |bias| + max|q - z| * sum|w|,
// capped at 2^31 (an int32 cannot exceed it).
func accBound(w []int8, bias int32, zx, xmax int32) float64 {
	s := 0.0
	for _, v := range w {
		s += math.Abs(float64(v))
	}
	d := float64(max(zx, xmax-zx, 0))
	return min(math.Abs(float64(bias))+d*s, 1<<31)
}

// prodBounds is accBound times |M| per channel, with room for float rounding.
func prodBounds(w []int8, bias []int32, m []float32, per int, zx, xmax int32) []float64 {
	b := make([]float64, len(m))
	for c := range m {
		b[c] = accBound(w[c*per:(c+1)*per], bias[c], zx, xmax) * math.Abs(float64(m[c])) * (1 + 1.0/(1<<20))
	}
	return b
}
