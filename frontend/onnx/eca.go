package onnx

import (
	"fmt"
	"slices"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"github.com/ptqc/ptqc/ir"
)

// ECA-Net's channel attention convolves the pooled channels as a sequence:
// avg_pool -> squeeze(-1) -> transpose(-1, -2) -> Conv1d(1, 1, k) ->
// transpose back -> unsqueeze(-1) -> sigmoid -> x * it. Its conv across the
// channels is a C -> C' linear map with a banded weight matrix: a 1x1 conv
// of the pooled [C,1,1] map, which the int8 path runs as it runs a
// squeeze-excitation's convs. value.row marks the [N, 1, C] in between.

// pooledColumn reports whether x is [N, C, 1] over t's [C,1,1]: a pooled map
// with its last axis squeezed.
func (im *importer) pooledColumn(x *value) bool {
	s := im.g.Tensors[x.t].Shape
	return len(x.shape) == 3 && x.shape[2] == 1 && ir.EqualShape(s, []int{x.shape[1], 1, 1}) &&
		x.pads == nil && x.view == nil && !x.squeezed && !x.half && x.expand == nil && !x.row
}

// transposeRow is the transpose(-1, -2) between a pooled column and ECA's
// row, either way; ok is false for other transposes.
func (im *importer) transposeRow(n *onnxpb.NodeProto, x *value, perm []int64) (ok bool, err error) {
	if !slices.Equal(perm, []int64{0, 2, 1}) || x == nil || x.c != nil || !x.row && !im.pooledColumn(x) {
		return false, nil
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return true, err
	}
	s := x.shape
	im.set(n, 0, &value{t: x.t, shape: []int{s[0], s[2], s[1]}, row: !x.row})
	return true, nil
}

// rowConv is a 1-D Conv of one channel in and out along ECA's row of C
// channels: the 1x1 conv of the pooled map whose output channel o sums
// w[j] * x[o*stride - pad + j*dilation] over the taps inside [0, C).
func (im *importer) rowConv(n *onnxpb.NodeProto, a *attrs, x *value) error {
	wt, err := im.constOfRank(n, 1, "weight", 3, "weight (input 1) must be a constant [1, 1, k] along the channels")
	if err != nil {
		return err
	}
	if wt.dims[0] != 1 || wt.dims[1] != 1 {
		return fmt.Errorf("weight %v across %d channels: ptqc convolves the channels with one filter of one channel", wt.dims, x.shape[2])
	}
	k, c := wt.dims[2], x.shape[2]
	one := func(name string, def int64) (int64, error) {
		v, err := a.ints(name, []int64{def})
		if err != nil {
			return 0, err
		}
		if len(v) != 1 || v[0] < 1 || v[0] > maxDim {
			return 0, fmt.Errorf("%s %v: want one value in [1, %d] (a 1-D conv)", name, v, maxDim)
		}
		return v[0], nil
	}
	if ks, err := one("kernel_shape", int64(k)); err != nil || ks != int64(k) {
		return fmt.Errorf("kernel_shape %d for a weight of %d taps (%v)", ks, k, err)
	}
	stride, err := one("strides", 1)
	if err != nil {
		return err
	}
	dil, err := one("dilations", 1)
	if err != nil {
		return err
	}
	if g, err := a.int("group", 1); err != nil || g != 1 {
		return fmt.Errorf("group %d (%v)", g, err)
	}
	if ap, err := a.str("auto_pad", "NOTSET"); err != nil || ap != "NOTSET" {
		return fmt.Errorf("auto_pad %q: ptqc takes explicit pads for a conv along the channels (%v)", ap, err)
	}
	pads, err := a.ints("pads", []int64{0, 0})
	if err != nil {
		return err
	}
	if len(pads) != 2 || pads[0] < 0 || pads[1] < 0 || pads[0] > maxDim || pads[1] > maxDim {
		return fmt.Errorf("pads %v: want two values in [0, %d] (a 1-D conv)", pads, maxDim)
	}
	span := (int64(k)-1)*dil + 1
	out := (int64(c)+pads[0]+pads[1]-span)/stride + 1
	if int64(c)+pads[0]+pads[1] < span || out < 1 {
		return fmt.Errorf("a kernel of %d taps, dilation %d over %d channels and pads %v: no output", k, dil, c, pads)
	}
	w, err := im.weights(n, 1, "weight", wt.dims...)
	if err != nil {
		return err
	}
	conv := &ir.Conv{InC: c, OutC: int(out), Groups: 1, Window: ir.SquareWindow(1, 1, 0), Weight: make([]float32, int(out)*c)}
	for o := range int(out) {
		for j, v := range w {
			if i := int64(o)*stride - pads[0] + int64(j)*dil; i >= 0 && i < int64(c) {
				conv.Weight[o*c+int(i)] = v
			}
		}
	}
	if b, err := im.weights(n, 2, "bias", 1); err != nil {
		return err
	} else if b != nil {
		conv.Bias = make([]float32, out)
		for o := range conv.Bias {
			conv.Bias[o] = b[0]
		}
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	t, err := im.addInfer(&ir.Node{Op: ir.OpConv, Conv: conv}, x.t)
	if err != nil {
		return err
	}
	im.set(n, 0, &value{t: t, shape: []int{x.shape[0], 1, int(out)}, row: true})
	return nil
}
