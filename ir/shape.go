package ir

import (
	"fmt"
	"slices"
)

// InferShapes computes every node's output shape from the graph input's,
// and checks that each node's inputs fit it.
func InferShapes(g *Graph) error {
	for _, n := range g.Nodes {
		for _, in := range n.In {
			if in < 0 || in >= len(g.Tensors) || g.Tensors[in].Shape == nil {
				return fmt.Errorf("%s (%s): input tensor %d has no shape (graph not in topological order?)", n.Name, n.Op, in)
			}
		}
		s, err := outShape(g, n)
		if err != nil {
			return fmt.Errorf("%s (%s): %w", n.Name, n.Op, err)
		}
		for _, d := range s {
			if d < 1 {
				return fmt.Errorf("%s (%s): output shape %v has an empty dimension (input %v too small for its strides?)", n.Name, n.Op, s, g.Tensors[n.In[0]].Shape)
			}
		}
		g.Tensors[n.Out].Shape = s
	}
	return nil
}

// arity is the number of inputs an op takes; 0 means one or more.
func arity(op Op) int {
	switch op {
	case OpAdd, OpSub, OpMul:
		return 2
	case OpConcat:
		return 0
	}
	return 1
}

// maxWindow bounds kernels, strides, pads and dilations: far above any real
// model's, low enough that no product of them overflows.
const maxWindow = 1 << 12

// check validates w: positive kernel, stride and dilation; for a pool, pads
// that leave every window some input (each smaller than the dilated
// kernel); a conv's zero padding may be wider (its border is the bias).
func (w *Window) check(pool bool) error {
	for _, v := range []int{w.KH, w.KW, w.SH, w.SW, w.DH, w.DW} {
		if v < 1 || v > maxWindow {
			return fmt.Errorf("kernel %dx%d, stride %dx%d, dilation %dx%d: each must be in [1, %d]", w.KH, w.KW, w.SH, w.SW, w.DH, w.DW, maxWindow)
		}
	}
	eh, ew := (w.KH-1)*w.DH+1, (w.KW-1)*w.DW+1
	if !pool {
		eh, ew = maxWindow, maxWindow
	}
	for _, p := range []int{w.PadT, w.PadB} {
		if p < 0 || p >= eh {
			return fmt.Errorf("padding %v: each must be in [0, %d)", []int{w.PadT, w.PadL, w.PadB, w.PadR}, eh)
		}
	}
	for _, p := range []int{w.PadL, w.PadR} {
		if p < 0 || p >= ew {
			return fmt.Errorf("padding %v: each must be in [0, %d)", []int{w.PadT, w.PadL, w.PadB, w.PadR}, ew)
		}
	}
	return nil
}

// WindowOut is the output size along one axis of a window of kernel k,
// stride s, pads lo and hi, dilation d over in elements; ceil rounds up as
// PyTorch's ceil_mode does (a last window starting in the right padding is
// dropped). It is < 1 when the input is too small.
func WindowOut(in, k, s, lo, hi, d int, ceil bool) int {
	span := in + lo + hi - (k-1)*d - 1
	if span < 0 {
		return 0
	}
	if !ceil {
		return span/s + 1
	}
	o := (span+s-1)/s + 1
	if (o-1)*s >= in+lo {
		o--
	}
	return o
}

// OutSize is the output plane of w over an ih x iw input.
func (w *Window) OutSize(ih, iw int, ceil bool) (oh, ow int) {
	return WindowOut(ih, w.KH, w.SH, w.PadT, w.PadB, w.DH, ceil), WindowOut(iw, w.KW, w.SW, w.PadL, w.PadR, w.DW, ceil)
}

func want3(in []int) error {
	if len(in) != 3 {
		return fmt.Errorf("input shape %v, want [C,H,W]", in)
	}
	return nil
}

