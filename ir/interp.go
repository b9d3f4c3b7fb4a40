package ir

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// Hook sees each node's output for the whole batch (n samples back to back)
// right after the node ran (nil where a PartHook took all of it: see
// PartHook). Calibration observes activations through it.
type Hook func(node *Node, out []float32, n int) error

// PartHook sees a node's output in parts as the node computes them, while
// they are in the caches: part holds values off to off+len(part) of sample
// s's output (s counts from the first sample of the hook's n). A sample's
// parts never overlap and cover its output, in no set order; the samples of
// a group come one after the other, in order, and the node's Hook follows
// with the whole output, or with nil where the output went only to the
// parts (a 1x1 conv run in channel bands: bands.go). Only the nodes
// computed in jobs have parts (convs on planes of more than a few tiles); a
// node without them has only its Hook call.
type PartHook func(node *Node, s int, part []float32, off int) error

// Run executes the float graph on n samples (NCHW, back to back) and returns
// the output tensor for all of them. hook may be nil.
func Run(g *Graph, x []float32, n int, hook Hook) ([]float32, error) {
	return RunHooks(g, x, n, nil, hook)
}

// RunHooks is Run with a second hook, pre, that sees each Conv and Linear output
// before its fused activation (bias correction matches pre-activation means).
// It runs the fast kernels (Compile); callers running a graph many times
// should Compile it once.
func RunHooks(g *Graph, x []float32, n int, pre, hook Hook) ([]float32, error) {
	p, err := Compile(g)
	if err != nil {
		return nil, err
	}
	return p.Run(x, n, pre, hook)
}

// Reference is RunHooks on the reference interpreter: plain loops, the
// readable definition the fast kernels are tested against.
func Reference(g *Graph, x []float32, n int, pre, hook Hook) ([]float32, error) {
	if err := checkInput(g, x, n); err != nil {
		return nil, err
	}
	uses, err := readers(g)
	if err != nil {
		return nil, err
	}
	vals := map[int][]float32{g.Input: x}
	for _, nd := range g.Nodes {
		out, err := runNode(g, nd, vals, n, pre)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nd.Name, err)
		}
		vals[nd.Out] = out
		if err := finishNode(g, nd, out, n, hook, uses, func(t int) { delete(vals, t) }); err != nil {
			return nil, err
		}
	}
	out, ok := vals[g.Output]
	if !ok {
		return nil, fmt.Errorf("graph output tensor %d was never computed", g.Output)
	}
	return out, nil
}

// checkInput checks that x holds n samples of g's input: the interpreter,
// the compiled program and its batched run take the same inputs.
func checkInput(g *Graph, x []float32, n int) error {
	in := g.Tensors[g.Input]
	if n < 1 || len(x) != n*in.Elems() {
		return fmt.Errorf("input: %d values for %d samples of shape %v (want %d)", len(x), n, in.Shape, n*in.Elems())
	}
	return nil
}

// readers counts the nodes reading each tensor, so that a run can drop a
// tensor after its last reader.
func readers(g *Graph) ([]int, error) {
	uses := make([]int, len(g.Tensors))
	for _, nd := range g.Nodes {
		for _, t := range nd.In {
			if t < 0 || t >= len(g.Tensors) {
				return nil, fmt.Errorf("%s: input tensor %d does not exist", nd.Name, t)
			}
			uses[t]++
		}
	}
	return uses, nil
}

// finishNode runs after node nd made out: it shows out to hook, then calls
// drop for each input tensor no later node reads (never the graph's input or
// output), counting down uses.
func finishNode(g *Graph, nd *Node, out []float32, n int, hook Hook, uses []int, drop func(t int)) error {
	if hook != nil {
		if err := hook(nd, out, n); err != nil {
			return err
		}
	}
	for _, t := range nd.In {
		if uses[t]--; uses[t] == 0 && t != g.Output && t != g.Input {
			drop(t)
		}
	}
	return nil
}

