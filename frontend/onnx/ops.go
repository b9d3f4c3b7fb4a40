package onnx

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"github.com/ptqc/ptqc/ir"
)

// runtimeOps map an ONNX op onto ir nodes; foldOps compute constants (shape
// arithmetic) when every input is one. An op in both is folded when it can be.
var runtimeOps map[string]func(*importer, *onnxpb.NodeProto, *attrs) error

var foldOps map[string]func(*importer, *onnxpb.NodeProto, *attrs) (*tensor, error)

func init() {
	runtimeOps = map[string]func(*importer, *onnxpb.NodeProto, *attrs) error{
		"Conv":               (*importer).conv,
		"BatchNormalization": (*importer).batchNorm,
		"Relu":               (*importer).relu,
		"Clip":               (*importer).clip,
		"LeakyRelu":          (*importer).leakyRelu,
		"Sigmoid":            (*importer).sigmoid,
		"HardSigmoid":        (*importer).hardSigmoid,
		"HardSwish":          (*importer).hardSwish,
		"Tanh":               (*importer).tanh,
		"Elu":                (*importer).elu,
		"Softplus":           (*importer).softplus,
		"Selu":               (*importer).selu,
		"Celu":               (*importer).celu,
		"Softsign":           (*importer).unary,
		"Abs":                (*importer).unary,
		"Erf":                (*importer).unary,
		"Mish":               (*importer).unary,
		"Gelu":               (*importer).gelu,
		"Neg":                (*importer).neg,
		"PRelu":              (*importer).prelu,
		"Add":                (*importer).arith,
		"Sub":                (*importer).arith,
		"Mul":                (*importer).arith,
		"Div":                (*importer).arith,
		"Concat":             (*importer).concat,
		"Split":              (*importer).split,
		"Slice":              (*importer).slice,
		"Pad":                (*importer).pad,
		"Transpose":          (*importer).transpose,
		"Gather":             (*importer).gather,
		"Unsqueeze":          (*importer).unsqueeze,
		"Squeeze":            (*importer).squeeze,
		"GlobalAveragePool":  (*importer).globalAvgPool,
		"GlobalMaxPool":      (*importer).globalMaxPool,
		"ReduceMean":         (*importer).reduceMean,
		"ReduceMax":          (*importer).reduceMax,
		"ReduceSum":          (*importer).reduceSum,
		"Flatten":            (*importer).flatten,
		"Reshape":            (*importer).reshape,
		"Gemm":               (*importer).gemm,
		"MatMul":             (*importer).matMul,
		"MaxPool":            (*importer).maxPool,
		"AveragePool":        (*importer).avgPool,
		"Identity":           (*importer).identity,
		"Dropout":            (*importer).dropout,
		"Expand":             (*importer).expand,
		"Softmax":            (*importer).softmax,
		"LogSoftmax":         (*importer).softmax,
		"Cast":               (*importer).cast,
		"Shape":              nil, // folded only
	}
	foldOps = map[string]func(*importer, *onnxpb.NodeProto, *attrs) (*tensor, error){
		"Constant":        (*importer).foldConstant,
		"ConstantOfShape": withConsts((*importer).foldConstantOfShape),
		"Shape":           (*importer).foldShape,
		"Gather":          withConsts((*importer).foldGather),
		"Unsqueeze":       withConsts((*importer).foldUnsqueeze),
		"Squeeze":         withConsts((*importer).foldSqueeze),
		"Concat":          withConsts((*importer).foldConcat),
		"Cast":            withConsts((*importer).foldCast),
		"Div":             withConsts((*importer).foldArith),
		"Mul":             withConsts((*importer).foldArith),
		"Add":             withConsts((*importer).foldArith),
		"Sub":             withConsts((*importer).foldArith),
		"Identity":        withConsts((*importer).foldIdentity),
		"Reshape":         withConsts((*importer).foldReshape),
		"Slice":           withConsts((*importer).foldSlice),
		"Transpose":       withConsts((*importer).foldTranspose),
		"Range":           withConsts((*importer).foldRange),
	}
}

