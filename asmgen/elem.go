package asmgen

import (
	"fmt"
	"math"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/lower"
)

// Add is a residual add over N bytes (lanes are read in steps of 8 past the
// end; only N bytes are written):
// q = clamp(rne(float32(float32(a-ZA)*MA) + float32(float32(b-ZB)*MB)) + Z, 0, 255).
type Add struct {
	N      int
	ZA, ZB int32
	MA, MB float32
	Z      int32
	ReLU   bool // add_relu: clamp below at Z
}

// AddBlock is the number of bytes of one Add unit: Add runs flatLoop.
const AddBlock = ByteBlock

// Units is the kernel's work count: blocks of AddBlock bytes.
func (a *Add) Units() int { return flatUnits(a.N) }

const addSig = "func(a, b, y *byte, s0, s1 int)"

// Add adds a residual-add kernel.
func (p *Program) Add(name string, a *Add, isa Target) error {
	if a.N < 1 {
		return fmt.Errorf("asmgen: add of %d bytes", a.N)
	}
	for _, m := range []float32{a.MA, a.MB} {
		if math.IsNaN(float64(m)) || math.IsInf(float64(m), 0) {
			return fmt.Errorf("asmgen: add multiplier %v is not finite", m)
		}
	}
	r := &Requant{Z: a.Z, Lo: 0, Hi: 255, M: []float32{1}}
	if a.ReLU {
		r.Lo = a.Z
	}
	if err := r.check(1); err != nil {
		return err
	}
	r.MaxAbsProd = []float64{255 * (math.Abs(float64(a.MA)) + math.Abs(float64(a.MB))) * 1.001}
	if err := p.function(name, addSig, fmt.Sprintf("%s: residual add of %d bytes.", name, a.N)); err != nil {
		return err
	}
	k := newConsts(p, name, isa)
	pk := newPacker(p, k, r)
	za, zb, ma, mb := k.i32(a.ZA), k.i32(a.ZB), k.f32(a.MA), k.f32(a.MB)
	perm := k.vec(0, 4, 1, 5, 2, 6, 3, 7)
	c := p.ctx
	pa, pb, py, s, s1 := reg.RAX, reg.RBX, reg.RCX, reg.RSI, reg.RDI
	loadArgs(c, "a b y s0 s1", pa, pb, py, s, s1)
	lanes, vecs := isa.lanes(), ymm
	if lanes == 16 {
		vecs = zmm
	}
	if !isa.ZMM {
		c.VMOVDQU(perm, reg.Y15)
	}
	// v = rne(float32(a-za)*ma + float32(b-zb)*mb) for the lanes bytes at off.
	scaled := func(off int, v, t reg.VecPhysical) {
		c.VPMOVZXBD(mem(pa, off), v)
		c.VPMOVZXBD(mem(pb, off), t)
		c.VPSUBD(za, v, v)
		c.VPSUBD(zb, t, t)
		c.VCVTDQ2PS(v, v)
		c.VCVTDQ2PS(t, t)
		c.VMULPS(ma, v, v)
		c.VMULPS(mb, t, t)
		c.VADDPS(t, v, v)
		if pk.doCap {
			c.VMINPS(pk.capv, v, v)
		}
		c.VCVTPS2DQ(v, v)
	}
	block := func(n int) {
		if isa.ZMM {
			// Each vector on its own, the last bytes under an opmask.
			pk.setTail(lanes, n, reg.RDX)
			for i := 0; i < (n+lanes-1)/lanes; i++ {
				scaled(lanes*i, vecs[i], vecs[4+i])
				pk.narrowTail(vecs[i], vecs[4+i], mem(py, lanes*i), min(lanes, n-lanes*i), reg.RDX)
			}
			return
		}
		for i := 0; i < (n+7)/8; i++ {
			scaled(8*i, ymm[i], ymm[4+i])
		}
		switch {
		case n <= 8:
			pk.store8(reg.Y0, reg.Y4, mem(py, 0), n, reg.RDX)
		case n <= 16:
			pk.store16(reg.Y0, reg.Y1, reg.Y4, mem(py, 0), n, reg.RDX)
		default:
			if n <= 24 {
				c.VPXOR(reg.Y3, reg.Y3, reg.Y3)
			}
			// 0-3 8-11 16-19 24-27 | 4-7 12-15 20-23 28-31 after the packs.
			pk.pack4(reg.Y0, reg.Y1, reg.Y2, reg.Y3)
			c.VPERMD(reg.Y0, reg.Y15, reg.Y0)
			pk.clamp(reg.Y0)
			if n == 32 {
				c.VMOVDQU(reg.Y0, mem(py, 0))
			} else {
				c.VMOVDQU(reg.X0, mem(py, 0))
				c.VEXTRACTI128(operand.U8(1), reg.Y0, reg.X1)
				storeN(c, reg.X1, n-16, mem(py, 16), reg.RDX)
			}
		}
	}
	flatLoop(c, name, a.N, []reg.Register{pa, pb, py}, s, s1, block)
	c.VZEROUPPER()
	c.RET()
	return nil
}

