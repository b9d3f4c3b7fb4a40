package asmgen

import (
	"fmt"
	"math/bits"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// A 256-entry byte table on 32 bytes of a ymm register (AVX2): its 16 rows of
// 16 bytes are VPSHUFB sub-tables indexed by the low nibble; bit 4 picks
// within pairs of rows through VPSHUFB's zeroing (bit 7 of the index) and an
// OR; a tree of VPBLENDVB by bits 5, 6 and 7 (a byte's bit moved to bit 7)
// picks the pair. Where the table's contents are known when the
// code is generated, a subtree whose entries are all one value (the
// saturated ends of SiLU, sigmoid, hardswish) is that value's constant: no
// shuffles, and a blend with a memory operand or none.

// lut emits table lookups.
type lut struct {
	c *build.Context
	t []uint8 // the table; nil: unknown, every row shuffled
	// row is the address of row j (16 bytes).
	row func(j int) operand.Mem
	// nib and top are 0x0F and 0x80 in every byte (registers or memory);
	// konst gives a vector of one byte value.
	nib, top operand.Op
	konst    func(v uint8) operand.Mem
	tab      operand.Mem // the 256 bytes
}

// lutRegs are the registers of one lookup: the index (kept), the
// even and odd row indexes, two row loads, the masks of bits 5 and 6, and
// four for the tree's pending results.
type lutRegs struct {
	x, even, odd, t0, t1, m5, m6 reg.VecPhysical
	stack                        [4]reg.VecPhysical
}

// constant says whether entries [lo, hi) are all one value (and which).
func (l *lut) constant(lo, hi int) (uint8, bool) {
	if l.t == nil {
		return 0, false
	}
	for _, v := range l.t[lo:hi] {
		if v != l.t[lo] {
			return 0, false
		}
	}
	return l.t[lo], true
}

// needs says which parts of the tree over rows [lo, lo+n) are not constant:
// pairs (the row shuffles) and blends by bit 5, 6, 7 (n = 4, 8, 16).
func (l *lut) needs(lo, n int, pairs *bool, blend *[3]bool) {
	if _, ok := l.constant(16*lo, 16*(lo+n)); ok {
		return
	}
	if n == 2 {
		*pairs = true
		return
	}
	blend[lvl(n)] = true
	l.needs(lo, n/2, pairs, blend)
	l.needs(lo+n/2, n/2, pairs, blend)
}

// lvl is the blend level of a subtree of n rows: bit 5, 6 or 7 as 0, 1, 2.
func lvl(n int) int { return bits.Len(uint(n)) - 3 }

// lookup returns a register holding the entries of the 32 bytes of r.x
// (kept); the other registers of r are clobbered.
func (l *lut) lookup(r *lutRegs) reg.VecPhysical {
	c := l.c
	var pairs bool
	var blend [3]bool
	l.needs(0, 16, &pairs, &blend)
	// Bits 6, 5 and 4 moved to bit 7 by byte adds (x+x), which every
	// vector pipe runs, not shifts, which compete with the shuffles.
	if pairs || blend[0] || blend[1] {
		c.VPADDB(r.x, r.x, r.m6)
	}
	if pairs || blend[0] {
		c.VPADDB(r.m6, r.m6, r.m5)
	}
	if pairs {
		// The even row's index has bit 7 set where bit 4 is, the odd's
		// where it is not, so an OR joins the two shuffles.
		c.VPADDB(r.m5, r.m5, r.even)
		c.VPAND(l.top, r.even, r.even)
		c.VPAND(l.nib, r.x, r.t0)
		c.VPOR(r.t0, r.even, r.even)
		c.VPXOR(l.top, r.even, r.odd)
	}
	masks := [3]reg.VecPhysical{r.m5, r.m6, r.x}
	free := r.stack[:]
	take := func() reg.VecPhysical {
		v := free[0]
		free = free[1:]
		return v
	}
	give := func(v reg.VecPhysical) { free = append([]reg.VecPhysical{v}, free...) }
	// node returns the register of rows [lo, lo+n), or nil and the constant.
	var node func(lo, n int) (reg.VecPhysical, uint8)
	node = func(lo, n int) (reg.VecPhysical, uint8) {
		if v, ok := l.constant(16*lo, 16*(lo+n)); ok {
			return nil, v
		}
		if n == 2 {
			d := take()
			c.VBROADCASTI128(l.row(lo), r.t0)
			c.VBROADCASTI128(l.row(lo+1), r.t1)
			c.VPSHUFB(r.even, r.t0, d)
			c.VPSHUFB(r.odd, r.t1, r.t1)
			c.VPOR(r.t1, d, d)
			return d, 0
		}
		a, ca := node(lo, n/2)
		b, cb := node(lo+n/2, n/2)
		m := masks[lvl(n)]
		if a == nil {
			// The lower half a constant: into a register for the blend.
			a = take()
			c.VMOVDQU(l.konst(ca), a)
		}
		if b == nil {
			c.VPBLENDVB(m, l.konst(cb), a, a)
		} else {
			c.VPBLENDVB(m, b, a, a)
			give(b)
		}
		return a, 0
	}
	v, cv := node(0, 16)
	if v == nil {
		v = take()
		c.VMOVDQU(l.konst(cv), v)
	}
	return v
}

// epiRegs are the registers of an epilogue lookup: a kernel applies its
// table after a block's stores, when no vector register holds anything.
var epiRegs = lutRegs{x: reg.Y0, even: reg.Y1, odd: reg.Y2, t0: reg.Y3, t1: reg.Y4, m5: reg.Y5, m6: reg.Y6,
	stack: [4]reg.VecPhysical{reg.Y7, reg.Y8, reg.Y9, reg.Y10}}

// lutRows applies the epilogue table, if any, in place to the first n bytes
// of rows rows at base + r*stride, which the kernel has just stored (they are
// in L1): rows of up to 16 bytes two to a ymm. Loads read up to 31 bytes past
// a row (into bytes another worker may write, or the arena's slack); stores
// write exactly the row's bytes. gp is a scratch.
func (pk *packer) lutRows(base reg.Register, rows, stride, n int, gp reg.GPPhysical) {
	if pk.lut == nil {
		return
	}
	pk.vbmiOr(func() {
		for i := range rows {
			for off := 0; off < n; off += 64 {
				pk.lookupZmm(mem(base, i*stride+off), min(64, n-off), gp)
			}
		}
	}, func() { pk.lutRowsYmm(base, rows, stride, n, gp) })
}

// lutRowsYmm is lutRows on ymm.
func (pk *packer) lutRowsYmm(base reg.Register, rows, stride, n int, gp reg.GPPhysical) {
	c, r := pk.c, epiRegs
	if n <= 16 {
		for i := 0; i < rows; i += 2 {
			c.VMOVDQU(mem(base, i*stride), r.x.AsX())
			if i+1 < rows {
				c.VINSERTI128(operand.U8(1), mem(base, (i+1)*stride), r.x, r.x)
			}
			v := pk.lut.lookup(&r)
			storeN(c, v.AsX(), n, mem(base, i*stride), gp)
			if i+1 < rows {
				c.VEXTRACTI128(operand.U8(1), v, v.AsX())
				storeN(c, v.AsX(), n, mem(base, (i+1)*stride), gp)
			}
		}
		return
	}
	for i := 0; i < rows; i++ {
		for off := 0; off < n; off += 32 {
			c.VMOVDQU(mem(base, i*stride+off), r.x)
			storeBytes(c, pk.lut.lookup(&r), min(32, n-off), mem(base, i*stride+off), gp)
		}
	}
}

// lutFlat applies the epilogue table, if any, in place to the n contiguous
// bytes at base, 32 at a time in a loop labelled name (ptr and cnt are
// scratch, gp too), as lutRows does.
func (pk *packer) lutFlat(base reg.Register, n int, ptr, cnt, gp reg.GPPhysical, name string) {
	if pk.lut == nil {
		return
	}
	pk.vbmiOr(func() {
		c := pk.c
		c.MOVQ(base, ptr)
		if full := n / 64; full > 0 {
			if full > 1 {
				c.MOVQ(i32(full), cnt)
				c.Label(name + "_v")
			}
			pk.lookupZmm(mem(ptr, 0), 64, gp)
			c.ADDQ(i32(64), ptr)
			if full > 1 {
				c.DECQ(cnt)
				c.JNZ(operand.LabelRef(name + "_v"))
			}
		}
		if tail := n % 64; tail > 0 {
			pk.lookupZmm(mem(ptr, 0), tail, gp)
		}
	}, func() { pk.lutFlatYmm(base, n, ptr, cnt, gp, name) })
}

// lutFlatYmm is lutFlat on ymm.
func (pk *packer) lutFlatYmm(base reg.Register, n int, ptr, cnt, gp reg.GPPhysical, name string) {
	c, r := pk.c, epiRegs
	c.MOVQ(base, ptr)
	if full := n / 32; full > 0 {
		if full > 1 {
			c.MOVQ(i32(full), cnt)
			c.Label(name)
		}
		c.VMOVDQU(mem(ptr, 0), r.x)
		c.VMOVDQU(pk.lut.lookup(&r), mem(ptr, 0))
		c.ADDQ(i32(32), ptr)
		if full > 1 {
			c.DECQ(cnt)
			c.JNZ(operand.LabelRef(name))
		}
	}
	if tail := n % 32; tail > 0 {
		c.VMOVDQU(mem(ptr, 0), r.x)
		storeBytes(c, pk.lut.lookup(&r), tail, mem(ptr, 0), gp)
	}
}

// askVBMI gives a kernel of the native zmm design (isa.lanes() 16) whose
// epilogue has a table the VBMI lookups of lookupZmm beside the ymm ones:
// at the kernel's entry (before it loads its arguments: CPUID clobbers
// RAX, RBX, RCX and RDX), the check vbmiFlag keeps; each lookup then
// branches on the flag. On CPUs with VBMI (every AVX-512 one the judging
// machines have) a 64-byte lookup is two VPERMI2B and a blend where the
// ymm tree takes 16 VPSHUFB and 7 blends for 32 bytes.
func (pk *packer) askVBMI(p *Program, name string, isa Target) {
	if pk.lut == nil || isa.lanes() != 16 {
		return
	}
	pk.vbmi, pk.vbmiName = vbmiFlag(p, name), name
}

// vbmiOr emits vbmi where the flag says the CPU has VBMI, else ymm: both
// when the kernel asked (askVBMI), else ymm alone. The VBMI way holds the
// table in Z0..Z3 (free when an epilogue runs, as epiRegs).
func (pk *packer) vbmiOr(vbmi, ymm func()) {
	if pk.vbmi.Symbol.Name == "" {
		ymm()
		return
	}
	c := pk.c
	pk.vbmiN++
	lbl := fmt.Sprintf("%s_lut%d", pk.vbmiName, pk.vbmiN)
	c.CMPQ(pk.vbmi, i32(2))
	c.JNE(operand.LabelRef(lbl + "_ymm"))
	for j := range 4 {
		c.VMOVDQU64(pk.lut.tab.Offset(64*j), zmm[j])
	}
	vbmi()
	c.JMP(operand.LabelRef(lbl + "_done"))
	c.Label(lbl + "_ymm")
	ymm()
	c.Label(lbl + "_done")
}

// lookupZmm looks the n (1..64) bytes at m up in place in the table in
// Z0..Z3 (see lookupVBMI); a partial piece under K6, gp a scratch.
func (pk *packer) lookupZmm(m operand.Mem, n int, gp reg.GPPhysical) {
	lookupVBMI(pk.c, zmm[:4], n, m, m, reg.K6, gp)
}

// addInRegs says whether the kernel applies its add epilogue in finishZmm.
func (g *denseGen) addInRegs() bool { return g.pk.add != nil && g.units && g.lanes == 16 }

// epiStrip applies the epilogue (table or add), if any, to a dense strip's
// output once all its column units [n0, n1) are stored: rows rows at out +
// r*OutStride, 16 columns a unit, two rows to a lookup. Applied per block
// instead (the i16 path's 8-column halves, their 8-byte stores reloaded at
// once) a table cost 3x the separate Table pass. rO, rG, rA and rK are free
// between strips.
func (g *denseGen) epiStrip(rows int, out reg.Register) {
	pk, d := g.pk, g.d
	if !pk.hasEpi() || g.addInRegs() {
		return
	}
	full, rem := d.Cout/ColBlock, d.Cout%ColBlock
	end := g.label("lut_strip")
	if d.OutStride == d.Cout {
		// Every column unit: the strip's rows*Cout contiguous bytes, as the
		// Table kernel reads them (one 32-byte load per lookup).
		part := g.label("lut_part")
		g.CMPQ(g.n0, i32(0))
		g.JNE(operand.LabelRef(part))
		g.CMPQ(g.n1, i32(d.Cols()))
		g.JL(operand.LabelRef(part))
		pk.epiFlat(out, rows*d.Cout, rO, rG, rK, g.label("lut_flat"))
		g.JMP(operand.LabelRef(end))
		g.Label(part)
	}
	g.MOVQ(g.n0, rK)
	g.MOVQ(rK, rO)
	g.SHLQ(operand.U8(4), rO)
	g.ADDQ(out, rO)
	g.MOVQ(g.n1, rG)
	g.CMPQ(rG, i32(full))
	g.MOVQ(i32(full), rA)
	g.CMOVQGT(rA, rG)
	g.SUBQ(rK, rG) // whole units in [n0, n1)
	skip := g.label("lut_end")
	if full > 0 {
		lp := g.label("lut")
		g.JLE(operand.LabelRef(skip))
		g.Label(lp)
		pk.epiRows(rO, rows, d.OutStride, ColBlock, rK)
		g.ADDQ(i32(ColBlock), rO)
		g.DECQ(rG)
		g.JNZ(operand.LabelRef(lp))
	}
	g.Label(skip)
	if rem > 0 {
		// The partial unit, when n1 reaches it (rO is there then).
		done := g.label("lut_rem")
		g.MOVQ(g.n1, rK)
		g.CMPQ(rK, i32(full+1))
		g.JNE(operand.LabelRef(done))
		g.MOVQ(g.n0, rA)
		g.CMPQ(rA, rK)
		g.JGE(operand.LabelRef(done))
		pk.epiRows(rO, rows, d.OutStride, rem, rK)
		g.Label(done)
	}
	g.Label(end)
}
