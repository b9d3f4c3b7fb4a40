package asmgen

import (
	"fmt"

	"github.com/ptqc/ptqc/compiler"
)

// Kind is the calling convention of a layer's kernels.
type Kind int

// Kernel kinds and their Go signatures.
const (
	KNone      Kind = iota // no assembly: the portable Go kernel runs on every tier
	KQuantize              // func(x *float32, y *byte, s0, s1 int)
	KDense                 // func(x, w, y, t *byte, s0, s1, n0, n1 int)
	KDepthwise             // func(x, w, y *byte, s0, s1 int)
	KAdd                   // func(a, b, y *byte, s0, s1 int)
	KMean                  // func(x, y *byte)
)

// Pad is the private input layout of a k x k (or strided) dense layer: pixels
// of Stride bytes (the channels, then padding) with Border pixels of Z around
// the image.
type Pad struct {
	Stride, Border int
	Z              uint8
}

// Layer is what the assembly does for one node of a model.
type Layer struct {
	Kind  Kind
	Funcs map[ISA]string // kernel per tier
	Paths map[ISA]Path   // dense layers: the arithmetic per tier
	// Units: a call computes units [s0, s1) of [0, Units) (not KMean); a
	// dense call also column units [n0, n1) of [0, Cols).
	Units, Cols int
	// Scratch is the bytes of scratch (t) a dense call needs; 0 for none.
	Scratch int
	// In is the padded layout a non-pointwise dense layer reads (nil: the
	// arena's NHWC as is). A KQuantize with a non-nil In writes that layout
	// (for its only consumer) instead of the arena's.
	In *Pad
	// Weights is the layer's packed weights as the kernels read them (dense:
	// PackDense, depthwise: PackDepthwise); nil for other kinds.
	Weights []byte
	// Bias is the folded bias (FoldBias) for dense and depthwise layers, which
	// the portable kernels read; the assembly holds its own copy.
	Bias []int32
}

// Model is a quantized model's assembly.
type Model struct {
	Asm, Stubs []byte   // kernels_amd64.s and its Go declarations
	Layers     []*Layer // per node of the model
	Tiers      []ISA
}

