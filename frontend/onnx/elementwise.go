package onnx

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"github.com/ptqc/ptqc/ir"
)

// Elementwise ops: the activations, and Add, Sub, Mul, Div of two runtime
// values or of a runtime value and a constant (an ir Affine).

func (im *importer) relu(n *onnxpb.NodeProto, a *attrs) error {
	return im.activation(n, ir.OpReLU, nil)
}

func (im *importer) sigmoid(n *onnxpb.NodeProto, a *attrs) error {
	return im.activation(n, ir.OpSigmoid, nil)
}

func (im *importer) hardSwish(n *onnxpb.NodeProto, a *attrs) error {
	return im.activation(n, ir.OpHardSwish, nil)
}

func (im *importer) hardSigmoid(n *onnxpb.NodeProto, a *attrs) error {
	alpha, beta, err := a.alphaBeta(0.2, 0.5)
	if err != nil {
		return err
	}
	return im.activation(n, ir.OpHardSigmoid, &ir.Unary{Alpha: alpha, Beta: beta})
}

func (im *importer) leakyRelu(n *onnxpb.NodeProto, a *attrs) error {
	alpha, err := a.float("alpha", 0.01)
	if err != nil {
		return err
	}
	if !isFinite(alpha) {
		return fmt.Errorf("alpha %v", alpha)
	}
	return im.activation(n, ir.OpLeakyReLU, &ir.Unary{Alpha: alpha})
}

func (im *importer) tanh(n *onnxpb.NodeProto, a *attrs) error {
	return im.activation(n, ir.OpTanh, nil)
}

func (im *importer) softplus(n *onnxpb.NodeProto, a *attrs) error {
	return im.activation(n, ir.OpSoftplus, nil)
}

// unaryOps are the ONNX ops without attributes that map onto one ir op.
var unaryOps = map[string]ir.Op{"Softsign": ir.OpSoftsign, "Abs": ir.OpAbs, "Erf": ir.OpErf, "Mish": ir.OpMish}

func (im *importer) unary(n *onnxpb.NodeProto, a *attrs) error {
	return im.activation(n, unaryOps[n.GetOpType()], nil)
}

// gelu is opset 20's Gelu; exports before it spell the exact one out
// (gelu.go).
func (im *importer) gelu(n *onnxpb.NodeProto, a *attrs) error {
	approx, err := a.str("approximate", "none")
	if err != nil {
		return err
	}
	if approx != "none" {
		return fmt.Errorf("approximate %q: ptqc supports the exact GELU (none)", approx)
	}
	return im.activation(n, ir.OpGELU, nil)
}

func (im *importer) selu(n *onnxpb.NodeProto, a *attrs) error {
	alpha, err := a.float("alpha", 1.67326319217681884765625)
	if err != nil {
		return err
	}
	gamma, err := a.float("gamma", 1.05070102214813232421875)
	if err != nil {
		return err
	}
	if !isFinite(alpha) || !isFinite(gamma) {
		return fmt.Errorf("alpha %v, gamma %v", alpha, gamma)
	}
	return im.activation(n, ir.OpSELU, &ir.Unary{Alpha: alpha, Beta: gamma})
}

func (im *importer) celu(n *onnxpb.NodeProto, a *attrs) error {
	alpha, err := a.float("alpha", 1)
	if err != nil {
		return err
	}
	if !isFinite(alpha) || alpha == 0 {
		return fmt.Errorf("alpha %v", alpha)
	}
	return im.activation(n, ir.OpCELU, &ir.Unary{Alpha: alpha})
}

// neg is -x: an Affine of scale -1.
func (im *importer) neg(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return err
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	t, err := im.scaled(x.t, -1)
	if err != nil {
		return err
	}
	im.runtime(n, t, x.shape)
	return nil
}

func (im *importer) elu(n *onnxpb.NodeProto, a *attrs) error {
	alpha, err := a.float("alpha", 1)
	if err != nil {
		return err
	}
	if !isFinite(alpha) {
		return fmt.Errorf("alpha %v", alpha)
	}
	return im.activation(n, ir.OpELU, &ir.Unary{Alpha: alpha})
}

