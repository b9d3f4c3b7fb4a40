package asmgen

import (
	"fmt"
	"slices"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/lower"
)

// Depthwise is a k x k depthwise conv (groups = channels) over NHWC with
// exactly C channels per pixel in and out. Padding is handled in the kernel:
// border rows and columns get their own code in which a missing tap reads a
// vector of the input zero point (the accumulators start at -z_x*sum(w)).
//
// Arithmetic: taps are taken in pairs; the two taps' zero-extended inputs are
// interleaved per channel and multiplied with VPMADDWD by the interleaved
// sign-extended weights, so no intermediate can saturate.
type Depthwise struct {
	C, K, Stride, Pad int
	H, W, OH, OW      int
	ZIn, XMax         int32
	Weight            []int8 // C x KH x KW
	Requant

	// Win is any other window (rectangular, per-axis strides, per-side pads,
	// dilation); nil for the square one of K, Stride and Pad (window.go).
	Win *ir.Window
}

// Units is the kernel's work count (output rows); a call computes rows [s0, s1).
func (d *Depthwise) Units() int { return d.OH }

func (d *Depthwise) check() error {
	if d.Win != nil {
		if err := d.checkWin(); err != nil {
			return err
		}
	} else {
		if d.C < 1 || d.K < 1 || d.Stride < 1 || d.Pad < 0 || d.H < 1 || d.W < 1 {
			return fmt.Errorf("asmgen: depthwise C%d k%d s%d p%d %dx%d", d.C, d.K, d.Stride, d.Pad, d.H, d.W)
		}
		if d.OH != (d.H+2*d.Pad-d.K)/d.Stride+1 || d.OW != (d.W+2*d.Pad-d.K)/d.Stride+1 || d.OH < 1 || d.OW < 1 {
			return fmt.Errorf("asmgen: depthwise output %dx%d for %dx%d k%d s%d p%d", d.OH, d.OW, d.H, d.W, d.K, d.Stride, d.Pad)
		}
	}
	if w := d.geom(); len(d.Weight) != d.C*w.Taps() {
		return fmt.Errorf("asmgen: depthwise %d weights for %d channels %dx%d", len(d.Weight), d.C, w.KH, w.KW)
	}
	if d.ZIn < 0 || d.ZIn > 255 {
		return fmt.Errorf("asmgen: input zero point %d", d.ZIn)
	}
	return d.Requant.check(d.C)
}

const dwSig = "func(x, w, y *byte, s0, s1 int)"

// Depthwise adds a depthwise kernel. The avx2 and avx512vnni tiers share the
// tap-pair code (and the u8 path); the avx512 tier has the quad path
// (quadChunk): four taps interleaved per channel for VPDPBUSD, which pays
// once the interleaved kernel columns are kept in registers along a row.
func (p *Program) Depthwise(name string, d *Depthwise, isa Target) error {
	if err := d.check(); err != nil {
		return err
	}
	if d.MaxAbsProd == nil {
		w := d.geom()
		d.MaxAbsProd = prodBounds(d.Weight, d.M, d.B, w.Taps(), d.ZIn, max(d.XMax, d.ZIn))
	}
	if err := p.function(name, dwSig, fmt.Sprintf("%s: depthwise %d channels, %s, %dx%d -> %dx%d.",
		name, d.C, d.geomText(), d.H, d.W, d.OH, d.OW)); err != nil {
		return err
	}
	k := newConsts(p, name, isa)
	g := &dwGen{Context: p.ctx, d: d, cp: d.C, name: name, pk: newPacker(p, k, &d.Requant), w: d.geom()}
	g.pk.askVBMI(p, name, isa)
	g.taps = g.w.Taps()
	for c0 := 0; c0 < d.C; c0 += 16 {
		n := 16
		if d.C-c0 <= 8 {
			n = 8
		}
		g.chunks = append(g.chunks, n)
	}
	// Accumulator starts, multipliers and float biases in accumulator order: a
	// 16-channel chunk's low accumulator holds channels 0-3 and 8-11, the high
	// one 4-7 and 12-15.
	bias := make([]int32, d.C+16)
	copy(bias, lower.ZeroFold(d.Weight, d.C, d.ZIn))
	// Per chunk: accumulator starts, multipliers, float biases.
	var tab []uint32
	for i, n := range g.chunks {
		c0 := 16 * i
		var order []int
		if n == 16 {
			order = []int{0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15}
		} else {
			order = []int{0, 1, 2, 3, 4, 5, 6, 7}
		}
		for _, o := range order {
			tab = append(tab, uint32(bias[c0+o]))
		}
		tab = append(tab, floatBits(inOrder(d.M, c0, order))...)
		tab = append(tab, floatBits(inOrder(d.B, c0, order))...)
	}
	g.tab = k.vec(tab...)
	if isa.ZMM {
		g.emulate = isa.emulated()
		if g.emulate {
			g.ones16 = k.i16(1)
			g.evenBytes, g.oddBytes = k.vec(splat32(0x00FF00FF, 8)...), k.vec(splat32(0xFF00FF00, 8)...)
		}
		g.quadTables(k, bias)
		g.emit()
		return nil
	}
	// The u8 path needs padding taps below 128 too.
	if max(d.ZIn, 0) < 128 && d.C >= 1 {
		g.u8 = true
		g.u8Tables(k, bias)
	}
	zb := uint32(uint8(d.ZIn))
	g.zin = k.vec(splat32(zb|zb<<8|zb<<16|zb<<24, 4)...)
	g.emit()
	return nil
}

