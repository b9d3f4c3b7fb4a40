// Package lower turns a quantized model into the lowered layer list that both
// code generators read: codegen (the Go package) and asmgen (its assembly).
// Neither imports the other; they meet here. Every layout is decided here:
//
//   - A layer's Kind: the node's kind, and for a conv or linear layer
//     ir.ClassifyConv's class. It decides the kernel and the weight packing.
//   - Activations are uint8 NHWC (channels last) in one arena per worker: a
//     pointwise conv is then a u8 x s8 GEMM over contiguous channels and a
//     depthwise conv a per-channel vector multiply-add, both vectorising over
//     channels. Tensors are placed first-fit in the order they become alive and their bytes
//     reused once dead (plan.go); convs write concat inputs in place and
//     slices read by strided readers move nothing (concat.go).
//   - Weights are packed per kind (pack.go): one packing serves the portable
//     Go kernels and every assembly tier. Accumulators start at
//     -z_x * sum(w[c]) (ZeroFold) and borders behave as if padded with z_x, so
//     kernels compute sum(q_x * w) - z_x * sum(w), which equals the
//     interpreter's sum((q_x - z_x) * w) in wrapping int32 arithmetic.
//   - The assembly of a Dense or Grouped layer reads a padded copy of its input (Pad), so
//     that its kernel needs no bounds logic; a Quantize whose only reader is
//     such a layer writes that copy itself.
//   - Kernels read whole vectors: every buffer has ReadSlack bytes after it.
package lower

import (
	"errors"
	"fmt"
	"math"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
)

// ReadSlack is how far past the end of a tensor or of the weights a kernel
// may read; every buffer a generated package holds has that much after it.
const ReadSlack = 64

// Align is the alignment of tensors in the arena and of each layer's weights:
// a cache line, and the width of an AVX-512 register.
const Align = 64

// Kind is how a layer is computed.
type Kind int

// The layer kinds; a conv's is its ir.ConvClass.
const (
	Quantize  Kind = iota // float32 NCHW -> uint8 NHWC
	Pointwise             // ir.ConvPointwise; also a linear layer
	Depthwise             // ir.ConvDepthwise
	Dense                 // ir.ConvDense: gather a patch per output pixel, then dot products
	Grouped               // ir.ConvGrouped
	Add
	Mean
	Dequantize // uint8 NHWC -> float32 NCHW
	MaxPool    // max over a window without dilation (Geom), qparams passed through
	Table      // 256-entry lookup per byte (per channel for an affine); the table is its weights
	Mul        // product, elementwise or by a [C,1,1] or [1,H,W] operand (X2)
	Concat     // channel concatenation of Xs, requantizing the inputs whose Concat.M is not 0
	Slice      // channels [Start, End) of each pixel
	Shuffle    // channel gather of each pixel
	AvgPool    // average over Geom's window, qparams passed through
	WindowPool // max over a dilated window (Geom)
	ChannelMax // max over each pixel's channels, qparams passed through
)

// Dense and Grouped are both "conv" in the generated comments.
var kindNames = [...]string{"quantize", "pointwise conv", "depthwise conv", "conv", "conv", "add", "mean", "dequantize", "max pool",
	"table", "mul", "concat", "slice", "shuffle", "avg pool", "max pool", "channel max"}

func (k Kind) String() string { return kindNames[k] }

var convKinds = map[ir.ConvClass]Kind{ir.ConvPointwise: Pointwise, ir.ConvDepthwise: Depthwise, ir.ConvDense: Dense, ir.ConvGrouped: Grouped}

// ConvKind is the kind of a conv of class c.
func ConvKind(c ir.ConvClass) Kind { return convKinds[c] }

// Dims is a tensor's per-image shape as channels, height, width ([F] is F x 1 x 1).
type Dims struct{ C, H, W int }

// Elems is the number of values.
func (d Dims) Elems() int { return d.C * d.H * d.W }

func (d Dims) String() string {
	if d.H == 1 && d.W == 1 {
		return fmt.Sprint(d.C)
	}
	return fmt.Sprintf("%dx%dx%d", d.C, d.H, d.W)
}

// Pad is a padded NHWC layout: pixels of Stride bytes (the channels, then
// padding) with Border pixels of Z on every side.
type Pad struct {
	Stride, Border int
	Z              uint8
}

// Bytes is the size of a padded d.
func (p *Pad) Bytes(d Dims) int { return (d.H + 2*p.Border) * (d.W + 2*p.Border) * p.Stride }