// Mean is the spatial mean of H*W pixels of C channels (NHWC) into C bytes,
// keeping the input's qparams:
// q = clamp(rne(float32(sum(q - Z)) * float32(1/(H*W))) + Z, 0, 255).
type Mean struct {
	C, HW int
	Z     int32
}

const meanSig = "func(x, y *byte)"

// Mean adds a spatial-mean kernel.
func (p *Program) Mean(name string, m *Mean, isa Target) error {
	if m.C < 1 || m.HW < 1 || m.HW > lower.MaxMeanPixels {
		return fmt.Errorf("asmgen: mean of %d channels over %d pixels", m.C, m.HW)
	}
	r := &Requant{Z: m.Z, Lo: 0, Hi: 255, M: []float32{1}, MaxAbsProd: []float64{256}}
	if err := r.check(1); err != nil {
		return err
	}
	if err := p.function(name, meanSig, fmt.Sprintf("%s: mean of %d channels over %d pixels.", name, m.C, m.HW)); err != nil {
		return err
	}
	k := newConsts(p, name, isa)
	pk := newPacker(p, k, r)
	off := k.i32(int32(m.HW) * m.Z)
	inv := k.f32(float32(1 / float64(m.HW)))
	c := p.ctx
	px, py, pp, n := reg.RAX, reg.RCX, reg.RSI, reg.RDX
	c.Load(c.Param("x"), px)
	c.Load(c.Param("y"), py)
	lanes, vecs := isa.lanes(), ymm
	if lanes == 16 {
		vecs = zmm
	}
	// chunk sums width channels from ch in width/lanes vectors.
	chunk := func(ch, width int) {
		v := (width + lanes - 1) / lanes
		for i := 0; i < v; i++ {
			if lanes == 16 {
				c.VPXORD(vecs[i], vecs[i], vecs[i])
			} else {
				c.VPXOR(vecs[i], vecs[i], vecs[i])
			}
		}
		c.LEAQ(mem(px, ch), pp)
		c.MOVQ(i32(m.HW), n)
		lp := fmt.Sprintf("%s_px%d", name, ch)
		c.Label(lp)
		for i := 0; i < v; i++ {
			c.VPMOVZXBD(mem(pp, lanes*i), vecs[8+i])
			c.VPADDD(vecs[8+i], vecs[i], vecs[i])
		}
		c.ADDQ(i32(m.C), pp)
		c.DECQ(n)
		c.JNZ(operand.LabelRef(lp))
		for i := 0; i < v; i++ {
			c.VPSUBD(off, vecs[i], vecs[i])
			pk.scale(vecs[i], inv, nil)
		}
		if isa.ZMM {
			n := min(width, m.C-ch)
			pk.setTail(lanes, n, reg.RDI)
			for i := 0; i < v; i++ {
				pk.narrowTail(vecs[i], vecs[8+i], mem(py, ch+lanes*i), min(lanes, n-lanes*i), reg.RDI)
			}
			return
		}
		if v == 2 {
			pk.store16(reg.Y0, reg.Y1, reg.Y8, mem(py, ch), min(16, m.C-ch), reg.RDI)
		} else {
			pk.store8(reg.Y0, reg.Y8, mem(py, ch), min(8, m.C-ch), reg.RDI)
		}
	}
	for ch := 0; ch < m.C; ch += 2 * lanes { // the ymm tiers: 16
		chunk(ch, ChanStride(min(2*lanes, m.C-ch)))
	}
	c.VZEROUPPER()
	c.RET()
	return nil
}

