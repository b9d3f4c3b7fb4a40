package onnx

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"github.com/ptqc/ptqc/ir"
)

// Limits of the graphs the import accepts.
const (
	maxNodes    = 1 << 16 // nodes in the graph
	maxDim      = 1 << 14 // input height, width and channels, like a description's
	maxFoldSize = 1 << 16 // elements of a constant computed by folding
)

// value is what an ONNX name stands for during the import: a constant, or a
// runtime tensor of the ir graph (t) with its ONNX shape, batch axis first.
type value struct {
	c     *tensor
	proto *onnxpb.TensorProto // an initializer not decoded yet
	t     int
	shape []int
	// pads is a zero Pad of H and W not applied to t yet, [top, left,
	// bottom, right]: only a Conv or AveragePool may read the value.
	pads []int
	// view marks a 5-D view of t in a channel shuffle: only Transpose and
	// Reshape may read the value.
	view *shuffleView
	// squeezed marks a channel picked by a Gather ([N, H, W]; t is [1,H,W]):
	// only the Unsqueeze that puts the axis back may read the value.
	squeezed bool
	// half marks [N, F, 1], t lifted to [F,1,1]: only the Unsqueeze of axis
	// 3 that makes it [N, F, 1, 1] may read the value.
	half bool
	// expand is the shape an Expand broadcast t's [N, C, 1, 1] to, t left
	// as it is: only a Mul by a value of that shape may read it.
	expand []int
	// cols marks [N, C, H*W], t's [C, H, W] viewed with its plane flat
	// (x.view(n, c, -1), or a reduction over H or W alone): only a
	// ReduceMean, ReduceMax or ReduceSum over its last axis (a global pool
	// of t) may read it.
	cols bool
	// row marks [N, 1, C], the transpose of a pooled [N, C, 1] over t's
	// [C,1,1]: only ECA's 1-D Conv along it or the Transpose back may read
	// it (eca.go).
	row bool
}

type importer struct {
	opset int
	// softmaxes are the Softmax and LogSoftmax nodes by output tensor: only
	// the graph's output may be one.
	softmaxes map[int]*onnxpb.NodeProto
	g         *ir.Graph
	vals      map[string]*value
	uses      map[string]int // readers of each name among live nodes, plus the graph output
	// shapeUses counts the Shape nodes among uses: they read no values.
	shapeUses map[string]int
	batch     int // the input's batch size, 0 when dynamic
	names     map[*onnxpb.NodeProto]string
	used      map[string]bool   // ir node names given
	node      *onnxpb.NodeProto // the node being imported
	// size is the [C, H, W] a description gives for the graph's input, nil
	// when none.
	size []int
	// anyIO lifts the checks on the graph's input and output (an image in,
	// [N, classes] out) for ONNX's node tests: any float input of rank 2 to
	// 4 with a static batch, any output.
	anyIO bool
}

// Import maps a decoded model onto ptqc's unfused float graph: a Quant node
// after the input, the graph's nodes, a DeQuant node before the output, every
// shape inferred. The ONNX graph must have one float input [N, C, H, W] (N
// static or dynamic) and one output [N, classes] (or [N, classes, 1, 1]).
func Import(m *Model) (*ir.Graph, error) {
	return importGraph(m, nil, false)
}

// ImportInput is Import of a graph whose input may have symbolic height,
// width or channels (an export with dynamic spatial axes): input, [C, H,
// W], gives them.
func ImportInput(m *Model, input []int) (*ir.Graph, error) {
	if input != nil && len(input) != 3 {
		return nil, fmt.Errorf("input %v: want [channels, height, width]", input)
	}
	return importGraph(m, input, false)
}

