package onnx

import (
	"errors"
	"fmt"
	"math"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"github.com/ptqc/ptqc/internal/safesize"
	"github.com/ptqc/ptqc/ir"
)

// Constant folding of the shape subgraphs torch writes (x.reshape(x.size(0),
// -1) is Shape, Gather, Unsqueeze, Concat, Reshape). The batch size is not
// known before run time: a Shape of a runtime value marks its first element as
// the batch (tensor.batch), the marks follow the element through Gather,
// Unsqueeze, Squeeze, Concat and Cast and through arithmetic that leaves it
// unchanged (times or divided by 1, plus 0), and Reshape reads a marked first
// element as "the batch axis". Any other arithmetic on the batch is an error.

func (im *importer) foldConstant(n *onnxpb.NodeProto, a *attrs) (*tensor, error) {
	if len(n.GetInput()) > 0 {
		return nil, errors.New("Constant has inputs")
	}
	// Exactly one of the value attributes ptqc reads.
	var found []*tensor
	for _, v := range []struct {
		name string
		typ  onnxpb.AttributeProto_AttributeType
	}{
		{"value", onnxpb.AttributeProto_TENSOR},
		{"value_float", onnxpb.AttributeProto_FLOAT},
		{"value_floats", onnxpb.AttributeProto_FLOATS},
		{"value_int", onnxpb.AttributeProto_INT},
		{"value_ints", onnxpb.AttributeProto_INTS},
	} {
		p, err := a.get(v.name, v.typ)
		if err != nil {
			return nil, err
		}
		if p == nil {
			continue
		}
		var t *tensor
		switch v.typ {
		case onnxpb.AttributeProto_TENSOR:
			if t, err = decodeTensor(p.GetT()); err != nil {
				return nil, fmt.Errorf("value: %w", err)
			}
		case onnxpb.AttributeProto_FLOAT:
			t = &tensor{dtype: onnxpb.TensorProto_FLOAT, dims: []int{}, f: []float32{p.GetF()}}
		case onnxpb.AttributeProto_FLOATS:
			f := append([]float32{}, p.GetFloats()...)
			t = &tensor{dtype: onnxpb.TensorProto_FLOAT, dims: []int{len(f)}, f: f}
		case onnxpb.AttributeProto_INT:
			t = &tensor{dtype: onnxpb.TensorProto_INT64, dims: []int{}, i: []int64{p.GetI()}}
		case onnxpb.AttributeProto_INTS:
			i := append([]int64{}, p.GetInts()...)
			t = &tensor{dtype: onnxpb.TensorProto_INT64, dims: []int{len(i)}, i: i}
		}
		found = append(found, t)
	}
	switch len(found) {
	case 0:
		return nil, errors.New("no value attribute ptqc reads (value, value_float(s), value_int(s))")
	case 1:
		return found[0], nil
	}
	return nil, errors.New("more than one value attribute")
}

// foldShape is the shape of a runtime value, the batch marked, or of a constant.
func (im *importer) foldShape(n *onnxpb.NodeProto, a *attrs) (*tensor, error) {
	x, err := im.input(n, 0)
	if err != nil {
		return nil, err
	}
	if x == nil {
		return nil, errors.New("input 0 is missing")
	}
	var shape []int64
	var batch []bool
	if x.c != nil {
		for _, d := range x.c.dims {
			shape = append(shape, int64(d))
		}
	} else {
		for _, d := range x.shape {
			shape = append(shape, int64(d))
		}
		batch = make([]bool, len(shape))
		batch[0] = true
	}
	r := int64(len(shape))
	start, end := int64(0), r
	if im.opset >= 15 {
		if start, err = a.int("start", 0); err != nil {
			return nil, err
		}
		if end, err = a.int("end", r); err != nil {
			return nil, err
		}
	}
	clampAxis := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	start, end = clampAxis(start), clampAxis(end)
	if end < start {
		end = start
	}
	t := &tensor{dtype: onnxpb.TensorProto_INT64, dims: []int{int(end - start)}, i: append([]int64{}, shape[start:end]...)}
	if batch != nil {
		t.batch = batch[start:end]
	}
	return t, nil
}

