package runtime

import "math"

// Softmax sets v to softmax(v) in place: exp(v[i] - max) / sum, as PyTorch
// computes it, with the exponentials and their sum in float64 so that each
// result is within an ulp of the exact value. A model's trailing Softmax
// runs on its dequantized outputs (ARCHITECTURE.md, "Numerics").
func Softmax(v []float32) {
	m, sum := expSum(v)
	for i, x := range v {
		v[i] = float32(math.Exp(float64(x)-m) / sum)
	}
}

// LogSoftmax sets v to log_softmax(v) in place: v[i] - max - log(sum(exp(v - max))).
func LogSoftmax(v []float32) {
	m, sum := expSum(v)
	lse := m + math.Log(sum)
	for i, x := range v {
		v[i] = float32(float64(x) - lse)
	}
}

// expSum is v's largest value (NaN if any is NaN) and the sum of exp(v[i] - max).
func expSum(v []float32) (m, sum float64) {
	m = math.Inf(-1)
	for _, x := range v {
		if x != x {
			return math.NaN(), math.NaN()
		}
		m = max(m, float64(x))
	}
	for _, x := range v {
		sum += math.Exp(float64(x) - m)
	}
	return m, sum
}
