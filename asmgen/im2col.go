package asmgen

import (
	"fmt"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/lower"
)

// A Dense layer with Im2col (lower.Im2colConv: at most 4 input channels, a
// stem) reads the usual padded input (4 bytes a pixel) but gathers each
// strip's patches into the scratch first: per output pixel and kernel row,
// KW pixels of 16-byte chunks, each compacted by one VPSHUFB to its 4*Cin
// channel bytes, so that the patch is K = KH*KW*Cin dense bytes (widened to
// uint16 on the i16 path), and then runs the pointwise GEMM over it
// (kloopFlat, weights by lower.PackIm2col). Stores run in increasing
// address order and each writes up to a chunk's bytes past its segment: the
// next segment or pixel overwrites them, and what is left (the quad padding
// after K, the scratch tail) meets zero weights.

// gemmK is the reduction length of an Im2col layer's GEMM.
func (d *Dense) gemmK() int { return d.Cin * d.taps() }

// gemmWeights is the weights as the kernel's GEMM reduces them: OutC rows of
// cin inputs over taps (the patch order for an Im2col layer, one tap).
func (d *Dense) gemmWeights() (w []int8, cin, taps int) {
	if d.Im2col {
		return lower.Im2colWeights(d.Weight, d.Cin, d.Cout, d.taps()), d.gemmK(), 1
	}
	return d.Weight, d.Cin, d.taps()
}

// im2colStride is the bytes of a pixel's patch: K padded to whole quads
// (uint8), or its uint16 widening, ChanStride(K) words.
func (d *Dense) im2colStride(wide bool) int {
	kp := 4 * lower.Quads(d.gemmK())
	if wide {
		return 2 * ChanStride(kp)
	}
	return kp
}

// im2colScratch is the scratch an Im2col layer needs: a strip's patches
// and the last store's overrun, then the widened weights of the pair design.
func (d *Dense) im2colScratch() int { return d.pairWeightsOff() + d.Cols()*lower.Quads(d.gemmK())*128 }

// pairWeightsOff is where the widened weights start in the scratch.
func (d *Dense) pairWeightsOff() int { return DenseMR*d.im2colStride(true) + 64 }

// pairDesign says that the layer's i16 rows run the pair design: an Im2col
// layer on the ymm tiers' PathMixed (avx2).
func (g *denseGen) pairDesign() bool { return g.d.Im2col && g.mode == PathMixed && !g.units }

// widenWeights writes every unit's packed quads (16 columns x 4 bytes) as
// two pairs of int16 words in the column order of the u8 path's
// accumulators: pair 2q holds (w[c][4q], w[c][4q+1]) for c = 0..15, pair
// 2q+1 the other two; 32 bytes per 8 columns, 64 per pair of a unit, as a
// quad of the u8 path. Once per call: a few thousand instructions against
// a call's rows of multiply-adds.
func (g *denseGen) widenWeights() {
	d := g.d
	g.Load(g.Param("t"), rA)
	g.ADDQ(i32(d.pairWeightsOff()), rA)
	g.MOVQ(rW, rK)
	a, b, lo, hi := reg.Y0, reg.Y1, reg.Y2, reg.Y3
	g.MOVQ(i32(d.Cols()*g.kq), rG)
	lp := g.label("widen")
	g.Label(lp)
	for h := range 2 {
		g.VPMOVSXBW(mem(rK, 32*h), a)    // columns 8h..8h+3: their 4 words each
		g.VPMOVSXBW(mem(rK, 32*h+16), b) // columns 8h+4..8h+7
		// Dwords (k01, k23) per column; even dwords of a and b, then odd ones,
		// in columns 0 1 4 5 | 2 3 6 7, sorted by VPERMQ.
		g.VSHUFPS(operand.U8(0x88), b, a, lo)
		g.VSHUFPS(operand.U8(0xDD), b, a, hi)
		g.VPERMQ(operand.U8(0xD8), lo, lo)
		g.VPERMQ(operand.U8(0xD8), hi, hi)
		g.VMOVDQU(lo, mem(rA, 32*h))
		g.VMOVDQU(hi, mem(rA, 64+32*h))
	}
	g.ADDQ(i32(64), rK)
	g.ADDQ(i32(128), rA)
	g.DECQ(rG)
	g.JNZ(operand.LabelRef(lp))
}