func runNode(g *Graph, nd *Node, vals map[int][]float32, n int, pre Hook) ([]float32, error) {
	// With a pre hook, convs and linears run without their activation, show
	// the hook, then apply it.
	act := nd.Act
	if pre != nil {
		act = ActNone
	}
	a := vals[nd.In[0]]
	inT, outT := g.Tensors[nd.In[0]], g.Tensors[nd.Out]
	ie, oe := inT.Elems(), outT.Elems()
	out := make([]float32, n*oe)
	switch nd.Op {
	case OpQuant, OpDeQuant, OpDropout, OpIdentity, OpFlatten:
		copy(out, a)
	case OpReLU, OpReLU6:
		copy(out, a)
		act := ActReLU
		if nd.Op == OpReLU6 {
			act = ActReLU6
		}
		activate(out, act)
	case OpAdd, OpSub:
		b := vals[nd.In[1]]
		if nd.Op == OpSub {
			for i := range out {
				out[i] = a[i] - b[i]
			}
		} else {
			for i := range out {
				out[i] = a[i] + b[i]
			}
		}
		activate(out, nd.Act)
	case OpMaxPool, OpAvgPool:
		c := inT.Shape[0]
		Parallel(n*c, func(j int) {
			in, o := a[j*ie/c:(j+1)*ie/c], out[j*oe/c:(j+1)*oe/c]
			if nd.Op == OpMaxPool {
				MaxPool(&nd.Pool.Window, inT.Shape[1], inT.Shape[2], in, outT.Shape[1], outT.Shape[2], o)
			} else {
				AvgPool(nd.Pool, inT.Shape[1], inT.Shape[2], in, outT.Shape[1], outT.Shape[2], o)
			}
		})
	case OpPReLU:
		c := inT.Shape[0]
		perChannel(nd, a, out, c, ie/c)
	case OpAffine:
		af := nd.Affine
		hw := ie / af.C
		for j := range n * af.C {
			c := j % af.C
			for i, v := range a[j*hw : (j+1)*hw] {
				out[j*hw+i] = float32(v*af.Scale[c]) + af.Shift[c]
			}
		}
		activate(out, nd.Act)
	case OpMul:
		if bt := g.Tensors[nd.In[1]]; PlaneMul(inT.Shape, bt.Shape) {
			mulPlanes(a, vals[nd.In[1]], out, inT.Shape[0], bt.Elems(), 0, n*inT.Shape[0])
			break
		}
		mul(a, vals[nd.In[1]], out, n, ie/g.Tensors[nd.In[1]].Elems())
	case OpSoftmax, OpLogSoftmax:
		softmax(nd.Op, a, out, ie)
	case OpChannelMax:
		channelMax(a, out, inT.Shape[0], oe, 0, n)
	case OpConcat, OpSlice, OpShuffle:
		copyChannels(g, nd, vals, out, n)
	case OpBatchNorm:
		bn := nd.BN
		hw := ie / bn.C
		Parallel(n*bn.C, func(j int) {
			c := j % bn.C
			rs := float32(1) / sqrt32(bn.Var[c]+bn.Eps)
			src, dst := a[j*hw:(j+1)*hw], out[j*hw:(j+1)*hw]
			for i, v := range src {
				dst[i] = float32(float32(float32(v-bn.Mean[c])*rs)*bn.Weight[c]) + bn.Bias[c]
			}
		})
	case OpMean:
		c := inT.Shape[0]
		hw := ie / c
		Parallel(n*c, func(j int) {
			var s float64
			for _, v := range a[j*hw : (j+1)*hw] {
				s += float64(v)
			}
			out[j] = float32(s / float64(hw))
		})
	case OpLinear:
		l := nd.Linear
		Parallel(n, func(s int) {
			linear(l, a[s*ie:(s+1)*ie], out[s*oe:(s+1)*oe])
			activate(out[s*oe:(s+1)*oe], act)
		})
	case OpConv:
		c := nd.Conv
		blocks := (c.OutC + 15) / 16
		Parallel(n*blocks, func(j int) {
			s, b := j/blocks, j%blocks
			lo, hi := b*16, min(b*16+16, c.OutC)
			o := out[s*oe : (s+1)*oe]
			conv(c, inT.Shape, a[s*ie:(s+1)*ie], outT.Shape, o, lo, hi)
			hw := outT.Shape[1] * outT.Shape[2]
			activate(o[lo*hw:hi*hw], act)
		})
	default:
		if !IsUnary(nd.Op) {
			return nil, fmt.Errorf("op %s not supported by the float interpreter", nd.Op)
		}
		f := UnaryFunc(nd)
		for i, v := range a {
			out[i] = f(v)
		}
	}
	if pre != nil && (nd.Op == OpConv || nd.Op == OpLinear) {
		if err := pre(nd, out, n); err != nil {
			return nil, err
		}
		activate(out, nd.Act)
	}
	return out, nil
}

