package compiler

import (
	"fmt"
	"math"

	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/ir"
)

// Convert freezes a calibrated fused float graph into a quantized model: weights
// quantized with the qconfig's weight observer, biases kept in float in output
// units (b/s_y), multipliers and clamps baked per layer. act holds the activation qparams of every
// observed tensor (quant, conv, add and linear outputs) by tensor ID.
func Convert(d *ir.Description, g *ir.Graph, cal *calibrate.Result) (*Model, error) {
	m := &Model{Desc: d, Input: g.Input, Output: g.Output}
	m.Meta.QConfig = cal.QConfig.Name
	m.Meta.QConfigRepr = cal.QConfig.String()
	m.Meta.CalibSamples = cal.Samples
	m.Meta.FloatBytes = g.FloatBytes()
	for _, t := range g.Tensors {
		m.Tensors = append(m.Tensors, &Tensor{ID: t.ID, Shape: append([]int(nil), t.Shape...)})
	}
	known := map[int]bool{}
	setQ := func(id int, q calibrate.QParams) {
		m.Tensors[id].Scale, m.Tensors[id].Zero = q.Scale, q.ZeroPoint
		known[id] = true
	}
	// observed gives n's output the qparams calibration observed for it.
	observed := func(n *ir.Node) (calibrate.QParams, error) {
		q, ok := cal.Act[n.Out]
		if !ok {
			return q, fmt.Errorf("%s (%s): its output was not observed during calibration", n.Name, n.Op)
		}
		setQ(n.Out, q)
		return q, nil
	}
	input := func(n *ir.Node, i int) (*Tensor, error) {
		id := n.In[i]
		if !known[id] {
			return nil, fmt.Errorf("%s (%s): input %d is not quantized (is there a QuantStub before it?)", n.Name, n.Op, i)
		}
		return m.Tensors[id], nil
	}
	// binary gives a two-input op's inputs and its observed output qparams.
	binary := func(n *ir.Node) (a, b *Tensor, q calibrate.QParams, err error) {
		if a, err = input(n, 0); err != nil {
			return
		}
		if b, err = input(n, 1); err != nil {
			return
		}
		q, err = observed(n)
		return
	}
	// tabled is the lookup table of an elementwise op with its own output
	// qparams: PyTorch's fixed ones, or observed.
	tabled := func(n *ir.Node) (*Table, error) {
		x, err := input(n, 0)
		if err != nil {
			return nil, err
		}
		if q, fixed := calibrate.FixedQParams(n); fixed {
			setQ(n.Out, q)
		} else if _, err = observed(n); err != nil {
			return nil, err
		}
		return table(n, x, m.Tensors[n.Out]), nil
	}
	alias := map[int]int{}   // a flatten of quantized bytes is a relabelling
	post := map[int]string{} // a softmax's output: its Dequantize applies it
	for _, n := range g.Nodes {
		qn := &Node{Name: n.Name, In: append([]int(nil), n.In...), Out: n.Out}
		for i, t := range qn.In {
			if f, ok := post[t]; ok && n.Op != ir.OpDeQuant {
				return nil, fmt.Errorf("%s (%s) reads the %s's output: ptqc applies a %s only to the model's output, in float", n.Name, n.Op, f, f)
			}
			if a, ok := alias[t]; ok {
				qn.In[i] = a
			}
		}
		orig := n
		n = &ir.Node{}
		*n = *orig
		n.In = qn.In
		switch n.Op {
		case ir.OpQuant:
			if _, err := observed(n); err != nil {
				return nil, err
			}
			qn.Kind = KQuantize
		case ir.OpConv, ir.OpLinear:
			x, err := input(n, 0)
			if err != nil {
				return nil, err
			}
			if _, err := observed(n); err != nil {
				return nil, err
			}
			qn.Kind = KConv
			var c *Conv
			var w, b []float32
			if n.Op == ir.OpConv {
				fc := n.Conv
				c = &Conv{InC: fc.InC, OutC: fc.OutC, Groups: fc.Groups}
				if k, s, p, ok := fc.Square(); ok {
					c.Kernel, c.Stride, c.Pad = k, s, p
				} else {
					w := fc.Window
					c.Geom = &w
				}
				w, b = fc.Weight, fc.Bias
			} else {
				qn.Kind = KLinear
				l := n.Linear
				c = &Conv{InC: l.In, OutC: l.Out, Kernel: 1, Stride: 1, Groups: 1}
				w, b = l.Weight, l.Bias
				if s := x.Shape; len(s) == 3 && s[1]*s[2] > 1 {
					// A linear layer on a flattened C x H x W map (VGG,
					// AlexNet) is the H x W conv that maps it to one pixel:
					// its weights, in flatten's (c, y, x) order, are that
					// conv's, and the bytes stay in the kernels' layout.
					qn.Kind = KConv
					c.InC, c.Kernel = s[0], s[1]
					if s[1] != s[2] {
						win := ir.Window{KH: s[1], KW: s[2], SH: 1, SW: 1, DH: 1, DW: 1}
						c.Kernel, c.Stride, c.Geom = 0, 0, &win
					}
				}
			}
			c.Act = n.Act
			if err := quantizeLayer(c, w, b, x, m.Tensors[n.Out], cal.QConfig); err != nil {
				return nil, fmt.Errorf("%s: %w", n.Name, err)
			}
			qn.Conv = c
		case ir.OpAdd, ir.OpSub:
			a, b, q, err := binary(n)
			if err != nil {
				return nil, err
			}
			qn.Kind = KAdd
			qn.Add = &Add{MA: float32(a.Scale / q.Scale), MB: float32(b.Scale / q.Scale)}
			if n.Op == ir.OpSub { // a - b is the add of b's codes at a negative scale
				qn.Add.MB = -qn.Add.MB
			}
			switch n.Act {
			case ir.ActReLU:
				qn.Add.ReLU = true
			case ir.ActNone:
			default:
				return nil, fmt.Errorf("%s: add with %v has no quantized form", n.Name, n.Act)
			}
		case ir.OpMaxPool:
			// On uint8 with the input's qparams: max commutes with the monotone dequantization.
			x, err := input(n, 0)
			if err != nil {
				return nil, err
			}
			setQ(n.Out, calibrate.QParams{Scale: x.Scale, ZeroPoint: x.Zero})
			qn.Kind = KMaxPool
			qn.Pool = poolOf(n.Pool)
		case ir.OpMean, ir.OpFlatten:
			x, err := input(n, 0)
			if err != nil {
				return nil, err
			}
			if n.Op == ir.OpFlatten {
				alias[n.Out] = n.In[0]
				if m.Output == n.Out {
					m.Output = n.In[0]
				}
				continue
			}
			setQ(n.Out, calibrate.QParams{Scale: x.Scale, ZeroPoint: x.Zero})
			qn.Kind = KMean
		case ir.OpDeQuant:
			x, err := input(n, 0)
			if err != nil {
				return nil, err
			}
			// After a flatten (an alias), the logits keep the layout of the bytes.
			m.Tensors[n.Out].Shape = append([]int(nil), x.Shape...)
			qn.Kind, qn.Softmax = KDequantize, post[orig.In[0]]
		case ir.OpSoftmax, ir.OpLogSoftmax:
			// Applied by the Dequantize after it, to the dequantized
			// outputs (PyTorch's functional softmax stays float too).
			if _, err := input(n, 0); err != nil {
				return nil, err
			}
			alias[n.Out] = n.In[0]
			post[n.Out] = softmaxNames[n.Op]
			continue
		case ir.OpReLU, ir.OpReLU6, ir.OpClip:
			// One that fused into no conv, linear, add or affine (its input
			// is read elsewhere too, or comes from a pool or a concat) keeps
			// its input's qparams, as PyTorch's quantized ReLU does:
			// max(q, z_x), and ReLU6's or a Clip's (Hardtanh, clamp) bounds, as a table.
			x, err := input(n, 0)
			if err != nil {
				return nil, err
			}
			setQ(n.Out, calibrate.QParams{Scale: x.Scale, ZeroPoint: x.Zero})
			qn.Kind, qn.Table = KTable, table(n, x, m.Tensors[n.Out])
		case ir.OpAvgPool, ir.OpSlice, ir.OpShuffle, ir.OpChannelMax:
			// Data movement and averaging keep the input's qparams, as in PyTorch.
			x, err := input(n, 0)
			if err != nil {
				return nil, err
			}
			setQ(n.Out, calibrate.QParams{Scale: x.Scale, ZeroPoint: x.Zero})
			switch n.Op {
			case ir.OpAvgPool:
				qn.Kind, qn.Pool = KAvgPool, poolOf(n.Pool)
			case ir.OpSlice:
				sl := *n.Slice
				qn.Kind, qn.Slice = KSlice, &sl
			case ir.OpChannelMax:
				qn.Kind = KChannelMax
			default:
				qn.Kind, qn.Perm = KShuffle, append([]int(nil), n.Perm...)
			}
		case ir.OpAffine, ir.OpPReLU:
			t, err := tabled(n)
			if err != nil {
				return nil, err
			}
			qn.Kind, qn.Table = KTable, t
		case ir.OpMul:
			a, b, q, err := binary(n)
			if err != nil {
				return nil, err
			}
			qn.Kind, qn.Mul = KMul, &Mul{M: float32(a.Scale * b.Scale / q.Scale)}
		case ir.OpConcat:
			q, err := observed(n)
			if err != nil {
				return nil, err
			}
			qn.Kind, qn.Concat = KConcat, &Concat{M: make([]float32, len(n.In))}
			for i := range n.In {
				x, err := input(n, i)
				if err != nil {
					return nil, err
				}
				if x.Scale != q.Scale || x.Zero != q.ZeroPoint {
					qn.Concat.M[i] = float32(x.Scale / q.Scale)
				}
			}
		case ir.OpBatchNorm, ir.OpDropout, ir.OpIdentity:
			return nil, fmt.Errorf("%s: %s has no quantized form (fuse it first)", n.Name, n.Op)
		default:
			// The unary ops are tables (but a Clip, above, keeps its input's qparams).
			if !ir.IsUnary(n.Op) {
				return nil, fmt.Errorf("%s: %s has no int8 form yet", n.Name, n.Op)
			}
			t, err := tabled(n)
			if err != nil {
				return nil, err
			}
			qn.Kind, qn.Table = KTable, t
		}
		m.Nodes = append(m.Nodes, qn)
	}
	if len(m.Nodes) == 0 || m.Nodes[len(m.Nodes)-1].Kind != KDequantize || m.Nodes[0].Kind != KQuantize {
		return nil, fmt.Errorf("quantized graph must start with a QuantStub and end with a DeQuantStub")
	}
	return m, nil
}

