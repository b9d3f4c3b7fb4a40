package asmgen

import (
	"fmt"
	"math"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/runtime"
)

// The kernels of the byte-wise layers: Table, Mul and Concat. They are
// written with AVX2 only (ymm) for every tier: the avx512 tiers run the same
// code, but for a Mul and a Concat's requantized inputs, bound by their
// conversions and multiplies (Mul, Concat). Each kernel requantizes as the
// interpreter does (compiler/interp_ops.go), with packer's tail.

// ByteBlock is the bytes of one unit of the flat kernels (a Table with one
// table, an elementwise Mul): one ymm of codes.
const ByteBlock = 32

// flatUnits is the units of a flat kernel over n bytes.
func flatUnits(n int) int { return (n + ByteBlock - 1) / ByteBlock }

// rowsOrFlat is the units of a kernel that works by rows when byRows (a
// table per channel, a broadcast Mul), else over n flat bytes.
func rowsOrFlat(byRows bool, rows, n int) int {
	if byRows {
		return rows
	}
	return flatUnits(n)
}

// avx2Design is the target the byte-wise kernels are generated for on every tier.
var avx2Design = Target{Tier: runtime.AVX2}

// Table looks every byte of N up in a table of 256 (one for all channels) or
// 256*C bytes (one per channel of pixels of C channels): y = T[c][x].
type Table struct {
	N, C     int  // bytes (H*W*C) and channels
	PerChan  bool // a table per channel
	Rows, RW int  // rows of the output and pixels per row (the units of a per-channel table)
	// T is the one table's contents when known: rows of one value are then
	// constants in the code (lut), not shuffles. The kernel still reads the
	// others from w.
	T []uint8
	// Affine, with PerChan, is the arithmetic the tables hold (an affine's:
	// compiler.TableAffine): 8 channels a vector compute it, the channels
	// left over (C mod 8) look their bytes up.
	Affine *compiler.TableAffine
}

// Units is the kernel's work count: blocks of ByteBlock bytes, or rows for
// per-channel tables.
func (t *Table) Units() int { return rowsOrFlat(t.PerChan, t.Rows, t.N) }

const tableSig = "func(x, w, y *byte, s0, s1 int)"

// Table adds a table-lookup kernel; w is the table.
//
// One table: lut's lookup, 32 bytes at a time: at most 16 shuffles, 8 ORs
// and 7 blends (a tree of 15 blends measured 7% slower on Zen 3).
// Per channel: one byte at a time, the table advancing by 256 a channel.
func (p *Program) Table(name string, t *Table) error {
	if t.N < 1 || t.C < 1 || t.N%t.C != 0 || t.PerChan && t.Rows*t.RW*t.C != t.N {
		return fmt.Errorf("asmgen: table of %d bytes, %d channels, %d rows of %d", t.N, t.C, t.Rows, t.RW)
	}
	if err := p.function(name, tableSig, fmt.Sprintf("%s: table lookup of %d bytes.", name, t.N)); err != nil {
		return err
	}
	c := p.ctx
	px, pw, py, s, s1 := reg.RAX, reg.RBX, reg.RCX, reg.RSI, reg.RDI
	loadArgs(c, "x w y s0 s1", px, pw, py, s, s1)
	if t.PerChan && t.Affine != nil {
		if len(t.Affine.Scale) != t.C || len(t.Affine.Shift) != t.C {
			return fmt.Errorf("asmgen: affine of %d scales and %d shifts for %d channels", len(t.Affine.Scale), len(t.Affine.Shift), t.C)
		}
		tableAffine(p, name, t, px, pw, py, s, s1)
		return nil
	}
	if t.PerChan {
		tableChannels(c, name, t, px, pw, py, s, s1)
		return nil
	}
	k := newConsts(p, name, avx2Design)
	c.VMOVDQU(k.u8(0x0F), reg.Y14)
	c.VMOVDQU(k.u8(0x80), reg.Y15)
	l := &lut{c: c, t: t.T, row: func(j int) operand.Mem { return mem(pw, 16*j) }, nib: reg.Y14, top: reg.Y15, konst: func(v uint8) operand.Mem { return k.u8(int32(v)) }}
	r := &lutRegs{x: reg.Y0, even: reg.Y1, odd: reg.Y2, t0: reg.Y10, t1: reg.Y11, m5: reg.Y3, m6: reg.Y4,
		stack: [4]reg.VecPhysical{reg.Y5, reg.Y6, reg.Y7, reg.Y8}}
	block := func(n int) {
		c.VMOVDQU(mem(px, 0), r.x)
		storeBytes(c, l.lookup(r), n, mem(py, 0), reg.RDX)
	}
	flatLoop(c, name, t.N, []reg.Register{px, py}, s, s1, block)
	c.VZEROUPPER()
	c.RET()
	return nil
}