func importGraph(m *Model, size []int, anyIO bool) (*ir.Graph, error) {
	gp := m.Proto.GetGraph()
	im := &importer{opset: m.Opset, vals: map[string]*value{}, uses: map[string]int{}, shapeUses: map[string]int{}, used: map[string]bool{}, anyIO: anyIO, size: size}
	for _, t := range gp.GetInitializer() {
		if _, dup := im.vals[t.GetName()]; dup || t.GetName() == "" {
			return nil, fmt.Errorf("initializer %q: empty or given twice", t.GetName())
		}
		im.vals[t.GetName()] = &value{proto: t}
	}
	im.g = &ir.Graph{Name: gp.GetName()}
	var input string
	for _, vi := range gp.GetInput() {
		if _, ok := im.vals[vi.GetName()]; ok {
			continue // IR < 4 lists initializers among the inputs
		}
		if input != "" {
			return nil, fmt.Errorf("graph inputs %q and %q: ptqc imports graphs with one input (the image)", input, vi.GetName())
		}
		input = vi.GetName()
		shape, err := im.inputShape(vi)
		if err != nil {
			return nil, fmt.Errorf("graph input %q: %w", input, err)
		}
		id := im.g.NewTensor(shape[1:])
		im.g.Input = id
		q := im.g.Add(&ir.Node{Op: ir.OpQuant, Name: "quant"}, id)
		im.g.Tensors[q].Shape = append([]int(nil), shape[1:]...)
		im.vals[input] = &value{t: q, shape: shape}
	}
	if input == "" {
		return nil, errors.New("the graph has no input besides its initializers")
	}
	if len(gp.GetOutput()) != 1 {
		return nil, fmt.Errorf("the graph has %d outputs: ptqc imports graphs with one (the logits)", len(gp.GetOutput()))
	}
	output := gp.GetOutput()[0].GetName()
	nodes, err := im.upgrade(gp.GetNode())
	if err != nil {
		return nil, err
	}
	order, err := im.liveOrder(nodes, output)
	if err != nil {
		return nil, err
	}
	for _, n := range order {
		op := n.GetOpType()
		if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
			continue
		}
		if transformerOps[op] {
			return nil, fmt.Errorf("node %q (%s): %w", displayName(n), op, errTransformer("op "+op))
		}
		if op == "InstanceNormalization" {
			// GroupNorm exports as a Reshape to [N, G, -1] first: name the norm, not the reshape.
			return nil, fmt.Errorf("node %q (%s): normalization by statistics of each sample (InstanceNorm, GroupNorm) is not supported: ptqc folds BatchNorm's running statistics", displayName(n), op)
		}
	}
	im.names = nodeNames(order)
	for _, n := range order {
		im.node = n
		if err := im.importNode(n); err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", displayName(n), n.GetOpType(), err)
		}
	}
	out := im.vals[output]
	if out == nil || out.c != nil || out.proto != nil {
		return nil, fmt.Errorf("graph output %q is a constant, not computed from the input", output)
	}
	if out.t == im.vals[input].t && !im.anyIO {
		return nil, fmt.Errorf("graph output %q is the input", output)
	}
	if out.pads != nil || out.view != nil || out.squeezed {
		return nil, fmt.Errorf("graph output %q is a zero Pad, a 5-D view or a channel without its axis, which ptqc computes only inside the ops after them", output)
	}
	if classMap(out) && !im.anyIO {
		im.node = nil
		if out, err = im.flat(out); err != nil {
			return nil, fmt.Errorf("graph output %q: %w", output, err)
		}
	}
	if len(out.shape) != 2 && !im.anyIO {
		return nil, fmt.Errorf("graph output %q has shape %v, want [N, classes] or [N, classes, 1, 1]", output, out.shape)
	}
	if sh := gp.GetOutput()[0].GetType().GetTensorType().GetShape(); sh != nil && !im.anyIO {
		// The declared shape, where the exporter wrote one, must be what was computed.
		dims := sh.GetDim()
		classes := len(dims) == 2 || len(dims) == 4 && dims[2].GetDimValue() == 1 && dims[3].GetDimValue() == 1
		if !classes || (dims[1].GetDimParam() == "" && dims[1].GetDimValue() != int64(out.shape[1])) {
			var decl []string
			for _, d := range dims {
				if d.GetDimParam() != "" {
					decl = append(decl, d.GetDimParam())
				} else {
					decl = append(decl, fmt.Sprint(d.GetDimValue()))
				}
			}
			return nil, fmt.Errorf("graph output %q is declared [%s] but computes [N, %d]", output, strings.Join(decl, ", "), out.shape[1])
		}
	}
	for _, nd := range im.g.Nodes {
		if n := im.softmaxes[nd.Out]; n != nil && nd.Out != out.t {
			return nil, fmt.Errorf("node %q (%s): ptqc applies a %[2]s only to the graph's output, over its classes", displayName(n), n.GetOpType())
		}
	}
	im.g.Output = im.add(&ir.Node{Op: ir.OpDeQuant, Name: "dequant"}, out.t)
	fuseReLUs(im.g)
	if err := ir.InferShapes(im.g); err != nil {
		return nil, err
	}
	if err := im.g.Work().Check(); err != nil {
		return nil, err
	}
	return im.g, nil
}

