package compiler

import (
	"sync"

	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ir/floatk"
)

// convRun is one quantized conv or linear layer ready to run sample by
// sample. Its int32 accumulators are exact sums of (q - z_x) * w, so any
// order of the terms gives the same ones: a conv whose inputs per output
// are many runs as int16 dot products of each output's receptive field
// (floatk.DotsI16, VPMADDWD on amd64), one with one input channel per
// group (depthwise) adds each tap's row of products in place.
type convRun struct {
	c         *Conv
	src, dst  *Tensor
	w         ir.Window
	ih, iw    int
	oh, ow    int
	icg, ocg  int
	k, k16    int     // inputs per output (icg * taps), and rounded up to 16
	w16       []int16 // the weights, each output channel's k16 (zeros past k)
	depthwise bool
	pointwise bool
	zx        int32
	bufs      sync.Pool // *convBufs: a sample's buffers, reused across samples
}

// convBufs is one running sample's accumulators and receptive fields.
type convBufs struct {
	acc []int32
	col []int16
}

// grow returns (*s)[:n], reallocating *s when it is shorter.
func grow[T any](s *[]T, n int) []T {
	if cap(*s) < n {
		*s = make([]T, n)
	}
	return (*s)[:n]
}

func newConvRun(c *Conv, src, dst *Tensor) *convRun {
	r := &convRun{c: c, src: src, dst: dst, w: c.Window(), ih: 1, iw: 1, oh: 1, ow: 1, zx: src.Zero}
	r.bufs.New = func() any { return new(convBufs) }
	if len(src.Shape) == 3 {
		r.ih, r.iw = src.Shape[1], src.Shape[2]
	}
	if len(dst.Shape) == 3 {
		r.oh, r.ow = dst.Shape[1], dst.Shape[2]
	}
	r.icg, r.ocg = c.InC/c.Groups, c.OutC/c.Groups
	taps := r.w.Taps()
	r.k = r.icg * taps
	r.depthwise = r.icg == 1 && taps > 1
	r.pointwise = taps == 1 && r.w.SH == 1 && r.w.SW == 1 && r.w.PadT == 0 && r.w.PadL == 0 && r.w.PadB == 0 && r.w.PadR == 0 && c.Groups == 1
	if r.depthwise {
		return r
	}
	r.k16 = (r.k + 15) &^ 15
	r.w16 = make([]int16, c.OutC*r.k16)
	for oc := range c.OutC {
		for i, v := range c.Weight[oc*r.k : (oc+1)*r.k] {
			r.w16[oc*r.k16+i] = int16(v)
		}
	}
	return r
}

// run computes one sample x into y, or, when sums is not nil, adds each
// output channel's accumulators into sums instead (bias correction's pass
// before its hook changes the biases the output then takes).
func (r *convRun) run(x []uint8, y []uint8, sums []int64) {
	hw := r.oh * r.ow
	b := r.bufs.Get().(*convBufs)
	defer r.bufs.Put(b)
	acc := grow(&b.acc, hw)
	emit := func(oc int) {
		if sums != nil {
			for _, a := range acc {
				sums[oc] += int64(a)
			}
			return
		}
		c := r.c
		floatk.Best.Requantize(acc, c.M[oc], c.B[oc], r.dst.Zero, c.Lo, c.Hi, y[oc*hw:(oc+1)*hw])
	}
	if r.depthwise {
		for oc := range r.c.OutC {
			r.depthwiseChannel(x[(oc/r.ocg)*r.ih*r.iw:], oc, acc)
			emit(oc)
		}
		return
	}
	col := grow(&b.col, hw*r.k16)
	for g := range r.c.Groups {
		if r.pointwise {
			r.transpose(x, col)
		} else {
			r.im2col(x, g, col)
		}
		for oc := g * r.ocg; oc < (g+1)*r.ocg; oc++ {
			floatk.Best.DotsI16(r.k16, r.w16[oc*r.k16:(oc+1)*r.k16], col, r.k16, acc)
			emit(oc)
		}
	}
}