// consts returns the node's inputs, all constants (absent ones nil).
func (im *importer) consts(n *onnxpb.NodeProto) ([]*tensor, error) {
	ts := make([]*tensor, len(n.GetInput()))
	for k := range ts {
		v, err := im.input(n, k)
		if err != nil {
			return nil, err
		}
		if v != nil {
			ts[k] = v.c
		}
	}
	return ts, nil
}

// withConsts is a fold of an op whose inputs are all constants: f gets them
// from consts.
func withConsts(f func(*importer, *onnxpb.NodeProto, []*tensor, *attrs) (*tensor, error)) func(*importer, *onnxpb.NodeProto, *attrs) (*tensor, error) {
	return func(im *importer, n *onnxpb.NodeProto, a *attrs) (*tensor, error) {
		ts, err := im.consts(n)
		if err != nil {
			return nil, err
		}
		return f(im, n, ts, a)
	}
}

// ints returns an integer constant without batch marks as a slice.
func intsOf(t *tensor, what string) ([]int64, error) {
	if t == nil || !t.isInt() || t.hasBatch() || len(t.dims) > 1 {
		return nil, fmt.Errorf("%s must be a constant integer scalar or vector", what)
	}
	return t.i, nil
}

func (im *importer) foldGather(n *onnxpb.NodeProto, ts []*tensor, a *attrs) (*tensor, error) {
	if len(ts) != 2 || ts[0] == nil || ts[1] == nil {
		return nil, errors.New("needs data and indices")
	}
	data := ts[0]
	if axis, err := a.int("axis", 0); err != nil || (axis != 0 && axis != -1) || len(data.dims) != 1 {
		return nil, fmt.Errorf("ptqc folds Gather on vectors only (data %v, axis %d) %v", data.dims, axis, err)
	}
	idx, err := intsOf(ts[1], "indices")
	if err != nil {
		return nil, err
	}
	out := &tensor{dtype: data.dtype, dims: append([]int{}, ts[1].dims...)}
	for _, k := range idx {
		if k < 0 {
			k += int64(data.len())
		}
		if k < 0 || k >= int64(data.len()) {
			return nil, fmt.Errorf("index %d out of range for %d elements", k, data.len())
		}
		if data.isInt() {
			out.i = append(out.i, data.i[k])
		} else {
			out.f = append(out.f, data.f[k])
		}
		if data.batch != nil {
			out.batch = append(out.batch, data.batch[k])
		}
	}
	if data.isInt() && out.i == nil {
		out.i = []int64{}
	} else if !data.isInt() && out.f == nil {
		out.f = []float32{}
	}
	return out, nil
}

// axesOf reads the input and the axes of Unsqueeze or Squeeze: the axes are
// an attribute before opset 13, an input from 13.
func (im *importer) axesOf(ts []*tensor, a *attrs) (*tensor, []int64, error) {
	if len(ts) == 0 || ts[0] == nil {
		return nil, nil, errors.New("input 0 is missing")
	}
	var axes []int64
	var err error
	if im.opset < 13 {
		axes, err = a.ints("axes", nil)
	} else if len(ts) >= 2 && ts[1] != nil {
		axes, err = intsOf(ts[1], "axes")
	}
	return ts[0], axes, err
}

func (im *importer) foldUnsqueeze(n *onnxpb.NodeProto, ts []*tensor, a *attrs) (*tensor, error) {
	x, axes, err := im.axesOf(ts, a)
	if err != nil {
		return nil, err
	}
	r := len(x.dims) + len(axes)
	if len(axes) == 0 || r > 8 {
		return nil, fmt.Errorf("axes %v for a tensor of rank %d", axes, len(x.dims))
	}
	ones := make([]bool, r)
	for _, ax := range axes {
		if ax < 0 {
			ax += int64(r)
		}
		if ax < 0 || ax >= int64(r) || ones[ax] {
			return nil, fmt.Errorf("axes %v for a tensor of rank %d", axes, len(x.dims))
		}
		ones[ax] = true
	}
	dims, k := make([]int, r), 0
	for i := range dims {
		if ones[i] {
			dims[i] = 1
		} else {
			dims[i] = x.dims[k]
			k++
		}
	}
	out := *x
	out.dims = dims
	return &out, nil
}