type dwGen struct {
	*build.Context
	d        *Depthwise
	cp, taps int   // channel stride (= C), taps per channel
	chunks   []int // channels per chunk: 16, the last one 16 or 8
	name     string
	pk       *packer
	w        ir.Window   // d's window
	tab      operand.Mem // per chunk: folded biases, then multipliers
	zin      operand.Mem // 16 bytes of the input zero point
	labels   int
	// The u8 path (VPMADDUBSW on tap pairs, int16 sums in runs that cannot
	// overflow, see u8Tables): per 32-channel chunk a table of biases,
	// multipliers and interleaved weights, and where each run of pairs ends.
	u8     bool
	u8tab  operand.Mem
	zin32  operand.Mem
	ones16 operand.Mem
	// The quad path (the avx512 tier): VPDPBUSD on four kernel rows packed per
	// channel, over chunks of quadChunk.
	quads []quadChunk
	qtab  operand.Mem
	zin64 operand.Mem
	// emulate: zmmEmulated, the quad path on ymm with AVX2 only (VPDPBUSD
	// as even and odd bytes through VPMADDUBSW, partial stores for opmasks).
	emulate             bool
	evenBytes, oddBytes operand.Mem
}

func (g *dwGen) label(s string) string {
	g.labels++
	return fmt.Sprintf("%s_%d", s, g.labels)
}

// run is a maximal range of output rows or columns whose taps are valid alike.
type run struct {
	from, to int
	valid    []bool // per kernel offset
}

func runs(n, size, k, stride, pad, dil int) []run {
	var rs []run
	for o := 0; o < n; o++ {
		v := make([]bool, k)
		for i := range v {
			p := o*stride - pad + i*dil
			v[i] = p >= 0 && p < size
		}
		if l := len(rs); l > 0 && equalBools(rs[l-1].valid, v) {
			rs[l-1].to = o + 1
			continue
		}
		rs = append(rs, run{o, o + 1, v})
	}
	return rs
}

