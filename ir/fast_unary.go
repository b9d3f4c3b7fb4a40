package ir

// Sigmoid and SiLU are UnaryFunc's float64 formulas, float32(x/(1+exp(-x)))
// and float32(1/(1+exp(-x))), whose math.Exp calls cost an EfficientNet's
// calibration more than all its convs. floatk's Sigmoids computes them with
// its own exp and gives a value only where it is sure UnaryFunc's rounds to
// it; sigmoids calls UnaryFunc for the rest.

// sigmoids sets dst[i] to ref(src[i]), ref being UnaryFunc of a Sigmoid
// (silu false) or SiLU.
func (p *Program) sigmoids(dst, src []float32, silu bool, ref func(float32) float32) {
	p.k.Sigmoids(src, dst, silu)
	for i, v := range dst {
		if v != v {
			dst[i] = ref(src[i])
		}
	}
}
