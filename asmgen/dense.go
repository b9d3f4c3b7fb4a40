package asmgen

import (
	"fmt"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/runtime"
)

// Dense is a conv with groups = 1 (pointwise 1x1 or k x k) or a linear layer,
// computed as a u8 x s8 GEMM: output pixels x (taps * input channels) times
// (taps * input channels) x output channels.
//
// A pointwise stride-1 layer reads its NHWC input as is. Any other (k x k,
// stride, padding) reads an input buffer with Pad border pixels on every side
// holding the zero point and InStride = 4*lower.Quads(Cin) bytes per pixel, so the
// kernel needs no bounds logic.
type Dense struct {
	Cin, Cout      int
	K, Stride, Pad int
	H, W, OH, OW   int
	InStride       int   // channel stride of the input buffer, >= 4*lower.Quads(Cin)
	OutStride      int   // channel stride of the output, >= Cout
	ZIn, XMax      int32 // input zero point and largest input code
	Weight         []int8
	Requant
	// SkipZeros drops the multiply-adds of a quad's 8-column half whose
	// weights are zero in every column unit (the zeros between the groups of
	// a grouped conv: GroupedDense).
	SkipZeros bool
	// Narrow (grouped layers of lower.NarrowGroups) reads the weights of
	// lower.PackNarrow and multiplies no zeros (grouped.go, narrowTaps).
	Narrow bool
	// Paired (8 input and 8 output channels per group, with BlockSpan on
	// zmm) multiplies no zeros of the dense packing (grouped.go, pairedTaps).
	Paired bool
	// BlockSpan, when not 0, makes one call run a grouped layer's column
	// blocks of one unit each: unit n reads its input n*BlockSpan bytes
	// from x (GroupedKernel).
	BlockSpan int

	// Win is any other window (rectangular, per-axis strides, per-side pads,
	// dilation); nil for the square one of K, Stride and Pad (window.go).
	Win *ir.Window
	// Im2col runs the layer as a GEMM over gathered patches (im2col.go,
	// lower.Im2colConv), its weights packed by lower.PackIm2col.
	Im2col bool
	// Wide runs a layer of 9 to 31 output channels on the zmm design, which
	// tierDesign gives only layers of 32 or more: the kernel the generated
	// package calls instead where runtime.WideZMM (HasWide).
	Wide bool
}

// DenseMR is the number of output pixels a dense micro-kernel computes at once.
const DenseMR = 6

// Path is the arithmetic a kernel uses for its multiply-adds.
type Path int

// The exact paths (see ARCHITECTURE.md, "The x86 int8 trap").
const (
	PathU8   Path = iota + 1 // VPMADDUBSW + VPMADDWD: pairs cannot saturate for this layer
	PathI16                  // zero-extended activations, sign-extended weights, VPMADDWD
	PathVNNI                 // VPDPBUSD
	// PathMixed decides per strip of pixels at run time: PathU8 when every
	// input code of the strip is below 128 (then no pair can saturate),
	// PathI16 otherwise. Both are exact, so the choice never shows in the output.
	PathMixed
)

func (p Path) String() string {
	return map[Path]string{PathU8: "u8s8", PathI16: "i16", PathVNNI: "vnni", PathMixed: "u8s8|i16"}[p]
}

// Pointwise says whether the layer reads its input rows directly (1x1, stride 1, no padding).
func (d *Dense) Pointwise() bool { return d.kind() == lower.Pointwise }

// kind is the layer's kind: lower.Pointwise or lower.Dense.
func (d *Dense) kind() lower.Kind {
	if d.Win != nil {
		return lower.Dense
	}
	return lower.ConvKind(ir.ClassifyConv(d.Cin, d.Cout, d.K, d.Stride, d.Pad, 1))
}

// Path is the arithmetic the tier uses for this layer. VPMADDUBSW adds two
// u8 x s8 products into a saturating int16; it is chosen only when no pair of
// weights can saturate with inputs up to XMax (checked on the actual weights).
func (d *Dense) Path(isa Target) Path {
	if isa.VNNI {
		return PathVNNI
	}
	w, cin, taps := d.gemmWeights()
	if pairsSafe(w, d.Cout, cin, taps, max(d.XMax, d.ZIn)) {
		return PathU8
	}
	return PathMixed
}

// pairsSafe checks every pair VPMADDUBSW forms (input channels 4q+{0,1} and
// 4q+{2,3} of one tap and output channel).
func pairsSafe(w []int8, cout, cin, taps int, xmax int32) bool {
	for o := 0; o < cout; o++ {
		for t := 0; t < taps; t++ {
			for ci := 0; ci < cin; ci += 2 {
				a := int32(w[(o*cin+ci)*taps+t])
				b := int32(0)
				if ci+1 < cin {
					b = int32(w[(o*cin+ci+1)*taps+t])
				}
				hi := max(a, 0) + max(b, 0)
				lo := min(a, 0) + min(b, 0)
				if xmax*hi > 32767 || xmax*lo < -32768 {
					return false
				}
			}
		}
	}
	return true
}

// Cols is the number of column units (ColBlock output channels each, the last
// one maybe fewer); a kernel call computes column units [n0, n1).
func (d *Dense) Cols() int { return (d.Cout + ColBlock - 1) / ColBlock }

// Units is the kernel's work count: for a pointwise layer ceil(pixels /
// DenseMR) strips (of DenseMR pixels or one fewer, see body; the AMX kernel
// takes them as DenseMR pixels each: units mean pixels only inside a kernel),
// output rows otherwise. A kernel call computes units [s0, s1).
func (d *Dense) Units() int {
	if d.Pointwise() {
		return (d.H*d.W + DenseMR - 1) / DenseMR
	}
	return d.OH
}

// ScratchBytes is the scratch a call needs (widened input rows).
func (d *Dense) ScratchBytes(isa Target) int {
	if d.Im2col {
		return d.im2colScratch()
	}
	if d.Pointwise() && d.Path(isa) == PathMixed {
		return DenseMR * ChanStride(4*lower.Quads(d.Cin)) * 2
	}
	return 0
}

func (d *Dense) check() error {
	if d.Cin < 1 || d.Cout < 1 || d.Win == nil && (d.K < 1 || d.Stride < 1 || d.Pad < 0) {
		return fmt.Errorf("asmgen: dense %dx%d k%d s%d p%d", d.Cin, d.Cout, d.K, d.Stride, d.Pad)
	}
	if (!d.Pointwise() && (d.InStride < 4*lower.Quads(d.Cin) || d.InStride%4 != 0)) || d.InStride < d.Cin || d.OutStride < d.Cout {
		return fmt.Errorf("asmgen: dense strides in %d out %d for %d -> %d channels", d.InStride, d.OutStride, d.Cin, d.Cout)
	}
	if d.Pointwise() && (d.OH != d.H || d.OW != d.W) {
		return fmt.Errorf("asmgen: pointwise %dx%d -> %dx%d", d.H, d.W, d.OH, d.OW)
	}
	if d.Narrow && (d.Cin != 16 || d.Cout%ColBlock != 0) {
		return fmt.Errorf("asmgen: narrow grouped layer of %d -> %d channels per block", d.Cin, d.Cout)
	}
	if d.BlockSpan < 0 || d.BlockSpan > 0 && (d.BlockSpan < d.Cin || d.Im2col) {
		return fmt.Errorf("asmgen: dense block span %d for %d input channels", d.BlockSpan, d.Cin)
	}
	if d.Paired && (d.Cin != 16 || d.Cout%ColBlock != 0 || d.BlockSpan == 0 || d.Narrow) {
		return fmt.Errorf("asmgen: paired grouped layer of %d -> %d channels per block, block span %d", d.Cin, d.Cout, d.BlockSpan)
	}
	if err := d.checkWin(); err != nil {
		return err
	}
	if err := d.checkIm2col(); err != nil {
		return err
	}
	if len(d.Weight) != d.Cout*d.Cin*d.taps() {
		return fmt.Errorf("asmgen: dense %d weights for %d -> %d channels, %d taps", len(d.Weight), d.Cin, d.Cout, d.taps())
	}
	if d.ZIn < 0 || d.ZIn > 255 || d.XMax < 0 || d.XMax > 255 {
		return fmt.Errorf("asmgen: input zero point %d / max code %d", d.ZIn, d.XMax)
	}
	return d.Requant.check(d.Cout)
}