func equalBools(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Registers.
var (
	dX, dW, dY         = reg.RAX, reg.RBX, reg.RCX
	dS, dS1            = reg.RSI, reg.RDI
	dRow, dPix, dOut   = reg.R8, reg.R9, reg.R10
	dCh, dN, dWc, dTab = reg.R11, reg.R12, reg.R13, reg.R14
	dOutRow            = reg.R15
)

func (g *dwGen) emit() {
	d := g.d
	loadArgs(g.Context, "x w y s0 s1", dX, dW, dY, dS, dS1)
	rowStride, w := d.W*g.cp, g.w
	rows := runs(d.OH, d.H, w.KH, w.SH, w.PadT, w.DH)
	cols := runs(d.OW, d.W, w.KW, w.SW, w.PadL, w.DW)
	done := g.label("done")
	top := g.label("row")
	g.Label(top)
	g.CMPQ(dS, dS1)
	g.JGE(operand.LabelRef(done))
	// dRow = x + (oy*S - P)*W*Cp, dOutRow = y + oy*OW*Cp
	g.IMUL3Q(i32(w.SH*rowStride), dS, dRow)
	g.ADDQ(dX, dRow)
	if w.PadT > 0 {
		g.SUBQ(i32(w.PadT*rowStride), dRow)
	}
	g.IMUL3Q(i32(d.OW*g.cp), dS, dOutRow)
	g.ADDQ(dY, dOutRow)
	next := g.label("next")
	for i, rr := range rows {
		skip := g.label("rows")
		if len(rows) > 1 {
			g.CMPQ(dS, i32(rr.to))
			g.JGE(operand.LabelRef(skip))
		}
		if g.u8 {
			// Rows whose inputs are all below 128 take the u8 path.
			kf, kl := -1, -1
			for ky, v := range rr.valid {
				if v {
					if kf < 0 {
						kf = ky
					}
					kl = ky
				}
			}
			if kf < 0 {
				// Every tap in the padding: zero points, all below 128.
				g.rowU8(rr.valid, cols)
				g.JMP(operand.LabelRef(next))
				g.Label(skip)
				continue
			}
			g.anyHigh(dRow, kf*w.DH*rowStride, ((kl-kf)*w.DH+1)*rowStride)
			wide := g.label("wide")
			g.JNZ(operand.LabelRef(wide))
			g.rowU8(rr.valid, cols)
			g.JMP(operand.LabelRef(next))
			g.Label(wide)
		}
		if g.quads != nil {
			g.rowQuads(rr.valid, cols)
		} else {
			g.row(rr.valid, cols)
		}
		if i < len(rows)-1 {
			g.JMP(operand.LabelRef(next))
		}
		g.Label(skip)
	}
	g.Label(next)
	g.pk.lutFlat(dOutRow, d.OW*g.cp, dPix, dN, reg.RDX, g.label("lut"))
	g.INCQ(dS)
	g.JMP(operand.LabelRef(top))
	g.Label(done)
	g.VZEROUPPER()
	g.RET()
}

// row emits one output row: for each channel chunk, the runs of columns.
func (g *dwGen) row(vy []bool, cols []run) {
	full := g.d.C / 16
	g.MOVQ(dW, dWc)
	g.LEAQ(g.tab, dTab)
	g.XORQ(dCh, dCh) // byte offset of the chunk
	if full > 0 {
		lp := g.label("chunk")
		g.Label(lp)
		g.chunk(vy, cols, 16, 16)
		g.ADDQ(i32(16), dCh)
		g.ADDQ(i32(16), dWc)
		g.ADDQ(i32(192), dTab)
		g.CMPQ(dCh, i32(16*full))
		g.JL(operand.LabelRef(lp))
	}
	if rem := g.d.C % 16; rem > 0 {
		g.chunk(vy, cols, g.chunks[len(g.chunks)-1], rem)
	}
}

// Vector registers: weights (pairs x lo/hi) from Y0, then accumulators and temporaries.
func (g *dwGen) wreg(pair, half int) reg.VecPhysical { return ymm[2*pair+half] }

// chunk emits the columns of one row for a chunk of n (16 or 8) channels of
// which the first store are real. Loads run past a pixel's channels (into the
// next pixel, or the arena's slack); those lanes are never stored.
func (g *dwGen) chunk(vy []bool, cols []run, n, store int) {
	d := g.d
	pairs := (g.taps + 1) / 2
	inRegs := pairs <= 5 // 10 weight registers leave 6 for the pixel
	x := func(r reg.VecPhysical) reg.Register {
		if n == 8 {
			return r.AsX()
		}
		return r
	}
	// expand loads the weight pair vectors (lo, hi) of pair p into w0, w1 (t0, t1 scratch).
	expand := func(p int, w0, w1, t0, t1 reg.VecPhysical) {
		ta, tb := 2*p, 2*p+1
		g.VPMOVSXBW(mem(dWc, ta*g.cp), x(t0))
		if tb < g.taps {
			g.VPMOVSXBW(mem(dWc, tb*g.cp), x(t1))
		} else {
			g.VPXOR(x(t1), x(t1), x(t1))
		}
		g.VPUNPCKLWD(x(t1), x(t0), x(w0))
		g.VPUNPCKHWD(x(t1), x(t0), x(w1))
	}
	if inRegs {
		for p := 0; p < pairs; p++ {
			expand(p, g.wreg(p, 0), g.wreg(p, 1), reg.Y14, reg.Y15)
		}
	}
	acc0, acc1 := reg.Y10, reg.Y11
	ta, tb, tl, th := reg.Y12, reg.Y13, reg.Y14, reg.Y15
	// dPix = dRow + chunk - P*Cp (input of column 0), dOut = dOutRow + chunk.
	g.LEAQ(operand.Mem{Base: dRow, Index: dCh, Scale: 1, Disp: -g.w.PadL * g.cp}, dPix)
	g.LEAQ(operand.Mem{Base: dOutRow, Index: dCh, Scale: 1}, dOut)
	pixel := func(vx []bool) {
		tapSrc := func(t int) operand.Mem {
			ky, kx := t/g.w.KW, t%g.w.KW
			if !vy[ky] || !vx[kx] {
				return g.zin
			}
			return mem(dPix, (ky*g.w.DH*d.W+kx*g.w.DW)*g.cp)
		}
		g.VMOVDQU(mem(dTab, 0), x(acc0))
		g.VMOVDQU(mem(dTab, 2*n), x(acc1))
		for p := 0; p < pairs; p++ {
			a, b := 2*p, 2*p+1
			g.VPMOVZXBW(tapSrc(a), x(ta))
			if b < g.taps {
				g.VPMOVZXBW(tapSrc(b), x(tb))
			} else {
				tb = ta // weight partner is zero
			}
			g.VPUNPCKLWD(x(tb), x(ta), x(tl))
			g.VPUNPCKHWD(x(tb), x(ta), x(th))
			tb = reg.Y13
			var w0, w1 reg.VecPhysical
			if inRegs {
				w0, w1 = g.wreg(p, 0), g.wreg(p, 1)
			} else {
				// Out of registers: expand this pair's weights for every pixel.
				w0, w1 = reg.Y0, reg.Y1
				expand(p, w0, w1, ta, tb)
			}
			g.VPMADDWD(x(w0), x(tl), x(tl))
			g.VPADDD(x(tl), x(acc0), x(acc0))
			g.VPMADDWD(x(w1), x(th), x(th))
			g.VPADDD(x(th), x(acc1), x(acc1))
		}
		// acc0 = ch 0-3 | 8-11, acc1 = 4-7 | 12-15: one pack restores the order.
		pk := g.pk
		pk.scale(x(acc0), mem(dTab, 4*n), mem(dTab, 8*n))
		pk.scale(x(acc1), mem(dTab, 4*n+2*n), mem(dTab, 8*n+2*n))
		if n == 16 {
			g.VPACKSSDW(acc1, acc0, acc0)
			pk.addZ(acc0)
			g.VEXTRACTI128(operand.U8(1), acc0, tl.AsX())
			g.VPACKUSWB(tl.AsX(), acc0.AsX(), acc0.AsX())
			pk.clamp(acc0.AsX())
			storeN(g.Context, acc0.AsX(), store, mem(dOut, 0), reg.RDX)
		} else {
			g.VPACKSSDW(acc1.AsX(), acc0.AsX(), acc0.AsX())
			pk.addZ(acc0.AsX())
			g.VPACKUSWB(acc0.AsX(), acc0.AsX(), acc0.AsX())
			pk.clamp(acc0.AsX())
			storeN(g.Context, acc0.AsX(), store, mem(dOut, 0), reg.RDX)
		}
	}
	for _, c := range cols {
		g.repeat("px", c.to-c.from, func() {
			pixel(c.valid)
			g.nextPixel()
		})
	}
}

// repeat emits body cnt times, as a loop counted in dN when cnt > 1; name
// labels the loop.
func (g *dwGen) repeat(name string, cnt int, body func()) {
	lp := g.label(name)
	if cnt > 1 {
		g.MOVQ(i32(cnt), dN)
		g.Label(lp)
	}
	body()
	if cnt > 1 {
		g.DECQ(dN)
		g.JNZ(operand.LabelRef(lp))
	}
}

// nextPixel moves dPix and dOut to the next output pixel's input and output.
func (g *dwGen) nextPixel() {
	g.ADDQ(i32(g.w.SW*g.cp), dPix)
	g.ADDQ(i32(g.cp), dOut)
}

// u8ChunkBytes is the size of one 32-channel chunk's u8 table: 32 accumulator
// starts, 32 multipliers, 32 float biases (all in accumulator order, u8Order),
// then per tap pair the low and high interleaved weights.
func (g *dwGen) u8ChunkBytes() int { return u8Weights + 64*((g.taps+1)/2) }

// u8Weights is the offset of the interleaved weights in a u8 chunk table.
const u8Weights = 384

// u8Order is the channel order of the u8 path's four int32 accumulators.
var u8Order = []int{0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23,
	8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31}

// u8Tables builds the u8 path's tables. Each pair's VPMADDUBSW sums two
// products of 7-bit inputs and int8 weights (|sum| <= 127*128*2: no
// saturation); two pairs' int16 sums are then interleaved and added into
// int32 by VPMADDWD with ones.
func (g *dwGen) u8Tables(k *consts, bias []int32) {
	d := g.d
	pairs := (g.taps + 1) / 2
	w := func(t, c int) int32 {
		if t >= g.taps || c >= d.C {
			return 0
		}
		return int32(d.Weight[c*g.taps+t])
	}
	var tab []uint32
	for c0 := 0; c0 < d.C; c0 += 32 {
		for _, o := range u8Order {
			b := int32(0)
			if c := c0 + o; c < d.C {
				b = bias[c]
			}
			tab = append(tab, uint32(b))
		}
		tab = append(tab, floatBits(inOrder(d.M, c0, u8Order))...)
		tab = append(tab, floatBits(inOrder(d.B, c0, u8Order))...)
		for p := 0; p < pairs; p++ {
			ta, tb := 2*p, 2*p+1
			// VPUNPCKLBW pairs channels 0-7 (lane 0) and 16-23 (lane 1);
			// VPUNPCKHBW channels 8-15 and 24-31.
			for _, half := range [][2]int{{0, 16}, {8, 24}} {
				var bs []byte
				for _, base := range half {
					for i := 0; i < 8; i++ {
						c := c0 + base + i
						bs = append(bs, byte(w(ta, c)), byte(w(tb, c)))
					}
				}
				for i := 0; i < 32; i += 4 {
					tab = append(tab, uint32(bs[i])|uint32(bs[i+1])<<8|uint32(bs[i+2])<<16|uint32(bs[i+3])<<24)
				}
			}
		}
	}
	g.u8tab = k.vec(tab...)
	zb := uint32(uint8(d.ZIn))
	g.zin32 = k.vec(splat32(zb|zb<<8|zb<<16|zb<<24, 8)...)
	g.ones16 = k.i16(1)
}

// anyHigh sets ZF clear when any of the n bytes at base+off is 128 or more
// (read in 32-byte steps, maybe past the end: only more conservative).
func (g *dwGen) anyHigh(base reg.Register, off, n int) {
	for i := 0; i < (n+31)/32; i++ {
		if i == 0 {
			g.VMOVDQU(mem(base, off), reg.Y0)
			continue
		}
		g.VPOR(mem(base, off+32*i), reg.Y0, reg.Y0)
	}
	g.VPMOVMSKB(reg.Y0, reg.EDX)
	g.TESTL(reg.EDX, reg.EDX)
}

// rowU8 emits one output row on the u8 path: 32-channel chunks, the last
// one partial.
func (g *dwGen) rowU8(vy []bool, cols []run) {
	d := g.d
	g.LEAQ(g.u8tab, dTab)
	g.VMOVDQU(g.ones16, reg.Y15)
	g.VPXOR(reg.Y14, reg.Y14, reg.Y14)
	g.XORQ(dCh, dCh) // byte offset of the chunk
	chunk := func(store int) {
		// dPix = dRow + chunk - P*C, dOut = dOutRow + chunk.
		g.LEAQ(operand.Mem{Base: dRow, Index: dCh, Scale: 1, Disp: -g.w.PadL * g.cp}, dPix)
		g.LEAQ(operand.Mem{Base: dOutRow, Index: dCh, Scale: 1}, dOut)
		for _, c := range cols {
			g.repeat("px8", c.to-c.from, func() {
				g.pixelU8(vy, c.valid, store)
				g.nextPixel()
			})
		}
	}
	if full := d.C / 32; full > 0 {
		lp := g.label("chunk8")
		g.Label(lp)
		chunk(32)
		g.ADDQ(i32(32), dCh)
		g.ADDQ(i32(g.u8ChunkBytes()), dTab)
		g.CMPQ(dCh, i32(32*full))
		g.JL(operand.LabelRef(lp))
	}
	if rem := d.C % 32; rem > 0 {
		chunk(rem)
	}
}

// pixelU8 computes one pixel's 32-channel chunk into four int32
// accumulators (channels u8Order) and stores store of its bytes.
// Registers: Y15 int16 ones, Y14 zero.
func (g *dwGen) pixelU8(vy, vx []bool, store int) {
	d := g.d
	acc := []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3}
	tapSrc := func(t int) operand.Mem {
		ky, kx := t/g.w.KW, t%g.w.KW
		if !vy[ky] || !vx[kx] {
			return g.zin32
		}
		return mem(dPix, (ky*g.w.DH*d.W+kx*g.w.DW)*g.cp)
	}
	// pair leaves the int16 sums of pair p in l (channels 0-7 | 16-23) and h (8-15 | 24-31).
	pair := func(p int, l, h, t reg.VecPhysical) {
		a, b := 2*p, 2*p+1
		g.VMOVDQU(tapSrc(a), l)
		src := l
		if b < g.taps {
			g.VMOVDQU(tapSrc(b), t)
			src = t
		}
		g.VPUNPCKHBW(src, l, h)
		g.VPUNPCKLBW(src, l, l)
		g.VPMADDUBSW(mem(dTab, u8Weights+64*p), l, l)
		g.VPMADDUBSW(mem(dTab, u8Weights+64*p+32), h, h)
	}
	pairs := (g.taps + 1) / 2
	l0, h0, l1, h1, t := reg.Y4, reg.Y5, reg.Y6, reg.Y7, reg.Y8
	for p := 0; p < pairs; p += 2 {
		pair(p, l0, h0, t)
		if p+1 < pairs {
			pair(p+1, l1, h1, t)
		} else {
			l1, h1 = reg.Y14, reg.Y14
		}
		// (s_p, s_p+1) per channel -> int32 sums, in u8Order.
		parts := []struct {
			lo   bool
			a, b reg.VecPhysical
			dst  int
		}{
			{true, l0, l1, 0}, {false, l0, l1, 1}, {true, h0, h1, 2}, {false, h0, h1, 3},
		}
		tmp := []reg.VecPhysical{reg.Y9, reg.Y10, reg.Y11, reg.Y12}
		for i, q := range parts {
			if q.lo {
				g.VPUNPCKLWD(q.b, q.a, tmp[i])
			} else {
				g.VPUNPCKHWD(q.b, q.a, tmp[i])
			}
		}
		for i, q := range parts {
			if p == 0 {
				g.VPMADDWD(reg.Y15, tmp[i], acc[q.dst])
				continue
			}
			g.VPMADDWD(reg.Y15, tmp[i], tmp[i])
			g.VPADDD(tmp[i], acc[q.dst], acc[q.dst])
		}
		l1, h1 = reg.Y6, reg.Y7
	}
	pk := g.pk
	for i, a := range acc {
		g.VPADDD(mem(dTab, 32*i), a, a)
		pk.scale(a, mem(dTab, 128+32*i), mem(dTab, 256+32*i))
	}
	// (0-7 | 16-23), (8-15 | 24-31) as int16, then bytes in order.
	pk.pack4(acc[0], acc[1], acc[2], acc[3])
	pk.clamp(acc[0])
	switch {
	case store == 32:
		g.VMOVDQU(acc[0], mem(dOut, 0))
	case store > 16:
		g.VMOVDQU(acc[0].AsX(), mem(dOut, 0))
		g.VEXTRACTI128(operand.U8(1), acc[0], reg.X4)
		storeN(g.Context, reg.X4, store-16, mem(dOut, 16), reg.RDX)
	default:
		storeN(g.Context, acc[0].AsX(), store, mem(dOut, 0), reg.RDX)
	}
}

