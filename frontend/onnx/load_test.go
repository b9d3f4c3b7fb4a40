package onnx

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/ir"
)

// TestLoadDescriptions: a bare graph gets default preprocessing; a JSON
// description with "graph" gives its own, checked against the graph.
func TestLoadDescriptions(t *testing.T) {
	dir := t.TempDir()
	onnxPath := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(onnxPath, marshal(t, tiny()), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	d, _, err := Load(onnxPath)
	if err != nil {
		t.Fatal(err)
	}
	want := &ir.Description{Arch: Arch, NumClasses: 2, Input: []int{3, 8, 8}, Mean: []float32{0.485, 0.456, 0.406},
		Std: []float32{0.229, 0.224, 0.225}, Weights: onnxPath, Path: onnxPath}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("bare graph (-want +got):\n%s", diff)
	}
	jp := write("m.json", `{"graph": "m.onnx", "num_classes": 2, "input": [3, 8, 8], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "preprocess": {"resize": 10, "crop": 6, "pad": 1}}`)
	if !IsModel(jp) || !IsModel(onnxPath) || IsModel(filepath.Join("..", "..", "testdata", "mobilenetv2_fmnist", "model.json")) {
		t.Error("IsModel")
	}
	d, _, err = Load(jp)
	if err != nil {
		t.Fatal(err)
	}
	want.Mean, want.Std, want.Preprocess, want.Path = []float32{0.5, 0.5, 0.5}, []float32{0.25, 0.25, 0.25}, ir.Preprocess{Resize: 10, Crop: 6, Pad: 1}, jp
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("description (-want +got):\n%s", diff)
	}
	if err := ValidateDescription(d); err != nil {
		t.Error(err)
	}
	for _, c := range []struct{ json, want string }{
		{`{"graph": "m.onnx", "weights": "x"}`, `unknown field "weights"`},
		{`{"graph": "m.onnx", "arch": "resnet"}`, `arch "resnet"`},
		{`{"graph": ""}`, `"graph" is empty`},
		{`{"graph": "none.onnx"}`, `no such file`},
		{`{"graph": "m.onnx", "num_classes": 10}`, `num_classes 10, but the graph has 2 outputs`},
		{`{"graph": "m.onnx", "input": [3, 32, 32]}`, `input [3 32 32], but the graph's input is [3 8 8]`},
		{`{"graph": "m.onnx", "mean": [0.5]}`, `want one value per input channel (3)`},
		{`{"graph": "m.onnx", "std": [1, 0, 1]}`, `std must be positive`},
		{`{"graph": "m.onnx", "preprocess": {"crop": 7}}`, `crop 7 + 2*pad 0 does not give the input 8x8`},
	} {
		_, _, err := Load(write("bad.json", c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.json, err, c.want)
		}
	}
}

// TestLoadDynamicSize: a graph exported with dynamic height and width takes
// them from its description's input, and computes what the same graph with
// them fixed does.
func TestLoadDynamicSize(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	m := tiny()
	m.Graph.Input[0] = valueInfo("x", "N", 3, "height", "width")
	write("dyn.onnx", marshal(t, m))
	if _, _, err := Load(filepath.Join(dir, "dyn.onnx")); err == nil || !strings.Contains(err.Error(), `dimension 2 is not a number ("height")`) {
		t.Errorf("bare graph: error %v", err)
	}
	d, g, err := Load(write("dyn.json", []byte(`{"graph": "dyn.onnx", "input": [3, 8, 8]}`)))
	if err != nil {
		t.Fatal(err)
	}
	if !ir.EqualShape(d.Input, []int{3, 8, 8}) {
		t.Errorf("input %v, want [3 8 8]", d.Input)
	}
	_, static, err := Load(write("static.onnx", marshal(t, tiny())))
	if err != nil {
		t.Fatal(err)
	}
	x := randF32(rand.New(rand.NewPCG(9, 10)), 2*3*8*8)
	want := reference(t, static, x, 2)
	got := reference(t, g, x, 2)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("logits (-static +dynamic):\n%s", diff)
	}
	for _, c := range []struct{ json, want string }{
		{`{"graph": "dyn.onnx", "input": [1, 8, 8]}`, `input [1 8 8], but the graph's input is [3 8 8]`},
		{`{"graph": "dyn.onnx", "input": [3, 0, 8]}`, `dimension 2 is 0: want 1 to`},
		{`{"graph": "dyn.onnx", "input": [3, 8]}`, `input [3 8]: want [channels, height, width]`},
	} {
		if _, _, err := Load(write("bad.json", []byte(c.json))); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.json, err, c.want)
		}
	}
}

// TestStateDictStructure: the state_dict that identifies an ONNX model's
// weights also changes with its structure.
func TestStateDictStructure(t *testing.T) {
	a, err := importModel(t, tiny(), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := importModel(t, edit(setNode(0, conv(aInts("kernel_shape", 3, 3), aInts("pads", 1, 1, 1, 1), aInts("strides", 2, 2)))), "")
	if err != nil {
		t.Fatal(err)
	}
	sa, sb := StateDict(a, "a"), StateDict(b, "b")
	if string(sa.Tensors["conv.weight"].Data) != string(sb.Tensors["conv.weight"].Data) {
		t.Fatal("the weights differ")
	}
	if string(sa.Tensors["__graph__"].Data) == string(sb.Tensors["__graph__"].Data) {
		t.Error("strides 1 and 2 give the same state_dict")
	}
}