// table is the lookup table of an elementwise op from x's qparams to y's:
// quantize(f(dequantize(q))) for each byte q, per channel for an affine.
func table(n *ir.Node, x, y *Tensor) *Table {
	inv := float32(1 / y.Scale)
	t := &Table{Op: n.Op}
	if a := n.Affine; a != nil {
		t.Affine = &TableAffine{XScale: float32(x.Scale), XZero: x.Zero, Scale: append([]float32(nil), a.Scale...),
			Shift: append([]float32(nil), a.Shift...), Act: n.Act, Inv: inv, YZero: y.Zero}
		t.T = make([]uint8, 256*a.C)
		for c := range a.C {
			for q := range 256 {
				t.T[c*256+q] = t.Affine.Value(c, uint8(q))
			}
		}
		return t
	}
	chans := 1
	if n.Op == ir.OpPReLU {
		chans = len(n.Slope)
	}
	t.T = make([]uint8, 256*chans)
	for c := range chans {
		f := ir.ChannelFunc(n, c)
		for q := range 256 {
			t.T[c*256+q] = QuantizeValue(f(Dequantize(uint8(q), x.Scale, x.Zero)), inv, y.Zero)
		}
	}
	return t
}

// quantizeLayer freezes a conv or linear layer's weights, bias and requantization.
func quantizeLayer(c *Conv, w, b []float32, x, y *Tensor, qc calibrate.QConfig) error {
	wq, err := qc.WeightQParams(w, c.OutC)
	if err != nil {
		return err
	}
	c.PerChannel = len(wq) > 1
	per := len(w) / c.OutC
	c.Weight = make([]int8, len(w))
	c.WScale = make([]float64, c.OutC)
	c.M = make([]float32, c.OutC)
	c.B = make([]float32, c.OutC)
	for o := 0; o < c.OutC; o++ {
		q := wq[0]
		if c.PerChannel {
			q = wq[o]
		}
		c.WScale[o] = q.Scale
		inv := float32(1 / q.Scale)
		for i := o * per; i < (o+1)*per; i++ {
			v := math.RoundToEven(float64(w[i]*inv)) + float64(q.ZeroPoint)
			c.Weight[i] = int8(min(max(v, -128), 127))
		}
		if b != nil {
			c.B[o] = float32(float64(b[o]) / y.Scale)
		}
		c.M[o] = float32(x.Scale * q.Scale / y.Scale)
	}
	c.Lo, c.Hi = 0, 255
	switch c.Act {
	case ir.ActReLU:
		c.Lo = max(y.Zero, 0)
	case ir.ActReLU6:
		c.Lo = max(y.Zero, 0)
		c.Hi = int32(min(255, float64(y.Zero)+math.RoundToEven(6/y.Scale)))
	}
	return nil
}
