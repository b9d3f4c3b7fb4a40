package onnx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func external(name string, dims []int64, kv ...string) *onnxpb.TensorProto {
	t := &onnxpb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
		DataLocation: onnxpb.TensorProto_EXTERNAL.Enum()}
	for i := 0; i+1 < len(kv); i += 2 {
		t.ExternalData = append(t.ExternalData, &onnxpb.StringStringEntryProto{Key: proto.String(kv[i]), Value: proto.String(kv[i+1])})
	}
	return t
}

// withInit is tiny with initializer k replaced.
func withInit(k int, t *onnxpb.TensorProto) *onnxpb.ModelProto {
	m := tiny()
	m.Graph.Initializer[k] = t
	return m
}

// TestDecodeErrors: each class of bad file is a clean error that says what
// is wrong, never a panic, and nothing is allocated from an unchecked size.
func TestDecodeErrors(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	// Model directory: w.bin holds the conv weight (108 floats); a symlink
	// leads out of the directory.
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), rawF32(make([]float32, 108)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.bin"), rawF32(make([]float32, 108)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.bin"), filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	valid := marshal(t, tiny())
	unknownField := tiny()
	unknownField.Graph.Node[0].ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	twoDefault := tiny()
	twoDefault.OpsetImport = append(twoDefault.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String("ai.onnx"), Version: proto.Int64(13)})
	noGraph := tiny()
	noGraph.Graph = nil
	oldIR := tiny()
	oldIR.IrVersion = proto.Int64(2)
	w := tinyWeights()[0]
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"garbage", []byte("this is not a protobuf"), "malformed or truncated"},
		{"truncated", valid[:len(valid)/2], "malformed or truncated"},
		{"opset 6", marshal(t, model(6, tiny().Graph.Node, tinyWeights())), "opset 6: ptqc reads opsets 7 to 22"},
		{"opset 23", marshal(t, model(23, tiny().Graph.Node, tinyWeights())), "opset 23"},
		{"two default opsets", marshal(t, twoDefault), "imported twice"},
		{"IR version", marshal(t, oldIR), "IR version 2"},
		{"no graph", marshal(t, noGraph), "no graph"},
		{"unknown field", marshal(t, unknownField), "onnx.NodeProto has field 99"},
		{"raw_data short", marshal(t, withInit(0, f32("w", []int64{4, 3, 3, 3}, make([]float32, 100)))), "raw_data has 400 bytes, want 108 elements"},
		{"float_data count", marshal(t, withInit(0, &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{4, 3, 3, 3}, DataType: proto.Int32(1), FloatData: make([]float32, 7)})), "float_data has 7 values, want 108"},
		{"raw and typed", marshal(t, withInit(0, &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{2}, DataType: proto.Int32(1), FloatData: []float32{1, 2}, RawData: rawF32([]float32{1, 2})})), "both raw_data and float_data"},
		{"wrong typed field", marshal(t, withInit(0, &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{2}, DataType: proto.Int32(1), Int64Data: []int64{1, 2}})), "FLOAT tensor [2] has int64_data"},
		{"absurd dims", marshal(t, withInit(0, &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{1 << 40, 1 << 40}, DataType: proto.Int32(1), RawData: []byte{0, 0, 0, 0}})), "dimension 0 is 1099511627776"},
		{"product too large", marshal(t, withInit(0, &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{1 << 20, 1 << 20}, DataType: proto.Int32(1), RawData: []byte{0, 0, 0, 0}})), "too many elements"},
		{"negative dim", marshal(t, withInit(0, &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{-1}, DataType: proto.Int32(1)})), "dimension 0 is -1"},
		{"undefined dtype", marshal(t, withInit(0, &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{1}, DataType: proto.Int32(99)})), "data type 99"},
		{"external escape", marshal(t, withInit(0, external("w", w.Dims, "location", "../"+filepath.Base(outside)+"/secret.bin"))), "not a path inside the model's directory"},
		{"external absolute", marshal(t, withInit(0, external("w", w.Dims, "location", filepath.Join(outside, "secret.bin")))), "not a path inside the model's directory"},
		{"external symlink out", marshal(t, withInit(0, external("w", w.Dims, "location", "link.bin"))), "outside the model's directory"},
		{"external past end", marshal(t, withInit(0, external("w", w.Dims, "location", "w.bin", "offset", "8"))), "432 bytes at offset 8, but the file has 432"},
		{"external length", marshal(t, withInit(0, external("w", w.Dims, "location", "w.bin", "length", "4"))), "length 4, but the tensor needs 432 bytes"},
		{"external missing", marshal(t, withInit(0, external("w", w.Dims, "location", "nope.bin"))), "no such file"},
		{"external key", marshal(t, withInit(0, external("w", w.Dims, "location", "w.bin", "color", "red"))), `key "color"`},
		{"external and raw", marshal(t, withInit(0, func() *onnxpb.TensorProto {
			e := external("w", w.Dims, "location", "w.bin")
			e.RawData = w.RawData
			return e
		}())), "also has data in the file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.b, dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	if _, err := Decode(marshal(t, withInit(0, external("w", w.Dims, "location", "w.bin"))), ""); err == nil || !strings.Contains(err.Error(), "no model directory") {
		t.Errorf("external data without a directory: %v", err)
	}
}

// TestReadFile: the file is checked before it is read.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "a directory, not a file") {
		t.Errorf("directory: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none.onnx")); err == nil {
		t.Error("missing file: no error")
	}
	p := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(p, marshal(t, withInit(0, external("w", []int64{4, 3, 3, 3}, "location", "w.bin"))), 0o644); err != nil {
		t.Fatal(err)
	}
	want := tinyWeights()[0]
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), want.RawData, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Proto.GetGraph().GetInitializer()[0].GetRawData(); string(got) != string(want.RawData) {
		t.Error("external data read wrongly")
	}
	if m.Path != p || m.Opset != 13 {
		t.Errorf("path %q, opset %d", m.Path, m.Opset)
	}
}

// TestAnnotationsAccepted: metadata_props of later ONNX releases are
// unknown to the 1.12 schema but annotate only.
func TestAnnotationsAccepted(t *testing.T) {
	m := tiny()
	entry := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "k")
	m.Graph.Node[0].ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 9, protowire.BytesType), entry))
	if _, err := Decode(marshal(t, m), ""); err != nil {
		t.Fatal(err)
	}
}