// tableChannels is the per-channel Table's loop over the pixels of rows
// [s, s1): 16 channels at a time unrolled, each byte a load, a load from its
// channel's table and a store, in four registers in turn.
func tableChannels(c *build.Context, name string, t *Table, px, pw, py, s, s1 reg.GPPhysical) {
	const unroll = 16
	n, tb, ch := reg.R8, reg.R9, reg.R10
	done := name + "_done"
	tableRows(c, t, px, py, s, s1, n, done)
	bytes := tableBytes(c, px, py, tb)
	c.Label(name + "_px")
	c.MOVQ(pw, tb)
	if full := t.C / unroll; full > 0 {
		c.MOVQ(i32(full), ch)
		c.Label(name + "_ch")
		bytes(unroll)
		c.ADDQ(i32(unroll), px)
		c.ADDQ(i32(unroll), py)
		c.ADDQ(i32(256*unroll), tb)
		c.DECQ(ch)
		c.JNZ(operand.LabelRef(name + "_ch"))
	}
	tableTail(c, bytes, t.C%unroll, px, py, n, name)
	c.Label(done)
	c.RET()
}

// tableTail looks up a pixel's last tail channels and loops to the next
// pixel (name_px) while n counts down.
func tableTail(c *build.Context, bytes func(int), tail int, px, py, n reg.GPPhysical, name string) {
	if tail > 0 {
		bytes(tail)
		c.ADDQ(i32(tail), px)
		c.ADDQ(i32(tail), py)
	}
	c.DECQ(n)
	c.JNZ(operand.LabelRef(name + "_px"))
}

// tableRows points px and py at row s and sets n to the pixels of rows
// [s, s1), or jumps to done when there are none.
func tableRows(c *build.Context, t *Table, px, py, s, s1, n reg.GPPhysical, done string) {
	c.SUBQ(s, s1)
	c.JLE(operand.LabelRef(done))
	c.IMUL3Q(i32(t.RW*t.C), s, s)
	c.ADDQ(s, px)
	c.ADDQ(s, py)
	c.IMUL3Q(i32(t.RW), s1, n)
}

// tableBytes returns the emitter of cnt channels' lookups, byte j from the
// table at tb + 256*j, in four registers in turn.
func tableBytes(c *build.Context, px, py, tb reg.GPPhysical) func(cnt int) {
	vs := []reg.GPPhysical{reg.RDX, reg.R11, reg.R12, reg.R13}
	return func(cnt int) {
		for j := range cnt {
			v := vs[j%len(vs)]
			c.MOVBQZX(mem(px, j), v)
			c.MOVB(operand.Mem{Base: tb, Index: v, Scale: 1, Disp: 256 * j}, v.As8())
			c.MOVB(v.As8(), mem(py, j))
		}
	}
}

// tableAffine is the per-channel Table of an affine (t.Affine) computed
// instead of looked up, 16 or 8 channels a step on 8 lanes, with the float32
// steps the tables were built with (compiler.TableAffine.Value): the code
// less its zero point converted, times the input scale, times the channel's
// scale, plus its shift (VMULPS, VMULPS, VADDPS: no fused multiply-add),
// the activation, times 1/s_y, clamped to +-512 (where rne plus any zero
// point saturates as the Go clamp does) before VCVTPS2DQ, plus the output's
// zero point, and two saturating packs. The last C mod 8 channels of each
// pixel look their bytes up in the tables (w).
func tableAffine(p *Program, name string, t *Table, px, pw, py, s, s1 reg.GPPhysical) {
	c, a := p.ctx, t.Affine
	n, tb, ch, ra, rb := reg.R8, reg.R9, reg.R10, reg.R14, reg.R15
	k := newConsts(p, name, avx2Design)
	scale, shift := k.floats(a.Scale), k.floats(a.Shift)
	xz, xs, inv, yz := reg.Y8, reg.Y9, reg.Y10, reg.Y11
	lo, hi, zero, six := reg.Y12, reg.Y13, reg.Y14, reg.Y15
	c.VMOVDQU(k.i32(a.XZero), xz)
	c.VMOVUPS(k.f32(a.XScale), xs)
	c.VMOVUPS(k.f32(a.Inv), inv)
	c.VMOVDQU(k.i32(a.YZero), yz)
	c.VMOVUPS(k.f32(-512), lo)
	c.VMOVUPS(k.f32(512), hi)
	c.VXORPS(zero, zero, zero)
	c.VMOVUPS(k.f32(6), six)
	done := name + "_done"
	tableRows(c, t, px, py, s, s1, n, done)
	bytes := tableBytes(c, px, py, tb)
	// eight computes channels off..off+7 of the pixel at px into v.
	eight := func(off int, v reg.VecPhysical) {
		c.VPMOVZXBD(mem(px, off), v)
		c.VPSUBD(xz, v, v)
		c.VCVTDQ2PS(v, v)
		c.VMULPS(xs, v, v)
		c.VMULPS(mem(ra, 4*off), v, v)
		c.VADDPS(mem(rb, 4*off), v, v)
		switch a.Act {
		case ir.ActReLU:
			c.VMAXPS(zero, v, v)
		case ir.ActReLU6:
			c.VMAXPS(zero, v, v)
			c.VMINPS(six, v, v)
		}
		c.VMULPS(inv, v, v)
		c.VMAXPS(lo, v, v)
		c.VMINPS(hi, v, v)
		c.VCVTPS2DQ(v, v)
		c.VPADDD(yz, v, v)
	}
	step := func(ch int) {
		eight(0, reg.Y0)
		if ch == 16 {
			eight(8, reg.Y1)
			c.VPACKSSDW(reg.Y1, reg.Y0, reg.Y0) // words: 0-3, 8-11 | 4-7, 12-15
			c.VPERMQ(operand.U8(0xD8), reg.Y0, reg.Y0)
			c.VEXTRACTI128(operand.U8(1), reg.Y0, reg.X1)
			c.VPACKUSWB(reg.X1, reg.X0, reg.X0)
			c.VMOVDQU(reg.X0, mem(py, 0))
		} else {
			c.VEXTRACTI128(operand.U8(1), reg.Y0, reg.X1)
			c.VPACKSSDW(reg.X1, reg.X0, reg.X0)
			c.VPACKUSWB(reg.X0, reg.X0, reg.X0)
			c.MOVQ(reg.X0, mem(py, 0))
		}
		c.ADDQ(i32(ch), px)
		c.ADDQ(i32(ch), py)
		c.ADDQ(i32(4*ch), ra)
		c.ADDQ(i32(4*ch), rb)
		c.ADDQ(i32(256*ch), tb)
	}
	c.Label(name + "_px")
	c.LEAQ(scale, ra)
	c.LEAQ(shift, rb)
	c.MOVQ(pw, tb)
	if full := t.C / 16; full > 0 {
		c.MOVQ(i32(full), ch)
		c.Label(name + "_ch")
		step(16)
		c.DECQ(ch)
		c.JNZ(operand.LabelRef(name + "_ch"))
	}
	if t.C%16 >= 8 {
		step(8)
	}
	tableTail(c, bytes, t.C%8, px, py, n, name)
	c.Label(done)
	c.VZEROUPPER()
	c.RET()
}