// tierDesign is the design the tier uses for this layer: the avx512 tier
// (and its emulation) keeps the 256-bit VNNI kernel where the 512-bit one is
// slower on Zen 4, which splits zmm work in two 256-bit halves (README,
// "Speed"): fewer than 32 output channels (one column unit, or 24 channels
// where the second unit's half-empty zmm does 33% more multiply work than
// the ymm kernel) or a reduction of fewer than 16 channels (the epilogue
// dominates). From 32 channels up the zmm kernel is as fast or faster there
// (MobileNetV2's stem: 113 -> 98 us), and full-width zmm (Sapphire Rapids)
// only adds to that.
//
// On full-width units with room for the epilogue (Zen 5) the zmm kernel
// is faster for 9 to 31 channels too (MobileNetV2's 16- and 24-channel
// projections 19-34% on Zen 5): those layers also get it, as Wide (HasWide).
func (d *Dense) tierDesign(isa Target) Target {
	if isa.ZMM && (d.Cout < 32 && !d.Wide || d.Cin*d.taps() < 16 || d.Narrow && d.BlockSpan == 0) {
		return Target{runtime.AVX512VNNI, isa.emu}
	}
	return isa
}

// HasWide says whether the layer has a Wide kernel on isa: a zmm tier whose
// design for it is the 256-bit one only for its 9 to 31 output channels
// (8 or fewer fill no more of a zmm than of a ymm).
func (d *Dense) HasWide(isa Target) bool {
	return d.Cout > 8 && d.BlockSpan == 0 && d.tierDesign(isa) != isa && d.wide().tierDesign(isa) == isa
}

// wide is a copy of d with Wide set.
func (d *Dense) wide() *Dense {
	w := *d
	w.Wide = true
	return &w
}

// Signature of every dense kernel: x input, w packed weights, y output, t
// scratch; it computes the units [s0, s1) (Units) of the column units [n0, n1)
// (Cols).
const denseSig = "func(x, w, y, t *byte, s0, s1, n0, n1 int)"

// Dense adds a dense kernel for the tier.
func (p *Program) Dense(name string, d *Dense, isa Target) error {
	if err := d.check(); err != nil {
		return err
	}
	if d.MaxAbsProd == nil {
		d.MaxAbsProd = prodBounds(d.Weight, d.M, d.B, d.Cin*d.taps(), d.ZIn, max(d.XMax, d.ZIn))
	}
	isa = d.tierDesign(isa)
	if d.BlockSpan > 0 && (!isa.ZMM || isa.emulated()) {
		return fmt.Errorf("asmgen: %s: column blocks in one call on %s: the zmm design only", name, isa)
	}
	path := d.Path(isa)
	if err := p.function(name, denseSig, fmt.Sprintf("%s: %d -> %d channels, %s, %dx%d -> %dx%d, %s path.",
		name, d.Cin, d.Cout, d.geomText(), d.H, d.W, d.OH, d.OW, path)); err != nil {
		return err
	}
	k := newConsts(p, name, isa)
	g := &denseGen{Context: p.ctx, d: d, mode: path, emulate: isa.emulated(), lanes: isa.lanes(), units: isa.ZMM, maxUnits: zmmUnits, accRow: zmmUnits,
		nq: lower.Quads(d.Cin), pk: newPacker(p, k, &d.Requant), name: name}
	g.pk.askVBMI(p, name, isa)
	switch {
	case isa.ZMM && isa.emulated():
		g.maxUnits = 1 // 6 rows x 2 ymm accumulators fill the 16 registers
	case g.units:
		// Blocks of equal size give or take one over all the columns (9
		// units: 3+3+3, not 4+4+1): a block of one unit has six
		// accumulators, too few to hide VPDPBUSD's latency at two a cycle.
		g.maxUnits = blockUnits(d.Cols(), zmmUnits)
		if d.Paired {
			// Two accumulators a unit.
			g.maxUnits = blockUnits(d.Cols(), zmmUnits/2)
			for h := range 2 {
				g.pairW[h], g.pairSum[h] = k.vec(pairWIdx[h][:]...), k.vec(pairSumIdx[h][:]...)
			}
		}
	}
	g.np = (d.Cout + g.lanes - 1) / g.lanes * g.lanes
	g.kq = g.nq * d.taps()
	if d.Im2col {
		g.nq = lower.Quads(d.gemmK())
		g.kq = g.nq
		c := compactCtrl(d.Cin)
		g.compact = k.vec(c...)
		if d.geom().KW > 4 { // two chunks a kernel row (im2colStrip)
			g.compact2 = k.vec(append(c, c...)...)
		}
	} else if d.Narrow {
		g.kq = d.taps() // lower.PackNarrow: one quad per tap
		t := narrowTranspose()
		if isa.lanes() == 16 {
			t = append(t, t...)
		}
		g.transpose = k.vec(t...)
	}
	if d.SkipZeros {
		g.zeroHalves()
	}
	g.shuf16 = k.vec(0, 4, 1, 5, 2, 6, 3, 7)
	if isa.lanes() == 16 {
		g.unpack4 = k.vec(unpack4...)
	}
	g.tabs = map[Path]denseTabs{}
	paths := []Path{path}
	if path == PathMixed {
		paths = []Path{PathU8, PathI16}
	}
	for _, pa := range paths {
		g.tabs[pa] = g.tables(k, pa)
		if pa == PathU8 || g.emulate {
			g.ones = k.i16(1)
		}
	}
	if g.emulate {
		g.evenBytes, g.oddBytes = k.vec(splat32(0x00FF00FF, 8)...), k.vec(splat32(0xFF00FF00, 8)...)
	}
	return g.emit()
}

type denseGen struct {
	*build.Context
	d    *Dense
	mode Path // the layer's Path
	// lanes is the columns of one accumulator: 8 on ymm, 16 on zmm.
	lanes int
	// units: the avx512 tier's design, where a block is up to maxUnits (at
	// most zmmUnits) column
	// units (16/lanes accumulators per row and unit) and every accumulator is
	// narrowed and stored on its own (packer.narrow, with an opmask tail).
	units    bool
	maxUnits int
	// accRow is the zmm accumulators of a strip's pixel: zmmUnits, or
	// tallUnits in a tall strip (tallBody).
	accRow int
	path   Path // the path being emitted (PathMixed emits two)
	nq, kq int  // quads per tap, quads per output channel
	// half is the byte offset in a unit's quad of the 8 columns a block of
	// one group of the i16 path computes (0 or 32).
	half int
	np   int
	pk   *packer
	tabs map[Path]denseTabs
	denseTabs
	shuf16 operand.Mem // VPERMD indices sorting two packed 16-column rows
	// unpack4 (zmm) is the VPERMD indices sorting a row of four packed units
	// (finishZmm): dword 4j+i from dword 4i+j.
	unpack4 operand.Mem
	ones    operand.Mem
	compact operand.Mem // Im2col: VPSHUFB control compacting four pixels' channels
	// compact2 is compact for both lanes of a ymm (eight pixels).
	compact2 operand.Mem
	// pairs (Im2col, the i16 rows on ymm): the u8 path's design over the
	// widened patch and widened weights, one VPMADDWD per pair of words
	// (im2col.go).
	pairs bool
	// emulate replaces VPDPBUSD by VPMADDUBSW on the even and then the odd
	// bytes of the activations (a single product cannot saturate) and VPMADDWD
	// by ones: the same int32 sums, on AVX2.
	emulate             bool
	evenBytes, oddBytes operand.Mem
	name                string
	labels              int
	// Addressing of the current strip: element size, A row stride, quad step.
	rowStride, quadStep int
	// pixOff, when not nil, is the A offset of each pixel of a tall strip
	// (tallBody), instead of r*rowStride.
	pixOff []int
	aWide  bool // A holds uint16 (the widened scratch), else uint8
	// tapOff[t] is the byte offset of tap t from a pixel's A address.
	tapOff []int
	// n0, n1: where the column units of the current pass are (the
	// parameters, or the column chunk's locals).
	n0, n1 operand.Mem
	// zero[i][h] says that half h of reduction quad i is zero in every unit
	// (SkipZeros); kqBase and kqi are the quad being emitted (kqi -1: in a
	// run-time loop).
	zero        [][2]bool
	kqBase, kqi int
	transpose   operand.Mem // Dense.Narrow: the VPSHUFB control sorting a row's columns
	// pairW, pairSum (Dense.Paired): pairWIdx and pairSumIdx.
	pairW, pairSum [2]operand.Mem
	// ahead (zmm, column chunks of few strips, see prefetchNext) is the
	// distance of the next chunk's weights: each strip prefetches them into
	// L2 as it goes, so that the first strip of the next chunk does not wait
	// for them (they come from L3 or DRAM when a network runs).
	ahead int
}