// transformerOps are ops only the transformer-like families (ConvNeXt, ViT,
// Swin, MaxViT) have among torchvision's classifiers (their layer norm and
// attention einsum; GELU, a CNN's activation too, is imported): a graph
// holding one is refused before its import, at that node. (Their attention's Softmax is refused by softmax:
// it is not over the classes of the output.)
var transformerOps = map[string]bool{
	"LayerNormalization": true, "Einsum": true,
}

// errTransformer is the refusal of an op or form only transformer-like models have.
func errTransformer(what string) error {
	return fmt.Errorf("%s: transformer-like families (ConvNeXt, ViT, Swin, MaxViT) are out of scope for ptqc", what)
}

func supportedOps() string {
	set := map[string]bool{}
	for k := range runtimeOps {
		set[k] = true
	}
	for k := range foldOps {
		set[k] = true
	}
	var s []string
	for k := range set {
		s = append(s, k)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func (im *importer) importNode(n *onnxpb.NodeProto) error {
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		return fmt.Errorf("domain %q is not supported (only the default ai.onnx)", d)
	}
	if len(n.GetOutput()) == 0 {
		return errors.New("has no outputs")
	}
	a, err := newAttrs(n)
	if err != nil {
		return err
	}
	op := n.GetOpType()
	fold, canFold := foldOps[op]
	run, canRun := runtimeOps[op]
	if !canFold && !canRun && transformerOps[op] {
		return errTransformer("op " + op)
	}
	if !canFold && !canRun {
		return fmt.Errorf("op %s is not supported (ptqc imports %s)", op, supportedOps())
	}
	if op == "HardSwish" && im.opset < 14 {
		return fmt.Errorf("op HardSwish is defined from opset 14; the model imports opset %d", im.opset)
	}
	if max := maxInputs(op, im.opset); len(n.GetInput()) > max {
		return fmt.Errorf("has %d inputs; %s takes at most %d at opset %d", len(n.GetInput()), op, max, im.opset)
	}
	if canFold && (op == "Shape" || op == "Constant" || im.allConst(n)) {
		t, err := fold(im, n, a)
		if err != nil {
			return err
		}
		if err := a.done(); err != nil {
			return err
		}
		if err := im.onlyOutputs(n, 1); err != nil {
			return err
		}
		if t.len() > maxFoldSize {
			return fmt.Errorf("folded constant of %d elements: at most %d", t.len(), maxFoldSize)
		}
		im.set(n, 0, &value{c: t})
		return nil
	}
	if run == nil {
		return fmt.Errorf("op %s is supported only on constants (shape computations)", op)
	}
	if err := run(im, n, a); err != nil {
		return err
	}
	return a.done()
}

// maxInputs is how many inputs op takes at opset, where ONNX changed it.
func maxInputs(op string, opset int) int {
	switch op {
	case "Constant":
		return 0
	case "Relu", "GlobalAveragePool", "Flatten", "MaxPool", "AveragePool", "Identity", "Shape", "Cast", "Sigmoid",
		"HardSigmoid", "HardSwish", "LeakyRelu", "Transpose", "ConstantOfShape":
		return 1
	case "Unsqueeze", "Squeeze", "Split":
		if opset < 13 {
			return 1
		}
		return 2
	case "ReduceMean", "ReduceMax":
		if opset < 18 {
			return 1
		}
		return 2
	case "ReduceSum":
		if opset < 13 {
			return 1
		}
		return 2
	case "Dropout":
		if opset < 12 {
			return 1
		}
		return 3
	case "Add", "Sub", "Mul", "Div", "MatMul", "Reshape", "Gather":
		return 2
	case "Conv", "Clip", "Gemm", "Range":
		return 3
	case "Pad":
		if opset < 18 {
			return 3
		}
		return 4
	case "BatchNormalization", "Slice":
		return 5
	}
	return math.MaxInt // Concat
}

// allConst reports whether every present input is a constant.
func (im *importer) allConst(n *onnxpb.NodeProto) bool {
	for _, in := range n.GetInput() {
		if in == "" {
			continue
		}
		v := im.vals[in]
		if v == nil || (v.c == nil && v.proto == nil) {
			return false
		}
	}
	return true
}

// emit adds nd on the ir tensors ins as the node's one output, a runtime
// value of ONNX shape shape (nil: the batch, then the ir tensor's shape).
func (im *importer) emit(n *onnxpb.NodeProto, nd *ir.Node, shape []int, ins ...int) error {
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	t, err := im.addInfer(nd, ins...)
	if err != nil {
		return err
	}
	if shape == nil {
		shape = im.withBatch(t)
	}
	im.runtime(n, t, shape)
	return nil
}

// runtime binds output 0 to the ir tensor t with ONNX shape shape.
func (im *importer) runtime(n *onnxpb.NodeProto, t int, shape []int) {
	im.set(n, 0, &value{t: t, shape: shape})
}

// image returns input 0 as an NCHW runtime value whose ir tensor is [C,H,W].
func (im *importer) image(n *onnxpb.NodeProto) (*value, error) {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return nil, err
	}
	if len(x.shape) != 4 || len(im.g.Tensors[x.t].Shape) != 3 {
		return nil, fmt.Errorf("input %q has shape %v, want [N, C, H, W]", n.GetInput()[0], x.shape)
	}
	return x, nil
}