// flatLoop runs block over units [s, s1) of ByteBlock bytes of an n-byte
// stream, the pointers ptrs advancing by a block each; the last block, when
// partial, is block(n % ByteBlock).
func flatLoop(c *build.Context, name string, n int, ptrs []reg.Register, s, s1 reg.GPPhysical, block func(n int)) {
	c.SHLQ(operand.U8(5), s)
	for _, p := range ptrs {
		c.ADDQ(s, p)
	}
	c.SHRQ(operand.U8(5), s)
	full, tail := n/ByteBlock, n%ByteBlock
	lp, tl, done := name+"_blk", name+"_tail", name+"_done"
	c.Label(lp)
	c.CMPQ(s, s1)
	c.JGE(operand.LabelRef(done))
	if tail > 0 {
		c.CMPQ(s, i32(full))
		c.JEQ(operand.LabelRef(tl))
	}
	block(ByteBlock)
	for _, p := range ptrs {
		c.ADDQ(i32(ByteBlock), p)
	}
	c.INCQ(s)
	c.JMP(operand.LabelRef(lp))
	if tail > 0 {
		c.Label(tl)
		block(tail)
	}
	c.Label(done)
}

// storeBytes stores the low n (1..32) bytes of ymm v at dst; gp is a scratch.
// v's upper half is clobbered where n is not 16 or 32.
func storeBytes(c *build.Context, v reg.VecPhysical, n int, dst operand.Mem, gp reg.GPPhysical) {
	switch {
	case n == 32:
		c.VMOVDQU(v, dst)
	case n <= 16:
		storeN(c, v.AsX(), n, dst, gp)
	default:
		c.VMOVDQU(v.AsX(), dst)
		c.VEXTRACTI128(operand.U8(1), v, v.AsX())
		storeN(c, v.AsX(), n-16, dst.Offset(16), gp)
	}
}

// requantizer turns 8-lane groups of bytes into int32 lanes scaled as
// rne(float32(float32(v) * M)), v their difference to a zero point (or a
// product of two), and stores up to 32 such lanes (Y0..Y3) as bytes plus Z
// clamped to 0..255.
type requantizer struct {
	c    *build.Context
	pk   *packer
	m    operand.Mem
	perm reg.VecPhysical // Y15: the dword order after pack4
}

// newRequantizer loads Y15; bound is the largest |v|.
func newRequantizer(p *Program, k *consts, m float32, z int32, bound float64) *requantizer {
	r := &Requant{Z: z, Lo: 0, Hi: 255, M: []float32{m}, MaxAbsProd: []float64{bound * math.Abs(float64(m)) * 1.001}}
	rq := &requantizer{c: p.ctx, pk: newPacker(p, k, r), m: k.f32(m), perm: reg.Y15}
	p.ctx.VMOVDQU(k.vec(0, 4, 1, 5, 2, 6, 3, 7), reg.Y15)
	return rq
}

// scale is v = rne(float32(float32(v) * M)) on int32 lanes.
func (r *requantizer) scale(v reg.VecPhysical) { r.pk.scale(v, r.m, nil) }

// store packs the first n (1..32) lanes of Y0..Y3 and stores them at dst;
// Y4 is a scratch, gp too.
func (r *requantizer) store(n int, dst operand.Mem, gp reg.GPPhysical) {
	storeLanes(r.c, r.pk, r.perm, n, dst, gp)
}

