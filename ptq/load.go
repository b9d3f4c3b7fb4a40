package ptq

import (
	"errors"

	"github.com/ptqc/ptqc/frontend"
	"github.com/ptqc/ptqc/frontend/onnx"
	"github.com/ptqc/ptqc/ir"
)

// LoadModel reads the unfused float graph of -model: an ONNX model
// (frontend/onnx: a .onnx file, or a JSON description with "graph") or a
// description and its weights (weights overrides the description's).
func LoadModel(model, weights string) (*ir.Description, *ir.Graph, error) {
	d, g, _, err := loadState(model, weights)
	return d, g, err
}

// loadState is LoadModel that also returns the parameters as a state_dict,
// which identify the weights in a quantized model's header.
func loadState(model, weights string) (*ir.Description, *ir.Graph, *frontend.SafeTensors, error) {
	if !onnx.IsModel(model) {
		return frontend.LoadState(model, weights)
	}
	if weights != "" {
		return nil, nil, nil, errors.New("a weights file does not apply to an ONNX model: its weights are in the graph")
	}
	d, g, err := onnx.Load(model)
	if err != nil {
		return nil, nil, nil, err
	}
	return d, g, onnx.StateDict(g, d.Weights), nil
}

// onnxInputs is the ONNX file a description with "graph" names, which a
// build must not overwrite.
func onnxInputs(model string) []string {
	if model == "" || !onnx.IsModel(model) {
		return nil
	}
	if p, err := onnx.GraphPath(model); err == nil && p != model {
		return []string{p}
	}
	return nil
}