// denseTabs are a path's constant tables.
type denseTabs struct {
	mtab  operand.Mem // per accumulator of lanes columns: their multipliers then their float biases, zero beyond Cout
	btab  operand.Mem // accumulator starts -z_x*sum(w) (i16: as the accumulators start)
	shuf8 operand.Mem // VPSHUFB control sorting two packed 8-column rows
}

func (g *denseGen) setPath(p Path) {
	g.path, g.denseTabs = p, g.tabs[p]
}

// tables builds the constant tables of path pa.
func (g *denseGen) tables(k *consts, pa Path) denseTabs {
	d, np := g.d, g.np
	mp, fb := make([]float32, np), make([]float32, np)
	copy(mp, d.M)
	copy(fb, d.B)
	bias := make([]int32, np)
	copy(bias, lower.ZeroFold(d.Weight, d.Cout, d.ZIn))
	if d.Narrow {
		// Accumulator lanes hold the columns of lower.PackNarrow's positions.
		mp, fb, bias = narrowOrder(mp), narrowOrder(fb), narrowOrder(bias)
	}
	var bt []uint32
	order := []int{0, 1, 2, 3, 4, 5, 6, 7}
	if pa == PathI16 {
		// Per group: the two half-sum accumulators start at (b0 0 b1 0 | b2 0 b3 0)
		// and (b4 0 b5 0 | b6 0 b7 0); after VPHADDD the lanes hold columns
		// i16Order, and the multipliers follow that order.
		order = i16Order
		for g0 := 0; g0 < np; g0 += 8 {
			for c := 0; c < 8; c++ {
				bt = append(bt, uint32(bias[g0+c]), 0)
			}
		}
	} else {
		for _, b := range bias {
			bt = append(bt, uint32(b))
		}
	}
	if g.lanes == 16 {
		order = append(order, 8, 9, 10, 11, 12, 13, 14, 15)
	}
	var mt []float32
	for g0 := 0; g0 < np; g0 += g.lanes {
		for _, c := range order {
			mt = append(mt, mp[g0+c])
		}
		for _, c := range order {
			mt = append(mt, fb[g0+c])
		}
	}
	dst := order
	if d.Narrow && pa == PathI16 {
		// A narrow row of 8 positions is stored as four 2-column words
		// (finish): word q of a row holds positions q and 4+q.
		dst = make([]int, len(order))
		for i, p := range order {
			dst[i] = 2*(p%4) + p/4
		}
	}
	return denseTabs{mtab: k.floats(mt), btab: k.vec(bt...), shuf8: k.vec(pairShuffle(dst)...)}
}

func (g *denseGen) label(s string) string {
	g.labels++
	return fmt.Sprintf("%s_%d", s, g.labels)
}

// Registers (physical, so the micro-kernel owns all 16 vector registers).
var (
	rX, rW, rY, rT   = reg.RAX, reg.RBX, reg.RCX, reg.RDX
	rS, rS1          = reg.RSI, reg.RDI
	rA, rWp, rK      = reg.R8, reg.R9, reg.R10
	rB, rM, rO, rG   = reg.R11, reg.R12, reg.R13, reg.R14
	rStrip           = reg.R15
	yW0, yW1, yX, yT = reg.Y12, reg.Y13, reg.Y14, reg.Y15
	// On zmm: accumulators Z0-Z23 (row r, unit j: Z(4r+j)), weights from Z24.
	zW, zX = zmm[24:28], reg.Z28
)

// zmmUnits is the most column units a zmm block computes at once: 6 rows x 4
// units fill 24 accumulators, and each broadcast input feeds four VPDPBUSD.
const zmmUnits = 4

func (g *denseGen) emit() error {
	g.setPath(g.mode)
	done := g.label("done")
	chunk := g.colChunk()
	if chunk == 0 {
		for _, p := range []struct {
			name string
			at   *operand.Mem
		}{{"n0", &g.n0}, {"n1", &g.n1}} {
			b, err := g.Param(p.name).Resolve()
			if err != nil {
				return fmt.Errorf("asmgen: %s: parameter %s: %w", g.name, p.name, err)
			}
			*p.at = b.Addr
		}
		g.body(done)
		g.Label(done)
		g.VZEROUPPER()
		g.RET()
		return nil
	}
	// Column chunks outermost: all the call's strips or rows for one chunk
	// of weights (which then stays in L1 or L2), then the next.
	if g.prefetchNext() {
		g.ahead = chunk * g.kq * 64
	}
	cur, end := g.AllocLocal(8), g.AllocLocal(8)
	g.n0, g.n1 = cur, end
	g.Load(g.Param("n0"), rK)
	g.MOVQ(rK, cur)
	outer, next := g.label("chunk"), g.label("chunk_next")
	g.Label(outer)
	g.MOVQ(cur, rK)
	g.Load(g.Param("n1"), rA)
	g.CMPQ(rK, rA)
	g.JGE(operand.LabelRef(done))
	g.ADDQ(i32(chunk), rK)
	g.CMPQ(rK, rA)
	g.CMOVQGT(rA, rK)
	g.MOVQ(rK, end)
	g.body(next)
	g.Label(next)
	g.MOVQ(end, rK)
	g.MOVQ(rK, cur)
	g.JMP(operand.LabelRef(outer))
	g.Label(done)
	g.VZEROUPPER()
	g.RET()
	return nil
}

// colChunk is the number of column units a column chunk has when the kernel
// loops over chunks outermost (0: strips or rows outermost, each running
// all the call's columns). That order pays when the weights are larger than
// the input they are multiplied with: each strip re-reads all the weights,
// from L2 or beyond when they are large (ResNet-50's layer4: 2.4 MB for one
// 3x3 conv), whereas a chunk's weights (up to 64 columns) are re-read from
// L1 or L2, and the input, re-read once per chunk, is the smaller stream.
// Chunks are of equal size give or take one for a call over all columns.
func (g *denseGen) colChunk() int {
	d := g.d
	cols := d.Cols()
	in := d.H * d.W * d.InStride
	if !d.Pointwise() {
		in = (d.H + 2*d.border()) * d.padW() * d.InStride
	}
	if cols <= zmmUnits || d.Cout*d.Cin*d.taps() <= in {
		return 0
	}
	return blockUnits(cols, zmmUnits)
}

// prefetchNext says whether a zmm kernel's strips prefetch the next column
// chunk's weights. Every strip prefetches the whole next chunk (a
// PREFETCHT1 beside each weight load), which pays where a chunk has few
// strips (7x7 maps: GoogLeNet's inception5 3x3 convs 11-13% faster with
// it) and costs where it has many, each strip paying for lines already in
// L2 (its 28x28 3x3 convs, 140 strips a chunk: 12% slower with it).
func (g *denseGen) prefetchNext() bool {
	return g.lanes == 16 && g.chunkStrips() <= prefetchMaxStrips
}

// prefetchMaxStrips is the most strips a chunk has for its strips to
// prefetch the next one (GoogLeNet's 14x14 convs, 21 and 33, neither gain
// nor lose by it).
const prefetchMaxStrips = 40

// chunkStrips is the number of strips a call of all the layer's pixels runs
// for each column chunk.
func (g *denseGen) chunkStrips() int {
	d := g.d
	tall := func(px int) int { return (px + tallMR - 1) / tallMR }
	switch {
	case d.Pointwise() && g.tallFlat():
		return tall(d.H * d.W)
	case d.Pointwise():
		return d.Units()
	case g.tallRows() && d.OH*d.OW <= tallWhole:
		return tall(d.OH * d.OW)
	case g.tallRows():
		return d.OH/2*tall(2*d.OW) + d.OH%2*tall(d.OW)
	}
	return d.OH * ((d.OW + DenseMR - 1) / DenseMR)
}