// storeLanes packs the first n (1..32) int32 lanes of Y0..Y3 as pk does
// (clamped) and stores them at dst; perm holds the dword order after pack4,
// Y4 and gp are scratch.
func storeLanes(c *build.Context, pk *packer, perm reg.VecPhysical, n int, dst operand.Mem, gp reg.GPPhysical) {
	switch {
	case n <= 8:
		pk.store8(reg.Y0, reg.Y4, dst, n, gp)
	case n <= 16:
		pk.store16(reg.Y0, reg.Y1, reg.Y4, dst, n, gp)
	default:
		if n <= 24 {
			c.VPXOR(reg.Y3, reg.Y3, reg.Y3)
		}
		pk.pack4(reg.Y0, reg.Y1, reg.Y2, reg.Y3)
		c.VPERMD(reg.Y0, perm, reg.Y0)
		pk.clamp(reg.Y0)
		storeBytes(c, reg.Y0, n, dst, gp)
	}
}

// Mul multiplies N bytes by an operand of the same shape, (Bcast) pixels of
// C channels by C bytes, or (Plane) each pixel's C channels by its one byte:
// y = clamp(rne(float32(float32((a-ZA)*(b-ZB)) * M)) + Z).
type Mul struct {
	N, C   int
	Bcast  bool // b is [C,1,1]
	Plane  bool // b is [1,H,W]: one byte a pixel for each of its C channels
	Rows   int  // rows of the output (the units of a broadcast Mul)
	ZA, ZB int32
	M      float32
	Z      int32
}

// Units is the kernel's work count: blocks of ByteBlock bytes, or rows.
func (m *Mul) Units() int { return rowsOrFlat(m.Bcast || m.Plane, m.Rows, m.N) }

const mulSig = "func(a, b, y *byte, s0, s1 int)"

// Mul adds a product kernel for isa: on 16 lanes (isa.lanes() 16) up to
// 64 bytes a step on zmm (the arithmetic binds it, as Concat's), partial
// steps loaded and stored under opmasks; else 8 lanes at a time.
func (p *Program) Mul(name string, m *Mul, isa Target) error {
	if m.N < 1 || m.C < 1 || m.N%m.C != 0 || (m.Bcast || m.Plane) && (m.Rows < 1 || m.N%(m.Rows*m.C) != 0) || m.Bcast && m.Plane ||
		math.IsNaN(float64(m.M)) || math.IsInf(float64(m.M), 0) {
		return fmt.Errorf("asmgen: mul of %d bytes, %d channels, %d rows, multiplier %v", m.N, m.C, m.Rows, m.M)
	}
	if err := p.function(name, mulSig, fmt.Sprintf("%s: product of %d bytes.", name, m.N)); err != nil {
		return err
	}
	c := p.ctx
	wide := isa.lanes() == 16
	design := avx2Design
	if wide {
		design = isa
	}
	k := newConsts(p, name, design)
	rq := newRequantizer(p, k, m.M, m.Z, 255*255)
	za, zb := k.i32(m.ZA), k.i32(m.ZB)
	pa, pb, py, s, s1 := reg.RAX, reg.RBX, reg.RCX, reg.RSI, reg.RDI
	loadArgs(c, "a b y s0 s1", pa, pb, py, s, s1)
	step := ByteBlock // the bytes of a broadcast Mul's step
	if wide {
		step = 64
		c.VMOVDQU32(k.vec(unpack4...), reg.Z15)
	}
	// product turns the codes in v and t into v's scaled product.
	product := func(v, t reg.VecPhysical) {
		c.VPSUBD(za, v, v)
		c.VPSUBD(zb, t, t)
		c.VPMULLD(t, v, v)
		rq.scale(v)
	}
	// block multiplies n bytes at a by n at b and stores them at y.
	block := func(n int, a, b, y operand.Mem) {
		if wide {
			widenZmm(c, n, []operand.Mem{a, b}, func(i int) { product(zmm[i], zmm[4+i]) })
			storeZmm(c, rq.pk, n, y)
			return
		}
		for i := range (n + 7) / 8 {
			v, t := ymm[i], ymm[4+i]
			c.VPMOVZXBD(a.Offset(8*i), v)
			c.VPMOVZXBD(b.Offset(8*i), t)
			product(v, t)
		}
		rq.store(n, y, reg.RDX)
	}
	switch {
	case m.Plane:
		// Pixels of rows [s, s1): b's byte of the pixel, less ZB, on every
		// lane of V13, times each of its C channels.
		bv := ymm[13]
		if wide {
			bv = zmm[13]
		}
		rw := m.N / m.Rows / m.C
		pixelLoop(c, name, rw, s, s1, []reg.Register{pa, pb, py}, []int{m.C, 1, m.C}, func() {
			c.MOVBLZX(mem(pb, 0), reg.R13L)
			c.VMOVD(reg.R13L, bv.AsX())
			c.VPBROADCASTD(bv.AsX(), bv)
			c.VPSUBD(zb, bv, bv)
			chunks(c, name+"_c", m.C, step, []reg.GPPhysical{pa, py}, func(n int) {
				a, y := mem(reg.R10, 0), mem(reg.R11, 0)
				scaled := func(v reg.VecPhysical) {
					c.VPSUBD(za, v, v)
					c.VPMULLD(bv, v, v)
					rq.scale(v)
				}
				if wide {
					widenZmm(c, n, []operand.Mem{a}, func(i int) { scaled(zmm[i]) })
					storeZmm(c, rq.pk, n, y)
					return
				}
				for i := range (n + 7) / 8 {
					c.VPMOVZXBD(a.Offset(8*i), ymm[i])
					scaled(ymm[i])
				}
				rq.store(n, y, reg.RDX)
			})
		})
	case !m.Bcast:
		flatLoop(c, name, m.N, []reg.Register{pa, pb, py}, s, s1, func(n int) { block(n, mem(pa, 0), mem(pb, 0), mem(py, 0)) })
	default:
		// Pixels of rows [s, s1), the operand's C bytes again for each.
		rw := m.N / m.Rows / m.C
		pixelLoop(c, name, rw, s, s1, []reg.Register{pa, py}, []int{m.C, m.C}, func() {
			chunks(c, name+"_c", m.C, step, []reg.GPPhysical{pa, pb, py}, func(n int) { block(n, mem(reg.R10, 0), mem(reg.R11, 0), mem(reg.R12, 0)) })
		})
	}
	c.VZEROUPPER()
	c.RET()
	return nil
}