// Layer is one node with everything the generators need.
type Layer struct {
	ID     string // identifier prefix in the generated code: "l07"
	Node   *compiler.Node
	Kind   Kind
	X, X2  *compiler.Tensor // inputs (X2 for Add and Mul only)
	Y      *compiler.Tensor // output
	XD, YD Dims
	// Arena offsets of X, X2 and Y (Y unused for Dequantize, X for Quantize).
	XOff, X2Off, YOff int
	// Xs and XsOff are a Concat's inputs in order and their arena offsets
	// (Xs[0] is X); each input's pixel lands at its channel offset in Y's.
	Xs    []*compiler.Tensor
	XsOff []int
	// Direct says per input of a Concat that its producer writes it in
	// place, at its channel offset in Y's pixels (concat.go); YStride is the
	// pixel stride of a layer's output: YD.C, or such a Concat's channels.
	Direct  []bool
	YStride int
	// View says that a Slice moves nothing: its readers read its channels in
	// place in its input (concat.go). XsStride is the pixel stride of each
	// input of a Concat: its channels, or the sliced tensor's for a View's.
	View     bool
	XsStride []int
	// XsFrom, XsC and XsAt say what a Concat copies of each entry of Xs:
	// channels [XsFrom, XsFrom+XsC) of its pixels (physical positions),
	// to channel XsAt of Y's. Without channel orders (order.go) an entry is
	// a whole input at its offset; with them an input may be several
	// entries, one per run of channels that stay contiguous.
	XsFrom, XsC, XsAt []int
	// Geom is the window of a Dense, Depthwise or Grouped layer whose window
	// is not square (Windowed), or of a pool (with Ceil and CountPad).
	Geom ir.Pool
	// Packed parameters and their offsets in the weight and bias sections.
	W          []int8
	B          []int32
	WOff, BOff int
	// Pad is the padded layout the assembly of a Dense or Grouped layer reads its input
	// in, and the one a Quantize writes its output in when its only reader
	// is such a layer; nil for the other layers.
	Pad *Pad
	// PadIn says that the assembly reads the input from the worker's pad
	// buffer: copied there first (PadCopy) unless the Quantize before wrote it
	// there. A Pad that is the arena's own layout (no border, the channels at
	// the stride: ResNet's 1x1 stride-2 convs) is read in place.
	PadIn, PadCopy bool
	// Tile says that the amx tier runs the layer as a tile program
	// (Tileable, and no epilogue table: pads).
	Tile bool
	// Im2col says that a Dense layer runs as a GEMM over densely gathered
	// patches, its weights packed by PackIm2col (Im2colConv).
	Im2col bool
	// Epi is the table or add a conv applies to what it stores (epilogue.go):
	// Y is then the table's or add's output and ReqY the conv's own.
	Epi *Epilogue
}

// Model is a quantized model lowered to layers.
type Model struct {
	Quantized *compiler.Model
	Layers    []*Layer
	// ArenaBytes is the activation arena (the peak of the memory plan, per image).
	ArenaBytes int
	// WeightsLen and BiasesLen are the lengths of the weight section (int8)
	// and of the accumulator starts (int32), each layer's padded to Align bytes.
	WeightsLen, BiasesLen int
	// PadBytes is the largest padded input the assembly reads from the pad buffer.
	PadBytes int
}

// Tileable says whether a layer of kind k with cin input channels runs as a
// tile program on the amx tier: pointwise layers of more than 32 input
// channels, and k x k convs with at least 32 (a tap's reduction fills at
// least half an A tile's 64 bytes; the stem's 3 channels would fill 4 of
// them: stems run over their gathered patches instead, Im2colTileable).
// Pointwise layers of 16-32 channels (MobileNetV2's expansions) ran 4-41%
// faster on the avx512 kernel on Sapphire Rapids (docs/speed.md).
func Tileable(k Kind, cin int) bool {
	const tileRow = 16 // quads in an AMX tile row of 64 bytes
	return k == Pointwise && Quads(cin) > tileRow/2 || k == Dense && Quads(cin) >= tileRow/2
}

// Lower checks m as far as the generated code relies on it and lowers it.
func Lower(m *compiler.Model) (*Model, error) {
	ls, err := layers(m)
	if err != nil {
		return nil, err
	}
	ls = fuseAdds(fuseTables(ls))
	lm := &Model{Quantized: m, Layers: ls}
	direct(ls)
	orders(ls)
	views(ls)
	if lm.ArenaBytes, err = plan(ls); err != nil {
		return nil, err
	}
	lm.WeightsLen, lm.BiasesLen = pack(ls)
	lm.PadBytes = pads(m, ls)
	for _, l := range ls {
		if l.Kind == Grouped && !l.PadIn {
			lm.ArenaBytes = max(lm.ArenaBytes, l.XOff+l.XD.Elems()+overread(l))
		}
	}
	return lm, nil
}