// prelu is PReLU with one slope (a LeakyReLU) or one a channel, a constant
// that broadcasts along every axis but the channels'.
func (im *importer) prelu(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return err
	}
	t, err := im.constInput(n, 1, "slope")
	if err != nil {
		return err
	}
	if t == nil || t.isInt() {
		return errors.New("needs a float slope (input 1)")
	}
	s, err := im.perChannel(x, t, n.GetInput()[1])
	if err != nil {
		return err
	}
	if slices.Min(s) == slices.Max(s) {
		return im.activation(n, ir.OpLeakyReLU, &ir.Unary{Alpha: s[0]})
	}
	return im.emit(n, &ir.Node{Op: ir.OpPReLU, Slope: s}, x.shape, x.t)
}

func isFinite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

func (im *importer) activation(n *onnxpb.NodeProto, op ir.Op, u *ir.Unary) error {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return err
	}
	return im.emit(n, &ir.Node{Op: op, Unary: u}, x.shape, x.t)
}

// softmax is a Softmax or LogSoftmax over the classes of the [N, classes]
// graph output (Import checks that it is the output): the int8 model's
// Dequantize applies it in float. Before opset 13 its axis coerced the input
// to 2-D, which for an [N, classes] input is the same axis 1.
func (im *importer) softmax(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return err
	}
	def := int64(-1)
	if im.opset < 13 {
		def = 1
	}
	axis, err := a.int("axis", def)
	if err != nil {
		return err
	}
	if classMap(x) && (axis == 1 || axis == -3) {
		// Before opset 13 axis 1 flattens [N, C, 1, 1] to [N, C]; from 13
		// it is C itself.
		if x, err = im.flat(x); err != nil {
			return err
		}
		axis = 1
	}
	if len(x.shape) != 2 || (axis != 1 && axis != -1) {
		return fmt.Errorf("over axis %d of shape %v: ptqc applies %s over the classes of the [N, classes] output only", axis, x.shape, n.GetOpType())
	}
	op := ir.OpSoftmax
	if n.GetOpType() == "LogSoftmax" {
		op = ir.OpLogSoftmax
	}
	if err := im.emit(n, &ir.Node{Op: op}, x.shape, x.t); err != nil {
		return err
	}
	if im.softmaxes == nil {
		im.softmaxes = map[int]*onnxpb.NodeProto{}
	}
	im.softmaxes[im.vals[n.GetOutput()[0]].t] = n
	return nil
}

// clip is ReLU6 (min 0, max 6) or ReLU (min 0, no max); from opset 11, the
// first ptqc reads, min and max are inputs.
func (im *importer) clip(n *onnxpb.NodeProto, a *attrs) error {
	bound := func(k int, def float32) (float32, error) {
		t, err := im.constInput(n, k, []string{"", "min", "max"}[k])
		if err != nil || t == nil {
			return def, err
		}
		if t.isInt() || t.len() != 1 || len(t.dims) > 1 {
			return 0, fmt.Errorf("input %d must be a float scalar", k)
		}
		return t.f[0], nil
	}
	lo, err := bound(1, float32(math.Inf(-1)))
	if err != nil {
		return err
	}
	hi, err := bound(2, float32(math.Inf(1)))
	if err != nil {
		return err
	}
	switch {
	case lo == 0 && hi == 6:
		return im.activation(n, ir.OpReLU6, nil)
	case lo == 0 && math.IsInf(float64(hi), 1):
		return im.activation(n, ir.OpReLU, nil)
	case lo < hi:
		return im.activation(n, ir.OpClip, &ir.Unary{Alpha: lo, Beta: hi})
	}
	return fmt.Errorf("Clip(min %v, max %v): min must be below max", lo, hi)
}

