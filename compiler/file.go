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
	b, err := os.ReadFile(path)
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
	if len(b) < 16 || string(b[:6]) != magic {
		return nil, errors.New("not a ptqc quantized model (bad magic)")
	}
	if v := string(b[6:8]); v != formatVersion {
		return nil, fmt.Errorf("quantized model format version %q, this ptqc reads version %q: re-run the build or eval with -save-qmodel to write it again", v, formatVersion)
	}
	n := binary.LittleEndian.Uint64(b[8:16])
	if n > maxHeader || n > uint64(len(b)-16) {
		return nil, fmt.Errorf("header length %d exceeds the file (%d bytes)", n, len(b))
	}
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
		nw := c.OutC * (c.InC / c.Groups) * c.Kernel * c.Kernel
		if nw > len(blob) {
			return nil, fmt.Errorf("layer %s: weights (%d bytes) run past the end of the file", nd.Name, nw)
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
			if e > 1<<28 {
				return fmt.Errorf("tensor %d: shape %v too large", i, t.Shape)
			}
		}
	}
	if !ir.EqualShape(m.Desc.Input, m.Tensors[m.Input].Shape) {
		return fmt.Errorf("description input %v differs from the graph input %v", m.Desc.Input, m.Tensors[m.Input].Shape)
	}
	if len(m.Nodes) == 0 {
		return errors.New("no layers")
	}
	for _, n := range m.Nodes {
		want := 1
		if n.Kind == KAdd {
			want = 2
		}
		if len(n.In) != want || !ok(n.Out) {
			return fmt.Errorf("layer %s: bad inputs %v or output %d", n.Name, n.In, n.Out)
		}
		for _, id := range n.In {
			if !ok(id) {
				return fmt.Errorf("layer %s: input %d out of range", n.Name, id)
			}
		}
		if n.Kind != KDequantize {
			if t := m.Tensors[n.Out]; !(t.Scale > 0) || math.IsInf(t.Scale, 0) || t.Zero < 0 || t.Zero > 255 {
				return fmt.Errorf("layer %s: output scale %v / zero point %d invalid", n.Name, t.Scale, t.Zero)
			}
		}
		in, out := m.Tensors[n.In[0]], m.Tensors[n.Out]
		switch n.Kind {
		case KConv, KLinear:
			if err := n.Conv.validate(in, out, n.Kind); err != nil {
				return fmt.Errorf("layer %s: %w", n.Name, err)
			}
		case KAdd:
			if n.Add == nil || !ir.EqualShape(in.Shape, out.Shape) || !ir.EqualShape(m.Tensors[n.In[1]].Shape, out.Shape) {
				return fmt.Errorf("layer %s: bad add", n.Name)
			}
		case KMaxPool:
			p := n.Pool
			if p == nil || len(in.Shape) != 3 || len(out.Shape) != 3 || p.Kernel < 1 || p.Kernel > 64 || p.Stride < 1 || p.Pad < 0 || 2*p.Pad > p.Kernel ||
				in.Scale != out.Scale || in.Zero != out.Zero || out.Shape[0] != in.Shape[0] ||
				out.Shape[1] != ir.ConvOut(in.Shape[1], p.Kernel, p.Stride, p.Pad) || out.Shape[2] != ir.ConvOut(in.Shape[2], p.Kernel, p.Stride, p.Pad) {
				return fmt.Errorf("layer %s: max pool %+v from %v to %v", n.Name, p, in.Shape, out.Shape)
			}
		case KMean:
			if len(in.Shape) != 3 || len(out.Shape) != 1 || out.Shape[0] != in.Shape[0] {
				return fmt.Errorf("layer %s: mean from %v to %v", n.Name, in.Shape, out.Shape)
			}
		case KQuantize, KDequantize:
			if !ir.EqualShape(in.Shape, out.Shape) {
				return fmt.Errorf("layer %s: shape %v to %v", n.Name, in.Shape, out.Shape)
			}
		default:
			return fmt.Errorf("layer %s: unknown kind %d", n.Name, n.Kind)
		}
	}
	return nil
}

func (c *Conv) validate(in, out *Tensor, k Kind) error {
	if c == nil {
		return errors.New("no conv parameters")
	}
	if c.Groups < 1 || c.InC < 1 || c.OutC < 1 || c.InC%c.Groups != 0 || c.OutC%c.Groups != 0 || c.Kernel < 1 || c.Kernel > 64 || c.Stride < 1 || c.Pad < 0 || c.Pad > 64 {
		return fmt.Errorf("bad geometry %+v", *c)
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
	if len(in.Shape) != 3 || len(out.Shape) != 3 || in.Shape[0] != c.InC || out.Shape[0] != c.OutC ||
		out.Shape[1] != ir.ConvOut(in.Shape[1], c.Kernel, c.Stride, c.Pad) || out.Shape[2] != ir.ConvOut(in.Shape[2], c.Kernel, c.Stride, c.Pad) {
		return fmt.Errorf("conv %+v on shapes %v -> %v", *c, in.Shape, out.Shape)
	}
	return nil
}

func finite32(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
