package ir

import (
	"math"

	"github.com/ptqc/ptqc/runtime"
)

// UnaryFunc is the float function of an elementwise op (ReLU, ReLU6, Sigmoid,
// HardSigmoid, HardSwish, LeakyReLU, SiLU, Tanh, ELU, Softplus, Mish, Clip,
// SELU, CELU, Softsign, Abs, Erf, GELU),
// as PyTorch computes it to float32 rounding; nil for other ops (PReLU's is
// per channel: ChannelFunc).
// The int8 path builds its lookup tables from it.
func UnaryFunc(nd *Node) func(float32) float32 {
	switch nd.Op {
	case OpSigmoid:
		return func(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }
	case OpSiLU:
		return func(x float32) float32 { return float32(float64(x) / (1 + math.Exp(-float64(x)))) }
	case OpHardSwish:
		return func(x float32) float32 { return x * min(max(x+3, 0), 6) / 6 }
	case OpHardSigmoid:
		a, b := nd.Unary.Alpha, nd.Unary.Beta
		return func(x float32) float32 { return min(max(float32(a*x)+b, 0), 1) }
	case OpReLU:
		return ActReLU.Apply
	case OpReLU6:
		return ActReLU6.Apply
	case OpLeakyReLU:
		return leaky(nd.Unary.Alpha)
	case OpTanh:
		return func(x float32) float32 { return float32(math.Tanh(float64(x))) }
	case OpELU:
		a := float64(nd.Unary.Alpha)
		return func(x float32) float32 {
			if x > 0 {
				return x
			}
			return float32(a * math.Expm1(float64(x)))
		}
	case OpSoftplus:
		return func(x float32) float32 { return float32(softplus(float64(x))) }
	case OpMish:
		return func(x float32) float32 { return float32(float64(x) * math.Tanh(softplus(float64(x)))) }
	case OpClip:
		lo, hi := nd.Unary.Alpha, nd.Unary.Beta
		return func(x float32) float32 { return min(max(x, lo), hi) }
	case OpSELU:
		a, s := float64(nd.Unary.Alpha), float64(nd.Unary.Beta)
		return func(x float32) float32 {
			if x > 0 {
				return float32(s * float64(x))
			}
			return float32(s * a * math.Expm1(float64(x)))
		}
	case OpCELU:
		a := float64(nd.Unary.Alpha)
		return func(x float32) float32 {
			if x > 0 {
				return x
			}
			return float32(a * math.Expm1(float64(x)/a))
		}
	case OpSoftsign:
		return func(x float32) float32 { return float32(float64(x) / (1 + math.Abs(float64(x)))) }
	case OpAbs:
		return func(x float32) float32 { return float32(math.Abs(float64(x))) }
	case OpErf:
		return func(x float32) float32 { return float32(math.Erf(float64(x))) }
	case OpGELU:
		return func(x float32) float32 { return float32(float64(x) / 2 * (1 + math.Erf(float64(x)/math.Sqrt2))) }
	}
	return nil
}

// IsUnary reports whether op is one of the ops UnaryFunc defines besides
// ReLU and ReLU6 (which fuse into convs as activations): a float function of
// each element alone, which the int8 path turns into a lookup table. The one
// list of them: the interpreters and Convert take every op it names.
func IsUnary(op Op) bool {
	switch op {
	case OpSigmoid, OpHardSigmoid, OpHardSwish, OpLeakyReLU, OpSiLU, OpTanh, OpELU, OpSoftplus, OpMish, OpClip,
		OpSELU, OpCELU, OpSoftsign, OpAbs, OpErf, OpGELU:
		return true
	}
	return false
}

// ChannelFunc is UnaryFunc of channel c: a PReLU's has its channel's slope.
func ChannelFunc(nd *Node, c int) func(float32) float32 {
	if nd.Op == OpPReLU {
		return leaky(nd.Slope[c])
	}
	return UnaryFunc(nd)
}

// leaky is x < 0 ? a*x : x.
func leaky(a float32) func(float32) float32 {
	return func(x float32) float32 {
		if x < 0 {
			return a * x
		}
		return x
	}
}