// pixelLoop runs body for each pixel of rows [s, s1) of rw pixels, the
// pointers ptrs at it: ptrs[i] advances by pix[i] bytes a pixel. It uses R8
// and (for pointers of different strides) RDX; s is clobbered.
func pixelLoop(c *build.Context, name string, rw int, s, s1 reg.GPPhysical, ptrs []reg.Register, pix []int, body func()) {
	n := reg.R8
	done := name + "_done"
	c.SUBQ(s, s1)
	c.JLE(operand.LabelRef(done))
	same := true
	for _, b := range pix {
		same = same && b == pix[0]
	}
	if same {
		c.IMUL3Q(i32(rw*pix[0]), s, s)
		for _, p := range ptrs {
			c.ADDQ(s, p)
		}
	} else {
		for i, p := range ptrs {
			c.IMUL3Q(i32(rw*pix[i]), s, reg.RDX)
			c.ADDQ(reg.RDX, p)
		}
	}
	c.IMUL3Q(i32(rw), s1, n)
	c.Label(name + "_px")
	body()
	for i, p := range ptrs {
		c.ADDQ(i32(pix[i]), p)
	}
	c.DECQ(n)
	c.JNZ(operand.LabelRef(name + "_px"))
	c.Label(done)
}

// chunks runs block over n bytes in pieces of size, R10, R11, R12
// pointing at each piece from src[0], src[1], src[2] (as many as given);
// R9 counts. The last piece, when partial, is block(n % size).
func chunks(c *build.Context, name string, n, size int, src []reg.GPPhysical, block func(n int)) {
	ps := []reg.GPPhysical{reg.R10, reg.R11, reg.R12}[:len(src)]
	for i, p := range ps {
		c.MOVQ(src[i], p)
	}
	full, tail := n/size, n%size
	switch {
	case full == 1:
		block(size)
		if tail > 0 {
			for _, p := range ps {
				c.ADDQ(i32(size), p)
			}
		}
	case full > 1:
		c.MOVQ(i32(full), reg.R9)
		c.Label(name)
		block(size)
		for _, p := range ps {
			c.ADDQ(i32(size), p)
		}
		c.DECQ(reg.R9)
		c.JNZ(operand.LabelRef(name))
	}
	if tail > 0 {
		block(tail)
	}
}

// ConcatIn is an input of a Concat: its channels, arena offset, pixel
// stride (0: C) and, when it is requantized, its zero point and
// multiplier (M 0: copied). Over is how many bytes past its channels of
// a pixel the kernel may store garbage that inputs after it overwrite: the
// tail of a short run (lower's channel orders cut inputs into runs) is then
// one store of whole 8-byte words.
type ConcatIn struct {
	C, Off, Stride int
	Z              int32
	M              float32
	Over           int
}

// Concat writes the pixels of rows of inputs side by side into pixels of
// C channels at arena offset Off; the inputs are at their arena offsets
// (all relative to the arena pointer a). Inputs written in place are left
// out of Ins and their channels of Y untouched (At says where each of Ins
// lands).
type Concat struct {
	C, Off   int
	Rows, RW int
	Ins      []ConcatIn
	At       []int
	Z        int32
}

// Units is the kernel's work count: output rows.
func (k *Concat) Units() int { return k.Rows }

// setOver sets each input's Over: the channels after its own that inputs
// after it write (never a direct input's nor the next pixel's).
func (k *Concat) setOver() {
	by := make([]int, k.C) // the input writing each channel, -1 for none
	for c := range by {
		by[c] = -1
	}
	for i, in := range k.Ins {
		for c := range in.C {
			by[k.At[i]+c] = i
		}
	}
	for i := range k.Ins {
		in := &k.Ins[i]
		in.Over = 0
		for c := k.At[i] + in.C; c < len(by) && by[c] > i && in.Over < ByteBlock; c++ {
			in.Over++
		}
	}
}

const concatSig = "func(a *byte, s0, s1 int)"

// Requantizes says whether some input of the concat is requantized (its
// kernel is then written per tier, see Concat).
func (k *Concat) Requantizes() bool {
	for _, in := range k.Ins {
		if in.M != 0 {
			return true
		}
	}
	return false
}