// Generate writes the assembly of every layer of m that has a kernel, for
// every tier; name gives the Go name of node i's kernel for a tier.
func Generate(m *compiler.Model, pkg string, tiers []ISA, name func(node int, isa ISA) string) (*Model, error) {
	p := NewProgram(pkg)
	out := &Model{Layers: make([]*Layer, len(m.Nodes)), Tiers: tiers}
	xmax := map[int]int32{} // largest code each tensor can hold
	consumers := map[int][]int{}
	for i, nd := range m.Nodes {
		for _, t := range nd.In {
			consumers[t] = append(consumers[t], i)
		}
	}
	tensor := func(id int) (*compiler.Tensor, error) {
		if id < 0 || id >= len(m.Tensors) || m.Tensors[id] == nil {
			return nil, fmt.Errorf("tensor %d out of range", id)
		}
		return m.Tensors[id], nil
	}
	chw := func(t *compiler.Tensor) (c, h, w int) {
		if len(t.Shape) == 3 {
			return t.Shape[0], t.Shape[1], t.Shape[2]
		}
		return t.Elems(), 1, 1
	}
	layers := make([]func(isa ISA, fn string) error, len(m.Nodes))
	for i, nd := range m.Nodes {
		if len(nd.In) == 0 {
			return nil, fmt.Errorf("node %d (%s): no input", i, nd.Name)
		}
		x, err := tensor(nd.In[0])
		if err != nil {
			return nil, err
		}
		y, err := tensor(nd.Out)
		if err != nil {
			return nil, err
		}
		l := &Layer{Funcs: map[ISA]string{}, Paths: map[ISA]Path{}}
		out.Layers[i] = l
		xc, xh, xw := chw(x)
		yc, yh, yw := chw(y)
		xmax[nd.Out] = 255
		switch nd.Kind {
		case compiler.KQuantize:
			q := &Quantize{C: xc, H: xh, W: xw, Inv: float32(1 / y.Scale), Z: y.Zero, OutStride: xc}
			if cs := consumers[nd.Out]; len(cs) == 1 {
				if c := m.Nodes[cs[0]]; c.Conv != nil && c.Conv.Groups == 1 && !pointwise(c.Conv) {
					q.OutStride, q.Border = 4*Quads(xc), c.Conv.Pad
					l.In = &Pad{Stride: q.OutStride, Border: q.Border, Z: uint8(y.Zero)}
				}
			}
			l.Kind, l.Units = KQuantize, q.Units()
			layers[i] = func(isa ISA, fn string) error { return p.Quantize(fn, q, isa) }
		case compiler.KConv, compiler.KLinear:
			c := nd.Conv
			if c == nil {
				return nil, fmt.Errorf("node %d (%s): no conv parameters", i, nd.Name)
			}
			xmax[nd.Out] = c.Hi
			rq := Requant{M: c.M, Z: y.Zero, Lo: c.Lo, Hi: c.Hi}
			switch {
			case c.Groups == 1:
				d := &Dense{Cin: c.InC, Cout: c.OutC, K: c.Kernel, Stride: c.Stride, Pad: c.Pad,
					H: xh, W: xw, OH: yh, OW: yw, InStride: xc, OutStride: yc,
					ZIn: x.Zero, XMax: xmax[nd.In[0]], Weight: c.Weight, Bias: c.Bias, Requant: rq}
				if !d.Pointwise() {
					d.InStride = 4 * Quads(xc)
					l.In = &Pad{Stride: d.InStride, Border: d.Pad, Z: uint8(x.Zero)}
				}
				if err := d.check(); err != nil {
					return nil, fmt.Errorf("node %d (%s): %w", i, nd.Name, err)
				}
				w, err := PackDense(c.Weight, c.InC, c.OutC, c.Kernel)
				if err != nil {
					return nil, err
				}
				l.Kind, l.Units, l.Cols, l.Weights, l.Bias = KDense, d.Units(), d.Cols(), w, FoldBias(c.Weight, c.Bias, x.Zero)
				for _, isa := range tiers {
					l.Paths[isa] = d.Path(isa)
					l.Scratch = max(l.Scratch, d.ScratchBytes(isa))
				}
				layers[i] = func(isa ISA, fn string) error { return p.Dense(fn, d, isa) }
			case c.Groups == c.InC && c.Groups == c.OutC:
				d := &Depthwise{C: c.InC, K: c.Kernel, Stride: c.Stride, Pad: c.Pad, H: xh, W: xw, OH: yh, OW: yw,
					ZIn: x.Zero, XMax: xmax[nd.In[0]], Weight: c.Weight, Bias: c.Bias, Requant: rq}
				w, err := PackDepthwise(c.Weight, c.InC, c.Kernel)
				if err != nil {
					return nil, err
				}
				l.Kind, l.Units, l.Weights, l.Bias = KDepthwise, d.Units(), w, FoldBias(c.Weight, c.Bias, x.Zero)
				layers[i] = func(isa ISA, fn string) error { return p.Depthwise(fn, d, isa) }
			default:
				// Grouped convs other than depthwise keep the portable kernel.
				l.Kind = KNone
			}
		case compiler.KAdd:
			if len(nd.In) != 2 || nd.Add == nil {
				return nil, fmt.Errorf("node %d (%s): bad add", i, nd.Name)
			}
			b, err := tensor(nd.In[1])
			if err != nil {
				return nil, err
			}
			a := &Add{N: x.Elems(), ZA: x.Zero, ZB: b.Zero, MA: nd.Add.MA, MB: nd.Add.MB, Z: y.Zero}
			l.Kind, l.Units = KAdd, a.Units()
			layers[i] = func(isa ISA, fn string) error { return p.Add(fn, a, isa) }
		case compiler.KMean:
			xmax[nd.Out] = xmax[nd.In[0]]
			mn := &Mean{C: xc, HW: xh * xw, Z: x.Zero}
			l.Kind = KMean
			layers[i] = func(isa ISA, fn string) error { return p.Mean(fn, mn, isa) }
		default:
			l.Kind = KNone
		}
	}
	for _, isa := range tiers {
		for i, f := range layers {
			if f == nil || out.Layers[i].Kind == KNone {
				continue
			}
			fn := name(i, isa)
			if err := f(isa, fn); err != nil {
				return nil, fmt.Errorf("node %d (%s): %w", i, m.Nodes[i].Name, err)
			}
			out.Layers[i].Funcs[isa] = fn
		}
	}
	var err error
	if out.Asm, out.Stubs, err = p.Output(); err != nil {
		return nil, err
	}
	return out, nil
}

func pointwise(c *compiler.Conv) bool { return c.Kernel == 1 && c.Stride == 1 && c.Pad == 0 }