// blockUnits is the size of the fewest blocks of at most most column units
// that cover cols units, of equal size give or take one.
func blockUnits(cols, most int) int {
	n := (cols + most - 1) / most
	return (cols + n - 1) / n
}

// body runs the call's strips (pointwise) or rows for the column units
// [n0, n1) and jumps to done.
func (g *denseGen) body(done string) {
	d := g.d
	loadArgs(g.Context, "x w y t s0 s1", rX, rW, rY, rT, rS, rS1)
	if !d.Pointwise() {
		g.implicit(done)
		return
	}
	g.tapOff = []int{0}
	if g.tallFlat() {
		g.tallFlatLoop(done)
	}
	// The Units strips are of equal size give or take one (49 pixels: 4 x 6
	// + 5 x 5, not 8 x 6 + 1), for the reason implicit gives: strip s starts
	// at pixel s*big - max(0, s-nBig).
	m, n := d.H*d.W, d.Units()
	big, nBig := equalStrips(m, n)
	g.IMUL3Q(i32(big), rS, rA)
	if nBig < n {
		g.MOVQ(rS, rK)
		g.SUBQ(i32(nBig), rK)
		g.MOVQ(i32(0), rG)
		g.CMOVQLT(rG, rK)
		g.SUBQ(rK, rA)
	}
	g.IMUL3Q(i32(d.InStride), rA, rK)
	g.ADDQ(rK, rX)
	g.IMUL3Q(i32(d.OutStride), rA, rK)
	g.ADDQ(rK, rY)
	bigLoop, smallLoop := g.label("strip"), g.label("strip_small")
	g.Label(bigLoop)
	g.CMPQ(rS, rS1)
	g.JGE(operand.LabelRef(done))
	if nBig < n {
		g.CMPQ(rS, i32(nBig))
		g.JGE(operand.LabelRef(smallLoop))
	}
	g.pointwiseStrip(big)
	g.ADDQ(i32(big*d.InStride), rX)
	g.ADDQ(i32(big*d.OutStride), rY)
	g.INCQ(rS)
	g.JMP(operand.LabelRef(bigLoop))
	if nBig < n {
		g.Label(smallLoop)
		g.CMPQ(rS, rS1)
		g.JGE(operand.LabelRef(done))
		g.pointwiseStrip(big - 1)
		g.ADDQ(i32((big-1)*d.InStride), rX)
		g.ADDQ(i32((big-1)*d.OutStride), rY)
		g.INCQ(rS)
		g.JMP(operand.LabelRef(smallLoop))
	}
}

// pointwiseStrip computes rows pixels starting at rX into rY.
func (g *denseGen) pointwiseStrip(rows int) {
	if g.mode != PathMixed {
		g.pointwisePath(rows)
		return
	}
	// Any code >= 128 in the strip's rows sends it down the i16 path.
	g.anyHigh(rX, rows*g.d.InStride)
	slow, done := g.label("wide"), g.label("strip_done")
	g.JNZ(operand.LabelRef(slow))
	g.setPath(PathU8)
	g.pointwisePath(rows)
	g.JMP(operand.LabelRef(done))
	g.Label(slow)
	g.setPath(PathI16)
	g.pointwisePath(rows)
	g.Label(done)
	g.setPath(g.mode)
}

// pointwisePath emits a strip on the current path.
func (g *denseGen) pointwisePath(rows int) {
	d := g.d
	base := rX
	g.rowStride, g.quadStep, g.aWide = d.InStride, 4, false
	if g.path == PathI16 {
		// Widen the strip's rows into the scratch: VPMADDWD wants int16 lanes.
		// Rows are read in 8-byte steps past their end (into the next pixel
		// or the arena's slack); the extra lanes meet zero weights.
		ws := ChanStride(4 * g.nq)
		for r := 0; r < rows; r++ {
			off := 0
			for ; off+16 <= ws; off += 16 {
				g.VPMOVZXBW(mem(rX, r*d.InStride+off), yX)
				g.VMOVDQU(yX, mem(rT, 2*(r*ws+off)))
			}
			for ; off < ws; off += 8 {
				g.VPMOVZXBW(mem(rX, r*d.InStride+off), yX.AsX())
				g.VMOVDQU(yX.AsX(), mem(rT, 2*(r*ws+off)))
			}
		}
		base = rT
		g.rowStride, g.quadStep, g.aWide = 2*ws, 8, true
	}
	g.columns(rows, func() { g.MOVQ(base, rA) }, rY, g.kloopFlat)
	g.epiStrip(rows, rY)
}

// implicit emits the row loop of a k x k / strided / padded layer.
func (g *denseGen) implicit(done string) {
	d := g.d
	g.rowStride, g.quadStep, g.aWide = d.pixBytes(), 4, false
	g.tapOff = d.tapOffsets()
	if g.pairDesign() {
		g.widenWeights()
	}
	// rX: input row base of output row s; rY: output row base.
	g.IMUL3Q(i32(d.rowBytes()), rS, rA)
	g.ADDQ(rA, rX)
	g.IMUL3Q(i32(d.OW*d.OutStride), rS, rA)
	g.ADDQ(rA, rY)
	// A row is cut into the fewest strips of at most DenseMR pixels, of
	// equal size give or take one (7 -> 4+3, not 6+1): a short strip has
	// few independent accumulators and reads the whole weights for little work.
	n := (d.OW + DenseMR - 1) / DenseMR
	big, nBig := equalStrips(d.OW, n)
	body := func() {
		g.MOVQ(rX, rStrip)
		g.MOVQ(rY, rT) // strip output base
		end := 0       // output offset after the strips so far
		for _, st := range []struct{ rows, count int }{{big, nBig}, {big - 1, n - nBig}} {
			if st.count == 0 || st.rows == 0 {
				continue
			}
			end += st.count * st.rows * d.OutStride
			sl := g.label("strip")
			g.Label(sl)
			taps := func() {
				g.columns(st.rows, func() { g.MOVQ(rStrip, rA) }, rT, g.kloopTaps)
				g.epiStrip(st.rows, rT)
			}
			switch {
			case d.Im2col:
				g.im2colStrip(st.rows)
				g.epiStrip(st.rows, rT)
			case g.stripPaths():
				// The input pixels this strip reads decide its path.
				g.anyHighStrip(st.rows)
				wide, join := g.label("strip_wide"), g.label("strip_join")
				g.JNZ(operand.LabelRef(wide))
				g.setPath(PathU8)
				taps()
				g.JMP(operand.LabelRef(join))
				g.Label(wide)
				g.setPath(PathI16)
				taps()
				g.setPath(g.mode)
				g.Label(join)
			default:
				taps()
			}
			if end == d.OW*d.OutStride && st.count == 1 {
				break // the row's last strip: nothing to advance
			}
			g.ADDQ(i32(st.rows*d.pixBytes()), rStrip)
			g.ADDQ(i32(st.rows*d.OutStride), rT)
			if st.count > 1 {
				g.MOVQ(rT, rK)
				g.SUBQ(rY, rK)
				g.CMPQ(rK, i32(end))
				g.JL(operand.LabelRef(sl))
			}
		}
	}
	if g.tallRows() {
		g.tallLoop(done)
		return
	}
	rowLoop, next := g.label("row"), g.label("row_next")
	g.Label(rowLoop)
	g.CMPQ(rS, rS1)
	g.JGE(operand.LabelRef(done))
	if g.mode == PathMixed && !g.stripPaths() {
		// The input rows this output row reads decide its path.
		g.anyHigh(rX, d.spanBytes())
		wide := g.label("row_wide")
		g.JNZ(operand.LabelRef(wide))
		g.setPath(PathU8)
		body()
		g.JMP(operand.LabelRef(next))
		g.Label(wide)
		g.setPath(PathI16)
		body()
		g.setPath(g.mode)
	} else {
		body()
	}
	g.Label(next)
	g.ADDQ(i32(d.rowBytes()), rX)
	g.ADDQ(i32(d.OW*d.OutStride), rY)
	g.INCQ(rS)
	g.JMP(operand.LabelRef(rowLoop))
}

