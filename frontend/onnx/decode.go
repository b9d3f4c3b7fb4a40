// Package onnx reads ONNX models (what torch.onnx.export writes for CNNs) into
// ptqc's float graph: a strict decoder of the protobuf file (decode.go), and an
// import that folds the shape subgraphs torch emits, removes dead nodes and maps
// the remaining ops onto ir's nodes (import.go, ops.go, fold.go).
//
// The decoder takes IR versions 3 to 10 and default-domain opsets 7 to 22;
// fields ONNX 1.12's schema does not define are errors, except the
// metadata_props later releases added. Tensor data (raw_data or the typed
// fields; float32, float16, float64, int64, int32, bool where read) must match the
// dims, and external data is read only from regular files inside the model's
// directory, symlinks resolved.
//
// The import takes one float (or float16: a model converted to it, whose
// Casts between float types pass through; all of it runs in float32) input
// [N, C, H, W] (N static or a symbol; C, H
// and W symbols only where a description gives them, ImportInput) and one
// output [N, classes] (or [N, classes, 1, 1]); every shape is per sample in ir, and the batch axis is
// the leading one. Ops, each read per the model's opset: Conv (any kernel,
// strides, four pads, dilation, group count; auto_pad), BatchNormalization
// (inference; at opsets 7 and 8 spatial 0 too when its parameters are per
// channel, as MXNet exported them), Relu, Clip (ReLU6, ReLU, or any other
// range), LeakyRelu, Sigmoid, HardSigmoid, HardSwish (opset 14+), Tanh, Elu,
// Selu, Celu, Softplus, Softsign, Abs, Erf, Gelu (opset 20+, exact), Mish
// (opset 18+), Neg, PRelu (a constant slope, or one a channel), x*Sigmoid(x) as SiLU, x*HardSigmoid(x) (alpha 1/6, beta 1/2) as
// hardswish, x*Tanh(Softplus(x)) as Mish, GELU spelled with Erf (torch's
// export or 0.5*x*(1+erf(x/sqrt 2))) as one GELU, x/(1+Abs(x)) as Softsign
// (gelu.go), Add, Sub and Mul of runtime values (equal shapes; Mul also
// [N,C,H,W] x [N,C,1,1] or [N,1,H,W]), Add, Sub, Mul, Div by scalar or
// per-channel constants (an Affine; a MatMul's Add its bias), Concat, Split and Slice on channels, a
// Gather of one channel and its Unsqueeze (transform_input), a zero Pad folded
// into the Conv or AveragePool after it, ShuffleNet's channel shuffle (Reshape
// [N,g,C/g,H,W], Transpose(1,2), Reshape), GlobalAveragePool, GlobalMaxPool,
// ReduceMean, ReduceMax and ReduceSum over H and W, over H or W alone (a pool
// along it), or over the last axis of a Reshape to [N, C, H*W]
// (x.view(b, c, -1).mean(-1)), ReduceMax and ReduceMean over the channels (a
// ChannelMax; a 1x1 conv of weights 1/C), Flatten, Reshape and Squeeze to [N, features],
// Reshape and Unsqueeze of features computed from a global pool back to
// [N, F, 1, 1] (a squeeze-excitation of linear layers, which become 1x1
// convs) and its Expand into a Mul, ECA-Net's Conv1d along the pooled
// channels (a 1x1 conv with a banded weight matrix, eca.go), Gemm (transA 0),
// MatMul with a constant, MaxPool, AveragePool (ceil mode, pads,
// count_include_pad), Identity, Dropout, Softmax and LogSoftmax over the
// classes of the graph's output; Shape, Gather, Unsqueeze, Squeeze,
// Concat, Cast, Constant, ConstantOfShape, Range, Slice, Transpose, Add, Sub,
// Mul, Div and Reshape on constants are folded (float64 constants, which
// opsets 7 and 8 cast to shape integers, held as float32). Before opsets 10
// and 11, Clip's, Pad's and Slice's constants are attributes: legacy.go
// rewrites them as inputs first. Anything else is an error
// naming the node, its op and what is missing; ops only transformer-like models
// have (LayerNormalization, Einsum) refuse the graph as out
// of scope, and an InstanceNormalization (InstanceNorm, GroupNorm) at that
// node, before the Reshape that precedes a GroupNorm's. ir nodes are named after the PyTorch module paths that torch's
// scoped node names spell ("/layer1/layer1.0/conv1/Conv" is layer1.0.conv1).
package onnx

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"github.com/ptqc/ptqc/internal/safesize"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits of what the decoder accepts.
const (
	// MaxFileSize is protobuf's own limit on a message (2 GiB - 1).
	MaxFileSize = math.MaxInt32
	// MinOpset and MaxOpset bound the default domain's (ai.onnx) opset version.
	MinOpset, MaxOpset = 7, 22
	// MinIRVersion and MaxIRVersion bound the model's IR version (ONNX 1.3 to 1.16).
	MinIRVersion, MaxIRVersion = 3, 10
	// maxDepth bounds the nesting of messages (subgraphs in attributes).
	maxDepth = 64
)