// Concat adds a concatenation kernel over the arena at a for isa. Copied
// inputs move in ymm pieces on every tier. Requantized ones are bound by
// their arithmetic (a VCVTDQ2PS, VMULPS and VCVTPS2DQ a lane, on the ports
// VPDPBUSD takes) where it runs: a requantization is a function of the
// byte, so on 16 lanes (isa.lanes() 16) each such input has its 256-entry
// table (runtime.Requantize of every code) and 64 bytes are two VPERMI2B
// lookups and a blend, on CPUs with AVX-512 VBMI (the kernel asks CPUID
// once, see vbmiFlag); else the same arithmetic 64 bytes a piece
// (requantZmm), or 8 lanes at a time as every byte kernel does. Pieces on
// zmm are loaded and stored under opmasks, so none writes past its input's
// channels. Every way gives the same bytes.
func (p *Program) Concat(name string, k *Concat, isa Target) error {
	return p.concat(name, k, isa, true)
}

// concat is Concat; vbmi false leaves the VBMI lookups out (the tests of
// the arithmetic on CPUs that have VBMI).
func (p *Program) concat(name string, k *Concat, isa Target, vbmi bool) error {
	if k.C < 1 || k.Rows < 1 || k.RW < 1 || len(k.At) != len(k.Ins) || k.Z < 0 || k.Z > 255 {
		return fmt.Errorf("asmgen: concat into %d channels, %d rows of %d", k.C, k.Rows, k.RW)
	}
	for i, in := range k.Ins {
		if in.C < 1 || in.Stride != 0 && in.Stride < in.C || k.At[i] < 0 || k.At[i]+in.C+in.Over > k.C || in.Over < 0 || math.IsNaN(float64(in.M)) || math.IsInf(float64(in.M), 0) {
			return fmt.Errorf("asmgen: concat input %d: %d channels at %d, multiplier %v", i, in.C, k.At[i], in.M)
		}
	}
	if err := p.function(name, concatSig, fmt.Sprintf("%s: concat of %d inputs into %d channels.", name, len(k.Ins), k.C)); err != nil {
		return err
	}
	c := p.ctx
	wide := isa.lanes() == 16 && k.Requantizes()
	vbmi = vbmi && wide
	design := avx2Design
	if wide {
		design = isa
	}
	cs := newConsts(p, name, design)
	pa, s, s1 := reg.RAX, reg.RSI, reg.RDI
	py, px := reg.RBX, reg.RCX
	lookups := name + "_vbmi"
	if vbmi {
		// RAX: 2 where the CPU has VBMI (CPUID clobbers RBX, RCX, RDX).
		vbmiFlag(p, name)
		c.CMPQ(reg.RAX, i32(2))
		c.JEQ(operand.LabelRef(lookups))
	}
	rqs := make([]*requantizer, len(k.Ins))
	zs := make([]operand.Mem, len(k.Ins))
	tabs := make([]operand.Mem, len(k.Ins))
	for i, in := range k.Ins {
		if in.M != 0 {
			rqs[i] = &requantizer{c: c, pk: newPacker(p, cs, &Requant{Z: k.Z, Lo: 0, Hi: 255, M: []float32{in.M},
				MaxAbsProd: []float64{255 * math.Abs(float64(in.M)) * 1.001}}), m: cs.f32(in.M), perm: reg.Y15}
			zs[i] = cs.i32(in.Z)
			if vbmi {
				tabs[i] = cs.vec(concatTable(in, k.Z)...)
			}
		}
	}
	// body emits the kernel from its arguments on, its labels from prefix;
	// look says that requantized inputs take the VBMI lookups.
	body := func(prefix string, look bool) {
		loadArgs(c, "a s0 s1", pa, s, s1)
		// Up to four inputs' tables stay in Z16..Z31; with more, three do
		// and the others load theirs into Z28..Z31 at each pixel.
		held := 0
		for _, t := range tabs {
			if t.Symbol.Name != "" {
				held++
			}
		}
		if held > 4 {
			held = 3
		}
		tabRegs := make([][]reg.VecPhysical, len(k.Ins))
		next := 16
		for i, t := range tabs {
			if !look || t.Symbol.Name == "" {
				continue
			}
			if next < 16+4*held {
				tabRegs[i] = zmm[next : next+4]
				next += 4
				for j, v := range tabRegs[i] {
					c.VMOVDQU64(t.Offset(64*j), v)
				}
			}
		}
		switch {
		case wide:
			c.VMOVDQU32(cs.vec(unpack4...), reg.Z15)
		default:
			c.VMOVDQU(cs.vec(0, 4, 1, 5, 2, 6, 3, 7), reg.Y15)
		}
		// py: the output pixel; the inputs' pixels are computed from the
		// pixel index in R13.
		c.LEAQ(mem(pa, k.Off), py)
		c.IMUL3Q(i32(k.RW), s, reg.R13)
		pixelLoop(c, prefix, k.RW, s, s1, []reg.Register{py}, []int{k.C}, func() {
			for i, in := range k.Ins {
				c.IMUL3Q(i32(max(in.C, in.Stride)), reg.R13, px)
				c.LEAQ(operand.Mem{Base: pa, Index: px, Scale: 1, Disp: in.Off}, px)
				c.LEAQ(mem(py, k.At[i]), reg.R11)
				lbl := fmt.Sprintf("%s_in%d", prefix, i)
				rq := rqs[i]
				switch {
				case rq != nil && look:
					t := tabRegs[i]
					if t == nil {
						t = zmm[28:32]
						for j, v := range t {
							c.VMOVDQU64(tabs[i].Offset(64*j), v)
						}
					}
					chunks(c, lbl, in.C, 64, []reg.GPPhysical{px, reg.R11}, func(n int) {
						lookupVBMI(c, t, n, mem(reg.R10, 0), mem(reg.R11, 0), reg.K1, reg.RDX)
					})
					continue
				case rq != nil && wide:
					chunks(c, lbl, in.C, 64, []reg.GPPhysical{px, reg.R11}, func(n int) {
						requantZmm(c, rq, zs[i], n, mem(reg.R10, 0), mem(reg.R11, 0))
					})
					continue
				}
				chunks(c, lbl, in.C, ByteBlock, []reg.GPPhysical{px, reg.R11}, func(n int) {
					src, dst := mem(reg.R10, 0), mem(reg.R11, 0)
					ns := n // the bytes stored: the last chunk's rounded to words where Over allows
					if w := (n + 7) &^ 7; n < ByteBlock && w-n <= in.Over {
						ns = w
					}
					if rq == nil {
						c.VMOVDQU(src, reg.Y0)
						storeBytes(c, reg.Y0, ns, dst, reg.RDX)
						return
					}
					for j := range (n + 7) / 8 {
						v := ymm[j]
						c.VPMOVZXBD(src.Offset(8*j), v)
						c.VPSUBD(zs[i], v, v)
						rq.scale(v)
					}
					rq.store(ns, dst, reg.RDX)
				})
			}
			c.INCQ(reg.R13)
		})
		c.VZEROUPPER()
		c.RET()
	}
	body(name, false)
	if vbmi {
		c.Label(lookups)
		body(lookups, true)
	}
	return nil
}

