package onnx

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"github.com/ptqc/ptqc/ir"
	"google.golang.org/protobuf/proto"
)

// TestPatterns: the forms torchvision's families take in ONNX
// (tools/onnx_patterns.py: channel shuffle, chunk, squeeze-excitation,
// hardswish, SiLU, rectangular, grouped, dilated and padded convs, pools in
// ceil mode, arithmetic by constants, the activations of hand-written CNNs),
// exported with a dynamic batch at
// opsets 7, 10, 13 and 17 where torch can (patterns.json lists them) and
// restamped to 22, give PyTorch's logits within 1e-5 relative, unfused on
// the reference interpreter and fused on the compiled program.
func TestPatterns(t *testing.T) {
	dir := filepath.Join(testdata, "onnx_patterns")
	shape, x := readNpy(t, filepath.Join(dir, "input.npy"))
	b, err := os.ReadFile(filepath.Join(dir, "patterns.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index map[string]struct{ Opsets []int }
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	if len(index) < 12 {
		t.Fatalf("patterns.json lists %d models", len(index))
	}
	for _, name := range slices.Sorted(maps.Keys(index)) {
		ws, want := readNpy(t, filepath.Join(dir, name+"_logits.npy"))
		for _, opset := range index[name].Opsets {
			t.Run(fmt.Sprintf("%s/opset%d", name, opset), func(t *testing.T) {
				g, err := Import(readOpset(t, filepath.Join(dir, fmt.Sprintf("%s_op%d.onnx", name, opset)), opset))
				if err != nil {
					t.Fatal(err)
				}
				closeBoth(t, g, x, shape[0], want, ws[1], 1e-5)
			})
		}
	}
}

// TestPatternOps: the spelled-out forms import as one op each (acts2: both
// GELUs, Softsign's x/(1+|x|), the difference and its ReLU), and an Erf
// outside them stays an Erf.
func TestPatternOps(t *testing.T) {
	dir := filepath.Join(testdata, "onnx_patterns")
	for _, opset := range []int{13, 17} {
		g, err := Import(readOpset(t, filepath.Join(dir, fmt.Sprintf("acts2_op%d.onnx", opset)), opset))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, n := range g.Nodes {
			name := n.Op.String()
			if n.Act != ir.ActNone {
				name += "+act"
			}
			got[name]++
		}
		want := map[string]int{"Quant": 1, "Conv2d": 4, "SELU": 1, "CELU": 1, "Add": 1, "GELU": 2, "Softsign": 1,
			"Abs": 1, "Affine": 1, "Sub": 1, "Sub+act": 1, "Erf": 1, "Mean": 1, "Linear": 1, "DeQuant": 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("opset %d: ops (-want +got):\n%s", opset, diff)
		}
	}
}

// TestOpNodesMatchChains: opset 20's Gelu and opset 18's Mish import as the
// one op their spelled-out chains (what torch exports before them) import
// as, with the same logits bit for bit.
func TestOpNodesMatchChains(t *testing.T) {
	x := randF32(rand.New(rand.NewPCG(5, 6)), 2*3*8*8)
	// logits imports tiny with its Relu replaced by nodes (from "c" to
	// "r"), checks that it holds one op node, and runs it.
	logits := func(opset int64, op ir.Op, nodes ...*onnxpb.NodeProto) []float32 {
		t.Helper()
		m := tiny()
		m.OpsetImport[0].Version = proto.Int64(opset)
		m.Graph.Initializer = append(m.Graph.Initializer, f32("sqrt2", nil, []float32{float32(math.Sqrt2)}),
			f32("one", nil, []float32{1}), f32("half", nil, []float32{0.5}))
		m.Graph.Node = append(append([]*onnxpb.NodeProto{m.Graph.Node[0]}, nodes...), m.Graph.Node[2:]...)
		g, err := importModel(t, m, "")
		if err != nil {
			t.Fatalf("opset %d: %v", opset, err)
		}
		n := 0
		for _, nd := range g.Nodes {
			if nd.Op == op {
				n++
			}
		}
		if n != 1 || len(g.Nodes) != 6 {
			t.Fatalf("opset %d: %d %v nodes among %d, want 1 among 6", opset, n, op, len(g.Nodes))
		}
		y := reference(t, g, x, 2)
		return y
	}
	gelu := logits(20, ir.OpGELU, node("Gelu", "/act/Gelu", []string{"c"}, []string{"r"}))
	chain := logits(17, ir.OpGELU,
		node("Div", "/act/Div", []string{"c", "sqrt2"}, []string{"d"}),
		node("Erf", "/act/Erf", []string{"d"}, []string{"e"}),
		node("Add", "/act/Add", []string{"e", "one"}, []string{"a"}),
		node("Mul", "/act/Mul", []string{"c", "a"}, []string{"m"}),
		node("Mul", "/act/Mul_1", []string{"m", "half"}, []string{"r"}))
	if diff := cmp.Diff(chain, gelu); diff != "" {
		t.Errorf("Gelu against its chain (-chain +node):\n%s", diff)
	}
	mish := logits(18, ir.OpMish, node("Mish", "/act/Mish", []string{"c"}, []string{"r"}))
	chain = logits(17, ir.OpMish,
		node("Softplus", "/act/Softplus", []string{"c"}, []string{"s"}),
		node("Tanh", "/act/Tanh", []string{"s"}, []string{"h"}),
		node("Mul", "/act/Mul", []string{"c", "h"}, []string{"r"}))
	if diff := cmp.Diff(chain, mish); diff != "" {
		t.Errorf("Mish against its chain (-chain +node):\n%s", diff)
	}
}

// TestClassMapOutput: a classifier that ends in [N, classes, 1, 1] (a
// global pool, or a Softmax of it over axis 1, as Caffe2's SqueezeNet in
// the ONNX Model Zoo does) gives the logits of the same graph flattened.
func TestClassMapOutput(t *testing.T) {
	x := randF32(rand.New(rand.NewPCG(7, 8)), 2*3*8*8)
	run := func(opset int64, flatten bool, soft int64) []float32 {
		t.Helper()
		m := tiny()
		m.OpsetImport[0].Version = proto.Int64(opset)
		m.Graph.Node = m.Graph.Node[:3] // conv, relu, pool to "p"
		out := "p"
		if flatten {
			m.Graph.Node = append(m.Graph.Node, node("Flatten", "/Flatten", []string{"p"}, []string{"f"}, aInt("axis", 1)))
			out = "f"
		}
		if soft != 0 {
			m.Graph.Node = append(m.Graph.Node, node("Softmax", "/Softmax", []string{out}, []string{"s"}, aInt("axis", soft)))
			out = "s"
		}
		m.Graph.Node[len(m.Graph.Node)-1].Output[0] = "y"
		m.Graph.Output[0] = valueInfo("y", "N", 4, 1, 1)
		if flatten {
			m.Graph.Output[0] = valueInfo("y", "N", 4)
		}
		g, err := importModel(t, m, "")
		if err != nil {
			t.Fatalf("opset %d, flatten %v, softmax axis %d: %v", opset, flatten, soft, err)
		}
		y := reference(t, g, x, 2)
		return y
	}
	for _, c := range []struct {
		opset int64
		soft  int64 // 0: no Softmax
	}{{13, 0}, {9, 1}, {13, 1}, {13, -3}} {
		want := run(c.opset, true, min(c.soft*c.soft, 1)) // axis 1 of the flattened output
		if diff := cmp.Diff(want, run(c.opset, false, c.soft)); diff != "" {
			t.Errorf("opset %d, softmax axis %d (-flattened +map):\n%s", c.opset, c.soft, diff)
		}
	}
	m := tiny()
	m.Graph.Node = m.Graph.Node[:3]
	m.Graph.Node[2].Output[0] = "y"
	m.Graph.Output[0] = valueInfo("y", "N", 4, 2, 1)
	if _, err := importModel(t, m, ""); err == nil || !strings.Contains(err.Error(), `graph output "y" is declared [N, 4, 2, 1] but computes [N, 4]`) {
		t.Errorf("declared [N, 4, 2, 1]: error %v", err)
	}
}