// Model is a decoded and validated ONNX model. Every tensor in it (initializers
// and Constant nodes' values, at any depth) has data consistent with its dims,
// external data included: that has been read into RawData.
type Model struct {
	Proto *onnxpb.ModelProto
	// Opset is the version of the default domain ("" or "ai.onnx").
	Opset int
	// Path is the file the model was read from ("" when decoded from bytes).
	Path string
}

// ReadFile reads and validates an ONNX file. External data is read only from
// files inside the model's directory.
func ReadFile(path string) (*Model, error) {
	f, size, err := safesize.Open(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	defer f.Close()
	if size > MaxFileSize {
		return nil, fmt.Errorf("onnx %s: %d bytes, more than protobuf's limit of %d", path, size, MaxFileSize)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("onnx %s: %w", path, err)
	}
	m, err := Decode(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("onnx %s: %w", path, err)
	}
	m.Path = path
	return m, nil
}

// Decode decodes and validates the bytes of an ONNX file. dir is the model's
// directory, the only place external data may come from; "" allows none.
func Decode(b []byte, dir string) (*Model, error) {
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%d bytes, more than protobuf's limit of %d", len(b), MaxFileSize)
	}
	mp := &onnxpb.ModelProto{}
	if err := (proto.UnmarshalOptions{RecursionLimit: maxDepth}).Unmarshal(b, mp); err != nil {
		return nil, fmt.Errorf("not an ONNX model (malformed or truncated protobuf): %w", err)
	}
	if err := checkUnknown(mp.ProtoReflect(), "model"); err != nil {
		return nil, err
	}
	if v := mp.GetIrVersion(); v < MinIRVersion || v > MaxIRVersion {
		return nil, fmt.Errorf("IR version %d: ptqc reads %d to %d", v, MinIRVersion, MaxIRVersion)
	}
	m := &Model{Proto: mp}
	for _, o := range mp.GetOpsetImport() {
		if d := o.GetDomain(); d != "" && d != "ai.onnx" {
			continue // other domains are an error only where a node uses one
		}
		if m.Opset != 0 {
			return nil, errors.New("the default domain (ai.onnx) is imported twice")
		}
		v := o.GetVersion()
		if v < MinOpset || v > MaxOpset {
			return nil, fmt.Errorf("opset %d: ptqc reads opsets %d to %d", v, MinOpset, MaxOpset)
		}
		m.Opset = int(v)
	}
	if m.Opset == 0 {
		return nil, errors.New("no opset imported for the default domain (ai.onnx)")
	}
	g := mp.GetGraph()
	if g == nil {
		return nil, errors.New("the model has no graph")
	}
	ext := &externals{dir: dir}
	if err := checkGraphTensors(g, ext, "graph"); err != nil {
		return nil, err
	}
	return m, nil
}

