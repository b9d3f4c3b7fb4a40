package asmgen

import (
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// A 256-entry byte table on 32 bytes of a ymm register (AVX2): its 16 rows of
// 16 bytes are VPSHUFB sub-tables indexed by the low nibble; bit 4 picks
// within pairs of rows through VPSHUFB's zeroing (bit 7 of the index) and an
// OR; a tree of VPBLENDVB by bits 5, 6 and 7 (a byte's bit moved to bit 7 by
// a shift) picks the pair. Where the table's contents are known when the
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
func lvl(n int) int { return map[int]int{4: 0, 8: 1, 16: 2}[n] }

// lookup replaces nothing: it returns a register holding the entries of the
// 32 bytes of r.x (kept) looked up; the other registers of r are clobbered.
func (l *lut) lookup(r *lutRegs) reg.VecPhysical {
	c := l.c
	var pairs bool
	var blend [3]bool
	l.needs(0, 16, &pairs, &blend)
	if pairs {
		// The even row's index has bit 7 set where bit 4 is, the odd's
		// where it is not, so an OR joins the two shuffles.
		c.VPSLLW(operand.U8(3), r.x, r.even)
		c.VPAND(l.top, r.even, r.even)
		c.VPAND(l.nib, r.x, r.t0)
		c.VPOR(r.t0, r.even, r.even)
		c.VPXOR(l.top, r.even, r.odd)
	}
	if blend[0] {
		c.VPSLLW(operand.U8(2), r.x, r.m5)
	}
	if blend[1] {
		c.VPSLLW(operand.U8(1), r.x, r.m6)
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
		switch {
		case a == nil:
			// The lower half a constant: into a register for the blend.
			a = take()
			c.VMOVDQU(l.konst(ca), a)
			c.VPBLENDVB(m, b, a, a)
			give(b)
		case b == nil:
			c.VPBLENDVB(m, l.konst(cb), a, a)
		default:
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
