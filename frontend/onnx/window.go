package onnx

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"github.com/ptqc/ptqc/ir"
)

// window reads a 2-D window op's kernel_shape (or the weight's kernelDims),
// strides, pads, dilations and auto_pad over an ih x iw input into an
// ir.Window with explicit pads. dilations is read only when dilated (Conv,
// MaxPool; AveragePool has none before opset 19).
func window(a *attrs, kernelDims []int, ih, iw int, dilated bool) (ir.Window, error) {
	var w ir.Window
	ks, err := a.ints("kernel_shape", nil)
	if err != nil {
		return w, err
	}
	if ks == nil && kernelDims != nil {
		ks = []int64{int64(kernelDims[0]), int64(kernelDims[1])}
	}
	if len(ks) != 2 {
		return w, fmt.Errorf("kernel_shape %v: ptqc supports 2-D kernels", ks)
	}
	if kernelDims != nil && (int64(kernelDims[0]) != ks[0] || int64(kernelDims[1]) != ks[1]) {
		return w, fmt.Errorf("kernel_shape %v differs from the weight's %v", ks, kernelDims)
	}
	st, err := a.ints("strides", []int64{1, 1})
	if err != nil {
		return w, err
	}
	dil := []int64{1, 1}
	if dilated {
		if dil, err = a.ints("dilations", dil); err != nil {
			return w, err
		}
	}
	for _, p := range []struct {
		name string
		v    []int64
	}{{"kernel_shape", ks}, {"strides", st}, {"dilations", dil}} {
		if len(p.v) != 2 || p.v[0] < 1 || p.v[1] < 1 || p.v[0] > maxDim || p.v[1] > maxDim {
			return w, fmt.Errorf("%s %v: want two values in [1, %d]", p.name, p.v, maxDim)
		}
	}
	w = ir.Window{KH: int(ks[0]), KW: int(ks[1]), SH: int(st[0]), SW: int(st[1]), DH: int(dil[0]), DW: int(dil[1])}
	ap, err := a.str("auto_pad", "NOTSET")
	if err != nil {
		return w, err
	}
	pads, err := a.ints("pads", nil)
	if err != nil {
		return w, err
	}
	if ap != "NOTSET" && pads != nil {
		for _, p := range pads {
			if p != 0 {
				return w, fmt.Errorf("auto_pad %s with pads %v", ap, pads)
			}
		}
	}
	switch ap {
	case "NOTSET":
		if pads == nil {
			pads = []int64{0, 0, 0, 0}
		}
		if len(pads) != 4 {
			return w, fmt.Errorf("pads %v: want 4 values (top, left, bottom, right)", pads)
		}
		for _, p := range pads {
			if p < 0 || p > maxDim {
				return w, fmt.Errorf("pads %v: each must be in [0, %d]", pads, maxDim)
			}
		}
		w.PadT, w.PadL, w.PadB, w.PadR = int(pads[0]), int(pads[1]), int(pads[2]), int(pads[3])
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		// The output is ceil(in / stride); the odd pad goes at the end (UPPER)
		// or the start (LOWER).
		same := func(in, k, s, d int) (lo, hi int) {
			out := (in + s - 1) / s
			total := max((out-1)*s+(k-1)*d+1-in, 0)
			if ap == "SAME_UPPER" {
				return total / 2, total - total/2
			}
			return total - total/2, total / 2
		}
		w.PadT, w.PadB = same(ih, w.KH, w.SH, w.DH)
		w.PadL, w.PadR = same(iw, w.KW, w.SW, w.DW)
	default:
		return w, fmt.Errorf("auto_pad %q is not NOTSET, VALID, SAME_UPPER or SAME_LOWER", ap)
	}
	return w, nil
}

// padded returns input 0 as an NCHW runtime value whose ir tensor is
// [C,H,W], with the zero padding of a Pad before it not yet applied (nil
// when none): Conv and AveragePool add it to their own.
func (im *importer) padded(n *onnxpb.NodeProto) (*value, []int, error) {
	x, err := im.input(n, 0)
	if err != nil {
		return nil, nil, err
	}
	if x == nil || x.c != nil || x.pads == nil {
		x, err = im.image(n)
		return x, nil, err
	}
	if len(x.shape) != 4 {
		return nil, nil, fmt.Errorf("input %q has shape %v, want [N, C, H, W]", n.GetInput()[0], x.shape)
	}
	return x, x.pads, nil
}

// addPads adds a Pad's [top, left, bottom, right] to w's pads.
func addPads(w *ir.Window, p []int) {
	if p != nil {
		w.PadT, w.PadL, w.PadB, w.PadR = w.PadT+p[0], w.PadL+p[1], w.PadB+p[2], w.PadR+p[3]
	}
}

