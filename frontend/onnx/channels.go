package onnx

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"github.com/ptqc/ptqc/ir"
)

// The ops that move channels (Concat, Split, Slice, ShuffleNet's channel
// shuffle) and the reshapes ir can hold.

// shuffleView marks a runtime value that is a 5-D view [N, g, C/g, H, W] of
// an NCHW tensor (Reshape), transposed to [N, C/g, g, H, W] when shuffled
// (Transpose perm [0, 2, 1, 3, 4]): ShuffleNet's channel shuffle in the
// making, which the Reshape back to [N, C, H, W] turns into an ir Shuffle.
type shuffleView struct {
	groups   int
	shuffled bool
}

// channelAxis normalises axis of a rank-r tensor and requires it to be 1.
func channelAxis(axis int64, r int) error {
	if axis < 0 {
		axis += int64(r)
	}
	if axis != 1 {
		return fmt.Errorf("axis %d of a rank-%d tensor: ptqc supports axis 1 (channels)", axis, r)
	}
	return nil
}

func (im *importer) concat(n *onnxpb.NodeProto, a *attrs) error {
	axis, err := a.int("axis", 0)
	if err != nil {
		return err
	}
	var ts []int
	var first *value
	for k := range n.GetInput() {
		x, err := im.runtimeInput(n, k)
		if err != nil {
			return err
		}
		if first == nil {
			first = x
			if err := channelAxis(axis, len(x.shape)); err != nil {
				return err
			}
		}
		ts = append(ts, x.t)
	}
	if first == nil {
		return errors.New("has no inputs")
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	t, err := im.addInfer(&ir.Node{Op: ir.OpConcat}, ts...)
	if err != nil {
		return err
	}
	shape := append([]int(nil), first.shape...)
	shape[1] = im.g.Tensors[t].Shape[0]
	im.runtime(n, t, shape)
	return nil
}

// sliceChannels binds output k of n to channels [start, end) of x.
func (im *importer) sliceChannels(n *onnxpb.NodeProto, k int, x *value, start, end int) error {
	if start == 0 && end == x.shape[1] {
		im.set(n, k, x)
		return nil
	}
	t, err := im.addInfer(&ir.Node{Op: ir.OpSlice, Slice: &ir.Slice{Start: start, End: end}}, x.t)
	if err != nil {
		return err
	}
	shape := append([]int(nil), x.shape...)
	shape[1] = end - start
	im.set(n, k, &value{t: t, shape: shape})
	return nil
}

func (im *importer) split(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return err
	}
	if err := channelAxisAttr(a, x); err != nil {
		return err
	}
	c, outs := x.shape[1], n.GetOutput()
	var sizes []int64
	if im.opset < 13 {
		sizes, err = a.ints("split", nil)
	} else if t, err2 := im.constInput(n, 1, "split"); err2 != nil {
		return err2
	} else if t != nil {
		sizes, err = intsOf(t, "split (input 1)")
	}
	if err != nil {
		return err
	}
	if im.opset >= 18 {
		num, err := a.int("num_outputs", 0)
		if err != nil {
			return err
		}
		if num != 0 {
			if sizes != nil || num != int64(len(outs)) {
				return fmt.Errorf("num_outputs %d with %d outputs and split %v", num, len(outs), sizes)
			}
			// Chunks of ceil(C / num), the last one smaller.
			per := (int64(c) + num - 1) / num
			for k := int64(0); k < num; k++ {
				sizes = append(sizes, max(min(per, int64(c)-k*per), 0))
			}
		}
	}
	if sizes == nil {
		if c%len(outs) != 0 {
			return fmt.Errorf("%d channels into %d equal outputs", c, len(outs))
		}
		for range outs {
			sizes = append(sizes, int64(c/len(outs)))
		}
	}
	if len(sizes) != len(outs) {
		return fmt.Errorf("split %v for %d outputs", sizes, len(outs))
	}
	start := 0
	for k, s := range sizes {
		if s < 1 || s > int64(c-start) {
			return fmt.Errorf("split %v of %d channels", sizes, c)
		}
		if outs[k] != "" && im.uses[outs[k]] > 0 {
			if err := im.sliceChannels(n, k, x, start, start+int(s)); err != nil {
				return err
			}
		}
		start += int(s)
	}
	if start != c {
		return fmt.Errorf("split %v of %d channels", sizes, c)
	}
	return nil
}

