package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/frontend"
	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/runtime"
	"google.golang.org/protobuf/proto"
)

func importModel(t testing.TB, m *onnxpb.ModelProto, dir string) (*ir.Graph, error) {
	t.Helper()
	dm, err := Decode(marshal(t, m), dir)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return Import(dm)
}

// edit returns tiny changed by f.
func edit(f func(m *onnxpb.ModelProto)) *onnxpb.ModelProto {
	m := tiny()
	f(m)
	return m
}

func setNode(k int, n *onnxpb.NodeProto) func(*onnxpb.ModelProto) {
	return func(m *onnxpb.ModelProto) { m.Graph.Node[k] = n }
}

var convAttrs = []*onnxpb.AttributeProto{aInts("kernel_shape", 3, 3), aInts("pads", 1, 1, 1, 1)}

func conv(at ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return node("Conv", "/conv/Conv", []string{"x", "w", "b"}, []string{"c"}, at...)
}

// TestImportErrors: what the import cannot take is an error naming the node,
// its op and what is missing.
func TestImportErrors(t *testing.T) {
	nan := tinyWeights()[0]
	binary.LittleEndian.PutUint32(nan.RawData, math.Float32bits(float32(math.NaN())))
	for _, c := range []struct {
		name string
		m    *onnxpb.ModelProto
		want string
	}{
		{"unsupported op", edit(setNode(1, node("Resize", "/up/Resize", []string{"c"}, []string{"r"}))), `node "/up/Resize" (Resize): op Resize is not supported`},
		{"instance norm", edit(setNode(1, node("InstanceNormalization", "/gn/InstanceNormalization", []string{"c", "fb", "fb"}, []string{"r"}))), `node "/gn/InstanceNormalization" (InstanceNormalization): normalization by statistics of each sample (InstanceNorm, GroupNorm) is not supported`},
		{"row into relu", edit(ecaRow(node("Relu", "/eca/Relu", []string{"tr"}, []string{"f"}))), `node "/eca/Relu" (Relu): input 0 ("tr") is the pooled channels as a row ([N, 1, 4]): ptqc takes it only into a 1-D Conv of one channel along them (ECA-Net's) or the Transpose back`},
		{"row conv of two filters", edit(ecaRow(node("Conv", "/eca/conv/Conv", []string{"tr", "w2"}, []string{"f"}, aInts("pads", 1, 1)))), `node "/eca/conv/Conv" (Conv): weight [2 1 3] across 4 channels: ptqc convolves the channels with one filter of one channel`},
		{"row conv pads", edit(ecaRow(node("Conv", "/eca/conv/Conv", []string{"tr", "w1"}, []string{"f"}, aInts("pads", 1, 1, 1, 1)))), `node "/eca/conv/Conv" (Conv): pads [1 1 1 1]: want two values in [0,`},
		{"legacy Clip with inputs", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(10)
			m.Graph.Initializer = append(m.Graph.Initializer, f32("zero", nil, []float32{0}))
			m.Graph.Node[1] = node("Clip", "/relu/Clip", []string{"c", "zero"}, []string{"r"})
		}), `node "/relu/Clip" (Clip): 2 inputs; at opset 10 it takes one, with [min max] as attributes`},
		{"legacy Pad pads of floats", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(9)
			m.Graph.Node = append([]*onnxpb.NodeProto{node("Pad", "/pad/Pad", []string{"x"}, []string{"xp"}, aFloat("pads", 1))}, m.Graph.Node...)
			m.Graph.Node[1].Input[0] = "xp"
		}), `node "/pad/Pad" (Pad): attribute "pads": type FLOAT, want INTS`},
		{"legacy Pad of a value", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(9)
			m.Graph.Node = append([]*onnxpb.NodeProto{node("Pad", "/pad/Pad", []string{"x"}, []string{"xp"}, aInts("pads", 0, 0, 1, 1, 0, 0, 1, 1), aFloat("value", 1))}, m.Graph.Node...)
			m.Graph.Node[1].Input[0] = "xp"
		}), `node "/pad/Pad" (Pad): constant_value is not 0: ptqc supports zero padding`},
		{"BatchNormalization spatial per element", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(7)
			m.Graph.Initializer = append(m.Graph.Initializer, f32("ones", []int64{4, 8, 8}, make([]float32, 256)), f32("zeros", []int64{4}, make([]float32, 4)))
			m.Graph.Node[1] = node("BatchNormalization", "/bn/BatchNormalization", []string{"c", "ones", "zeros", "zeros", "zeros"}, []string{"r"}, aInt("spatial", 0))
		}), `node "/bn/BatchNormalization" (BatchNormalization): spatial 0: scale "ones": shape [4 8 8], want [4] (ptqc folds statistics a channel)`},
		{"BatchNormalization spatial 2", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(8)
			m.Graph.Initializer = append(m.Graph.Initializer, f32("ones", []int64{4}, []float32{1, 1, 1, 1}), f32("zeros", []int64{4}, make([]float32, 4)))
			m.Graph.Node[1] = node("BatchNormalization", "/bn/BatchNormalization", []string{"c", "ones", "zeros", "zeros", "ones"}, []string{"r"}, aInt("spatial", 2))
		}), `node "/bn/BatchNormalization" (BatchNormalization): spatial 2: want 0 or 1`},
		{"Gelu tanh", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(20)
			m.Graph.Node[1] = node("Gelu", "/act/Gelu", []string{"c"}, []string{"r"}, aStr("approximate", "tanh"))
		}), `node "/act/Gelu" (Gelu): approximate "tanh": ptqc supports the exact GELU (none)`},
		{"AveragePool dilated", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(19)
			m.Graph.Node[2] = node("AveragePool", "/pool/AveragePool", []string{"r"}, []string{"p"}, aInts("kernel_shape", 4, 4), aInts("dilations", 2, 2))
		}), `node "/pool/AveragePool" (AveragePool): dilations [2 2]: ptqc averages undilated windows`},
		{"AveragePool dilations before 19", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node[2] = node("AveragePool", "/pool/AveragePool", []string{"r"}, []string{"p"}, aInts("kernel_shape", 8, 8), aInts("dilations", 1, 1))
		}), `node "/pool/AveragePool" (AveragePool): attribute dilations not supported`},
		{"Cast of a value to int", edit(setNode(1, node("Cast", "/Cast", []string{"c"}, []string{"r"}, aInt("to", int64(onnxpb.TensorProto_INT32))))),
			`node "/Cast" (Cast): cast of a value computed at run time to INT32: ptqc computes in float32`},
		{"int8 input", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Input[0].GetType().GetTensorType().ElemType = proto.Int32(int32(onnxpb.TensorProto_UINT8))
		}), `graph input "x": element type UINT8, want FLOAT (or FLOAT16)`},
		{"CELU alpha 0", edit(setNode(1, node("Celu", "/act/Celu", []string{"c"}, []string{"r"}, aFloat("alpha", 0)))), `node "/act/Celu" (Celu): alpha 0`},
		{"SELU gamma", edit(setNode(1, node("Selu", "/act/Selu", []string{"c"}, []string{"r"}, aFloat("gamma", float32(math.Inf(1)))))), `node "/act/Selu" (Selu): alpha 1.6732632, gamma +Inf`},
		{"softmax inside", edit(func(m *onnxpb.ModelProto) {
			g := m.Graph
			g.Node = append(g.Node[:4], node("Softmax", "/Softmax", []string{"f"}, []string{"s"}, aInt("axis", 1)),
				node("Gemm", "/fc/Gemm", []string{"s", "fw", "fb"}, []string{"y"}, aInt("transB", 1)))
		}), `node "/Softmax" (Softmax): ptqc applies a Softmax only to the graph's output, over its classes`},
		{"softmax over the batch", edit(func(m *onnxpb.ModelProto) {
			g := m.Graph
			g.Node[4].Output[0] = "z"
			g.Node = append(g.Node, node("LogSoftmax", "/LogSoftmax", []string{"z"}, []string{"y"}, aInt("axis", 0)))
		}), `node "/LogSoftmax" (LogSoftmax): over axis 0 of shape [0 2]: ptqc applies LogSoftmax over the classes of the [N, classes] output only`},
		{"softmax of a map", edit(setNode(1, node("Softmax", "/Softmax", []string{"c"}, []string{"r"}, aInt("axis", 1)))), `node "/Softmax" (Softmax): over axis 1 of shape [0 4 8 8]`},
		{"unsqueeze of a map's features", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("ax", 2, 3))
			m.Graph.Node = append(m.Graph.Node[:2], node("Flatten", "/Flatten", []string{"r"}, []string{"f"}, aInt("axis", 1)),
				node("Unsqueeze", "/Unsqueeze", []string{"f", "ax"}, []string{"y"}))
		}), `node "/Unsqueeze" (Unsqueeze): axes [2 3] of shape [0 256]: ptqc unsqueezes features to a map only when they are computed per feature from a global pool`},
		{"expand into an add", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("to", 1, 4, 8, 8))
			m.Graph.Node = append(m.Graph.Node[:3], node("Expand", "/Expand", []string{"p", "to"}, []string{"e"}),
				node("Add", "/Add", []string{"r", "e"}, []string{"s"}),
				node("GlobalAveragePool", "/pool2", []string{"s"}, []string{"p2"}),
				node("Flatten", "/Flatten", []string{"p2"}, []string{"f"}, aInt("axis", 1)), m.Graph.Node[4])
		}), `node "/Add" (Add): input 1 ("e") is an Expand to [0 4 8 8]: ptqc takes it only into a Mul by a value of that shape`},
		{"expand of a map", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("to", 1, 4, 8, 8))
			m.Graph.Node[2] = node("Expand", "/Expand", []string{"r", "to"}, []string{"p"})
		}), `node "/Expand" (Expand): to [1 4 8 8] from [0 4 8 8]: ptqc expands [N, C, 1, 1] to [N, C, H, W] only, into a Mul`},
		{"max over C and H", edit(setNode(2, node("ReduceMax", "/ReduceMax", []string{"r"}, []string{"p"}, aInts("axes", 1, 2)))),
			`node "/ReduceMax" (ReduceMax): axes [1 2]: ptqc supports the max over H and W (axes 2, 3), over either alone or over the channels (axis 1) of an NCHW tensor`},
		{"sum over the channels", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("ax1", 1))
			m.Graph.Node[2] = node("ReduceSum", "/ReduceSum", []string{"r", "ax1"}, []string{"p"})
		}), `node "/ReduceSum" (ReduceSum): axes [1]: ptqc supports the sum over H and W (axes 2, 3) or over either alone of an NCHW tensor`},
		{"mean of a cols view over C", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s3", 0, 4, -1), i64("ax1", 1))
			m.Graph.Node = append(m.Graph.Node[:2], node("Reshape", "/Reshape", []string{"r", "s3"}, []string{"v"}),
				node("ReduceMean", "/ReduceMean", []string{"v", "ax1"}, []string{"p"}, aInt("keepdims", 0)), m.Graph.Node[4])
			m.Graph.Node[4].Input[0] = "p"
			m.OpsetImport[0].Version = proto.Int64(18)
		}), `node "/ReduceMean" (ReduceMean): axes [1] of [N, C, H*W] [0 4 64]: ptqc reduces such a view over its last axis only`},
		{"cols view into a Relu", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s3", 0, 4, -1))
			m.Graph.Node = append([]*onnxpb.NodeProto{m.Graph.Node[0], m.Graph.Node[1], node("Reshape", "/Reshape", []string{"r", "s3"}, []string{"v"}),
				node("Relu", "/Relu2", []string{"v"}, []string{"p"})}, m.Graph.Node[3:]...)
		}), `node "/Relu2" (Relu): input 0 ("v") is [N, C, H*W], a map with its plane flattened: ptqc takes it only into a ReduceMean, ReduceMax or ReduceSum over the last axis`},
		{"channel mean read squeezed", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node[2] = node("ReduceMean", "/ReduceMean", []string{"r"}, []string{"p"}, aInts("axes", 1), aInt("keepdims", 0))
		}), `input 0 ("p") is one channel without its axis: ptqc takes it only into an Unsqueeze of axis 1`},
		{"transformer op", edit(setNode(1, node("LayerNormalization", "/ln/LayerNormalization", []string{"c", "b"}, []string{"r"}))), `node "/ln/LayerNormalization" (LayerNormalization): op LayerNormalization: transformer-like families (ConvNeXt, ViT, Swin, MaxViT) are out of scope for ptqc`},
		{"MatMul of runtime values", edit(setNode(4, node("MatMul", "/attn/MatMul", []string{"f", "f"}, []string{"y"}))), `node "/attn/MatMul" (MatMul): MatMul of two values computed at run time: transformer-like families`},
		{"other domain", edit(func(m *onnxpb.ModelProto) { m.Graph.Node[1].Domain = proto.String("com.microsoft") }), `node "/relu/Relu" (Relu): domain "com.microsoft"`},
		{"unknown attribute", edit(setNode(0, conv(append(convAttrs, aInt("foo", 1))...))), `node "/conv/Conv" (Conv): attribute foo not supported`},
		{"dilation", edit(setNode(0, conv(append(convAttrs, aInts("dilations", 0, 1))...))), `node "/conv/Conv" (Conv): dilations [0 1]: want two values in [1, 16384]`},
		{"auto_pad", edit(setNode(0, conv(aInts("kernel_shape", 3, 3), aStr("auto_pad", "SAME")))), `(Conv): auto_pad "SAME" is not NOTSET, VALID, SAME_UPPER or SAME_LOWER`},
		{"pads", edit(setNode(0, conv(aInts("kernel_shape", 3, 3), aInts("pads", 0, 0, 1)))), `(Conv): pads [0 0 1]: want 4 values (top, left, bottom, right)`},
		{"rectangular kernel", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer[0] = f32("w", []int64{4, 3, 3, 1}, make([]float32, 36))
			m.Graph.Node[0] = conv(aInts("kernel_shape", 3, 3))
		}), `(Conv): kernel_shape [3 3] differs from the weight's [3 1]`},
		{"attribute type", edit(setNode(0, conv(aInts("kernel_shape", 3, 3), aInt("pads", 1)))), `attribute "pads" has type INT, want INTS`},
		{"grouped conv", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer[0] = f32("w", []int64{6, 1, 3, 3}, make([]float32, 54))
			m.Graph.Node[0] = node("Conv", "/conv/Conv", []string{"x", "w"}, []string{"c"}, append(convAttrs, aInt("group", 2))...)
		}), `(Conv): group 2 with 3 input channels and weight [6 1 3 3]`},
		{"dtype", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer[1] = &onnxpb.TensorProto{Name: proto.String("b"), Dims: []int64{4}, DataType: proto.Int32(int32(onnxpb.TensorProto_BFLOAT16)), Int32Data: []int32{1, 2, 3, 4}}
		}), `node "/conv/Conv" (Conv): initializer "b": data type BFLOAT16 is not supported`},
		{"inexact double", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer[1] = &onnxpb.TensorProto{Name: proto.String("b"), Dims: []int64{4}, DataType: proto.Int32(int32(onnxpb.TensorProto_DOUBLE)), DoubleData: []float64{1, 2, 1<<24 + 1, 4}}
		}), `initializer "b": DOUBLE tensor [4]: the integer 1.6777217e+07 is not exact as a float32`},
		{"NaN weight", withInit(0, nan), `(Conv): weight "w": element 0 is NaN`},
		{"weight shape", withInit(1, f32("b", []int64{3}, make([]float32, 3))), `bias "b": shape [3], want [4]`},
		{"missing input", edit(setNode(1, node("Relu", "/relu/Relu", []string{"nope"}, []string{"r"}))), `node "/relu/Relu" (Relu): input "nope" is not a graph input, an initializer or a node's output`},
		{"cycle", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node[0].Input[0] = "f"
		}), `is on a cycle`},
		{"written twice", edit(func(m *onnxpb.ModelProto) { m.Graph.Node[2].Output[0] = "r" }), `both write "r"`},
		{"output not written", edit(func(m *onnxpb.ModelProto) { m.Graph.Output[0].Name = proto.String("z") }), `graph output "z" is not written by any node`},
		{"absurd input", edit(func(m *onnxpb.ModelProto) { m.Graph.Input[0] = valueInfo("x", "N", 3, 1<<20, 8) }), `graph input "x": dimension 2 is 1048576`},
		{"dynamic height", edit(func(m *onnxpb.ModelProto) { m.Graph.Input[0] = valueInfo("x", "N", 3, "H", 8) }), `graph input "x": dimension 2 is not a number ("H"): give the input's size in a JSON description, {"graph": "<the .onnx file>", "input": [C, H, W]}`},
		{"input rank", edit(func(m *onnxpb.ModelProto) { m.Graph.Input[0] = valueInfo("x", "N", 3, 8) }), `3 dimensions, want 4`},
		{"two inputs", edit(func(m *onnxpb.ModelProto) { m.Graph.Input = append(m.Graph.Input, valueInfo("x2", "N", 3, 8, 8)) }), `graph inputs "x" and "x2"`},
		{"too small for kernel", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Input[0] = valueInfo("x", "N", 3, 1, 1)
			m.Graph.Node[0] = conv(aInts("kernel_shape", 3, 3))
		}), `smaller than kernel 3`},
		{"clip bounds", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, f32("lo", nil, []float32{3}), f32("hi", nil, []float32{3}))
			m.Graph.Node[1] = node("Clip", "/act/Clip", []string{"c", "lo", "hi"}, []string{"r"})
		}), `(Clip): Clip(min 3, max 3): min must be below max`},
		{"reshape", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s", 0, 2, -1))
			m.Graph.Node[3] = node("Reshape", "/Reshape", []string{"p", "s"}, []string{"f"})
		}), `(Reshape): target shape [0 2 -1] of [0 4 1 1]: ptqc reshapes to [N, features], to [N, C, H*W] for a global pool, and to [N, g, C/g, H, W] and back`},
		{"gemm transA", edit(setNode(4, node("Gemm", "/fc/Gemm", []string{"f", "fw", "fb"}, []string{"y"}, aInt("transB", 1), aInt("transA", 1)))), `(Gemm): transA 1: ptqc supports 0`},
		{"maxpool indices used", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node[2] = node("MaxPool", "/pool/MaxPool", []string{"r"}, []string{"p", "idx"}, aInts("kernel_shape", 8, 8))
			m.Graph.Node = append(m.Graph.Node, node("Relu", "/dead", []string{"idx"}, []string{"y2"}))
			m.Graph.Output = append(m.Graph.Output, valueInfo("y2", "N", 2))
		}), `has 2 outputs: ptqc imports graphs with one`},
		{"constant output", edit(func(m *onnxpb.ModelProto) { m.Graph.Output[0].Name = proto.String("fb") }), `graph output "fb" is a constant`},
		{"residual broadcast", edit(setNode(1, node("Add", "/add/Add", []string{"c", "x"}, []string{"r"}))), `(Add): operand shapes [0 4 8 8] and [0 3 8 8] differ`},
		{"runtime weight", edit(setNode(4, node("Gemm", "/fc/Gemm", []string{"f", "f", "fb"}, []string{"y"}))), `(Gemm): weight (input 1, "f") is computed at run time`},
		{"declared output shape", edit(func(m *onnxpb.ModelProto) { m.Graph.Output[0] = valueInfo("y", "N", 1000) }), `graph output "y" is declared [N, 1000] but computes [N, 2]`},
		{"attribute of a later opset", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node = append(m.Graph.Node[:3], node("Shape", "/Shape", []string{"p"}, []string{"n"}, aInt("start", 0)), m.Graph.Node[3], m.Graph.Node[4])
			m.Graph.Node[4].Input[0] = "n" // keeps it live
		}), `node "/Shape" (Shape): attribute start not supported`},
		{"too many inputs", edit(setNode(1, node("Relu", "/relu/Relu", []string{"c", "c"}, []string{"r"}))), `node "/relu/Relu" (Relu): has 2 inputs; Relu takes at most 1 at opset 13`},
		{"HardSwish before opset 14", edit(setNode(1, node("HardSwish", "/act/HardSwish", []string{"c"}, []string{"r"}))), `node "/act/HardSwish" (HardSwish): op HardSwish is defined from opset 14; the model imports opset 13`},
		{"Pad mode", withPad(nil, aStr("mode", "reflect")), `(Pad): mode "reflect": ptqc supports constant (zero) padding`},
		{"Pad value", withPad([]string{"pads", "one"}), `(Pad): constant_value is not 0`},
		{"Pad of channels", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("pads", 0, 1, 0, 0, 0, 0, 0, 0))
			m.Graph.Node = append([]*onnxpb.NodeProto{node("Pad", "/pad/Pad", []string{"x", "pads"}, []string{"xp"})}, m.Graph.Node...)
			m.Graph.Node[1].Input[0] = "xp"
		}), `(Pad): pads [0 1 0 0 0 0 0 0]: ptqc pads only H and W`},
		{"Pad before a MaxPool", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("pads", 0, 0, 1, 1, 0, 0, 1, 1))
			m.Graph.Node = append(m.Graph.Node[:2], node("Pad", "/pad/Pad", []string{"r", "pads"}, []string{"rp"}),
				node("MaxPool", "/pool/MaxPool", []string{"rp"}, []string{"p"}, aInts("kernel_shape", 10, 10)), m.Graph.Node[3], m.Graph.Node[4])
		}), `node "/pool/MaxPool" (MaxPool): input 0 ("rp") is a Pad's output: ptqc takes zero padding only into a Conv or AveragePool`},
		{"Pad before an AveragePool excluding its own pads", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("pads", 0, 0, 1, 1, 0, 0, 1, 1))
			m.Graph.Node = append(m.Graph.Node[:2], node("Pad", "/pad/Pad", []string{"r", "pads"}, []string{"rp"}),
				node("AveragePool", "/pool/AveragePool", []string{"rp"}, []string{"p"}, aInts("kernel_shape", 10, 10), aInts("pads", 1, 1, 1, 1)), m.Graph.Node[3], m.Graph.Node[4])
		}), `(AveragePool): a Pad before an AveragePool with its own pads and count_include_pad 0 is not supported`},
		{"5-D reshape read by a ReLU", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s5", 0, 2, 2, 8, 8))
			m.Graph.Node = append([]*onnxpb.NodeProto{m.Graph.Node[0], node("Reshape", "/Reshape", []string{"c", "s5"}, []string{"c5"})}, m.Graph.Node[1:]...)
			m.Graph.Node[2].Input[0] = "c5"
		}), `node "/relu/Relu" (Relu): input 0 ("c5") is a 5-D reshape [0 2 2 8 8]: ptqc supports 5-D reshapes and transposes only as ShuffleNet's channel shuffle`},
		{"transpose", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node = append([]*onnxpb.NodeProto{m.Graph.Node[0], node("Transpose", "/Transpose", []string{"c"}, []string{"ct"}, aInts("perm", 0, 2, 3, 1))}, m.Graph.Node[1:]...)
			m.Graph.Node[2].Input[0] = "ct"
		}), `(Transpose): perm [0 2 3 1] of [0 4 8 8]: ptqc transposes only in ShuffleNet's channel shuffle`},
		{"Split axis", withSplit(13, aInt("axis", 2)), `(Split): axis 2 of a rank-4 tensor: ptqc supports axis 1 (channels)`},
		{"Split sizes", withSplit(13, aInt("axis", 1), aInt("num_outputs", 2)), `(Split): attribute num_outputs not supported`},
		{"Slice step", withSlice(i64("steps", 2)), `(Slice): steps [2]: ptqc slices with step 1`},
		{"Slice of H", withSlice(i64("axesH", 2)), `(Slice): slicing axis 2: ptqc slices channels (axis 1)`},
		{"Mul by a full constant", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, f32("k", []int64{4, 8, 8}, make([]float32, 256)))
			m.Graph.Node[1] = node("Mul", "/mul/Mul", []string{"k", "c"}, []string{"r"})
		}), `(Mul): constant "k" of shape [4 8 8] for an operand of shape [0 4 8 8]: ptqc takes a scalar or one value per channel`},
		{"Div of a constant", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, f32("k", nil, []float32{2}))
			m.Graph.Node[1] = node("Div", "/div/Div", []string{"k", "c"}, []string{"r"})
		}), `(Div): dividing the constant "k" by a value computed at run time is not supported`},
		{"Concat axis", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node[1] = node("Concat", "/cat/Concat", []string{"c", "c"}, []string{"r"}, aInt("axis", 3))
		}), `(Concat): axis 3 of a rank-4 tensor: ptqc supports axis 1 (channels)`},
		{"reshape across the batch", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s", -1, 2))
			m.Graph.Node[3] = node("Reshape", "/Reshape", []string{"p", "s"}, []string{"f"})
		}), `(Reshape): target shape [-1 2] of [0 4 1 1]: the dimensions after the first make 2 elements of a sample's 4`},
		{"concats past the activation limit", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Input[0] = valueInfo("x", "N", 3, 1024, 1024)
			in := "x"
			var ns []*onnxpb.NodeProto
			for k := range 6 {
				out := fmt.Sprint("cat", k)
				ns = append(ns, node("Concat", "/"+out, []string{in, in, in, in}, []string{out}, aInt("axis", 1)))
				in = out
			}
			m.Graph.Node = append(ns, m.Graph.Node...)
			m.Graph.Node[len(ns)].Input[0] = in
		}), `node "/cat2" (Concat): output [192 1024 1024] has 2.01e+08 elements per sample, more than the limit of 67108864`},
		{"Constant without its tensor", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node = append([]*onnxpb.NodeProto{node("Constant", "/Constant", nil, []string{"k"},
				&onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum()})}, m.Graph.Node...)
			m.Graph.Node[2] = node("Mul", "/mul/Mul", []string{"c", "k"}, []string{"r"})
		}), `node "/Constant" (Constant): value: no tensor`},
		{"input past the activation limit", edit(func(m *onnxpb.ModelProto) { m.Graph.Input[0] = valueInfo("x", "N", 3, 8192, 8192) }), `graph input "x": [3 8192 8192] has 2.01e+08 elements per sample, more than the limit of 67108864`},
		{"Div of runtime values", edit(setNode(1, node("Div", "/div/Div", []string{"c", "c"}, []string{"r"}))), `node "/div/Div" (Div): Div of two values computed at run time is not supported (Add, Sub and Mul are)`},
		{"batch arithmetic", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("zero", 0), i64("two", 2), i64("m1", -1))
			shapeFlatten(m,
				node("Gather", "/Gather", []string{"sh", "zero"}, []string{"n"}),
				node("Mul", "/Mul", []string{"n", "two"}, []string{"n2"}),
				node("Concat", "/Concat", []string{"n2", "m1"}, []string{"s"}, aInt("axis", 0)))
		}), `node "/Mul" (Mul): Mul on the batch size (not known before run time) is not supported`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := importModel(t, c.m, "")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestImportForms: the forms one network takes in ONNX (opset, how the
// weights are stored, how the classifier flattens) import to graphs that
// compute the same logits, bit for bit.
func TestImportForms(t *testing.T) {
	x := randF32(rand.New(rand.NewPCG(3, 4)), 2*3*8*8)
	base, err := importModel(t, tiny(), "")
	if err != nil {
		t.Fatal(err)
	}
	want := reference(t, base, x, 2)
	ws := tinyWeights()
	half := func(tp *onnxpb.TensorProto, raw bool) *onnxpb.TensorProto {
		v, err := decodeTensor(tp)
		if err != nil {
			t.Fatal(err)
		}
		h := &onnxpb.TensorProto{Name: tp.Name, Dims: tp.Dims, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT16))}
		for _, f := range v.f {
			b := floatToHalf(f)
			if raw {
				h.RawData = binary.LittleEndian.AppendUint16(h.RawData, b)
			} else {
				h.Int32Data = append(h.Int32Data, int32(b))
			}
		}
		return h
	}
	typed := func(tp *onnxpb.TensorProto) *onnxpb.TensorProto {
		v, _ := decodeTensor(tp)
		return &onnxpb.TensorProto{Name: tp.Name, Dims: tp.Dims, DataType: tp.DataType, FloatData: v.f}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), append([]byte("pad!"), ws[0].RawData...), 0o644); err != nil {
		t.Fatal(err)
	}
	reduce := func(opset int64, keep bool, viaInput bool) *onnxpb.ModelProto {
		m := tiny()
		m.OpsetImport[0].Version = proto.Int64(opset)
		k := int64(0)
		if keep {
			k = 1
		}
		rm := node("ReduceMean", "/ReduceMean", []string{"r"}, []string{"p"}, aInt("keepdims", k), aInts("axes", -1, -2))
		if viaInput {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("axes", 2, 3))
			rm = node("ReduceMean", "/ReduceMean", []string{"r", "axes"}, []string{"p"}, aInt("keepdims", k))
		}
		m.Graph.Node[2] = rm
		if !keep {
			m.Graph.Node[3] = node("Identity", "/Identity", []string{"p"}, []string{"f"})
		}
		return m
	}
	for _, c := range []struct {
		name string
		m    *onnxpb.ModelProto
	}{
		{"typed float_data", edit(func(m *onnxpb.ModelProto) {
			for i := range m.Graph.Initializer {
				m.Graph.Initializer[i] = typed(m.Graph.Initializer[i])
			}
		})},
		{"float16 raw", edit(func(m *onnxpb.ModelProto) { m.Graph.Initializer[0] = half(ws[0], true) })},
		{"float16 typed", edit(func(m *onnxpb.ModelProto) { m.Graph.Initializer[0] = half(ws[0], false) })},
		{"a float16 model: input, weights, output", edit(func(m *onnxpb.ModelProto) {
			for i, w := range m.Graph.Initializer {
				m.Graph.Initializer[i] = half(w, i%2 == 0)
			}
			for _, vi := range append(m.Graph.Input, m.Graph.Output...) {
				vi.GetType().GetTensorType().ElemType = proto.Int32(int32(onnxpb.TensorProto_FLOAT16))
			}
		})},
		{"Casts to float16 and back, float64 too", edit(func(m *onnxpb.ModelProto) {
			to := func(t onnxpb.TensorProto_DataType) *onnxpb.AttributeProto { return aInt("to", int64(t)) }
			m.Graph.Node = append([]*onnxpb.NodeProto{node("Cast", "/Cast", []string{"x"}, []string{"xh"}, to(onnxpb.TensorProto_FLOAT16))}, m.Graph.Node...)
			m.Graph.Node[1].Input[0] = "xh"
			m.Graph.Node[len(m.Graph.Node)-1].Output[0] = "yh"
			m.Graph.Node = append(m.Graph.Node, node("Cast", "/Cast_1", []string{"yh"}, []string{"yd"}, to(onnxpb.TensorProto_DOUBLE)),
				node("Cast", "/Cast_2", []string{"yd"}, []string{"y"}, to(onnxpb.TensorProto_FLOAT)))
		})},
		{"external data", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer[0] = external("w", ws[0].Dims, "location", "weights.bin", "offset", "4", "length", "432")
		})},
		{"initializers listed as inputs (IR 3)", edit(func(m *onnxpb.ModelProto) {
			m.IrVersion = proto.Int64(3)
			for _, w := range m.Graph.Initializer {
				m.Graph.Input = append(m.Graph.Input, valueInfo(w.GetName()))
			}
		})},
		{"static batch", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Input[0] = valueInfo("x", 2, 3, 8, 8)
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s", 2, -1))
			m.Graph.Node[3] = node("Reshape", "/Reshape", []string{"p", "s"}, []string{"f"})
		})},
		{"shape subgraph, opset 11", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(11)
			shapeFlatten(m,
				node("Constant", "/Constant", nil, []string{"zero"}, aTensor("value", &onnxpb.TensorProto{Dims: []int64{}, DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: []int64{0}})),
				node("Gather", "/Gather", []string{"sh", "zero"}, []string{"n"}, aInt("axis", 0)),
				node("Unsqueeze", "/Unsqueeze", []string{"n"}, []string{"n1"}, aInts("axes", 0)),
				node("Constant", "/Constant_1", nil, []string{"m1"}, aInts("value_ints", -1)),
				node("Cast", "/Cast", []string{"m1"}, []string{"m1i"}, aInt("to", int64(onnxpb.TensorProto_INT32))),
				node("Concat", "/Concat", []string{"n1", "m1i"}, []string{"s"}, aInt("axis", 0)))
		})},
		{"shape subgraph, opset 13 with Div", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("zero", 0), i64("one", 1), i64("four", 4))
			shapeFlatten(m,
				node("Gather", "/Gather", []string{"sh", "zero"}, []string{"n"}),
				node("Div", "/Div", []string{"n", "one"}, []string{"nd"}),
				node("Squeeze", "/Squeeze", []string{"nd"}, []string{"n0"}),
				node("Unsqueeze", "/Unsqueeze", []string{"n0", "zero"}, []string{"n1"}),
				node("Concat", "/Concat", []string{"n1", "four"}, []string{"s"}, aInt("axis", 0)))
		})},
		{"Shape with start and end, opset 15", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(15)
			m.Graph.Initializer = append(m.Graph.Initializer, i64("m1", -1))
			m.Graph.Node = append(m.Graph.Node[:3],
				node("Shape", "/Shape", []string{"p"}, []string{"n"}, aInt("start", 0), aInt("end", 1)),
				node("Concat", "/Concat", []string{"n", "m1"}, []string{"s"}, aInt("axis", 0)),
				node("Reshape", "/Reshape", []string{"p", "s"}, []string{"f"}),
				m.Graph.Node[4])
		})},
		{"ReduceMean keepdims, opset 13", reduce(13, true, false)},
		{"ReduceMean no keepdims, opset 13", reduce(13, false, false)},
		{"ReduceMean axes input, opset 18", reduce(18, true, true)},
		{"MatMul + Add", edit(func(m *onnxpb.ModelProto) {
			v, _ := decodeTensor(ws[2])
			m.Graph.Initializer[2] = f32("fwT", []int64{4, 2}, transpose(v.f, 2, 4))
			m.Graph.Node = append(m.Graph.Node[:4],
				node("MatMul", "/fc/MatMul", []string{"f", "fwT"}, []string{"mm"}),
				node("Add", "/fc/Add", []string{"fb", "mm"}, []string{"y"}))
		})},
		{"Gemm transB 0, bias [1, M]", edit(func(m *onnxpb.ModelProto) {
			v, _ := decodeTensor(ws[2])
			b, _ := decodeTensor(ws[3])
			m.Graph.Initializer[2] = f32("fw", []int64{4, 2}, transpose(v.f, 2, 4))
			m.Graph.Initializer[3] = f32("fb", []int64{1, 2}, b.f)
			m.Graph.Node[4] = node("Gemm", "/fc/Gemm", []string{"f", "fw", "fb"}, []string{"y"}, aInt("transB", 0))
		})},
		{"Dropout, Identity and a dead branch", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, &onnxpb.TensorProto{Name: proto.String("train"), DataType: proto.Int32(int32(onnxpb.TensorProto_BOOL)), RawData: []byte{0}})
			m.Graph.Node = append(m.Graph.Node,
				node("Dropout", "/drop/Dropout", []string{"f", "", "train"}, []string{"fd", ""}),
				node("Identity", "/id", []string{"fd"}, []string{"fi"}),
				node("Sigmoid", "/dead/Sigmoid", []string{"r"}, []string{"unused"}))
			m.Graph.Node[4].Input[0] = "fi"
		})},
		{"Pad folded into the conv", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("pads", 0, 0, 1, 1, 0, 0, 1, 1), f32("zero", nil, []float32{0}))
			m.Graph.Node[0] = conv(aInts("kernel_shape", 3, 3))
			m.Graph.Node = append([]*onnxpb.NodeProto{node("Pad", "/pad/Pad", []string{"x", "pads", "zero"}, []string{"xp"}, aStr("mode", "constant"))}, m.Graph.Node...)
			m.Graph.Node[1].Input[0] = "xp"
		})},
		{"Pad with axes, opset 18", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(18)
			m.Graph.Initializer = append(m.Graph.Initializer, i64("pads", 1, 1, 1, 1), i64("axes", -2, -1))
			m.Graph.Node[0] = conv(aInts("kernel_shape", 3, 3))
			m.Graph.Node = append([]*onnxpb.NodeProto{node("Pad", "/pad/Pad", []string{"x", "pads", "", "axes"}, []string{"xp"})}, m.Graph.Node...)
			m.Graph.Node[1].Input[0] = "xp"
		})},
		{"Pad with attributes, opset 10", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(10)
			m.Graph.Node[0] = conv(aInts("kernel_shape", 3, 3))
			m.Graph.Node = append([]*onnxpb.NodeProto{node("Pad", "/pad/Pad", []string{"x"}, []string{"xp"},
				aStr("mode", "constant"), aInts("pads", 0, 0, 1, 1, 0, 0, 1, 1), aFloat("value", 0))}, m.Graph.Node...)
			m.Graph.Node[1].Input[0] = "xp"
		})},
		{"Clip with attributes, opset 9", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(9)
			m.Graph.Node[1] = node("Clip", "/relu/Clip", []string{"c"}, []string{"r"}, aFloat("min", 0))
		})},
		{"Slices with attributes, opset 9", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(9)
			m.Graph.Node = append([]*onnxpb.NodeProto{m.Graph.Node[0],
				node("Slice", "/Slice", []string{"c"}, []string{"lo"}, aInts("starts", 0), aInts("ends", -2), aInts("axes", 1)),
				node("Slice", "/Slice_1", []string{"c"}, []string{"hi"}, aInts("starts", 0, 2), aInts("ends", math.MaxInt64, math.MaxInt64)),
				node("Concat", "/Concat", []string{"lo", "hi"}, []string{"cc"}, aInt("axis", 1))}, m.Graph.Node[1:]...)
			m.Graph.Node[4].Input[0] = "cc"
		})},
		{"BatchNormalization spatial 1, Dropout ratio, opset 7", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(7)
			m.IrVersion = proto.Int64(3)
			for _, w := range m.Graph.Initializer {
				m.Graph.Input = append(m.Graph.Input, valueInfo(w.GetName()))
			}
			m.Graph.Node = append(m.Graph.Node,
				node("Dropout", "/drop/Dropout", []string{"f"}, []string{"fd"}, aFloat("ratio", 0.2)))
			m.Graph.Node[4].Input[0] = "fd"
		})},
		{"BatchNormalization spatial 0 of [C] parameters (MXNet's), opset 7", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(7)
			m.Graph.Initializer = append(m.Graph.Initializer, f32("ones", []int64{4}, []float32{1, 1, 1, 1}), f32("zeros", []int64{4}, make([]float32, 4)))
			m.Graph.Node = append([]*onnxpb.NodeProto{m.Graph.Node[0], node("BatchNormalization", "/bn/BatchNormalization",
				[]string{"c", "ones", "zeros", "zeros", "ones"}, []string{"cb"}, aInt("spatial", 0), aFloat("epsilon", 0))}, m.Graph.Node[1:]...)
			m.Graph.Node[2].Input[0] = "cb"
		})},
		{"shape integers as doubles, opset 8", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(8)
			dbl := func(v float64) *onnxpb.AttributeProto {
				return aTensor("value", &onnxpb.TensorProto{Dims: []int64{}, DataType: proto.Int32(int32(onnxpb.TensorProto_DOUBLE)), DoubleData: []float64{v}})
			}
			shapeFlatten(m,
				node("Constant", "/Constant", nil, []string{"zd"}, dbl(0)),
				node("Cast", "/Cast", []string{"zd"}, []string{"zero"}, aInt("to", int64(onnxpb.TensorProto_INT64))),
				node("Gather", "/Gather", []string{"sh", "zero"}, []string{"n"}, aInt("axis", 0)),
				node("Unsqueeze", "/Unsqueeze", []string{"n"}, []string{"n1"}, aInts("axes", 0)),
				node("Constant", "/Constant_1", nil, []string{"md"}, dbl(-1)),
				node("Cast", "/Cast_1", []string{"md"}, []string{"m1"}, aInt("to", int64(onnxpb.TensorProto_INT64))),
				node("Unsqueeze", "/Unsqueeze_1", []string{"m1"}, []string{"m1v"}, aInts("axes", 0)),
				node("Concat", "/Concat", []string{"n1", "m1v"}, []string{"s"}, aInt("axis", 0)))
		})},
		{"AveragePool dilations 1, Cast saturate, opset 22", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(22)
			m.IrVersion = proto.Int64(10)
			m.Graph.Node[2] = node("AveragePool", "/pool/AveragePool", []string{"r"}, []string{"p"}, aInts("kernel_shape", 8, 8), aInts("dilations", 1, 1))
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s", 0, -1))
			m.Graph.Node = append(m.Graph.Node[:3],
				node("Cast", "/Cast", []string{"s"}, []string{"si"}, aInt("to", int64(onnxpb.TensorProto_INT64)), aInt("saturate", 1)),
				node("Reshape", "/Reshape", []string{"p", "si"}, []string{"f"}),
				m.Graph.Node[4])
		})},
		// The pools written out (tiny's values are multiples of 1/4096 and its
		// planes 8x8: means of means are the mean, exactly).
		{"mean over W, then over H (x.mean(3).mean(2))", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("a3", 3), i64("a2", 2))
			m.Graph.Node[2] = node("ReduceMean", "/ReduceMean", []string{"r", "a3"}, []string{"rw"}, aInt("keepdims", 0))
			m.Graph.Node[3] = node("ReduceMean", "/ReduceMean_1", []string{"rw", "a2"}, []string{"f"}, aInt("keepdims", 0))
			m.OpsetImport[0].Version = proto.Int64(18)
		})},
		{"x.view(n, c, -1).mean(-1)", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s3", 0, 4, -1))
			m.Graph.Node[2] = node("Reshape", "/Reshape", []string{"r", "s3"}, []string{"v"})
			m.Graph.Node[3] = node("ReduceMean", "/ReduceMean", []string{"v"}, []string{"f"}, aInt("keepdims", 0), aInts("axes", -1))
		})},
		{"sum over H and W divided by H*W", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("hw", 2, 3), f32("n64", nil, []float32{64}))
			m.Graph.Node = append(m.Graph.Node[:2],
				node("ReduceSum", "/ReduceSum", []string{"r", "hw"}, []string{"s"}, aInt("keepdims", 0)),
				node("Div", "/Div", []string{"s", "n64"}, []string{"f"}), m.Graph.Node[4])
		})},
		{"rows of one pixel: the mean over W, then over the last axis", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node = append(m.Graph.Node[:2],
				node("AveragePool", "/pool/AveragePool", []string{"r"}, []string{"p1"}, aInts("kernel_shape", 8, 1)),
				node("ReduceMean", "/ReduceMean", []string{"p1"}, []string{"p2"}, aInt("keepdims", 0), aInts("axes", 3)),
				node("ReduceMean", "/ReduceMean_1", []string{"p2"}, []string{"f"}, aInt("keepdims", 0), aInts("axes", -1)),
				m.Graph.Node[4])
		})},
		{"auto_pad SAME_UPPER", edit(setNode(0, conv(aInts("kernel_shape", 3, 3), aStr("auto_pad", "SAME_UPPER"))))},
		{"Split attribute, opset 11", inOrder(withSplit(11, aInt("axis", 1), aInts("split", 2, 2)))},
		{"Split input, opset 13", edit(func(m *onnxpb.ModelProto) {
			*m = *inOrder(withSplit(13, aInt("axis", -3)))
			m.Graph.Initializer = append(m.Graph.Initializer, i64("sizes", 2, 2))
			m.Graph.Node[1].Input = append(m.Graph.Node[1].Input, "sizes")
		})},
		{"Split num_outputs, opset 18", inOrder(withSplit(18, aInt("axis", 1), aInt("num_outputs", 2)))},
		{"Slices of channels", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s0", 0), i64("s1", 2), i64("e1", math.MaxInt64), i64("ax", 1), i64("m2", -2))
			m.Graph.Node = append([]*onnxpb.NodeProto{m.Graph.Node[0],
				node("Slice", "/Slice", []string{"c", "s0", "m2", "ax"}, []string{"lo"}),
				node("Slice", "/Slice_1", []string{"c", "s1", "e1", "ax"}, []string{"hi"}),
				node("Concat", "/Concat", []string{"lo", "hi"}, []string{"cc"}, aInt("axis", 1))}, m.Graph.Node[1:]...)
			m.Graph.Node[4].Input[0] = "cc"
		})},
		{"Mul by 1, Add 0, Sub 0, Div by 1", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, f32("one", []int64{1, 4, 1, 1}, []float32{1, 1, 1, 1}), f32("zero", nil, []float32{0}), f32("uno", []int64{1}, []float32{1}))
			m.Graph.Node = append([]*onnxpb.NodeProto{m.Graph.Node[0],
				node("Mul", "/Mul", []string{"one", "c"}, []string{"c1"}),
				node("Add", "/Add", []string{"c1", "zero"}, []string{"c2"}),
				node("Sub", "/Sub", []string{"c2", "zero"}, []string{"c3"}),
				node("Div", "/Div", []string{"c3", "uno"}, []string{"c4"})}, m.Graph.Node[1:]...)
			m.Graph.Node[5].Input[0] = "c4"
		})},
		{"channel shuffle twice, identity transpose", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s5", 0, 2, 2, 8, 8), i64("s4", 0, -1, 8, 8))
			var ns []*onnxpb.NodeProto
			in := "c"
			for k := range 2 {
				p := fmt.Sprint(k)
				ns = append(ns, node("Reshape", "/Reshape"+p, []string{in, "s5"}, []string{"v" + p}),
					node("Transpose", "/Transpose"+p, []string{"v" + p}, []string{"t" + p}, aInts("perm", 0, 2, 1, 3, 4)),
					node("Reshape", "/Reshape_1"+p, []string{"t" + p, "s4"}, []string{"u" + p}))
				in = "u" + p
			}
			ns = append(ns, node("Transpose", "/Transpose_id", []string{in}, []string{"ti"}, aInts("perm", 0, 1, 2, 3)))
			m.Graph.Node = append(append([]*onnxpb.NodeProto{m.Graph.Node[0]}, ns...), m.Graph.Node[1:]...)
			m.Graph.Node[len(ns)+1].Input[0] = "ti"
		})},
		{"Squeeze of H and W, opset 11", edit(func(m *onnxpb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(11)
			m.Graph.Node[3] = node("Squeeze", "/Squeeze", []string{"p"}, []string{"f"}, aInts("axes", 3, 2))
		})},
		{"Squeezes of H and W, opset 13", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("m1", -1))
			m.Graph.Node = append(m.Graph.Node[:3], node("Squeeze", "/Squeeze", []string{"p", "m1"}, []string{"p1"}),
				node("Squeeze", "/Squeeze_1", []string{"p1", "m1"}, []string{"f"}), m.Graph.Node[4])
		})},
		{"Clip with min 0 and no max is a ReLU", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, f32("lo", nil, []float32{0}))
			m.Graph.Node = append(m.Graph.Node, node("Clip", "/clip", []string{"f", "lo"}, []string{"fc"}))
			m.Graph.Node[4].Input[0] = "fc"
		})},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, err := importModel(t, c.m, dir)
			if err != nil {
				t.Fatal(err)
			}
			got := reference(t, g, x, 2)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("logits differ from the plain form's (-want +got):\n%s", diff)
			}
		})
	}
}