// transpose sets col[p*k16+ic] = x[ic*hw+p] - z_x: each position's channels
// together (a 1x1 conv's receptive field). The k16-InC slots after each
// position's channels are never written: zero from the buffer's making.
func (r *convRun) transpose(x []uint8, col []int16) {
	hw := r.ih * r.iw
	for ic := range r.c.InC {
		for p, q := range x[ic*hw : (ic+1)*hw] {
			col[p*r.k16+ic] = int16(int32(q) - r.zx)
		}
	}
}

// im2col sets col[p*k16 + ic*taps + ky*KW + kx] to input channel g*icg+ic
// at tap (ky, kx) of output position p, minus z_x (0 in the padding, whose
// bytes hold z_x, and past k): row by row of the input, each tap's valid
// columns at once.
func (r *convRun) im2col(x []uint8, g int, col []int16) {
	w := &r.w
	taps := w.Taps()
	clear(col)
	for oy := range r.oh {
		for ic := range r.icg {
			plane := x[(g*r.icg+ic)*r.ih*r.iw : (g*r.icg+ic+1)*r.ih*r.iw]
			for ky := range w.KH {
				iy := oy*w.SH - w.PadT + ky*w.DH
				if iy < 0 || iy >= r.ih {
					continue
				}
				row := plane[iy*r.iw : (iy+1)*r.iw]
				for kx := range w.KW {
					ox0, ox1, off := r.columns(kx)
					if ox0 >= ox1 {
						continue
					}
					t := ic*taps + ky*w.KW + kx
					d := (oy*r.ow+ox0)*r.k16 + t
					scatterRow(col[d:d+(ox1-ox0-1)*r.k16+1], r.k16, row[ox0*w.SW+off:], w.SW, r.zx)
				}
			}
		}
	}
}

// columns is the output columns [ox0, ox1) whose input column ox*SW + off
// lies in [0, iw) at tap column kx, and off.
func (r *convRun) columns(kx int) (ox0, ox1, off int) {
	w := &r.w
	off = kx*w.DW - w.PadL
	if off > r.iw-1 {
		return 0, 0, off
	}
	return max(0, (-off+w.SW-1)/w.SW), min(r.ow, (r.iw-1-off)/w.SW+1), off
}

// scatterRow sets dst[i*ds] = x[i*xs] - z for the len(dst)/ds+1 values.
// Out of line, as addRow.
//
//go:noinline
func scatterRow(dst []int16, ds int, x []uint8, xs int, z int32) {
	for i, j := 0, 0; i < len(dst); i, j = i+ds, j+xs {
		dst[i] = int16(int32(x[j]) - z)
	}
}

// depthwiseChannel sets acc to output channel oc's accumulators from its
// one input plane: tap by tap, each output row adds the tap's products
// over the columns whose input lies inside the plane.
func (r *convRun) depthwiseChannel(plane []uint8, oc int, acc []int32) {
	clear(acc)
	w := &r.w
	wk := r.c.Weight[oc*r.k : (oc+1)*r.k]
	for ky := range w.KH {
		for kx := range w.KW {
			wv := int32(wk[ky*w.KW+kx])
			if wv == 0 {
				continue
			}
			ox0, ox1, off := r.columns(kx)
			if ox0 >= ox1 {
				continue
			}
			zx, sw, n := r.zx, w.SW, ox1-ox0
			for oy := range r.oh {
				iy := oy*w.SH - w.PadT + ky*w.DH
				if iy < 0 || iy >= r.ih {
					continue
				}
				ix := iy*r.iw + ox0*sw + off
				floatk.Best.AddRow(acc[oy*r.ow+ox0:oy*r.ow+ox1], plane[ix:ix+(n-1)*sw+1], sw, wv, wv*zx)
			}
		}
	}
}