func (im *importer) foldSqueeze(n *onnxpb.NodeProto, ts []*tensor, a *attrs) (*tensor, error) {
	x, axes, err := im.axesOf(ts, a)
	if err != nil {
		return nil, err
	}
	in := x.dims
	drop := make([]bool, len(in))
	for _, ax := range axes {
		if ax < 0 {
			ax += int64(len(in))
		}
		if ax < 0 || ax >= int64(len(in)) || in[ax] != 1 {
			return nil, fmt.Errorf("axes %v for shape %v", axes, in)
		}
		drop[ax] = true
	}
	var dims []int
	for i, d := range in {
		if !drop[i] && (len(axes) > 0 || d != 1) {
			dims = append(dims, d)
		}
	}
	out := *x
	out.dims = append([]int{}, dims...)
	return &out, nil
}

func (im *importer) foldConcat(n *onnxpb.NodeProto, ts []*tensor, a *attrs) (*tensor, error) {
	if axis, err := a.int("axis", 0); err != nil || (axis != 0 && axis != -1) {
		return nil, fmt.Errorf("ptqc folds Concat of vectors only (axis %d) %v", axis, err)
	}
	if len(ts) == 0 {
		return nil, errors.New("no inputs")
	}
	total := 0
	for k, t := range ts {
		if t == nil || len(t.dims) != 1 {
			return nil, fmt.Errorf("input %d is not a vector", k)
		}
		if total += t.len(); total > maxFoldSize {
			return nil, fmt.Errorf("more than %d elements", maxFoldSize)
		}
	}
	out := &tensor{}
	marked := false
	for k, t := range ts {
		if k == 0 {
			out.dtype = t.dtype
		} else if t.isInt() != ts[0].isInt() {
			return nil, errors.New("inputs of different dtypes")
		}
		out.i, out.f = append(out.i, t.i...), append(out.f, t.f...)
		marked = marked || t.hasBatch()
	}
	if marked {
		for _, t := range ts {
			b := t.batch
			if b == nil {
				b = make([]bool, t.len())
			}
			out.batch = append(out.batch, b...)
		}
	}
	if ts[0].isInt() {
		out.f = nil
		if out.i == nil {
			out.i = []int64{}
		}
	} else if out.f == nil {
		out.f = []float32{}
	}
	out.dims = []int{out.len()}
	return out, nil
}

func (im *importer) foldCast(n *onnxpb.NodeProto, ts []*tensor, a *attrs) (*tensor, error) {
	if len(ts) == 0 || ts[0] == nil {
		return nil, errors.New("input 0 is missing")
	}
	to, err := a.int("to", 0)
	if err != nil {
		return nil, err
	}
	if im.opset >= 19 {
		if _, err := a.int("saturate", 1); err != nil { // for float8 targets only
			return nil, err
		}
	}
	x := ts[0]
	out := &tensor{dtype: onnxpb.TensorProto_DataType(to), dims: x.dims}
	switch out.dtype {
	case onnxpb.TensorProto_INT64, onnxpb.TensorProto_INT32:
		if x.isInt() {
			out.i, out.batch = x.i, x.batch
			if to == int64(onnxpb.TensorProto_INT32) {
				out.i = make([]int64, len(x.i))
				for k, v := range x.i {
					out.i[k] = int64(int32(v))
				}
			}
			return out, nil
		}
		out.i = make([]int64, len(x.f))
		for k, v := range x.f {
			if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 1<<62 {
				return nil, fmt.Errorf("casting %v to an integer", v)
			}
			out.i[k] = int64(v)
		}
	case onnxpb.TensorProto_FLOAT:
		if x.hasBatch() {
			return nil, errors.New("casting the batch size to a float is not supported")
		}
		out.f = make([]float32, x.len())
		for k := range out.f {
			if x.isInt() {
				out.f[k] = float32(x.i[k])
			} else {
				out.f[k] = x.f[k]
			}
		}
	default:
		return nil, fmt.Errorf("cast to %s is not supported (FLOAT, INT32, INT64 are)", out.dtype)
	}
	return out, nil
}

