package ir

// Channel bands. A 1x1 conv whose output (a sample's) passes bandMinBytes
// and whose only reader is the direct depthwise conv right after it runs,
// in a run with part hooks (calibration) or without hooks (an evaluation),
// where a core runs a group of samples, a band of output channels at a
// time: the band, about bandBytes, goes to the conv's part hook and to the
// depthwise conv's channels of the band while it is in the caches, and the
// conv's whole output is never written (its Hook gets nil). MobileNetV2-
// 224's first expansion (16 -> 96 at 112x112, 4.8 MB) otherwise wrote its
// output to memory, each line read from memory first, and the stride-2
// depthwise conv after it read it back. Every value is the same, bit for
// bit: the same kernels on the same columns, a band's rows being whole
// panels of the conv's packed weights.

// bandMinBytes is the output (a sample's) from which a conv runs in bands:
// past the L2 of the CPUs with the smallest (1 MB).
var bandMinBytes = 1 << 20 // a variable for tests

// bandBytes bounds a band: it, the conv's input (read once a band) and the
// depthwise conv's output of the band share L2.
var bandBytes = 768 << 10 // a variable for tests

// markBands sets each step's band: the channels a band, 0 if it does not
// run in bands.
func (p *Program) markBands() {
	g := p.g
	for i, st := range p.steps {
		st.band = 0
		if i+1 == len(p.steps) || st.kind != stepGemm || st.im2col || st.groups != 1 {
			continue
		}
		dw, t := p.steps[i+1], st.nd.Out
		if dw.kind != stepDW || !dw.direct || dw.nd.In[0] != t || dw.nd.Conv.InC != dw.nd.Conv.OutC ||
			p.uses[t] != 1 || t == g.Output || 4*g.Tensors[t].Elems() <= bandMinBytes {
			continue
		}
		// Whole panels a band, the last band the rows left.
		b := bandBytes / (4 * st.n) / st.mr * st.mr
		st.band = min(st.m, max(st.mr, b))
	}
}

// runBands runs step st in bands (st.band > 0) and the depthwise conv dw
// after it, on n samples: it returns dw's output, and passes the bands and
// dw's output of each to partA and partB.
func (p *Program) runBands(st, dw *step, vals [][]float32, n int, partA, partB partFunc, pl *pool) []float32 {
	g := p.g
	x := vals[st.nd.In[0]]
	ie := g.Tensors[st.nd.In[0]].Elems()
	oe := g.Tensors[dw.nd.Out].Elems()
	out := get(pl, n*oe)
	loA, hiA := bounds(st.nd.Act)
	loB, hiB := bounds(dw.nd.Act)
	c := dw.nd.Conv
	_, s, pad, _ := c.Square()
	in := g.Tensors[st.nd.Out].Shape
	taps, plane := c.Taps(), dw.oh*dw.ow
	buf := scratch(st.band * st.n)
	tile := p.tileScratch(st.k)
	for smp := range n {
		xs := x[smp*ie : (smp+1)*ie]
		for c0 := 0; c0 < st.m; c0 += st.band {
			c1 := min(st.m, c0+st.band)
			band := (*buf)[:(c1-c0)*st.n]
			p.pointwiseCols(st, st.a[c0*st.k:c1*st.k], st.bias[c0:c1], xs, band, 0, st.n, loA, hiA, *tile, false)
			partA(smp, band, c0*st.n)
			o := out[smp*oe+c0*plane : smp*oe+c1*plane]
			p.k.DW3(s, pad, dw.w[c0*taps:c1*taps], band, in[1], in[2], o, dw.oh, dw.ow, dw.bias[c0:c1], loB, hiB, false)
			partB(smp, o, c0*plane)
		}
	}
	putScratch(tile)
	putScratch(buf)
	return out
}