// withBatch is an ir per-sample shape with the batch axis put back.
func (im *importer) withBatch(t int) []int {
	return append([]int{im.batch}, im.g.Tensors[t].Shape...)
}

// batchNorm is BatchNorm2d, or BatchNorm1d on [N, features] (a classifier
// head's, folded into the Linear before it).
func (im *importer) batchNorm(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return err
	}
	if t := im.g.Tensors[x.t].Shape; !(len(x.shape) == 4 && len(t) == 3 || len(x.shape) == 2 && len(t) > 0 && t[0] == x.shape[1]) {
		return fmt.Errorf("input %q has shape %v, want [N, C, H, W] or [N, C]", n.GetInput()[0], x.shape)
	}
	eps, err := a.float("epsilon", 1e-5)
	if err != nil {
		return err
	}
	if _, err := a.float("momentum", 0.9); err != nil {
		return err
	}
	perElem := false
	if im.opset < 9 {
		// spatial 0 (opsets 7 and 8) takes statistics per element, [C, H,
		// W], which ptqc does not fold; with [C] ones it is MXNet's export
		// of a per-channel norm before apache/mxnet#17711, read as spatial
		// 1 (the weights below must be [C]).
		sp, err := a.int("spatial", 1)
		if err != nil || sp != 0 && sp != 1 {
			return fmt.Errorf("spatial %d: want 0 or 1 (%v)", sp, err)
		}
		perElem = sp == 0
	}
	if tm, err := a.int("training_mode", 0); err != nil || tm != 0 {
		return fmt.Errorf("training_mode %d: ptqc imports inference graphs (%v)", tm, err)
	}
	if !(eps >= 0) || math.IsInf(float64(eps), 0) {
		return fmt.Errorf("epsilon %v", eps)
	}
	ch := x.shape[1]
	bn := &ir.BatchNorm{C: ch, Eps: eps}
	for k, p := range []struct {
		what string
		dst  *[]float32
	}{{"scale", &bn.Weight}, {"bias", &bn.Bias}, {"mean", &bn.Mean}, {"var", &bn.Var}} {
		if *p.dst, err = im.weights(n, k+1, p.what, ch); err != nil {
			if perElem {
				return fmt.Errorf("spatial 0: %w (ptqc folds statistics a channel)", err)
			}
			return err
		}
		if *p.dst == nil {
			return fmt.Errorf("%s (input %d) is missing", p.what, k+1)
		}
	}
	for i, v := range bn.Var {
		if v < 0 {
			return fmt.Errorf("var: channel %d is negative (%v)", i, v)
		}
	}
	return im.emit(n, &ir.Node{Op: ir.OpBatchNorm, BN: bn}, x.shape, x.t)
}

// readers counts the nodes (and graph output) reading ir tensor t under any
// of its ONNX names. A node that passes t on under a new name (Identity,
// Dropout, Squeeze, a MatMul's bias Add) reads one name of t and makes
// another, and a Shape reads no values: those reads are not counted.
func (im *importer) readers(t int) int {
	n, names := 0, 0
	for name, v := range im.vals {
		if v.c == nil && v.proto == nil && v.t == t {
			n += im.uses[name] - im.shapeUses[name]
			names++
		}
	}
	return n - max(names-1, 0)
}