// arith is Add, Sub, Mul or Div where an operand is computed at run time.
func (im *importer) arith(n *onnxpb.NodeProto, a *attrs) error {
	var v [2]*value
	for k := range v {
		x, err := im.input(n, k)
		if err != nil {
			return err
		}
		if x == nil {
			return errors.New("needs two inputs")
		}
		v[k] = x
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	op := n.GetOpType()
	if v[0].c == nil && v[1].c == nil {
		for k := range v {
			if e := v[k].expand; e != nil && op == "Mul" && v[1-k].expand == nil && ir.EqualShape(e[1:], v[1-k].shape[1:]) {
				// An Expand read by the product it broadcasts for: the
				// squeeze-excitation product of the unexpanded value.
				u := *v[k]
				u.expand = nil
				v[k] = &u
				continue
			}
			if _, err := im.runtimeInput(n, k); err != nil {
				return err
			}
		}
		return im.binary(n, op, v[0], v[1])
	}
	k := 0 // the runtime operand
	if v[0].c != nil {
		k = 1
	}
	x, err := im.runtimeInput(n, k)
	if err != nil {
		return err
	}
	c, err := im.perChannel(x, v[1-k].c, n.GetInput()[1-k])
	if err != nil {
		return err
	}
	scale, shift := make([]float32, len(c)), make([]float32, len(c))
	switch {
	case op == "Add":
		if p := im.g.Producer(x.t); p != nil && p.Op == ir.OpLinear && p.Linear.Bias == nil && p.Act == ir.ActNone && im.readers(x.t) == 1 {
			p.Linear.Bias = c // a MatMul's bias
			im.runtime(n, x.t, x.shape)
			return nil
		}
		for i := range c {
			scale[i], shift[i] = 1, c[i]
		}
	case op == "Mul":
		if p := im.g.Producer(x.t); allEqual(c, 0.5) && im.geluOf(p) {
			im.runtime(n, x.t, x.shape)
			return nil
		}
		copy(scale, c)
	case op == "Sub" && k == 0:
		for i := range c {
			scale[i], shift[i] = 1, -c[i]
		}
	case op == "Sub":
		for i := range c {
			scale[i], shift[i] = -1, c[i]
		}
	case op == "Div" && k == 0:
		for i := range c {
			if c[i] == 0 {
				return fmt.Errorf("division by zero (constant %q, channel %d)", n.GetInput()[1], i)
			}
			scale[i] = 1 / c[i]
		}
	default:
		return fmt.Errorf("dividing the constant %q by a value computed at run time is not supported", n.GetInput()[0])
	}
	p := im.g.Producer(x.t)
	mergeable := p != nil && p.Op == ir.OpAffine && p.Act == ir.ActNone && im.readers(x.t) == 1 && allZero(p.Affine.Shift)
	// x*s then +b is one Affine, bit for bit (float32(x*s) + b).
	if op == "Add" && mergeable {
		copy(p.Affine.Shift, shift)
		im.runtime(n, x.t, x.shape)
		return nil
	}
	// x*s then *c (or /c) is x*(s*c), and nothing where that is 1 (a
	// ReduceSum's H*W divided out again: the mean). One rounding instead of
	// two: int8 requantizes once.
	if (op == "Mul" || op == "Div") && allZero(shift) && mergeable {
		one := true
		for i := range scale {
			p.Affine.Scale[i] = float32(float64(p.Affine.Scale[i]) * float64(scale[i]))
			one = one && p.Affine.Scale[i] == 1
		}
		if one {
			im.g.Nodes = slices.DeleteFunc(im.g.Nodes, func(nd *ir.Node) bool { return nd == p })
			im.runtime(n, p.In[0], x.shape)
			return nil
		}
		im.runtime(n, x.t, x.shape)
		return nil
	}
	t, err := im.addInfer(&ir.Node{Op: ir.OpAffine, Affine: &ir.Affine{C: len(c), Scale: scale, Shift: shift}}, x.t)
	if err != nil {
		return err
	}
	im.runtime(n, t, x.shape)
	return nil
}

func allEqual(v []float32, c float32) bool {
	for _, x := range v {
		if x != c {
			return false
		}
	}
	return true
}

func allZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// perChannel expands a constant operand of x to one value per channel (per
// feature of an [N, F] x): a scalar, or a tensor that broadcasts along every
// axis but the channels'.
func (im *importer) perChannel(x *value, c *tensor, name string) ([]float32, error) {
	r := len(x.shape)
	if r < 2 {
		return nil, fmt.Errorf("operand of shape %v: want a batch and a channel axis", x.shape)
	}
	ch := x.shape[1]
	vals, err := finite("constant", name, c)
	if err != nil {
		return nil, err
	}
	if len(c.dims) > r {
		return nil, fmt.Errorf("constant %q of shape %v for an operand of shape %v", name, c.dims, x.shape)
	}
	perCh := false
	for k, d := range c.dims {
		ax := k + r - len(c.dims)
		switch {
		case d == 1:
		case ax == 1 && d == ch:
			perCh = true
		default:
			return nil, fmt.Errorf("constant %q of shape %v for an operand of shape %v: ptqc takes a scalar or one value per channel", name, c.dims, x.shape)
		}
	}
	out := make([]float32, ch)
	for i := range out {
		if perCh {
			out[i] = vals[i]
		} else {
			out[i] = vals[0]
		}
	}
	return out, nil
}

// moduleName names nd after its module ("stem.2", not "stem.2/Sigmoid")
// where that is free.
func (im *importer) moduleName(nd *ir.Node) {
	if i := strings.LastIndex(nd.Name, "/"); i > 0 && !im.used[nd.Name[:i]] {
		im.used[nd.Name[:i]] = true
		nd.Name = nd.Name[:i]
	}
}

// binary is Add, Sub or Mul of two runtime values: equal shapes, or for Mul the
// squeeze-excitation [N, C, H, W] x [N, C, 1, 1] in either order; x *
// Sigmoid(x) is a SiLU, x * HardSigmoid(x) with alpha 1/6, beta 1/2 a
// HardSwish.
func (im *importer) binary(n *onnxpb.NodeProto, op string, x, y *value) error {
	if op == "Mul" {
		if t, ok := im.gate(x, y); ok {
			im.runtime(n, t, x.shape)
			return nil
		}
		if a, half, chain, ok := im.geluProduct(x.t, y.t); ok && half {
			nd := &ir.Node{Op: ir.OpMul}
			t, err := im.addInfer(nd, x.t, y.t)
			if err != nil {
				return err
			}
			im.toGELU(nd, a, chain)
			im.runtime(n, t, x.shape)
			return nil
		}
	}
	if op == "Div" && ir.EqualShape(x.shape, y.shape) {
		if t, ok := im.softsign(x.t, y.t); ok {
			im.runtime(n, t, x.shape)
			return nil
		}
	}
	same := ir.EqualShape(x.shape, y.shape) && ir.EqualShape(im.g.Tensors[x.t].Shape, im.g.Tensors[y.t].Shape)
	switch {
	case (op == "Add" || op == "Sub") && same:
		o := ir.OpAdd
		if op == "Sub" {
			o = ir.OpSub
		}
		t, err := im.addInfer(&ir.Node{Op: o}, x.t, y.t)
		if err != nil {
			return err
		}
		im.runtime(n, t, x.shape)
		return nil
	case op == "Mul":
		bcast := func(x, y *value) bool { // y is [N,C,1,1] or [N,1,H,W] for x's [N,C,H,W]
			return len(x.shape) == 4 && (ir.EqualShape(y.shape, []int{x.shape[0], x.shape[1], 1, 1}) ||
				ir.EqualShape(y.shape, []int{x.shape[0], 1, x.shape[2], x.shape[3]}))
		}
		if !same && bcast(y, x) {
			x, y = y, x
		}
		if same || bcast(x, y) {
			t, err := im.addInfer(&ir.Node{Op: ir.OpMul}, x.t, y.t)
			if err != nil {
				return err
			}
			im.runtime(n, t, x.shape)
			return nil
		}
		return fmt.Errorf("operand shapes %v and %v: ptqc multiplies equal shapes and [N, C, H, W] by [N, C, 1, 1] or [N, 1, H, W]", x.shape, y.shape)
	case op == "Add" || op == "Sub":
		return fmt.Errorf("operand shapes %v and %v differ: ptqc adds and subtracts tensors of one shape, without broadcasting", x.shape, y.shape)
	}
	return fmt.Errorf("%s of two values computed at run time is not supported (Add, Sub and Mul are)", op)
}

// gate turns the Sigmoid or HardSigmoid(1/6, 1/2) of one operand, read
// only by this Mul, into the SiLU or HardSwish of the other and returns
// its output; likewise Tanh(Softplus(x)) into x's Mish.
func (im *importer) gate(x, y *value) (int, bool) {
	for _, p := range [][2]*value{{x, y}, {y, x}} {
		a, g := p[0], p[1]
		nd := im.g.Producer(g.t)
		if nd == nil || im.readers(g.t) != 1 || !ir.EqualShape(a.shape, g.shape) {
			continue
		}
		sp := im.g.Producer(nd.In[0])
		switch {
		case nd.Op == ir.OpTanh && sp != nil && sp.Op == ir.OpSoftplus && sp.In[0] == a.t && im.readers(sp.Out) == 1:
			nd.Op, nd.In = ir.OpMish, []int{a.t}
			im.g.Nodes = slices.DeleteFunc(im.g.Nodes, func(n *ir.Node) bool { return n == sp })
		case nd.In[0] != a.t:
			continue
		case nd.Op == ir.OpSigmoid:
			nd.Op = ir.OpSiLU
		case nd.Op == ir.OpHardSigmoid && nd.Unary.Alpha == float32(1.0/6) && nd.Unary.Beta == 0.5:
			nd.Op, nd.Unary = ir.OpHardSwish, nil
		default:
			continue
		}
		im.moduleName(nd)
		return g.t, true
	}
	return 0, false
}
