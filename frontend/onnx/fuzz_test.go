package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"github.com/ptqc/ptqc/internal/safesize"
	"github.com/ptqc/ptqc/ir"
	"google.golang.org/protobuf/proto"
)

// seeds are the fuzz targets' seed corpus: valid models and one of each
// class of bad input the tests name.
func seeds(f *testing.F) [][]byte {
	valid := marshal(f, tiny())
	small, err := os.ReadFile(filepath.Join(testdata, "onnx_small", "small_opset13.onnx"))
	if err != nil {
		f.Fatal(err)
	}
	w := tinyWeights()[0]
	var patterns [][]byte
	for _, name := range []string{"shuffle_op13", "mobilev3_op13", "efficient_op13", "geometry_op13", "acts2_op13", "eca_op13",
		"shuffle_op7", "geometry_op10", "acts2_op22", "pools_op13"} {
		b, err := os.ReadFile(filepath.Join(testdata, "onnx_patterns", name+".onnx"))
		if err != nil {
			f.Fatal(err)
		}
		patterns = append(patterns, b)
	}
	return append(patterns,
		valid,
		small,
		valid[:len(valid)*2/3], // truncated
		marshal(f, withInit(0, f32("w", []int64{4, 3, 3, 3}, make([]float32, 100)))),                                                                                  // wrong dims
		marshal(f, withInit(0, &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{1 << 40, 1 << 40}, DataType: proto.Int32(1), RawData: []byte{0, 0, 0, 0}})), // absurd dims
		marshal(f, edit(func(m *onnxpb.ModelProto) { m.Graph.Node[0].Input[0] = "f" })),                                                                               // cycle
		marshal(f, edit(setNode(1, node("Relu", "/relu/Relu", []string{"nope"}, []string{"r"})))),                                                                     // missing input
		marshal(f, withInit(0, external("w", w.Dims, "location", "../w.bin"))),                                                                                        // path escape
		marshal(f, withInit(0, external("w", w.Dims, "location", "w.bin"))),                                                                                           // inside: read
		marshal(f, edit(func(m *onnxpb.ModelProto) { m.Graph.Input[0] = valueInfo("x", "N", 3, 1<<20, 8) })),                                                          // absurd shape
		marshal(f, model(18, tiny().Graph.Node, tinyWeights())),
		marshal(f, withPad(nil)),
		marshal(f, withSplit(18, aInt("axis", 1), aInt("num_outputs", 2))),
		marshal(f, withSlice(i64("steps", 1))),
	)
}

// fuzzDir is a model directory with the file the external-data seed reads.
func fuzzDir(f *testing.F) string {
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), tinyWeights()[0].RawData, 0o644); err != nil {
		f.Fatal(err)
	}
	return dir
}

// FuzzDecodeONNX: any bytes decode to a validated model or a clean error,
// and every tensor of a validated model decodes or fails cleanly.
func FuzzDecodeONNX(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	dir := fuzzDir(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b, dir)
		if err != nil {
			return
		}
		if m.Opset < MinOpset || m.Opset > MaxOpset {
			t.Fatalf("opset %d accepted", m.Opset)
		}
		for _, tp := range m.Proto.GetGraph().GetInitializer() {
			v, err := decodeTensor(tp)
			if err != nil {
				continue
			}
			if e, err := safesize.Elements(v.dims, maxElements); err != nil || e != v.len() {
				t.Fatalf("initializer %q: dims %v, %d values (%v)", tp.GetName(), v.dims, v.len(), err)
			}
		}
	})
}

// FuzzImportONNX: a model that decodes imports to a graph whose shapes check
// or fails cleanly; a small imported graph runs on the reference interpreter
// and on the fast kernels after fusion. Protobuf bytes mutate mostly into
// undecodable ones, so each input is also read as a recipe of edits to a
// valid model (ops, attributes, wiring, shapes, opset), which reaches the
// import's checks far more often.
func FuzzImportONNX(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Add([]byte{0, 1, 5, 1, 0, 2, 2, 3, 7, 3, 2, 200, 4, 0, 7, 7, 2, 9, 5, 4, 1})
	dir := fuzzDir(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := Decode(b, dir); err == nil {
			checkImport(t, m)
		}
		m, err := Decode(marshal(t, recipe(b)), dir)
		if err != nil {
			t.Fatalf("recipe model does not decode: %v", err)
		}
		checkImport(t, m)
	})
}

func checkImport(t *testing.T, m *Model) {
	checkGraph(t, m, false)
	checkGraph(t, m, true)
}