// slice takes channels [start, end) (step 1); every other axis it names
// must be kept whole.
func (im *importer) slice(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return err
	}
	r := len(x.shape)
	var p [4][]int64 // starts, ends, axes, steps
	for k, what := range []string{"starts", "ends", "axes", "steps"} {
		t, err := im.constInput(n, k+1, what)
		if err != nil {
			return err
		}
		if t == nil {
			continue
		}
		if p[k], err = intsOf(t, what); err != nil {
			return err
		}
	}
	if p[0] == nil || p[1] == nil || len(p[0]) != len(p[1]) {
		return fmt.Errorf("starts %v and ends %v", p[0], p[1])
	}
	if p[2] == nil {
		for k := range p[0] {
			p[2] = append(p[2], int64(k))
		}
	}
	if p[3] == nil {
		for range p[0] {
			p[3] = append(p[3], 1)
		}
	}
	if len(p[2]) != len(p[0]) || len(p[3]) != len(p[0]) {
		return fmt.Errorf("axes %v and steps %v for %d starts", p[2], p[3], len(p[0]))
	}
	start, end := 0, x.shape[1]
	for k, ax := range p[2] {
		if ax < 0 {
			ax += int64(r)
		}
		if ax < 0 || ax >= int64(r) {
			return fmt.Errorf("axis %d of a rank-%d tensor", p[2][k], r)
		}
		dim := int64(x.shape[ax])
		lo, hi := clampIndex(p[0][k], dim), clampIndex(p[1][k], dim)
		if ax == 0 {
			// The batch: only "all of it" is possible when it is dynamic.
			if p[0][k] == 0 && p[1][k] >= math.MaxInt32 && p[3][k] == 1 {
				continue
			}
			return fmt.Errorf("slicing the batch axis (starts %v, ends %v) is not supported", p[0], p[1])
		}
		if p[3][k] != 1 {
			return fmt.Errorf("steps %v: ptqc slices with step 1", p[3])
		}
		if ax != 1 {
			if lo == 0 && hi == dim {
				continue
			}
			return fmt.Errorf("slicing axis %d: ptqc slices channels (axis 1)", ax)
		}
		start, end = int(lo), int(hi)
	}
	if start >= end {
		return fmt.Errorf("channels [%d, %d) of %d: empty", start, end, x.shape[1])
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	return im.sliceChannels(n, 0, x, start, end)
}

// clampIndex is a Slice bound of an axis of dim elements, step 1: negative
// counts from the end, then clamped to [0, dim].
func clampIndex(v, dim int64) int64 {
	if v < 0 {
		v += dim
	}
	return min(max(v, 0), dim)
}

// targetShape resolves Reshape's shape s for a runtime value of shape
// from: 0 copies the dimension (allowzero 0), -1 is inferred, and the
// first dimension must be the batch.
func (im *importer) targetShape(from []int, s *tensor) ([]int, error) {
	per := 1
	for _, d := range from[1:] {
		per *= d
	}
	dims := make([]int, len(s.i))
	infer := -1
	known := 1
	for k, d := range s.i {
		marked := s.batch != nil && s.batch[k]
		switch {
		case marked && k != 0:
			return nil, errors.New("the batch size in a dimension other than the first")
		case marked, k == 0 && d == 0, k == 0 && im.batch > 0 && d == int64(im.batch):
			if k != 0 {
				return nil, errors.New("the batch in a dimension other than the first")
			}
			dims[k] = from[0]
			continue
		case d == 0 && k < len(from):
			dims[k] = from[k]
		case d == -1 && infer < 0:
			infer = k
			continue
		case d < 1 || d > int64(per):
			return nil, fmt.Errorf("dimension %d is %d", k, d)
		default:
			dims[k] = int(d)
		}
		if k > 0 {
			if known *= dims[k]; known > per {
				return nil, fmt.Errorf("%v has more elements per sample than the input's %d", s.i[1:], per)
			}
		}
	}
	switch {
	case infer == 0:
		// [-1, rest...]: the batch is whatever the rest leaves of one sample.
		if known != per {
			return nil, fmt.Errorf("the dimensions after the first make %d elements of a sample's %d", known, per)
		}
		dims[0] = from[0]
	case infer > 0:
		if known == 0 || per%known != 0 {
			return nil, fmt.Errorf("%d elements of a sample into a multiple of %d", per, known)
		}
		dims[infer] = per / known
	case len(dims) == 0:
		return nil, errors.New("a scalar")
	}
	if s.batch == nil && s.i[0] != 0 && s.i[0] != -1 && !(im.batch > 0 && s.i[0] == int64(im.batch)) {
		return nil, fmt.Errorf("first dimension %d is not the batch", s.i[0])
	}
	e := 1
	for _, d := range dims[1:] {
		e *= d
	}
	if e != per {
		return nil, fmt.Errorf("%v has %d elements per sample, the input %d", dims[1:], e, per)
	}
	return dims, nil
}

