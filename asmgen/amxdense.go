package asmgen

import (
	"fmt"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// An amx target runs the tile programs of the GEMM layers on the tile unit
// and its base's kernels (avx512) for every other layer. Emulated (emulAVX2),
// every tile instruction is replaced by a scalar sequence that does what the
// instruction does on a tile file kept in the scratch (reading the shapes
// from the configuration it was given, as the CPU does), and the other
// layers run the avx512 design's AVX2 emulation, so that the tier's loops,
// addressing, configuration patching and requantization run (as the avx2
// tier) on CPUs without AMX. Only the tile instructions' bytes then differ,
// and those are checked against GNU as. With emulTiles only the tile
// instructions are emulated: it runs as the avx512 tier, so that CPUs with
// AVX-512 but no AMX check the real tier's zmm epilogue too.

// Scratch layout of an amx kernel call: the tile configuration, a block's
// int32 results (16 rows of 16 columns), spilled values (quadwords from
// amxSpill: the call's end, a k x k conv's row, its input and output bases;
// with units outermost the call's first input, output and pixel); the emulated tier
// adds the emulator's saved registers, configuration in force and tile file.
const (
	amxSpill     = tileOutOff + tileRows*tileOutRow // p1, the end of the call's pixels
	emuSave      = AMXScratch                       // 6 saved registers
	emuState     = emuSave + 64                     // rows[8], colsb[8] as quadwords
	emuTiles     = emuState + 128                   // 8 tiles of 16 rows x 64 bytes
	emuTileBytes = tileRows * 64
	amxEmuBytes  = emuTiles + 8*emuTileBytes
)

func amxScratch(isa Target) int {
	if isa.emu != native {
		return amxEmuBytes
	}
	return AMXScratch
}

// amxScratchBytes is the scratch a call of d's amx kernel needs: the
// tier's, then an Im2col layer's tile of patches (at amxPatchOff).
func (d *Dense) amxScratchBytes(isa Target) int { return amxScratch(isa) + d.patchBytes() }

// amxPatchOff is where an amx kernel of the tier gathers a tile's patches.
func amxPatchOff(isa Target) int { return amxScratch(isa) }

// Registers of an amx kernel.
var (
	aX, aW, aY, aT   = reg.RAX, reg.RBX, reg.RCX, reg.RDX // x, w (setup only), y row base, scratch
	aP               = reg.RSI                            // first pixel of the tile
	aXP, aWP         = reg.R8, reg.R9                     // the pixel tile's input, the unit's weights
	aRows            = reg.R10                            // rows configured (0: none yet)
	aSA, aS64, aS128 = reg.R11, reg.R13, reg.R12          // the tile strides: input pixels, 64 (weights), 128 (results)
	aU               = reg.R14                            // column unit
	aTmp             = reg.R15
	aTmp2            = reg.RDI
)

// AMXDense adds the amx kernel of a GEMM layer (d.tileOK):
// the dense kernels' signature and work units.
func (p *Program) AMXDense(name string, d *Dense, isa Target) error {
	if !isa.AMX {
		return fmt.Errorf("asmgen: AMXDense for tier %s", isa)
	}
	tp, err := newTileProgram(d)
	if err != nil {
		return err
	}
	if err := p.function(name, denseSig, fmt.Sprintf("%s: %d -> %d channels, %s, %d pixels, AMX tiles%s.",
		name, d.Cin, d.Cout, d.geomText(), tp.pixels, map[bool]string{true: " (emulated)"}[isa.emu != native])); err != nil {
		return err
	}
	// The epilogue is the avx512 design's (16 int32 lanes clamped, then
	// VPMOVUSDB), on ymm halves with AVX2 when emulated.
	k := newConsts(p, name, isa.base())
	g := &amxGen{Context: p.ctx, tp: tp, emulate: isa.emu != native, lanes: isa.base().lanes(), pk: newPacker(p, k, &d.Requant),
		patch: amxPatchOff(isa)}
	g.pk.askVBMI(p, name, isa.base())
	if d.Im2col && d.Cin < 4 {
		g.compact = k.vec(compactCtrl(d.Cin)...)
	}
	g.cfg = k.vec(bytesWords(tp.cfg[:])...)
	g.zf = k.vec(convert[uint32](tp.zf)...)
	var mt []float32 // per unit: 16 multipliers, then 16 biases
	for u0 := 0; u0 < len(tp.mul); u0 += ColBlock {
		mt = append(mt, tp.mul[u0:u0+ColBlock]...)
		mt = append(mt, tp.bias[u0:u0+ColBlock]...)
	}
	g.mt = k.floats(mt)
	return g.emit()
}

// bytesWords packs b, 4 bytes to a little-endian word (the form read-only
// data takes).
func bytesWords(b []byte) []uint32 {
	w := make([]uint32, len(b)/4)
	for i := range w {
		w[i] = uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24
	}
	return w
}

// convert is v with each element converted to U (int32 -> uint32 and
// int8 -> byte keep the bits).
func convert[U, T ~int8 | ~uint8 | ~int32 | ~uint32](v []T) []U {
	w := make([]U, len(v))
	for i, x := range v {
		w[i] = U(x)
	}
	return w
}

type amxGen struct {
	*build.Context
	tp          *tileProgram
	emulate     bool
	lanes       int // of the epilogue's vectors
	pk          *packer
	cfg, zf, mt operand.Mem
	compact     operand.Mem // an Im2col layer's VPSHUFB control (Cin < 4)
	patch       int         // where gather puts a tile's patches in the scratch
	labels      int
	err         error
}

func (g *amxGen) label(s string) string {
	g.labels++
	return fmt.Sprintf("%s_amx%d", s, g.labels)
}

func (g *amxGen) emit() error {
	tp, d := g.tp, g.tp.d
	done := g.label("done")
	loadArgs(g.Context, "x y t s0 s1", aX, aY, aT, aP, aTmp)
	if d.Pointwise() {
		// Pixels [s0*MR, min(s1*MR, pixels)).
		g.IMUL3Q(i32(DenseMR), aP, aP)
		g.IMUL3Q(i32(DenseMR), aTmp, aTmp)
		g.MOVQ(i32(tp.pixels), aTmp2)
		g.CMPQ(aTmp, aTmp2)
		g.CMOVQGT(aTmp2, aTmp)
		g.IMUL3Q(i32(d.InStride), aP, aXP)
		g.IMUL3Q(i32(d.OutStride), aP, aTmp2)
	} else {
		// Output rows [s0, s1).
		g.IMUL3Q(i32(tp.rowBytes()), aP, aXP)
		g.IMUL3Q(i32(d.OW*d.OutStride), aP, aTmp2)
		if tp.band > 0 {
			// Virtual pixels [s0*band, (s1-1)*band + OW).
			g.IMUL3Q(i32(tp.band), aP, aP)
			g.IMUL3Q(i32(tp.band), aTmp, aTmp)
			g.SUBQ(i32(tp.band-d.OW), aTmp)
		}
	}
	g.ADDQ(aX, aXP)
	g.ADDQ(aTmp2, aY)
	g.MOVQ(aTmp, mem(aT, amxSpill))
	g.CMPQ(aP, aTmp)
	g.JGE(operand.LabelRef(done))
	// The configuration, whose pixel rows are patched per tile.
	g.VMOVDQU(g.cfg, reg.Y0)
	g.VMOVDQU(g.cfg.Offset(32), reg.Y1)
	g.VMOVDQU(reg.Y0, mem(aT, 0))
	g.VMOVDQU(reg.Y1, mem(aT, 32))
	g.XORQ(aRows, aRows)

	if g.unitsOuter() {
		g.unitsThenPixels(done)
	} else {
		g.pixelLoop(done, func(most int) {
			g.configure(most)
			if d.Im2col {
				g.gather()
			}
			g.allUnits()
			g.advance(most)
		})
	}

	g.Label(done)
	// No tile state outlives the call: Go never preempts assembly
	// asynchronously (runtime.isAsyncSafePoint), so the goroutine cannot
	// switch inside it, and after it the goroutine may move to another thread.
	g.tile(amxOp{Kind: amxTilerelease})
	g.VZEROUPPER()
	g.RET()
	return g.err
}

// unitsOuter says whether the call runs its column units outermost, each
// unit or pair over all the call's pixel tiles: a k x k conv whose weights
// outgrow its input (as colChunk decides for the avx512 kernels) and whose
// row tiles are all of one shape (or band tiles, whose one short tile costs
// two loads of the configuration a unit). Pixel tiles outermost stream all the
// weights once per tile: ResNet-50's layer4 3x3 convs (2.4 MB of weights,
// seven row tiles) read 16.5 MB an image from L3 that way; units outermost
// read each unit's weights from L3 once and from L2 for the other tiles, and
// the input (41 KB there) once per unit. A tile of another shape would
// reload the configuration once per unit instead of once per row
// (LDTILECFG took ~100 ns on Sapphire Rapids: ResNet-50's 7x7 pointwise
// layers, whose last tile is one pixel, ran 5-15% slower units outermost).
func (g *amxGen) unitsOuter() bool {
	d := g.tp.d
	if d.Pointwise() || d.Im2col || g.tp.band == 0 && d.OW%g.tp.rowTile != 0 {
		return false
	}
	in := (d.H + 2*d.border()) * d.padW() * d.InStride
	return d.Cols() > 2 && d.Cols()*g.tp.unitBytes() > in
}

// pixelLoop emits the loop over the call's pixel tiles, from aP (the first
// pixel, or output row of a k x k conv), aXP and aY on, and then jumps to
// exit: tile(most) emits one tile of up to most pixels, aTmp holding the
// pixels left (of the call or the row), and must advance aXP and aY past
// most pixels (advance).
func (g *amxGen) pixelLoop(exit string, tile func(most int)) {
	tp, d := g.tp, g.tp.d
	if d.Pointwise() || tp.band > 0 {
		if tp.band > 0 {
			g.MOVQ(i32(0), mem(aT, amxSpill+8)) // the tile's first virtual column
		}
		pix := g.label("pixels")
		g.Label(pix)
		g.CMPQ(aP, mem(aT, amxSpill))
		g.JGE(operand.LabelRef(exit))
		g.MOVQ(mem(aT, amxSpill), aTmp)
		g.SUBQ(aP, aTmp)
		tile(tileRows)
		g.ADDQ(i32(tileRows), aP)
		g.JMP(operand.LabelRef(pix))
		return
	}
	// The spill holds s1, the row, its input and output bases; aP counts
	// the row's output pixels.
	row, tiles, next := g.label("row"), g.label("row_tiles"), g.label("row_next")
	g.MOVQ(aP, mem(aT, amxSpill+8))
	g.Label(row)
	g.MOVQ(mem(aT, amxSpill+8), aTmp)
	g.CMPQ(aTmp, mem(aT, amxSpill))
	g.JGE(operand.LabelRef(exit))
	g.MOVQ(aXP, mem(aT, amxSpill+16))
	g.MOVQ(aY, mem(aT, amxSpill+24))
	g.XORQ(aP, aP)
	g.Label(tiles)
	g.CMPQ(aP, i32(d.OW))
	g.JGE(operand.LabelRef(next))
	g.MOVQ(i32(d.OW), aTmp)
	g.SUBQ(aP, aTmp)
	tile(tp.rowTile)
	g.ADDQ(i32(tp.rowTile), aP)
	g.JMP(operand.LabelRef(tiles))
	g.Label(next)
	g.MOVQ(mem(aT, amxSpill+16), aXP)
	g.ADDQ(i32(tp.rowBytes()), aXP)
	g.MOVQ(mem(aT, amxSpill+24), aY)
	g.ADDQ(i32(d.OW*d.OutStride), aY)
	g.INCQ(mem(aT, amxSpill+8))
	g.JMP(operand.LabelRef(row))
}

// unitsThenPixels emits the call with the column units [n0, n1) outermost
// (unitsOuter): pairs while two are left, then one, each over every pixel
// tile of the call, whose first aP, aXP and aY the spill keeps.
func (g *amxGen) unitsThenPixels(done string) {
	tp, d := g.tp, g.tp.d
	g.MOVQ(aXP, mem(aT, amxSpill+32))
	g.MOVQ(aY, mem(aT, amxSpill+40))
	g.MOVQ(aP, mem(aT, amxSpill+48))
	g.Load(g.Param("n0"), aU)
	g.Load(g.Param("w"), aW)
	g.IMUL3Q(i32(tp.unitBytes()), aU, aWP)
	g.ADDQ(aW, aWP)
	units, next, one := g.label("units"), g.label("units_next"), g.label("units_one")
	// pair compares aU+1 with n1: less (no JGE) while two units are left.
	pair := func() {
		g.Load(g.Param("n1"), aTmp)
		g.LEAQ(mem(aU, 1), aTmp2)
		g.CMPQ(aTmp2, aTmp)
	}
	g.Label(units)
	g.Load(g.Param("n1"), aTmp)
	g.CMPQ(aU, aTmp)
	g.JGE(operand.LabelRef(done))
	g.MOVQ(mem(aT, amxSpill+32), aXP)
	g.MOVQ(mem(aT, amxSpill+40), aY)
	g.MOVQ(mem(aT, amxSpill+48), aP)
	g.pixelLoop(next, func(most int) {
		g.configure(most)
		single, joined := g.label("tile_single"), g.label("tile_joined")
		pair()
		g.JGE(operand.LabelRef(single))
		g.blockOf(tp.pair, tp.pairLast, d.Cols()-2)
		g.JMP(operand.LabelRef(joined))
		g.Label(single)
		g.blockOf(tp.unit, tp.last, d.Cols()-1)
		g.Label(joined)
		g.advance(most)
	})
	g.Label(next)
	pair()
	g.JGE(operand.LabelRef(one))
	g.ADDQ(i32(2), aU)
	g.ADDQ(i32(2*tp.unitBytes()), aWP)
	g.JMP(operand.LabelRef(units))
	g.Label(one)
	g.INCQ(aU)
	g.ADDQ(i32(tp.unitBytes()), aWP)
	g.JMP(operand.LabelRef(units))
}

// configure sets the tile configuration's pixel rows for a tile of up to
// most pixels, aTmp holding the pixels left (it then holds the tile's), and
// loads it where it changed.
func (g *amxGen) configure(most int) {
	tp := g.tp
	configured := g.label("configured")
	g.MOVQ(i32(most), aTmp2)
	g.CMPQ(aTmp, aTmp2)
	g.CMOVQGT(aTmp2, aTmp) // rows of this tile
	g.CMPQ(aTmp, aRows)
	g.JEQ(operand.LabelRef(configured))
	g.MOVQ(aTmp, aRows)
	for _, t := range tp.rowTiles {
		g.MOVB(aRows.As8(), mem(aT, cfgRowsOff+t))
	}
	g.tile(amxOp{Kind: amxLdtilecfg, Base: aT})
	g.Label(configured)
}

// allUnits emits the configured pixel tile at aXP (input) and aY (output)
// by the column units [n0, n1).
func (g *amxGen) allUnits() {
	tp, d := g.tp, g.tp.d
	g.Load(g.Param("n0"), aU)
	g.Load(g.Param("w"), aW)
	g.IMUL3Q(i32(tp.unitBytes()), aU, aWP)
	g.ADDQ(aW, aWP)
	// Pairs of units while two are left (tileProgram.block), then one.
	units, unitsDone, single := g.label("units"), g.label("units_done"), g.label("unit_single")
	g.Label(units)
	g.Load(g.Param("n1"), aTmp)
	g.CMPQ(aU, aTmp)
	g.JGE(operand.LabelRef(unitsDone))
	g.LEAQ(mem(aU, 1), aTmp2)
	g.CMPQ(aTmp2, aTmp)
	g.JGE(operand.LabelRef(single))
	g.blockOf(tp.pair, tp.pairLast, d.Cols()-2)
	g.ADDQ(i32(2), aU)
	g.ADDQ(i32(2*tp.unitBytes()), aWP)
	g.JMP(operand.LabelRef(units))
	g.Label(single)
	g.blockOf(tp.unit, tp.last, d.Cols()-1)
	g.INCQ(aU)
	g.ADDQ(i32(tp.unitBytes()), aWP)
	g.JMP(operand.LabelRef(units))
	g.Label(unitsDone)
}

// gather writes the patches of the configured tile's aRows pixels from aXP
// into the scratch at g.patch, a row of the patch stride each, as the
// avx512 stems' im2colStrip does: per kernel row, 16-byte chunks of 4
// pixels compacted to their Cin channels, stored in increasing order so
// that each overwrites the last one's overrun.
func (g *amxGen) gather() {
	tp, d, w := g.tp, g.tp.d, g.tp.d.geom()
	seg, offs := d.Cin*w.KW, d.tapOffsets()
	src, dst, n, x := aTmp, aTmp2, aS64, reg.X14 // free between blocks
	loop := g.label("gather")
	g.MOVQ(aXP, src)
	g.LEAQ(mem(aT, g.patch), dst)
	g.MOVQ(aRows, n)
	if d.Cin < 4 {
		g.VMOVDQU(g.compact, reg.X15)
	}
	g.Label(loop)
	for ky := range w.KH {
		for ch := 0; ch < (w.KW+3)/4; ch++ {
			g.VMOVDQU(mem(src, offs[ky*w.KW]+16*ch), x)
			if d.Cin < 4 {
				g.VPSHUFB(reg.X15, x, x)
			}
			g.VMOVDQU(x, mem(dst, ky*seg+4*d.Cin*ch))
		}
	}
	g.ADDQ(i32(tp.xStep), src)
	g.ADDQ(i32(tp.aStride), dst)
	g.DECQ(n)
	g.JNZ(operand.LabelRef(loop))
}

// advance moves aXP and aY past most pixels: for band tiles, aY past the
// tile's outputs (its rows less its padding's) and the spill's virtual
// column on by 16.
func (g *amxGen) advance(most int) {
	tp, d := g.tp, g.tp.d
	g.ADDQ(i32(most*tp.xStep), aXP)
	if tp.band == 0 {
		g.ADDQ(i32(most*d.OutStride), aY)
		return
	}
	col, outs, n := aS64, aSA, aS128 // free between blocks
	loop, pad, wrap := g.label("band_count"), g.label("band_pad"), g.label("band_wrap")
	g.MOVQ(mem(aT, amxSpill+8), col)
	g.XORQ(outs, outs)
	g.MOVQ(aRows, n)
	g.Label(loop)
	g.CMPQ(col, i32(d.OW))
	g.JGE(operand.LabelRef(pad))
	g.INCQ(outs)
	g.Label(pad)
	g.INCQ(col)
	g.CMPQ(col, i32(tp.band))
	g.JNE(operand.LabelRef(wrap))
	g.XORQ(col, col)
	g.Label(wrap)
	g.DECQ(n)
	g.JNZ(operand.LabelRef(loop))
	g.MOVQ(col, mem(aT, amxSpill+8))
	g.IMUL3Q(i32(d.OutStride), outs, outs)
	g.ADDQ(outs, aY)
}

// blockOf emits steps, or last when there is such a block and aU is unit at.
func (g *amxGen) blockOf(steps, last []tileStep, at int) {
	if last == nil {
		g.block(steps)
		return
	}
	other, done := g.label("block_last"), g.label("block_done")
	g.CMPQ(aU, i32(at))
	g.JEQ(operand.LabelRef(other))
	g.block(steps)
	g.JMP(operand.LabelRef(done))
	g.Label(other)
	g.block(last)
	g.Label(done)
}

// block emits the steps of one pixel tile by one or two column units.
func (g *amxGen) block(steps []tileStep) {
	g.MOVQ(i32(g.tp.aStride), aSA)
	g.MOVQ(i32(64), aS64)
	g.MOVQ(i32(tileOutRow), aS128)
	stride := func(v int) reg.GPPhysical {
		switch v {
		case g.tp.aStride:
			return aSA
		case 64:
			return aS64
		case tileOutRow:
			return aS128
		}
		g.fail(fmt.Errorf("asmgen: no register holds stride %d", v))
		return aSA
	}
	base := map[tileBase]reg.GPPhysical{baseX: aXP, baseW: aWP, baseT: aT, baseP: aT}
	for _, s := range steps {
		switch s.kind {
		case stepZero:
			g.tile(amxOp{Kind: amxTilezero, T: s.t})
		case stepLoad:
			disp := s.disp
			if s.base == baseP {
				disp += g.patch
			}
			g.tile(amxOp{Kind: amxTileloadd, T: s.t, Base: base[s.base], Index: stride(s.stride), Disp: int32(disp)})
		case stepDot:
			g.tile(amxOp{Kind: amxTdpbusd, T: s.t, A: s.a, B: s.b})
		case stepStore:
			g.tile(amxOp{Kind: amxTilestored, T: s.t, Base: base[s.base], Index: stride(s.stride), Disp: int32(s.disp)})
		case stepRequant:
			g.requant(s.t, s.cols)
		}
	}
}

func (g *amxGen) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

// requant turns the stored rows (aRows of them) of unit k of the block into
// output bytes: the accumulator starts added, then the avx512 design's
// epilogue (a row of 16 columns is one zmm, or two ymm halves when emulated).
func (g *amxGen) requant(k, cols int) {
	d, pk := g.tp.d, g.pk
	zf, mt, yp, src, end, gp := reg.RBX, reg.RAX, aTmp2, aTmp, aSA, aS128
	g.LEAQ(mem(aU, k), aTmp)
	g.SHLQ(operand.U8(6), aTmp) // 16 int32 starts per unit
	g.LEAQ(g.zf, zf)
	g.ADDQ(aTmp, zf)
	g.LEAQ(g.mt, mt)
	g.SHLQ(operand.U8(1), aTmp) // 128 bytes of multipliers and biases per unit
	g.ADDQ(aTmp, mt)
	g.LEAQ(mem(aU, k), yp)
	g.SHLQ(operand.U8(4), yp) // 16 output channels per unit
	g.ADDQ(aY, yp)
	g.LEAQ(mem(aT, tileOutOff+64*k), src)
	g.MOVQ(aRows, end)
	g.SHLQ(operand.U8(7), end) // tileOutRow bytes per row
	g.ADDQ(src, end)
	pk.setTail(g.lanes, cols, gp)
	var add *addEpi
	if pk.add != nil {
		if g.lanes == 16 {
			add = pk.add.hold(zmm[24:29])
		} else {
			add = pk.add.hold(ymm[8:13])
		}
	}
	row, pad := g.label("requant_row"), ""
	col := aS64 // band tiles: the row's virtual column
	if g.tp.band > 0 {
		pad = g.label("requant_pad")
		g.MOVQ(mem(aT, amxSpill+8), col)
	}
	g.Label(row)
	if g.tp.band > 0 {
		g.CMPQ(col, i32(d.OW))
		g.JGE(operand.LabelRef(pad))
	}
	for h := 0; h*g.lanes < cols; h++ {
		v := reg.Z0
		if g.lanes == 8 {
			v = ymm[h]
		}
		off := 4 * g.lanes * h
		if g.lanes == 16 {
			g.VMOVDQU32(mem(src, 0), v)
		} else {
			g.VMOVDQU(mem(src, off), v)
		}
		g.VPADDD(mem(zf, off), v, v)
		var bias operand.Op
		if d.B != nil {
			bias = mem(mt, 64+off)
		}
		pk.scale(v, mem(mt, off), bias)
		out := pk
		if add != nil {
			// The add epilogue on the lanes (addEpi.inRegs), narrowed as the add's.
			t := ymm[3]
			if g.lanes == 16 {
				t = zmm[3]
			}
			add.inRegs(v, t, mem(yp, g.lanes*h))
			out = add.pk
		}
		out.narrowTail(v, ymm[2], mem(yp, g.lanes*h), min(g.lanes, cols-g.lanes*h), gp)
	}
	if pk.add == nil {
		pk.epiRows(yp, 1, d.OutStride, cols, gp)
	}
	if g.tp.band > 0 {
		// A padding row is skipped: no output, yp stays.
		wrap := g.label("requant_wrap")
		g.ADDQ(i32(d.OutStride), yp)
		g.Label(pad)
		g.INCQ(col)
		g.CMPQ(col, i32(g.tp.band))
		g.JNE(operand.LabelRef(wrap))
		g.XORQ(col, col)
		g.Label(wrap)
		g.ADDQ(i32(tileOutRow), src)
	} else {
		g.ADDQ(i32(tileOutRow), src)
		g.ADDQ(i32(d.OutStride), yp)
	}
	g.CMPQ(src, end)
	g.JL(operand.LabelRef(row))
}

// tile emits a tile instruction, or its emulation.
func (g *amxGen) tile(o amxOp) {
	if !g.emulate {
		if err := emitAMX(g.Context, o); err != nil {
			g.fail(err)
		}
		return
	}
	g.Comment("emulated: " + o.gnu())
	saved := []reg.GPPhysical{reg.RAX, reg.RBX, reg.RCX, reg.RSI, reg.RDI, reg.R15}
	for _, r := range []reg.GPPhysical{o.Base, o.Index} {
		for _, s := range saved {
			if r != nil && r == s {
				g.fail(fmt.Errorf("asmgen: emulated %s: operand register %s is a scratch of the emulation", o.gnu(), r.Asm()))
			}
		}
	}
	for i, r := range saved {
		g.MOVQ(r, mem(aT, emuSave+8*i))
	}
	rows := func(t int) operand.Mem { return mem(aT, emuState+8*t) }
	colsb := func(t int) operand.Mem { return mem(aT, emuState+64+8*t) }
	tileAt := func(t int) int { return emuTiles + t*emuTileBytes }
	zeroTiles := func(t0, n int) {
		g.VPXOR(reg.Y0, reg.Y0, reg.Y0)
		for off := tileAt(t0); off < tileAt(t0+n); off += 32 {
			g.VMOVDQU(reg.Y0, mem(aT, off))
		}
	}
	// rowCopy copies rows(t) rows of colsb(t) bytes (a multiple of 4) between
	// the tile (row stride 64) and memory at RSI (row stride RDI).
	rowCopy := func(t int, toTile bool) {
		g.LEAQ(mem(aT, tileAt(t)), reg.RBX)
		g.MOVQ(rows(t), reg.RCX)
		rl, bl, rd, done := g.label("emu_row"), g.label("emu_dword"), g.label("emu_row_done"), g.label("emu_copy_done")
		g.Label(rl)
		g.TESTQ(reg.RCX, reg.RCX)
		g.JE(operand.LabelRef(done))
		g.XORQ(reg.R15, reg.R15)
		g.Label(bl)
		g.CMPQ(reg.R15, colsb(t))
		g.JGE(operand.LabelRef(rd))
		src, dst := operand.Mem{Base: reg.RSI, Index: reg.R15, Scale: 1}, operand.Mem{Base: reg.RBX, Index: reg.R15, Scale: 1}
		if !toTile {
			src, dst = dst, src
		}
		g.MOVL(src, reg.EAX)
		g.MOVL(reg.EAX, dst)
		g.ADDQ(operand.U8(4), reg.R15)
		g.JMP(operand.LabelRef(bl))
		g.Label(rd)
		g.ADDQ(reg.RDI, reg.RSI)
		g.ADDQ(operand.U8(64), reg.RBX)
		g.DECQ(reg.RCX)
		g.JMP(operand.LabelRef(rl))
		g.Label(done)
	}
	switch o.Kind {
	case amxLdtilecfg:
		// Shapes from the configuration in memory; tiles zeroed, as LDTILECFG does.
		for t := 0; t < 8; t++ {
			g.MOVBQZX(mem(o.Base, int(o.Disp)+cfgRowsOff+t), reg.RAX)
			g.MOVQ(reg.RAX, rows(t))
			g.MOVWQZX(mem(o.Base, int(o.Disp)+cfgColsbOff+2*t), reg.RAX)
			g.MOVQ(reg.RAX, colsb(t))
		}
		zeroTiles(0, 8)
	case amxTilezero:
		zeroTiles(o.T, 1)
	case amxTileloadd, amxTilestored:
		g.LEAQ(mem(o.Base, int(o.Disp)), reg.RSI)
		g.MOVQ(o.Index, reg.RDI)
		if o.Kind == amxTileloadd {
			zeroTiles(o.T, 1) // rows and bytes beyond the shape read as zero
		}
		rowCopy(o.T, o.Kind == amxTileloadd)
	case amxTdpbusd:
		// for m < rows(c), 4n < colsb(c): C[m][4n] += sum over 4k < colsb(a), e < 4 of
		// u8 A[m][4k+e] * s8 B[k][4n+e]. RCX m, RSI 4n, RDI 4k, R15 the sum.
		c, a, b := tileAt(o.T), tileAt(o.A), tileAt(o.B)
		ml, nl, kl, nd, md, done := g.label("emu_m"), g.label("emu_n"), g.label("emu_k"), g.label("emu_n_done"), g.label("emu_m_done"), g.label("emu_dot_done")
		g.XORQ(reg.RCX, reg.RCX)
		g.Label(ml)
		g.CMPQ(reg.RCX, rows(o.T))
		g.JGE(operand.LabelRef(done))
		g.XORQ(reg.RSI, reg.RSI)
		g.Label(nl)
		g.CMPQ(reg.RSI, colsb(o.T))
		g.JGE(operand.LabelRef(md))
		g.MOVQ(reg.RCX, reg.RBX)
		g.SHLQ(operand.U8(6), reg.RBX)
		g.ADDQ(reg.RSI, reg.RBX)
		g.MOVL(operand.Mem{Base: aT, Disp: c, Index: reg.RBX, Scale: 1}, reg.R15L)
		g.XORQ(reg.RDI, reg.RDI)
		g.Label(kl)
		g.CMPQ(reg.RDI, colsb(o.A))
		g.JGE(operand.LabelRef(nd))
		for e := 0; e < 4; e++ {
			g.MOVQ(reg.RCX, reg.RBX)
			g.SHLQ(operand.U8(6), reg.RBX)
			g.ADDQ(reg.RDI, reg.RBX)
			g.MOVBLZX(operand.Mem{Base: aT, Disp: a + e, Index: reg.RBX, Scale: 1}, reg.EAX)
			g.MOVQ(reg.RDI, reg.RBX)
			g.SHLQ(operand.U8(4), reg.RBX) // row k = 4k/4, 64 bytes a row
			g.ADDQ(reg.RSI, reg.RBX)
			g.MOVBLSX(operand.Mem{Base: aT, Disp: b + e, Index: reg.RBX, Scale: 1}, reg.EBX)
			g.IMULL(reg.EBX, reg.EAX)
			g.ADDL(reg.EAX, reg.R15L)
		}
		g.ADDQ(operand.U8(4), reg.RDI)
		g.JMP(operand.LabelRef(kl))
		g.Label(nd)
		g.MOVQ(reg.RCX, reg.RBX)
		g.SHLQ(operand.U8(6), reg.RBX)
		g.ADDQ(reg.RSI, reg.RBX)
		g.MOVL(reg.R15L, operand.Mem{Base: aT, Disp: c, Index: reg.RBX, Scale: 1})
		g.ADDQ(operand.U8(4), reg.RSI)
		g.JMP(operand.LabelRef(nl))
		g.Label(md)
		g.INCQ(reg.RCX)
		g.JMP(operand.LabelRef(ml))
		g.Label(done)
	case amxTilerelease:
		// Nothing to give back.
	default:
		g.fail(fmt.Errorf("asmgen: emulated AMX instruction kind %d", o.Kind))
	}
	for i, r := range saved {
		g.MOVQ(mem(aT, emuSave+8*i), r)
	}
}