// Quantize turns C float32 planes of H x W (one NCHW image) into NHWC codes
// q = clamp(rne(x * Inv) + Z, 0, 255) (NaN gives 0), with channel stride
// OutStride and Border pixels of Z around the image; Wide writes uint16.
// Channels from C to OutStride hold Z when OutStride is 4, else are left alone.
type Quantize struct {
	C, H, W   int
	Inv       float32
	Z         int32
	OutStride int
	Border    int
	Wide      bool
}

// Units is the kernel's work count (image rows).
func (q *Quantize) Units() int { return q.H }

// OutBytes is the size of the output buffer.
func (q *Quantize) OutBytes() int {
	e := 1
	if q.Wide {
		e = 2
	}
	return (q.H + 2*q.Border) * (q.W + 2*q.Border) * q.OutStride * e
}

const quantSig = "func(x *float32, y *byte, s0, s1 int)"

// Quantize adds an input-quantization kernel.
func (p *Program) Quantize(name string, q *Quantize, isa Target) error {
	if q.C < 1 || q.H < 1 || q.W < 1 || q.OutStride < q.C || q.Border < 0 {
		return fmt.Errorf("asmgen: quantize C%d %dx%d stride %d border %d wide %v", q.C, q.H, q.W, q.OutStride, q.Border, q.Wide)
	}
	if math.IsNaN(float64(q.Inv)) || math.IsInf(float64(q.Inv), 0) || q.Z < 0 || q.Z > 255 {
		return fmt.Errorf("asmgen: quantize scale 1/%v zero point %d", q.Inv, q.Z)
	}
	if err := p.function(name, quantSig, fmt.Sprintf("%s: quantize %d x %dx%d.", name, q.C, q.H, q.W)); err != nil {
		return err
	}
	g := &quantGen{p: p, q: q, name: name, isa: isa}
	g.emit()
	return nil
}

type quantGen struct {
	p    *Program
	isa  Target
	q    *Quantize
	name string
	n    int
}

func (g *quantGen) label(s string) string {
	g.n++
	return fmt.Sprintf("%s_%s%d", g.name, s, g.n)
}