// inOrder is v[c0+o] for each o of order, zero past the end of v (or for a nil v).
func inOrder(v []float32, c0 int, order []int) []float32 {
	out := make([]float32, len(order))
	for i, o := range order {
		if c := c0 + o; c < len(v) {
			out[i] = v[c]
		}
	}
	return out
}

// quadChunk is a run of channels of the quad path: the channels [c0, c0+n)
// on vectors of lanes int32 lanes (16: zmm, 8: ymm), whose constants start at
// byte off of qtab; or, px > 1, the n/px channels of px pixels a vector.
type quadChunk struct{ c0, n, lanes, off, px int }

// pixelsPerVector is the output pixels one vector of vb bytes computes: vb/C
// for a stride-1 layer of fewer channels that divide it (16 channels, four
// pixels a zmm: a pixel's taps and its neighbours' are adjacent bytes), else 1.
func (g *dwGen) pixelsPerVector(vb int) int {
	if c := g.d.C; c < vb && vb%c == 0 && g.w.SW == 1 {
		return vb / c
	}
	return 1
}

// The quad path computes a chunk of 4*lanes channels in four accumulators.
// The inputs of kernel rows 4g..4g+3 at one kernel column are interleaved
// byte by byte and then word by word (VPUNPCKL/HBW, VPUNPCKL/HWD): every
// dword then holds one channel's four taps, and VPDPBUSD adds their four
// products (u8 x s8 into int32, exact) with the weights packed alike. The
// unpacks stay inside 128-bit lanes, so accumulator i holds, in the lane's
// dword j, channel 16L+4i+j of 128-bit lane L: the saturating packs of the
// epilogue put them back in order. A kernel column entirely in the padding
// reads the zero point at every tap, which is already such a vector.

