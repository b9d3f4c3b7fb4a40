package runtime

import "math"

// The scalar numerics of ARCHITECTURE.md, as the int8 reference interpreter
// (compiler) defines them; generated packages call these so every kernel rounds
// the same way. The explicit float32 conversions keep the Go compiler from
// contracting a multiply and an add into an FMA.

// QuantizeValue is q = clamp(rne(x * inv) + z, 0, 255) with inv = float32(1/s); NaN gives 0.
func QuantizeValue(x, inv float32, z int32) uint8 {
	p := float32(x * inv)
	if p != p {
		return 0
	}
	return clampU8(math.RoundToEven(float64(p))+float64(z), 0, 255)
}

// Requantize is clamp(rne(float32(float32(acc) * m) + b) + z, lo, hi): the
// bias b stays float, in output units, added after scaling as PyTorch's x86
// engines do.
func Requantize(acc int32, m, b float32, z, lo, hi int32) uint8 {
	p := float32(float32(acc) * m)
	s := float32(p + b)
	return clampU8(math.RoundToEven(float64(s))+float64(z), lo, hi)
}

// AddQ is clamp(rne(float32(float32(a - za) * ma) + float32(float32(b - zb) * mb)) + zy, 0, 255).
func AddQ(a, b uint8, za, zb int32, ma, mb float32, zy int32) uint8 {
	pa := float32(float32(int32(a)-za) * ma)
	pb := float32(float32(int32(b)-zb) * mb)
	s := float32(pa + pb)
	return clampU8(math.RoundToEven(float64(s))+float64(zy), 0, 255)
}

// MeanQ is clamp(rne(float32(sum) * inv) + z, 0, 255) with inv = float32(1/(H*W)).
func MeanQ(sum int32, inv float32, z int32) uint8 {
	p := float32(float32(sum) * inv)
	return clampU8(math.RoundToEven(float64(p))+float64(z), 0, 255)
}

// Dequantize is float32(q - z) * s.
func Dequantize(q uint8, s float32, z int32) float32 {
	return float32(float32(int32(q)-z) * s)
}

func clampU8(v float64, lo, hi int32) uint8 {
	if v >= -0x1p62 && v <= 0x1p62 {
		// Where int64 holds v, clamp without branches: a ReLU's outputs
		// fall below lo about half the time, unpredictably.
		return uint8(min(max(int64(v), int64(lo)), int64(hi)))
	}
	if v < float64(lo) {
		return uint8(lo)
	}
	if v > float64(hi) {
		return uint8(hi)
	}
	return uint8(v)
}

// TopK returns the indices of the k highest scores, best first, ties broken by
// the lower index; k is clamped to [0, len(scores)].
func TopK(scores []float32, k int) []int {
	k = min(max(k, 0), len(scores))
	idx := make([]int, 0, k)
	for i, s := range scores {
		// Insertion into the sorted prefix: k is small.
		j := len(idx)
		for j > 0 && better(s, i, scores[idx[j-1]], idx[j-1]) {
			j--
		}
		if j >= k {
			continue
		}
		if len(idx) < k {
			idx = append(idx, 0)
		}
		copy(idx[j+1:], idx[j:len(idx)-1])
		idx[j] = i
	}
	return idx
}

// better orders scores highest first, NaN last, ties by the lower index.
func better(a float32, i int, b float32, j int) bool {
	if a != a {
		return false
	}
	if b != b {
		return true
	}
	return a > b || (a == b && i < j)
}

// Lanes splits a sum of int64(x) * w terms, where each x holds two uint8 values
// (the first in bits 0-7, the second in bits 32-39), into the two int32 sums;
// exact while each sum fits in an int32.
func Lanes(a int64) (lo, hi int32) {
	lo = int32(a)
	return lo, int32((a - int64(lo)) >> 32)
}
