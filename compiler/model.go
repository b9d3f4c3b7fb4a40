// Package compiler is the quantized model: it turns a calibrated float graph
// into one (frozen int8 weights, float biases, requantization multipliers,
// output qparams; Convert, BiasCorrect), saves and loads it (.ptqm), prints it
// as PyTorch does and runs it with the int8 reference interpreter. The driver
// that loads, calibrates and converts is package ptq.
package compiler

import (
	"fmt"

	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/runtime"
)

// Kind is the kind of a quantized node.
type Kind int

// Quantized node kinds.
const (
	KQuantize   Kind = iota // float32 -> uint8
	KConv                   // conv (+ReLU) with requantization
	KAdd                    // residual add
	KMean                   // mean over H,W keeping the input's qparams
	KLinear                 // fully connected (+ReLU) with requantization
	KDequantize             // uint8 -> float32
	KMaxPool                // max pool keeping the input's qparams
	KTable                  // elementwise op as a lookup table (per channel for an affine)
	KMul                    // product, elementwise or by a [C,1,1] operand
	KConcat                 // channel concatenation, requantizing inputs whose qparams differ
	KSlice                  // channels [Start, End), keeping the input's qparams
	KShuffle                // channel permutation, keeping the input's qparams
	KAvgPool                // average pool keeping the input's qparams
	KChannelMax             // max over each pixel's channels ([C,H,W] -> [1,H,W]), keeping the input's qparams
)

