package ir

import "math"

// UnaryFunc is the float function of an elementwise op (ReLU, ReLU6, Sigmoid,
// HardSigmoid, HardSwish, LeakyReLU, SiLU), as PyTorch computes it; nil for
// other ops.
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
		a := nd.Unary.Alpha
		return func(x float32) float32 {
			if x < 0 {
				return a * x
			}
			return x
		}
	}
	return nil
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