func outShape(g *Graph, n *Node) ([]int, error) {
	if want := arity(n.Op); (want == 0 && len(n.In) == 0) || (want > 0 && len(n.In) != want) {
		return nil, fmt.Errorf("has %d inputs, want %d", len(n.In), max(want, 1))
	}
	in := g.Tensors[n.In[0]].Shape
	switch n.Op {
	case OpConv:
		c := n.Conv
		if err := want3(in); err != nil {
			return nil, err
		}
		if c.Groups < 1 || c.InC%c.Groups != 0 || c.OutC%c.Groups != 0 {
			return nil, fmt.Errorf("groups %d do not divide channels %d -> %d", c.Groups, c.InC, c.OutC)
		}
		if in[0] != c.InC {
			return nil, fmt.Errorf("input has %d channels, conv expects %d", in[0], c.InC)
		}
		if err := c.Window.check(false); err != nil {
			return nil, err
		}
		// Builders infer shapes before the weights are bound (nil).
		if want := c.OutC * c.InC / c.Groups * c.Taps(); c.Weight != nil && len(c.Weight) != want {
			return nil, fmt.Errorf("weight has %d values, want %d (%v)", len(c.Weight), want, c.WeightShape())
		}
		if c.Bias != nil && len(c.Bias) != c.OutC {
			return nil, fmt.Errorf("bias has %d values, want %d", len(c.Bias), c.OutC)
		}
		oh, ow := c.OutSize(in[1], in[2], false)
		if oh < 1 || ow < 1 {
			return nil, fmt.Errorf("input %v smaller than kernel %dx%d with padding %v", in, c.KH, c.KW, []int{c.PadT, c.PadL, c.PadB, c.PadR})
		}
		return []int{c.OutC, oh, ow}, nil
	case OpMaxPool, OpAvgPool:
		p := n.Pool
		if err := want3(in); err != nil {
			return nil, err
		}
		if err := p.Window.check(true); err != nil {
			return nil, err
		}
		if n.Op == OpAvgPool && (p.DH != 1 || p.DW != 1) {
			return nil, fmt.Errorf("dilation %dx%d: average pooling has none", p.DH, p.DW)
		}
		oh, ow := p.OutSize(in[1], in[2], p.Ceil)
		if oh < 1 || ow < 1 {
			return nil, fmt.Errorf("input %v smaller than kernel %dx%d with padding %v", in, p.KH, p.KW, []int{p.PadT, p.PadL, p.PadB, p.PadR})
		}
		return []int{in[0], oh, ow}, nil
	case OpBatchNorm:
		if len(in) != 3 && len(in) != 1 || in[0] != n.BN.C {
			return nil, fmt.Errorf("input shape %v, want [%d,H,W] or [%[2]d]", in, n.BN.C)
		}
		return clone(in), nil
	case OpAffine:
		a := n.Affine
		if len(in) == 0 || in[0] != a.C || len(a.Scale) != a.C || len(a.Shift) != a.C {
			return nil, fmt.Errorf("input shape %v, %d scales and %d shifts for %d channels", in, len(a.Scale), len(a.Shift), a.C)
		}
		return clone(in), nil
	case OpAdd, OpSub:
		b := g.Tensors[n.In[1]].Shape
		if !EqualShape(in, b) {
			return nil, fmt.Errorf("operand shapes differ: %v and %v", in, b)
		}
		return clone(in), nil
	case OpMul:
		b := g.Tensors[n.In[1]].Shape
		if !EqualShape(in, b) && !(len(in) == 3 && (EqualShape(b, []int{in[0], 1, 1}) || EqualShape(b, []int{1, in[1], in[2]}))) {
			return nil, fmt.Errorf("operand shapes %v and %v: want equal shapes, or [C,H,W] and [C,1,1] or [1,H,W]", in, b)
		}
		return clone(in), nil
	case OpConcat:
		out := clone(in)
		for _, t := range n.In[1:] {
			s := g.Tensors[t].Shape
			if len(s) != len(in) || !EqualShape(s[1:], in[1:]) {
				return nil, fmt.Errorf("operand shapes %v and %v differ past the channels", in, s)
			}
			out[0] += s[0]
		}
		return out, nil
	case OpSlice:
		sl := n.Slice
		if len(in) == 0 || sl.Start < 0 || sl.End > in[0] || sl.Start >= sl.End {
			return nil, fmt.Errorf("channels [%d, %d) of input %v", sl.Start, sl.End, in)
		}
		out := clone(in)
		out[0] = sl.End - sl.Start
		return out, nil
	case OpShuffle:
		if len(in) == 0 || len(n.Perm) != in[0] {
			return nil, fmt.Errorf("permutation of %d channels for input %v", len(n.Perm), in)
		}
		seen := make([]bool, in[0])
		for _, c := range n.Perm {
			if c < 0 || c >= in[0] || seen[c] {
				return nil, fmt.Errorf("permutation %v is not one of %d channels", n.Perm, in[0])
			}
			seen[c] = true
		}
		return clone(in), nil
	case OpMean:
		if err := want3(in); err != nil {
			return nil, err
		}
		return []int{in[0]}, nil
	case OpFlatten:
		n := 1
		for _, d := range in {
			n *= d
		}
		return []int{n}, nil
	case OpLinear:
		if len(in) != 1 || in[0] != n.Linear.In {
			return nil, fmt.Errorf("input shape %v, want [%d]", in, n.Linear.In)
		}
		return []int{n.Linear.Out}, nil
	case OpHardSigmoid, OpLeakyReLU, OpELU, OpClip, OpSELU, OpCELU:
		if n.Unary == nil {
			return nil, fmt.Errorf("no constants")
		}
		if n.Op == OpClip && !(n.Unary.Alpha < n.Unary.Beta) {
			return nil, fmt.Errorf("clip bounds [%v, %v]", n.Unary.Alpha, n.Unary.Beta)
		}
		if n.Op == OpCELU && n.Unary.Alpha == 0 {
			return nil, fmt.Errorf("CELU alpha 0")
		}
		return clone(in), nil
	case OpChannelMax:
		if err := want3(in); err != nil {
			return nil, err
		}
		return []int{1, in[1], in[2]}, nil
	case OpPReLU:
		if len(in) == 0 || len(n.Slope) != in[0] {
			return nil, fmt.Errorf("%d slopes for input shape %v", len(n.Slope), in)
		}
		return clone(in), nil
	case OpSoftmax, OpLogSoftmax:
		if len(in) == 0 || Elems(in) != in[0] {
			return nil, fmt.Errorf("input shape %v, want [features]", in)
		}
		return clone(in), nil
	case OpQuant, OpDeQuant, OpReLU, OpReLU6, OpDropout, OpIdentity, OpSigmoid, OpHardSwish, OpSiLU, OpTanh, OpSoftplus, OpMish,
		OpSoftsign, OpAbs, OpErf, OpGELU:
		return clone(in), nil
	}
	return nil, fmt.Errorf("unknown op")
}

func clone(s []int) []int { return append([]int(nil), s...) }

// EqualShape reports whether two shapes are the same.
func EqualShape(a, b []int) bool { return slices.Equal(a, b) }

// ConvOut is the output size along one axis of a kernel with equal padding
// on both sides and dilation 1.
func ConvOut(in, kernel, stride, pad int) int {
	return WindowOut(in, kernel, stride, pad, pad, 1, false)
}
