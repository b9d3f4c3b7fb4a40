package ir

import (
	"fmt"
	"slices"
)

// ConvOut is the output size of a convolution along one axis.
func ConvOut(in, kernel, stride, pad int) int {
	return (in+2*pad-kernel)/stride + 1
}

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

func outShape(g *Graph, n *Node) ([]int, error) {
	want := map[Op]int{OpAdd: 2}[n.Op]
	if want == 0 {
		want = 1
	}
	if len(n.In) != want {
		return nil, fmt.Errorf("has %d inputs, want %d", len(n.In), want)
	}
	in := g.Tensors[n.In[0]].Shape
	switch n.Op {
	case OpConv:
		c := n.Conv
		if len(in) != 3 {
			return nil, fmt.Errorf("input shape %v, want [C,H,W]", in)
		}
		if c.Groups < 1 || c.InC%c.Groups != 0 || c.OutC%c.Groups != 0 {
			return nil, fmt.Errorf("groups %d do not divide channels %d -> %d", c.Groups, c.InC, c.OutC)
		}
		if in[0] != c.InC {
			return nil, fmt.Errorf("input has %d channels, conv expects %d", in[0], c.InC)
		}
		if c.Kernel < 1 || c.Stride < 1 || c.Pad < 0 {
			return nil, fmt.Errorf("kernel %d, stride %d, padding %d", c.Kernel, c.Stride, c.Pad)
		}
		if in[1]+2*c.Pad < c.Kernel || in[2]+2*c.Pad < c.Kernel {
			return nil, fmt.Errorf("input %v smaller than kernel %d with padding %d", in, c.Kernel, c.Pad)
		}
		return []int{c.OutC, ConvOut(in[1], c.Kernel, c.Stride, c.Pad), ConvOut(in[2], c.Kernel, c.Stride, c.Pad)}, nil
	case OpMaxPool:
		p := n.Pool
		if len(in) != 3 {
			return nil, fmt.Errorf("input shape %v, want [C,H,W]", in)
		}
		if p.Kernel < 1 || p.Stride < 1 || p.Pad < 0 || 2*p.Pad > p.Kernel {
			return nil, fmt.Errorf("kernel %d, stride %d, padding %d (padding must be at most half the kernel)", p.Kernel, p.Stride, p.Pad)
		}
		if in[1]+2*p.Pad < p.Kernel || in[2]+2*p.Pad < p.Kernel {
			return nil, fmt.Errorf("input %v smaller than kernel %d with padding %d", in, p.Kernel, p.Pad)
		}
		return []int{in[0], ConvOut(in[1], p.Kernel, p.Stride, p.Pad), ConvOut(in[2], p.Kernel, p.Stride, p.Pad)}, nil
	case OpBatchNorm:
		if len(in) != 3 || in[0] != n.BN.C {
			return nil, fmt.Errorf("input shape %v, want [%d,H,W]", in, n.BN.C)
		}
		return clone(in), nil
	case OpAdd:
		b := g.Tensors[n.In[1]].Shape
		if !EqualShape(in, b) {
			return nil, fmt.Errorf("operand shapes differ: %v and %v", in, b)
		}
		return clone(in), nil
	case OpMean:
		if len(in) != 3 {
			return nil, fmt.Errorf("input shape %v, want [C,H,W]", in)
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
	case OpQuant, OpDeQuant, OpReLU, OpReLU6, OpDropout, OpIdentity:
		return clone(in), nil
	}
	return nil, fmt.Errorf("unknown op")
}

func clone(s []int) []int { return append([]int(nil), s...) }

// EqualShape reports whether two shapes are the same.
func EqualShape(a, b []int) bool { return slices.Equal(a, b) }
