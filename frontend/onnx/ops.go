package onnx

import (
	"errors"
	"fmt"
	"math"
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
		"Add":                (*importer).addOp,
		"GlobalAveragePool":  (*importer).globalAvgPool,
		"ReduceMean":         (*importer).reduceMean,
		"Flatten":            (*importer).flatten,
		"Reshape":            (*importer).reshape,
		"Gemm":               (*importer).gemm,
		"MatMul":             (*importer).matMul,
		"MaxPool":            (*importer).maxPool,
		"Identity":           (*importer).identity,
		"Dropout":            (*importer).dropout,
		"Shape":              nil, // folded only
	}
	foldOps = map[string]func(*importer, *onnxpb.NodeProto, *attrs) (*tensor, error){
		"Constant":  (*importer).foldConstant,
		"Shape":     (*importer).foldShape,
		"Gather":    (*importer).foldGather,
		"Unsqueeze": (*importer).foldUnsqueeze,
		"Squeeze":   (*importer).foldSqueeze,
		"Concat":    (*importer).foldConcat,
		"Cast":      (*importer).foldCast,
		"Div":       (*importer).foldArith,
		"Mul":       (*importer).foldArith,
		"Add":       (*importer).foldArith,
		"Sub":       (*importer).foldArith,
		"Identity":  (*importer).foldIdentity,
		"Reshape":   (*importer).foldReshape,
	}
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
	if !canFold && !canRun {
		return fmt.Errorf("op %s is not supported (ptqc imports %s)", op, supportedOps())
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
	case "Relu", "GlobalAveragePool", "Flatten", "MaxPool", "Identity", "Shape", "Cast":
		return 1
	case "Unsqueeze", "Squeeze":
		if opset < 13 {
			return 1
		}
		return 2
	case "ReduceMean":
		if opset < 18 {
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
	case "Conv", "Clip", "Gemm":
		return 3
	case "BatchNormalization":
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

// nodeName is the ir name of the node being imported.
func (im *importer) nodeName() string { return im.names[im.node] }

// runtime binds output 0 to the ir tensor t with ONNX shape shape.
func (im *importer) runtime(n *onnxpb.NodeProto, t int, shape []int) {
	im.set(n, 0, &value{t: t, shape: shape})
}

// spatial reads a 2-D window op's kernel_shape, strides, pads, dilations and
// auto_pad; ir takes square kernels, equal strides, the same padding on
// every side and dilation 1.
func spatial(a *attrs, kernelDims []int) (kernel, stride, pad int, err error) {
	ks, err := a.ints("kernel_shape", nil)
	if err != nil {
		return
	}
	if ks == nil && kernelDims != nil {
		ks = []int64{int64(kernelDims[0]), int64(kernelDims[1])}
	}
	if len(ks) != 2 || ks[0] != ks[1] || ks[0] < 1 || ks[0] > maxDim {
		return 0, 0, 0, fmt.Errorf("kernel_shape %v: ptqc supports square 2-D kernels", ks)
	}
	if kernelDims != nil && (int64(kernelDims[0]) != ks[0] || int64(kernelDims[1]) != ks[1]) {
		return 0, 0, 0, fmt.Errorf("kernel_shape %v differs from the weight's %v", ks, kernelDims)
	}
	st, err := a.ints("strides", []int64{1, 1})
	if err != nil {
		return
	}
	if len(st) != 2 || st[0] != st[1] || st[0] < 1 || st[0] > maxDim {
		return 0, 0, 0, fmt.Errorf("strides %v: ptqc supports equal strides", st)
	}
	ap, err := a.str("auto_pad", "NOTSET")
	if err != nil {
		return
	}
	pads, err := a.ints("pads", []int64{0, 0, 0, 0})
	if err != nil {
		return
	}
	switch ap {
	case "NOTSET":
	case "VALID":
		if a.has("pads") {
			return 0, 0, 0, errors.New("auto_pad VALID with pads")
		}
	default:
		return 0, 0, 0, fmt.Errorf("auto_pad %s is not supported (NOTSET, VALID are)", ap)
	}
	if len(pads) != 4 || pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3] || pads[0] < 0 || pads[0] > maxDim {
		return 0, 0, 0, fmt.Errorf("pads %v: ptqc supports the same padding on every side", pads)
	}
	dil, err := a.ints("dilations", []int64{1, 1})
	if err != nil {
		return
	}
	if len(dil) != 2 || dil[0] != 1 || dil[1] != 1 {
		return 0, 0, 0, fmt.Errorf("dilations %v: ptqc supports dilation 1", dil)
	}
	return int(ks[0]), int(st[0]), int(pads[0]), nil
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

func (im *importer) conv(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	wt, err := im.constInput(n, 1, "weight")
	if err != nil {
		return err
	}
	if wt == nil || len(wt.dims) != 4 {
		return errors.New("weight (input 1) must be a constant [M, C/group, kH, kW]")
	}
	group, err := a.int("group", 1)
	if err != nil {
		return err
	}
	inC, outC := x.shape[1], wt.dims[0]
	if group < 1 || group > int64(inC) || inC%int(group) != 0 || outC%int(group) != 0 || wt.dims[1] != inC/int(group) {
		return fmt.Errorf("group %d with %d input channels and weight %v", group, inC, wt.dims)
	}
	if group != 1 && !(int(group) == inC && outC == inC) {
		return fmt.Errorf("group %d: grouped convolutions are not supported yet (group 1 and depthwise are)", group)
	}
	k, s, p, err := spatial(a, wt.dims[2:])
	if err != nil {
		return err
	}
	c := &ir.Conv{InC: inC, OutC: outC, Window: ir.SquareWindow(k, s, p), Groups: int(group)}
	if c.Weight, err = im.weights(n, 1, "weight", wt.dims...); err != nil {
		return err
	}
	if c.Bias, err = im.weights(n, 2, "bias", outC); err != nil {
		return err
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	t, err := im.addInfer(&ir.Node{Op: ir.OpConv, Conv: c}, x.t)
	if err != nil {
		return err
	}
	im.runtime(n, t, im.withBatch(t))
	return nil
}

func (im *importer) batchNorm(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	eps, err := a.float("epsilon", 1e-5)
	if err != nil {
		return err
	}
	if _, err := a.float("momentum", 0.9); err != nil {
		return err
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
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	t, err := im.addInfer(&ir.Node{Op: ir.OpBatchNorm, BN: bn}, x.t)
	if err != nil {
		return err
	}
	im.runtime(n, t, x.shape)
	return nil
}

func (im *importer) relu(n *onnxpb.NodeProto, a *attrs) error {
	return im.activation(n, ir.OpReLU)
}

func (im *importer) activation(n *onnxpb.NodeProto, op ir.Op) error {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return err
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	t, err := im.addInfer(&ir.Node{Op: op}, x.t)
	if err != nil {
		return err
	}
	im.runtime(n, t, x.shape)
	return nil
}

// clip is ReLU6 (min 0, max 6) or ReLU (min 0, no max); opsets 11 and later
// give min and max as inputs.
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
		return im.activation(n, ir.OpReLU6)
	case lo == 0 && math.IsInf(float64(hi), 1):
		return im.activation(n, ir.OpReLU)
	}
	return fmt.Errorf("Clip(min %v, max %v): ptqc supports [0, 6] (ReLU6) and [0, inf) (ReLU)", lo, hi)
}

// addOp is a residual Add of two runtime values of one shape, or the bias of
// a MatMul's Linear.
func (im *importer) addOp(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.input(n, 0)
	if err != nil {
		return err
	}
	y, err := im.input(n, 1)
	if err != nil {
		return err
	}
	if x == nil || y == nil {
		return errors.New("needs two inputs")
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	if x.c != nil {
		x, y = y, x
	}
	if y.c != nil {
		return im.linearBias(n, x, y.c)
	}
	if !ir.EqualShape(x.shape, y.shape) || !ir.EqualShape(im.g.Tensors[x.t].Shape, im.g.Tensors[y.t].Shape) {
		return fmt.Errorf("operand shapes %v and %v differ: ptqc adds tensors of one shape, without broadcasting", x.shape, y.shape)
	}
	t, err := im.addInfer(&ir.Node{Op: ir.OpAdd}, x.t, y.t)
	if err != nil {
		return err
	}
	im.runtime(n, t, x.shape)
	return nil
}

// linearBias folds the constant of an Add into the bias of the MatMul before it.
func (im *importer) linearBias(n *onnxpb.NodeProto, x *value, b *tensor) error {
	p := im.g.Producer(x.t)
	if p == nil || p.Op != ir.OpLinear || p.Linear.Bias != nil || p.Act != ir.ActNone || im.readers(x.t) != 1 {
		return errors.New("adding a constant is supported only as the bias of a MatMul")
	}
	out := p.Linear.Out
	if b.isInt() || b.len() != out || (len(b.dims) != 1 && !(len(b.dims) == 2 && b.dims[0] == 1)) {
		return fmt.Errorf("bias of shape %v for %d outputs", b.dims, out)
	}
	for i, v := range b.f {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("bias element %d is %v", i, v)
		}
	}
	p.Linear.Bias = append([]float32(nil), b.f...)
	im.runtime(n, x.t, x.shape)
	return nil
}

// readers counts the nodes (and graph output) reading ir tensor t under any
// of its ONNX names (Identity and Dropout give it several).
func (im *importer) readers(t int) int {
	n := 0
	for name, v := range im.vals {
		if v.c == nil && v.proto == nil && v.t == t {
			n += im.uses[name]
		}
	}
	return n
}

// mean is ir's mean over H and W, as GlobalAveragePool or ReduceMean.
func (im *importer) mean(n *onnxpb.NodeProto, keep bool) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	t, err := im.addInfer(&ir.Node{Op: ir.OpMean}, x.t)
	if err != nil {
		return err
	}
	shape := []int{x.shape[0], x.shape[1]}
	if keep {
		shape = append(shape, 1, 1)
	}
	im.runtime(n, t, shape)
	return nil
}

func (im *importer) globalAvgPool(n *onnxpb.NodeProto, a *attrs) error { return im.mean(n, true) }

func (im *importer) reduceMean(n *onnxpb.NodeProto, a *attrs) error {
	keep, err := a.int("keepdims", 1)
	if err != nil {
		return err
	}
	var axes []int64
	if im.opset < 18 {
		if axes, err = a.ints("axes", nil); err != nil {
			return err
		}
	} else {
		if _, err := a.int("noop_with_empty_axes", 0); err != nil {
			return err
		}
		t, err := im.constInput(n, 1, "axes")
		if err != nil {
			return err
		}
		if t != nil {
			if !t.isInt() || t.hasBatch() {
				return errors.New("axes must be integers")
			}
			axes = t.i
		}
	}
	norm := map[int64]bool{}
	for _, ax := range axes {
		if ax < 0 {
			ax += 4
		}
		norm[ax] = true
	}
	if len(axes) != 2 || !norm[2] || !norm[3] {
		return fmt.Errorf("axes %v: ptqc supports the mean over H and W (axes 2, 3) of an NCHW tensor", axes)
	}
	if keep != 0 && keep != 1 {
		return fmt.Errorf("keepdims %d", keep)
	}
	return im.mean(n, keep == 1)
}

// toFeatures makes x a per-sample vector [N, F]: ir's Flatten, or nothing when
// its ir tensor already is one.
func (im *importer) toFeatures(n *onnxpb.NodeProto, x *value) error {
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	t := x.t
	if len(im.g.Tensors[t].Shape) != 1 {
		var err error
		if t, err = im.addInfer(&ir.Node{Op: ir.OpFlatten}, x.t); err != nil {
			return err
		}
	}
	im.runtime(n, t, []int{x.shape[0], im.g.Tensors[t].Elems()})
	return nil
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

// reshape supports what classifiers do: [N, ...] to [N, features].
func (im *importer) reshape(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return err
	}
	s, err := im.constInput(n, 1, "shape")
	if err != nil {
		return err
	}
	if s == nil || !s.isInt() || len(s.dims) != 1 {
		return errors.New("shape (input 1) must be a 1-D integer constant")
	}
	if az, err := a.int("allowzero", 0); err != nil || az != 0 {
		return fmt.Errorf("allowzero %d is not supported (%v)", az, err)
	}
	feat := im.g.Tensors[x.t].Elems()
	target := fmt.Sprint(s.i)
	if s.hasBatch() {
		target = strings.Replace(fmt.Sprint(s.i), fmt.Sprint(s.i[0]), "N", 1)
	}
	if len(s.i) != 2 {
		return fmt.Errorf("target shape %s: ptqc reshapes only to [N, features]", target)
	}
	first := s.i[0] == 0 || (s.batch != nil && s.batch[0]) || (im.batch > 0 && s.i[0] == int64(im.batch)) || (s.i[0] == -1 && s.i[1] == int64(feat))
	second := s.i[1] == -1 || s.i[1] == int64(feat) || (s.i[1] == 0 && len(x.shape) > 1 && x.shape[1] == feat)
	if !first || !second || (s.batch != nil && s.batch[1]) {
		return fmt.Errorf("target shape %s of %v: ptqc reshapes only to [N, features]", target, x.shape)
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
	for _, p := range []struct {
		name string
		want float32
	}{{"alpha", 1}, {"beta", 1}} {
		if v, err := a.float(p.name, 1); err != nil || v != p.want {
			return fmt.Errorf("%s %v: ptqc supports 1 (%v)", p.name, v, err)
		}
	}
	if ta, err := a.int("transA", 0); err != nil || ta != 0 {
		return fmt.Errorf("transA %d: ptqc supports 0 (%v)", ta, err)
	}
	tb, err := a.int("transB", 0)
	if err != nil {
		return err
	}
	wt, err := im.constInput(n, 1, "weight")
	if err != nil {
		return err
	}
	if wt == nil || len(wt.dims) != 2 {
		return errors.New("B (input 1) must be a 2-D constant")
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
	bt, err := im.constInput(n, 2, "C")
	if err != nil {
		return err
	}
	if bt != nil {
		dims := bt.dims
		if len(dims) == 2 && dims[0] == 1 {
			dims = dims[1:]
		}
		if !ir.EqualShape(dims, []int{out}) {
			return fmt.Errorf("C %v: ptqc supports a bias [M] or [1, M] (M = %d)", bt.dims, out)
		}
		if l.Bias, err = finite("C", n.GetInput()[2], bt, bt.dims...); err != nil {
			return err
		}
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	t, err := im.addInfer(&ir.Node{Op: ir.OpLinear, Linear: l}, x.t)
	if err != nil {
		return err
	}
	im.runtime(n, t, []int{x.shape[0], out})
	return nil
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
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	out := wt.dims[1]
	t, err := im.addInfer(&ir.Node{Op: ir.OpLinear, Linear: &ir.Linear{In: in, Out: out, Weight: transpose(w, in, out)}}, x.t)
	if err != nil {
		return err
	}
	im.runtime(n, t, []int{x.shape[0], out})
	return nil
}

func (im *importer) maxPool(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	k, s, p, err := spatial(a, nil)
	if err != nil {
		return err
	}
	if c, err := a.int("ceil_mode", 0); err != nil || c != 0 {
		return fmt.Errorf("ceil_mode %d: ptqc supports 0 (%v)", c, err)
	}
	if so, err := a.int("storage_order", 0); err != nil || so != 0 {
		return fmt.Errorf("storage_order %d: ptqc supports 0 (%v)", so, err)
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	t, err := im.addInfer(&ir.Node{Op: ir.OpMaxPool, Pool: &ir.Pool{Window: ir.SquareWindow(k, s, p)}}, x.t)
	if err != nil {
		return err
	}
	im.runtime(n, t, im.withBatch(t))
	return nil
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