// equalStrips cuts px pixels into n strips of equal size give or take one:
// nBig of big pixels, then n-nBig of big-1.
func equalStrips(px, n int) (big, nBig int) {
	big = (px + n - 1) / n
	return big, px - n*(big-1)
}

// rowOff is the A offset of the current strip's pixel r.
func (g *denseGen) rowOff(r int) int {
	if g.pixOff != nil {
		return g.pixOff[r]
	}
	return r * g.rowStride
}

// tallRows says whether a k x k layer runs tall strips: up to tallMR
// pixels by tallUnits column units (the same 24 accumulators as DenseMR
// pixels by zmmUnits, half the weight bytes a multiply-add) over a run of
// output rows, the whole map or two rows at a time or one, each pixel's
// input at its own offset. Each strip reads the whole weights of its column
// chunk, from L2 for large layers (ResNet-50's layer4: 295 KB a chunk): a
// 7x7 map in 5 strips instead of 14 (4+3 a row). The zmm VNNI design only.
func (g *denseGen) tallRows() bool {
	d := g.d
	return g.tallable() && !g.pairDesign() && !d.Im2col && d.OW >= tallMinOW && d.OW <= tallMaxOW
}

// tallable says whether the layer's design can run tall strips: the zmm
// VNNI one of a plain (not grouped) layer of two units or more.
func (g *denseGen) tallable() bool {
	d := g.d
	return g.lanes == 16 && g.units && g.mode == PathVNNI && d.BlockSpan == 0 && !d.SkipZeros && !d.Narrow && !d.Paired &&
		d.Cols() >= tallUnits
}

// A tall strip is up to tallMR pixels by tallUnits column units. Rows of
// tallMinOW to tallMaxOW pixels run in them (a pair in at most 3 strips;
// wider rows gained nothing: their weights stay in L1); a map of up to
// tallWhole pixels runs whole where a call has all its rows.
const (
	tallMR    = 12
	tallUnits = 2
	tallMinOW = 7
	tallMaxOW = 16
	tallWhole = 5 * tallMR
)

// tallBody emits the tall strips of rows output rows from rX and rY:
// rows*OW pixels in the fewest strips of equal size give or take one.
func (g *denseGen) tallBody(rows int) {
	d := g.d
	defer func(u, a int) { g.maxUnits, g.accRow = u, a }(g.maxUnits, g.accRow)
	g.maxUnits, g.accRow = blockUnits(d.Cols(), tallUnits), tallUnits
	px := rows * d.OW
	n := (px + tallMR - 1) / tallMR
	big, nBig := equalStrips(px, n)
	q := 0
	for i := range n {
		cnt := big
		if i >= nBig {
			cnt--
		}
		g.pixOff = make([]int, cnt)
		for r := range cnt {
			y, x := (q+r)/d.OW, (q+r)%d.OW
			g.pixOff[r] = y*d.rowBytes() + x*d.pixBytes()
		}
		g.LEAQ(mem(rY, q*d.OutStride), rT)
		g.columns(cnt, func() { g.MOVQ(rX, rA) }, rT, g.kloopTaps)
		g.epiStrip(cnt, rT)
		q += cnt
	}
	g.pixOff = nil
}

// tallFlat says whether a pointwise layer runs tall strips (see tallRows)
// where a call has all its pixels: one whose column chunks' weights
// (tallFlatK and more bytes a column) do not stay in L1, on more pixels than
// one strip (a linear layer's one pixel keeps its 4-unit blocks).
func (g *denseGen) tallFlat() bool {
	return g.tallable() && 4*g.nq >= tallFlatK && g.d.H*g.d.W > DenseMR
}

// tallFlatK is the reduction from which a pointwise layer's strips read
// their weights from L2 (64 columns of 512 bytes: 32 KB).
const tallFlatK = 512

// tallFlatLoop emits, for a call of all the layer's strips, its H*W pixels
// in the fewest tall strips of equal size give or take one, and jumps to
// done; other calls go on after it.
func (g *denseGen) tallFlatLoop(done string) {
	d := g.d
	part := g.label("tall_part")
	g.CMPQ(rS, i32(0))
	g.JNE(operand.LabelRef(part))
	g.CMPQ(rS1, i32(d.Units()))
	g.JNE(operand.LabelRef(part))
	defer func(u, a int) { g.maxUnits, g.accRow = u, a }(g.maxUnits, g.accRow)
	g.maxUnits, g.accRow = blockUnits(d.Cols(), tallUnits), tallUnits
	m := d.H * d.W
	n := (m + tallMR - 1) / tallMR
	big, nBig := equalStrips(m, n)
	for _, st := range []struct{ rows, count int }{{big, nBig}, {big - 1, n - nBig}} {
		if st.count == 0 {
			continue
		}
		lp := g.label("tall_strip")
		g.MOVQ(i32(st.count), rS)
		g.Label(lp)
		g.pointwisePath(st.rows)
		g.ADDQ(i32(st.rows*d.InStride), rX)
		g.ADDQ(i32(st.rows*d.OutStride), rY)
		g.DECQ(rS)
		g.JNZ(operand.LabelRef(lp))
	}
	g.JMP(operand.LabelRef(done))
	g.Label(part)
}

// tallLoop emits tall's row loop: the whole map where the call has all
// its rows, else pairs of rows, then a last row.
func (g *denseGen) tallLoop(done string) {
	d := g.d
	if d.OH*d.OW <= tallWhole {
		part := g.label("tall_part")
		g.CMPQ(rS, i32(0))
		g.JNE(operand.LabelRef(part))
		g.CMPQ(rS1, i32(d.OH))
		g.JNE(operand.LabelRef(part))
		g.tallBody(d.OH)
		g.JMP(operand.LabelRef(done))
		g.Label(part)
	}
	pair, single := g.label("tall_pair"), g.label("tall_row")
	g.Label(pair)
	g.LEAQ(mem(rS, 1), rK)
	g.CMPQ(rK, rS1)
	g.JGE(operand.LabelRef(single))
	g.tallBody(2)
	g.ADDQ(i32(2*d.rowBytes()), rX)
	g.ADDQ(i32(2*d.OW*d.OutStride), rY)
	g.ADDQ(i32(2), rS)
	g.JMP(operand.LabelRef(pair))
	g.Label(single) // the call's last row, if it has an odd count
	g.CMPQ(rS, rS1)
	g.JGE(operand.LabelRef(done))
	g.tallBody(1)
	g.JMP(operand.LabelRef(done))
}

// stripPaths reports whether a k x k layer on the u8s8|i16 path picks the
// path per strip rather than per output row: dense layers, whose rows meet a
// code of 128 or more far more often than their strips do (GoogLeNet's conv3
// after a histogram-calibrated layer: 45% of rows on i16 at twice the cost).
// Stems keep the row (their i16 rows run the pairs design), and grouped
// layers too (their check reads only the span of each pixel).
func (g *denseGen) stripPaths() bool {
	d := g.d
	return g.mode == PathMixed && !d.Im2col && !d.SkipZeros && !d.Narrow
}

// anyHighStrip sets ZF clear when any byte of the input pixels a strip of
// rows output pixels at rStrip reads is 128 or more: per kernel row one
// segment, read in 32-byte steps, the last step ending at the segment's end
// (no read past it) when the segment has 32 bytes or more.
func (g *denseGen) anyHighStrip(rows int) {
	d := g.d
	w, wp, px := d.geom(), d.padW(), d.InStride
	n := ((rows-1)*w.SW + (w.KW-1)*w.DW + 1) * px
	first := true
	or := func(disp int) {
		if first {
			g.VMOVDQU(mem(rStrip, disp), yX)
			first = false
			return
		}
		g.VPOR(mem(rStrip, disp), yX, yX)
	}
	for ky := 0; ky < w.KH; ky++ {
		at := d.origin() + ky*w.DH*wp*px
		if n < 32 {
			or(at)
			continue
		}
		for i := 0; i+32 < n; i += 32 {
			or(at + i)
		}
		or(at + n - 32)
	}
	g.VPMOVMSKB(yX, rK.As32())
	g.TESTL(rK.As32(), rK.As32())
}