// foldArith is Add, Sub, Mul or Div of two constants of one dtype, one of
// them possibly a scalar (the broadcasting shape arithmetic uses).
func (im *importer) foldArith(n *onnxpb.NodeProto, ts []*tensor, a *attrs) (*tensor, error) {
	if len(ts) != 2 || ts[0] == nil || ts[1] == nil {
		return nil, errors.New("needs two inputs")
	}
	x, y := ts[0], ts[1]
	if x.isInt() != y.isInt() {
		return nil, errors.New("operands of different dtypes")
	}
	nx, ny := x.len(), y.len()
	dims := x.dims
	switch {
	case ir.EqualShape(x.dims, y.dims):
	case ny == 1 && len(y.dims) <= len(x.dims):
	case nx == 1 && len(x.dims) <= len(y.dims):
		dims = y.dims
	default:
		return nil, fmt.Errorf("ptqc folds elementwise arithmetic on equal shapes or with a scalar, not %v and %v", x.dims, y.dims)
	}
	size, err := safesize.Elements(dims, maxFoldSize)
	if err != nil {
		return nil, err
	}
	op := n.GetOpType()
	out := &tensor{dtype: x.dtype, dims: append([]int{}, dims...)}
	at := func(t *tensor, k int) int {
		if t.len() == 1 {
			return 0
		}
		return k
	}
	if !x.isInt() {
		out.f = make([]float32, size)
		for k := range out.f {
			p, q := x.f[at(x, k)], y.f[at(y, k)]
			switch op {
			case "Add":
				out.f[k] = p + q
			case "Sub":
				out.f[k] = p - q
			case "Mul":
				out.f[k] = p * q
			case "Div":
				out.f[k] = p / q
			}
		}
		return out, nil
	}
	out.i = make([]int64, size)
	for k := range out.i {
		p, q := x.i[at(x, k)], y.i[at(y, k)]
		bp := x.batch != nil && x.batch[at(x, k)]
		bq := y.batch != nil && y.batch[at(y, k)]
		keep := false // the result is the batch size
		switch op {
		case "Add":
			out.i[k] = p + q
			keep = (bp && q == 0 && !bq) || (bq && p == 0 && !bp)
		case "Sub":
			out.i[k] = p - q
			keep = bp && q == 0 && !bq
		case "Mul":
			out.i[k] = p * q
			keep = (bp && q == 1 && !bq) || (bq && p == 1 && !bp)
		case "Div":
			if q == 0 {
				return nil, errors.New("integer division by zero")
			}
			out.i[k] = p / q
			keep = bp && q == 1 && !bq
		}
		if (bp || bq) && !keep {
			return nil, fmt.Errorf("%s on the batch size (not known before run time) is not supported", op)
		}
		if keep {
			if out.batch == nil {
				out.batch = make([]bool, size)
			}
			out.batch[k] = true
		}
	}
	return out, nil
}

func (im *importer) foldIdentity(n *onnxpb.NodeProto, ts []*tensor, a *attrs) (*tensor, error) {
	if len(ts) != 1 || ts[0] == nil {
		return nil, errors.New("needs one input")
	}
	return ts[0], nil
}

// foldReshape reshapes a constant (no batch marks) to an explicit shape.
func (im *importer) foldReshape(n *onnxpb.NodeProto, ts []*tensor, a *attrs) (*tensor, error) {
	if len(ts) != 2 || ts[0] == nil || ts[1] == nil {
		return nil, errors.New("needs data and shape")
	}
	if _, err := a.int("allowzero", 0); err != nil {
		return nil, err
	}
	shape, err := intsOf(ts[1], "shape")
	if err != nil || ts[0].hasBatch() {
		return nil, fmt.Errorf("reshaping a constant: %v", err)
	}
	if len(shape) > 8 {
		return nil, fmt.Errorf("shape %v: at most 8 dimensions", shape)
	}
	dims, infer, known := make([]int, len(shape)), -1, 1
	for k, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = k
			continue
		case d == 0 && k < len(ts[0].dims):
			d = int64(ts[0].dims[k])
		case d < 0 || d > maxFoldSize:
			return nil, fmt.Errorf("shape %v", shape)
		}
		dims[k] = int(d)
		if known *= max(int(d), 1); known > maxFoldSize {
			return nil, fmt.Errorf("shape %v", shape)
		}
	}
	if infer >= 0 {
		if ts[0].len()%known != 0 {
			return nil, fmt.Errorf("shape %v for %d elements", shape, ts[0].len())
		}
		dims[infer] = ts[0].len() / known
	}
	if e, err := safesize.Elements(dims, maxFoldSize); err != nil || e != ts[0].len() {
		return nil, fmt.Errorf("shape %v for %d elements", shape, ts[0].len())
	}
	out := *ts[0]
	out.dims = dims
	return &out, nil
}