// MaxPool pools one channel plane. Windows only count positions inside the
// plane (PyTorch pads with -inf); Window.check leaves every window one.
func MaxPool[T float32 | uint8](w *Window, ih, iw int, in []T, oh, ow int, out []T) {
	for oy := 0; oy < oh; oy++ {
		ky0, ky1 := taps(oy*w.SH-w.PadT, w.DH, w.KH, ih)
		for ox := 0; ox < ow; ox++ {
			kx0, kx1 := taps(ox*w.SW-w.PadL, w.DW, w.KW, iw)
			y0, x0 := oy*w.SH-w.PadT, ox*w.SW-w.PadL
			m := in[(y0+ky0*w.DH)*iw+x0+kx0*w.DW]
			for ky := ky0; ky < ky1; ky++ {
				row := in[(y0+ky*w.DH)*iw:]
				for kx := kx0; kx < kx1; kx++ {
					m = max(m, row[x0+kx*w.DW])
				}
			}
			out[oy*ow+ox] = m
		}
	}
}

// taps is the range [k0, k1) of kernel positions k with 0 <= start + k*d < n.
func taps(start, d, k, n int) (k0, k1 int) {
	k0 = max(0, ceilDiv(-start, d))
	k1 = min(k, floorDiv(n-1-start, d)+1)
	return k0, max(k0, k1)
}

// AvgPool pools one channel plane: the float32 sum of the window's input
// elements in row order, divided by their count, or with p.CountPad by the
// window's size clipped to the padded plane, as PyTorch's avg_pool2d.
func AvgPool(p *Pool, ih, iw int, in []float32, oh, ow int, out []float32) {
	w := &p.Window
	for oy := 0; oy < oh; oy++ {
		y0 := oy*w.SH - w.PadT
		ky0, ky1 := taps(y0, 1, w.KH, ih)
		for ox := 0; ox < ow; ox++ {
			x0 := ox*w.SW - w.PadL
			kx0, kx1 := taps(x0, 1, w.KW, iw)
			var s float32
			for ky := ky0; ky < ky1; ky++ {
				for _, v := range in[(y0+ky)*iw+x0+kx0 : (y0+ky)*iw+x0+kx1] {
					s += v
				}
			}
			n := (ky1 - ky0) * (kx1 - kx0)
			if p.CountPad {
				n = (min(y0+w.KH, ih+w.PadB) - y0) * (min(x0+w.KW, iw+w.PadR) - x0)
			}
			out[oy*ow+ox] = s / float32(n)
		}
	}
}

func sqrt32(v float32) float32 { return float32(math.Sqrt(float64(v))) }

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int) int { return -floorDiv(-a, b) }

func activate(x []float32, act Act) {
	if act == ActNone {
		return
	}
	for i, v := range x {
		x[i] = act.Apply(v)
	}
}

func linear(l *Linear, x, y []float32) {
	for o := 0; o < l.Out; o++ {
		w := l.Weight[o*l.In : (o+1)*l.In]
		var s float32
		for i, v := range x {
			s += float32(w[i] * v)
		}
		if l.Bias != nil {
			s += l.Bias[o]
		}
		y[o] = s
	}
}