// globalPool reports whether nd is an AvgPool over the whole plane.
func (im *importer) globalPool(nd *ir.Node) bool {
	if nd == nil || nd.Op != ir.OpAvgPool {
		return false
	}
	in, w := im.g.Tensors[nd.In[0]].Shape, nd.Pool.Window
	return w == ir.Window{KH: in[1], KW: in[2], SH: 1, SW: 1, DH: 1, DW: 1}
}

func (im *importer) globalAvgPool(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	return im.globalReduce(n, x, true, "mean")
}

// globalMaxPool is the MaxPool of the whole plane, [N, C, 1, 1].
func (im *importer) globalMaxPool(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	return im.globalReduce(n, x, true, "max")
}

func (im *importer) reduceMean(n *onnxpb.NodeProto, a *attrs) error {
	return im.reduce(n, a, "mean")
}

// reduceMax is ReduceMax over the channels (CBAM's spatial gate) or over H
// and W (a global max pool).
func (im *importer) reduceMax(n *onnxpb.NodeProto, a *attrs) error {
	return im.reduce(n, a, "max")
}

// reduceSum is ReduceSum over H and W: the mean times H*W.
func (im *importer) reduceSum(n *onnxpb.NodeProto, a *attrs) error {
	return im.reduce(n, a, "sum")
}

// reduce is a ReduceMean, ReduceMax or ReduceSum (kind): over the channels
// (mean and max), over H or W alone (a pool along it), or over the plane, H
// and W of NCHW or the last axis of a flattened plane (value.cols), as a
// global pool.
func (im *importer) reduce(n *onnxpb.NodeProto, a *attrs, kind string) error {
	x, err := im.input(n, 0)
	if err != nil {
		return err
	}
	rank := 4
	if x != nil && x.cols {
		rank = 3
	}
	keep, axes, err := im.reduceAxes(n, a, rank)
	if err != nil {
		return err
	}
	switch {
	case rank == 3 && slices.Equal(axes, []int64{2}):
		return im.globalReduce(n, x, keep, kind)
	case rank == 4 && slices.Equal(axes, []int64{1}) && kind != "sum":
		return im.reduceChannels(n, keep, kind == "max")
	case rank == 4 && slices.Equal(axes, []int64{2, 3}):
		x, err := im.image(n)
		if err != nil {
			return err
		}
		return im.globalReduce(n, x, keep, kind)
	case rank == 4 && (slices.Equal(axes, []int64{2}) || slices.Equal(axes, []int64{3})):
		x, err := im.image(n)
		if err != nil {
			return err
		}
		return im.axisReduce(n, x, int(axes[0]), keep, kind)
	case rank == 3:
		return fmt.Errorf("axes %v of [N, C, H*W] %v: ptqc reduces such a view over its last axis only", axes, x.shape)
	case kind == "sum":
		return fmt.Errorf("axes %v: ptqc supports the sum over H and W (axes 2, 3) or over either alone of an NCHW tensor", axes)
	}
	return fmt.Errorf("axes %v: ptqc supports the %s over H and W (axes 2, 3), over either alone or over the channels (axis 1) of an NCHW tensor", axes, kind)
}

// globalReduce is the mean, max or sum of each channel's plane of x (an
// NCHW value, or its cols view): [N, C, 1, 1] kept ([N, C, 1] from cols,
// which only an Unsqueeze of axis 3 may read), else [N, C]. A sum is the
// mean times H*W (an Affine).
func (im *importer) globalReduce(n *onnxpb.NodeProto, x *value, keep bool, kind string) error {
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	in := im.g.Tensors[x.t].Shape // [C, H, W]
	w := ir.Window{KH: in[1], KW: in[2], SH: 1, SW: 1, DH: 1, DW: 1}
	nd := &ir.Node{Op: ir.OpAvgPool, Pool: &ir.Pool{Window: w}}
	switch {
	case kind == "max":
		nd.Op = ir.OpMaxPool
	case !keep:
		nd = &ir.Node{Op: ir.OpMean}
	}
	t, err := im.addInfer(nd, x.t)
	if err != nil {
		return err
	}
	if kind == "sum" {
		if t, err = im.scaled(t, float32(in[1]*in[2])); err != nil {
			return err
		}
	}
	v := &value{t: t, shape: []int{x.shape[0], in[0], 1, 1}}
	switch {
	case keep && x.cols:
		v.shape, v.half = v.shape[:3], true
	case !keep:
		if v, err = im.flat(v); err != nil {
			return err
		}
	}
	im.set(n, 0, v)
	return nil
}

