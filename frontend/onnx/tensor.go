package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/ptqc/ptqc/frontend"
	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
)

// tensor is a constant: an initializer, a Constant node's value or a folded
// shape computation. Float dtypes (float32, float16, float64) are held in F, integer
// ones (int64, int32) in I. batch marks the elements of I that stand for the
// batch size, which is not known until run time (a Shape of a runtime value).
type tensor struct {
	dtype onnxpb.TensorProto_DataType
	dims  []int
	f     []float32
	i     []int64
	batch []bool // nil when no element is the batch size
}

func (t *tensor) isInt() bool { return t.f == nil }

func (t *tensor) len() int {
	if t.isInt() {
		return len(t.i)
	}
	return len(t.f)
}

// hasBatch reports whether an element stands for the batch size.
func (t *tensor) hasBatch() bool {
	for _, b := range t.batch {
		if b {
			return true
		}
	}
	return false
}

// decodeTensor converts a checked TensorProto (checkTensor) into values.
func decodeTensor(t *onnxpb.TensorProto) (*tensor, error) {
	if t == nil {
		return nil, errors.New("no tensor")
	}
	dt := onnxpb.TensorProto_DataType(t.GetDataType())
	dims, elems, err := tensorDims(t.GetDims())
	if err != nil {
		return nil, err
	}
	out := &tensor{dtype: dt, dims: dims}
	raw := t.GetRawData()
	useRaw := len(raw) > 0 || (t.RawData != nil && elems == 0)
	if useRaw && len(raw) != elems*elemSize[dt] {
		return nil, fmt.Errorf("%s tensor %v: raw_data has %d bytes", dt, dims, len(raw))
	}
	if !useRaw {
		if _, n, per := typedField(t, dt); n != elems*per {
			return nil, fmt.Errorf("%s tensor %v: %d values", dt, dims, n)
		}
	}
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		out.f = make([]float32, elems)
		if useRaw {
			for k := range out.f {
				out.f[k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
			}
		} else {
			copy(out.f, t.GetFloatData())
		}
	case onnxpb.TensorProto_FLOAT16:
		out.f = make([]float32, elems)
		for k := range out.f {
			var h uint16
			if useRaw {
				h = binary.LittleEndian.Uint16(raw[2*k:])
			} else {
				h = uint16(t.GetInt32Data()[k])
			}
			out.f[k] = frontend.HalfToFloat32(h)
		}
	case onnxpb.TensorProto_DOUBLE:
		// Opsets before 9 spell shape integers as doubles cast to int64: held
		// as float32, but never an integer float32 would change.
		out.f = make([]float32, elems)
		for k := range out.f {
			var v float64
			if useRaw {
				v = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*k:]))
			} else {
				v = t.GetDoubleData()[k]
			}
			out.f[k] = float32(v)
			if v == math.Trunc(v) && float64(out.f[k]) != v {
				return nil, fmt.Errorf("DOUBLE tensor %v: the integer %v is not exact as a float32", dims, v)
			}
		}
	case onnxpb.TensorProto_INT64:
		out.i = make([]int64, elems)
		if useRaw {
			for k := range out.i {
				out.i[k] = int64(binary.LittleEndian.Uint64(raw[8*k:]))
			}
		} else {
			copy(out.i, t.GetInt64Data())
		}
	case onnxpb.TensorProto_BOOL:
		out.i = make([]int64, elems)
		for k := range out.i {
			if useRaw {
				out.i[k] = int64(raw[k])
			} else {
				out.i[k] = int64(t.GetInt32Data()[k])
			}
			if out.i[k] > 1 {
				out.i[k] = 1
			}
		}
	case onnxpb.TensorProto_INT32:
		out.i = make([]int64, elems)
		for k := range out.i {
			if useRaw {
				out.i[k] = int64(int32(binary.LittleEndian.Uint32(raw[4*k:])))
			} else {
				out.i[k] = int64(t.GetInt32Data()[k])
			}
		}
	default:
		return nil, fmt.Errorf("data type %s is not supported (float32, float16, float64, int64, int32 and bool are)", dt)
	}
	return out, nil
}