// floatToHalf converts a float32 exactly representable as a normal binary16.
func floatToHalf(f float32) uint16 {
	if f == 0 {
		return 0
	}
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	return sign | uint16(exp)<<10 | uint16(b>>13&0x3ff)
}

func TestHalfToFloat(t *testing.T) {
	for _, c := range []struct {
		h    uint16
		want float32
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 5.960464477539063e-08}, {0x8000, float32(math.Copysign(0, -1))},
		{0x7c00, float32(math.Inf(1))}, {0x3555, 0.33325195},
	} {
		if got := frontend.HalfToFloat32(c.h); got != c.want || math.Signbit(float64(got)) != math.Signbit(float64(c.want)) {
			t.Errorf("frontend.HalfToFloat32(%#04x) = %v, want %v", c.h, got, c.want)
		}
	}
	if !math.IsNaN(float64(frontend.HalfToFloat32(0x7e00))) {
		t.Error("0x7e00 is not NaN")
	}
}

// TestNodeNames: ir nodes are named after the PyTorch modules torch's scoped
// ONNX names spell.
func TestNodeNames(t *testing.T) {
	var order []*onnxpb.NodeProto
	for _, n := range []string{
		"/features/features.1/conv/conv.0/conv.0.0/Conv", "/layer1/layer1.0/conv1/Conv", "/layer1/layer1.0/Add",
		"/layer2/layer2.0/downsample/downsample.0/Conv", "/ReduceMean", "/classifier/classifier.1/Gemm",
		"/fc/Gemm", "/fc/Add", "", "Conv_12",
	} {
		order = append(order, node("Conv", n, nil, []string{"out" + n}))
	}
	names := nodeNames(order)
	var got []string
	for _, n := range order {
		got = append(got, names[n])
	}
	want := []string{"features.1.conv.0.0", "layer1.0.conv1", "layer1.0", "layer2.0.downsample.0", "ReduceMean", "classifier.1", "fc/Gemm", "fc/Add", "Conv", "Conv_12"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}

// withPad puts a Pad (inputs in, default pads and a zero) between the conv and the ReLU.
func withPad(in []string, at ...*onnxpb.AttributeProto) *onnxpb.ModelProto {
	return edit(func(m *onnxpb.ModelProto) {
		if in == nil {
			in = []string{"pads"}
		}
		m.Graph.Initializer = append(m.Graph.Initializer, i64("pads", 0, 0, 1, 1, 0, 0, 1, 1), f32("one", nil, []float32{1}))
		m.Graph.Node = append([]*onnxpb.NodeProto{node("Pad", "/pad/Pad", append([]string{"x"}, in...), []string{"xp"}, at...)}, m.Graph.Node...)
		m.Graph.Node[1].Input[0] = "xp"
	})
}

// withSplit splits the conv's output in two and adds the halves.
func withSplit(opset int64, at ...*onnxpb.AttributeProto) *onnxpb.ModelProto {
	return edit(func(m *onnxpb.ModelProto) {
		m.OpsetImport[0].Version = proto.Int64(opset)
		m.Graph.Node = append([]*onnxpb.NodeProto{m.Graph.Node[0], node("Split", "/split/Split", []string{"c"}, []string{"h1", "h2"}, at...),
			node("Concat", "/cat/Concat", []string{"h2", "h1"}, []string{"ba"}, aInt("axis", 1))}, m.Graph.Node[1:]...)
		m.Graph.Node[3].Input[0] = "ba"
	})
}

// inOrder concatenates withSplit's halves back in their order.
func inOrder(m *onnxpb.ModelProto) *onnxpb.ModelProto {
	m.Graph.Node[2].Input = []string{"h1", "h2"}
	return m
}

// withSlice slices channels [1, 3) of the conv's output with the extra input.
func withSlice(extra *onnxpb.TensorProto) *onnxpb.ModelProto {
	return edit(func(m *onnxpb.ModelProto) {
		m.Graph.Initializer = append(m.Graph.Initializer, i64("starts", 1), i64("ends", 3), i64("axes", 1), extra)
		in := []string{"c", "starts", "ends", "axes"}
		if extra.GetName() == "steps" {
			in = append(in, "steps")
		} else {
			in[3] = extra.GetName()
		}
		m.Graph.Node = append([]*onnxpb.NodeProto{m.Graph.Node[0], node("Slice", "/slice/Slice", in, []string{"cs"})}, m.Graph.Node[1:]...)
		m.Graph.Node[2].Input[0] = "cs"
		m.Graph.Initializer[2] = f32("fw", []int64{2, 2}, []float32{1, 2, 3, 4})
	})
}

// TestImportSoftmax: a Softmax or LogSoftmax over the classes of the output,
// with its axis given or defaulted per opset, is the model's logits through
// runtime's function.
func TestImportSoftmax(t *testing.T) {
	x := randF32(rand.New(rand.NewPCG(3, 4)), 2*3*8*8)
	base, err := importModel(t, tiny(), "")
	if err != nil {
		t.Fatal(err)
	}
	logits := reference(t, base, x, 2)
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		want := append([]float32(nil), logits...)
		f := runtime.Softmax
		if op == "LogSoftmax" {
			f = runtime.LogSoftmax
		}
		f(want[:2])
		f(want[2:])
		for _, c := range []struct {
			opset int64
			at    []*onnxpb.AttributeProto
		}{{11, nil}, {13, nil}, {13, []*onnxpb.AttributeProto{aInt("axis", 1)}}, {17, []*onnxpb.AttributeProto{aInt("axis", -1)}}} {
			m := tiny()
			m.OpsetImport[0].Version = proto.Int64(c.opset)
			m.Graph.Node[4].Output[0] = "z"
			m.Graph.Node = append(m.Graph.Node, node(op, "/"+op, []string{"z"}, []string{"y"}, c.at...))
			g, err := importModel(t, m, "")
			if err != nil {
				t.Fatalf("%s opset %d: %v", op, c.opset, err)
			}
			got := reference(t, g, x, 2)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("%s opset %d %v (-want +got):\n%s", op, c.opset, c.at, d)
			}
		}
	}
}

// ecaRow makes tiny's pooled [N, 4, 1, 1] ECA's row [N, 1, 4] ("tr") and
// reads it with x, which writes "f" for the Gemm.
func ecaRow(x *onnxpb.NodeProto) func(*onnxpb.ModelProto) {
	return func(m *onnxpb.ModelProto) {
		g := m.Graph
		g.Initializer = append(g.Initializer, i64("last", -1), f32("w1", []int64{1, 1, 3}, []float32{1, 2, 3}), f32("w2", []int64{2, 1, 3}, make([]float32, 6)))
		g.Node = append(g.Node[:3:3], node("Squeeze", "/eca/Squeeze", []string{"p", "last"}, []string{"s"}),
			node("Transpose", "/eca/Transpose", []string{"s"}, []string{"tr"}, aInts("perm", 0, 2, 1)), x, g.Node[4])
	}
}