// concatTable is the bytes an input requantizes its codes to, as 64 words.
func concatTable(in ConcatIn, z int32) []uint32 {
	w := make([]uint32, 64)
	for q := range 256 {
		w[q/4] |= uint32(runtime.Requantize(int32(q)-in.Z, in.M, 0, z, 0, 255)) << (8 * (q % 4))
	}
	return w
}

// vbmiFlag emits the check for AVX-512 VBMI, leaving RAX 2 where the CPU
// has it, else 1: the first call asks CPUID (a VM exit under a hypervisor,
// so once) and keeps the answer in the kernel's flag, read by every call
// after it (calls racing on the first one store the same value).
func vbmiFlag(p *Program, name string) operand.Mem {
	c := p.ctx
	flag := p.flag(name + "_vbmiflag")
	known := name + "_vbmi_known"
	c.MOVQ(flag, reg.RAX)
	c.TESTQ(reg.RAX, reg.RAX)
	c.JNZ(operand.LabelRef(known))
	c.MOVL(operand.U32(7), reg.EAX)
	c.XORL(reg.ECX, reg.ECX)
	c.CPUID()
	c.SHRL(operand.U8(1), reg.ECX) // leaf 7 ECX bit 1: AVX512_VBMI
	c.ANDL(operand.U32(1), reg.ECX)
	c.INCL(reg.ECX)
	c.MOVQ(reg.RCX, flag)
	c.MOVQ(reg.RCX, reg.RAX)
	c.Label(known)
	return flag
}

// lookupVBMI looks the n (1..64) bytes at src up in the 256-entry table in
// t (four zmm, 64 entries each) and stores them at dst: VPERMI2B over
// entries 0..127 and 128..255, the second's where bit 7 is set. A partial
// piece is loaded and stored under opmask k (gp a scratch); Z4, Z5 and K7
// are scratch.
func lookupVBMI(c *build.Context, t []reg.VecPhysical, n int, src, dst operand.Mem, k reg.Register, gp reg.GPPhysical) {
	x, hi := reg.Z4, reg.Z5
	if n < 64 {
		setMask(c, k, n, gp)
		c.VMOVDQU8_Z(src, k, x)
	} else {
		c.VMOVDQU64(src, x)
	}
	c.VMOVDQA64(x, hi)
	c.VPMOVB2M(x, reg.K7)
	c.VPERMI2B(t[1], t[0], x)
	c.VPERMI2B(t[3], t[2], hi)
	c.VPBLENDMB(hi, x, reg.K7, x)
	if n < 64 {
		c.VMOVDQU8(x, k, dst)
		return
	}
	c.VMOVDQU64(x, dst)
}

// requantZmm requantizes n (1..64) bytes at src (less zero point z) into
// dst on four zmm vectors Z0..Z3: a partial one's bytes loaded and stored
// under opmasks (K1, K2; RDX is a scratch), the perm of Concat in Z15.
func requantZmm(c *build.Context, rq *requantizer, z operand.Mem, n int, src, dst operand.Mem) {
	widenZmm(c, n, []operand.Mem{src}, func(i int) {
		c.VPSUBD(z, zmm[i], zmm[i])
		rq.scale(zmm[i])
	})
	storeZmm(c, rq.pk, n, dst)
}