func (im *importer) foldConstantOfShape(n *onnxpb.NodeProto, ts []*tensor, a *attrs) (*tensor, error) {
	if len(ts) != 1 || ts[0] == nil {
		return nil, errors.New("needs a shape")
	}
	shape, err := intsOf(ts[0], "shape")
	if err != nil {
		return nil, err
	}
	if len(shape) > 8 {
		return nil, fmt.Errorf("shape %v: at most 8 dimensions", shape)
	}
	dims := make([]int, len(shape))
	for k, d := range shape {
		if d < 0 || d > maxFoldSize {
			return nil, fmt.Errorf("shape %v", shape)
		}
		dims[k] = int(d)
	}
	size, err := safesize.Elements(dims, maxFoldSize)
	if err != nil {
		return nil, err
	}
	fill := &tensor{dtype: onnxpb.TensorProto_FLOAT, dims: []int{1}, f: []float32{0}}
	if p, err := a.get("value", onnxpb.AttributeProto_TENSOR); err != nil {
		return nil, err
	} else if p != nil {
		if fill, err = decodeTensor(p.GetT()); err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		if fill.len() != 1 {
			return nil, fmt.Errorf("value has %d elements, want 1", fill.len())
		}
	}
	out := &tensor{dtype: fill.dtype, dims: dims}
	if fill.isInt() {
		out.i = make([]int64, size)
		for k := range out.i {
			out.i[k] = fill.i[0]
		}
	} else {
		out.f = make([]float32, size)
		for k := range out.f {
			out.f[k] = fill.f[0]
		}
	}
	return out, nil
}

// strides is the row-major element stride of each dimension of dims.
func strides(dims []int) []int {
	s := make([]int, len(dims))
	acc := 1
	for k := len(dims) - 1; k >= 0; k-- {
		s[k] = acc
		acc *= dims[k]
	}
	return s
}

// gather builds a tensor of dims whose element at index idx (one per
// dimension of dims) is src's element at from(idx), batch marks included.
func gather(src *tensor, dims []int, from func(idx []int) int) *tensor {
	out := &tensor{dtype: src.dtype, dims: dims}
	size := 1
	for _, d := range dims {
		size *= d
	}
	if src.isInt() {
		out.i = make([]int64, size)
	} else {
		out.f = make([]float32, size)
	}
	if src.batch != nil {
		out.batch = make([]bool, size)
	}
	idx := make([]int, len(dims))
	for k := 0; k < size; k++ {
		r := k
		for d := len(dims) - 1; d >= 0; d-- {
			idx[d] = r % dims[d]
			r /= dims[d]
		}
		j := from(idx)
		if src.isInt() {
			out.i[k] = src.i[j]
		} else {
			out.f[k] = src.f[j]
		}
		if src.batch != nil {
			out.batch[k] = src.batch[j]
		}
	}
	return out
}

func (im *importer) foldTranspose(n *onnxpb.NodeProto, ts []*tensor, a *attrs) (*tensor, error) {
	if len(ts) != 1 || ts[0] == nil {
		return nil, errors.New("needs one input")
	}
	x := ts[0]
	r := len(x.dims)
	perm, err := a.ints("perm", nil)
	if err != nil {
		return nil, err
	}
	if perm == nil {
		for k := r - 1; k >= 0; k-- {
			perm = append(perm, int64(k))
		}
	}
	seen := make([]bool, r)
	if len(perm) != r {
		return nil, fmt.Errorf("perm %v for a rank-%d constant", perm, r)
	}
	for _, p := range perm {
		if p < 0 || p >= int64(r) || seen[p] {
			return nil, fmt.Errorf("perm %v for a rank-%d constant", perm, r)
		}
		seen[p] = true
	}
	dims := make([]int, r)
	for k, p := range perm {
		dims[k] = x.dims[p]
	}
	st := strides(x.dims)
	return gather(x, dims, func(idx []int) int {
		j := 0
		for k, p := range perm {
			j += idx[k] * st[p]
		}
		return j
	}), nil
}

