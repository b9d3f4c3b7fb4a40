package ir

// The ops without MACs, on the Program's recycled buffers and its workers:
// the reference's code or its formulas, element for element.

// hasOp reports whether runOp runs op.
func hasOp(op Op) bool {
	switch op {
	case OpReLU, OpReLU6, OpPReLU, OpChannelMax,
		OpMul, OpAffine, OpMaxPool, OpAvgPool, OpConcat, OpSlice, OpShuffle, OpSoftmax, OpLogSoftmax:
		return true
	}
	return IsUnary(op)
}

// opChunk is the elements of an elementwise job: large enough to pay for
// its goroutine hand-off.
const opChunk = 1 << 14

// elementwise runs fn over [0, size) in chunks on w workers (see workers).
func elementwise(w, size int, fn func(i0, i1 int)) {
	jobs := 1
	if workers(w) > 1 {
		jobs = max(1, min((size+opChunk-1)/opChunk, 4*workers(w)))
	}
	parallel(w, jobs, func(j int) {
		fn(j*size/jobs, (j+1)*size/jobs)
	})
}

// runOp computes the op of st (hasOp) on n samples into out.
func (p *Program) runOp(st *step, vals [][]float32, out []float32, n, w int) {
	nd := st.nd
	g := p.g
	a := vals[nd.In[0]]
	inT, outT := g.Tensors[nd.In[0]], g.Tensors[nd.Out]
	switch nd.Op {
	case OpReLU, OpReLU6:
		act := ActReLU
		if nd.Op == OpReLU6 {
			act = ActReLU6
		}
		elementwise(w, len(out), func(i0, i1 int) {
			copy(out[i0:i1], a[i0:i1])
			activate(out[i0:i1], act)
		})
	case OpSigmoid, OpSiLU:
		f := UnaryFunc(nd)
		elementwise(w, len(out), func(i0, i1 int) {
			p.sigmoids(out[i0:i1], a[i0:i1], nd.Op == OpSiLU, f)
		})
	case OpPReLU:
		c := inT.Shape[0]
		rep := inT.Elems() / c
		parallel(w, n, func(s int) {
			e := inT.Elems()
			perChannel(nd, a[s*e:(s+1)*e], out[s*e:(s+1)*e], c, rep)
		})
	case OpChannelMax:
		parallel(w, n, func(s int) { channelMax(a, out, inT.Shape[0], outT.Elems(), s, s+1) })
	case OpSoftmax, OpLogSoftmax:
		softmax(nd.Op, a[:len(out)], out, outT.Elems())
	case OpMul:
		b := vals[nd.In[1]]
		if bt := g.Tensors[nd.In[1]]; PlaneMul(inT.Shape, bt.Shape) {
			c, hw := inT.Shape[0], bt.Elems()
			elementwise(w, n*c, func(j0, j1 int) { mulPlanes(a, b, out, c, hw, j0, j1) })
			break
		}
		// b's element j applies to rep consecutive elements of a.
		rep := len(a) / len(b)
		elementwise(w, len(b), func(j0, j1 int) {
			mul(a[j0*rep:j1*rep], b[j0:j1], out[j0*rep:j1*rep], 0, rep)
		})
	case OpAffine:
		af := nd.Affine
		hw := inT.Elems() / af.C
		per := max(1, opChunk/hw) // planes a job, about opChunk elements
		parallel(w, (n*af.C+per-1)/per, func(j int) {
			for k := j * per; k < min(n*af.C, (j+1)*per); k++ {
				c := k % af.C
				src, dst := a[k*hw:(k+1)*hw], out[k*hw:(k+1)*hw]
				for i, v := range src {
					dst[i] = float32(v*af.Scale[c]) + af.Shift[c]
				}
				activate(dst, nd.Act)
			}
		})
	case OpMaxPool, OpAvgPool:
		c, ih, iw, oh, ow := inT.Shape[0], inT.Shape[1], inT.Shape[2], outT.Shape[1], outT.Shape[2]
		parallel(w, n*c, func(j int) {
			in, o := a[j*ih*iw:(j+1)*ih*iw], out[j*oh*ow:(j+1)*oh*ow]
			if nd.Op == OpMaxPool {
				MaxPool(&nd.Pool.Window, ih, iw, in, oh, ow, o)
			} else {
				AvgPool(nd.Pool, ih, iw, in, oh, ow, o)
			}
		})
	case OpConcat, OpSlice, OpShuffle:
		m := make(map[int][]float32, len(nd.In))
		for _, t := range nd.In {
			m[t] = vals[t]
		}
		copyChannels(g, nd, m, out, n)
	default: // the other unary ops (hasOp)
		f := UnaryFunc(nd)
		elementwise(w, len(out), func(i0, i1 int) {
			dst := out[i0:i1]
			for i, v := range a[i0:i1] {
				dst[i] = f(v)
			}
		})
	}
}