// anyHigh sets ZF clear when any of the n bytes at base (read in 32-byte
// steps, possibly past the end: that only makes the answer conservative) is
// 128 or more.
func (g *denseGen) anyHigh(base reg.Register, n int) {
	if g.d.SkipZeros && g.spansOnly(n) {
		g.anyHighSpans(base, n/g.d.InStride)
		return
	}
	for i := 0; i < (n+31)/32; i++ {
		if i == 0 {
			g.VMOVDQU(mem(base, 0), yX)
			continue
		}
		g.VPOR(mem(base, 32*i), yX, yX)
	}
	g.VPMOVMSKB(yX, rK.As32())
	g.TESTL(rK.As32(), rK.As32())
}

// ColBlock is the number of output channels of one column unit.
const ColBlock = 16

// columns runs the column units [n0, n1) of one strip: setA points rA at the
// strip's first A row, out is the strip's output base, kloop emits the
// reduction of a block of 1 or 2 groups of 8 columns.
func (g *denseGen) columns(rows int, setA func(), out reg.Register, kloop func(rows, groups, cols int)) {
	bStep := 32 // bias bytes per group
	if g.path == PathI16 {
		bStep = 64
	}
	block := func(n, cols int) {
		setA()
		if span := g.d.BlockSpan; span > 0 {
			// The block's first unit reads its input at unit*span: the
			// unit is (rO-out)/16, rO being 16 bytes a unit from out.
			g.MOVQ(rO, rK)
			g.SUBQ(out, rK)
			if span != ColBlock {
				g.SHRQ(operand.U8(4), rK)
				g.IMUL3Q(i32(span), rK, rK)
			}
			g.ADDQ(rK, rA)
		}
		kloop(rows, n, cols)
		if g.units {
			// n units; kloop passed the first.
			if n > 1 {
				g.ADDQ(i32((n-1)*g.kq*64), rWp)
			}
			g.ADDQ(i32(64*n), rB)
			g.ADDQ(i32(128*n), rM)
			g.ADDQ(i32(16*n), rO)
			return
		}
		g.ADDQ(i32(bStep*n), rB)
		g.ADDQ(i32(64*n), rM)
		g.ADDQ(i32(8*n), rO)
	}
	// unit emits one column unit of cols (1..16) columns.
	unit := func(cols int) {
		if g.units {
			block(1, cols)
			return
		}
		if g.path != PathI16 {
			block((cols+7)/8, cols)
			return
		}
		block(1, min(cols, 8))
		if cols > 8 {
			// The unit's second half: back to its weights, 32 bytes on.
			g.SUBQ(i32(g.kq*64), rWp)
			g.half = 32
			block(1, cols-8)
			g.half = 0
		}
	}
	// Point the tables, weights and output at unit n0.
	g.MOVQ(g.n0, rK)
	g.LEAQ(g.btab, rB)
	g.IMUL3Q(i32(2*bStep), rK, rA)
	g.ADDQ(rA, rB)
	g.LEAQ(g.mtab, rM)
	g.SHLQ(operand.U8(7), rK) // 128 bytes of multipliers and biases per unit
	g.ADDQ(rK, rM)
	g.SHRQ(operand.U8(7), rK)
	g.IMUL3Q(i32(g.kq*64), rK, rWp)
	if g.pairs {
		g.Load(g.Param("t"), rA)
		g.ADDQ(rA, rWp)
		g.ADDQ(i32(g.d.pairWeightsOff()), rWp)
	} else {
		g.ADDQ(rW, rWp)
	}
	g.LEAQ(operand.Mem{Base: out, Index: rK, Scale: 8}, rO)
	g.LEAQ(operand.Mem{Base: rO, Index: rK, Scale: 8}, rO)
	full, rem := g.d.Cout/ColBlock, g.d.Cout%ColBlock
	// rG = min(n1, full) - n0 full units.
	g.MOVQ(g.n1, rG)
	g.MOVQ(i32(full), rA)
	g.CMPQ(rG, rA)
	g.CMOVQGT(rA, rG)
	g.SUBQ(rK, rG)
	skip := g.label("cols_end")
	switch {
	case full > 0 && g.units:
		// Blocks of maxUnits units, then one of the 1..maxUnits-1 left.
		g.JLE(operand.LabelRef(skip))
		lp, rest := g.label("cols"), g.label("cols_rest")
		g.Label(lp)
		g.CMPQ(rG, i32(g.maxUnits))
		g.JL(operand.LabelRef(rest))
		block(g.maxUnits, g.maxUnits*ColBlock)
		g.SUBQ(i32(g.maxUnits), rG)
		g.JMP(operand.LabelRef(lp))
		g.Label(rest)
		for n := g.maxUnits - 1; n >= 1; n-- {
			next := g.label("cols_n")
			g.CMPQ(rG, i32(n))
			g.JNE(operand.LabelRef(next))
			block(n, n*ColBlock)
			g.JMP(operand.LabelRef(skip))
			g.Label(next)
		}
	case full > 0:
		lp := g.label("cols")
		g.JLE(operand.LabelRef(skip))
		g.Label(lp)
		unit(ColBlock)
		g.DECQ(rG)
		g.JNZ(operand.LabelRef(lp))
	}
	g.Label(skip)
	if rem > 0 {
		done := g.label("cols_rem")
		g.MOVQ(g.n1, rK)
		g.CMPQ(rK, i32(full+1))
		g.JNE(operand.LabelRef(done))
		g.MOVQ(g.n0, rA)
		g.CMPQ(rA, rK)
		g.JGE(operand.LabelRef(done)) // empty range
		unit(rem)
		g.Label(done)
	}
}

func acc(r, j int) reg.VecPhysical { return ymm[2*r+j] }

// uacc is the accumulator of row r, unit j and half h (0 on zmm) in the
// units design.
func (g *denseGen) uacc(r, j, h int) reg.VecPhysical {
	if g.lanes == 16 {
		return zmm[g.accRow*r+j]
	}
	return ymm[2*(g.maxUnits*r+j)+h]
}

// halves is the accumulators of a column unit in the units design.
func (g *denseGen) halves() int { return ColBlock / g.lanes }

// initAcc zeroes the i16 half-sum accumulators or loads the bias.
func (g *denseGen) initAcc(rows, groups, cols int) {
	if g.units {
		for r := 0; r < rows; r++ {
			for j := 0; j < groups; j++ {
				for h := 0; h < g.halves() && 16*j+8*h < cols; h++ {
					if g.lanes == 16 {
						g.VMOVDQU32(mem(rB, 64*j), g.uacc(r, j, h))
					} else {
						g.VMOVDQU(mem(rB, 64*j+32*h), g.uacc(r, j, h))
					}
				}
			}
		}
		return
	}
	for r := 0; r < rows; r++ {
		for j := 0; j < 2; j++ {
			switch {
			case g.path == PathI16:
				g.VMOVDQU(mem(rB, 32*j), acc(r, j))
			case j < groups:
				g.VMOVDQU(mem(rB, 32*j), acc(r, j))
			}
		}
	}
}