// pads sets the layers' padded layouts and returns the pad buffer's size.
func pads(m *compiler.Model, ls []*Layer) int {
	readers := map[int][]*Layer{}
	for _, l := range ls {
		for _, id := range l.reads() {
			readers[id] = append(readers[id], l)
		}
	}
	written := map[int]bool{} // tensors a Quantize writes padded
	for _, l := range ls {
		switch l.Kind {
		case Quantize:
			if rs := readers[l.Y.ID]; len(rs) == 1 && (rs[0].Kind == Dense || rs[0].Kind == Grouped && !groupedPointwise(rs[0].Node.Conv)) {
				l.Pad = &Pad{Stride: 4 * Quads(l.XD.C), Border: border(rs[0].Node.Conv), Z: uint8(l.Y.Zero)}
				written[l.Y.ID] = true
			}
		case Dense:
			l.Pad = &Pad{Stride: 4 * Quads(l.XD.C), Border: border(l.Node.Conv), Z: uint8(l.X.Zero)}
		case Grouped:
			if !groupedPointwise(l.Node.Conv) {
				l.Pad = &Pad{Stride: 4 * Quads(l.XD.C), Border: border(l.Node.Conv), Z: uint8(l.X.Zero)}
			}
		}
	}
	n := 0
	for _, l := range ls {
		if l.Kind == Dense || l.Kind == Grouped && l.Pad != nil {
			l.PadIn = written[l.X.ID] || l.Pad.Border > 0 || l.Pad.Stride != l.XD.C
			l.PadCopy = l.PadIn && !written[l.X.ID]
		}
		if l.PadIn {
			n = max(n, l.Pad.Bytes(l.XD)+overread(l))
		}
		if l.Kind == Pointwise || l.Kind == Dense {
			// Not with an epilogue table: the tile programs look it up 16
			// bytes at a time, a row of a unit, and EfficientNet-B0's SiLU
			// expansions ran 1.3-2.5x slower as tiles than on the avx512
			// kernel, whose strips pass 32 bytes a lookup (docs/speed.md).
			tile := Tileable(l.Kind, l.XD.C)
			if l.Im2col {
				tile = Im2colTileable(l.Node.Conv.InC, l.Node.Conv.Window())
			}
			l.Tile = tile && (l.Epi == nil || l.Epi.T == nil)
		}
	}
	return n
}

func tensorDims(t *compiler.Tensor) (Dims, error) {
	switch len(t.Shape) {
	case 1:
		return Dims{t.Shape[0], 1, 1}, nil
	case 3:
		return Dims{t.Shape[0], t.Shape[1], t.Shape[2]}, nil
	}
	return Dims{}, fmt.Errorf("tensor %d: shape %v, want [C,H,W] or [F]", t.ID, t.Shape)
}

// layers checks m as far as the generated code relies on it and describes each node.
func layers(m *compiler.Model) ([]*Layer, error) {
	if m == nil || m.Desc == nil {
		return nil, errors.New("no model or no description")
	}
	n := len(m.Nodes)
	if n < 2 || m.Nodes[0].Kind != compiler.KQuantize || m.Nodes[n-1].Kind != compiler.KDequantize {
		return nil, errors.New("model must start with a Quantize and end with a Dequantize")
	}
	tensor := func(id int) (*compiler.Tensor, error) {
		if id < 0 || id >= len(m.Tensors) || m.Tensors[id] == nil {
			return nil, fmt.Errorf("tensor %d out of range", id)
		}
		return m.Tensors[id], nil
	}
	in, err := tensor(m.Input)
	if err != nil || len(in.Shape) != 3 {
		return nil, fmt.Errorf("model input: want a [C,H,W] tensor")
	}
	if c, h, w := in.Shape[0], in.Shape[1], in.Shape[2]; len(m.Desc.Input) != 3 || m.Desc.Input[0] != c || m.Desc.Input[1] != h || m.Desc.Input[2] != w {
		return nil, fmt.Errorf("description input %v differs from the model input %v", m.Desc.Input, in.Shape)
	}
	width := len(fmt.Sprint(n - 1))
	ls := make([]*Layer, n)
	written := map[int]bool{m.Input: true}
	for i, nd := range m.Nodes {
		l := &Layer{ID: fmt.Sprintf("l%0*d", max(width, 2), i), Node: nd}
		if err := l.describe(tensor); err != nil {
			return nil, fmt.Errorf("layer %d (%s, %s): %w", i, nd.Name, nd.Kind, err)
		}
		l.YStride = l.YD.C
		at := 0
		for _, x := range l.Xs {
			c := dims(x).C
			l.XsStride = append(l.XsStride, c)
			l.XsFrom, l.XsC, l.XsAt = append(l.XsFrom, 0), append(l.XsC, c), append(l.XsAt, at)
			at += c
		}
		if (l.Kind == Quantize) != (i == 0) || (l.Kind == Dequantize) != (i == n-1) {
			return nil, fmt.Errorf("layer %d (%s): %s must be the first layer and dequantize the last", i, nd.Name, nd.Kind)
		}
		for _, id := range nd.In {
			if !written[id] {
				return nil, fmt.Errorf("layer %d (%s): reads tensor %d before it is computed", i, nd.Name, id)
			}
		}
		if written[nd.Out] {
			return nil, fmt.Errorf("layer %d (%s): tensor %d is written twice", i, nd.Name, nd.Out)
		}
		written[nd.Out] = true
		ls[i] = l
	}
	if ls[0].X.ID != m.Input {
		return nil, errors.New("the first Quantize does not read the model input")
	}
	return ls, nil
}