// annotations are fields of later ONNX releases than the schema's (1.12) that
// annotate without changing what a graph computes: metadata_props of nodes
// (9), graphs (16), tensors (16) and value infos (4). Any other unknown field
// is an error: it might change the meaning of a node this decoder cannot see.
var annotations = map[protoreflect.FullName]protowire.Number{
	"onnx.NodeProto":      9,
	"onnx.GraphProto":     16,
	"onnx.TensorProto":    16,
	"onnx.ValueInfoProto": 4,
}

// checkUnknown fails on a field the schema does not know, anywhere in m.
func checkUnknown(m protoreflect.Message, where string) error {
	if u := m.GetUnknown(); len(u) > 0 {
		name := m.Descriptor().FullName()
		for len(u) > 0 {
			num, _, n := protowire.ConsumeField(u)
			if n < 0 {
				return fmt.Errorf("%s: malformed unknown field: %w", where, protowire.ParseError(n))
			}
			if annotations[name] != num {
				return fmt.Errorf("%s: %s has field %d, which ONNX 1.12's schema does not define", where, name, num)
			}
			u = u[n:]
		}
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		sub := where + "." + string(fd.Name())
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = checkUnknown(l.Get(i).Message(), sub+"["+strconv.Itoa(i)+"]")
			}
		} else {
			err = checkUnknown(v.Message(), sub)
		}
		return err == nil
	})
	return err
}

