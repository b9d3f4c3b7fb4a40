package compiler

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/ptqc/ptqc/frontend/onnx"
	"github.com/ptqc/ptqc/internal/safesize"
	"github.com/ptqc/ptqc/ir"
)

// The quantized-model file (.ptqm):
//
//	6 bytes   magic "PTQCQM"
//	2 bytes   the format version, two decimal digits: "02"
//	8 bytes   little-endian uint64 N, the header length
//	N bytes   JSON: the Model (description, meta, tensors with scale and zero point,
//	          nodes with every layer's multipliers, float biases, clamps and weight scales)
//	rest      for each conv/linear node in order: its int8 weights (OutC x InC/Groups x K x K)
//
// Version 01 held int32 biases at s_x*s_w[c] after the weights; version 02
// keeps them in float (ARCHITECTURE.md's numerics), so 01 files are refused.
const (
	magic         = "PTQCQM"
	formatVersion = "02"
)

// maxHeader bounds the JSON header, so a corrupt length cannot make us allocate much.
const maxHeader = 64 << 20

// Encode serialises m.
func (m *Model) Encode() ([]byte, error) {
	h, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(magic + formatVersion)
	binary.Write(&b, binary.LittleEndian, uint64(len(h)))
	b.Write(h)
	for _, n := range m.Nodes {
		if c := n.Conv; c != nil {
			for _, w := range c.Weight {
				b.WriteByte(byte(w))
			}
		}
	}
	return b.Bytes(), nil
}

// WriteModel saves m to path atomically (temp file and rename).
func WriteModel(path string, m *Model) error {
	b, err := m.Encode()
	if err != nil {
		return fmt.Errorf("quantized model %s: %w", path, err)
	}
	return writeFileAtomic(path, b)
}

