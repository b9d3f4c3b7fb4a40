package compiler

import (
	"fmt"

	"github.com/ptqc/ptqc/ir"
)

// BiasCorrect corrects the shift that weight quantization puts in each layer's
// mean output, sequentially: in graph order, it runs the n samples x through the
// quantized model (earlier corrections included) and sets each conv's and linear's
// float bias B so that the mean, over samples and positions, of its dequantized
// pre-activation output equals the float graph g's at the same layer.
func BiasCorrect(m *Model, g *ir.Graph, x []float32, n int) error {
	want := map[string][]float64{}
	pre := func(nd *ir.Node, out []float32, n int) error {
		c := g.Tensors[nd.Out].Shape[0]
		per := len(out) / n / c
		mean := make([]float64, c)
		for s := 0; s < n; s++ {
			for ch := 0; ch < c; ch++ {
				for _, v := range out[(s*c+ch)*per : (s*c+ch+1)*per] {
					mean[ch] += float64(v)
				}
			}
		}
		for ch := range mean {
			mean[ch] /= float64(n * per)
		}
		want[nd.Name] = mean
		return nil
	}
	if _, err := ir.RunHooks(g, x, n, pre, nil); err != nil {
		return fmt.Errorf("bias correction: float pass: %w", err)
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
