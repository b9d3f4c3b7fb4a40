// Package ir holds ptqc's float graph: tensors with shapes, nodes named after the
// PyTorch modules they come from, the passes that fold and fuse them, a printer
// and a float32 interpreter.
package ir

import "fmt"

// Op is the kind of a node.
type Op int

// The node kinds. Quant and DeQuant mark where the int8 region begins and ends;
// in the float graph they are identities.
const (
	OpQuant Op = iota
	OpDeQuant
	OpConv
	OpBatchNorm
	OpReLU
	OpReLU6
	OpAdd
	OpMean // mean over H and W: [C,H,W] -> [C]
	OpFlatten
	OpLinear
	OpDropout
	OpIdentity
	OpMaxPool // max over windows (Pool), padding never chosen
	OpAvgPool // mean over windows (Pool), padding counted or not
	OpSigmoid
	OpHardSigmoid // clamp(Alpha*x + Beta, 0, 1)
	OpHardSwish   // x * clamp(x/6 + 1/2, 0, 1)
	OpLeakyReLU   // x < 0 ? Alpha*x : x
	OpSiLU        // x * sigmoid(x)
	OpAffine      // x*Scale[c] + Shift[c] per channel: a BatchNorm that folds into no conv, x*k+b by constants
	OpMul         // elementwise product; the second operand may be [C,1,1] (squeeze-excitation)
	OpConcat      // along channels
	OpSlice       // channels [Start, End)
	OpShuffle     // channel permutation: out[c] = in[Perm[c]]
	OpSoftmax     // softmax over the features of a [F] output
	OpLogSoftmax  // log_softmax over the features of a [F] output
	OpTanh
	OpELU        // x > 0 ? x : Alpha*(exp(x) - 1)
	OpSoftplus   // log(1 + exp(x))
	OpMish       // x * tanh(softplus(x))
	OpClip       // clamp(x, Alpha, Beta): Hardtanh, clamp
	OpPReLU      // x < 0 ? Slope[c]*x : x, a slope per channel
	OpChannelMax // max over the channels of each pixel: [C,H,W] -> [1,H,W]
	OpSub        // In[0] - In[1], equal shapes; Act as OpAdd
	OpSELU       // Beta * (x > 0 ? x : Alpha*(exp(x) - 1))
	OpCELU       // x > 0 ? x : Alpha*(exp(x/Alpha) - 1)
	OpSoftsign   // x / (1 + |x|)
	OpAbs
	OpErf
	OpGELU // x/2 * (1 + erf(x/sqrt(2)))
)