func (l *Layer) describe(tensor func(int) (*compiler.Tensor, error)) error {
	nd := l.Node
	want := 1
	switch nd.Kind {
	case compiler.KAdd, compiler.KMul:
		want = 2
	case compiler.KConcat:
		want = max(len(nd.In), 1)
	}
	if len(nd.In) != want {
		return fmt.Errorf("%d inputs, want %d", len(nd.In), want)
	}
	var err error
	if l.X, err = tensor(nd.In[0]); err != nil {
		return err
	}
	if l.Y, err = tensor(nd.Out); err != nil {
		return err
	}
	if l.XD, err = tensorDims(l.X); err != nil {
		return err
	}
	if l.YD, err = tensorDims(l.Y); err != nil {
		return err
	}
	const maxElems = 1 << 28
	if l.XD.Elems() > maxElems || l.YD.Elems() > maxElems {
		return errors.New("tensor too large")
	}
	checkQ := func(t *compiler.Tensor) error {
		if !(t.Scale > 0) || math.IsInf(t.Scale, 0) || t.Zero < 0 || t.Zero > 255 {
			return fmt.Errorf("tensor %d: scale %v / zero point %d invalid", t.ID, t.Scale, t.Zero)
		}
		return nil
	}
	if nd.Kind != compiler.KQuantize {
		if err := checkQ(l.X); err != nil {
			return err
		}
	}
	if nd.Kind != compiler.KDequantize {
		if err := checkQ(l.Y); err != nil {
			return err
		}
	}
	switch nd.Kind {
	case compiler.KQuantize, compiler.KDequantize:
		if l.XD != l.YD {
			return fmt.Errorf("shape %v to %v", l.X.Shape, l.Y.Shape)
		}
		l.Kind = Quantize
		if nd.Kind == compiler.KDequantize {
			l.Kind = Dequantize
		}
		if nd.Kind == compiler.KQuantize && (!finite32(float32(1/l.Y.Scale)) || len(l.X.Shape) != 3) {
			return errors.New("quantize needs a [C,H,W] input and a finite 1/scale")
		}
	case compiler.KAdd:
		x2, err := l.second(tensor, checkQ)
		if err != nil {
			return err
		}
		if nd.Add == nil || x2 != l.XD || l.YD != l.XD || !finite32(nd.Add.MA) || !finite32(nd.Add.MB) {
			return errors.New("bad add: shapes differ or multipliers missing")
		}
		l.Kind = Add
	case compiler.KMaxPool:
		p, x := nd.Pool, l.XD
		if p != nil && p.Geom != nil {
			// Any window without dilation (ceil mode, rectangular, uneven
			// pads) is MaxPool's: its kernels clip every window. A dilated
			// one is WindowPool's.
			if p.Geom.DH == 1 && p.Geom.DW == 1 {
				return l.describePool(MaxPool)
			}
			return l.describePool(WindowPool)
		}
		if p == nil || p.Kernel < 1 || p.Kernel > 64 || p.Stride < 1 || p.Stride > 64 || p.Pad < 0 || 2*p.Pad > p.Kernel ||
			len(l.X.Shape) != 3 || l.X.Zero != l.Y.Zero || l.X.Scale != l.Y.Scale || x.H+2*p.Pad < p.Kernel || x.W+2*p.Pad < p.Kernel ||
			l.YD != (Dims{x.C, (x.H+2*p.Pad-p.Kernel)/p.Stride + 1, (x.W+2*p.Pad-p.Kernel)/p.Stride + 1}) {
			return fmt.Errorf("max pool %+v from %v to %v", p, l.X.Shape, l.Y.Shape)
		}
		l.Kind, l.Geom = MaxPool, p.Spec()
	case compiler.KMean:
		if len(l.X.Shape) != 3 || l.YD != (Dims{l.XD.C, 1, 1}) {
			return fmt.Errorf("mean from %v to %v", l.X.Shape, l.Y.Shape)
		}
		l.Kind = Mean
	case compiler.KConv, compiler.KLinear:
		c := nd.Conv
		if c != nil && c.Geom != nil {
			if nd.Kind == compiler.KLinear {
				return errors.New("linear with a conv window")
			}
			l.Geom = ir.Pool{Window: *c.Geom}
			if err := checkWindowConv(c, l.XD, l.YD); err != nil {
				return err
			}
		} else if err := checkConv(c, l.XD, l.YD, nd.Kind == compiler.KLinear); err != nil {
			return err
		}
		l.Kind = ConvKind(c.Class())
		l.Im2col = l.Kind == Dense && Im2colConv(c.InC, c.Window())
	case compiler.KAvgPool:
		return l.describePool(AvgPool)
	case compiler.KTable:
		return l.describeTable()
	case compiler.KMul:
		return l.describeMul(tensor, checkQ)
	case compiler.KConcat:
		return l.describeConcat(tensor, checkQ)
	case compiler.KSlice, compiler.KShuffle:
		return l.describeMove()
	case compiler.KChannelMax:
		if l.X.Zero != l.Y.Zero || l.X.Scale != l.Y.Scale || l.YD != (Dims{1, l.XD.H, l.XD.W}) {
			return fmt.Errorf("channel max from %v to %v", l.X.Shape, l.Y.Shape)
		}
		l.Kind = ChannelMax
	default:
		return fmt.Errorf("%s has no int8 kernel yet", nd.Kind)
	}
	return nil
}

