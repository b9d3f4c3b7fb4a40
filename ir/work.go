package ir

import "fmt"

// Limits on what a description may ask of one sample, checked before any
// weight or activation is allocated. They are far above any real model:
// torchvision's largest here, resnet152 at 224x224, has 466 nodes, 11.5
// GMACs, 0.8M-element activations and 67M activation elements in all
// (TestWorkOfRealModels); the limits leave room for 3x the resolution. A
// description past them (thousands of repeated rows, a 16384x16384 input)
// would exhaust memory instead of failing.
const (
	MaxNodes       = 1 << 14 // graph nodes
	MaxMACs        = 1 << 40 // multiply-accumulates of the convolutions and linears
	MaxTensorElems = 1 << 26 // elements of one activation (the input included)
	MaxActivations = 1 << 30 // elements of every activation, summed
	maxBlockNodes  = 12      // nodes of one residual block, at most
)

// Work is what a graph costs per sample; the sizes are float64 so that no
// description can overflow them. MaxTensor is the largest activation, or the
// first past MaxTensorElems (the one an error should name).
type Work struct {
	Nodes                        int
	MACs, MaxTensor, Activations float64
	Largest                      string // what holds MaxTensor: "the input [...]" or "the output of <node>"
}

// Work measures g, whose shapes must be inferred.
func (g *Graph) Work() Work {
	w := Work{Nodes: len(g.Nodes)}
	elems := func(id int) float64 {
		e := 1.0
		for _, d := range g.Tensors[id].Shape {
			e *= float64(d)
		}
		return e
	}
	w.MaxTensor = elems(g.Input)
	w.Activations = w.MaxTensor
	w.Largest = fmt.Sprintf("the input %v", g.Tensors[g.Input].Shape)
	for _, n := range g.Nodes {
		out := elems(n.Out)
		if out > w.MaxTensor && w.MaxTensor <= MaxTensorElems {
			w.MaxTensor, w.Largest = out, "the output of "+n.Name
		}
		w.Activations += out
		w.MACs += g.MACs(n)
	}
	return w
}

// MACs is the multiply-accumulates of node n per sample (convs and linears;
// 0 for other ops). The shapes must be inferred.
func (g *Graph) MACs(n *Node) float64 {
	switch {
	case n.Conv != nil:
		c := n.Conv
		out := 1.0
		for _, d := range g.Tensors[n.Out].Shape {
			out *= float64(d)
		}
		return out * float64(c.InC/c.Groups) * float64(c.Taps())
	case n.Linear != nil:
		return float64(n.Linear.In) * float64(n.Linear.Out)
	}
	return 0
}

// Check reports the first limit w passes, with the numbers.
func (w Work) Check() error {
	switch {
	case w.Nodes > MaxNodes:
		return fmt.Errorf("the model has %d layers, more than the limit of %d", w.Nodes, MaxNodes)
	case w.MaxTensor > MaxTensorElems:
		return fmt.Errorf("%s has %.3g elements per sample, more than the limit of %.3g", w.Largest, w.MaxTensor, float64(MaxTensorElems))
	case w.Activations > MaxActivations:
		return fmt.Errorf("the model's activations have %.3g elements per sample in all, more than the limit of %.3g", w.Activations, float64(MaxActivations))
	case w.MACs > MaxMACs:
		return fmt.Errorf("the model needs %.3g multiply-accumulates per sample, more than the limit of %.3g", w.MACs, float64(MaxMACs))
	}
	return nil
}
