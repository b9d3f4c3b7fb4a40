package asmgen

import (
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/runtime"
)

// GroupedDense is the dense layer a grouped conv (groups > 1, not depthwise)
// runs as on every tier (lower.GroupCols): Span input channels, all OutC
// output channels, the weights of lower.ExpandGrouped. Its kernel is called
// once per column block b with the input at channel b*Span and the block's
// column units, [b*Units, min((b+1)*Units, Cols())). The zeros between groups
// make it exact with the same paths as any dense layer: Path and the
// overflow bound see the expanded weights the kernel multiplies.
//
// in is the input's pixel stride (the padded stride when the conv has a
// window or stride, the channel count when it reads in place); xmax the
// largest input code. A conv of any other window (c.Geom) is the dense
// layer of that window (Dense.Win).
func GroupedDense(c *compiler.Conv, h, w, oh, ow, in int, zIn, xmax int32, rq Requant) *Dense {
	gc, win := lower.GroupColsOf(c.InC, c.OutC, c.Groups), c.Window()
	d := &Dense{Cin: gc.Span, Cout: c.OutC, K: c.Kernel, Stride: c.Stride, Pad: c.Pad,
		H: h, W: w, OH: oh, OW: ow, InStride: in, OutStride: c.OutC, ZIn: zIn, XMax: xmax,
		Weight: lower.ExpandGrouped(c.Weight, c.InC, c.OutC, c.Groups, win.Taps()), Requant: rq, SkipZeros: true}
	if c.Geom != nil {
		d.Win = &win
	}
	return d
}

// groupedDesign is the design a grouped conv's kernel uses on isa, whose
// column blocks have units 16-column units: the avx512 tier keeps the
// 256-bit VNNI design, as a dense layer of fewer than 32 output channels does
// (Dense.tierDesign), for blocks of one unit, and where whole 8-column halves
// of quads are zero (fewer than 16 output channels per group), which it skips
// (SkipZeros) and a zmm accumulator of 16 columns could not: ResNeXt's 8
// channels per group do half the multiply work, 4 the same in half the
// instructions on Zen 4, which splits zmm in two 256-bit halves.
func groupedDesign(d *Dense, units int, isa Target) Target {
	if !isa.ZMM {
		return isa
	}
	ymm := Target{runtime.AVX512VNNI, isa.emu}
	if units < 2 {
		return ymm
	}
	if lower.Quads(d.Cin) > maxUnroll {
		// Quads run in a loop: no half is skipped (isZero), so the zmm
		// design loses nothing.
		return isa
	}
	g := &denseGen{d: d, kq: lower.Quads(d.Cin) * d.taps()}
	g.zeroHalves()
	for _, z := range g.zero {
		if z[0] || z[1] {
			return ymm
		}
	}
	return isa
}

// zeroHalves finds the 8-column halves of the reduction quads whose weights
// are zero in every column unit (Dense.SkipZeros).
func (g *denseGen) zeroHalves() {
	d := g.d
	w := lower.PackDenseTaps(d.Weight, d.Cin, d.Cout, d.taps())
	g.zero = make([][2]bool, g.kq)
	for i := range g.zero {
		for h := range 2 {
			g.zero[i][h] = true
			for u := 0; u < d.Cols() && g.zero[i][h]; u++ {
				for _, v := range w[(u*g.kq+i)*64+32*h:][:32] {
					if v != 0 {
						g.zero[i][h] = false
						break
					}
				}
			}
		}
	}
}

// isZero says whether half h of the quad being emitted has zero weights in
// every unit; never inside a run-time loop, whose quads vary.
func (g *denseGen) isZero(h int) bool {
	return g.zero != nil && g.kqi >= 0 && g.zero[g.kqi][h]
}

// spansOnly says whether anyHigh of n bytes (whole pixels) reads less by
// checking only the span each pixel's quads come from, as a grouped layer's
// block reads a fraction of each pixel.
func (g *denseGen) spansOnly(n int) bool {
	px := g.d.InStride
	return n%px == 0 && (4*g.nq+31)/32*32 < px
}

// anyHighSpans is anyHigh over the first 4*nq bytes (in 32-byte steps) of
// each of the pixels from base on: the bytes the block's quads read.
func (g *denseGen) anyHighSpans(base reg.Register, pixels int) {
	px, chunks := g.d.InStride, (4*g.nq+31)/32
	u := min(16, pixels)
	for pixels%u != 0 {
		u--
	}
	g.VPXOR(yX, yX, yX)
	or := func(at reg.Register) {
		for i := range u {
			for c := range chunks {
				g.VPOR(mem(at, i*px+32*c), yX, yX)
			}
		}
	}
	if u == pixels {
		or(base)
	} else {
		lp := g.label("spans")
		g.MOVQ(base, rA)
		g.MOVQ(i32(pixels/u), rK)
		g.Label(lp)
		or(rA)
		g.ADDQ(i32(u*px), rA)
		g.DECQ(rK)
		g.JNZ(operand.LabelRef(lp))
	}
	g.VPMOVMSKB(yX, rK.As32())
	g.TESTL(rK.As32(), rK.As32())
}