// axisReduce is the mean, max or sum over H (axis 2) or W (axis 3) alone:
// a pool whose window spans that axis, [N, C, 1, W] or [N, C, H, 1] kept,
// else [N, C, W] or [N, C, H] as a cols view of it (x.mean(3).mean(2)
// pools the rows, then their means).
func (im *importer) axisReduce(n *onnxpb.NodeProto, x *value, axis int, keep bool, kind string) error {
	in := im.g.Tensors[x.t].Shape // [C, H, W]
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	w := ir.Window{KH: in[1], KW: 1, SH: 1, SW: 1, DH: 1, DW: 1}
	if axis == 3 {
		w.KH, w.KW = 1, in[2]
	}
	nd := &ir.Node{Op: ir.OpAvgPool, Pool: &ir.Pool{Window: w}}
	if kind == "max" {
		nd.Op = ir.OpMaxPool
	}
	t, err := im.addInfer(nd, x.t)
	if err != nil {
		return err
	}
	if kind == "sum" {
		if t, err = im.scaled(t, float32(w.KH*w.KW)); err != nil {
			return err
		}
	}
	out := im.g.Tensors[t].Shape
	v := &value{t: t, shape: []int{x.shape[0], out[0], out[1], out[2]}}
	if !keep {
		v.shape, v.cols = []int{x.shape[0], out[0], out[1] * out[2]}, true
	}
	im.set(n, 0, v)
	return nil
}

// scaled adds an Affine of scale k on every channel after t.
func (im *importer) scaled(t int, k float32) (int, error) {
	c := im.g.Tensors[t].Shape[0]
	af := &ir.Affine{C: c, Scale: make([]float32, c), Shift: make([]float32, c)}
	for i := range af.Scale {
		af.Scale[i] = k
	}
	return im.addInfer(&ir.Node{Op: ir.OpAffine, Affine: af}, t)
}

// reduceChannels is the max (ir's ChannelMax) or the mean (a 1x1 conv to
// one channel of weights 1/C) over the channels of each pixel, [N, 1, H, W];
// without keepdims [N, H, W], which only an Unsqueeze of axis 1 may read.
func (im *importer) reduceChannels(n *onnxpb.NodeProto, keep, isMax bool) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	nd := &ir.Node{Op: ir.OpChannelMax}
	if c := x.shape[1]; !isMax {
		w := make([]float32, c)
		for i := range w {
			w[i] = 1 / float32(c)
		}
		nd = &ir.Node{Op: ir.OpConv, Conv: &ir.Conv{InC: c, OutC: 1, Groups: 1, Window: ir.SquareWindow(1, 1, 0), Weight: w}}
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	t, err := im.addInfer(nd, x.t)
	if err != nil {
		return err
	}
	if keep {
		im.runtime(n, t, []int{x.shape[0], 1, x.shape[2], x.shape[3]})
		return nil
	}
	im.set(n, 0, &value{t: t, shape: []int{x.shape[0], x.shape[2], x.shape[3]}, squeezed: true})
	return nil
}