// checkGraphTensors validates every tensor of g: initializers, and the tensor
// attributes of its nodes and of their subgraphs.
func checkGraphTensors(g *onnxpb.GraphProto, ext *externals, where string) error {
	if len(g.GetSparseInitializer()) > 0 {
		return fmt.Errorf("%s: sparse initializers are not supported", where)
	}
	for _, t := range g.GetInitializer() {
		if err := checkTensor(t, ext); err != nil {
			return fmt.Errorf("%s: initializer %q: %w", where, t.GetName(), err)
		}
	}
	for i, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			at := fmt.Sprintf("%s: node %d %q (%s): attribute %q", where, i, n.GetName(), n.GetOpType(), a.GetName())
			if a.GetT() != nil {
				if err := checkTensor(a.GetT(), ext); err != nil {
					return fmt.Errorf("%s: %w", at, err)
				}
			}
			for _, t := range a.GetTensors() {
				if err := checkTensor(t, ext); err != nil {
					return fmt.Errorf("%s: %w", at, err)
				}
			}
			if a.GetG() != nil {
				if err := checkGraphTensors(a.GetG(), ext, at); err != nil {
					return err
				}
			}
			for _, sg := range a.GetGraphs() {
				if err := checkGraphTensors(sg, ext, at); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// elemSize is the bytes of one element of each fixed-size dtype in raw_data.
var elemSize = map[onnxpb.TensorProto_DataType]int{
	onnxpb.TensorProto_FLOAT: 4, onnxpb.TensorProto_UINT8: 1, onnxpb.TensorProto_INT8: 1,
	onnxpb.TensorProto_UINT16: 2, onnxpb.TensorProto_INT16: 2, onnxpb.TensorProto_INT32: 4,
	onnxpb.TensorProto_INT64: 8, onnxpb.TensorProto_BOOL: 1, onnxpb.TensorProto_FLOAT16: 2,
	onnxpb.TensorProto_DOUBLE: 8, onnxpb.TensorProto_UINT32: 4, onnxpb.TensorProto_UINT64: 8,
	onnxpb.TensorProto_COMPLEX64: 8, onnxpb.TensorProto_COMPLEX128: 16, onnxpb.TensorProto_BFLOAT16: 2,
}

// typedField is the repeated field holding each dtype's values when raw_data
// is not used, and how many of its values make one element.
func typedField(t *onnxpb.TensorProto, dt onnxpb.TensorProto_DataType) (name string, n, per int) {
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		return "float_data", len(t.GetFloatData()), 1
	case onnxpb.TensorProto_COMPLEX64:
		return "float_data", len(t.GetFloatData()), 2
	case onnxpb.TensorProto_INT32, onnxpb.TensorProto_INT16, onnxpb.TensorProto_INT8, onnxpb.TensorProto_UINT16,
		onnxpb.TensorProto_UINT8, onnxpb.TensorProto_BOOL, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
		return "int32_data", len(t.GetInt32Data()), 1
	case onnxpb.TensorProto_INT64:
		return "int64_data", len(t.GetInt64Data()), 1
	case onnxpb.TensorProto_DOUBLE:
		return "double_data", len(t.GetDoubleData()), 1
	case onnxpb.TensorProto_COMPLEX128:
		return "double_data", len(t.GetDoubleData()), 2
	case onnxpb.TensorProto_UINT32, onnxpb.TensorProto_UINT64:
		return "uint64_data", len(t.GetUint64Data()), 1
	case onnxpb.TensorProto_STRING:
		return "string_data", len(t.GetStringData()), 1
	}
	return "", 0, 1
}

// maxElements bounds any tensor's element count (dims are checked against it
// before anything is sized by them).
const maxElements = MaxFileSize

// checkTensor checks that t's data agrees with its dtype and dims, and reads
// its external data, if any, into RawData.
func checkTensor(t *onnxpb.TensorProto, ext *externals) error {
	dt := onnxpb.TensorProto_DataType(t.GetDataType())
	if _, ok := onnxpb.TensorProto_DataType_name[int32(dt)]; !ok || dt == onnxpb.TensorProto_UNDEFINED {
		return fmt.Errorf("data type %d is not an ONNX 1.12 dtype", dt)
	}
	if t.GetSegment() != nil {
		return errors.New("segmented tensors are not supported")
	}
	dims, elems, err := tensorDims(t.GetDims())
	if err != nil {
		return err
	}
	fields := map[string]int{
		"float_data": len(t.GetFloatData()), "int32_data": len(t.GetInt32Data()), "int64_data": len(t.GetInt64Data()),
		"double_data": len(t.GetDoubleData()), "uint64_data": len(t.GetUint64Data()), "string_data": len(t.GetStringData()),
	}
	want, n, per := typedField(t, dt)
	for f, k := range fields {
		if k > 0 && f != want {
			return fmt.Errorf("%s tensor %v has %s", dt, dims, f)
		}
	}
	size := elemSize[dt]
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		if n > 0 || len(t.GetRawData()) > 0 {
			return errors.New("external tensor also has data in the file")
		}
		if size == 0 {
			return fmt.Errorf("%s tensors cannot be external", dt)
		}
		b, err := ext.read(t.GetExternalData(), elems, size)
		if err != nil {
			return err
		}
		t.RawData, t.ExternalData = b, nil
		t.DataLocation = onnxpb.TensorProto_DEFAULT.Enum()
		return nil
	}
	if t.DataLocation != nil && t.GetDataLocation() != onnxpb.TensorProto_DEFAULT {
		return fmt.Errorf("data location %d is not DEFAULT or EXTERNAL", t.GetDataLocation())
	}
	if len(t.GetExternalData()) > 0 {
		return errors.New("external_data given but data_location is not EXTERNAL")
	}
	if raw := t.GetRawData(); len(raw) > 0 || t.RawData != nil {
		if n > 0 {
			return fmt.Errorf("tensor has both raw_data and %s", want)
		}
		if size == 0 {
			return fmt.Errorf("%s tensors cannot have raw_data", dt)
		}
		if len(raw)%size != 0 || len(raw)/size != elems {
			return fmt.Errorf("%s tensor %v: raw_data has %d bytes, want %d elements of %d bytes", dt, dims, len(raw), elems, size)
		}
		return nil
	}
	if n%per != 0 || n/per != elems {
		return fmt.Errorf("%s tensor %v: %s has %d values, want %d", dt, dims, want, n, elems*per)
	}
	return nil
}