// inputShape reads the graph input's type: float32 [N, C, H, W].
func (im *importer) inputShape(vi *onnxpb.ValueInfoProto) ([]int, error) {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return nil, errors.New("not a tensor")
	}
	// A float16 input (a model converted to float16) is computed in float32
	// as the rest of its graph is.
	if et := tt.GetElemType(); et != int32(onnxpb.TensorProto_FLOAT) && et != int32(onnxpb.TensorProto_FLOAT16) {
		return nil, fmt.Errorf("element type %s, want FLOAT (or FLOAT16)", onnxpb.TensorProto_DataType(et))
	}
	dims := tt.GetShape().GetDim()
	if len(dims) != 4 && !(im.anyIO && len(dims) >= 2 && len(dims) <= 4) {
		return nil, fmt.Errorf("%d dimensions, want 4 (N, C, H, W)", len(dims))
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		v := d.GetDimValue()
		if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); !ok {
			if i == 0 {
				continue // a dynamic batch axis
			}
			if im.size == nil || len(dims) != 4 {
				return nil, fmt.Errorf("dimension %d is not a number (%q): give the input's size in a JSON description, {\"graph\": \"<the .onnx file>\", \"input\": [C, H, W]}", i, d.GetDimParam())
			}
			v = int64(im.size[i-1]) // load.describe checks the numbers against it
		}
		if v < 1 || v > maxDim {
			return nil, fmt.Errorf("dimension %d is %d: want 1 to %d", i, v, maxDim)
		}
		shape[i] = int(v)
	}
	e := 1.0
	for _, d := range shape[1:] {
		e *= float64(d)
	}
	if e > ir.MaxTensorElems {
		return nil, fmt.Errorf("%v has %.3g elements per sample, more than the limit of %d", shape[1:], e, ir.MaxTensorElems)
	}
	im.batch = shape[0]
	if im.anyIO && im.batch == 0 {
		return nil, errors.New("a dynamic batch")
	}
	if shape[1] != 1 && shape[1] != 3 && !im.anyIO {
		return nil, fmt.Errorf("%d channels: want 1 or 3", shape[1])
	}
	return shape, nil
}