// reshape supports what classifiers do: [N, ...] to [N, features], and the
// [N, g, C/g, H, W] view of ShuffleNet's channel shuffle and back.
func (im *importer) reshape(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.plainInput(n)
	if x == nil {
		return err
	}
	s, err := im.constInput(n, 1, "shape")
	if err != nil {
		return err
	}
	if s == nil || !s.isInt() || len(s.dims) != 1 {
		return errors.New("shape (input 1) must be a 1-D integer constant")
	}
	if az, err := a.int("allowzero", 0); err != nil || az != 0 && az != 1 {
		return fmt.Errorf("allowzero %d (%v)", az, err)
	} else if az == 1 {
		for _, d := range s.i {
			if d == 0 {
				return errors.New("allowzero 1 with a zero dimension: an empty tensor")
			}
		}
	}
	target := fmt.Sprint(s.i)
	if s.hasBatch() {
		target = "[N" + target[1+len(fmt.Sprint(s.i[0])):]
	}
	dims, err := im.targetShape(x.shape, s)
	if err != nil {
		return fmt.Errorf("target shape %s of %v: %w", target, x.shape, err)
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	v := x.view
	switch {
	case v == nil && len(dims) == 2:
		return im.toFeatures(n, x)
	case v == nil && len(x.shape) == 2 && ir.EqualShape(dims[1:], []int{x.shape[1], 1, 1}) && im.lift(x.t):
		im.set(n, 0, &value{t: x.t, shape: dims})
		return nil
	case v == nil && ir.EqualShape(dims[1:], x.shape[1:]):
		im.set(n, 0, &value{t: x.t, shape: dims})
		return nil
	case v == nil && len(x.shape) == 4 && len(dims) == 3 && dims[1] == x.shape[1] && dims[2] == x.shape[2]*x.shape[3] && len(im.g.Tensors[x.t].Shape) == 3:
		im.set(n, 0, &value{t: x.t, shape: dims, cols: true})
		return nil
	case v == nil && len(x.shape) == 4 && len(dims) == 5 && dims[1]*dims[2] == x.shape[1] && dims[3] == x.shape[2] && dims[4] == x.shape[3]:
		im.set(n, 0, &value{t: x.t, shape: dims, view: &shuffleView{groups: dims[1]}})
		return nil
	case v != nil && len(dims) == 4 && dims[1] == x.shape[1]*x.shape[2] && dims[2] == x.shape[3] && dims[3] == x.shape[4]:
		if !v.shuffled {
			im.set(n, 0, &value{t: x.t, shape: dims})
			return nil
		}
		c, g := dims[1], v.groups
		perm := make([]int, c)
		for i := 0; i < c/g; i++ {
			for j := 0; j < g; j++ {
				perm[i*g+j] = j*(c/g) + i
			}
		}
		t, err := im.addInfer(&ir.Node{Op: ir.OpShuffle, Perm: perm}, x.t)
		if err != nil {
			return err
		}
		im.runtime(n, t, dims)
		return nil
	}
	return fmt.Errorf("target shape %s of %v: ptqc reshapes to [N, features], to [N, C, H*W] for a global pool, and to [N, g, C/g, H, W] and back (ShuffleNet's channel shuffle)", target, x.shape)
}

// transpose is the middle of a channel shuffle, or the identity.
func (im *importer) transpose(n *onnxpb.NodeProto, a *attrs) error {
	perm, err := a.ints("perm", nil)
	if err != nil {
		return err
	}
	if x, err := im.input(n, 0); err != nil {
		return err
	} else if ok, err := im.transposeRow(n, x, perm); ok {
		return err
	}
	x, err := im.plainInput(n)
	if x == nil {
		return err
	}
	r := len(x.shape)
	identity := len(perm) == r
	for k, p := range perm {
		identity = identity && p == int64(k)
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	switch {
	case identity:
		im.set(n, 0, x)
		return nil
	case x.view != nil && fmt.Sprint(perm) == "[0 2 1 3 4]":
		s := x.shape
		im.set(n, 0, &value{t: x.t, shape: []int{s[0], s[2], s[1], s[3], s[4]}, view: &shuffleView{groups: x.view.groups, shuffled: !x.view.shuffled}})
		return nil
	}
	return fmt.Errorf("perm %v of %v: ptqc transposes only in ShuffleNet's channel shuffle (a [N, g, C/g, H, W] view, perm [0 2 1 3 4])", perm, x.shape)
}

// gather of one channel (x[:, k], torchvision's transform_input) is a
// Slice whose ONNX value lacks the channel axis until an Unsqueeze puts it
// back; with 1-D indices [k] it keeps the axis.
func (im *importer) gather(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.image(n)
	if err != nil {
		return err
	}
	if err := channelAxisAttr(a, x); err != nil {
		return err
	}
	it, err := im.constInput(n, 1, "indices")
	if err != nil {
		return err
	}
	idx, err := intsOf(it, "indices (input 1)")
	if err != nil || len(idx) != 1 {
		return fmt.Errorf("indices %v: ptqc gathers one channel (%v)", idx, err)
	}
	k := idx[0]
	if k < 0 {
		k += int64(x.shape[1])
	}
	if k < 0 || k >= int64(x.shape[1]) {
		return fmt.Errorf("index %d of %d channels", idx[0], x.shape[1])
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	if err := im.sliceChannels(n, 0, x, int(k), int(k)+1); err != nil {
		return err
	}
	if len(it.dims) == 0 {
		v := *im.vals[n.GetOutput()[0]]
		v.shape = []int{x.shape[0], x.shape[2], x.shape[3]}
		v.squeezed = true
		im.set(n, 0, &v)
	}
	return nil
}

// squeeze drops H and W of an [N, C, 1, 1] value: x.squeeze(-1).squeeze(-1)
// or squeeze((2, 3)) after a global pool, a Flatten in ir.
func (im *importer) squeeze(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.runtimeInput(n, 0)
	if err != nil {
		return err
	}
	axes, err := im.runtimeAxes(n, a)
	if err != nil {
		return err
	}
	r := int64(len(x.shape))
	drop := map[int64]bool{}
	for _, ax := range axes {
		if ax < 0 {
			ax += r
		}
		if ax < 2 || ax >= r || x.shape[ax] != 1 {
			return fmt.Errorf("axes %v of %v: ptqc squeezes H and W of size 1", axes, x.shape)
		}
		drop[ax] = true
	}
	if len(axes) == 0 {
		return errors.New("no axes: ptqc squeezes named axes (the batch may be 1)")
	}
	var shape []int
	for k, d := range x.shape {
		if !drop[int64(k)] {
			shape = append(shape, d)
		}
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	if len(shape) == 2 {
		return im.toFeatures(n, x)
	}
	im.set(n, 0, &value{t: x.t, shape: shape}) // [N, C, 1] from [N, C, 1, 1]: the same elements
	return nil
}

// runtimeAxes reads Squeeze's or Unsqueeze's axes: an attribute before
// opset 13, a constant input from 13.
func (im *importer) runtimeAxes(n *onnxpb.NodeProto, a *attrs) ([]int64, error) {
	if im.opset < 13 {
		return a.ints("axes", nil)
	}
	t, err := im.constInput(n, 1, "axes")
	if err != nil || t == nil {
		return nil, err
	}
	return intsOf(t, "axes (input 1)")
}

// unsqueeze puts back the channel axis a Gather took, or makes [N, F]
// features the [N, F, 1, 1] map they were (lift; in one Unsqueeze of axes
// 2 and 3 or in two).
func (im *importer) unsqueeze(n *onnxpb.NodeProto, a *attrs) error {
	x, err := im.input(n, 0)
	if err != nil {
		return err
	}
	if x != nil && x.c == nil && (x.half || len(x.shape) == 2 && x.pads == nil && x.view == nil && !x.squeezed && x.expand == nil) {
		return im.unsqueezeFeatures(n, a, x)
	}
	if x != nil && x.c == nil && im.pooledColumn(x) {
		// ECA's unsqueeze(-1) back to [N, C, 1, 1].
		axes, err := im.runtimeAxes(n, a)
		if err != nil {
			return err
		}
		if len(axes) != 1 || axes[0] != 3 && axes[0] != -1 {
			return fmt.Errorf("axes %v of %v: ptqc unsqueezes a pooled [N, C, 1] only to [N, C, 1, 1]", axes, x.shape)
		}
		if err := im.onlyOutputs(n, 1); err != nil {
			return err
		}
		im.set(n, 0, &value{t: x.t, shape: append(slices.Clone(x.shape), 1)})
		return nil
	}
	if x == nil || !x.squeezed {
		_, err := im.runtimeInput(n, 0)
		if err == nil {
			err = errors.New("ptqc unsqueezes only a channel a Gather took (torchvision's transform_input)")
		}
		return err
	}
	axes, err := im.runtimeAxes(n, a)
	if err != nil {
		return err
	}
	if len(axes) != 1 || (axes[0] != 1 && axes[0] != -3) {
		return fmt.Errorf("axes %v: ptqc puts back the channel axis (1)", axes)
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	im.set(n, 0, &value{t: x.t, shape: []int{x.shape[0], 1, x.shape[1], x.shape[2]}})
	return nil
}

// unsqueezeFeatures is unsqueeze of an [N, F] (or half-done [N, F, 1]) value.
func (im *importer) unsqueezeFeatures(n *onnxpb.NodeProto, a *attrs, x *value) error {
	axes, err := im.runtimeAxes(n, a)
	if err != nil {
		return err
	}
	rank := len(x.shape)
	var got []int64
	for _, ax := range axes {
		if ax < 0 {
			ax += int64(rank + len(axes))
		}
		got = append(got, ax)
	}
	slices.Sort(got)
	half := slices.Equal(got, []int64{2})
	whole := rank == 2 && slices.Equal(got, []int64{2, 3}) || rank == 3 && slices.Equal(got, []int64{3})
	switch {
	case !half && !whole || half && rank != 2:
		return fmt.Errorf("axes %v of shape %v: ptqc unsqueezes [N, F] features only to [N, F, 1, 1]", axes, x.shape)
	case rank == 2 && !im.lift(x.t):
		return fmt.Errorf("axes %v of shape %v: ptqc unsqueezes features to a map only when they are computed per feature from a global pool, as a squeeze-excitation's", axes, x.shape)
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	shape := []int{x.shape[0], x.shape[1], 1, 1}
	if half {
		shape = shape[:3]
	}
	im.set(n, 0, &value{t: x.t, shape: shape, half: half})
	return nil
}

// expand is Expand of an [N, C, 1, 1] value to a map's [N, C, H, W]: left
// for the Mul that reads it, which broadcasts it as squeeze-excitation does.
func (im *importer) expand(n *onnxpb.NodeProto, a *attrs) error {
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
	to := slices.Clone(s.i)
	if len(to) != 4 || len(x.shape) != 4 || x.shape[2] != 1 || x.shape[3] != 1 || to[1] != int64(x.shape[1]) && to[1] != 1 || to[2] < 1 || to[3] < 1 {
		return fmt.Errorf("to %v from %v: ptqc expands [N, C, 1, 1] to [N, C, H, W] only, into a Mul", s.i, x.shape)
	}
	if err := im.onlyOutputs(n, 1); err != nil {
		return err
	}
	im.set(n, 0, &value{t: x.t, shape: x.shape, expand: []int{x.shape[0], x.shape[1], int(to[2]), int(to[3])}})
	return nil
}

// channelAxisAttr checks that the node's "axis" attribute (default 0) is
// x's channel axis.
func channelAxisAttr(a *attrs, x *value) error {
	axis, err := a.int("axis", 0)
	if err != nil {
		return err
	}
	return channelAxis(axis, len(x.shape))
}

// plainInput is input 0 when it is a runtime value with no pending form,
// else nil and runtimeInput's error for it.
func (im *importer) plainInput(n *onnxpb.NodeProto) (*value, error) {
	x, err := im.input(n, 0)
	if err != nil {
		return nil, err
	}
	if x == nil || x.c != nil || x.pads != nil {
		_, err := im.runtimeInput(n, 0)
		if err == nil {
			err = fmt.Errorf("input %q is not a plain runtime value", n.GetInput()[0])
		}
		return nil, err
	}
	return x, nil
}
