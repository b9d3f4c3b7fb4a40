package onnx

import (
	"math"
	"slices"

	"github.com/ptqc/ptqc/ir"
)

// Exports before opset 20 spell GELU out: torch's x/sqrt(2) -> Erf -> +1
// -> x*() -> *0.5, or 0.5*x*(1 + erf(x/sqrt(2))) written by hand. Each
// op would be an int8 table of its own, rounding at every step; these
// rewrite the chain into one GELU of x. Softsign's x/(1 + |x|) likewise.

// affineIs reports whether nd is an Affine of scale s and shift b on every
// channel, within tol.
func affineIs(nd *ir.Node, s, b, tol float64) bool {
	if nd == nil || nd.Op != ir.OpAffine || nd.Act != ir.ActNone {
		return false
	}
	for c := range nd.Affine.Scale {
		if math.Abs(float64(nd.Affine.Scale[c])-s) > tol || math.Abs(float64(nd.Affine.Shift[c])-b) > tol {
			return false
		}
	}
	return true
}

// erfGate matches g = 1 + erf(x/sqrt(2)), each step read only by the next,
// and returns x and the chain's nodes.
func (im *importer) erfGate(g int) (int, []*ir.Node, bool) {
	plus := im.g.Producer(g)
	if !affineIs(plus, 1, 1, 0) || im.readers(g) != 1 {
		return 0, nil, false
	}
	erf := im.g.Producer(plus.In[0])
	if erf == nil || erf.Op != ir.OpErf || im.readers(erf.Out) != 1 {
		return 0, nil, false
	}
	div := im.g.Producer(erf.In[0])
	if !affineIs(div, 1/math.Sqrt2, 0, 1e-6) || im.readers(div.Out) != 1 {
		return 0, nil, false
	}
	return div.In[0], []*ir.Node{plus, erf, div}, true
}

// geluProduct matches x*g, or (x*0.5)*g, with g an erfGate of x: the
// product of a Mul's operands a and b. half says whether the 0.5 was
// among them; the nodes returned are the chain's, the product's excluded.
func (im *importer) geluProduct(a, b int) (x int, half bool, chain []*ir.Node, ok bool) {
	for _, p := range [][2]int{{a, b}, {b, a}} {
		u, g := p[0], p[1]
		x, chain, ok := im.erfGate(g)
		if !ok {
			continue
		}
		if u == x {
			return x, false, chain, true
		}
		if h := im.g.Producer(u); affineIs(h, 0.5, 0, 0) && h.In[0] == x && im.readers(u) == 1 {
			return x, true, append(chain, h), true
		}
	}
	return 0, false, nil, false
}

// geluOf turns p, the product x*g that an outer *0.5 alone reads (torch's
// export), into x's GELU and reports whether it did.
func (im *importer) geluOf(p *ir.Node) bool {
	if p == nil || p.Op != ir.OpMul || im.readers(p.Out) != 1 {
		return false
	}
	x, half, chain, ok := im.geluProduct(p.In[0], p.In[1])
	if !ok || half {
		return false
	}
	im.toGELU(p, x, chain)
	return true
}

// toGELU makes nd x's GELU and drops the chain it replaces.
func (im *importer) toGELU(nd *ir.Node, x int, chain []*ir.Node) {
	nd.Op, nd.In = ir.OpGELU, []int{x}
	im.g.Nodes = slices.DeleteFunc(im.g.Nodes, func(n *ir.Node) bool { return slices.Contains(chain, n) })
	im.moduleName(nd)
}

// softsign turns y = 1 + |x| into x's Softsign when it is read only by the
// division x / y, and returns its output.
func (im *importer) softsign(x, y int) (int, bool) {
	plus := im.g.Producer(y)
	if !affineIs(plus, 1, 1, 0) || im.readers(y) != 1 {
		return 0, false
	}
	abs := im.g.Producer(plus.In[0])
	if abs == nil || abs.Op != ir.OpAbs || abs.In[0] != x || im.readers(abs.Out) != 1 {
		return 0, false
	}
	plus.Op, plus.In, plus.Affine = ir.OpSoftsign, []int{x}, nil
	im.moduleName(plus)
	im.g.Nodes = slices.DeleteFunc(im.g.Nodes, func(n *ir.Node) bool { return n == abs })
	return y, true
}