// quadGroups is the number of groups of four kernel rows.
func (g *dwGen) quadGroups() int { return (g.w.KH + 3) / 4 }

// quadTables lays out the chunks (64 channels on zmm; a last chunk of 32 or
// fewer on ymm; 32 on ymm when emulated) and their constants: accumulator starts, multipliers, float
// biases (four vectors each), then per kernel column and row group the four
// weight vectors.
func (g *dwGen) quadTables(k *consts, bias []int32) {
	d := g.d
	var words []uint32
	vmax := 64
	if g.emulate {
		vmax = 32
	}
	for c0 := 0; c0 < d.C; {
		n, lanes := min(vmax, d.C-c0), 16
		if n <= 32 {
			lanes = 8
		}
		// A vector of several pixels: vector byte o is channel o%C.
		px := g.pixelsPerVector(vmax)
		if px > 1 {
			n, lanes = vmax, vmax/4
		}
		g.quads = append(g.quads, quadChunk{c0: c0, n: n, lanes: lanes, off: 4 * len(words), px: px})
		ch := func(o int) int { return c0 + o%(n/px) }
		// order[i] lists accumulator i's channels (relative to c0) lane by lane.
		order := make([][]int, 4)
		for i := range order {
			for l := 0; l < lanes/4; l++ {
				for j := 0; j < 4; j++ {
					order[i] = append(order[i], 16*l+4*i+j)
				}
			}
		}
		for i := range 4 {
			for _, o := range order[i] {
				b := int32(0)
				if o < n {
					b = bias[ch(o)]
				}
				words = append(words, uint32(b))
			}
		}
		for _, v := range [][]float32{d.M, d.B} {
			for i := range 4 {
				ord := order[i]
				f := make([]float32, len(ord))
				for x, o := range ord {
					if o < n && v != nil {
						f[x] = v[ch(o)]
					}
				}
				words = append(words, floatBits(f)...)
			}
		}
		for kx := 0; kx < g.w.KW; kx++ {
			for gr := 0; gr < g.quadGroups(); gr++ {
				for i := range 4 {
					for _, o := range order[i] {
						var w uint32
						for t := 0; t < 4; t++ {
							ky := 4*gr + t
							if o < n && ky < g.w.KH {
								w |= uint32(uint8(d.Weight[ch(o)*g.taps+ky*g.w.KW+kx])) << (8 * t)
							}
						}
						words = append(words, w)
					}
				}
			}
		}
		c0 += n / px
	}
	g.qtab = k.vec(words...)
	zb := uint32(uint8(d.ZIn))
	g.zin64 = k.vec(splat32(zb|zb<<8|zb<<16|zb<<24, 16)...)
}

