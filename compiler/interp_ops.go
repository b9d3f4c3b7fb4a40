package compiler

import "github.com/ptqc/ptqc/ir"

// runOp runs the kinds without MACs on n samples: tables, products,
// concatenation, channel moves and average pooling.
func runOp(m *Model, nd *Node, vals map[int][]uint8, out []uint8, n int) {
	t := m.Tensors[nd.Out]
	oe := t.Elems()
	src := m.Tensors[nd.In[0]]
	a := vals[nd.In[0]]
	hw := oe / t.Shape[0]
	switch nd.Kind {
	case KTable:
		tab := nd.Table.T
		per := len(tab) / 256 // 1, or one table per channel
		for j := range n * t.Shape[0] {
			tc := tab[(j%t.Shape[0])%per*256:][:256]
			for i, q := range a[j*hw : (j+1)*hw] {
				out[j*hw+i] = tc[q]
			}
		}
	case KMul:
		b, tb := vals[nd.In[1]], m.Tensors[nd.In[1]]
		if ir.PlaneMul(src.Shape, tb.Shape) {
			// b's plane applies to each of a sample's planes.
			c := src.Shape[0]
			for j := range n * c {
				bs := b[j/c*hw:][:hw]
				for i, qa := range a[j*hw : (j+1)*hw] {
					out[j*hw+i] = Requantize((int32(qa)-src.Zero)*(int32(bs[i])-tb.Zero), nd.Mul.M, 0, t.Zero, 0, 255)
				}
			}
			break
		}
		rep := oe / tb.Elems() // 1, or H*W for a [C,1,1] operand
		for j, qb := range b[:n*tb.Elems()] {
			vb := int32(qb) - tb.Zero
			for i, qa := range a[j*rep : (j+1)*rep] {
				out[j*rep+i] = Requantize((int32(qa)-src.Zero)*vb, nd.Mul.M, 0, t.Zero, 0, 255)
			}
		}
	case KConcat:
		for s := range n {
			o := out[s*oe : (s+1)*oe]
			for i, id := range nd.In {
				x, e := m.Tensors[id], m.Tensors[id].Elems()
				in := vals[id][s*e : (s+1)*e]
				if mi := nd.Concat.M[i]; mi != 0 {
					for k, q := range in {
						o[k] = Requantize(int32(q)-x.Zero, mi, 0, t.Zero, 0, 255)
					}
				} else {
					copy(o, in)
				}
				o = o[e:]
			}
		}
	case KSlice:
		ie := src.Elems()
		for s := range n {
			copy(out[s*oe:(s+1)*oe], a[s*ie+nd.Slice.Start*hw:s*ie+nd.Slice.End*hw])
		}
	case KShuffle:
		for s := range n {
			for c, from := range nd.Perm {
				copy(out[s*oe+c*hw:s*oe+(c+1)*hw], a[s*oe+from*hw:s*oe+(from+1)*hw])
			}
		}
	case KChannelMax:
		c := src.Shape[0]
		for s := range n {
			o := out[s*oe:][:oe]
			copy(o, a[s*c*oe:][:oe])
			for k := 1; k < c; k++ {
				for i, q := range a[(s*c+k)*oe:][:oe] {
					o[i] = max(o[i], q)
				}
			}
		}
	case KAvgPool:
		p := nd.Pool.Spec()
		c := src.Shape[0]
		ip, op := src.Elems()/c, oe/c
		ir.Parallel(n*c, func(j int) {
			AvgPoolQ(&p, src.Shape[1], src.Shape[2], a[j*ip:(j+1)*ip], src.Zero, t.Shape[1], t.Shape[2], out[j*op:(j+1)*op])
		})
	}
}

// AvgPoolQ pools one uint8 plane keeping its qparams: the window's sum of
// q - z over the input it covers, scaled by float32(1/count) (count as
// ir.AvgPool divides) and rounded: MeanQ's arithmetic per window.
func AvgPoolQ(p *ir.Pool, ih, iw int, in []uint8, z int32, oh, ow int, out []uint8) {
	w := &p.Window
	for oy := range oh {
		y0 := oy*w.SH - w.PadT
		ya, yb := max(y0, 0), min(y0+w.KH, ih)
		for ox := range ow {
			x0 := ox*w.SW - w.PadL
			xa, xb := max(x0, 0), min(x0+w.KW, iw)
			var sum int32
			for y := ya; y < yb; y++ {
				for _, q := range in[y*iw+xa : y*iw+xb] {
					sum += int32(q) - z
				}
			}
			cnt := (yb - ya) * (xb - xa)
			if p.CountPad {
				cnt = (min(y0+w.KH, ih+w.PadB) - y0) * (min(x0+w.KW, iw+w.PadR) - x0)
			}
			out[oy*ow+ox] = MeanQ(sum, float32(1/float64(cnt)), z)
		}
	}
}
