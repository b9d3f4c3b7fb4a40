package asmgen

import (
	"fmt"
	"math"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// EpiAdd is a residual add a conv applies to its requantized bytes (an add
// epilogue, lower.Epilogue): each byte a the conv writes becomes
// clamp(rne(float32(float32(a-ZA)*MA) + float32(float32(b-ZB)*MB)) + Z, 0, 255)
// (below at Z for add_relu), b the byte Delta bytes past a (the other
// input, in the same arena). The zmm stores (finishZmm, the tile programs')
// apply it to the conv's int32 lanes before they pack them (inRegs): a
// byte then never goes through memory between conv and add. The other
// designs apply it to each strip once stored (epiStrip, chunk): correct,
// but no faster than the separate add (ResNet-50's layer1 convs, Zen 5:
// +90 us against the add's 67).
type EpiAdd struct {
	Delta  int
	ZA, ZB int32
	MA, MB float32
	Z      int32
	ReLU   bool
}

func (a *EpiAdd) check() error {
	for _, m := range []float32{a.MA, a.MB} {
		if math.IsNaN(float64(m)) || math.IsInf(float64(m), 0) {
			return fmt.Errorf("asmgen: add multiplier %v is not finite", m)
		}
	}
	if a.Delta < math.MinInt32/2 || a.Delta > math.MaxInt32/2 {
		return fmt.Errorf("asmgen: add operand %d bytes away", a.Delta)
	}
	return nil
}

// addEpi emits an EpiAdd: its own packer (the add's zero point and clamp)
// and constants.
type addEpi struct {
	c              *build.Context
	pk             *packer
	za, zb, ma, mb operand.Op
	// clo and chi clamp the conv's int32 lanes to its own codes less ZA
	// (inRegs): clamp(v+ZA, Lo, Hi) - ZA = clamp(v, Lo-ZA, Hi-ZA).
	clo, chi operand.Op
	perm     operand.Mem
	delta    int
	lanes    int // 16 on zmm, else 8
	// zaZero and zbZero: a zero point of 0 (an operand after a ReLU, as
	// ResNets' identities are) is no subtraction.
	zaZero, zbZero bool
}

// newAddEpi is a's emitter for a conv requantized by conv (whose Z is a.ZA).
func newAddEpi(p *Program, k *consts, a *EpiAdd, conv *Requant) *addEpi {
	r := &Requant{Z: a.Z, Hi: 255, M: []float32{1}, MaxAbsProd: []float64{255 * (math.Abs(float64(a.MA)) + math.Abs(float64(a.MB))) * 1.001}}
	if a.ReLU {
		r.Lo = a.Z
	}
	e := &addEpi{c: p.ctx, pk: newPacker(p, k, r), zaZero: a.ZA == 0, zbZero: a.ZB == 0}
	if !e.zaZero {
		e.za = k.i32(a.ZA)
	}
	if !e.zbZero {
		e.zb = k.i32(a.ZB)
	}
	e.ma, e.mb = k.f32(a.MA), k.f32(a.MB)
	e.clo, e.chi = k.i32(conv.Lo-conv.Z), k.i32(conv.Hi-conv.Z)
	e.perm, e.delta = k.vec(0, 4, 1, 5, 2, 6, 3, 7), a.Delta
	return e
}

// hold loads inRegs' constants into regs (five of v's width, free where
// inRegs runs) and returns the emitter that reads them there: loaded once a
// block, not once a vector (seven 64-byte loads a vector bound it at ~3.5
// cycles on Zen 5).
func (e *addEpi) hold(regs []reg.VecPhysical) *addEpi {
	h := *e
	for i, op := range []*operand.Op{&h.clo, &h.chi, &h.ma, &h.zb, &h.mb} {
		if op == &h.zb && h.zbZero {
			continue
		}
		r := regs[i]
		if r.Size() == 64 {
			e.c.VMOVDQU32(*op, r)
		} else {
			e.c.VMOVDQU(*op, r)
		}
		*op = r
	}
	return &h
}

// inRegs turns v, the conv's int32 lanes for the bytes at dst (scaled, before
// its zero point), into the add's (rounded, before its zero point), which
// e.pk then packs or narrows: the conv's clamp, then the add with the
// operand's bytes delta past dst (read, v's lanes of them); t is a scratch.
func (e *addEpi) inRegs(v, t reg.VecPhysical, dst operand.Mem) {
	c := e.c
	c.VPMAXSD(e.clo, v, v)
	c.VPMINSD(e.chi, v, v)
	c.VCVTDQ2PS(v, v)
	c.VMULPS(e.ma, v, v)
	c.VPMOVZXBD(dst.Offset(e.delta), t)
	if !e.zbZero {
		c.VPSUBD(e.zb, t, t)
	}
	c.VCVTDQ2PS(t, t)
	c.VMULPS(e.mb, t, t)
	c.VADDPS(t, v, v)
	if e.pk.doCap {
		c.VMINPS(e.pk.capv, v, v)
	}
	c.VCVTPS2DQ(v, v)
}

// addStep is the most bytes chunk takes.
const addStep = 32

// chunk adds the n (1..addStep) bytes at dst to theirs delta bytes on and
// stores exactly n bytes at dst (loads read up to 7 past both), on ymm: the
// designs that run it store on ymm (a zmm one adds in registers); gp is a
// scratch.
func (e *addEpi) chunk(dst operand.Mem, n int, gp reg.GPPhysical) {
	c, pk := e.c, e.pk
	for i := range (n + 7) / 8 {
		v, t := ymm[i], ymm[4+i]
		c.VPMOVZXBD(dst.Offset(8*i), v)
		c.VPMOVZXBD(dst.Offset(8*i+e.delta), t)
		if !e.zaZero {
			c.VPSUBD(e.za, v, v)
		}
		if !e.zbZero {
			c.VPSUBD(e.zb, t, t)
		}
		c.VCVTDQ2PS(v, v)
		c.VCVTDQ2PS(t, t)
		c.VMULPS(e.ma, v, v)
		c.VMULPS(e.mb, t, t)
		c.VADDPS(t, v, v)
		if pk.doCap {
			c.VMINPS(pk.capv, v, v)
		}
		c.VCVTPS2DQ(v, v)
	}
	if n > 16 {
		c.VMOVDQU(e.perm, reg.Y8)
	}
	storeLanes(c, pk, reg.Y8, n, dst, gp)
}

// epiRows applies the epilogue (table or add), if any, to the first n
// bytes of rows rows at base + r*stride, just stored (see lutRows).
func (pk *packer) epiRows(base reg.Register, rows, stride, n int, gp reg.GPPhysical) {
	if pk.add == nil {
		pk.lutRows(base, rows, stride, n, gp)
		return
	}
	step := addStep
	for i := range rows {
		for off := 0; off < n; off += step {
			pk.add.chunk(mem(base, i*stride+off), min(step, n-off), gp)
		}
	}
}

// epiFlat applies the epilogue, if any, to the n contiguous bytes at base
// (see lutFlat).
func (pk *packer) epiFlat(base reg.Register, n int, ptr, cnt, gp reg.GPPhysical, name string) {
	if pk.add == nil {
		pk.lutFlat(base, n, ptr, cnt, gp, name)
		return
	}
	c, step := pk.c, addStep
	c.MOVQ(base, ptr)
	if full := n / step; full > 0 {
		if full > 1 {
			c.MOVQ(i32(full), cnt)
			c.Label(name)
		}
		pk.add.chunk(mem(ptr, 0), step, gp)
		c.ADDQ(i32(step), ptr)
		if full > 1 {
			c.DECQ(cnt)
			c.JNZ(operand.LabelRef(name))
		}
	}
	if tail := n % step; tail > 0 {
		pk.add.chunk(mem(ptr, 0), tail, gp)
	}
}

// hasEpi says whether the kernel applies an epilogue.
func (pk *packer) hasEpi() bool { return pk.lut != nil || pk.add != nil }
