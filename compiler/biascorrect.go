package compiler

import (
	"fmt"

	"github.com/ptqc/ptqc/ir"
)

// FloatBatch is the batch of float passes over samples already in memory:
// bias correction's, and the driver's (ptq: equalization's check, report).
const FloatBatch = 30

// BiasCorrect corrects the shift that weight quantization puts in each layer's
// mean output, sequentially: in graph order, it runs the n samples x through the
// quantized model (earlier corrections included) and sets each conv's and linear's
// float bias B so that the mean, over samples and positions, of its dequantized
// pre-activation output equals the float graph g's at the same layer. The
// float pass runs in batches, reporting to progress (if not nil).
func BiasCorrect(m *Model, g *ir.Graph, x []float32, n int, progress func(done, total int)) error {
	// Sums over the batches in sample order, then means. The pre hook runs
	// for different layers at once (RunBatches): the map is made before.
	want := map[string][]float64{}
	for _, nd := range g.Nodes {
		if nd.Op == ir.OpConv || nd.Op == ir.OpLinear {
			want[nd.Name] = make([]float64, g.Tensors[nd.Out].Shape[0])
		}
	}
	pre := func(nd *ir.Node, out []float32, n int) error {
		c := g.Tensors[nd.Out].Shape[0]
		per := len(out) / n / c
		mean, ok := want[nd.Name]
		if !ok {
			return fmt.Errorf("bias correction: %s has no mean", nd.Name)
		}
		for s := 0; s < n; s++ {
			for ch := 0; ch < c; ch++ {
				for _, v := range out[(s*c+ch)*per : (s*c+ch+1)*per] {
					mean[ch] += float64(v)
				}
			}
		}
		return nil
	}
	p, err := ir.Compile(g)
	if err != nil {
		return err
	}
	if _, err := p.RunBatches(x, n, FloatBatch, pre, nil, true, progress); err != nil {
		return fmt.Errorf("bias correction: float pass: %w", err)
	}
	for name, mean := range want {
		per := g.Tensors[g.Node(name).Out].Elems() / len(mean)
		for ch := range mean {
			mean[ch] /= float64(n * per)
		}
	}
	correct := func(nd *Node, sums []int64, count int) error {
		f, ok := want[nd.Name]
		if !ok || len(f) != len(sums) {
			return fmt.Errorf("bias correction: layer %s has no float counterpart", nd.Name)
		}
		sy := m.Tensors[nd.Out].Scale
		c := nd.Conv
		for ch, sum := range sums {
			// In output units: the float mean over s_y, less the mean of the
			// scaled accumulator (which holds no bias), is the bias; kept in
			// float like every bias.
			c.B[ch] = float32(f[ch]/sy - float64(sum)/float64(count)*float64(c.M[ch]))
		}
		return nil
	}
	if _, err := run(m, x, n, nil, correct); err != nil {
		return fmt.Errorf("bias correction: %w", err)
	}
	m.Meta.BiasCorrect = true
	return nil
}
