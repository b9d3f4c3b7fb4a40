package frontend

import (
	"encoding/binary"
	"math"

	"github.com/ptqc/ptqc/ir"
)

// StateDict returns the graph's parameters as PyTorch would save them
// (torchvision key names, F32, num_batches_tracked as a 0-d I64).
func StateDict(g *ir.Graph) []*SafeTensor {
	var ts []*SafeTensor
	add := func(key string, shape []int, v []float32) {
		b := make([]byte, 4*len(v))
		for i, f := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
		ts = append(ts, &SafeTensor{Name: key, DType: "F32", Shape: shape, Data: b})
	}
	for _, n := range g.Nodes {
		switch {
		case n.Conv != nil:
			add(n.Name+".weight", n.Conv.WeightShape(), n.Conv.Weight)
			if n.Conv.Bias != nil {
				add(n.Name+".bias", []int{n.Conv.OutC}, n.Conv.Bias)
			}
		case n.BN != nil:
			c := []int{n.BN.C}
			add(n.Name+".weight", c, n.BN.Weight)
			add(n.Name+".bias", c, n.BN.Bias)
			add(n.Name+".running_mean", c, n.BN.Mean)
			add(n.Name+".running_var", c, n.BN.Var)
			ts = append(ts, &SafeTensor{Name: n.Name + ".num_batches_tracked", DType: "I64", Shape: []int{}, Data: make([]byte, 8)})
		case n.Linear != nil:
			add(n.Name+".weight", []int{n.Linear.Out, n.Linear.In}, n.Linear.Weight)
			if n.Linear.Bias != nil {
				add(n.Name+".bias", []int{n.Linear.Out}, n.Linear.Bias)
			}
		}
	}
	return ts
}