// reduceAxes reads a Reduce op's keepdims and axes (an attribute before
// opset 18, an input from it), sorted and made non-negative for 4-D.
func (im *importer) reduceAxes(n *onnxpb.NodeProto, a *attrs, rank int) (keep bool, axes []int64, err error) {
	k, err := a.int("keepdims", 1)
	if err != nil {
		return false, nil, err
	}
	if k != 0 && k != 1 {
		return false, nil, fmt.Errorf("keepdims %d", k)
	}
	first := 18 // the opset from which axes is an input
	if n.GetOpType() == "ReduceSum" {
		first = 13
	}
	if im.opset < first {
		if axes, err = a.ints("axes", nil); err != nil {
			return false, nil, err
		}
	} else {
		if _, err := a.int("noop_with_empty_axes", 0); err != nil {
			return false, nil, err
		}
		t, err := im.constInput(n, 1, "axes")
		if err != nil {
			return false, nil, err
		}
		if t != nil {
			if !t.isInt() || t.hasBatch() {
				return false, nil, errors.New("axes must be integers")
			}
			axes = t.i
		}
	}
	norm := make([]int64, len(axes))
	for i, ax := range axes {
		if ax < 0 {
			ax += int64(rank)
		}
		norm[i] = ax
	}
	slices.Sort(norm)
	return k == 1, slices.Compact(norm), nil
}

// toFeatures makes x a per-sample vector [N, F]: ir's Flatten, or nothing when
// its ir tensor already is one.
func (im *importer) toFeatures(n *onnxpb.NodeProto, x *value) error {
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	f, err := im.flat(x)
	if err != nil {
		return err
	}
	im.set(n, 0, f)
	return nil
}

// flat is runtime value x as [N, features]: a global pool read only here
// becomes a Mean, anything else of rank 4 gets a Flatten.
func (im *importer) flat(x *value) (*value, error) {
	t := x.t
	if p := im.g.Producer(t); im.globalPool(p) && im.readers(t) == 1 {
		p.Op, p.Pool = ir.OpMean, nil
		im.g.Tensors[t].Shape = im.g.Tensors[t].Shape[:1]
	}
	if len(im.g.Tensors[t].Shape) != 1 {
		nd := &ir.Node{Op: ir.OpFlatten}
		if im.node == nil {
			nd.Name = "flatten" // of the graph's output
		}
		var err error
		if t, err = im.addInfer(nd, x.t); err != nil {
			return nil, err
		}
	}
	return &value{t: t, shape: []int{x.shape[0], im.g.Tensors[t].Elems()}}, nil
}

// classMap reports whether x is [N, C, 1, 1]: the classes of a classifier
// that ends without flattening (Caffe2's SqueezeNet in the ONNX Model Zoo).
func classMap(x *value) bool {
	return len(x.shape) == 4 && x.shape[2] == 1 && x.shape[3] == 1 && x.pads == nil && x.view == nil
}

func (im *importer) flatten(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return err
	}
	axis, err := a.int("axis", 1)
	if err != nil {
		return err
	}
	if axis != 1 && axis != 1-int64(len(x.shape)) {
		return fmt.Errorf("axis %d: ptqc flattens all but the batch axis (axis 1)", axis)
	}
	return im.toFeatures(n, x)
}

// features returns input 0 as a runtime [N, F] value.
func (im *importer) features(n *onnxpb.NodeProto) (*value, int, error) {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return nil, 0, err
	}
	if len(x.shape) != 2 || len(im.g.Tensors[x.t].Shape) != 1 {
		return nil, 0, fmt.Errorf("input %q has shape %v, want [N, features]", n.GetInput()[0], x.shape)
	}
	return x, x.shape[1], nil
}

