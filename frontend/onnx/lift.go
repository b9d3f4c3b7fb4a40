package onnx

import "github.com/ptqc/ptqc/ir"

// lift turns the [F] tensor t back into [F,1,1] when it is computed per
// feature from a global average pool, or from a flattened [C,1,1] map, as a
// squeeze-excitation written with nn.Linear is (SENet's
// `fc(avg_pool(x).view(b, c)).view(b, c, 1, 1)`): the Mean becomes the
// global AvgPool it was, each Linear the 1x1 conv it is, a Flatten an
// Identity, and the elementwise ops, adds and products between them keep
// their form on [F,1,1]. Every tensor of the chain must be read only inside
// it, and t only by the reader lifting it; otherwise lift changes nothing
// and reports false.
func (im *importer) lift(t int) bool {
	var chain []*ir.Node
	reads := map[int]int{} // reads of each tensor by chain nodes
	seen := map[*ir.Node]bool{}
	var walk func(t int) bool
	walk = func(t int) bool {
		p := im.g.Producer(t)
		if p == nil || len(im.g.Tensors[t].Shape) != 1 {
			return false
		}
		if seen[p] {
			return true
		}
		seen[p] = true
		chain = append(chain, p)
		var ins []int
		switch {
		case p.Op == ir.OpMean:
		case p.Op == ir.OpFlatten:
			if s := im.g.Tensors[p.In[0]].Shape; len(s) != 3 || s[1] != 1 || s[2] != 1 {
				return false
			}
		case p.Op == ir.OpLinear && p.Act == ir.ActNone, p.Op == ir.OpAffine, p.Op == ir.OpPReLU,
			ir.UnaryFunc(p) != nil:
			ins = p.In[:1]
		case p.Op == ir.OpAdd || p.Op == ir.OpSub || p.Op == ir.OpMul && ir.EqualShape(im.g.Tensors[p.In[0]].Shape, im.g.Tensors[p.In[1]].Shape):
			ins = p.In
		default:
			return false
		}
		for _, u := range ins {
			reads[u]++
			if !walk(u) {
				return false
			}
		}
		return true
	}
	if im.readers(t) != 1 || !walk(t) {
		return false
	}
	for u, n := range reads {
		if im.readers(u) != n {
			return false
		}
	}
	for _, p := range chain {
		out := im.g.Tensors[p.Out]
		switch p.Op {
		case ir.OpMean:
			in := im.g.Tensors[p.In[0]].Shape
			p.Op, p.Pool = ir.OpAvgPool, &ir.Pool{Window: ir.Window{KH: in[1], KW: in[2], SH: 1, SW: 1, DH: 1, DW: 1}}
		case ir.OpFlatten:
			p.Op = ir.OpIdentity
		case ir.OpLinear:
			l := p.Linear
			p.Op, p.Linear = ir.OpConv, nil
			p.Conv = &ir.Conv{InC: l.In, OutC: l.Out, Groups: 1, Window: ir.SquareWindow(1, 1, 0), Weight: l.Weight, Bias: l.Bias}
		}
		out.Shape = []int{out.Shape[0], 1, 1}
	}
	return true
}