func (g *quantGen) emit() {
	q, c := g.q, g.p.ctx
	k := newConsts(g.p, g.name, g.isa)
	inv, lo, hi := k.f32(q.Inv), k.f32(-(1 << 20)), k.f32(1<<20)
	z, zero, top8 := k.i32(q.Z), k.i32(0), k.i32(255)
	esz := 1
	if q.Wide {
		esz = 2
	}
	wp := q.W + 2*q.Border
	pix := q.OutStride * esz
	rowBytes := wp * pix
	fast := q.OutStride == 4 // whole pixels are built in registers
	px, py, s, s1 := reg.RAX, reg.RCX, reg.RSI, reg.RDI
	src, dst, n, t := reg.R8, reg.R9, reg.R10, reg.R11
	loadArgs(c, "x y s0 s1", px, py, s, s1)
	// fill writes count border pixels of Z at dst.
	fill := func(count int) {
		if count == 0 {
			return
		}
		if fast {
			var zpix uint64
			for ch := 0; ch < 4; ch++ {
				zpix |= uint64(q.Z) << (8 * esz * ch)
			}
			c.MOVQ(operand.U64(zpix), t)
			for i := 0; i < count; i++ {
				if pix == 8 {
					c.MOVQ(t, mem(dst, i*pix))
				} else {
					c.MOVL(t.As32(), mem(dst, i*pix))
				}
			}
			return
		}
		for i := 0; i < count; i++ {
			for ch := 0; ch < q.C; ch++ {
				if q.Wide {
					c.MOVW(operand.U16(q.Z), mem(dst, i*pix+ch*2))
				} else {
					c.MOVB(operand.U8(q.Z), mem(dst, i*pix+ch))
				}
			}
		}
	}
	plane := q.H * q.W * 4
	mask := reg.Y15
	// On zmm (the stride-4 bytes layout the stem reads) 16 pixels a block,
	// tails under opmask K1.
	lanes := 8
	if g.isa.lanes() == 16 && fast && !q.Wide {
		lanes = 16
	}
	// quant leaves the int32 codes of lanes (or cnt, masked) floats of channel ch in v.
	quant := func(ch, cnt int, v reg.VecPhysical) {
		switch {
		case cnt == lanes:
			c.VMOVUPS(mem(src, ch*plane), v)
		case lanes == 16:
			c.VMOVUPS_Z(mem(src, ch*plane), reg.K1, v)
		default:
			c.VMASKMOVPS(mem(src, ch*plane), mask, v)
		}
		c.VMULPS(inv, v, v)
		c.VMAXPS(lo, v, v) // a NaN takes the second source, -2^20: code 0
		c.VMINPS(hi, v, v)
		c.VCVTPS2DQ(v, v)
		c.VPADDD(z, v, v)
		c.VPMAXSD(zero, v, v)
		c.VPMINSD(top8, v, v)
	}
	// codes quantizes the C channels into vs[0..3] (Z in the others) and,
	// with join, shifts and ORs them into vs[0]: a pixel's 4 codes a lane.
	codes := func(cnt int, vs []reg.VecPhysical, join bool) {
		z512 := vs[0].Size() == 64
		for ch := 0; ch < 4; ch++ {
			switch {
			case ch < q.C:
				quant(ch, cnt, vs[ch])
			case z512:
				c.VMOVDQU32(z, vs[ch])
			default:
				c.VMOVDQU(z, vs[ch])
			}
		}
		for ch := 1; join && ch < 4; ch++ {
			c.VPSLLD(operand.U8(8*ch), vs[ch], vs[ch])
			if z512 {
				c.VPORD(vs[ch], vs[0], vs[0])
			} else {
				c.VPOR(vs[ch], vs[0], vs[0])
			}
		}
	}
	block := func(cnt int) {
		if lanes == 16 {
			if cnt < 16 {
				setMask(c, reg.K1, cnt, t)
			}
			codes(cnt, zmm, true)
			if cnt == 16 {
				c.VMOVDQU32(reg.Z0, mem(dst, 0))
			} else {
				c.VMOVDQU32(reg.Z0, reg.K1, mem(dst, 0))
			}
			return
		}
		if cnt < 8 {
			m := make([]uint32, 8)
			for i := 0; i < cnt; i++ {
				m[i] = 0xFFFFFFFF
			}
			c.VMOVDQU(k.vec(m...), mask)
		}
		if !fast {
			for ch := 0; ch < q.C; ch++ {
				quant(ch, cnt, reg.Y0)
				c.VEXTRACTI128(operand.U8(1), reg.Y0, reg.X1)
				c.VPACKSSDW(reg.X1, reg.X0, reg.X0) // 8 int16 codes
				if !q.Wide {
					c.VPACKUSWB(reg.X0, reg.X0, reg.X0)
				}
				for i := 0; i < cnt; i++ {
					if q.Wide {
						if i%4 == 0 {
							c.VPEXTRQ(operand.U8(i/4), reg.X0, t)
						}
						c.MOVW(t.As16(), mem(dst, i*pix+ch*2))
						c.SHRQ(operand.U8(16), t)
						continue
					}
					if i == 0 {
						c.MOVQ(reg.X0, t)
					}
					c.MOVB(t.As8(), mem(dst, i*pix+ch))
					c.SHRQ(operand.U8(8), t)
				}
			}
			return
		}
		// Stride 4: build each pixel's 4 (or 4 x uint16) codes in a lane.
		codes(cnt, ymm, !q.Wide)
		if !q.Wide {
			if cnt == 8 {
				c.VMOVDQU(reg.Y0, mem(dst, 0))
			} else {
				c.VMASKMOVPS(reg.Y0, mask, mem(dst, 0))
			}
			return
		}
		c.VPSLLD(operand.U8(16), reg.Y1, reg.Y1)
		c.VPOR(reg.Y1, reg.Y0, reg.Y0) // channels 0, 1
		c.VPSLLD(operand.U8(16), reg.Y3, reg.Y3)
		c.VPOR(reg.Y3, reg.Y2, reg.Y2)                         // channels 2, 3
		c.VPUNPCKLDQ(reg.Y2, reg.Y0, reg.Y4)                   // pixels 0 1 | 4 5
		c.VPUNPCKHDQ(reg.Y2, reg.Y0, reg.Y5)                   // pixels 2 3 | 6 7
		c.VPERM2I128(operand.U8(0x20), reg.Y5, reg.Y4, reg.Y0) // 0-3
		c.VPERM2I128(operand.U8(0x31), reg.Y5, reg.Y4, reg.Y1) // 4-7
		if cnt == 8 {
			c.VMOVDQU(reg.Y0, mem(dst, 0))
			c.VMOVDQU(reg.Y1, mem(dst, 32))
			return
		}
		for h := 0; h < 2; h++ {
			m := make([]uint32, 8)
			for i := 0; i < 4; i++ {
				if 4*h+i < cnt {
					m[2*i], m[2*i+1] = 0xFFFFFFFF, 0xFFFFFFFF
				}
			}
			c.VMOVDQU(k.vec(m...), mask)
			c.VPMASKMOVQ(ymm[h], mask, mem(dst, 32*h))
		}
	}
	done := g.label("done")
	top := g.label("row")
	c.Label(top)
	c.CMPQ(s, s1)
	c.JGE(operand.LabelRef(done))
	// src = x + s*W*4, dst = y + (s+Border)*rowBytes
	c.IMUL3Q(i32(q.W*4), s, src)
	c.ADDQ(px, src)
	c.IMUL3Q(i32(rowBytes), s, dst)
	c.ADDQ(py, dst)
	if q.Border > 0 {
		c.ADDQ(i32(q.Border*rowBytes), dst)
		// The first and last image rows also write the top and bottom border rows.
		for _, side := range []struct{ row, off int }{{0, -q.Border * rowBytes}, {q.H - 1, rowBytes}} {
			skip := g.label("nb")
			c.CMPQ(s, i32(side.row))
			c.JNE(operand.LabelRef(skip))
			c.ADDQ(i32(side.off), dst)
			fill(q.Border * wp)
			c.SUBQ(i32(side.off), dst)
			c.Label(skip)
		}
		fill(q.Border)
		c.ADDQ(i32(q.Border*pix), dst)
	}
	full, tail := q.W/lanes, q.W%lanes
	if full > 0 {
		c.MOVQ(i32(full), n)
		lp := g.label("px")
		c.Label(lp)
		block(lanes)
		c.ADDQ(i32(4*lanes), src)
		c.ADDQ(i32(lanes*pix), dst)
		c.DECQ(n)
		c.JNZ(operand.LabelRef(lp))
	}
	if tail > 0 {
		block(tail)
		c.ADDQ(i32(tail*pix), dst)
	}
	fill(q.Border)
	c.INCQ(s)
	c.JMP(operand.LabelRef(top))
	c.Label(done)
	c.VZEROUPPER()
	c.RET()
}