func (im *importer) gemm(n *onnxpb.NodeProto, a *attrs) error {
	x, in, err := im.features(n)
	if err != nil {
		return err
	}
	alpha, beta, err := a.alphaBeta(1, 1)
	if err != nil {
		return err
	}
	if ta, err := a.int("transA", 0); err != nil || ta != 0 {
		return fmt.Errorf("transA %d: ptqc supports 0 (%v)", ta, err)
	}
	tb, err := a.int("transB", 0)
	if err != nil {
		return err
	}
	wt, err := im.constOfRank(n, 1, "weight", 2, "B (input 1) must be a 2-D constant")
	if err != nil {
		return err
	}
	out := wt.dims[1]
	if tb == 1 {
		out = wt.dims[0]
	} else if tb != 0 {
		return fmt.Errorf("transB %d", tb)
	}
	l := &ir.Linear{In: in, Out: out}
	w, err := im.weights(n, 1, "weight")
	if err != nil {
		return err
	}
	if wt.dims[tb] != in {
		return fmt.Errorf("B %v for %d input features (transB %d)", wt.dims, in, tb)
	}
	if l.Weight = w; tb == 0 {
		l.Weight = transpose(w, in, out)
	}
	if alpha != 1 {
		for i := range l.Weight {
			l.Weight[i] *= alpha
		}
	}
	bt, err := im.constInput(n, 2, "C")
	if err != nil {
		return err
	}
	if bt != nil {
		dims := bt.dims
		if len(dims) == 2 && dims[0] == 1 {
			dims = dims[1:]
		}
		scalar := bt.len() == 1 && len(bt.dims) <= 2
		if !scalar && !ir.EqualShape(dims, []int{out}) {
			return fmt.Errorf("C %v: ptqc supports a bias [M], [1, M] or a scalar (M = %d)", bt.dims, out)
		}
		c, err := finite("C", n.GetInput()[2], bt)
		if err != nil {
			return err
		}
		l.Bias = make([]float32, out)
		for i := range l.Bias {
			l.Bias[i] = c[min(i, len(c)-1)] * beta
		}
	}
	return im.emit(n, &ir.Node{Op: ir.OpLinear, Linear: l}, []int{x.shape[0], out}, x.t)
}

// transpose returns the [cols, rows] transpose of a rows x cols matrix.
func transpose(w []float32, rows, cols int) []float32 {
	t := make([]float32, len(w))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			t[c*rows+r] = w[r*cols+c]
		}
	}
	return t
}

func (im *importer) matMul(n *onnxpb.NodeProto, a *attrs) error {
	if v, err := im.input(n, 1); err == nil && v != nil && v.c == nil {
		return errTransformer("MatMul of two values computed at run time")
	}
	x, in, err := im.features(n)
	if err != nil {
		return err
	}
	wt, err := im.constInput(n, 1, "B")
	if err != nil {
		return err
	}
	if wt == nil || len(wt.dims) != 2 || wt.dims[0] != in {
		return fmt.Errorf("B must be a constant [%d, M]", in)
	}
	w, err := im.weights(n, 1, "B")
	if err != nil {
		return err
	}
	out := wt.dims[1]
	return im.emit(n, &ir.Node{Op: ir.OpLinear, Linear: &ir.Linear{In: in, Out: out, Weight: transpose(w, in, out)}}, []int{x.shape[0], out}, x.t)
}

// identity and dropout (at inference) pass their input on.
func (im *importer) identity(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return err
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	im.set(n, 0, x)
	return nil
}

// cast of a runtime value is the identity between float types: ptqc
// computes in float32 whatever an export's float16 or float64 (a float16
// model's Casts at its input and output, for one).
func (im *importer) cast(n *onnxpb.NodeProto, a *attrs) error {
	to, err := a.int("to", 0)
	if err != nil {
		return err
	}
	if im.opset >= 19 {
		if _, err := a.int("saturate", 1); err != nil {
			return err
		}
	}
	switch onnxpb.TensorProto_DataType(to) {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_DOUBLE:
	default:
		return fmt.Errorf("cast of a value computed at run time to %s: ptqc computes in float32 (FLOAT, FLOAT16 and DOUBLE casts pass through)", onnxpb.TensorProto_DataType(to))
	}
	if _, err := im.runtimeInput(n, 0); err != nil {
		return err
	}
	return im.identity(n, a)
}

func (im *importer) dropout(n *onnxpb.NodeProto, a *attrs) error {
	if im.opset < 12 {
		if _, err := a.float("ratio", 0.5); err != nil { // an input from 12
			return err
		}
	}
	if _, err := a.int("seed", 0); err != nil {
		return err
	}
	if t, err := im.constInput(n, 2, "training_mode"); err != nil {
		return err
	} else if t != nil && (t.len() != 1 || (t.isInt() && t.i[0] != 0) || (!t.isInt() && t.f[0] != 0)) {
		return errors.New("training_mode must be false")
	}
	if _, err := im.constInput(n, 1, "ratio"); err != nil {
		return err
	}
	return im.identity(n, a)
}
