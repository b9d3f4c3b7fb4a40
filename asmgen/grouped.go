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
// largest input code.
func GroupedDense(c *compiler.Conv, h, w, oh, ow, in int, zIn, xmax int32, rq Requant) *Dense {
	gc := lower.GroupColsOf(c.InC, c.OutC, c.Groups)
	d := &Dense{Cin: gc.Span, Cout: c.OutC, K: c.Kernel, Stride: c.Stride, Pad: c.Pad,
		H: h, W: w, OH: oh, OW: ow, InStride: in, OutStride: c.OutC, ZIn: zIn, XMax: xmax,
		Weight: lower.ExpandGrouped(c.Weight, c.InC, c.OutC, c.Groups, c.Kernel), Requant: rq, SkipZeros: true}
	if lower.NarrowGroups(c.InC, c.OutC, c.Groups) {
		d.Narrow = c.InC / c.Groups / 4
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
	if units < 2 || d.Narrow > 0 {
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

// narrowBase is, for step j (a quad of each group) of half h of a narrow
// unit (Dense.Narrow: m quads per group and tap), the span dword the half's
// 16-byte load starts at and the dwords in it of its two groups' quads.
// The load ends within the span (4m dwords), which it fits for m <= 3.
func narrowBase(m, h, j int) (base, lo, hi int) {
	base = min(2*h*m+j, 4*m-4)
	return base, 2*h*m + j - base, (2*h+1)*m + j - base
}

// narrowCtrls makes the VPSHUFB controls of a narrow layer: from a 16-byte
// load broadcast to both lanes, dword lo to the four low lanes (the first
// group's columns) and dword hi to the four high ones.
func (g *denseGen) narrowCtrls(k *consts) {
	m := g.d.Narrow
	g.narrowCtrl = map[[2]int]operand.Mem{}
	for h := range 2 {
		for j := range m {
			_, lo, hi := narrowBase(m, h, j)
			if _, ok := g.narrowCtrl[[2]int{lo, hi}]; ok {
				continue
			}
			var w []uint32
			for _, d := range []int{lo, lo, lo, lo, hi, hi, hi, hi} {
				b := uint32(4 * d)
				w = append(w, b|(b+1)<<8|(b+2)<<16|(b+3)<<24)
			}
			g.narrowCtrl[[2]int{lo, hi}] = k.vec(w...)
		}
	}
}

// narrowTaps is the reduction of a narrow block of groups halves: per tap,
// Narrow steps each taking one quad of every group. rWp ends kq quads on,
// as after quads.
func (g *denseGen) narrowTaps(rows, groups int) {
	for t, off := range g.tapOff {
		for j := range g.d.Narrow {
			g.narrowStep(rows, groups, off, t*g.nq*64, j)
		}
	}
	g.ADDQ(i32(g.kq*64), rWp)
}

// narrowStep emits step j of a narrow block: half h's columns are groups
// 2h and 2h+1 of the unit, 4 columns each, whose quads j are span quads
// (2h)m+j and (2h+1)m+j. A half's weights are the 16 bytes of its columns in
// each of those two packed quads (ExpandGrouped's zeros elsewhere), its
// input the two quads, each repeated over its group's four lanes: one
// 16-byte load per row shared by the halves where it can, one VPSHUFB per
// half. The i16 path (8 columns, g.half) widens the two quads on their own.
func (g *denseGen) narrowStep(rows, groups, aDisp, wDisp, j int) {
	m := g.d.Narrow
	quad := func(h, k int) int { return (2*h+k)*m + j }
	ws := []reg.VecPhysical{yW0, yW1}
	if g.path == PathI16 {
		h := g.half / 32
		for k, w := range ws {
			g.VPMOVSXBW(mem(rWp, wDisp+quad(h, k)*64+g.half+16*k), w)
		}
		for r := range rows {
			for k, w := range ws {
				at := mem(rA, aDisp+r*g.rowStride+quad(h, k)*g.quadStep)
				if g.aWide {
					g.VPBROADCASTQ(at, yX)
				} else {
					g.VPBROADCASTD(at, yX.AsX())
					g.VPMOVZXBW(yX.AsX(), yX)
				}
				g.VPMADDWD(w, yX, yT)
				g.VPADDD(yT, acc(r, k), acc(r, k))
			}
		}
		return
	}
	for h := range groups {
		g.VMOVDQU(mem(rWp, wDisp+quad(h, 0)*64+32*h), ws[h].AsX())
		g.VINSERTI128(operand.U8(1), mem(rWp, wDisp+quad(h, 1)*64+32*h+16), ws[h], ws[h])
	}
	for r := range rows {
		loaded := -1
		for h := range groups {
			base, lo, hi := narrowBase(m, h, j)
			if base != loaded {
				g.VBROADCASTI128(mem(rA, aDisp+r*g.rowStride+4*base), yX)
				loaded = base
			}
			ctrl := g.narrowCtrl[[2]int{lo, hi}]
			if g.path == PathVNNI && g.emulate {
				for _, half := range []operand.Mem{g.evenBytes, g.oddBytes} {
					g.VPSHUFB(ctrl, yX, yT)
					g.VPAND(half, yT, yT)
					g.VPMADDUBSW(ws[h], yT, yT)
					g.VPMADDWD(g.ones, yT, yT)
					g.VPADDD(yT, acc(r, h), acc(r, h))
				}
				continue
			}
			g.VPSHUFB(ctrl, yX, yT)
			if g.path == PathVNNI {
				g.VPDPBUSD(ws[h], yT, acc(r, h))
				continue
			}
			g.VPMADDUBSW(ws[h], yT, yT)
			g.VPMADDWD(g.ones, yT, yT)
			g.VPADDD(yT, acc(r, h), acc(r, h))
		}
	}
}