var opNames = [...]string{"Quant", "DeQuant", "Conv2d", "BatchNorm2d", "ReLU", "ReLU6", "Add", "Mean", "Flatten", "Linear", "Dropout", "Identity", "MaxPool2d",
	"AvgPool2d", "Sigmoid", "Hardsigmoid", "Hardswish", "LeakyReLU", "SiLU", "Affine", "Mul", "Concat", "Slice", "ChannelShuffle", "Softmax", "LogSoftmax",
	"Tanh", "ELU", "Softplus", "Mish", "Hardtanh", "PReLU", "ChannelMax", "Sub",
	"SELU", "CELU", "Softsign", "Abs", "Erf", "GELU"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Act is an activation fused into a Conv, Linear, Add or Affine.
type Act int

// Fused activations.
const (
	ActNone Act = iota
	ActReLU
	ActReLU6
)

// Apply is v after the activation: PyTorch's relu and relu6 (a NaN stays NaN).
func (a Act) Apply(v float32) float32 {
	switch a {
	case ActReLU:
		if v < 0 {
			return 0
		}
	case ActReLU6:
		return min(max(v, 0), 6)
	}
	return v
}

// Tensor is a value flowing between nodes. Shape is per sample: [C,H,W] or [F].
type Tensor struct {
	ID    int
	Shape []int
}

// Elems is the number of elements of one sample.
func (t *Tensor) Elems() int { return Elems(t.Shape) }

// Elems is the number of elements of a shape.
func Elems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Window is the geometry of a 2-D sliding window: a KH x KW kernel with
// strides SH, SW, padding PadT (top), PadL, PadB, PadR, dilation DH, DW.
type Window struct {
	KH, KW, SH, SW         int
	PadT, PadL, PadB, PadR int
	DH, DW                 int
}

// SquareWindow is a k x k window of stride s, padding p on every side, dilation 1.
func SquareWindow(k, s, p int) Window {
	return Window{KH: k, KW: k, SH: s, SW: s, PadT: p, PadL: p, PadB: p, PadR: p, DH: 1, DW: 1}
}

// Square returns the kernel, stride and padding of a square window with
// equal padding on every side and dilation 1; ok is false for any other.
func (w *Window) Square() (k, s, p int, ok bool) {
	ok = w.KH == w.KW && w.SH == w.SW && w.PadT == w.PadL && w.PadT == w.PadB && w.PadT == w.PadR && w.DH == 1 && w.DW == 1
	return w.KH, w.SH, w.PadT, ok
}

// unpadded1x1 reports a 1x1 kernel with no padding on one group: it never
// reads a border.
func (c *Conv) unpadded1x1() bool {
	return c.KH == 1 && c.KW == 1 && c.PadT == 0 && c.PadL == 0 && c.PadB == 0 && c.PadR == 0 && c.Groups == 1
}

// Taps is the number of kernel positions, KH*KW.
func (w *Window) Taps() int { return w.KH * w.KW }

// MaxPad is the largest of the four pads: the zero-point border a padded
// copy of the input needs on every side for any output pixel's taps.
func (w *Window) MaxPad() int { return max(w.PadT, w.PadL, w.PadB, w.PadR) }

// Conv is a 2-D convolution.
type Conv struct {
	InC, OutC, Groups int
	Window
	Weight []float32 // OutC x InC/Groups x KH x KW
	Bias   []float32 // OutC, or nil
	// OutMean and OutStd are the folded BatchNorm's beta and |gamma|: the mean and
	// standard deviation of each output channel before activation, as BN learned
	// them. High-bias absorption estimates the ReLU's effect from them; nil without BN.
	OutMean, OutStd []float32
}

// WeightShape is the PyTorch shape of the weight.
func (c *Conv) WeightShape() []int { return []int{c.OutC, c.InC / c.Groups, c.KH, c.KW} }

// Depthwise reports whether each group has one input and one output channel.
func (c *Conv) Depthwise() bool { return c.Class() == ConvDepthwise }

// Class is how the conv is computed (ClassifyConv).
func (c *Conv) Class() ConvClass {
	if k, s, p, ok := c.Square(); ok {
		return ClassifyConv(c.InC, c.OutC, k, s, p, c.Groups)
	}
	return ClassifyConv(c.InC, c.OutC, 0, 0, 0, c.Groups) // not pointwise
}

// ConvClass is how a conv is computed. The interpreters, the weight packing
// and every kernel generator take it from ClassifyConv, so that they agree.
type ConvClass int

// The conv classes.
const (
	// ConvPointwise is a 1x1 conv of stride 1, no padding and one group: a
	// dot product per output over one pixel's channels, read in place.
	ConvPointwise ConvClass = iota
	// ConvDense is any other conv with one group: dot products over a
	// gathered k x k patch (strided, padded).
	ConvDense
	// ConvDepthwise has one input and one output channel per group, and
	// more than one group.
	ConvDepthwise
	// ConvGrouped is any other grouped conv.
	ConvGrouped
)

// ClassifyConv is the class of a conv of this geometry (a linear layer is a
// pointwise conv on a 1x1 map).
func ClassifyConv(inC, outC, kernel, stride, pad, groups int) ConvClass {
	switch {
	case groups == 1 && kernel == 1 && stride == 1 && pad == 0:
		return ConvPointwise
	case groups == 1:
		return ConvDense
	case groups == inC && groups == outC:
		return ConvDepthwise
	}
	return ConvGrouped
}

// BatchNorm is BatchNorm2d in eval mode.
type BatchNorm struct {
	C                       int
	Weight, Bias, Mean, Var []float32
	Eps                     float32
}

// Linear is y = W x + b.
type Linear struct {
	In, Out int
	Weight  []float32 // Out x In
	Bias    []float32 // Out, or nil
}

// Pool is a pooling window. Ceil rounds the output size up (ceil_mode) as
// PyTorch does: a last window must start inside the input or its left
// padding. CountPad makes AvgPool divide by the window's size including
// padding (count_include_pad), else by the input elements it covers.
type Pool struct {
	Window
	Ceil, CountPad bool
}

// Unary holds the constants of an elementwise op (LeakyReLU's slope,
// HardSigmoid's alpha and beta, ELU's and CELU's alpha, SELU's alpha and
// scale, Clip's bounds).
type Unary struct{ Alpha, Beta float32 }

// Affine is y = x*Scale[c] + Shift[c] over the C channels of the input
// (features of a 1-D one).
type Affine struct {
	C            int
	Scale, Shift []float32
}

// Slice selects channels [Start, End).
type Slice struct{ Start, End int }

// Node is one operation. Name is the PyTorch module path it stands for
// (features.1.conv.0.0, classifier.1, ...), which is also the prefix of its weight keys.
type Node struct {
	Op     Op
	Name   string
	In     []int // tensor IDs
	Out    int
	Conv   *Conv
	BN     *BatchNorm
	Linear *Linear
	Pool   *Pool
	Unary  *Unary
	Affine *Affine
	Slice  *Slice
	Perm   []int     // OpShuffle
	Slope  []float32 // OpPReLU, one a channel
	Act    Act       // fused activation (Conv, Linear, Add, Affine)
}

// Graph is a DAG of nodes in topological order.
type Graph struct {
	Name    string
	Tensors []*Tensor
	Nodes   []*Node
	Input   int
	Output  int
}

// NewTensor adds a tensor with the given shape and returns its ID.
func (g *Graph) NewTensor(shape []int) int {
	id := len(g.Tensors)
	g.Tensors = append(g.Tensors, &Tensor{ID: id, Shape: append([]int(nil), shape...)})
	return id
}

// Add appends a node reading in and writing a new tensor; it returns that tensor's ID.
// The output's shape is filled in by InferShapes.
func (g *Graph) Add(n *Node, in ...int) int {
	n.In = in
	n.Out = g.NewTensor(nil)
	g.Nodes = append(g.Nodes, n)
	return n.Out
}

// Producer returns the node writing tensor id, or nil for the graph input.
func (g *Graph) Producer(id int) *Node {
	for _, n := range g.Nodes {
		if n.Out == id {
			return n
		}
	}
	return nil
}

// Consumers returns the nodes reading tensor id.
func (g *Graph) Consumers(id int) []*Node {
	var cs []*Node
	for _, n := range g.Nodes {
		for _, in := range n.In {
			if in == id {
				cs = append(cs, n)
				break
			}
		}
	}
	return cs
}

// Node returns the node with the given name, or nil.
func (g *Graph) Node(name string) *Node {
	return ByName(g.Nodes, func(n *Node) string { return n.Name }, name)
}

// ByName returns the first of nodes whose name (as name reads it) is want, or
// nil: the lookup of Graph.Node, shared with the node types of later stages.
func ByName[T any](nodes []*T, name func(*T) string, want string) *T {
	for _, n := range nodes {
		if name(n) == want {
			return n
		}
	}
	return nil
}

// Clone returns a deep copy of g: passes on the copy leave g untouched.
func (g *Graph) Clone() *Graph {
	c := &Graph{Name: g.Name, Input: g.Input, Output: g.Output}
	for _, t := range g.Tensors {
		c.Tensors = append(c.Tensors, &Tensor{ID: t.ID, Shape: append([]int(nil), t.Shape...)})
	}
	for _, n := range g.Nodes {
		m := *n
		m.In = append([]int(nil), n.In...)
		m.Pool, m.Unary, m.Slice = clonePtr(n.Pool), clonePtr(n.Unary), clonePtr(n.Slice)
		if m.Conv = clonePtr(n.Conv); m.Conv != nil {
			m.Conv.Weight, m.Conv.Bias = cloneF32(n.Conv.Weight), cloneF32(n.Conv.Bias)
			m.Conv.OutMean, m.Conv.OutStd = cloneF32(n.Conv.OutMean), cloneF32(n.Conv.OutStd)
		}
		if m.BN = clonePtr(n.BN); m.BN != nil {
			m.BN.Weight, m.BN.Bias = cloneF32(n.BN.Weight), cloneF32(n.BN.Bias)
			m.BN.Mean, m.BN.Var = cloneF32(n.BN.Mean), cloneF32(n.BN.Var)
		}
		if m.Linear = clonePtr(n.Linear); m.Linear != nil {
			m.Linear.Weight, m.Linear.Bias = cloneF32(n.Linear.Weight), cloneF32(n.Linear.Bias)
		}
		if m.Affine = clonePtr(n.Affine); m.Affine != nil {
			m.Affine.Scale, m.Affine.Shift = cloneF32(n.Affine.Scale), cloneF32(n.Affine.Shift)
		}
		m.Perm, m.Slope = append([]int(nil), n.Perm...), cloneF32(n.Slope)
		c.Nodes = append(c.Nodes, &m)
	}
	return c
}

// clonePtr is a shallow copy of *p, or nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func cloneF32(s []float32) []float32 {
	if s == nil {
		return nil
	}
	return append([]float32(nil), s...)
}

// ParamCount is the number of float parameters (weights, biases, BN affine and statistics).
func (g *Graph) ParamCount() int {
	n := 0
	for _, nd := range g.Nodes {
		switch {
		case nd.Conv != nil:
			c := nd.Conv
			n += c.OutC * c.InC / c.Groups * c.Taps()
			if c.Bias != nil {
				n += c.OutC
			}
		case nd.BN != nil:
			n += 4 * nd.BN.C
		case nd.Linear != nil:
			n += nd.Linear.Out * (nd.Linear.In + 1)
		case nd.Affine != nil:
			n += 2 * nd.Affine.C
		}
	}
	return n
}

// FloatBytes is the size of the parameters as float32 (plus one int64 per BatchNorm's
// num_batches_tracked), what PyTorch's state_dict of the model holds.
func (g *Graph) FloatBytes() int {
	b := 4 * g.ParamCount()
	for _, nd := range g.Nodes {
		if nd.BN != nil {
			b += 8
		}
	}
	return b
}