// conv computes output channels [lo,hi) of one sample, direct convolution.
// Each product is rounded to float32 before it is added (the explicit
// conversions keep Go from fusing them, which it may do on arm64 or with
// GOAMD64=v3): ir/floatk's kernels compute these same sums bit for bit.
func conv(c *Conv, inShape []int, in []float32, outShape []int, out []float32, lo, hi int) {
	if c.Class() == ConvPointwise {
		pointwise(c, inShape, in, out, lo, hi)
		return
	}
	ih, iw := inShape[1], inShape[2]
	oh, ow := outShape[1], outShape[2]
	w := &c.Window
	taps := w.Taps()
	icg, ocg := c.InC/c.Groups, c.OutC/c.Groups
	for oc := lo; oc < hi; oc++ {
		o := out[oc*oh*ow : (oc+1)*oh*ow]
		var b float32
		if c.Bias != nil {
			b = c.Bias[oc]
		}
		for i := range o {
			o[i] = b
		}
		g := oc / ocg
		for ic := 0; ic < icg; ic++ {
			plane := in[(g*icg+ic)*ih*iw : (g*icg+ic+1)*ih*iw]
			wk := c.Weight[(oc*icg+ic)*taps : (oc*icg+ic+1)*taps]
			for ky := 0; ky < w.KH; ky++ {
				for kx := 0; kx < w.KW; kx++ {
					wv := wk[ky*w.KW+kx]
					// ox range with 0 <= ox*SW - PadL + kx*DW < iw
					dx := kx*w.DW - w.PadL
					oxLo := max(0, ceilDiv(-dx, w.SW))
					oxHi := min(ow, floorDiv(iw-1-dx, w.SW)+1)
					if oxHi <= oxLo {
						continue
					}
					for oy := 0; oy < oh; oy++ {
						iy := oy*w.SH - w.PadT + ky*w.DH
						if iy < 0 || iy >= ih {
							continue
						}
						row := plane[iy*iw : (iy+1)*iw]
						orow := o[oy*ow : (oy+1)*ow]
						if w.SW == 1 {
							src := row[oxLo+dx : oxHi+dx]
							dst := orow[oxLo:oxHi]
							for i, v := range src {
								dst[i] += float32(wv * v)
							}
							continue
						}
						for ox := oxLo; ox < oxHi; ox++ {
							orow[ox] += float32(wv * row[ox*w.SW+dx])
						}
					}
				}
			}
		}
	}
}

// pointwise is a 1x1 conv as dot products over channels of the transposed input,
// which keeps small feature maps (down to 1x1) from drowning in loop overhead.
func pointwise(c *Conv, inShape []int, in []float32, out []float32, lo, hi int) {
	hw := inShape[1] * inShape[2]
	xt := make([]float32, len(in))
	for ic := 0; ic < c.InC; ic++ {
		for p, v := range in[ic*hw : (ic+1)*hw] {
			xt[p*c.InC+ic] = v
		}
	}
	for oc := lo; oc < hi; oc++ {
		w := c.Weight[oc*c.InC : (oc+1)*c.InC]
		var b float32
		if c.Bias != nil {
			b = c.Bias[oc]
		}
		o := out[oc*hw : (oc+1)*hw]
		for p := range o {
			o[p] = dot(w, xt[p*c.InC:(p+1)*c.InC]) + b
		}
	}
}

// dot is a 4-way unrolled dot product (independent sums keep the FPU busy).
func dot(w, x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		w, x := w[i:i+4:i+4], x[i:i+4:i+4]
		s0 += float32(w[0] * x[0])
		s1 += float32(w[1] * x[1])
		s2 += float32(w[2] * x[2])
		s3 += float32(w[3] * x[3])
	}
	for ; i < len(x); i++ {
		s0 += float32(w[i] * x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// Parallel runs fn(0..jobs-1) on GOMAXPROCS goroutines.
func Parallel(jobs int, fn func(int)) {
	workers := min(runtime.GOMAXPROCS(0), jobs)
	if workers <= 1 {
		for j := 0; j < jobs; j++ {
			fn(j)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= jobs {
					return
				}
				fn(j)
			}
		}()
	}
	wg.Wait()
}
