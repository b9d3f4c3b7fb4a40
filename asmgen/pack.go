package asmgen

import (
	"fmt"
	"math"
)

// Weight packing shared by every tier (AVX2, AVX-512 VNNI and the portable Go
// kernels). Biases are not in it: kernels take them with -z_x * sum(w) folded
// in (FoldBias), so they read q_x, not q_x - z_x (and padding pixels hold z_x).
//
// Dense (groups = 1; pointwise, k x k, linear): int8 weights in groups of 8
// output channels, each group a run of K/4 quads: W[g][q][c][i] = w[8g+c][k =
// 4q+i], where k runs over taps (ky, kx) then input channels padded to
// 4*Quads(Cin). Zero where 8g+c or the channel is padding.

// Quads is the number of 4-channel groups per tap of a dense layer.
func Quads(cin int) int { return (cin + 3) / 4 }

// DenseBlobSize is the size of a dense layer's packed weights.
func DenseBlobSize(cin, cout, k int) int { return ChanStride(cout) * k * k * Quads(cin) * 4 }

// PackDense packs a dense layer's weights (OutC x InC x k x k, as compiler.Conv holds them).
func PackDense(w []int8, cin, cout, k int) ([]byte, error) {
	if len(w) != cout*cin*k*k {
		return nil, fmt.Errorf("asmgen: dense weight of %d values for %dx%dx%dx%d", len(w), cout, cin, k, k)
	}
	nq, taps := Quads(cin), k*k
	kq := taps * nq // quads per output channel
	b := make([]byte, DenseBlobSize(cin, cout, k))
	for o := 0; o < cout; o++ {
		g, c := o/8, o%8
		for t := 0; t < taps; t++ {
			for ci := 0; ci < cin; ci++ {
				q, i := t*nq+ci/4, ci%4
				b[(g*kq+q)*32+c*4+i] = byte(w[(o*cin+ci)*taps+t])
			}
		}
	}
	return b, nil
}

// FoldBias is bias[o] - zx * sum(w[o]) in wrapping int32 arithmetic.
func FoldBias(w []int8, bias []int32, zx int32) []int32 {
	per := len(w) / len(bias)
	b := make([]int32, len(bias))
	for o := range b {
		var s int32
		for _, v := range w[o*per : (o+1)*per] {
			s += int32(v)
		}
		b[o] = bias[o] - zx*s
	}
	return b
}

// PackDepthwise packs a depthwise layer's weights (C x 1 x k x k) tap-major:
// W[t][c], k*k rows of C weights.
func PackDepthwise(w []int8, c, k int) ([]byte, error) {
	taps := k * k
	if len(w) != c*taps {
		return nil, fmt.Errorf("asmgen: depthwise weight of %d values for %d channels of %dx%d", len(w), c, k, k)
	}
	b := make([]byte, c*taps)
	for ch := 0; ch < c; ch++ {
		for t := 0; t < taps; t++ {
			b[t*c+ch] = byte(w[ch*taps+t])
		}
	}
	return b, nil
}

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