func checkConv(c *compiler.Conv, x, y Dims, linear bool) error {
	if c == nil {
		return errors.New("no conv parameters")
	}
	if c.Groups < 1 || c.InC < 1 || c.OutC < 1 || c.InC%c.Groups != 0 || c.OutC%c.Groups != 0 ||
		c.Kernel < 1 || c.Kernel > 64 || c.Stride < 1 || c.Stride > 64 || c.Pad < 0 || c.Pad > 64 {
		return fmt.Errorf("bad geometry: %d -> %d channels, kernel %d, stride %d, padding %d, groups %d", c.InC, c.OutC, c.Kernel, c.Stride, c.Pad, c.Groups)
	}
	if x.C != c.InC || y.C != c.OutC || y.H != (x.H+2*c.Pad-c.Kernel)/c.Stride+1 || y.W != (x.W+2*c.Pad-c.Kernel)/c.Stride+1 || x.H+2*c.Pad < c.Kernel || x.W+2*c.Pad < c.Kernel {
		return fmt.Errorf("conv %d -> %d, kernel %d, stride %d, padding %d does not map %v to %v", c.InC, c.OutC, c.Kernel, c.Stride, c.Pad, x, y)
	}
	if linear && (x.H != 1 || x.W != 1 || c.Kernel != 1) {
		return errors.New("linear on a spatial input")
	}
	return checkParams(c, c.OutC*c.InC/c.Groups*c.Kernel*c.Kernel)
}

// checkParams checks a conv's n weights, its biases, multipliers and clamp.
func checkParams(c *compiler.Conv, n int) error {
	if len(c.Weight) != n || len(c.B) != c.OutC || len(c.M) != c.OutC {
		return fmt.Errorf("%d weights, %d biases, %d multipliers; want %d, %d, %d", len(c.Weight), len(c.B), len(c.M), n, c.OutC, c.OutC)
	}
	for _, v := range c.M {
		if !finite32(v) {
			return fmt.Errorf("multiplier %v is not finite", v)
		}
	}
	if c.Lo < 0 || c.Hi > 255 || c.Lo > c.Hi {
		return fmt.Errorf("clamp [%d, %d] outside 0..255", c.Lo, c.Hi)
	}
	return nil
}

func finite32(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
