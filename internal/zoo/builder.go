package zoo

import (
	"math"
	"math/rand/v2"

	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/ir"
)

// Builder adds nodes with random weights to a float graph: Graph and the
// test models of gentest and asmgen are written with it.
type Builder struct {
	G *ir.Graph
	R *rand.Rand // the weights' draws, in the order of the calls
}

// NewBuilder starts graph name with an input of shape in (C, H, W).
func NewBuilder(name string, r *rand.Rand, in ...int) *Builder {
	g := &ir.Graph{Name: name}
	g.Input = g.NewTensor(in)
	return &Builder{G: g, R: r}
}

// Conv adds a conv of window w on x: weights N(0, 1/fan-in), biases
// N(0, 0.01).
func (b *Builder) Conv(name string, x, inC, outC, groups int, w ir.Window, act ir.Act) int {
	c := &ir.Conv{InC: inC, OutC: outC, Groups: groups, Window: w, Bias: make([]float32, outC)}
	c.Weight = make([]float32, outC*inC/groups*w.Taps())
	sd := 1 / math.Sqrt(float64(inC/groups*w.Taps()))
	for i := range c.Weight {
		c.Weight[i] = float32(b.R.NormFloat64() * sd)
	}
	for i := range c.Bias {
		c.Bias[i] = float32(0.1 * b.R.NormFloat64())
	}
	return b.G.Add(&ir.Node{Op: ir.OpConv, Name: name, Conv: c, Act: act}, x)
}

// Linear adds a linear layer of in -> out features on x, weights and biases
// drawn as Conv's.
func (b *Builder) Linear(name string, x, in, out int) int {
	l := &ir.Linear{In: in, Out: out, Weight: make([]float32, out*in), Bias: make([]float32, out)}
	sd := 1 / math.Sqrt(float64(in))
	for i := range l.Weight {
		l.Weight[i] = float32(b.R.NormFloat64() * sd)
	}
	for i := range l.Bias {
		l.Bias[i] = float32(0.1 * b.R.NormFloat64())
	}
	return b.G.Add(&ir.Node{Op: ir.OpLinear, Name: name, Linear: l}, x)
}

// Op adds n (an empty node when nil) as op named name on in.
func (b *Builder) Op(op ir.Op, name string, n *ir.Node, in ...int) int {
	if n == nil {
		n = &ir.Node{}
	}
	n.Op, n.Name = op, name
	return b.G.Add(n, in...)
}

// Calibrate infers g's shapes and calibrates it with qconfig on n N(0,1)
// samples from r in batches of 16; the description is of g's input without
// normalization and of as many classes as outputs.
func Calibrate(g *ir.Graph, qconfig string, r *rand.Rand, n int) (*ir.Description, *calibrate.Result, *data.Samples, error) {
	if err := ir.InferShapes(g); err != nil {
		return nil, nil, nil, err
	}
	in := g.Tensors[g.Input].Shape
	ds := &data.Samples{C: in[0], H: in[1], W: in[2], X: make([]float32, n*ir.Elems(in))}
	for i := range ds.X {
		ds.X[i] = float32(r.NormFloat64())
	}
	qc, err := calibrate.LookupQConfig(qconfig)
	if err != nil {
		return nil, nil, nil, err
	}
	cal, err := calibrate.Calibrate(g, ds, qc, 0, 16, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	d := ir.DefaultDescription()
	d.Input, d.Mean, d.Std, d.Preprocess, d.NumClasses = in, make([]float32, in[0]), make([]float32, in[0]), ir.Preprocess{}, ir.Elems(g.Tensors[g.Output].Shape)
	for i := range d.Std {
		d.Std[i] = 1
	}
	return d, cal, ds, nil
}