// foldSlice slices a constant, steps of any sign as ONNX defines them.
func (im *importer) foldSlice(n *onnxpb.NodeProto, ts []*tensor, a *attrs) (*tensor, error) {
	if len(ts) < 3 || ts[0] == nil || ts[1] == nil || ts[2] == nil {
		return nil, errors.New("needs data, starts and ends")
	}
	x := ts[0]
	r := len(x.dims)
	var p [4][]int64
	for k := range p {
		if k+1 < len(ts) && ts[k+1] != nil {
			var err error
			if p[k], err = intsOf(ts[k+1], []string{"starts", "ends", "axes", "steps"}[k]); err != nil {
				return nil, err
			}
		}
	}
	m := len(p[0])
	if p[2] == nil {
		for k := range m {
			p[2] = append(p[2], int64(k))
		}
	}
	if p[3] == nil {
		for range m {
			p[3] = append(p[3], 1)
		}
	}
	if len(p[1]) != m || len(p[2]) != m || len(p[3]) != m {
		return nil, fmt.Errorf("starts %v, ends %v, axes %v, steps %v", p[0], p[1], p[2], p[3])
	}
	start, step := make([]int, r), make([]int, r)
	dims := append([]int{}, x.dims...)
	for k := range step {
		step[k] = 1
	}
	seen := make([]bool, r)
	for k, ax := range p[2] {
		if ax < 0 {
			ax += int64(r)
		}
		if ax < 0 || ax >= int64(r) || seen[ax] {
			return nil, fmt.Errorf("axes %v for a rank-%d constant", p[2], r)
		}
		seen[ax] = true
		d, s := int64(x.dims[ax]), p[3][k]
		if s == 0 || s < -maxFoldSize || s > maxFoldSize {
			return nil, fmt.Errorf("step %d", s)
		}
		lo, hi := p[0][k], p[1][k]
		if lo < 0 {
			lo += d
		}
		if hi < 0 {
			hi += d
		}
		var cnt int64
		if s > 0 {
			lo, hi = min(max(lo, 0), d), min(max(hi, 0), d)
			if hi > lo {
				cnt = (hi - lo + s - 1) / s
			}
		} else {
			lo, hi = min(max(lo, -1), d-1), min(max(hi, -1), d-1)
			if lo > hi {
				cnt = (lo - hi - s - 1) / -s
			}
		}
		start[ax], step[ax], dims[ax] = int(lo), int(s), int(cnt)
	}
	st := strides(x.dims)
	return gather(x, dims, func(idx []int) int {
		j := 0
		for k, i := range idx {
			j += (start[k] + i*step[k]) * st[k]
		}
		return j
	}), nil
}

func (im *importer) foldRange(n *onnxpb.NodeProto, ts []*tensor, a *attrs) (*tensor, error) {
	if len(ts) != 3 || ts[0] == nil || ts[1] == nil || ts[2] == nil {
		return nil, errors.New("needs start, limit and delta")
	}
	var v [3]int64
	for k, t := range ts {
		if !t.isInt() || t.len() != 1 || t.hasBatch() || len(t.dims) != 0 {
			return nil, errors.New("ptqc folds Range of integer scalars (not the batch size)")
		}
		v[k] = t.i[0]
		if v[k] < -1<<40 || v[k] > 1<<40 {
			return nil, fmt.Errorf("Range bound %d", v[k])
		}
	}
	if v[2] == 0 {
		return nil, errors.New("delta 0")
	}
	var cnt int64
	if d := v[1] - v[0]; (d > 0) == (v[2] > 0) && d != 0 {
		cnt = (d + v[2] - sign(v[2])) / v[2]
	}
	if cnt > maxFoldSize {
		return nil, fmt.Errorf("%d elements", cnt)
	}
	out := &tensor{dtype: ts[0].dtype, dims: []int{int(cnt)}, i: make([]int64, cnt)}
	for k := range out.i {
		out.i[k] = v[0] + int64(k)*v[2]
	}
	return out, nil
}

func sign(v int64) int64 {
	if v < 0 {
		return -1
	}
	return 1
}