// softplus is log(1 + exp(x)), without overflow for large x.
func softplus(x float64) float64 {
	if x > 30 {
		return x + math.Exp(-x)
	}
	return math.Log1p(math.Exp(x))
}

// perChannel applies ChannelFunc to n samples of a, rep consecutive
// elements a channel, into out.
func perChannel(nd *Node, a, out []float32, c, rep int) {
	for j := 0; j*rep < len(out); j++ {
		f := ChannelFunc(nd, j%c)
		for i, v := range a[j*rep : (j+1)*rep] {
			out[j*rep+i] = f(v)
		}
	}
}

// mul is the elementwise product of n samples of a and b, each element of b
// applying to rep consecutive elements of a (1, or H*W for a [C,1,1] b).
func mul(a, b, out []float32, n, rep int) {
	for j, v := range b[:len(a)/rep] {
		src, dst := a[j*rep:(j+1)*rep], out[j*rep:(j+1)*rep]
		for i, x := range src {
			dst[i] = x * v
		}
	}
}

// PlaneMul reports whether a Mul of a by b multiplies each of a's planes by
// b's one plane ([C,H,W] x [1,H,W]: spatial attention) rather than element
// by element or by one value per channel.
func PlaneMul(a, b []int) bool {
	return len(a) == 3 && a[0] > 1 && len(b) == 3 && b[0] == 1 && b[1] == a[1] && b[2] == a[2]
}

// mulPlanes sets planes [j0, j1) of out (hw elements each, c a sample) to
// a's times b's plane of the same sample.
func mulPlanes(a, b, out []float32, c, hw, j0, j1 int) {
	for j := j0; j < j1; j++ {
		bs := b[j/c*hw:][:hw]
		dst := out[j*hw:][:hw]
		for i, x := range a[j*hw:][:hw] {
			dst[i] = x * bs[i]
		}
	}
}

// channelMax sets planes [j0, j1) of out (one a sample of c planes of hw
// elements in a) to the max over a sample's planes, element by element; a
// NaN wins, as in PyTorch's amax.
func channelMax(a, out []float32, c, hw, j0, j1 int) {
	for j := j0; j < j1; j++ {
		dst := out[j*hw:][:hw]
		copy(dst, a[j*c*hw:][:hw])
		for k := 1; k < c; k++ {
			for i, x := range a[(j*c+k)*hw:][:hw] {
				if x > dst[i] || x != x {
					dst[i] = x
				}
			}
		}
	}
}

// copyChannels runs the ops that only move channels (Concat, Slice,
// Shuffle) on n samples.
func copyChannels(g *Graph, nd *Node, vals map[int][]float32, out []float32, n int) {
	outT := g.Tensors[nd.Out]
	oe := outT.Elems()
	hw := oe / outT.Shape[0]
	for s := range n {
		o := out[s*oe : (s+1)*oe]
		switch nd.Op {
		case OpConcat:
			off := 0
			for _, t := range nd.In {
				e := g.Tensors[t].Elems()
				off += copy(o[off:], vals[t][s*e:(s+1)*e])
			}
		case OpSlice:
			ie := g.Tensors[nd.In[0]].Elems()
			copy(o, vals[nd.In[0]][s*ie+nd.Slice.Start*hw:s*ie+nd.Slice.End*hw])
		case OpShuffle:
			in := vals[nd.In[0]][s*oe : (s+1)*oe]
			for c, from := range nd.Perm {
				copy(o[c*hw:(c+1)*hw], in[from*hw:(from+1)*hw])
			}
		}
	}
}

// softmax sets out to the Softmax or LogSoftmax (op) of each sample of a,
// e features a sample: runtime's, which the int8 path applies to its
// dequantized outputs too.
func softmax(op Op, a, out []float32, e int) {
	copy(out, a)
	f := runtime.Softmax
	if op == OpLogSoftmax {
		f = runtime.LogSoftmax
	}
	for s := 0; s+e <= len(out); s += e {
		f(out[s : s+e])
	}
}
