package onnx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ptqc/ptqc/frontend"
	"github.com/ptqc/ptqc/ir"
)

// Arch is the Description.Arch of a model read from ONNX.
const Arch = "onnx"

// IsModel reports whether path names an ONNX model: a .onnx file, or a JSON
// description with a "graph" field (the ONNX file and its preprocessing).
func IsModel(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".onnx":
		return true
	case ".json":
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		var raw map[string]json.RawMessage
		if json.Unmarshal(b, &raw) != nil {
			return false
		}
		_, ok := raw["graph"]
		return ok
	}
	return false
}

// graphDescription is a JSON description naming an ONNX graph: the graph
// carries the architecture and weights, the description the preprocessing.
type graphDescription struct {
	Arch       string         `json:"arch"`
	Graph      string         `json:"graph"`
	NumClasses int            `json:"num_classes"`
	Input      []int          `json:"input"`
	Mean       []float32      `json:"mean"`
	Std        []float32      `json:"std"`
	Preprocess *ir.Preprocess `json:"preprocess"`
	Classes    []string       `json:"classes"`
}

// Load reads an ONNX model (IsModel) and returns a description of its input
// (shape from the graph, preprocessing from the JSON or the defaults) and
// the unfused float graph. Without a JSON, a 3x224x224 input gets ImageNet's
// preprocessing (resize 256, crop 224, ImageNet mean and std); another size
// gets ImageNet's mean and std and no resize, crop or pad.
func Load(path string) (*ir.Description, *ir.Graph, error) {
	gd, graphPath, err := readGraphDescription(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := ReadFile(graphPath)
	if err != nil {
		return nil, nil, err
	}
	g, err := ImportInput(m, gd.Input)
	if err != nil {
		return nil, nil, fmt.Errorf("onnx %s: %w", graphPath, err)
	}
	d, err := describe(gd, g)
	if err != nil {
		return nil, nil, fmt.Errorf("model description %s: %w", path, err)
	}
	d.Path, d.Weights = path, graphPath
	return d, g, nil
}

// GraphPath is the ONNX file that path (IsModel) names: path itself, or the
// "graph" of a JSON description.
func GraphPath(path string) (string, error) {
	_, p, err := readGraphDescription(path)
	return p, err
}

// readGraphDescription reads the JSON description at path, or an empty one
// for a .onnx path, and the path of its graph.
func readGraphDescription(path string) (*graphDescription, string, error) {
	gd := &graphDescription{}
	if strings.ToLower(filepath.Ext(path)) == ".onnx" {
		return gd, path, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("model description: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(gd); err != nil {
		return nil, "", fmt.Errorf("model description %s: %w (a description with \"graph\" takes arch, graph, num_classes, input, mean, std, preprocess and classes)", path, err)
	}
	if gd.Arch != "" && gd.Arch != Arch {
		return nil, "", fmt.Errorf("model description %s: arch %q: a description naming a graph has arch %q or none", path, gd.Arch, Arch)
	}
	if gd.Graph == "" {
		return nil, "", fmt.Errorf("model description %s: \"graph\" is empty", path)
	}
	graphPath := gd.Graph
	if !filepath.IsAbs(graphPath) {
		graphPath = filepath.Join(filepath.Dir(path), graphPath)
	}
	return gd, graphPath, nil
}

// describe fills a description from the graph and the JSON's fields.
func describe(gd *graphDescription, g *ir.Graph) (*ir.Description, error) {
	in := g.Tensors[g.Input].Shape
	d := &ir.Description{
		Arch:       Arch,
		NumClasses: g.Tensors[g.Output].Elems(),
		Input:      append([]int(nil), in...),
		Mean:       []float32{0.485, 0.456, 0.406},
		Std:        []float32{0.229, 0.224, 0.225},
	}
	if in[0] == 1 {
		d.Mean, d.Std = []float32{0.449}, []float32{0.226} // ImageNet's averaged over channels
	}
	if ir.EqualShape(in, []int{3, 224, 224}) {
		d.Preprocess = ir.Preprocess{Resize: 256, Crop: 224}
	}
	if gd.NumClasses != 0 && gd.NumClasses != d.NumClasses {
		return nil, fmt.Errorf("num_classes %d, but the graph has %d outputs", gd.NumClasses, d.NumClasses)
	}
	if gd.Input != nil && !ir.EqualShape(gd.Input, in) {
		return nil, fmt.Errorf("input %v, but the graph's input is %v", gd.Input, in)
	}
	if gd.Mean != nil {
		d.Mean = gd.Mean
	}
	if gd.Std != nil {
		d.Std = gd.Std
	}
	if gd.Preprocess != nil {
		d.Preprocess = *gd.Preprocess
	}
	d.Classes = gd.Classes
	if err := ValidateDescription(d); err != nil {
		return nil, err
	}
	return d, nil
}

// ValidateDescription checks the description of an ONNX model (Arch), as a
// quantized model's header carries it: input, classes and preprocessing.
func ValidateDescription(d *ir.Description) error {
	if d.Arch != Arch {
		return fmt.Errorf("arch %q is not %q", d.Arch, Arch)
	}
	if d.NumClasses < 1 {
		return fmt.Errorf("num_classes %d: must be positive", d.NumClasses)
	}
	if err := d.ValidateClasses(); err != nil {
		return err
	}
	if len(d.Input) != 3 {
		return fmt.Errorf("input %v: want [channels, height, width]", d.Input)
	}
	for _, v := range d.Input {
		if v < 1 || v > maxDim {
			return fmt.Errorf("input %v: dimensions must be 1 to %d", d.Input, maxDim)
		}
	}
	return d.ValidateTransform()
}

// StateDict is the graph's parameters as named tensors plus, as the U8
// tensor "__graph__", the printed graph (every layer's kind, geometry and
// shape): what identifies an ONNX model in a quantized model's header, where
// a description's hash identifies the structure of the other models.
func StateDict(g *ir.Graph, path string) *frontend.SafeTensors {
	st := &frontend.SafeTensors{Path: path, Metadata: map[string]string{}, Tensors: map[string]*frontend.SafeTensor{}}
	for _, t := range frontend.StateDict(g) {
		st.Tensors[t.Name] = t
	}
	var b bytes.Buffer
	if err := ir.Print(&b, g); err == nil {
		st.Tensors["__graph__"] = &frontend.SafeTensor{Name: "__graph__", DType: "U8", Shape: []int{b.Len()}, Data: b.Bytes()}
	}
	return st
}