// quad emits one quad step: A at aDisp(rA) (+ row strides), weights at wDisp(rWp).
// On zmm, groups counts units and cols the block's columns.
func (g *denseGen) quad(rows, groups, cols, aDisp, wDisp int) {
	if g.lanes == 16 {
		// A unit's quad is 64 contiguous bytes (PackDense); units kq quads apart.
		for j := 0; j < groups; j++ {
			lo := wDisp + j*g.kq*64
			if g.ahead > 0 {
				// The same line of the next chunk.
				g.PREFETCHT1(mem(rWp, lo+g.ahead))
			}
			if cols-16*j > 8 {
				g.VMOVDQU32(mem(rWp, lo), zW[j])
			} else {
				g.VMOVDQU32(mem(rWp, lo), zW[j].AsY())
			}
		}
		for r := 0; r < rows; r++ {
			if g.d.BlockSpan > 0 {
				// Each unit its own span: a broadcast per product.
				for j := 0; j < groups; j++ {
					g.VPBROADCASTD(mem(rA, aDisp+g.rowOff(r)+j*g.d.BlockSpan), zX)
					g.VPDPBUSD(zW[j], zX, g.uacc(r, j, 0))
				}
				continue
			}
			g.VPBROADCASTD(mem(rA, aDisp+g.rowOff(r)), zX)
			for j := 0; j < groups; j++ {
				g.VPDPBUSD(zW[j], zX, g.uacc(r, j, 0))
			}
		}
		return
	}
	if g.units {
		// zmmEmulated: one unit, its halves in two ymm, VPDPBUSD emulated.
		ws := []reg.VecPhysical{yW0, yW1}[:min(2, (cols+7)/8)]
		for h, w := range ws {
			g.VMOVDQU(mem(rWp, wDisp+32*h), w)
		}
		for r := 0; r < rows; r++ {
			for _, half := range []operand.Mem{g.evenBytes, g.oddBytes} {
				g.VPBROADCASTD(mem(rA, aDisp+g.rowOff(r)), yX)
				g.VPAND(half, yX, yX)
				for h, w := range ws {
					g.VPMADDUBSW(w, yX, yT)
					g.VPMADDWD(g.ones, yT, yT)
					g.VPADDD(yT, g.uacc(r, 0, h), g.uacc(r, 0, h))
				}
			}
		}
		return
	}
	switch g.path {
	case PathI16:
		// Weights: 16 bytes = 4 channels x 4 inputs -> int16; lanes hold
		// (c, k0k1), (c, k2k3) pairs, summed across at the end.
		if g.isZero(g.half / 32) {
			return
		}
		g.VPMOVSXBW(mem(rWp, wDisp+g.half), yW0)
		g.VPMOVSXBW(mem(rWp, wDisp+g.half+16), yW1)
		for r := 0; r < rows; r++ {
			if g.aWide {
				g.VPBROADCASTQ(mem(rA, aDisp+g.rowOff(r)), yX)
			} else {
				// 4 bytes -> (x0 x1 x2 x3) as words, repeated.
				g.VPBROADCASTD(mem(rA, aDisp+g.rowOff(r)), yX.AsX())
				g.VPMOVZXBW(yX.AsX(), yX)
			}
			g.VPMADDWD(yW0, yX, yT)
			g.VPADDD(yT, acc(r, 0), acc(r, 0))
			g.VPMADDWD(yW1, yX, yT)
			g.VPADDD(yT, acc(r, 1), acc(r, 1))
		}
	case PathU8, PathVNNI:
		var js []int // the halves with weights
		for j := 0; j < groups; j++ {
			if !g.isZero(j) {
				js = append(js, j)
			}
		}
		if len(js) == 0 {
			return
		}
		ws := []reg.VecPhysical{yW0, yW1}
		for _, j := range js {
			g.VMOVDQU(mem(rWp, wDisp+32*j), ws[j])
		}
		for r := 0; r < rows; r++ {
			if g.path == PathVNNI && g.emulate {
				for _, half := range []operand.Mem{g.evenBytes, g.oddBytes} {
					g.VPBROADCASTD(mem(rA, aDisp+g.rowOff(r)), yX)
					g.VPAND(half, yX, yX)
					for _, j := range js {
						w := ws[j]
						g.VPMADDUBSW(w, yX, yT)
						g.VPMADDWD(g.ones, yT, yT)
						g.VPADDD(yT, acc(r, j), acc(r, j))
					}
				}
				continue
			}
			g.VPBROADCASTD(mem(rA, aDisp+g.rowOff(r)), yX)
			for _, j := range js {
				w := ws[j]
				if g.pairs {
					g.VPMADDWD(w, yX, yT)
					g.VPADDD(yT, acc(r, j), acc(r, j))
					continue
				}
				if g.path == PathVNNI {
					g.VPDPBUSD(w, yX, acc(r, j))
					continue
				}
				g.VPMADDUBSW(w, yX, yT)
				g.VPMADDWD(g.ones, yT, yT)
				g.VPADDD(yT, acc(r, j), acc(r, j))
			}
		}
	}
}

// kloopFlat is the reduction of a pointwise block: kq quads from rA, rWp.
func (g *denseGen) kloopFlat(rows, groups, cols int) {
	if g.d.Paired {
		g.pairedTaps(rows, groups)
		g.pairedSums(rows, groups)
		g.finish(rows, groups, cols)
		return
	}
	g.initAcc(rows, groups, cols)
	if g.d.Narrow {
		g.narrowTaps(rows, groups)
	} else {
		g.kqBase = 0
		g.quads(rows, groups, cols, g.kq, 0)
	}
	g.finish(rows, groups, cols)
}

// kloopTaps is the reduction of an implicit block: taps unrolled.
func (g *denseGen) kloopTaps(rows, groups, cols int) {
	if g.d.Paired {
		g.pairedTaps(rows, groups)
		g.pairedSums(rows, groups)
		g.finish(rows, groups, cols)
		return
	}
	g.initAcc(rows, groups, cols)
	if g.d.Narrow {
		g.narrowTaps(rows, groups)
	} else if g.rollRows() {
		// One kernel row of taps per iteration (grouped layers: small
		// reductions fully unrolled outgrow the op cache).
		k := g.d.K
		lp := g.label("ky")
		g.MOVQ(i32(k), rK)
		g.Label(lp)
		for kx := range k {
			g.kqBase = kx * g.nq
			g.quads(rows, groups, cols, g.nq, g.tapOff[kx])
		}
		g.ADDQ(i32(g.tapOff[k]-g.tapOff[0]), rA)
		g.DECQ(rK)
		g.JNZ(operand.LabelRef(lp))
	} else {
		for t, off := range g.tapOff {
			g.kqBase = t * g.nq
			g.quads(rows, groups, cols, g.nq, off)
		}
	}
	g.finish(rows, groups, cols)
}

// rollRows says whether kloopTaps runs the kernel rows in a loop: a square
// window whose taps' quads are unrolled, and, for a grouped layer, skip the
// same zero halves in every kernel row. On zmm every such dense layer rolls
// (not grouped ones, which run their blocks in one call): GoogLeNet's 3x3
// convs of 16-32 input channels, unrolled, were 9-19K instructions a kernel
// and ran at a third to a half of the VPDPBUSD rate on Zen 5, fetching
// code; rolled, 21% less time.
func (g *denseGen) rollRows() bool {
	d := g.d
	if d.Win != nil || d.K < 2 || g.nq > maxUnroll {
		return false
	}
	if g.lanes == 16 {
		return !d.SkipZeros
	}
	if !d.SkipZeros {
		return false
	}
	for i := range g.zero {
		if g.zero[i] != g.zero[i%(d.K*g.nq)] {
			return false
		}
	}
	return true
}

// maxUnroll is the most quad steps quads unrolls; more run in a loop.
const maxUnroll = 8

// quads emits n quad steps reading A from aBase(rA), advancing rWp by n*64.
func (g *denseGen) quads(rows, groups, cols, n, aBase int) {
	if n <= maxUnroll {
		for q := 0; q < n; q++ {
			g.kqi = g.kqBase + q
			g.quad(rows, groups, cols, aBase+q*g.quadStep, q*64)
		}
		g.ADDQ(i32(n*64), rWp)
		return
	}
	u := 4
	for n%u != 0 {
		u /= 2
	}
	lp := g.label("k")
	if aBase != 0 {
		g.ADDQ(i32(aBase), rA)
	}
	g.MOVQ(i32(n/u), rK)
	g.Label(lp)
	g.kqi = -1
	for q := 0; q < u; q++ {
		g.quad(rows, groups, cols, q*g.quadStep, q*64)
	}
	g.ADDQ(i32(u*g.quadStep), rA)
	g.ADDQ(i32(u*64), rWp)
	g.DECQ(rK)
	g.JNZ(operand.LabelRef(lp))
	// Put rA back where the next tap expects it.
	if back := aBase + n*g.quadStep; back != 0 {
		g.SUBQ(i32(back), rA)
	}
}

// i16Order is the column order of an i16 row after VPHADDD of its half sums.
var i16Order = []int{0, 1, 4, 5, 2, 3, 6, 7}