// liveOrder returns the nodes the output depends on, in an order where each
// comes after the producers of its inputs, and counts the readers of each name.
func (im *importer) liveOrder(nodes []*onnxpb.NodeProto, output string) ([]*onnxpb.NodeProto, error) {
	if len(nodes) > maxNodes {
		return nil, fmt.Errorf("%d nodes: at most %d", len(nodes), maxNodes)
	}
	producer := map[string]int{}
	for i, n := range nodes {
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if _, ok := im.vals[o]; ok {
				return nil, fmt.Errorf("node %q (%s): output %q is also a graph input or initializer", displayName(n), n.GetOpType(), o)
			}
			if j, ok := producer[o]; ok {
				return nil, fmt.Errorf("nodes %q and %q both write %q", displayName(nodes[j]), displayName(n), o)
			}
			producer[o] = i
		}
	}
	if _, ok := producer[output]; !ok {
		if _, ok := im.vals[output]; !ok {
			return nil, fmt.Errorf("graph output %q is not written by any node", output)
		}
	}
	live := make([]bool, len(nodes))
	stack := []string{output}
	im.uses[output]++
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, ok := producer[name]
		if !ok || live[i] {
			continue
		}
		live[i] = true
		for _, in := range nodes[i].GetInput() {
			if in == "" {
				continue
			}
			if _, ok := producer[in]; !ok {
				if _, ok := im.vals[in]; !ok {
					return nil, fmt.Errorf("node %q (%s): input %q is not a graph input, an initializer or a node's output", displayName(nodes[i]), nodes[i].GetOpType(), in)
				}
			}
			stack = append(stack, in)
		}
	}
	// Kahn's algorithm over the live nodes, in file order where possible.
	deps := make([]int, len(nodes))
	readers := map[string][]int{}
	count := 0
	for i, n := range nodes {
		if !live[i] {
			continue
		}
		count++
		for _, in := range n.GetInput() {
			if in == "" {
				continue
			}
			im.uses[in]++
			if n.GetOpType() == "Shape" {
				im.shapeUses[in]++
			}
			if _, ok := producer[in]; ok {
				deps[i]++
				readers[in] = append(readers[in], i)
			}
		}
	}
	var ready []int
	for i := range nodes {
		if live[i] && deps[i] == 0 {
			ready = append(ready, i)
		}
	}
	var order []*onnxpb.NodeProto
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		order = append(order, nodes[i])
		for _, o := range nodes[i].GetOutput() {
			for _, r := range readers[o] {
				if deps[r]--; deps[r] == 0 {
					ready = append(ready, r)
				}
			}
		}
	}
	if len(order) != count {
		for i, n := range nodes {
			if live[i] && deps[i] > 0 {
				return nil, fmt.Errorf("node %q (%s) is on a cycle", displayName(n), n.GetOpType())
			}
		}
	}
	return order, nil
}

// displayName names a node in messages: its name, else its first output.
func displayName(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	if len(n.GetOutput()) > 0 {
		return "-> " + n.GetOutput()[0]
	}
	return ""
}

// nodeNames gives each node the ir name printed by inspect and report: the
// PyTorch module path that torch.onnx.export's scoped names spell
// ("/layer1/layer1.0/conv1/Conv" is layer1.0.conv1), with the op's segment
// added where one module gave several nodes, else the ONNX name.
func nodeNames(order []*onnxpb.NodeProto) map[*onnxpb.NodeProto]string {
	cand := map[*onnxpb.NodeProto][2]string{}
	count := map[string]int{}
	for _, n := range order {
		segs := strings.Split(strings.TrimPrefix(n.GetName(), "/"), "/")
		// A Sequential's child is named after the Sequential's attribute
		// ("/features/features.1/conv/conv.0"): it replaces that segment.
		path, base, prev := "", "", ""
		for _, s := range segs[:len(segs)-1] {
			if prev != "" && strings.HasPrefix(s, prev+".") {
				path = base + s
			} else {
				if path != "" {
					base = path + "."
				}
				path = base + s
			}
			prev = s
		}
		cand[n] = [2]string{path, segs[len(segs)-1]}
		count[path]++
	}
	names := map[*onnxpb.NodeProto]string{}
	used := map[string]bool{"quant": true, "dequant": true}
	for _, n := range order {
		c := cand[n]
		name := c[0]
		switch {
		case name == "" && n.GetName() != "":
			name = strings.TrimPrefix(n.GetName(), "/")
		case name == "":
			name = n.GetOpType()
		case count[name] > 1:
			name += "/" + c[1]
		}
		base := name
		for k := 1; used[name]; k++ {
			name = fmt.Sprintf("%s#%d", base, k)
		}
		used[name] = true
		names[n] = name
	}
	return names
}

