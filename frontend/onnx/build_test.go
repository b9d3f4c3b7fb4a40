package onnx

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"github.com/ptqc/ptqc/ir"
	"google.golang.org/protobuf/proto"
)

// Builders of small ONNX models for the tests and the fuzz seeds.

func rawF32(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func f32(name string, dims []int64, v []float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: rawF32(v)}
}

func i64(name string, v ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: []int64{int64(len(v))}, DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: v}
}

func node(op, name string, in, out []string, at ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: out, Attribute: at}
}

// shapeFlatten replaces the tiny model's Flatten (node 3) by torch's
// x.reshape(x.size(0), -1) form: a Shape of p ("sh"), the nodes mid that
// compute the target shape "s" from it, and a Reshape of p to "f".
func shapeFlatten(m *onnxpb.ModelProto, mid ...*onnxpb.NodeProto) {
	ns := append([]*onnxpb.NodeProto{node("Shape", "/Shape", []string{"p"}, []string{"sh"})}, mid...)
	ns = append(ns, node("Reshape", "/Reshape", []string{"p", "s"}, []string{"f"}), m.Graph.Node[4])
	m.Graph.Node = append(m.Graph.Node[:3], ns...)
}

func aInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func aInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func aFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func aStr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

func aTensor(name string, t *onnxpb.TensorProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: t}
}

// valueInfo is a float tensor type; a string dim is symbolic.
func valueInfo(name string, dims ...any) *onnxpb.ValueInfoProto {
	sh := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		switch d := d.(type) {
		case int:
			sh.Dim = append(sh.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		case string:
			sh.Dim = append(sh.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d}})
		}
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: sh}}}}
}

func model(opset int64, nodes []*onnxpb.NodeProto, inits []*onnxpb.TensorProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(7),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}},
		Graph: &onnxpb.GraphProto{
			Name:        proto.String("tiny"),
			Node:        nodes,
			Initializer: inits,
			Input:       []*onnxpb.ValueInfoProto{valueInfo("x", "N", 3, 8, 8)},
			Output:      []*onnxpb.ValueInfoProto{valueInfo("y", "N", 2)},
		},
	}
}

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		// Multiples of 1/64 in [-1, 1]: exact in float16 too.
		v[i] = float32(r.IntN(129)-64) / 64
	}
	return v
}

// tinyWeights are the tiny model's initializers: a 3x3 conv 3->4 with bias,
// a Gemm 4->2.
func tinyWeights() []*onnxpb.TensorProto {
	r := rand.New(rand.NewPCG(1, 2))
	return []*onnxpb.TensorProto{
		f32("w", []int64{4, 3, 3, 3}, randF32(r, 108)),
		f32("b", []int64{4}, randF32(r, 4)),
		f32("fw", []int64{2, 4}, randF32(r, 8)),
		f32("fb", []int64{2}, randF32(r, 2)),
	}
}

// tiny is conv 3x3 (pad 1) -> relu -> global average pool -> flatten -> gemm.
func tiny() *onnxpb.ModelProto {
	return model(13, []*onnxpb.NodeProto{
		node("Conv", "/conv/Conv", []string{"x", "w", "b"}, []string{"c"}, aInts("kernel_shape", 3, 3), aInts("pads", 1, 1, 1, 1), aInts("strides", 1, 1)),
		node("Relu", "/relu/Relu", []string{"c"}, []string{"r"}),
		node("GlobalAveragePool", "/pool/GlobalAveragePool", []string{"r"}, []string{"p"}),
		node("Flatten", "/Flatten", []string{"p"}, []string{"f"}, aInt("axis", 1)),
		node("Gemm", "/fc/Gemm", []string{"f", "fw", "fb"}, []string{"y"}, aInt("transB", 1)),
	}, tinyWeights())
}

func marshal(t testing.TB, m *onnxpb.ModelProto) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reference is g's logits for the n samples x on ir's reference interpreter.
func reference(t testing.TB, g *ir.Graph, x []float32, n int) []float32 {
	t.Helper()
	y, err := ir.Reference(g, x, n, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return y
}