// pairShuffle is the VPSHUFB control that turns the bytes of two 8-column rows
// packed together (VPACKSSDW of the rows, VPACKUSWB of its halves: row 0 lanes
// 0-3, row 1 lanes 0-3, row 0 lanes 4-7, row 1 lanes 4-7, lanes holding
// columns order) into row 0's columns 0-7 then row 1's.
func pairShuffle(order []int) []uint32 {
	var ctrl [16]byte
	for p := 0; p < 16; p++ {
		row, lane := (p/4)%2, (p/8)*4+p%4
		ctrl[row*8+order[lane]] = byte(p)
	}
	w := make([]uint32, 4)
	for i := range w {
		w[i] = uint32(ctrl[4*i]) | uint32(ctrl[4*i+1])<<8 | uint32(ctrl[4*i+2])<<16 | uint32(ctrl[4*i+3])<<24
	}
	return w
}

// finish requantizes and stores the block, two rows at a time so that the
// packing shuffles are shared.
func (g *denseGen) finish(rows, groups, cols int) {
	pk := g.pk
	if g.units && g.lanes == 16 {
		g.finishZmm(rows, groups, cols)
		return
	}
	if g.units {
		// zmmEmulated: every row and half on its own, narrowed like an
		// opmask store would (narrow8).
		for r := 0; r < rows; r++ {
			for h := 0; h < g.halves(); h++ {
				c0 := g.lanes * h
				if c0 >= cols {
					continue
				}
				a := g.uacc(r, 0, h)
				pk.scale(a, mem(rM, 8*g.lanes*h), mem(rM, 8*g.lanes*h+4*g.lanes))
				pk.narrow8(a, yX, mem(rO, r*g.d.OutStride+c0), min(8, cols-c0), rK)
			}
		}
		return
	}
	for r := 0; r < rows; r++ {
		a0, a1 := acc(r, 0), acc(r, 1)
		switch {
		case g.path == PathI16:
			g.VPHADDD(a1, a0, a0) // columns i16Order, accumulator starts included
			pk.scale(a0, mem(rM, 0), mem(rM, 32))
		default:
			pk.scale(a0, mem(rM, 0), mem(rM, 32))
			if groups == 2 {
				pk.scale(a1, mem(rM, 64), mem(rM, 96))
			}
		}
	}
	if g.path != PathI16 && groups == 2 {
		g.VMOVDQU(g.shuf16, yW1)
	}
	for r := 0; r < rows; r += 2 {
		r1 := min(r+1, rows-1) // an odd last row pairs with itself
		d0, d1 := mem(rO, r*g.d.OutStride), mem(rO, r1*g.d.OutStride)
		if g.path != PathI16 && groups == 2 {
			// rows of 16: (cols 0-3 8-11 | 4-7 12-15) each, then both rows in one vector.
			p0, p1 := acc(r, 0), acc(r1, 0)
			g.VPACKSSDW(acc(r, 1), p0, yX)
			pk.addZ(yX)
			if r1 != r {
				g.VPACKSSDW(acc(r1, 1), p1, yT)
				pk.addZ(yT)
				g.VPACKUSWB(yT, yX, yX)
			} else {
				g.VPACKUSWB(yX, yX, yX)
			}
			g.VPERMD(yX, yW1, yX)
			if g.d.Narrow {
				g.VPSHUFB(g.transpose, yX, yX)
			}
			pk.clamp(yX)
			storeN(g.Context, yX.AsX(), cols, d0, rK)
			if r1 != r {
				g.VEXTRACTI128(operand.U8(1), yX, yX.AsX())
				storeN(g.Context, yX.AsX(), cols, d1, rK)
			}
			continue
		}
		// rows of 8 (column order i16Order or natural).
		v0, v1 := acc(r, 0), acc(r1, 0)
		g.VPACKSSDW(v1, v0, yX) // row0 0-3, row1 0-3 | row0 4-7, row1 4-7
		pk.addZ(yX)
		g.VEXTRACTI128(operand.U8(1), yX, yT.AsX())
		g.VPACKUSWB(yT.AsX(), yX.AsX(), yX.AsX())
		g.VPSHUFB(g.shuf8, yX.AsX(), yX.AsX())
		pk.clamp(yX.AsX())
		if g.d.Narrow {
			// Positions 8h+q and 8h+4+q are columns 4q+2h and 4q+2h+1
			// (lower.PackNarrow), 8h columns before rO's.
			h := g.half / 32
			for q := range 4 {
				g.VPEXTRW(operand.U8(q), yX.AsX(), mem(rO, r*g.d.OutStride+4*q-6*h))
				if r1 != r {
					g.VPEXTRW(operand.U8(4+q), yX.AsX(), mem(rO, r1*g.d.OutStride+4*q-6*h))
				}
			}
			continue
		}
		storeN(g.Context, yX.AsX(), cols, d0, rK)
		if r1 != r {
			if cols == 8 {
				g.VMOVHPS(yX.AsX(), d1)
			} else {
				g.VPSRLDQ(operand.U8(8), yX.AsX(), yX.AsX())
				storeN(g.Context, yX.AsX(), cols, d1, rK)
			}
		}
	}
}

// finishZmm requantizes and stores a zmm block of groups units: per row, its
// (up to four) accumulators packed into one vector by two saturating packs
// (exact, see packer), put in column order by one VPERMD and written by one
// store, under an opmask when the block has fewer than 64 columns. This is
// about half the work of narrowing every accumulator on its own (VPMOVUSDB).
func (g *denseGen) finishZmm(rows, groups, cols int) {
	pk := g.pk
	full := cols == 64
	if !full {
		setMask(g.Context, reg.K1, cols, rK)
	}
	perm := zmm[29]
	g.VMOVDQU32(g.unpack4, perm)
	// out packs: the conv's lanes, or with an add epilogue the add's, with
	// its zero point and clamp.
	out := pk
	var add *addEpi
	if g.addInRegs() {
		out = pk.add.pk
		add = pk.add.hold(zmm[24:29]) // the k loop's weights and broadcast
	}
	// Each unit's multipliers and biases come from the table, or, without an
	// add epilogue, as many of them as fit (multipliers first) from the
	// registers the k loop leaves, loaded once a block instead of once a
	// row: 20-40 fewer vector loads a six-row strip, for CPUs whose two
	// 512-bit loads a cycle bind short reductions (Zen 5).
	ms, bs := make([]operand.Op, groups), make([]operand.Op, groups)
	for j := range groups {
		ms[j], bs[j] = mem(rM, 128*j), mem(rM, 128*j+64)
	}
	if add == nil && rows > 1 {
		free := []reg.VecPhysical{zmm[24], zmm[25], zmm[26], zmm[27], zmm[28], zmm[30], zmm[31]}
		var ops []*operand.Op
		for j := range groups {
			ops = append(ops, &ms[j])
		}
		for j := range groups {
			ops = append(ops, &bs[j])
		}
		for i, op := range ops[:min(len(ops), len(free))] {
			g.VMOVUPS(*op, free[i])
			*op = free[i]
		}
	}
	for r := 0; r < rows; r++ {
		for j := 0; j < groups; j++ {
			pk.scale(g.uacc(r, j, 0), ms[j], bs[j])
			if add != nil {
				add.inRegs(g.uacc(r, j, 0), zmm[30], mem(rO, r*g.d.OutStride+16*j))
			}
		}
		// After the packs, dword 4i+j of lo holds columns 4i..4i+3 of unit j.
		lo := g.uacc(r, 0, 0)
		g.VPACKSSDW(g.uacc(r, min(1, groups-1), 0), lo, lo)
		out.addZ(lo)
		hi := lo
		if groups > 2 {
			hi = g.uacc(r, 2, 0)
			g.VPACKSSDW(g.uacc(r, groups-1, 0), hi, hi)
			out.addZ(hi)
		}
		g.VPACKUSWB(hi, lo, lo)
		g.VPERMD(lo, perm, lo)
		if g.d.Narrow {
			g.VPSHUFB(g.transpose, lo, lo)
		}
		out.clamp(lo)
		dst := mem(rO, r*g.d.OutStride)
		if full {
			g.VMOVDQU8(lo, dst)
		} else {
			g.VMOVDQU8(lo, reg.K1, dst)
		}
	}
}
