package onnx

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
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
	return [][]byte{
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
	}
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
			if e, err := ir.Elements(v.dims, maxElements); err != nil || e != v.len() {
				t.Fatalf("initializer %q: dims %v, %d values (%v)", tp.GetName(), v.dims, v.len(), err)
			}
		}
	})
}

// FuzzImportONNX: a model that decodes imports to a graph whose shapes check
// or fails cleanly; a small imported graph runs on the reference interpreter
// and on the fast kernels after fusion.
func FuzzImportONNX(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	dir := fuzzDir(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b, dir)
		if err != nil {
			return
		}
		g, err := Import(m)
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
		out, err := ir.Reference(g, x, 1, nil, nil)
		if err != nil {
			t.Fatalf("reference: %v", err)
		}
		if len(out) != g.Tensors[g.Output].Elems() {
			t.Fatalf("%d outputs, want %d", len(out), g.Tensors[g.Output].Elems())
		}
		p, err := ir.Compile(ir.Fuse(g))
		if err != nil {
			t.Fatalf("compile: %v", err)
		}
		if _, err := p.Run(x, 1, nil, nil); err != nil {
			t.Fatalf("fast kernels: %v", err)
		}
	})
}

// cost is about the multiply-adds of one sample, plus every tensor's size.
func cost(g *ir.Graph) float64 {
	c := 0.0
	for _, t := range g.Tensors {
		c += float64(t.Elems())
	}
	for _, n := range g.Nodes {
		if n.Conv != nil {
			c += float64(g.Tensors[n.Out].Elems()) * float64(n.Conv.InC/n.Conv.Groups*n.Conv.Kernel*n.Conv.Kernel)
		}
		if n.Pool != nil {
			c += float64(g.Tensors[n.Out].Elems()) * float64(n.Pool.Kernel*n.Pool.Kernel)
		}
		if n.Linear != nil {
			c += float64(n.Linear.In * n.Linear.Out)
		}
	}
	return c
}
