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
// overflow bound see the expanded weights the kernel multiplies. A narrow
// layer (lower.NarrowGroups) multiplies the same nonzero pairs, packed by
// lower.PackNarrow (Dense.Narrow).
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
	d.Narrow = lower.NarrowGroups(c.InC, c.OutC, c.Groups)
	return d
}

// groupedDesign is the design a grouped conv's kernel uses on isa, whose
// column blocks have units 16-column units: the avx512 tier keeps the
// 256-bit VNNI design, as a dense layer of fewer than 32 output channels does
// (Dense.tierDesign), for blocks of one unit, and where whole 8-column halves
// of quads are zero (fewer than 16 output channels per group), which it skips
// (SkipZeros) and a zmm accumulator of 16 columns could not: ResNeXt's 8
// channels per group do half the multiply work. Narrow layers (4 channels
// per group) have a ymm kernel only.
func groupedDesign(d *Dense, units int, isa Target) Target {
	if !isa.ZMM {
		return isa
	}
	ymm := Target{runtime.AVX512VNNI, isa.emu}
	if units < 2 || d.Narrow {
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
	px, nc := g.d.InStride, (4*g.nq+31)/32
	u := min(16, pixels)
	for pixels%u != 0 {
		u--
	}
	g.VPXOR(yX, yX, yX)
	or := func(at reg.Register) {
		for i := range u {
			for c := range nc {
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

// narrowOrder is v (per column) in PackNarrow's position order, unit by unit.
func narrowOrder[T any](v []T) []T {
	o := make([]T, len(v))
	for i := range o {
		o[i] = v[i-i%16+lower.NarrowCol(i%16)]
	}
	return o
}

// narrowTranspose is the VPSHUFB control that puts a row's 16 bytes, in
// position order, in column order (in each 128-bit lane).
func narrowTranspose() []uint32 {
	var b [32]byte
	for c := range b {
		b[c] = byte(lower.NarrowCol(c % 16))
	}
	return bytesWords(b[:])
}

// narrowTaps is the reduction of a narrow block (Dense.Narrow, weights as
// lower.PackNarrow packs them: one 64-byte quad per tap and unit, position p
// a column of group p%4). Per tap each row loads its span's 16 bytes (the
// four groups' quads) into both 128-bit lanes, and lane l of either
// accumulator multiplies quad l%4: every product is used, with one load per
// row and tap for two accumulators, as a dense layer's broadcast. The i16
// path widens the 16 bytes to the four quads' words, which meet the four
// positions of a quarter of the quad in each accumulator.
func (g *denseGen) narrowTaps(rows, groups int) {
	ws := []reg.VecPhysical{yW0, yW1}
	for t, off := range g.tapOff {
		at := func(r int) operand.Mem { return mem(rA, off+r*g.rowStride) }
		if g.path == PathI16 {
			for k, w := range ws {
				g.VPMOVSXBW(mem(rWp, 64*t+g.half+16*k), w)
			}
			for r := range rows {
				if g.aWide {
					g.VMOVDQU(at(r), yX)
				} else {
					g.VPMOVZXBW(at(r), yX)
				}
				for k, w := range ws {
					g.VPMADDWD(w, yX, yT)
					g.VPADDD(yT, acc(r, k), acc(r, k))
				}
			}
			continue
		}
		for h := range groups {
			g.VMOVDQU(mem(rWp, 64*t+32*h), ws[h])
		}
		for r := range rows {
			g.VBROADCASTI128(at(r), yX)
			for h := range groups {
				switch {
				case g.path == PathVNNI && g.emulate:
					for _, half := range []operand.Mem{g.evenBytes, g.oddBytes} {
						g.VPAND(half, yX, yT)
						g.VPMADDUBSW(ws[h], yT, yT)
						g.VPMADDWD(g.ones, yT, yT)
						g.VPADDD(yT, acc(r, h), acc(r, h))
					}
				case g.path == PathVNNI:
					g.VPDPBUSD(ws[h], yX, acc(r, h))
				default:
					g.VPMADDUBSW(ws[h], yX, yT)
					g.VPMADDWD(g.ones, yT, yT)
					g.VPADDD(yT, acc(r, h), acc(r, h))
				}
			}
		}
	}
	g.ADDQ(i32(g.kq*64), rWp)
}