// quadBytes is the size of a chunk's constants.
func (g *dwGen) quadBytes(q quadChunk) int { return 4 * q.lanes * (12 + 4*g.w.KW*g.quadGroups()) }

// rowQuads emits one output row on the quad path.
func (g *dwGen) rowQuads(vy []bool, cols []run) {
	g.LEAQ(g.qtab, dTab)
	g.XORQ(dCh, dCh) // byte offset of the chunk
	// The chunks like the first (all full) loop; a different last one follows.
	full := 0
	for _, q := range g.quads {
		if q.n == g.quads[0].n && q.lanes == g.quads[0].lanes {
			full++
		}
	}
	if full > 0 {
		q := g.quads[0]
		lp := g.label("qchunk")
		g.Label(lp)
		g.chunkQuads(vy, cols, q)
		g.ADDQ(i32(q.n), dCh)
		g.ADDQ(i32(g.quadBytes(q)), dTab)
		if full > 1 {
			g.CMPQ(dCh, i32(q.n*full))
			g.JL(operand.LabelRef(lp))
		}
	}
	if len(g.quads) > full {
		g.chunkQuads(vy, cols, g.quads[full])
	}
}

// chunkQuads emits the columns of one row for chunk q (at dCh, constants at dTab).
func (g *dwGen) chunkQuads(vy []bool, cols []run, q quadChunk) {
	d := g.d
	vb := 4 * q.lanes // vector bytes
	v := func(i int) reg.VecPhysical {
		if q.lanes == 8 {
			return zmm[i].AsY().(reg.VecPhysical)
		}
		return zmm[i]
	}
	accs := []reg.VecPhysical{v(0), v(1), v(2), v(3)}
	tmp := []reg.VecPhysical{v(4), v(5), v(6), v(7)}
	zp := v(14)
	// Packed kernel columns, one pixel at a time: registers 15-18; emulated,
	// Y10-Y13 and Y15 a scratch. A window (below) has its own.
	set := []reg.VecPhysical{v(15), v(16), v(17), v(18)}
	if g.emulate {
		set = []reg.VecPhysical{v(10), v(11), v(12), v(13)}
	}
	zset := []reg.VecPhysical{zp, zp, zp, zp}
	// load is a plain vector load (EVEX for the registers above 15).
	load := func(m operand.Op, r reg.VecPhysical) {
		if g.emulate {
			g.VMOVDQU(m, r)
		} else {
			g.VMOVDQU64(m, r)
		}
	}
	load(g.zin64, zp)
	var mask reg.Register
	if q.n < vb && !g.emulate {
		setMask(g.Context, reg.K1, q.n, reg.RDX)
		mask = reg.K1
	}
	g.LEAQ(operand.Mem{Base: dRow, Index: dCh, Scale: 1, Disp: -g.w.PadL * g.cp}, dPix)
	g.LEAQ(operand.Mem{Base: dOutRow, Index: dCh, Scale: 1}, dOut)
	wOff := func(kx, gr, i int) int { return vb * (12 + 4*(kx*g.quadGroups()+gr) + i) }
	// pack interleaves kernel rows 4gr..4gr+3 of the input column at byte
	// offset off from dPix into dst, the padding's taps read from zero (zp,
	// or the zero points in memory where a window holds no zp); every tap
	// padding, it returns zset (the zero points in dst without zp).
	pack := func(off, gr int, valid bool, dst []reg.VecPhysical, zero operand.Op) []reg.VecPhysical {
		var src [4]*operand.Mem
		live := false
		for t := range 4 {
			if ky := 4*gr + t; ky < g.w.KH && vy[ky] && valid {
				m := mem(dPix, ky*g.w.DH*d.W*g.cp+off)
				src[t], live = &m, true
			}
		}
		if !live && zero == zp {
			return zset
		}
		if !live {
			for _, r := range dst {
				load(g.zin64, r)
			}
			return dst
		}
		// A row past the kernel (the fourth of a 3x3) meets zero weights:
		// any bytes do, so it takes no load (a padding row's must be zp).
		past := func(t int) bool { return 4*gr+t >= g.w.KH }
		first := func(t int, r reg.VecPhysical) {
			switch {
			case src[t] != nil:
				load(*src[t], r)
			case !past(t):
				load(g.zin64, r)
			}
		}
		second := func(t int, r reg.VecPhysical) operand.Op {
			switch {
			case src[t] != nil:
				return *src[t]
			case past(t):
				return r
			}
			return zero
		}
		// Rows 0 and 1 interleaved by bytes in tmp 0 (low halves) and 2,
		// rows 2 and 3 in tmp 1 and 3; then by words into dst.
		first(0, tmp[0])
		first(2, tmp[1])
		g.VPUNPCKHBW(second(1, tmp[0]), tmp[0], tmp[2])
		g.VPUNPCKLBW(second(1, tmp[0]), tmp[0], tmp[0])
		g.VPUNPCKHBW(second(3, tmp[1]), tmp[1], tmp[3])
		g.VPUNPCKLBW(second(3, tmp[1]), tmp[1], tmp[1])
		g.VPUNPCKLWD(tmp[1], tmp[0], dst[0])
		g.VPUNPCKHWD(tmp[1], tmp[0], dst[1])
		g.VPUNPCKLWD(tmp[3], tmp[2], dst[2])
		g.VPUNPCKHWD(tmp[3], tmp[2], dst[3])
		return dst
	}
	begin := func() {
		for i, a := range accs {
			load(mem(dTab, vb*i), a)
		}
	}
	// dot adds kernel column kx's products; its weights are wr's registers
	// 4kx.. where a window holds them, else read from the table.
	dot := func(kx, gr int, packed []reg.VecPhysical, wr []reg.VecPhysical) {
		for i, a := range accs {
			if wr != nil {
				g.VPDPBUSD(wr[4*kx+i], packed[i], a)
				continue
			}
			if !g.emulate {
				g.VPDPBUSD(mem(dTab, wOff(kx, gr, i)), packed[i], a)
				continue
			}
			// One product per int16 (no saturation), summed in pairs.
			t := v(15)
			for _, half := range []operand.Mem{g.evenBytes, g.oddBytes} {
				g.VPAND(half, packed[i], t)
				g.VPMADDUBSW(mem(dTab, wOff(kx, gr, i)), t, t)
				g.VPMADDWD(g.ones16, t, t)
				g.VPADDD(t, a, a)
			}
		}
	}
	// maskFor is the opmask storing a vector's first px pixels: none (or
	// the chunk's K1) for all of them, K2 for one (a border pixel), K3 for
	// the end of the run whose taps are all valid (set below).
	maskFor := func(px int) reg.Register {
		switch px {
		case q.px:
			return mask
		case 1:
			return reg.K2
		}
		return reg.K3
	}
	end := func(px int) {
		pk := g.pk
		for i, a := range accs {
			pk.scale(a, mem(dTab, vb*(4+i)), mem(dTab, vb*(8+i)))
		}
		pk.pack4(accs[0], accs[1], accs[2], accs[3])
		pk.clamp(accs[0])
		n := q.n / q.px * px
		switch {
		case g.emulate && n == vb:
			g.VMOVDQU(accs[0], mem(dOut, 0))
		case g.emulate:
			// The bytes an opmask of n bits would store.
			x := accs[0].AsX()
			if n > 16 {
				g.VMOVDQU(x, mem(dOut, 0))
				g.VEXTRACTI128(operand.U8(1), accs[0], x)
			}
			storeN(g.Context, x, n-16*(n/17), mem(dOut, 16*(n/17)), reg.RDX)
		case maskFor(px) != nil:
			g.VMOVDQU8(accs[0], maskFor(px), mem(dOut, 0))
		default:
			g.VMOVDQU8(accs[0], mem(dOut, 0))
		}
		g.ADDQ(i32(px*g.w.SW*g.cp), dPix)
		g.ADDQ(i32(px*g.cp), dOut)
	}
	if q.px > 1 && !g.emulate {
		// The partial vectors the runs below store: one pixel (borders) and
		// the end of the one run whose taps are all valid.
		setMask(g.Context, reg.K2, q.n/q.px, reg.RDX)
		for _, c := range cols {
			if px := (c.to - c.from) % q.px; px > 1 && !slices.Contains(c.valid, false) {
				setMask(g.Context, reg.K3, px*q.n/q.px, reg.RDX)
			}
		}
	}
	pixel := func(vx []bool, px int) {
		begin()
		for kx := 0; kx < g.w.KW; kx++ {
			for gr := 0; gr < g.quadGroups(); gr++ {
				dot(kx, gr, pack(kx*g.w.DW*g.cp, gr, vx[kx], set, zp), nil)
			}
		}
		end(px)
	}
	// window runs cnt pixels whose taps are all inside the image keeping the
	// packed kernel columns in registers: a column packed for one pixel serves
	// the next ones (stride 1: every column is packed once instead of K times).
	// slots[kx] is the register set holding kernel column kx; the loop is
	// unrolled until the assignment comes back to the start.
	window := func(cnt int) {
		k, st := g.w.KW, g.w.SW*q.px
		// Set i of packed kernel columns is registers 8+4i..11+4i, and
		// up to 3 columns the weights stay in the registers after them (a
		// table read per product bound the kernel by its loads on Zen 5);
		// the padding's zero points come from memory, zp's register is a
		// set's. Only pixels outside windows use zp: it is loaded again.
		wset := func(i int) []reg.VecPhysical {
			return []reg.VecPhysical{v(8 + 4*i), v(9 + 4*i), v(10 + 4*i), v(11 + 4*i)}
		}
		var wr []reg.VecPhysical
		if k <= 3 {
			for r := range 4 * k {
				wr = append(wr, v(8+4*k+r))
				load(mem(dTab, wOff(r/4, 0, r%4)), wr[r])
			}
		}
		slots := make([]int, k)
		for kx := range slots {
			slots[kx] = kx
		}
		held := make([][]reg.VecPhysical, k) // the packed column set s holds
		step := func(fresh int) {
			begin()
			for kx := 0; kx < k; kx++ {
				if kx >= k-fresh {
					held[slots[kx]] = pack(kx*g.cp, 0, true, wset(slots[kx]), g.zin64)
				}
				dot(kx, 0, held[slots[kx]], wr)
			}
			end(q.px)
			slots = advance(slots, st)
		}
		step(k)
		cnt--
		u, _ := windowPeriod(k, st)
		if n := cnt / u; n > 0 {
			lp := g.label("qwin")
			if n > 1 {
				g.MOVQ(i32(n), dN)
			}
			g.Label(lp)
			for range u {
				step(min(st, k))
			}
			if n > 1 {
				g.DECQ(dN)
				g.JNZ(operand.LabelRef(lp))
			}
		}
		for range cnt % u {
			step(min(st, k))
		}
		load(g.zin64, zp)
	}
	for _, c := range cols {
		cnt := c.to - c.from
		inside := !slices.Contains(c.valid, false)
		if q.px > 1 && !inside {
			// A border pixel's neighbours read other taps: one pixel a vector.
			g.repeat("qpx", cnt, func() { pixel(c.valid, 1) })
			continue
		}
		vecs := cnt / q.px
		if _, ok := windowPeriod(g.w.KW, g.w.SW*q.px); inside && vecs > 1 && g.quadGroups() == 1 && ok && !g.emulate && g.slides() {
			window(vecs)
		} else if vecs > 0 {
			g.repeat("qpx", vecs, func() { pixel(c.valid, q.px) })
		}
		if rem := cnt % q.px; rem > 0 {
			pixel(c.valid, rem)
		}
	}
}

// windowPeriod is the number of steps after which the register sets of a
// window (k kernel columns, stride st) come back to where they were after
// the first step: the unrolled loop body. ok is false where there is no such
// period within k*k steps (then the row runs without a window).
func windowPeriod(k, st int) (u int, ok bool) {
	if st >= k {
		return 0, false
	}
	first := make([]int, k)
	for kx := range first {
		first[kx] = kx
	}
	first = advance(first, st)
	s := advance(first, st)
	for u = 1; u <= k*k; u++ {
		if equalInts(s, first) {
			return u, true
		}
		s = advance(s, st)
	}
	return 0, false
}

// advance is the register sets of a window's kernel columns after a step of
// stride st: column kx+st becomes column kx, the sets left free take the new
// columns (lowest first, so that the assignment is periodic).
func advance(slots []int, st int) []int {
	k := len(slots)
	next := make([]int, k)
	used := make([]bool, k)
	for kx := range next {
		next[kx] = -1
		if kx+st < k {
			next[kx] = slots[kx+st]
			used[next[kx]] = true
		}
	}
	free := 0
	for kx := range next {
		if next[kx] < 0 {
			for used[free] {
				free++
			}
			next[kx], used[free] = free, true
		}
	}
	return next
}

func equalInts(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}