// tensorDims converts dims to ints, checking them and their product.
func tensorDims(d []int64) ([]int, int, error) {
	if len(d) > 8 {
		return nil, 0, fmt.Errorf("%d dimensions: at most 8", len(d))
	}
	dims := make([]int, len(d))
	for i, v := range d {
		if v < 0 || v > maxElements {
			return nil, 0, fmt.Errorf("dims %v: dimension %d is %d", d, i, v)
		}
		dims[i] = int(v)
	}
	elems, err := safesize.Elements(dims, maxElements)
	if err != nil {
		return nil, 0, fmt.Errorf("dims %v: %w", d, err)
	}
	return dims, elems, nil
}

// externals reads external tensor data from files inside dir.
type externals struct {
	dir string
	// root is dir with symlinks resolved, once needed.
	root string
}

// read returns the bytes of an external tensor of elems elements of size bytes.
func (e *externals) read(kv []*onnxpb.StringStringEntryProto, elems, size int) ([]byte, error) {
	var loc string
	var off, length int64 = 0, -1
	seen := map[string]bool{}
	for _, p := range kv {
		k, v := p.GetKey(), p.GetValue()
		if seen[k] {
			return nil, fmt.Errorf("external data key %q given twice", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "location":
			loc = v
		case "offset":
			off, err = strconv.ParseInt(v, 10, 64)
		case "length":
			length, err = strconv.ParseInt(v, 10, 64)
		case "checksum":
		default:
			return nil, fmt.Errorf("external data key %q is not location, offset, length or checksum", k)
		}
		if err != nil || off < 0 || (k == "length" && length < 0) {
			return nil, fmt.Errorf("external data %s %q: not a non-negative integer", k, v)
		}
	}
	if loc == "" {
		return nil, errors.New("external data without a location")
	}
	need := int64(elems) * int64(size) // elems <= MaxInt32, size <= 16: no overflow
	if length >= 0 && length != need {
		return nil, fmt.Errorf("external data %q: length %d, but the tensor needs %d bytes", loc, length, need)
	}
	path, err := e.resolve(loc)
	if err != nil {
		return nil, err
	}
	f, have, err := safesize.Open(path)
	if err != nil {
		return nil, fmt.Errorf("external data %q: %w", loc, err)
	}
	defer f.Close()
	if off > have || need > have-off {
		return nil, fmt.Errorf("external data %q: %d bytes at offset %d, but the file has %d", loc, need, off, have)
	}
	b := make([]byte, need)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("external data %q: %w", loc, err)
	}
	return b, nil
}

// resolve maps an external data location to a path inside the model's
// directory, refusing absolute paths, ".." and symlinks that lead outside.
func (e *externals) resolve(loc string) (string, error) {
	if e.dir == "" {
		return "", fmt.Errorf("external data %q: no model directory to read it from", loc)
	}
	if strings.ContainsRune(loc, 0) || !filepath.IsLocal(filepath.FromSlash(loc)) {
		return "", fmt.Errorf("external data %q: not a path inside the model's directory", loc)
	}
	if e.root == "" {
		r, err := filepath.EvalSymlinks(e.dir)
		if err != nil {
			return "", fmt.Errorf("external data: model directory: %w", err)
		}
		if e.root, err = filepath.Abs(r); err != nil {
			return "", fmt.Errorf("external data: model directory: %w", err)
		}
	}
	p, err := filepath.EvalSymlinks(filepath.Join(e.root, filepath.FromSlash(loc)))
	if err != nil {
		return "", fmt.Errorf("external data: %w", err)
	}
	if p, err = filepath.Abs(p); err != nil {
		return "", fmt.Errorf("external data: %w", err)
	}
	rel, err := filepath.Rel(e.root, p)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("external data %q: resolves to %s, outside the model's directory", loc, p)
	}
	return p, nil
}