func checkGraph(t *testing.T, m *Model, anyIO bool) {
	g, err := importGraph(m, nil, anyIO)
	if err != nil {
		return
	}
	if err := ir.InferShapes(g); err != nil {
		t.Fatalf("imported graph: %v", err)
	}
	if cost(g) > 1e7 {
		return
	}
	in := g.Tensors[g.Input].Elems()
	x := make([]float32, in)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	out, _, err := runBoth(g, x, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != g.Tensors[g.Output].Elems() {
		t.Fatalf("%d outputs, want %d", len(out), g.Tensors[g.Output].Elems())
	}
}

var (
	recipeOps = []string{"Conv", "BatchNormalization", "Relu", "Clip", "Add", "GlobalAveragePool", "ReduceMean", "Flatten", "Reshape", "Gemm", "MatMul", "MaxPool", "Identity", "Dropout", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Div", "Mul", "Sub", "Constant", "Sigmoid",
		"LeakyRelu", "HardSigmoid", "HardSwish", "AveragePool", "Split", "Slice", "Pad", "Transpose", "ConstantOfShape", "Range", "Softmax",
		"LogSoftmax", "Tanh", "Elu", "Softplus", "PRelu", "Expand", "GlobalMaxPool", "ReduceMax", "Selu", "Celu", "Softsign", "Abs", "Erf", "Neg", "Gelu", "Mish", "ReduceSum"}
	recipeAttrs = []string{"kernel_shape", "pads", "strides", "dilations", "group", "axes", "axis", "keepdims", "transB", "transA", "alpha", "to", "ceil_mode", "auto_pad", "value_ints", "value_int", "epsilon", "allowzero",
		"perm", "split", "num_outputs", "count_include_pad", "beta", "storage_order", "gamma", "starts", "ends", "spatial", "saturate"}
)

// recipe edits the shape-subgraph form of the tiny model as b says, three
// bytes an edit: what, where, value.
func recipe(b []byte) *onnxpb.ModelProto {
	m := tiny()
	m.Graph.Initializer = append(m.Graph.Initializer, i64("zero", 0), i64("m1", -1), i64("axes", 2, 3),
		f32("lo", nil, []float32{0}), f32("six", nil, []float32{6}), f32("scale", []int64{4}, []float32{1, 2, 0.5, 1}))
	shapeFlatten(m,
		node("Gather", "/Gather", []string{"sh", "zero"}, []string{"n"}),
		node("Unsqueeze", "/Unsqueeze", []string{"n", "zero"}, []string{"n1"}),
		node("Concat", "/Concat", []string{"n1", "m1"}, []string{"s"}, aInt("axis", 0)))
	names := func() []string {
		ns := []string{"x", ""}
		for _, t := range m.Graph.Initializer {
			ns = append(ns, t.GetName())
		}
		for _, n := range m.Graph.Node {
			ns = append(ns, n.GetOutput()...)
		}
		return ns
	}
	for k := 0; len(b) >= 3 && k < 64; k++ {
		what, at, v := b[0], int(b[1]), b[2]
		b = b[3:]
		nodes := m.Graph.Node
		n := nodes[at%len(nodes)]
		switch what % 8 {
		case 0:
			n.OpType = proto.String(recipeOps[int(v)%len(recipeOps)])
		case 1:
			name := recipeAttrs[at%len(recipeAttrs)]
			vals := []int64{int64(v%5) - 1, int64(v/5%5) - 1, int64(v / 25 % 3), int64(v / 75 % 3)}
			n.Attribute = append(n.Attribute, aInts(name, vals[:1+at/len(recipeAttrs)%4]...))
		case 2:
			ns := names()
			if len(n.Input) > 0 {
				n.Input[at%len(n.Input)] = ns[int(v)%len(ns)]
			}
		case 3:
			dims := []any{"N", 3, 8, 8}
			if v == 255 {
				dims[at%4] = "D"
			} else {
				dims[at%4] = int(v % 12)
			}
			m.Graph.Input[0] = valueInfo("x", dims...)
		case 4:
			m.OpsetImport[0].Version = proto.Int64(int64(MinOpset) + int64(v)%int64(MaxOpset-MinOpset+1))
		case 5:
			n.Attribute = append(n.Attribute, aInt(recipeAttrs[int(v)%len(recipeAttrs)], int64(at%4)-1))
		case 6:
			ns := names()
			out := fmt.Sprintf("e%d", k)
			nn := node(recipeOps[int(v)%len(recipeOps)], "/"+out, []string{ns[at%len(ns)], ns[int(v)%len(ns)]}, []string{out})
			i := at % len(nodes)
			m.Graph.Node = append(nodes[:i:i], append([]*onnxpb.NodeProto{nn}, nodes[i:]...)...)
			if next := m.Graph.Node[(i+1)%len(m.Graph.Node)]; len(next.Input) > 0 {
				next.Input[0] = out
			}
		case 7:
			n.Input = n.Input[:min(len(n.Input), int(v%4))]
		}
	}
	return m
}

// cost is about the multiply-adds of one sample, plus every tensor's size.
func cost(g *ir.Graph) float64 {
	c := 0.0
	for _, t := range g.Tensors {
		c += float64(t.Elems())
	}
	for _, n := range g.Nodes {
		if n.Conv != nil {
			c += float64(g.Tensors[n.Out].Elems()) * float64(n.Conv.InC/n.Conv.Groups*n.Conv.Taps())
		}
		if n.Pool != nil {
			c += float64(g.Tensors[n.Out].Elems()) * float64(n.Pool.Taps())
		}
		if n.Linear != nil {
			c += float64(n.Linear.In * n.Linear.Out)
		}
	}
	return c
}
