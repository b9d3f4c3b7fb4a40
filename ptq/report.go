package ptq

import (
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
)

// LayerReport is one layer's quantization error: the SQNR of its dequantized int8
// output against the float output on the same samples, the spread of its weight
// ranges across output channels, and its output qparams.
type LayerReport struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"`
	SQNR      float64 `json:"sqnr_db"`
	Spread    float64 `json:"weight_range_spread,omitempty"`
	Scale     float64 `json:"scale"`
	ZeroPoint int32   `json:"zero_point"`
}

// Report compares every quantized layer's output with the float graph g's (the
// graph m was made from) on n samples x, worst SQNR first. Both run in
// batches, reporting to progress (if not nil).
func Report(m *compiler.Model, g *ir.Graph, x []float32, n int, progress func(done, total int)) ([]LayerReport, error) {
	p, err := ir.Compile(g)
	if err != nil {
		return nil, err
	}
	elems := g.Tensors[g.Input].Elems()
	if n < 1 || len(x) != n*elems {
		return nil, fmt.Errorf("report: %d values for %d samples of %d", len(x), n, elems)
	}
	// Signal and noise power per layer, summed over the batches in sample order.
	type power struct {
		nd         *compiler.Node
		sig, noise float64
	}
	pows := map[string]*power{}
	var order []*power
	for s := 0; s < n; s += compiler.FloatBatch {
		k := min(compiler.FloatBatch, n-s)
		xb := x[s*elems : (s+k)*elems]
		// Each layer's outputs for the batch, from RunImages' groups in
		// sample order (the hook runs for different layers at once).
		float := map[string]*[]float32{}
		for _, nd := range g.Nodes {
			float[nd.Name] = new([]float32)
		}
		if _, err := p.RunImages(xb, k, nil, func(nd *ir.Node, out []float32, _ int) error {
			f := float[nd.Name]
			*f = append(*f, out...)
			return nil
		}, true); err != nil {
			return nil, fmt.Errorf("report: float pass: %w", err)
		}
		_, err = compiler.Run(m, xb, k, func(nd *compiler.Node, out []uint8, _ int) error {
			fp, ok := float[nd.Name]
			var f []float32
			if ok {
				f = *fp
			}
			if !ok || len(f) != len(out) {
				return fmt.Errorf("report: layer %s has no float counterpart", nd.Name)
			}
			pw := pows[nd.Name]
			if pw == nil {
				pw = &power{nd: nd}
				pows[nd.Name] = pw
				order = append(order, pw)
			}
			t := m.Tensors[nd.Out]
			for i, q := range out {
				d := float64(compiler.Dequantize(q, t.Scale, t.Zero))
				pw.sig += float64(f[i]) * float64(f[i])
				pw.noise += (float64(f[i]) - d) * (float64(f[i]) - d)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(s+k, n)
		}
	}
	var reps []LayerReport
	for _, pw := range order {
		nd, t := pw.nd, m.Tensors[pw.nd.Out]
		r := LayerReport{Name: nd.Name, Kind: nd.Kind.String(), SQNR: sqnr(pw.sig, pw.noise), Scale: t.Scale, ZeroPoint: t.Zero}
		if fn := g.Node(nd.Name); fn != nil {
			r.Spread = ir.ChannelSpread(fn)
		}
		reps = append(reps, r)
	}
	sort.SliceStable(reps, func(i, j int) bool { return reps[i].SQNR < reps[j].SQNR })
	return reps, nil
}

// sqnr is in dB, kept within +-200 so that exact layers still print and encode as JSON.
func sqnr(sig, noise float64) float64 {
	if noise == 0 {
		return 200
	}
	if sig == 0 {
		return -200
	}
	return min(max(10*math.Log10(sig/noise), -200), 200)
}

// PrintReport writes the report as a table.
func PrintReport(w io.Writer, reps []LayerReport) error {
	width := len("layer")
	for _, r := range reps {
		width = max(width, len(r.Name))
	}
	fmt.Fprintf(w, "%-*s  %-8s  %9s  %12s  %12s  %4s\n", width, "layer", "kind", "SQNR(dB)", "w-spread", "scale", "zp")
	for _, r := range reps {
		spread := "-"
		if r.Spread > 0 {
			spread = fmt.Sprintf("%.1f", r.Spread)
		}
		if _, err := fmt.Fprintf(w, "%-*s  %-8s  %9.2f  %12s  %12.6g  %4d\n", width, r.Name, r.Kind, r.SQNR, spread, r.Scale, r.ZeroPoint); err != nil {
			return err
		}
	}
	return nil
}