// widenZmm zero-extends n (1..64) bytes from each of srcs (up to two) into
// the int32 lanes of four zmm each (srcs[j]'s vector i in Z(4j+i)), a
// partial last vector under K1 (RDX a scratch), and calls f(i) on each
// vector i loaded; the first source's vectors past n are zeroed.
func widenZmm(c *build.Context, n int, srcs []operand.Mem, f func(i int)) {
	nv := (n + 15) / 16
	if n%16 != 0 {
		setMask(c, reg.K1, n%16, reg.RDX)
	}
	for i := range 4 {
		if i >= nv {
			c.VPXORD(zmm[i], zmm[i], zmm[i])
			continue
		}
		for j, src := range srcs {
			if i == nv-1 && n%16 != 0 {
				c.VPMOVZXBD_Z(src.Offset(16*i), reg.K1, zmm[4*j+i])
			} else {
				c.VPMOVZXBD(src.Offset(16*i), zmm[4*j+i])
			}
		}
		f(i)
	}
}

// unpack4 is the VPERMD indices that sort the dwords of pack4 on zmm: after
// it dword 4i+j holds lanes 4i..4i+3 of vector j.
var unpack4 = []uint32{0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15}

// storeZmm packs the int32 lanes of Z0..Z3 as pk does (clamped, in order
// by unpack4 in Z15) and stores the first n (1..64) bytes at dst, a
// partial store under K2 (RDX a scratch).
func storeZmm(c *build.Context, pk *packer, n int, dst operand.Mem) {
	pk.pack4(zmm[0], zmm[1], zmm[2], zmm[3])
	c.VPERMD(zmm[0], reg.Z15, zmm[0])
	pk.clamp(zmm[0])
	if n == 64 {
		c.VMOVDQU8(zmm[0], dst)
		return
	}
	setMask(c, reg.K2, n, reg.RDX)
	c.VMOVDQU8(zmm[0], reg.K2, dst)
}

// bytesKernel is the generator of a Table, Mul, Concat, AvgPool,
// WindowPool, Slice or Shuffle layer and its units; nil for a Concat whose
// inputs are all written in place and for a Slice or Shuffle that is a view.
// shared says that one kernel serves every tier (all but a Mul and a
// Concat that requantizes).
func bytesKernel(ly *lower.Layer) (gen func(*Program, Target, string) error, units int, shared bool) {
	nd, n := ly.Node, ly.YD.Elems()
	switch ly.Kind {
	case lower.AvgPool, lower.WindowPool:
		g := ly.Geom
		m := &Pool{C: ly.XD.C, H: ly.XD.H, W: ly.XD.W, OH: ly.YD.H, OW: ly.YD.W, Win: g.Window, Ceil: g.Ceil,
			Avg: ly.Kind == lower.AvgPool, CountPad: g.CountPad, Z: ly.X.Zero}
		return func(p *Program, _ Target, fn string) error { return p.Pool(fn, m) }, m.Units(), true
	case lower.ChannelMax:
		m := &ChannelMax{C: ly.XD.C, Rows: ly.YD.H, RW: ly.YD.W}
		return func(p *Program, _ Target, fn string) error { return p.ChannelMax(fn, m) }, m.Units(), true
	case lower.Slice:
		if ly.View {
			return nil, 0, false
		}
		s := &Slice{XC: ly.XD.C, Start: nd.Slice.Start, C: ly.YD.C, Rows: ly.YD.H, RW: ly.YD.W}
		return func(p *Program, _ Target, fn string) error { return p.Slice(fn, s) }, s.Units(), true
	case lower.Shuffle:
		if ly.View {
			return nil, 0, false
		}
		g := &Gather{XC: ly.XD.C, Perm: nd.Perm, Rows: ly.YD.H, RW: ly.YD.W}
		return func(p *Program, _ Target, fn string) error { return p.Gather(fn, g) }, g.Units(), true
	case lower.Table:
		t := &Table{N: n, C: ly.XD.C, PerChan: len(nd.Table.T) > 256, Rows: ly.YD.H, RW: ly.YD.W}
		if !t.PerChan {
			t.T = nd.Table.T
		} else {
			t.Affine = nd.Table.Affine
		}
		return func(p *Program, _ Target, fn string) error { return p.Table(fn, t) }, t.Units(), true
	case lower.Mul:
		m := &Mul{N: n, C: ly.XD.C, Bcast: ly.X2.Elems() != n && !ly.PlaneMul(), Plane: ly.PlaneMul(), Rows: ly.YD.H, ZA: ly.X.Zero, ZB: ly.X2.Zero, M: nd.Mul.M, Z: ly.Y.Zero}
		return func(p *Program, isa Target, fn string) error { return p.Mul(fn, m, isa) }, m.Units(), false
	}
	k := &Concat{C: ly.YD.C, Off: ly.YOff, Rows: ly.YD.H, RW: ly.YD.W, Z: ly.Y.Zero}
	for i, x := range ly.Xs {
		if !ly.Direct[i] {
			k.Ins = append(k.Ins, ConcatIn{C: ly.XsC[i], Off: ly.XsOff[i], Stride: ly.XsStride[i], Z: x.Zero, M: nd.Concat.M[i]})
			k.At = append(k.At, ly.XsAt[i])
		}
	}
	k.setOver()
	if len(k.Ins) == 0 {
		return nil, 0, false
	}
	return func(p *Program, isa Target, fn string) error { return p.Concat(fn, k, isa) }, k.Units(), !k.Requantizes()
}