// add appends an ir node reading in and returns its output tensor, whose
// shape it infers (errors name the node).
func (im *importer) add(n *ir.Node, in ...int) int {
	return im.g.Add(n, in...)
}

// addInfer is add followed by the new node's shape inference.
func (im *importer) addInfer(n *ir.Node, in ...int) (int, error) {
	if n.Name == "" {
		n.Name = im.names[im.node]
	}
	// One ONNX node may give several ir nodes (Split).
	for k, base := 1, n.Name; im.used[n.Name]; k++ {
		n.Name = fmt.Sprintf("%s#%d", base, k)
	}
	im.used[n.Name] = true
	out := im.g.Add(n, in...)
	if err := ir.InferShapes(&ir.Graph{Tensors: im.g.Tensors, Nodes: []*ir.Node{n}}); err != nil {
		return 0, err
	}
	// Bounded at each node, so that no chain of concats overflows a shape.
	e := 1.0
	for _, d := range im.g.Tensors[out].Shape {
		e *= float64(d)
	}
	if e > ir.MaxTensorElems {
		return 0, fmt.Errorf("output %v has %.3g elements per sample, more than the limit of %d", im.g.Tensors[out].Shape, e, ir.MaxTensorElems)
	}
	return out, nil
}

// input returns the node's input k, nil when absent (optional).
func (im *importer) input(n *onnxpb.NodeProto, k int) (*value, error) {
	ins := n.GetInput()
	if k >= len(ins) || ins[k] == "" {
		return nil, nil
	}
	v := im.vals[ins[k]]
	if v == nil {
		return nil, fmt.Errorf("input %q has no value", ins[k])
	}
	if v.proto != nil {
		c, err := decodeTensor(v.proto)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", ins[k], err)
		}
		v.c, v.proto = c, nil
	}
	return v, nil
}

// constOfRank returns input k, which must be a constant of rank r; want is
// the error when it is absent or of another rank.
func (im *importer) constOfRank(n *onnxpb.NodeProto, k int, what string, r int, want string) (*tensor, error) {
	t, err := im.constInput(n, k, what)
	if err != nil {
		return nil, err
	}
	if t == nil || len(t.dims) != r {
		return nil, errors.New(want)
	}
	return t, nil
}

// constInput returns input k, which must be a constant (nil when absent).
func (im *importer) constInput(n *onnxpb.NodeProto, k int, what string) (*tensor, error) {
	v, err := im.input(n, k)
	if err != nil || v == nil {
		return nil, err
	}
	if v.c == nil {
		return nil, fmt.Errorf("%s (input %d, %q) is computed at run time; ptqc needs a constant", what, k, n.GetInput()[k])
	}
	return v.c, nil
}

// runtimeInput returns input k, which must be computed from the graph input.
func (im *importer) runtimeInput(n *onnxpb.NodeProto, k int) (*value, error) {
	v, err := im.input(n, k)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("input %d is missing", k)
	}
	if v.c != nil {
		return nil, fmt.Errorf("input %d (%q) is a constant where ptqc supports only values computed from the graph input", k, n.GetInput()[k])
	}
	if v.pads != nil {
		return nil, fmt.Errorf("input %d (%q) is a Pad's output: ptqc takes zero padding only into a Conv or AveragePool", k, n.GetInput()[k])
	}
	if v.squeezed {
		return nil, fmt.Errorf("input %d (%q) is one channel without its axis: ptqc takes it only into an Unsqueeze of axis 1 (torchvision's transform_input)", k, n.GetInput()[k])
	}
	if v.half {
		return nil, fmt.Errorf("input %d (%q) is [N, F, 1]: ptqc takes it only into an Unsqueeze of axis 3", k, n.GetInput()[k])
	}
	if v.cols {
		return nil, fmt.Errorf("input %d (%q) is [N, C, H*W], a map with its plane flattened: ptqc takes it only into a ReduceMean, ReduceMax or ReduceSum over the last axis", k, n.GetInput()[k])
	}
	if v.row {
		return nil, fmt.Errorf("input %d (%q) is the pooled channels as a row ([N, 1, %d]): ptqc takes it only into a 1-D Conv of one channel along them (ECA-Net's) or the Transpose back", k, n.GetInput()[k], v.shape[2])
	}
	if v.expand != nil {
		return nil, fmt.Errorf("input %d (%q) is an Expand to %v: ptqc takes it only into a Mul by a value of that shape", k, n.GetInput()[k], v.expand)
	}
	if v.view != nil {
		return nil, fmt.Errorf("input %d (%q) is a 5-D reshape %v: ptqc supports 5-D reshapes and transposes only as ShuffleNet's channel shuffle (view [N, g, C/g, H, W], transpose(1, 2), view [N, C, H, W])", k, n.GetInput()[k], v.shape)
	}
	return v, nil
}