var kindNames = [...]string{"Quantize", "Conv", "Add", "Mean", "Linear", "Dequantize", "MaxPool",
	"Table", "Mul", "Concat", "Slice", "Shuffle", "AvgPool", "ChannelMax"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Tensor is a uint8 activation with its frozen scale and zero point. Shape is per sample.
type Tensor struct {
	ID    int     `json:"id"`
	Shape []int   `json:"shape"`
	Scale float64 `json:"scale"`
	Zero  int32   `json:"zero_point"`
}

// Elems is the number of elements of one sample.
func (t *Tensor) Elems() int { return ir.Elems(t.Shape) }

// Conv holds a quantized conv or linear layer (a linear is a 1x1 conv on a 1x1 map).
// acc[c] = sum((q_x - z_x) * w[c]); q_y = clamp(rne(float32(float32(acc[c]) * M[c]) + B[c]) + z_y, Lo, Hi).
type Conv struct {
	InC        int        `json:"in_channels"`
	OutC       int        `json:"out_channels"`
	Kernel     int        `json:"kernel"`
	Stride     int        `json:"stride"`
	Pad        int        `json:"padding"`
	Geom       *ir.Window `json:"window,omitempty"` // any other window; Kernel, Stride, Pad then 0
	Groups     int        `json:"groups"`
	Act        ir.Act     `json:"act"`
	PerChannel bool       `json:"per_channel"`
	WScale     []float64  `json:"weight_scale"` // per output channel (all equal when per tensor)
	M          []float32  `json:"multiplier"`   // float32(s_x * s_w[c] / s_y)
	Lo         int32      `json:"lo"`
	Hi         int32      `json:"hi"`
	B          []float32  `json:"bias"` // the bias in output units, float32(b[c] / s_y)
	Weight     []int8     `json:"-"`    // OutC x InC/Groups x Kernel x Kernel
}

// Class is how the conv is computed (ir.ClassifyConv).
func (c *Conv) Class() ir.ConvClass {
	if c.Geom != nil {
		return ir.ClassifyConv(c.InC, c.OutC, 0, 0, 0, c.Groups) // never pointwise
	}
	return ir.ClassifyConv(c.InC, c.OutC, c.Kernel, c.Stride, c.Pad, c.Groups)
}

// Window is the conv's window.
func (c *Conv) Window() ir.Window {
	if c.Geom != nil {
		return *c.Geom
	}
	return ir.SquareWindow(c.Kernel, c.Stride, c.Pad)
}

// Pool is a pooling window: a square one in Kernel, Stride, Pad (the
// .ptqm's keys since its first version), any other in Geom, Kernel, Stride
// and Pad then 0.
type Pool struct {
	Kernel, Stride, Pad int
	Geom                *ir.Pool `json:"window,omitempty"`
}

// Spec is p as an ir pool.
func (p *Pool) Spec() ir.Pool {
	if p.Geom != nil {
		return *p.Geom
	}
	return ir.Pool{Window: ir.SquareWindow(p.Kernel, p.Stride, p.Pad)}
}

// Window is p's window.
func (p *Pool) Window() ir.Window { return p.Spec().Window }

// poolOf is the Pool of an ir pool: square form when it has one.
func poolOf(p *ir.Pool) *Pool {
	if k, s, pad, ok := p.Square(); ok && !p.Ceil && !p.CountPad {
		return &Pool{Kernel: k, Stride: s, Pad: pad}
	}
	g := *p
	return &Pool{Geom: &g}
}

// Table maps each input byte to an output byte: quantize(f(dequantize(q)))
// with the input's and output's qparams, computed once at conversion. T
// holds one 256-entry table, or one per channel (a standalone affine).
type Table struct {
	Op ir.Op   `json:"op"`
	T  []uint8 `json:"table"`
	// Affine, with a per-channel table, holds the float32 steps T was
	// computed with, so that kernels can compute them on vector lanes
	// instead of looking each byte up; T[c*256+q] = Affine.Value(c, q)
	// (checked when a .ptqm is read).
	Affine *TableAffine `json:"affine,omitempty"`
}

// TableAffine is a per-channel affine's table as arithmetic:
// QuantizeValue(Act(float32(Dequantize(q, XScale, XZero)*Scale[c]) + Shift[c]), Inv, YZero).
type TableAffine struct {
	XScale float32   `json:"x_scale"`
	XZero  int32     `json:"x_zero"`
	Scale  []float32 `json:"scale"`
	Shift  []float32 `json:"shift"`
	Act    ir.Act    `json:"act"`
	Inv    float32   `json:"inv"` // float32(1 / s_y)
	YZero  int32     `json:"y_zero"`
}

// Value is channel c's output byte for input byte q.
func (a *TableAffine) Value(c int, q uint8) uint8 {
	v := runtime.Dequantize(q, a.XScale, a.XZero)
	return runtime.QuantizeValue(a.Act.Apply(float32(v*a.Scale[c])+a.Shift[c]), a.Inv, a.YZero)
}

// Mul is q_y = clamp(rne(float32(float32((a - z_a) * (b - z_b)) * M)) + z_y).
type Mul struct {
	M float32 `json:"m"`
}

// Concat holds, per input, the multiplier s_in/s_y that requantizes it,
// or 0 when its qparams are the output's (its bytes are copied).
type Concat struct {
	M []float32 `json:"m"`
}

// Add holds a quantized residual add's multipliers s_a/s_y and s_b/s_y. ReLU
// marks add_relu (a ResNet block's add and the ReLU after it): its output is
// clamped below at z_y.
type Add struct {
	MA   float32 `json:"ma"`
	MB   float32 `json:"mb"`
	ReLU bool    `json:"relu,omitempty"`
}

// Node is one quantized operation; Name is the PyTorch module path.
type Node struct {
	Kind   Kind      `json:"kind"`
	Name   string    `json:"name"`
	In     []int     `json:"in"`
	Out    int       `json:"out"`
	Conv   *Conv     `json:"conv,omitempty"`
	Add    *Add      `json:"add,omitempty"`
	Pool   *Pool     `json:"pool,omitempty"`
	Table  *Table    `json:"table,omitempty"`
	Mul    *Mul      `json:"mul,omitempty"`
	Concat *Concat   `json:"concat,omitempty"`
	Slice  *ir.Slice `json:"slice,omitempty"`
	Perm   []int     `json:"perm,omitempty"`
	// Softmax, on a Dequantize, is "softmax" or "log_softmax": applied to
	// each sample's dequantized outputs (runtime.Softmax, LogSoftmax).
	Softmax string `json:"softmax,omitempty"`
}

// softmaxNames are Node.Softmax's values.
var softmaxNames = map[ir.Op]string{ir.OpSoftmax: "softmax", ir.OpLogSoftmax: "log_softmax"}

// Post is the function a Dequantize applies to each sample's outputs after
// dequantizing them, nil for none.
func (n *Node) Post() func([]float32) {
	switch n.Softmax {
	case "softmax":
		return runtime.Softmax
	case "log_softmax":
		return runtime.LogSoftmax
	}
	return nil
}

// Version is ptqc's version, recorded in quantized models (Meta.Version) and
// generated packages.
const Version = "0.1.0"

// Meta records how a model was made, for reports and generated packages' doc.go.
type Meta struct {
	Version      string `json:"ptqc_version"`
	QConfig      string `json:"qconfig"`
	QConfigRepr  string `json:"qconfig_repr"`
	CalibSamples int    `json:"calibration_samples"`
	// The description's fields without the weights path, and the state_dict's
	// tensors (names, dtypes, shapes, data): by content, not by file, so that
	// a .pth and a safetensors file of the same weights give the same model.
	DescSHA256    string `json:"description_sha256"`
	WeightsSHA256 string `json:"weights_sha256"`
	Equalize      bool   `json:"equalize"`
	EqualizeNote  string `json:"equalize_note,omitempty"` // why -equalize was kept or dropped
	BiasCorrect   bool   `json:"bias_correct"`
	FloatBytes    int    `json:"float_bytes"`
}

// Model is a quantized graph, nodes in topological order.
type Model struct {
	Desc    *ir.Description `json:"description"`
	Meta    Meta            `json:"meta"`
	Tensors []*Tensor       `json:"tensors"`
	Nodes   []*Node         `json:"nodes"`
	Input   int             `json:"input"`
	Output  int             `json:"output"`
}

// InputShape is the per-sample input shape [C,H,W].
func (m *Model) InputShape() []int { return m.Tensors[m.Input].Shape }

// NumClasses is the per-sample output length.
func (m *Model) NumClasses() int { return m.Tensors[m.Output].Elems() }

// Bytes is the quantized model's parameter size: int8 weights, float32 biases and
// the per-layer qparams (float32 scale + int32 zero point per output tensor and
// weight channel), as a PyTorch quantized state_dict holds them.
func (m *Model) Bytes() int {
	b := 0
	for _, n := range m.Nodes {
		if c := n.Conv; c != nil {
			b += len(c.Weight) + 4*len(c.B) + 8*len(c.WScale)
		}
		b += 8
	}
	return b
}

// Node returns the node with the given name, or nil.
func (m *Model) Node(name string) *Node {
	return ir.ByName(m.Nodes, func(n *Node) string { return n.Name }, name)
}