func (d *Dense) checkIm2col() error {
	w := d.geom()
	if !d.Im2col {
		return nil
	}
	if d.Pointwise() || d.Cin > 4 || d.InStride != 4 || w.DW != 1 {
		return fmt.Errorf("asmgen: im2col dense %d channels, in stride %d, %s", d.Cin, d.InStride, d.geomText())
	}
	return nil
}

// compactCtrl is the VPSHUFB control taking the Cin channel bytes of four
// 4-byte pixels to the front (zeros after).
func compactCtrl(cin int) []uint32 {
	var b [16]byte
	for i := range b {
		b[i] = 0x80
	}
	for p := range 4 {
		for c := range cin {
			b[p*cin+c] = byte(4*p + c)
		}
	}
	return bytesWords(b[:])
}

// im2colStrip gathers the patches of the strip of rows pixels at rStrip into
// the scratch and runs the column units over them into rT.
func (g *denseGen) im2colStrip(rows int) {
	d, w := g.d, g.d.geom()
	wide := g.path == PathI16
	stride := d.im2colStride(wide)
	esz := 1
	if wide {
		esz = 2
	}
	seg := d.Cin * w.KW // bytes of one kernel row's taps
	offs := d.tapOffsets()
	scratch := func() { g.Load(g.Param("t"), rA) }
	scratch()
	x := yX.AsX()
	chunks := (w.KW + 3) / 4
	// Two chunks a ymm where a row has them (7x7 stems): one load and one
	// VPSHUFB of both lanes, the control held in yT, then the lanes'
	// stores. The gather was ~16% of a 7x7 stem's time on Zen 5.
	pairs := !wide && d.Cin < 4 && chunks >= 2 // compact2 is set
	if pairs {
		g.VMOVDQU(g.compact2, yT)
	}
	for r := range rows {
		for ky := range w.KH {
			for ch := 0; ch < chunks; ch++ {
				src := mem(rStrip, r*d.pixBytes()+offs[ky*w.KW]+16*ch)
				dst := mem(rA, r*stride+esz*(ky*seg+4*d.Cin*ch))
				if pairs && ch+1 < chunks {
					g.VMOVDQU(src, yX)
					g.VPSHUFB(yT, yX, yX)
					g.VMOVDQU(x, dst)
					g.VEXTRACTI128(operand.U8(1), yX, dst.Offset(4*d.Cin))
					ch++
					continue
				}
				switch {
				case d.Cin == 4 && wide:
					g.VPMOVZXBW(src, yX)
				case d.Cin == 4:
					g.VMOVDQU(src, x)
				default:
					g.VMOVDQU(src, x)
					g.VPSHUFB(g.compact, x, x)
					if wide {
						g.VPMOVZXBW(x, yX)
					}
				}
				if wide {
					g.VMOVDQU(yX, dst)
				} else {
					g.VMOVDQU(x, dst)
				}
			}
		}
	}
	g.rowStride, g.aWide = stride, wide
	g.quadStep = 4 * esz
	if !wide || !g.pairDesign() {
		g.columns(rows, scratch, rT, g.kloopFlat)
		return
	}
	// The pair design: the u8 path's tables, blocks and epilogue; its
	// reduction steps are pairs of words against the widened weights.
	kq := g.kq
	g.pairs, g.kq, g.quadStep = true, 2*kq, 4
	g.setPath(PathU8)
	g.columns(rows, scratch, rT, g.kloopFlat)
	g.setPath(PathI16)
	g.pairs, g.kq = false, kq
}