// set binds the node's output k.
func (im *importer) set(n *onnxpb.NodeProto, k int, v *value) {
	im.vals[n.GetOutput()[k]] = v
}

// onlyOutputs fails if a node output beyond the first k is read.
func (im *importer) onlyOutputs(n *onnxpb.NodeProto, k int) error {
	for i, o := range n.GetOutput() {
		if i >= k && o != "" && im.uses[o] > 0 {
			return fmt.Errorf("output %d (%q) is used, which ptqc does not support", i, o)
		}
	}
	if len(n.GetOutput()) < k {
		return fmt.Errorf("has %d outputs, want %d", len(n.GetOutput()), k)
	}
	return nil
}

// weights returns a float constant input with the given dims, finite.
func (im *importer) weights(n *onnxpb.NodeProto, k int, what string, dims ...int) ([]float32, error) {
	t, err := im.constInput(n, k, what)
	if err != nil || t == nil {
		return nil, err
	}
	return finite(what, n.GetInput()[k], t, dims...)
}

// finite returns the values of a float constant with the given dims (any
// when nil), failing on NaN or Inf.
func finite(what, name string, t *tensor, dims ...int) ([]float32, error) {
	if t.isInt() {
		return nil, fmt.Errorf("%s %q: dtype %s, want a float", what, name, t.dtype)
	}
	if dims != nil && !ir.EqualShape(t.dims, dims) {
		return nil, fmt.Errorf("%s %q: shape %v, want %v", what, name, t.dims, dims)
	}
	for i, v := range t.f {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%s %q: element %d is %v", what, name, i, v)
		}
	}
	return append([]float32(nil), t.f...), nil
}

// fuseReLUs simplifies two forms torch writes: ReLU then Clip(0, 6) (relu6
// in opset 11+) is one ReLU6, and an Add whose sum only a ReLU reads takes the
// ReLU as its activation, as the description's residual blocks have it.
func fuseReLUs(g *ir.Graph) {
	keep := g.Nodes[:0]
	drop := map[*ir.Node]bool{}
	for _, n := range g.Nodes {
		if n.Op != ir.OpReLU6 && n.Op != ir.OpReLU {
			continue
		}
		p := g.Producer(n.In[0])
		if p == nil || p.Out == g.Output || len(g.Consumers(p.Out)) != 1 {
			continue
		}
		switch {
		case n.Op == ir.OpReLU6 && p.Op == ir.OpReLU:
			n.In[0] = p.In[0]
			drop[p] = true
		case n.Op == ir.OpReLU && (p.Op == ir.OpAdd || p.Op == ir.OpSub) && p.Act == ir.ActNone:
			p.Act, p.Out = ir.ActReLU, n.Out
			drop[n] = true
		}
	}
	for _, n := range g.Nodes {
		if !drop[n] {
			keep = append(keep, n)
		}
	}
	g.Nodes = keep
}
