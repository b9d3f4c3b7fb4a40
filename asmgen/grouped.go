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

// GroupedKernel is the Dense and design a grouped conv's kernel uses on isa
// (d from GroupedDense, gc its column blocks). Blocks of one unit run all
// together on a native zmm tier (Dense.BlockSpan: one call takes any range of
// blocks, each unit reading its own span), as a dense layer's units do, where
// no product is of a zero weight: narrow layers (4 channels per group),
// paired ones (8: Dense.Paired) and 16 channels per group. A block alone
// would have one accumulator a row, too few to hide VPDPBUSD's latency. Otherwise the
// avx512 tier keeps the 256-bit VNNI design, as a dense layer of fewer than
// 32 output channels does (Dense.tierDesign), for blocks of one unit, and
// where whole 8-column halves of quads are zero (fewer than 16 output
// channels per group), which it skips (SkipZeros) and a zmm accumulator of
// 16 columns could not: ResNeXt's 8 channels per group do half the multiply
// work.
func GroupedKernel(d *Dense, gc lower.GroupCols, isa Target) (*Dense, Target) {
	if !isa.ZMM {
		return d, isa
	}
	zero := d.zeroHalf()
	if gc.Units == 1 && !isa.emulated() {
		all := *d
		all.BlockSpan = gc.Span
		// 8 in, 8 out a group, in whole units (RegNetY-400MF's 104 channels,
		// 13 groups, end on half a unit: not paired).
		all.Paired = gc.Groups == 2 && gc.Span == 16 && d.Cout%ColBlock == 0
		if all.tierDesign(isa) == isa && (d.Narrow || all.Paired || !zero) { // not a single unit
			return &all, isa
		}
	}
	if gc.Units < 2 || d.Narrow || zero {
		return d, Target{runtime.AVX512VNNI, isa.emu}
	}
	return d, isa
}

// zeroHalf says whether an 8-column half of a reduction quad has zero weights
// in every column unit (what SkipZeros skips), where the quads are unrolled.
func (d *Dense) zeroHalf() bool {
	if lower.Quads(d.Cin) > maxUnroll {
		// Quads run in a loop: no half is skipped (isZero).
		return false
	}
	g := &denseGen{d: d, kq: lower.Quads(d.Cin) * d.taps()}
	g.zeroHalves()
	for _, z := range g.zero {
		if z[0] || z[1] {
			return true
		}
	}
	return false
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
	if g.lanes == 16 {
		g.narrowTapsZmm(rows, groups)
		return
	}
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

// narrowTapsZmm is narrowTaps on zmm for a block of units (Dense.BlockSpan
// apart in the input): per tap and unit one 64-byte quad of weights, and per
// row and unit the unit's 16 bytes in all four 128-bit lanes, so that lane l
// multiplies quad l%4 as on ymm, with half the instructions.
func (g *denseGen) narrowTapsZmm(rows, units int) {
	for t, off := range g.tapOff {
		for j := range units {
			g.VMOVDQU32(mem(rWp, 64*t+j*g.kq*64), zW[j])
		}
		for r := range rows {
			for j := range units {
				g.VBROADCASTI32X4(mem(rA, off+r*g.rowStride+j*g.d.BlockSpan), zX)
				g.VPDPBUSD(zW[j], zX, g.uacc(r, j, 0))
			}
		}
	}
	g.ADDQ(i32(g.kq*64), rWp)
}

// Paired layers (Dense.Paired: 8 input and 8 output channels per group, two
// groups a unit, ResNeXt 32x4d's second stage) on zmm. Each unit has two
// accumulators a row: A for its first group's 8 columns, B for the
// second's, lane 2m+k holding column m's sum over the group's quad k, so
// that a row's quads come as two qword broadcasts (the group's 8 bytes in
// every lane pair) and every product is used. The weights are the dense
// packing's (PackDenseTaps over ExpandGrouped, which the other tiers read):
// quads 0 and 1 hold the first group's columns 0-7, quads 2 and 3 the
// second's 8-15, interleaved per tap by one VPERMT2D each. The finish adds
// each lane pair and puts the 16 columns in order.
var (
	// pairWIdx is the VPERMT2D indices of A's weights (quads 0 and 1, columns
	// 0-7) and B's (quads 2 and 3, columns 8-15): lane 2m+k from quad k's
	// (table k's) column m.
	pairWIdx = [2][16]uint32{}
	// pairSumIdx is the VPERMI2D / VPERMT2D indices gathering the even and
	// the odd lanes of A (columns 0-7) then B (8-15).
	pairSumIdx = [2][16]uint32{}
)

func init() {
	for l := range 16 {
		m, k := uint32(l/2), uint32(l%2)
		pairWIdx[0][l], pairWIdx[1][l] = m+16*k, 8+m+16*k
		c := uint32(l % 8)
		tb := uint32(l / 8 * 16)
		pairSumIdx[0][l], pairSumIdx[1][l] = tb+2*c, tb+2*c+1
	}
}

// pairIdx and pairX are the interleave indices held through the k loop, and the two
// broadcast registers (the weights are zW, A then B per unit).
var pairIdx, pairX = zmm[30:32], zmm[28:30]

// pairedTaps is the reduction of a paired block of units (BlockSpan apart in
// the input), its accumulators zeroed first.
func (g *denseGen) pairedTaps(rows, units int) {
	for r := range rows {
		for j := range 2 * units {
			a := g.uacc(r, j, 0)
			g.VPXORD(a, a, a)
		}
	}
	g.VMOVDQU32(g.pairW[0], pairIdx[0])
	g.VMOVDQU32(g.pairW[1], pairIdx[1])
	for t, off := range g.tapOff {
		for u := range units {
			for h := range 2 {
				q := mem(rWp, (4*t+2*h)*64+u*g.kq*64)
				w := zW[2*u+h]
				g.VMOVDQU32(q, w)
				g.VPERMT2D(mem(rWp, (4*t+2*h+1)*64+u*g.kq*64), pairIdx[h], w)
			}
		}
		for r := range rows {
			for u := range units {
				for h := range 2 {
					x := pairX[h]
					g.VPBROADCASTQ(mem(rA, off+r*g.rowStride+u*g.d.BlockSpan+8*h), x)
					g.VPDPBUSD(zW[2*u+h], x, g.uacc(r, 2*u+h, 0))
				}
			}
		}
	}
	g.ADDQ(i32(g.kq*64), rWp)
}

// pairedSums leaves unit u's 16 column sums, in order and with the
// accumulator starts added, in uacc(r, u): A and B of unit 0 are uacc 0
// and 1, of unit 1 uacc 2 and 3, so unit 1's go where unit 0's B was.
func (g *denseGen) pairedSums(rows, units int) {
	even, odd, t := zW[0], zW[1], zW[2]
	g.VMOVDQU32(g.pairSum[0], even)
	g.VMOVDQU32(g.pairSum[1], odd)
	for r := range rows {
		for u := range units {
			a, b := g.uacc(r, 2*u, 0), g.uacc(r, 2*u+1, 0)
			g.VMOVDQA32(even, t)
			g.VPERMI2D(b, a, t)   // the even lanes: quad 0's sums
			g.VPERMT2D(b, odd, a) // the odd lanes: quad 1's
			g.VPADDD(t, a, a)
			dst := g.uacc(r, u, 0)
			g.VPADDD(mem(rB, 64*u), a, dst)
		}
	}
}