// pad is a constant zero padding of H and W: ir has no Pad, so it stays
// pending on the value (value.pads) until the Conv or AveragePool that
// reads it takes it into its window; any other reader is an error.
func (im *importer) pad(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	mode, err := a.str("mode", "constant")
	if err != nil {
		return err
	}
	if mode != "constant" {
		return fmt.Errorf("mode %q: ptqc supports constant (zero) padding", mode)
	}
	pt, err := im.constInput(n, 1, "pads")
	if err != nil {
		return err
	}
	pads, err := intsOf(pt, "pads (input 1)")
	if err != nil {
		return err
	}
	if v, err := im.constInput(n, 2, "constant_value"); err != nil {
		return err
	} else if v != nil {
		if v.len() != 1 || (v.isInt() && v.i[0] != 0) || (!v.isInt() && v.f[0] != 0) {
			return errors.New("constant_value is not 0: ptqc supports zero padding")
		}
	}
	axes := []int64{0, 1, 2, 3}
	if at, err := im.constInput(n, 3, "axes"); err != nil {
		return err
	} else if at != nil {
		if axes, err = intsOf(at, "axes (input 3)"); err != nil {
			return err
		}
	}
	if len(pads) != 2*len(axes) {
		return fmt.Errorf("pads %v for axes %v", pads, axes)
	}
	begin, end := make([]int64, 4), make([]int64, 4)
	for k, ax := range axes {
		if ax < 0 {
			ax += 4
		}
		if ax < 0 || ax > 3 {
			return fmt.Errorf("axis %d of a rank-4 tensor", axes[k])
		}
		begin[ax], end[ax] = pads[k], pads[k+len(axes)]
	}
	if begin[0] != 0 || begin[1] != 0 || end[0] != 0 || end[1] != 0 {
		return fmt.Errorf("pads %v: ptqc pads only H and W", pads)
	}
	p := []int{int(begin[2]), int(begin[3]), int(end[2]), int(end[3])}
	for _, v := range p {
		if v < 0 || v > maxDim {
			return fmt.Errorf("pads %v: each must be in [0, %d]", pads, maxDim)
		}
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	shape := []int{x.shape[0], x.shape[1], x.shape[2] + p[0] + p[2], x.shape[3] + p[1] + p[3]}
	im.set(n, 0, &value{t: x.t, shape: shape, pads: p})
	return nil
}

func (im *importer) conv(n *onnxpb.NodeProto, a *attrs) error {
	if x, err := im.input(n, 0); err != nil {
		return err
	} else if x != nil && x.row {
		return im.rowConv(n, a, x)
	}
	x, pads, err := im.padded(n)
	if err != nil {
		return err
	}
	wt, err := im.constOfRank(n, 1, "weight", 4, "weight (input 1) must be a constant [M, C/group, kH, kW]")
	if err != nil {
		return err
	}
	group, err := a.int("group", 1)
	if err != nil {
		return err
	}
	inC, outC := x.shape[1], wt.dims[0]
	if group < 1 || group > int64(inC) || inC%int(group) != 0 || outC%int(group) != 0 || wt.dims[1] != inC/int(group) {
		return fmt.Errorf("group %d with %d input channels and weight %v", group, inC, wt.dims)
	}
	ih, iw := x.shape[2], x.shape[3]
	w, err := window(a, wt.dims[2:], ih, iw, true)
	if err != nil {
		return err
	}
	addPads(&w, pads)
	c := &ir.Conv{InC: inC, OutC: outC, Window: w, Groups: int(group)}
	if c.Weight, err = im.weights(n, 1, "weight", wt.dims...); err != nil {
		return err
	}
	if c.Bias, err = im.weights(n, 2, "bias", outC); err != nil {
		return err
	}
	return im.emit(n, &ir.Node{Op: ir.OpConv, Conv: c}, nil, x.t)
}

// pool reads a pool's window over x (dilations only when dilated: MaxPool)
// and ceil_mode.
func pool(a *attrs, x *value, dilated bool) (*ir.Pool, error) {
	w, err := window(a, nil, x.shape[2], x.shape[3], dilated)
	if err != nil {
		return nil, err
	}
	ceil, err := a.bool01("ceil_mode")
	if err != nil {
		return nil, err
	}
	return &ir.Pool{Window: w, Ceil: ceil}, nil
}

func (im *importer) maxPool(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	p, err := pool(a, x, true)
	if err != nil {
		return err
	}
	if so, err := a.int("storage_order", 0); err != nil || so != 0 {
		return fmt.Errorf("storage_order %d: ptqc supports 0 (%v)", so, err)
	}
	return im.emit(n, &ir.Node{Op: ir.OpMaxPool, Pool: p}, nil, x.t)
}

func (im *importer) avgPool(n *onnxpb.NodeProto, a *attrs) error {
	x, pads, err := im.padded(n)
	if err != nil {
		return err
	}
	p, err := pool(a, x, false)
	if err != nil {
		return err
	}
	if im.opset >= 19 { // dilations from 19
		if d, err := a.ints("dilations", nil); err != nil || slices.ContainsFunc(d, func(v int64) bool { return v != 1 }) {
			return fmt.Errorf("dilations %v: ptqc averages undilated windows (%v)", d, err)
		}
	}
	if p.CountPad, err = a.bool01("count_include_pad"); err != nil {
		return err
	}
	if pads != nil {
		// The Pad's zeros are elements the average counts: with its own
		// padding excluded as well, ir's one divisor rule cannot hold both.
		w := &p.Window
		if !p.CountPad && (w.PadT != 0 || w.PadL != 0 || w.PadB != 0 || w.PadR != 0) {
			return errors.New("a Pad before an AveragePool with its own pads and count_include_pad 0 is not supported")
		}
		addPads(w, pads)
		p.CountPad = true
	}
	return im.emit(n, &ir.Node{Op: ir.OpAvgPool, Pool: p}, nil, x.t)
}