func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// ReadModel loads a quantized-model file.
func ReadModel(path string) (*Model, error) {
	b, err := safesize.ReadFile(path, 0, 16, func(head []byte, size int64) error {
		if err := checkPrefix(head, size); err != nil {
			return fmt.Errorf("quantized model %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("quantized model: %w", err)
	}
	m, err := DecodeModel(b)
	if err != nil {
		return nil, fmt.Errorf("quantized model %s: %w", path, err)
	}
	return m, nil
}

// DecodeModel parses and validates a quantized-model file's bytes.
func DecodeModel(b []byte) (*Model, error) {
	if err := checkPrefix(b, int64(len(b))); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint64(b[8:16])
	m := &Model{}
	if err := json.Unmarshal(b[16:16+n], m); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	blob := b[16+n:]
	for _, nd := range m.Nodes {
		c := nd.Conv
		if c == nil {
			continue
		}
		w := c.Window()
		nw, err := safesize.Elements([]int{c.OutC, c.InC / c.Groups, w.KH, w.KW}, len(blob))
		if err != nil {
			return nil, fmt.Errorf("layer %s: weights (%d x %d x %d x %d bytes) run past the end of the file", safesize.Name(nd.Name), c.OutC, c.InC/c.Groups, w.KH, w.KW)
		}
		c.Weight = make([]int8, nw)
		for i := range c.Weight {
			c.Weight[i] = int8(blob[i])
		}
		blob = blob[nw:]
	}
	if len(blob) != 0 {
		return nil, fmt.Errorf("%d unexpected bytes after the last layer", len(blob))
	}
	return m, nil
}

// FormatVersionError is a .ptqm file of another format version than this
// ptqc reads: the way out is to quantize the model again and save it.
type FormatVersionError struct{ Got, Want string }

func (e *FormatVersionError) Error() string {
	return fmt.Sprintf("quantized model format version %q, this ptqc reads version %q", e.Got, e.Want)
}

// checkPrefix checks the magic, version and header length at the start b of
// a file of size bytes.
func checkPrefix(b []byte, size int64) error {
	if len(b) < 16 || string(b[:6]) != magic {
		return errors.New("not a ptqc quantized model (bad magic)")
	}
	if v := string(b[6:8]); v != formatVersion {
		return &FormatVersionError{Got: v, Want: formatVersion}
	}
	if n := binary.LittleEndian.Uint64(b[8:16]); n > maxHeader || n > uint64(size-16) {
		return fmt.Errorf("header length %d exceeds the file (%d bytes)", n, size)
	}
	return nil
}

// validate checks a decoded header: references, shapes and qparams, so the
// interpreter and code generator can trust it.
func (m *Model) validate() error {
	if m.Desc == nil {
		return errors.New("header has no description")
	}
	if err := validateDescription(m.Desc); err != nil {
		return fmt.Errorf("description: %w", err)
	}
	nt := len(m.Tensors)
	ok := func(id int) bool { return id >= 0 && id < nt && m.Tensors[id] != nil }
	if !ok(m.Input) || !ok(m.Output) {
		return errors.New("input or output tensor out of range")
	}
	for i, t := range m.Tensors {
		if t == nil || t.ID != i {
			return fmt.Errorf("tensor %d: missing or misnumbered", i)
		}
		if len(t.Shape) == 0 || len(t.Shape) > 3 {
			return fmt.Errorf("tensor %d: shape %v", i, t.Shape)
		}
		e := 1
		for _, d := range t.Shape {
			if d < 1 || d > 1<<16 {
				return fmt.Errorf("tensor %d: shape %v", i, t.Shape)
			}
			e *= d
			if e > ir.MaxTensorElems {
				return fmt.Errorf("tensor %d: shape %v has more than the limit of %d elements", i, t.Shape, ir.MaxTensorElems)
			}
		}
	}
	if len(m.Nodes) > ir.MaxNodes {
		return fmt.Errorf("%d layers, more than the limit of %d", len(m.Nodes), ir.MaxNodes)
	}
	if !ir.EqualShape(m.Desc.Input, m.Tensors[m.Input].Shape) {
		return fmt.Errorf("description input %v differs from the graph input %v", m.Desc.Input, m.Tensors[m.Input].Shape)
	}
	if len(m.Nodes) == 0 {
		return errors.New("no layers")
	}
	if err := m.checkOrder(); err != nil {
		return err
	}
	acts := float64(m.Tensors[m.Input].Elems())
	var macs float64
	for _, n := range m.Nodes {
		want := 1
		switch n.Kind {
		case KAdd, KMul:
			want = 2
		case KConcat:
			want = len(n.In)
		}
		if len(n.In) != want || want == 0 || want > maxConcat || !ok(n.Out) {
			return fmt.Errorf("layer %s: bad inputs %v or output %d", safesize.Name(n.Name), n.In, n.Out)
		}
		for _, id := range n.In {
			if !ok(id) {
				return fmt.Errorf("layer %s: input %d out of range", safesize.Name(n.Name), id)
			}
		}
		if n.Kind != KDequantize {
			if t := m.Tensors[n.Out]; !(t.Scale > 0) || math.IsInf(t.Scale, 0) || t.Zero < 0 || t.Zero > 255 {
				return fmt.Errorf("layer %s: output scale %v / zero point %d invalid", safesize.Name(n.Name), t.Scale, t.Zero)
			}
		}
		if (n.Conv != nil) != (n.Kind == KConv || n.Kind == KLinear) || (n.Add != nil) != (n.Kind == KAdd) ||
			(n.Pool != nil) != (n.Kind == KMaxPool || n.Kind == KAvgPool) || (n.Table != nil) != (n.Kind == KTable) ||
			(n.Mul != nil) != (n.Kind == KMul) || (n.Concat != nil) != (n.Kind == KConcat) ||
			(n.Slice != nil) != (n.Kind == KSlice) || (n.Perm != nil) != (n.Kind == KShuffle) {
			return fmt.Errorf("layer %s: %s with parameters of another kind", safesize.Name(n.Name), n.Kind)
		}
		in, out := m.Tensors[n.In[0]], m.Tensors[n.Out]
		acts += float64(out.Elems())
		switch n.Kind {
		case KConv, KLinear:
			if err := n.Conv.validate(in, out, n.Kind); err != nil {
				return fmt.Errorf("layer %s: %w", safesize.Name(n.Name), err)
			}
			w := n.Conv.Window()
			macs += float64(out.Elems()) * float64(n.Conv.InC/n.Conv.Groups) * float64(w.Taps())
		case KAdd:
			if n.Add == nil || !ir.EqualShape(in.Shape, out.Shape) || !ir.EqualShape(m.Tensors[n.In[1]].Shape, out.Shape) {
				return fmt.Errorf("layer %s: bad add", safesize.Name(n.Name))
			}
		case KMaxPool, KAvgPool:
			if err := n.Pool.validate(n.Kind, in, out); err != nil {
				return fmt.Errorf("layer %s: %w", safesize.Name(n.Name), err)
			}
		case KTable, KMul, KConcat, KSlice, KShuffle, KChannelMax:
			if err := m.validateOp(n); err != nil {
				return fmt.Errorf("layer %s: %w", safesize.Name(n.Name), err)
			}
		case KMean:
			if len(in.Shape) != 3 || len(out.Shape) != 1 || out.Shape[0] != in.Shape[0] {
				return fmt.Errorf("layer %s: mean from %v to %v", safesize.Name(n.Name), in.Shape, out.Shape)
			}
		case KQuantize, KDequantize:
			if !ir.EqualShape(in.Shape, out.Shape) {
				return fmt.Errorf("layer %s: shape %v to %v", safesize.Name(n.Name), in.Shape, out.Shape)
			}
			if n.Softmax != "" && (n.Kind != KDequantize || n.Post() == nil || len(out.Shape) == 0 || out.Elems() != out.Shape[0]) {
				return fmt.Errorf("layer %s: %s with softmax %q on shape %v", safesize.Name(n.Name), n.Kind, safesize.Name(n.Softmax), out.Shape)
			}
		default:
			return fmt.Errorf("layer %s: unknown kind %d", safesize.Name(n.Name), n.Kind)
		}
	}
	if acts > ir.MaxActivations || macs > ir.MaxMACs {
		return fmt.Errorf("activations of %.3g elements and %.3g multiply-accumulates per sample: more than the limits of %.3g and %.3g", acts, macs, float64(ir.MaxActivations), float64(ir.MaxMACs))
	}
	return nil
}

// checkOrder checks the graph as the code generator relies on it: a
// Quantize of the model input first, a Dequantize to the model output last,
// every other layer reading only tensors computed before it, and no tensor
// computed twice.
func (m *Model) checkOrder() error {
	written := map[int]bool{}
	last := len(m.Nodes) - 1
	for i, n := range m.Nodes {
		name := safesize.Name(n.Name)
		if (n.Kind == KQuantize) != (i == 0) || (n.Kind == KDequantize) != (i == last) {
			return fmt.Errorf("layer %d (%s, %s): the first layer must be the only Quantize and the last the only Dequantize", i, name, n.Kind)
		}
		for _, id := range n.In {
			if i == 0 {
				if id != m.Input {
					return fmt.Errorf("layer 0 (%s): quantizes tensor %d, not the model input %d", name, id, m.Input)
				}
			} else if !written[id] {
				return fmt.Errorf("layer %d (%s): reads tensor %d before any layer computes it (layers out of order?)", i, name, id)
			}
		}
		if written[n.Out] || n.Out == m.Input {
			return fmt.Errorf("layer %d (%s): tensor %d is computed twice", i, name, n.Out)
		}
		written[n.Out] = true
	}
	if out := m.Nodes[last].Out; out != m.Output {
		return fmt.Errorf("the last layer computes tensor %d, not the model output %d", out, m.Output)
	}
	return nil
}

func (c *Conv) validate(in, out *Tensor, k Kind) error {
	if c == nil {
		return errors.New("no conv parameters")
	}
	square := c.Kernel >= 1 && c.Kernel <= 64 && c.Stride >= 1 && c.Pad >= 0 && c.Pad <= 64
	if c.Geom != nil {
		square = c.Kernel == 0 && c.Stride == 0 && c.Pad == 0 && validWindow(c.Geom, false)
	}
	if c.Groups < 1 || c.InC < 1 || c.OutC < 1 || c.InC%c.Groups != 0 || c.OutC%c.Groups != 0 || !square {
		return fmt.Errorf("bad geometry %+v", *c)
	}
	w := c.Window()
	if c.Act != ir.ActNone && c.Act != ir.ActReLU && c.Act != ir.ActReLU6 {
		return fmt.Errorf("unknown activation code %d", c.Act)
	}
	if len(c.M) != c.OutC || len(c.WScale) != c.OutC || len(c.B) != c.OutC || c.Lo < 0 || c.Hi > 255 || c.Lo > c.Hi {
		return errors.New("multipliers, weight scales, biases or clamp do not match the channel count")
	}
	for o := range c.OutC {
		if !finite32(c.M[o]) || !finite32(c.B[o]) {
			return fmt.Errorf("channel %d: multiplier %v or bias %v is not finite", o, c.M[o], c.B[o])
		}
	}
	if k == KLinear {
		if len(in.Shape) != 1 || len(out.Shape) != 1 || in.Shape[0] != c.InC || out.Shape[0] != c.OutC || c.Kernel != 1 {
			return fmt.Errorf("linear %d->%d on shapes %v -> %v", c.InC, c.OutC, in.Shape, out.Shape)
		}
		return nil
	}
	// A conv to one pixel may write a flat [C] (a linear layer on a
	// flattened map, see Convert).
	if len(in.Shape) != 3 || (len(out.Shape) != 3 && len(out.Shape) != 1) || in.Shape[0] != c.InC || out.Shape[0] != c.OutC {
		return fmt.Errorf("conv %+v on shapes %v -> %v", *c, in.Shape, out.Shape)
	}
	oh, ow := w.OutSize(in.Shape[1], in.Shape[2], false)
	if len(out.Shape) == 1 && (oh != 1 || ow != 1) || len(out.Shape) == 3 && (out.Shape[1] != oh || out.Shape[2] != ow) {
		return fmt.Errorf("conv %+v on shapes %v -> %v", *c, in.Shape, out.Shape)
	}
	return nil
}

// maxConcat bounds a concatenation's inputs.
const maxConcat = 1 << 10

// validWindow checks a decoded window as ir's shape inference does, with
// the .ptqm's bound of 64 on kernels, strides, pads and dilations.
func validWindow(w *ir.Window, pool bool) bool {
	for _, v := range []int{w.KH, w.KW, w.SH, w.SW, w.DH, w.DW} {
		if v < 1 || v > 64 {
			return false
		}
	}
	for _, v := range []int{w.PadT, w.PadL, w.PadB, w.PadR} {
		if v < 0 || v > 64 {
			return false
		}
	}
	if pool {
		return w.PadT < (w.KH-1)*w.DH+1 && w.PadB < (w.KH-1)*w.DH+1 && w.PadL < (w.KW-1)*w.DW+1 && w.PadR < (w.KW-1)*w.DW+1
	}
	return true
}

func (p *Pool) validate(k Kind, in, out *Tensor) error {
	sp := p.Spec()
	ok := validWindow(&sp.Window, true)
	if p.Geom != nil {
		ok = ok && p.Kernel == 0 && p.Stride == 0 && p.Pad == 0
	} else {
		ok = ok && 2*p.Pad <= p.Kernel
	}
	if k == KAvgPool && (sp.DH != 1 || sp.DW != 1) {
		ok = false
	}
	if !ok || len(in.Shape) != 3 || len(out.Shape) != 3 || in.Scale != out.Scale || in.Zero != out.Zero || out.Shape[0] != in.Shape[0] {
		return fmt.Errorf("%s %+v from %v to %v", k, sp, in.Shape, out.Shape)
	}
	if oh, ow := sp.OutSize(in.Shape[1], in.Shape[2], sp.Ceil); out.Shape[1] != oh || out.Shape[2] != ow {
		return fmt.Errorf("%s %+v from %v to %v", k, sp, in.Shape, out.Shape)
	}
	return nil
}

// validateOp checks the parameters and shapes of the kinds without MACs.
func (m *Model) validateOp(n *Node) error {
	in, out := m.Tensors[n.In[0]], m.Tensors[n.Out]
	keeps := in.Scale == out.Scale && in.Zero == out.Zero
	switch n.Kind {
	case KChannelMax:
		if len(in.Shape) != 3 || !ir.EqualShape(out.Shape, []int{1, in.Shape[1], in.Shape[2]}) || !keeps {
			return fmt.Errorf("channel max from %v to %v", in.Shape, out.Shape)
		}
	case KTable:
		if l := len(n.Table.T); !ir.EqualShape(in.Shape, out.Shape) || (l != 256 && l != 256*in.Shape[0]) {
			return fmt.Errorf("table of %d entries on shapes %v -> %v", l, in.Shape, out.Shape)
		}
		if a := n.Table.Affine; a != nil {
			return a.validate(n.Table.T)
		}
	case KMul:
		b := m.Tensors[n.In[1]].Shape
		if !finite32(n.Mul.M) || !ir.EqualShape(in.Shape, out.Shape) ||
			!(ir.EqualShape(b, in.Shape) || ir.PlaneMul(in.Shape, b) || (len(in.Shape) == 3 && ir.EqualShape(b, []int{in.Shape[0], 1, 1}))) {
			return fmt.Errorf("mul of %v and %v into %v", in.Shape, b, out.Shape)
		}
	case KConcat:
		if len(n.Concat.M) != len(n.In) {
			return fmt.Errorf("%d multipliers for %d inputs", len(n.Concat.M), len(n.In))
		}
		c := 0
		for i, id := range n.In {
			s := m.Tensors[id].Shape
			if len(s) != len(out.Shape) || !ir.EqualShape(s[1:], out.Shape[1:]) || !finite32(n.Concat.M[i]) {
				return fmt.Errorf("concat input %v into %v", s, out.Shape)
			}
			c += s[0]
		}
		if c != out.Shape[0] {
			return fmt.Errorf("concat of %d channels into %v", c, out.Shape)
		}
	case KSlice:
		sl := n.Slice
		if !keeps || sl.Start < 0 || sl.Start >= sl.End || sl.End > in.Shape[0] || out.Shape[0] != sl.End-sl.Start || !ir.EqualShape(in.Shape[1:], out.Shape[1:]) {
			return fmt.Errorf("slice %+v of %v into %v", *sl, in.Shape, out.Shape)
		}
	case KShuffle:
		seen := make([]bool, in.Shape[0])
		if !keeps || len(n.Perm) != in.Shape[0] || !ir.EqualShape(in.Shape, out.Shape) {
			return fmt.Errorf("permutation of %d channels on %v -> %v", len(n.Perm), in.Shape, out.Shape)
		}
		for _, c := range n.Perm {
			if c < 0 || c >= len(seen) || seen[c] {
				return fmt.Errorf("permutation %v", n.Perm)
			}
			seen[c] = true
		}
	}
	return nil
}

func finite32(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// validateDescription is Description.Validate, or onnx.ValidateDescription
// for a model read from ONNX.
func validateDescription(d *ir.Description) error {
	if d.Arch == onnx.Arch {
		return onnx.ValidateDescription(d)
	}
	return d.Validate()
}

// validate checks that a's arithmetic gives table t, whose kernels may
// compute either.
func (a *TableAffine) validate(t []uint8) error {
	c := len(t) / 256
	if len(a.Scale) != c || len(a.Shift) != c || c*256 != len(t) {
		return fmt.Errorf("affine of %d scales and %d shifts for a table of %d channels", len(a.Scale), len(a.Shift), len(t)/256)
	}
	if !finite32(a.XScale) || !finite32(a.Inv) || a.XZero < 0 || a.XZero > 255 || a.YZero < 0 || a.YZero > 255 ||
		a.Act != ir.ActNone && a.Act != ir.ActReLU && a.Act != ir.ActReLU6 {
		return fmt.Errorf("affine qparams %v/%d -> %v/%d or activation %d invalid", a.XScale, a.XZero, a.Inv, a.YZero, a.Act)
	}
	for i := range c {
		if !finite32(a.Scale[i]) || !finite32(a.Shift[i]) {
			return fmt.Errorf("affine channel %d: scale %v or shift %v is not finite", i, a.Scale[i], a.Shift[i])
		}
		for q := range 256 {
			if v := a.Value(i, uint8(q)); v != t[i*256+q] {
				return fmt.Errorf("affine channel %d gives %d for %d, its table %d", i, v, q, t[i*256+q])
			}
		}
	}
	return nil
}
