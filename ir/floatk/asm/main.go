// Command asm generates ir/floatk's AVX2 and AVX-512 kernels with avo:
//
//	go run ./asm -out kernels_amd64.s -stubs stubs_amd64.go
//
// (the go:generate line in ../floatk.go). Each kernel exists once per tier,
// named with the tier's suffix; see ../floatk.go for what they compute.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/runtime"
)

// tier is how one runtime tier's float kernels are built: vector registers
// of vw float32 lanes.
type tier struct {
	name  string
	vw    int
	mrSeq int // rows of the widest gemmSeq and gemmDotPhased micro-kernels
	mrDot int // rows of the widest gemmDot micro-kernel
	vec   func() reg.VecVirtual
}

var tiers = []tier{
	{name: runtime.AVX2.Name, vw: 8, mrSeq: 6, mrDot: 2, vec: YMM},
	{name: runtime.AVX512.Name, vw: 16, mrSeq: 12, mrDot: 3, vec: ZMM},
}

func main() {
	ConstraintExpr("amd64")
	for _, t := range tiers {
		for mr := 1; mr <= t.mrSeq; mr++ {
			gemmSeq(t, mr)
		}
		for _, nt := range []bool{false, true} {
			for mr := 1; mr <= t.mrDot; mr++ {
				if 4*2*mr+4 > 16 && t.vw == 8 {
					gemmDotPairs(t, mr, nt)
				} else {
					gemmDot(t, mr, nt)
				}
			}
		}
		for mr := 1; mr <= t.mrSeq; mr++ {
			gemmDotPhased(t, mr, 2)
		}
		for mr := 1; mr <= t.mrSeq; mr++ {
			gemmDotPhased(t, mr, 1)
		}
		for mr := 1; mr <= t.mrSeq; mr++ {
			gemmDotCol(t, mr)
		}
		depthwise(t)
		if t.vw == 16 {
			dw3s1(t)
			dw3s2(t)
			dw3s2Rows(t)
		} else {
			dw3ymm(t, 1)
			dw3ymm(t, 2)
		}
		add(t)
		minmax(t)
		histIndex(t)
		histIndexNonZero(t)
		histCellNonZero(t)
		deinterleave(t)
	}
	sigmoid(false)
	sigmoid(true)
	count8()
	dotsI16(1)
	dotsI16(4)
	requant()
	addRow()
	storeFence()
	Generate()
}

// gemmSeq: c[r][0:2vw] = clamp(bias[r] + a[0*mr+r]*b[0][:] + a[1*mr+r]*b[1][:] + ...)
// for r < mr: the reference interpreter's direct convolution, term by term in
// k order, each product rounded before it is added (VMULPS, VADDPS: no FMA).
func gemmSeq(t tier, mr int) {
	kernel(fmt.Sprintf("gemmseq%d_%s", mr, t.name), "func(k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int)", fmt.Sprintf("gemmseq%d_%s is a %dx%d micro-kernel run on panels consecutive panels of A and C (see gemmSeqGo).", mr, t.name, mr, 2*t.vw))
	a, bias, c, panels := panelStart()
	Label("panel")
	ps := params("k", "b", "ldb")
	k, b, ldb := ps[0], ps[1], ps[2]
	SHLQ(U8(2), ldb)
	acc := make([][]reg.VecVirtual, mr)
	for r := range acc {
		acc[r] = make([]reg.VecVirtual, 2)
		for j := range acc[r] {
			acc[r][j] = t.vec()
			VBROADCASTSS(Mem{Base: bias, Disp: 4 * r}, acc[r][j])
		}
	}
	b0, b1, p := t.vec(), t.vec(), t.vec()
	var bc reg.VecVirtual // AVX2's broadcast A value (see rowStep)
	if t.vw != 16 {
		bc = t.vec()
	}
	rowLoop(t, "loop", "done", k, a, b, ldb, []reg.VecVirtual{b0, b1}, bc, p, acc)
	panelFinish(t, mr, acc, bias, c, panels, false)
}

// rowLoop emits the loop over cnt rows of B (none when cnt is 0) from bp
// on, by bytes apart: each row's len(bv) vectors, loaded into bv, times the
// len(acc) A values at a into acc (a moves on to the next step's); loop and
// done are its labels.
func rowLoop(t tier, loop, done string, cnt, a, bp reg.Register, by Op, bv []reg.VecVirtual, bc, p reg.VecVirtual, acc [][]reg.VecVirtual) {
	TESTQ(cnt, cnt)
	JZ(LabelRef(done))
	Label(loop)
	for j, b := range bv {
		VMOVUPS(Mem{Base: bp, Disp: 4 * t.vw * j}, b)
	}
	for r := range acc {
		rowStep(t, Mem{Base: a, Disp: 4 * r}, bv, bc, p, acc[r])
	}
	ADDQ(U32(4*len(acc)), a)
	ADDQ(by, bp)
	DECQ(cnt)
	JNZ(LabelRef(loop))
	Label(done)
}

// rowStep adds the products of the A value at m by the vectors bv to acc. AVX-512
// multiplies by m broadcast in the instruction: on Zen 4 a VBROADCASTSS into
// a zmm register takes a slot of the vector pipes the multiplies and adds
// need (the kernels run 30-50% faster without it).
func rowStep(t tier, m Mem, bv []reg.VecVirtual, bc, p reg.VecVirtual, acc []reg.VecVirtual) {
	if t.vw == 16 {
		for j, b := range bv {
			VMULPS_BCST(m, b, p)
			VADDPS(p, acc[j], acc[j])
		}
		return
	}
	VBROADCASTSS(m, bc)
	for j, b := range bv {
		VMULPS(b, bc, p)
		VADDPS(p, acc[j], acc[j])
	}
}

// panelStart loads the pointers that run across panels: A (its panels are
// consecutive, so the k loop leaves it at the next one), the bias, C, and
// the panel count.
func panelStart() (a, bias, c, panels reg.GPVirtual) {
	a = GP64()
	Load(Param("a"), a)
	bias = GP64()
	Load(Param("bias"), bias)
	c = GP64()
	Load(Param("c"), c)
	panels = GP64()
	Load(Param("panels"), panels)
	return a, bias, c, panels
}

// zeroTile is an mr x 2vw tile of accumulators, zeroed.
func zeroTile(t tier, mr int) [][]reg.VecVirtual {
	acc := make([][]reg.VecVirtual, mr)
	for r := range acc {
		acc[r] = make([]reg.VecVirtual, 2)
		for j := range acc[r] {
			acc[r][j] = t.vec()
			VXORPS(acc[r][j], acc[r][j], acc[r][j])
		}
	}
	return acc
}

// panelEnd moves the bias and C on by mr rows and loops while panels remain.
func panelEnd(mr int, bias, c, panels reg.GPVirtual) {
	ADDQ(U32(4*mr), bias)
	ldc := Load(Param("ldc"), GP64())
	IMUL3Q(U32(4*mr), ldc, ldc)
	ADDQ(ldc, c)
	DECQ(panels)
	JNZ(LabelRef("panel"))
}

// panelFinish stores the tile acc (nt: non-temporal) and ends the panel
// loop and the kernel.
func panelFinish(t tier, mr int, acc [][]reg.VecVirtual, bias, c, panels reg.GPVirtual, nt bool) {
	clampStore(t, acc, c, nt)
	panelEnd(mr, bias, c, panels)
	VZEROUPPER()
	RET()
}

// sumPhases is acc = ((s0+s1)+(s2+s3)) + bias[r] into s0, with s1 nil when
// it is already in s0.
func sumPhases(mr int, bias reg.GPVirtual, bc reg.VecVirtual, s0, s1, s2, s3 [][]reg.VecVirtual) {
	for r := range mr {
		VBROADCASTSS(Mem{Base: bias, Disp: 4 * r}, bc)
		for j := range s0[r] {
			if s1 != nil {
				VADDPS(s1[r][j], s0[r][j], s0[r][j])
			}
			VADDPS(s3[r][j], s2[r][j], s2[r][j])
			VADDPS(s2[r][j], s0[r][j], s0[r][j])
			VADDPS(bc, s0[r][j], s0[r][j])
		}
	}
}

// splitK loads k as k4 = k>>2 and kt = k&3, and ldb in bytes and times 4.
// The caller allocates k4 and kt: the order of allocation picks the registers.
func splitK(k4, kt reg.GPVirtual) (ldb, ldb4 reg.GPVirtual) {
	Load(Param("k"), k4)
	MOVQ(k4, kt)
	SHRQ(U8(2), k4)
	ANDQ(U8(3), kt)
	ldb = Load(Param("ldb"), GP64()).(reg.GPVirtual)
	SHLQ(U8(2), ldb)
	ldb4 = GP64()
	MOVQ(ldb, ldb4)
	SHLQ(U8(2), ldb4)
	return ldb, ldb4
}

// gemmDot: c[r][0:2vw] = clamp(((s0+s1)+(s2+s3)) + bias[r]) where s_p sums the
// products a[i*mr+r]*b[i][:] of the steps i = p mod 4 below k&^3, and s0 then
// the remaining k&3 steps: the reference interpreter's 1x1 convolution (its
// 4-way unrolled dot product), each product rounded before it is added.
func gemmDot(t tier, mr int, nt bool) {
	name := dotName(t, mr, nt)
	kernel(name, "func(k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int)", fmt.Sprintf("%s is a %dx%d micro-kernel run on panels consecutive panels of A and C (see gemmDotGo)%s.", name, mr, 2*t.vw, ntDoc(nt)))
	a, bias, c, panels := panelStart()
	Label("panel")
	k := Load(Param("k"), GP64())
	k4 := GP64()
	MOVQ(k, k4)
	SHRQ(U8(2), k4)
	ANDQ(U8(3), k)
	ps := params("b", "ldb")
	b, ldb := ps[0], ps[1]
	SHLQ(U8(2), ldb)
	var acc [4][][]reg.VecVirtual
	for ph := range acc {
		acc[ph] = zeroTile(t, mr)
	}
	b0, b1, bc, p := t.vec(), t.vec(), t.vec(), t.vec()
	step := func(acc [][]reg.VecVirtual) {
		VMOVUPS(Mem{Base: b}, b0)
		VMOVUPS(Mem{Base: b, Disp: 4 * t.vw}, b1)
		for r := range mr {
			rowStep(t, Mem{Base: a, Disp: 4 * r}, []reg.VecVirtual{b0, b1}, bc, p, acc[r])
		}
		ADDQ(U32(4*mr), a)
		ADDQ(ldb, b)
	}
	TESTQ(k4, k4)
	JZ(LabelRef("tail"))
	Label("loop4")
	for ph := range 4 {
		step(acc[ph])
	}
	DECQ(k4)
	JNZ(LabelRef("loop4"))
	Label("tail")
	TESTQ(k, k)
	JZ(LabelRef("sum"))
	Label("loop1")
	step(acc[0])
	DECQ(k)
	JNZ(LabelRef("loop1"))
	Label("sum")
	sumPhases(mr, bias, bc, acc[0], acc[1], acc[2], acc[3])
	panelFinish(t, mr, acc[0], bias, c, panels, nt)
}

// dotName is gemmDot's (or gemmDotPairs') kernel name; nt: the variant
// that stores C with non-temporal stores.
func dotName(t tier, mr int, nt bool) string {
	if nt {
		return fmt.Sprintf("gemmdotnt%d_%s", mr, t.name)
	}
	return fmt.Sprintf("gemmdot%d_%s", mr, t.name)
}

func ntDoc(nt bool) string {
	if nt {
		return ", storing C non-temporally (its rows and c 4*vw-byte aligned)"
	}
	return ""
}

// gemmDotPairs is gemmDot where four phases of an mr x 2vw tile outgrow
// the registers (AVX2's 16 ymm from mr 2): the phases run in pairs over B,
// 0 and 1 interleaved step by step, then 2 and 3, s0+s1 waiting in
// registers meanwhile. The sums are gemmDot's, term by term; the larger tile
// loads a B row for mr rows of A (gemmDot's 1x16 tile spends three loads
// on 16 multiply-adds).
//
// It first copies B's k x 2vw tile into tmp (k*2vw floats), rows 8vw bytes
// apart, and runs the panels on the copy: B's rows lie a plane apart (50 KB
// at 112x112, a multiple of 4 KB plus 1 KB), so in L1 they share four sets
// with the C rows the panels write, and were evicted before the next panel
// read them (MobileNetV2-224's 1x1 convs of K 16-32 at 112x112 and 56x56 ran
// 1.4-1.9x faster on the copy). While copying it prefetches the next tile's
// rows.
func gemmDotPairs(t tier, mr int, nt bool) {
	name := dotName(t, mr, nt)
	kernel(name, "func(k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int, tmp *float32)", fmt.Sprintf("%s is a %dx%d micro-kernel run on panels consecutive panels of A and C (see gemmDotGo)%s; tmp holds k*%d floats.", name, mr, 2*t.vw, ntDoc(nt), 2*t.vw))
	row := 8 * t.vw // bytes of a packed B row
	b0, b1, bc, p := t.vec(), t.vec(), t.vec(), t.vec()
	{
		ps := params("k", "b", "ldb", "tmp")
		cnt, bp, ldb, tp := ps[0], ps[1], ps[2], ps[3]
		SHLQ(U8(2), ldb)
		copyRows(t, "pack", cnt, bp, ldb, tp, b0, b1)
	}
	a, bias, c, panels := panelStart()
	Label("panel")
	k4, kt := GP64(), GP64()
	Load(Param("k"), k4)
	MOVQ(k4, kt)
	SHRQ(U8(2), k4)
	ANDQ(U8(3), kt)
	bp, ap, cnt := GP64(), GP64(), GP64()
	// step adds B's row at m times A's step at ap+disp to acc.
	step := func(m Mem, disp int, acc [][]reg.VecVirtual) {
		VMOVUPS(m, b0)
		m.Disp += 4 * t.vw
		VMOVUPS(m, b1)
		for r := range mr {
			rowStep(t, Mem{Base: ap, Disp: disp + 4*r}, []reg.VecVirtual{b0, b1}, bc, p, acc[r])
		}
	}
	// pair runs phases ph and ph+1 over the k&^3 rows: B rows ph+4i and
	// ph+1+4i, A steps likewise.
	pair := func(ph int, lo, hi [][]reg.VecVirtual) {
		Load(Param("tmp"), bp)
		if ph > 0 {
			ADDQ(U32(row*ph), bp)
		}
		MOVQ(a, ap)
		if ph > 0 {
			ADDQ(U32(4*mr*ph), ap)
		}
		MOVQ(k4, cnt)
		name := fmt.Sprintf("pair%d", ph)
		TESTQ(cnt, cnt)
		JZ(LabelRef(name + "done"))
		Label(name)
		step(Mem{Base: bp}, 0, lo)
		step(Mem{Base: bp, Disp: row}, 4*mr, hi)
		ADDQ(U32(16*mr), ap)
		ADDQ(U32(4*row), bp)
		DECQ(cnt)
		JNZ(LabelRef(name))
		Label(name + "done")
	}
	s0, s1 := zeroTile(t, mr), zeroTile(t, mr)
	pair(0, s0, s1)
	// The last k&3 rows into s0: bp and ap are at row k&^3.
	MOVQ(kt, cnt)
	TESTQ(cnt, cnt)
	JZ(LabelRef("taildone"))
	Label("tail")
	step(Mem{Base: bp}, 0, s0)
	ADDQ(U32(4*mr), ap)
	ADDQ(U32(row), bp)
	DECQ(cnt)
	JNZ(LabelRef("tail"))
	Label("taildone")
	for r := range mr {
		for j := range s0[r] {
			VADDPS(s1[r][j], s0[r][j], s0[r][j])
		}
	}
	s2, s3 := zeroTile(t, mr), zeroTile(t, mr)
	pair(2, s2, s3)
	sumPhases(mr, bias, bc, s0, nil, s2, s3)
	clampStore(t, s0, c, nt)
	k := Load(Param("k"), GP64())
	IMUL3Q(U32(4*mr), k, k)
	ADDQ(k, a)
	panelEnd(mr, bias, c, panels)
	VZEROUPPER()
	RET()
}

// copyRows copies cnt rows of 2vw floats (none when cnt is 0) from src on,
// by bytes apart, to dst on, 8vw bytes apart, through b0 and b1, and
// prefetches the 2vw floats after each row: the next column tile's. name
// labels the loop.
func copyRows(t tier, name string, cnt, src, by, dst reg.Register, b0, b1 reg.VecVirtual) {
	TESTQ(cnt, cnt)
	JZ(LabelRef(name + "done"))
	Label(name)
	VMOVUPS(Mem{Base: src}, b0)
	VMOVUPS(Mem{Base: src, Disp: 4 * t.vw}, b1)
	PREFETCHT0(Mem{Base: src, Disp: 8 * t.vw})
	VMOVUPS(b0, Mem{Base: dst})
	VMOVUPS(b1, Mem{Base: dst, Disp: 4 * t.vw})
	ADDQ(by, src)
	ADDQ(U32(8*t.vw), dst)
	DECQ(cnt)
	JNZ(LabelRef(name))
	Label(name + "done")
}

// gemmDotPhased: c[r][0:2vw] = clamp(((s0+s1)+(s2+s3)) + bias[r]) where s_p sums
// the products a[i*mr+r]*b[row_i][:] of the phase-p steps i of A, taken in
// phase order (see PhaseOrder in ../floatk.go): s_p over the B rows i = p mod
// 4 below k&^3, s0 then over the last k&3 rows. That is the reference
// interpreter's 1x1 convolution (its 4-way unrolled dot product), each
// product rounded before it is added. The phases run one after the other on
// an mr x 2vw register tile (the same as gemmSeq's); the first three wait in
// tmp (3*mr*nv*vw floats). With 4x the rows of gemmDot's tile it loads B a
// quarter as often: faster where B's K x 2vw columns outgrow L1, slower for
// short k (the spills and the combining weigh more).
//
// The AVX2 6x16 kernel first copies B's k x 16 tile after the spills in
// tmp, in phase order, prefetching the next tile's rows, and runs its panels
// on the copy, one stream: MobileNetV2-224's layers ran 0-25% faster (most
// where M is small or K large). The others run a panel or two each, too few
// to pay for a copy.
func gemmDotPhased(t tier, mr, nv int) {
	name := fmt.Sprintf("gemmdp%d_%s", mr, t.name)
	if nv == 1 {
		name = fmt.Sprintf("gemmdph%d_%s", mr, t.name)
	}
	pack := t.vw == 8 && nv == 2 && mr == t.mrSeq
	doc := fmt.Sprintf("%s is a %dx%d micro-kernel run on panels consecutive panels of A and C (see gemmDotPhasedGo).", name, mr, nv*t.vw)
	if pack {
		doc += fmt.Sprintf(" It copies B's tile into tmp after %d floats.", 3*mr*nv*t.vw)
	}
	kernel(name, "func(k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int, tmp *float32)", doc)
	spills := 3 * mr * nv * 4 * t.vw // bytes
	if pack {
		k4, kt, bp, cnt := GP64(), GP64(), GP64(), GP64()
		ldb, ldb4 := splitK(k4, kt)
		dst := Load(Param("tmp"), GP64())
		ADDQ(U32(spills), dst)
		b0, b1 := t.vec(), t.vec()
		for ph := range 4 {
			Load(Param("b"), bp)
			for range ph {
				ADDQ(ldb, bp)
			}
			MOVQ(k4, cnt)
			copyRows(t, fmt.Sprintf("pack%d", ph), cnt, bp, ldb4, dst, b0, b1)
			if ph == 0 {
				MOVQ(kt, cnt)
				copyRows(t, "packtail", cnt, bp, ldb, dst, b0, b1)
			}
		}
	}
	a, bias, c, panels := panelStart()
	tmp := Load(Param("tmp"), GP64())
	Label("panel")
	k4, kt, bp, cnt := GP64(), GP64(), GP64(), GP64()
	var ldb, ldb4 Op
	if pack {
		// The copy's rows are in phase order, one after the other.
		Load(Param("k"), k4)
		MOVQ(k4, kt)
		SHRQ(U8(2), k4)
		ANDQ(U8(3), kt)
		MOVQ(tmp, bp)
		ADDQ(U32(spills), bp)
		ldb, ldb4 = U32(8*t.vw), U32(8*t.vw)
	} else {
		ldb, ldb4 = splitK(k4, kt)
	}
	acc := make([][]reg.VecVirtual, mr)
	for r := range acc {
		acc[r] = make([]reg.VecVirtual, nv)
		for j := range acc[r] {
			acc[r][j] = t.vec()
		}
	}
	bv := make([]reg.VecVirtual, nv)
	for j := range bv {
		bv[j] = t.vec()
	}
	b0 := bv[0]
	p := t.vec()
	var bc reg.VecVirtual // AVX2's broadcast A value (see rowStep)
	if t.vw != 16 {
		bc = t.vec()
	}
	// loop runs cnt steps from B row bp on, stride by bytes.
	loop := func(name string, by Op) {
		rowLoop(t, name, name+"done", cnt, a, bp, by, bv, bc, p, acc)
	}
	slot := func(ph, r, j int) Mem { return Mem{Base: tmp, Disp: ((ph*mr+r)*nv + j) * 4 * t.vw} }
	for ph := range 4 {
		for r := range acc {
			for j := range nv {
				VXORPS(acc[r][j], acc[r][j], acc[r][j])
			}
		}
		if !pack {
			Load(Param("b"), bp)
			for range ph {
				ADDQ(ldb, bp)
			}
		}
		MOVQ(k4, cnt)
		loop(fmt.Sprintf("phase%d", ph), ldb4)
		if ph == 0 {
			// The last k&3 rows: bp is at row k&^3.
			MOVQ(kt, cnt)
			loop("tail", ldb)
		}
		if ph < 3 {
			for r := range acc {
				for j := range nv {
					VMOVUPS(acc[r][j], slot(ph, r, j))
				}
			}
		}
	}
	// acc is s3: ((s0+s1)+(s2+s3)) + bias.
	for r := range mr {
		for j := range nv {
			VADDPS(slot(2, r, j), acc[r][j], acc[r][j])
			VMOVUPS(slot(0, r, j), b0)
			VADDPS(slot(1, r, j), b0, b0)
			VADDPS(acc[r][j], b0, acc[r][j])
		}
		if t.vw == 16 {
			for j := range nv {
				VADDPS_BCST(Mem{Base: bias, Disp: 4 * r}, acc[r][j], acc[r][j])
			}
		} else {
			VBROADCASTSS(Mem{Base: bias, Disp: 4 * r}, bc)
			for j := range nv {
				VADDPS(bc, acc[r][j], acc[r][j])
			}
		}
	}
	panelFinish(t, mr, acc, bias, c, panels, false)
}

// gemmDotCol is gemmDotPhased for one column of B and C (b's k values and
// c's rows ldb and ldc floats apart), vectorized over A's rows instead: a
// masked load of a step's mr values of a panel times the step's B value
// broadcast, into one vector per phase, all four phases side by side, two
// panels at a time (8 accumulators). The sums are gemmDotPhased's term by
// term. For the last columns of a plane, which a tile of 2vw (or vw)
// columns mostly pads (a 7x7 plane is three 16-column tiles and one
// column on AVX2, a 32-column tile, a 16-column one and one column on
// AVX-512): lanes mr..vw-1 are wasted instead.
func gemmDotCol(t tier, mr int) {
	name := fmt.Sprintf("gemmdc%d_%s", mr, t.name)
	kernel(name, "func(k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int, tmp *float32)", fmt.Sprintf("%s is a %dx1 micro-kernel run on panels consecutive panels of A and C (see gemmDotPhasedGo).", name, mr))
	a, bias, c, panels := panelStart()
	// maskLoad loads the lanes < mr of m into v, zeros in the others (never
	// reading them): VMASKMOVPS by a vector, or an opmask on AVX-512.
	var maskLoad func(m Mem, v reg.VecVirtual)
	if t.vw == 16 {
		k, g := K(), GP32()
		MOVL(U32(1<<mr-1), g)
		KMOVW(g, k)
		maskLoad = func(m Mem, v reg.VecVirtual) { VMOVUPS_Z(m, k, v) }
	} else {
		mask, m := t.vec(), GP64()
		MOVQ(U32(mr), m)
		VMOVQ(m, mask.AsX())
		VPBROADCASTD(mask.AsX(), mask)
		VPCMPGTD(iotaData().Offset(0), mask, mask) // lanes < mr
		maskLoad = func(m Mem, v reg.VecVirtual) { VMASKMOVPS(m, mask, v) }
	}
	lo, hi := t.vec(), t.vec()
	VBROADCASTSS(addr(Param("lo")), lo)
	VBROADCASTSS(addr(Param("hi")), hi)
	// kSplit loads k>>2 and k&3 into k4 and kt.
	kSplit := func(k4, kt reg.GPVirtual) {
		Load(Param("k"), k4)
		MOVQ(k4, kt)
		SHRQ(U8(2), k4)
		ANDQ(U8(3), kt)
	}
	// group runs np panels (1 or 2) from a on.
	group := func(np int, label string) {
		ldb := Load(Param("ldb"), GP64()).(reg.GPVirtual)
		SHLQ(U8(2), ldb)
		ldb3 := GP64()
		LEAQ(Mem{Base: ldb, Index: ldb, Scale: 2}, ldb3)
		// Byte offsets of phases 1-3 in a panel of A (phase order: phase
		// 0's k4+kt steps, then k4 each).
		off := [4]reg.GPVirtual{nil, GP64(), GP64(), GP64()}
		cnt, kt := GP64(), GP64()
		kSplit(cnt, kt)
		LEAQ(Mem{Base: cnt, Index: kt, Scale: 1}, off[1])
		IMUL3Q(U32(4*mr), off[1], off[1])
		IMUL3Q(U32(4*mr), cnt, kt)
		LEAQ(Mem{Base: off[1], Index: kt, Scale: 1}, off[2])
		LEAQ(Mem{Base: off[2], Index: kt, Scale: 1}, off[3])
		aj, a2, bj := GP64(), GP64(), GP64()
		MOVQ(a, aj)
		if np == 2 {
			Load(Param("k"), a2)
			IMUL3Q(U32(4*mr), a2, a2)
			ADDQ(a, a2)
		}
		Load(Param("b"), bj)
		var s [4][]reg.VecVirtual
		for ph := range s {
			s[ph] = make([]reg.VecVirtual, np)
			for q := range np {
				s[ph][q] = t.vec()
				VXORPS(s[ph][q], s[ph][q], s[ph][q])
			}
		}
		av, bc := t.vec(), t.vec()
		stepAt := func(ph int, bm Mem) {
			VBROADCASTSS(bm, bc)
			for q := range np {
				m := Mem{Base: aj}
				if q == 1 {
					m.Base = a2
				}
				if ph > 0 {
					m.Index, m.Scale = off[ph], 1
				}
				maskLoad(m, av)
				VMULPS(av, bc, av)
				VADDPS(av, s[ph][q], s[ph][q])
			}
		}
		advance := func() {
			ADDQ(U32(4*mr), aj)
			if np == 2 {
				ADDQ(U32(4*mr), a2)
			}
		}
		TESTQ(cnt, cnt)
		JZ(LabelRef(label + "tail"))
		Label(label + "loop")
		stepAt(0, Mem{Base: bj})
		stepAt(1, Mem{Base: bj, Index: ldb, Scale: 1})
		stepAt(2, Mem{Base: bj, Index: ldb, Scale: 2})
		stepAt(3, Mem{Base: bj, Index: ldb3, Scale: 1})
		advance()
		LEAQ(Mem{Base: bj, Index: ldb, Scale: 4}, bj)
		DECQ(cnt)
		JNZ(LabelRef(label + "loop"))
		// Phase 0's last k&3 steps: aj and bj are at them.
		Label(label + "tail")
		kSplit(kt, cnt)
		TESTQ(cnt, cnt)
		JZ(LabelRef(label + "sum"))
		Label(label + "tailloop")
		stepAt(0, Mem{Base: bj})
		advance()
		ADDQ(ldb, bj)
		DECQ(cnt)
		JNZ(LabelRef(label + "tailloop"))
		Label(label + "sum")
		ldc := Load(Param("ldc"), GP64()).(reg.GPVirtual)
		SHLQ(U8(2), ldc)
		for q := range np {
			acc := s[0][q]
			VADDPS(s[1][q], acc, acc)
			VADDPS(s[3][q], s[2][q], s[2][q])
			VADDPS(s[2][q], acc, acc)
			maskLoad(Mem{Base: bias, Disp: 4 * mr * q}, bc)
			VADDPS(bc, acc, acc)
			VMAXPS(acc, lo, acc)
			VMINPS(acc, hi, acc)
			// Row r from 128-bit lane r/4: lane 0 is acc's own; AVX2
			// extracts lane 1 into it (its lanes 4-7 then done with), AVX-512
			// lanes 1-3 into bc.
			x := acc.AsX()
			for r := range mr {
				if r%4 == 0 && r > 0 {
					if t.vw == 16 {
						x = bc.AsX()
						VEXTRACTF32X4(U8(r/4), acc, x)
					} else {
						VEXTRACTF128(U8(1), acc, x)
					}
				}
				VEXTRACTPS(U8(r%4), x, Mem{Base: c})
				ADDQ(ldc, c)
			}
		}
		pb := GP64()
		Load(Param("k"), pb)
		IMUL3Q(U32(4*mr*np), pb, pb)
		ADDQ(pb, a)
		ADDQ(U32(4*mr*np), bias)
	}
	CMPQ(panels, U8(2))
	JB(LabelRef("single"))
	Label("pair")
	group(2, "two")
	SUBQ(U8(2), panels)
	CMPQ(panels, U8(2))
	JAE(LabelRef("pair"))
	Label("single")
	TESTQ(panels, panels)
	JZ(LabelRef("done"))
	group(1, "one")
	Label("done")
	VZEROUPPER()
	RET()
}

// clampStore clamps acc to [lo, hi] (a NaN stays NaN: VMAXPS and VMINPS
// return their second source when either is NaN) and stores row r at
// c + r*ldc floats.
func clampStore(t tier, acc [][]reg.VecVirtual, c reg.GPVirtual, nt bool) {
	store := func(x, m Op) { VMOVUPS(x, m) }
	if nt {
		store = VMOVNTPS
	}
	lo, hi := t.vec(), t.vec()
	VBROADCASTSS(addr(Param("lo")), lo)
	VBROADCASTSS(addr(Param("hi")), hi)
	cr := GP64()
	MOVQ(c, cr)
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	for r := range acc {
		for j := range acc[r] {
			VMAXPS(acc[r][j], lo, acc[r][j])
			VMINPS(acc[r][j], hi, acc[r][j])
			store(acc[r][j], Mem{Base: cr, Disp: 4 * t.vw * j})
		}
		if r+1 < len(acc) {
			ADDQ(ldc, cr)
		}
	}
}

// depthwise: for i < n (a multiple of vw), y[i] = clamp(bias + sum_t
// w[t]*x[offs[t]+i], lo, hi), taps in order, each product rounded before it
// is added; 4 vectors at a time, then one.
func depthwise(t tier) {
	kernel("dw_"+t.name, "func(n, taps int, w *float32, offs *int, x, y *float32, bias, lo, hi float32)", "dw_"+t.name+" is the depthwise kernel (see dwGo).")
	ps := params("n", "x", "y")
	n, x, y := ps[0], ps[1], ps[2]
	bias, lo, hi := t.vec(), t.vec(), t.vec()
	VBROADCASTSS(addr(Param("bias")), bias)
	VBROADCASTSS(addr(Param("lo")), lo)
	VBROADCASTSS(addr(Param("hi")), hi)
	acc := []reg.VecVirtual{t.vec(), t.vec(), t.vec(), t.vec()}
	wv, pv := t.vec(), t.vec()
	tp, wp, op, off := GP64(), GP64(), GP64(), GP64()
	block := func(name string, acc []reg.VecVirtual) {
		for _, a := range acc {
			VMOVAPS(bias, a)
		}
		Load(Param("taps"), tp)
		Load(Param("w"), wp)
		Load(Param("offs"), op)
		Label(name)
		VBROADCASTSS(Mem{Base: wp}, wv)
		MOVQ(Mem{Base: op}, off)
		for j, a := range acc {
			VMULPS(Mem{Base: x, Index: off, Scale: 4, Disp: 4 * t.vw * j}, wv, pv)
			VADDPS(pv, a, a)
		}
		ADDQ(U8(4), wp)
		ADDQ(U8(8), op)
		DECQ(tp)
		JNZ(LabelRef(name))
		for j, a := range acc {
			VMAXPS(a, lo, a)
			VMINPS(a, hi, a)
			VMOVUPS(a, Mem{Base: y, Disp: 4 * t.vw * j})
		}
		ADDQ(U32(4*t.vw*len(acc)), x)
		ADDQ(U32(4*t.vw*len(acc)), y)
		SUBQ(U32(t.vw*len(acc)), n)
	}
	Label("block4")
	CMPQ(n, U32(4*t.vw))
	JB(LabelRef("block1"))
	block("tap4", acc)
	JMP(LabelRef("block4"))
	Label("block1")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	block("tap1", acc[:1])
	JMP(LabelRef("block1"))
	Label("done")
	VZEROUPPER()
	RET()
}

// dw3s2: a 3x3 depthwise convolution of stride 2 and padding pad of
// channels consecutive ih x iw planes into as many oh x ow planes y (weights
// w[c*9:], bias[c]), straight from the unpadded planes:
//
//	y[oy][ox] = clamp(bias + sum_{ky,kx} w[ky*3+kx]*x[oy*2-pad+ky][ox*2-pad+kx], lo, hi)
//
// taps in order, each product rounded before it is added; rows and columns
// outside the plane read zeros (masked loads, which never touch them), whose
// products differ from the reference's skipped taps only in the sign of a
// zero. Like dw3s1 it walks each vector of vw output columns down the rows:
// an output row's last input row is the next one's first, so a row loads two
// input rows (each 2vw columns split into even and odd ones, and the even
// ones moved on by one), and the rows' sums are independent chains where one
// row at a time waited on its nine dependent adds. Stride 1 is dw3s1.
func dw3s2(t tier) {
	d := dw3Start(t, 2, "dw3s2")
	wv, bias, iota, iw, iwv, owv := d.wv, d.bias, d.iota, d.iw, d.iwv, d.owv
	ie, io := t.vec(), t.vec()
	VMOVDQU32(deintData().Offset(0), ie)
	VMOVDQU32(deintData().Offset(64), io)
	ps := params("x", "y", "ih", "pad")
	x, y, ih, pad := ps[0], ps[1], ps[2], ps[3]
	SHLQ(U8(2), iw) // bytes from now on
	ox, col, iy, r, yc, cnt := GP64(), GP64(), GP64(), GP64(), GP64(), GP64()
	MOVQ(pad, col)
	SHLQ(U8(2), col)
	SUBQ(col, x)                  // x is column -pad of row 0 from now on
	var rows [3][3]reg.VecVirtual // even, odd, even moved on by one
	for i := range rows {
		for kx := range rows[i] {
			rows[i][kx] = t.vec()
		}
	}
	kst := K()
	var kl [4]reg.OpmaskVirtual
	for i := range kl {
		kl[i] = K()
	}
	acc, p, b := t.vec(), t.vec(), t.vec()
	labels := 0
	// load sets dst to input row iy at the vector's columns (zeros outside
	// the plane) and moves iy on.
	load := func(dst [3]reg.VecVirtual) {
		labels++
		dw3InputRow(labels, iy, ih, iw, x, r, dst, func() {
			at := func(c int) Mem { return Mem{Base: r, Index: col, Scale: 4, Disp: 4 * c} }
			// Columns 2j (kx 0) and 2j+1 (kx 1), then 2j+2 (kx 2); VPERMT2PS
			// overwrites its first table: one copy.
			VMOVUPS_Z(at(0), kl[0], dst[1])
			VMOVUPS_Z(at(t.vw), kl[1], b)
			VMOVAPS(dst[1], dst[0])
			VPERMT2PS(b, ie, dst[0])
			VPERMT2PS(b, io, dst[1])
			VMOVUPS_Z(at(2), kl[2], dst[2])
			VMOVUPS_Z(at(t.vw+2), kl[3], b)
			VPERMT2PS(b, ie, dst[2])
		})
	}
	Label("channel")
	channelStart(wv, bias)
	XORQ(ox, ox)
	Label("col")
	// Masks: lanes whose output exists, and those whose loads read columns
	// inside the plane (the even columns' first vector, then the others at
	// dw3s2Shifts).
	cv, tmp := t.vec(), t.vec()
	VPBROADCASTD(ox.As32(), cv)
	VPADDD(iota, cv, cv)
	VPCMPUD(U8(1), owv, cv, kst) // ox+j < ow
	MOVQ(ox, col)
	SHLQ(U8(1), col)
	SUBQ(pad, col)
	VPBROADCASTD(col.As32(), cv)
	VPADDD(iota, cv, cv)
	VPCMPUD(U8(1), iwv, cv, kl[0])
	for i := range 3 {
		VPADDD(dw3s2Shifts().Offset(64*i), cv, tmp)
		VPCMPUD(U8(1), iwv, tmp, kl[i+1])
	}
	MOVQ(ox, col)
	SHLQ(U8(1), col) // the input column of lane 0, from x's column -pad
	MOVQ(pad, iy)
	NEGQ(iy)
	load(rows[0])
	LEAQ(Mem{Base: y, Index: ox, Scale: 4}, yc)
	Load(Param("oh"), cnt)
	Label("rows")
	// Two output rows, the first and last rows' roles swapping.
	for u := range 2 {
		top, mid, bot := rows[2*u], rows[1], rows[2-2*u]
		load(mid)
		load(bot)
		dw3OutRow(d, [3][3]reg.VecVirtual{top, mid, bot}, acc, p, kst, yc, cnt)
	}
	dw3End(t, d, ox, ih, x, y, col)
}

// dw3s2Rows is dw3s2 along the rows, for planes streaming from memory,
// which it reads in order where dw3s2's walk down the columns waits on them:
// vectors of vw outputs along a row, each from 2vw input columns split into
// even and odd ones, taps of rows outside the plane skipped; a masked store
// ends the row.
func dw3s2Rows(t tier) {
	const s = 2
	d := dw3Start(t, s, "dw3s2r")
	wv, bias, lo, hi, iota, iw, ow, iwv, owv := d.wv, d.bias, d.lo, d.hi, d.iota, d.iw, d.ow, d.iwv, d.owv
	// Column offsets of the loads after the first: the second vector, then
	// both moved on by 2 columns.
	shifts := []int{t.vw, 2, t.vw + 2}
	shv := make([]reg.VecVirtual, len(shifts))
	for i, sh := range shifts {
		g := GP32()
		MOVL(U32(sh), g)
		shv[i] = t.vec()
		VPBROADCASTD(g, shv[i])
	}
	ie, io := t.vec(), t.vec()
	VMOVDQU32(deintData().Offset(0), ie)
	VMOVDQU32(deintData().Offset(64), io)
	ps := params("x", "y", "ih", "pad")
	x, y, ih, pad := ps[0], ps[1], ps[2], ps[3]
	iy, ox, col := GP64(), GP64(), GP64()
	SHLQ(U8(2), iw) // bytes from now on
	MOVQ(pad, col)
	SHLQ(U8(2), col)
	SUBQ(col, x) // x is column -pad of row 0 from now on
	// rows[ky] is x's column -pad of input row oy*s-pad+ky, or 0 when that
	// row is outside the plane.
	var rows [3]reg.GPVirtual
	for ky := range rows {
		rows[ky] = GP64()
	}
	Label("channel")
	channelStart(wv, bias)
	MOVQ(pad, iy)
	NEGQ(iy)
	oh := Load(Param("oh"), GP64())
	Label("row")
	for ky := range rows {
		r := rows[ky]
		XORQ(r, r)
		skip := fmt.Sprintf("row%d", ky)
		CMPQ(iy, ih)
		JAE(LabelRef(skip)) // unsigned: below 0 too
		MOVQ(iy, r)
		IMULQ(iw, r)
		ADDQ(x, r)
		Label(skip)
		INCQ(iy)
	}
	SUBQ(U8(3-s), iy) // the next output row's first input row
	XORQ(ox, ox)
	Label("col")
	// Masks: lanes whose output exists, and those whose loads read columns
	// inside the plane.
	kst := K()
	cv, tmp := t.vec(), t.vec()
	VPBROADCASTD(ox.As32(), cv)
	VPADDD(iota, cv, cv)
	VPCMPUD(U8(1), owv, cv, kst) // ox+j < ow
	MOVQ(ox, col)
	SHLQ(U8(1), col)
	SUBQ(pad, col)
	VPBROADCASTD(col.As32(), cv)
	VPADDD(iota, cv, cv)
	kl := []reg.OpmaskVirtual{K()}
	VPCMPUD(U8(1), iwv, cv, kl[0])
	for _, sv := range shv {
		k := K()
		VPADDD(sv, cv, tmp)
		VPCMPUD(U8(1), iwv, tmp, k)
		kl = append(kl, k)
	}
	acc := t.vec()
	VMOVAPS(bias, acc)
	p := t.vec()
	a, b, e, o, e2 := t.vec(), t.vec(), t.vec(), t.vec(), t.vec()
	MOVQ(ox, col)
	SHLQ(U8(1), col)
	for ky, r := range rows {
		skip := fmt.Sprintf("tap%d", ky)
		TESTQ(r, r)
		JZ(LabelRef(skip))
		at := func(c int) Mem { return Mem{Base: r, Index: col, Scale: 4, Disp: 4 * c} }
		// Columns 2j (kx 0) and 2j+1 (kx 1) of a:b, then 2j+2 (kx 2).
		VMOVUPS_Z(at(0), kl[0], a)
		VMOVUPS_Z(at(t.vw), kl[1], b)
		VMOVAPS(a, e)
		VPERMT2PS(b, ie, e)
		VMOVAPS(a, o)
		VPERMT2PS(b, io, o)
		VMOVUPS_Z(at(2), kl[2], a)
		VMOVUPS_Z(at(t.vw+2), kl[3], b)
		VMOVAPS(a, e2)
		VPERMT2PS(b, ie, e2)
		for kx, xv := range []reg.VecVirtual{e, o, e2} {
			VMULPS(xv, wv[ky*3+kx], p)
			VADDPS(p, acc, acc)
		}
		Label(skip)
	}
	VMAXPS(acc, lo, acc)
	VMINPS(acc, hi, acc)
	VMOVUPS(acc, kst, Mem{Base: y, Index: ox, Scale: 4})
	ADDQ(U8(t.vw), ox)
	CMPQ(ox, ow)
	JB(LabelRef("col"))
	LEAQ(Mem{Base: y, Index: ow, Scale: 4}, y) // the next plane's after the last row
	DECQ(oh)
	JNZ(LabelRef("row"))
	MOVQ(ih, col)
	IMULQ(iw, col)
	ADDQ(col, x)
	DECQ(addr(Param("channels")))
	JNZ(LabelRef("channel"))
	VZEROUPPER()
	RET()
}

// dw3s1 is dw3 of stride 1 by columns: for each vector of vw output
// columns it walks down the rows, keeping the last three input rows loaded
// (their three column shifts each), so that an output row loads one new
// input row. Rows outside the plane are zeros: adding their products (zeros)
// differs from skipping them only in the sign of a zero.
func dw3s1(t tier) {
	d := dw3Start(t, 1, "dw3s1")
	wv, bias, iota, iw, iwv, owv := d.wv, d.bias, d.iota, d.iw, d.iwv, d.owv
	one, two := t.vec(), t.vec()
	g := GP32()
	MOVL(U32(1), g)
	VPBROADCASTD(g, one)
	VPADDD(one, one, two)
	ps := params("x", "y", "ih", "pad")
	x, y, ih, pad := ps[0], ps[1], ps[2], ps[3]
	SHLQ(U8(2), iw) // bytes from now on
	ox, col, iy, r, yc, cnt := GP64(), GP64(), GP64(), GP64(), GP64(), GP64()
	MOVQ(pad, col)
	SHLQ(U8(2), col)
	SUBQ(col, x) // x is column -pad of row 0 from now on
	var rows [3][3]reg.VecVirtual
	for i := range rows {
		for kx := range rows[i] {
			rows[i][kx] = t.vec()
		}
	}
	kst, kl := K(), [3]reg.OpmaskVirtual{K(), K(), K()}
	acc, p, cv, tmp := t.vec(), t.vec(), t.vec(), t.vec()
	labels := 0
	// load sets dst to input row iy at the chunk's columns (zeros outside
	// the plane) and moves iy on.
	load := func(dst [3]reg.VecVirtual) {
		labels++
		dw3InputRow(labels, iy, ih, iw, x, r, dst, func() {
			for kx, v := range dst {
				VMOVUPS_Z(Mem{Base: r, Index: ox, Scale: 4, Disp: 4 * kx}, kl[kx], v)
			}
		})
	}
	Label("channel")
	channelStart(wv, bias)
	XORQ(ox, ox)
	Label("col")
	VPBROADCASTD(ox.As32(), cv)
	VPADDD(iota, cv, cv)
	VPCMPUD(U8(1), owv, cv, kst) // ox+j < ow
	MOVQ(ox, col)
	SUBQ(pad, col)
	VPBROADCASTD(col.As32(), cv)
	VPADDD(iota, cv, cv)
	VPCMPUD(U8(1), iwv, cv, kl[0])
	VPADDD(one, cv, tmp)
	VPCMPUD(U8(1), iwv, tmp, kl[1])
	VPADDD(two, cv, tmp)
	VPCMPUD(U8(1), iwv, tmp, kl[2])
	MOVQ(pad, iy)
	NEGQ(iy)
	load(rows[0])
	load(rows[1])
	LEAQ(Mem{Base: y, Index: ox, Scale: 4}, yc)
	Load(Param("oh"), cnt)
	Label("rows")
	// Three output rows, the loaded rows' roles rotating.
	for u := range 3 {
		top, mid, bot := rows[u], rows[(u+1)%3], rows[(u+2)%3]
		load(bot)
		dw3OutRow(d, [3][3]reg.VecVirtual{top, mid, bot}, acc, p, kst, yc, cnt)
	}
	dw3End(t, d, ox, ih, x, y, col)
}

// dw3ymm is dw3s1 and dw3s2 for AVX2 (no opmasks, 16 vector registers):
// vectors of vw output columns, each walking down the rows. The load masks
// are vectors (VMASKMOVPS reads zeros where a lane's column is outside the
// plane and never touches it). Rows whose three input rows are all inside
// the plane run a body with three row pointers moving down together; the
// rows at the top and bottom skip the taps of rows outside. A vector whose
// outputs all exist is stored whole, one ending a row under its mask.
// Stride 1 keeps the channel's weights in registers; stride 2, which takes
// 2vw+2 input columns per vector and splits them into even and odd ones,
// multiplies them from the stack.
func dw3ymm(t tier, s int) {
	name := fmt.Sprintf("dw3s%d_%s", s, t.name)
	kernel(name, "func(oh, ow, ih, iw, pad int, w *float32, x, y *float32, bias *float32, lo, hi float32, channels int)", fmt.Sprintf("%s is the direct 3x3 stride-%d depthwise kernel (see dw3Go).", name, s))
	vb := 4 * t.vw                    // bytes of a vector
	loc := AllocLocal(vb*(9+3) + 8*3) // weights, lo, hi, store mask; row counts
	wl := func(i int) Mem { return loc.Offset(vb * i) }
	loM, hiM, kstM := loc.Offset(vb*9), loc.Offset(vb*10), loc.Offset(vb*11)
	cntM := func(i int) Mem { return loc.Offset(vb*12 + 8*i) } // top, middle, bottom rows
	// bcast sets every lane of dst to the low 32 bits of g.
	bcast := func(g reg.GPVirtual, xt, dst reg.VecVirtual) {
		VMOVD(g.As32(), xt.AsX())
		VPBROADCASTD(xt.AsX(), dst)
	}
	xt := t.vec()
	VBROADCASTSS(addr(Param("lo")), xt)
	VMOVUPS(xt, loM)
	VBROADCASTSS(addr(Param("hi")), xt)
	VMOVUPS(xt, hiM)
	// Output rows: [0, top) read rows above the plane, [top, mid) only rows
	// inside it, [mid, oh) rows below it.
	g, h := GP64(), GP64()
	Load(Param("pad"), g)
	if s == 2 {
		INCQ(g)
		SHRQ(U8(1), g)
	}
	Load(Param("oh"), h)
	CMPQ(g, h)
	CMOVQGT(h, g)
	MOVQ(g, cntM(0)) // top = min(ceil(pad/s), oh)
	Load(Param("ih"), h)
	SUBQ(U8(3), h)
	ADDQ(addr(Param("pad")), h)
	if s == 2 {
		SARQ(U8(1), h)
	}
	INCQ(h) // floor((ih-3+pad)/s)+1: the first row reading below the plane
	CMPQ(h, g)
	CMOVQLT(g, h)
	Load(Param("oh"), g)
	CMPQ(h, g)
	CMOVQGT(g, h)
	SUBQ(h, g)
	MOVQ(g, cntM(2)) // bottom = oh - mid
	SUBQ(cntM(0), h)
	MOVQ(h, cntM(1)) // middle = mid - top
	ow, ih, iwb := GP64(), GP64(), GP64()
	Load(Param("ow"), ow)
	Load(Param("ih"), ih)
	Load(Param("iw"), iwb)
	SHLQ(U8(2), iwb) // a row's bytes
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	Load(Param("pad"), g)
	SHLQ(U8(2), g)
	SUBQ(g, x)             // x is column -pad of row 0 from now on
	offs := []int{0, 1, 2} // load offsets past the vector's first column
	if s == 2 {
		offs = []int{0, t.vw, 2, t.vw + 2}
	}
	km := make([]reg.VecVirtual, len(offs))
	for i := range km {
		km[i] = t.vec()
	}
	var wv [9]reg.VecVirtual
	if s == 1 {
		for i := range wv {
			wv[i] = t.vec()
		}
	}
	ox, col, iy, r, yc, cnt, full, p := GP64(), GP64(), GP64(), GP64(), GP64(), GP64(), GP64(), GP64()
	Label("channel")
	Load(Param("w"), p)
	for i := range 9 {
		if s == 1 {
			VBROADCASTSS(Mem{Base: p, Disp: 4 * i}, wv[i])
		} else {
			VBROADCASTSS(Mem{Base: p, Disp: 4 * i}, xt)
			VMOVUPS(xt, wl(i))
		}
	}
	ADDQ(U8(4*9), addr(Param("w")))
	XORQ(ox, ox)
	Label("col")
	// Store mask: lanes below ow-ox; full when there are vw of them.
	cv, tmp := t.vec(), t.vec()
	MOVQ(ow, g)
	SUBQ(ox, g)
	XORQ(full, full)
	CMPQ(g, U8(t.vw))
	SETCC(full.As8())
	bcast(g, xt, cv)
	VMOVDQU(iotaData().Offset(0), tmp)
	VPCMPGTD(tmp, cv, tmp)
	VMOVDQU(tmp, kstM)
	// Load masks: lanes whose column ox*s-pad+off+j is inside the plane,
	// that is below iw unsigned: with both sides offset by 2^31, a signed
	// compare.
	const sign = 0x80000000
	iwv := t.vec()
	Load(Param("iw"), g)
	XORL(U32(sign), g.As32())
	bcast(g, xt, iwv)
	MOVQ(ox, g)
	if s == 2 {
		SHLQ(U8(1), g)
	}
	SUBQ(addr(Param("pad")), g)
	XORL(U32(sign), g.As32())
	bcast(g, xt, cv)
	VPADDD(iotaData().Offset(0), cv, cv)
	for i, off := range offs {
		if off == 0 {
			VPCMPGTD(cv, iwv, km[i])
			continue
		}
		MOVL(U32(off), g.As32())
		bcast(g, xt, tmp)
		VPADDD(cv, tmp, tmp)
		VPCMPGTD(tmp, iwv, km[i])
	}
	MOVQ(ox, col)
	if s == 2 {
		SHLQ(U8(1), col)
	}
	LEAQ(Mem{Base: y, Index: ox, Scale: 4}, yc)
	Load(Param("pad"), iy)
	NEGQ(iy)
	// taps adds to acc[u] the taps of input row ky[u] (ky[u] < 0: none),
	// the row's columns at at(off): each vector loaded (and for stride 2
	// split) once for all the sums it feeds.
	taps := func(ky []int, acc []reg.VecVirtual, at func(off int) Mem) {
		pr := t.vec()
		use := func(kx int, v reg.VecVirtual) {
			for u, k := range ky {
				if k < 0 {
					continue
				}
				if s == 1 {
					VMULPS(wv[k*3+kx], v, pr)
				} else {
					VMULPS(wl(k*3+kx), v, pr)
				}
				VADDPS(pr, acc[u], acc[u])
			}
		}
		if s == 1 {
			xv := t.vec()
			for kx := range 3 {
				VMASKMOVPS(at(kx), km[kx], xv)
				use(kx, xv)
			}
			return
		}
		a, b, e := t.vec(), t.vec(), t.vec()
		// Columns 2j (kx 0) and 2j+1 (kx 1) of a:b, then 2j+2 (kx 2).
		VMASKMOVPS(at(0), km[0], a)
		VMASKMOVPS(at(t.vw), km[1], b)
		VSHUFPS(U8(0x88), b, a, e)
		VPERMPD(U8(0xd8), e, e)
		use(0, e)
		VSHUFPS(U8(0xdd), b, a, e)
		VPERMPD(U8(0xd8), e, e)
		use(1, e)
		VMASKMOVPS(at(2), km[2], a)
		VMASKMOVPS(at(t.vw+2), km[3], b)
		VSHUFPS(U8(0x88), b, a, e)
		VPERMPD(U8(0xd8), e, e)
		use(2, e)
	}
	// finish clamps acc, stores it at yc and moves yc and iy to the next row.
	finish := func(name string, acc reg.VecVirtual) {
		VMAXPS(loM, acc, acc)
		VMINPS(hiM, acc, acc)
		TESTQ(full, full)
		JZ(LabelRef(name + "part"))
		VMOVUPS(acc, Mem{Base: yc})
		JMP(LabelRef(name + "stored"))
		Label(name + "part")
		m := t.vec()
		VMOVDQU(kstM, m)
		VMASKMOVPS(acc, m, Mem{Base: yc})
		Label(name + "stored")
		LEAQ(Mem{Base: yc, Index: ow, Scale: 4}, yc)
		ADDQ(U8(s), iy)
	}
	// edge runs cnt rows that may read rows outside the plane.
	edge := func(name string) {
		TESTQ(cnt, cnt)
		JZ(LabelRef(name + "done"))
		Label(name)
		acc := t.vec()
		Load(Param("bias"), p)
		VBROADCASTSS(Mem{Base: p}, acc)
		for ky := range 3 {
			skip := fmt.Sprintf("%stap%d", name, ky)
			MOVQ(iy, r)
			if ky > 0 {
				ADDQ(U8(ky), r)
			}
			CMPQ(r, ih)
			JAE(LabelRef(skip)) // unsigned: below 0 too
			IMULQ(iwb, r)
			ADDQ(x, r)
			taps([]int{ky}, []reg.VecVirtual{acc}, func(c int) Mem { return Mem{Base: r, Index: col, Scale: 4, Disp: 4 * c} })
			Label(skip)
		}
		finish(name, acc)
		DECQ(cnt)
		JNZ(LabelRef(name))
		Label(name + "done")
	}
	MOVQ(cntM(0), cnt)
	edge("top")
	MOVQ(cntM(1), cnt)
	TESTQ(cnt, cnt)
	JZ(LabelRef("middone"))
	// r is column ox*s-pad of row iy, the rows below at r+iwb and r+2*iwb.
	MOVQ(iy, r)
	IMULQ(iwb, r)
	ADDQ(x, r)
	LEAQ(Mem{Base: r, Index: col, Scale: 4}, r)
	// Two rows at a time: each sum is a chain of dependent adds, two keep
	// the pipes busier, and they share the input rows between them.
	mid := func(n int) {
		name := fmt.Sprintf("mid%dx", n)
		acc := make([]reg.VecVirtual, n)
		Load(Param("bias"), p)
		for u := range acc {
			acc[u] = t.vec()
			VBROADCASTSS(Mem{Base: p}, acc[u])
		}
		for i := range (n-1)*s + 3 { // input rows from r on
			ky := make([]int, n)
			for u := range ky {
				if ky[u] = i - u*s; ky[u] > 2 {
					ky[u] = -1
				}
			}
			if i > 0 {
				ADDQ(iwb, r)
			}
			taps(ky, acc, func(c int) Mem { return Mem{Base: r, Disp: 4 * c} })
		}
		// r back to the first input row of the next n outputs.
		for range (n-1)*s + 3 - n*s - 1 {
			SUBQ(iwb, r)
		}
		for u, a := range acc {
			finish(fmt.Sprintf("%s_%d", name, u), a)
		}
	}
	Label("mid2")
	CMPQ(cnt, U8(2))
	JB(LabelRef("mid1"))
	mid(2)
	SUBQ(U8(2), cnt)
	JMP(LabelRef("mid2"))
	Label("mid1")
	TESTQ(cnt, cnt)
	JZ(LabelRef("middone"))
	mid(1)
	Label("middone")
	MOVQ(cntM(2), cnt)
	edge("bottom")
	nextColumn(t, ox, ow, ih, iwb, x, y, g)
	ADDQ(U8(4), addr(Param("bias")))
	DECQ(addr(Param("channels")))
	JNZ(LabelRef("channel"))
	VZEROUPPER()
	RET()
}

// dw3Regs are what both dw3 kernels set up first.
type dw3Regs struct {
	wv                           [9]reg.VecVirtual // the channel's weights
	bias, lo, hi, iota, iwv, owv reg.VecVirtual    // iwv, owv: iw and ow in every lane
	iw, ow                       reg.GPVirtual
}

// dw3Start starts the direct 3x3 depthwise kernel of stride s: the lo and
// hi bounds, the lane indices, iw and ow.
func dw3Start(t tier, s int, base string) dw3Regs {
	name := fmt.Sprintf("%s_%s", base, t.name)
	kernel(name, "func(oh, ow, ih, iw, pad int, w *float32, x, y *float32, bias *float32, lo, hi float32, channels int)", fmt.Sprintf("%s is the direct 3x3 stride-%d depthwise kernel (see dw3Go).", name, s))
	var d dw3Regs
	for i := range d.wv {
		d.wv[i] = t.vec()
	}
	d.bias, d.lo, d.hi = t.vec(), t.vec(), t.vec()
	VBROADCASTSS(addr(Param("lo")), d.lo)
	VBROADCASTSS(addr(Param("hi")), d.hi)
	d.iota = t.vec()
	VMOVDQU32(iotaData().Offset(0), d.iota)
	d.iw, d.ow = GP64(), GP64()
	Load(Param("iw"), d.iw)
	Load(Param("ow"), d.ow)
	d.iwv, d.owv = t.vec(), t.vec()
	VPBROADCASTD(d.iw.As32(), d.iwv)
	VPBROADCASTD(d.ow.As32(), d.owv)
	return d
}

// dw3InputRow emits the column walks' load of input row iy (then moved on)
// into dst: fill, with r at the row's column -pad (x + iy*iw), inside the
// plane, zeros outside it; n numbers its labels.
func dw3InputRow(n int, iy, ih, iw, x, r reg.GPVirtual, dst [3]reg.VecVirtual, fill func()) {
	zero, done := fmt.Sprintf("zero%d", n), fmt.Sprintf("loaded%d", n)
	CMPQ(iy, ih)
	JAE(LabelRef(zero)) // unsigned: below 0 too
	MOVQ(iy, r)
	IMULQ(iw, r)
	ADDQ(x, r)
	fill()
	JMP(LabelRef(done))
	Label(zero)
	for _, v := range dst {
		VXORPS(v, v, v)
	}
	Label(done)
	INCQ(iy)
}

// dw3OutRow emits one output row of the column walks (dw3s1, dw3s2) from
// the three input rows' vectors rv (kx order): the nine taps in order, the
// clamp, the masked store at yc, which moves on a row; it jumps to next
// after the last row (cnt counts them down).
func dw3OutRow(d dw3Regs, rv [3][3]reg.VecVirtual, acc, p reg.VecVirtual, kst reg.OpmaskVirtual, yc, cnt reg.GPVirtual) {
	VMOVAPS(d.bias, acc)
	for ky := range rv {
		for kx, v := range rv[ky] {
			VMULPS(v, d.wv[ky*3+kx], p)
			VADDPS(p, acc, acc)
		}
	}
	VMAXPS(acc, d.lo, acc)
	VMINPS(acc, d.hi, acc)
	VMOVUPS(acc, kst, Mem{Base: yc})
	LEAQ(Mem{Base: yc, Index: d.ow, Scale: 4}, yc)
	DECQ(cnt)
	JZ(LabelRef("next"))
}

// dw3End ends the column walks' row loop (labelled rows) and moves on to
// the next column vector and channel (tmp a scratch).
func dw3End(t tier, d dw3Regs, ox, ih, x, y, tmp reg.GPVirtual) {
	JMP(LabelRef("rows"))
	Label("next")
	nextColumn(t, ox, d.ow, ih, d.iw, x, y, tmp)
	DECQ(addr(Param("channels")))
	JNZ(LabelRef("channel"))
	VZEROUPPER()
	RET()
}

// channelStart broadcasts the channel's 9 weights and bias into wv and bias
// and moves the w and bias arguments on to the next channel's.
func channelStart(wv [9]reg.VecVirtual, bias reg.VecVirtual) {
	p := GP64()
	Load(Param("w"), p)
	for i, v := range wv {
		VBROADCASTSS(Mem{Base: p, Disp: 4 * i}, v)
	}
	ADDQ(U8(4*len(wv)), addr(Param("w")))
	Load(Param("bias"), p)
	VBROADCASTSS(Mem{Base: p}, bias)
	ADDQ(U8(4), addr(Param("bias")))
}

// nextColumn moves ox on by a vector and loops to col while columns remain,
// then moves x on by ih*iw and y by the channel's oh*ow floats, with tmp.
func nextColumn(t tier, ox, ow, ih, iw, x, y, tmp reg.Register) {
	ADDQ(U8(t.vw), ox)
	CMPQ(ox, ow)
	JB(LabelRef("col"))
	MOVQ(ih, tmp)
	IMULQ(iw, tmp)
	ADDQ(tmp, x)
	Load(Param("oh"), tmp)
	IMULQ(ow, tmp)
	LEAQ(Mem{Base: y, Index: tmp, Scale: 4}, y)
}

var iotaMem, deintMem, dw3s2Mem *Mem

// rodata is the read-only table name, declared and filled by fill on the
// first call only.
func rodata(cache **Mem, name string, fill func()) Mem {
	if *cache == nil {
		m := GLOBL(name, RODATA|NOPTR)
		fill()
		*cache = &m
	}
	return **cache
}

// iotaData is 0, 1, ..., 15 (int32).
func iotaData() Mem {
	return rodata(&iotaMem, "iota16", func() {
		for i := range 16 {
			DATA(4*i, U32(i))
		}
	})
}

// dw3s2Shifts is dw3s2's column offsets of the loads after the first, a
// vector each: the second vector, then both moved on by 2 columns.
func dw3s2Shifts() Mem {
	return rodata(&dw3s2Mem, "dw3s2_shifts", func() {
		for i, sh := range []int{16, 2, 18} {
			for j := range 16 {
				DATA(64*i+4*j, U32(sh))
			}
		}
	})
}

// deintData is VPERMT2PS's indices of the even (first 16) and odd (last 16)
// elements of two vectors of 16.
func deintData() Mem {
	return rodata(&deintMem, "deint_idx", func() {
		for i := range 32 { // the assembler wants increasing offsets
			DATA(4*i, U32(2*(i%16)+i/16))
		}
	})
}

// add: c[i] = a[i] + b[i] for i < n, a multiple of vw.
func add(t tier) {
	kernel("add_"+t.name, "func(n int, a, b, c *float32)", "add_"+t.name+" is addGo for n a multiple of the vector width.")
	ps := params("n", "a", "b", "c")
	n, a, b, c := ps[0], ps[1], ps[2], ps[3]
	v := t.vec()
	Label("loop")
	VMOVUPS(Mem{Base: a}, v)
	VADDPS(Mem{Base: b}, v, v)
	VMOVUPS(v, Mem{Base: c})
	loopBack(t, n, a, b, c)
	VZEROUPPER()
	RET()
}

// minmax returns the least and greatest of n values (n a multiple of vw,
// n > 0) in total order (-0 below +0) as sortable int32 keys (see key in
// ../floatk.go), and whether any value is a NaN.
func minmax(t tier) {
	kernel("minmax_"+t.name, "func(n int, x *float32) (lo, hi int32, nan bool)", "minmax_"+t.name+" is minmaxGo for n a multiple of the vector width.")
	ps := params("n", "x")
	n, x := ps[0], ps[1]
	v, s, kk, un := t.vec(), t.vec(), t.vec(), t.vec()
	keys, mn, mx := minmaxKeys(t, x, v, s, kk)
	VXORPS(un, un, un)
	Label("loop")
	keys()
	unordered(t, v, un)
	loopBack(t, n, x)
	// Reduce the lanes.
	reduce(t, mn, mx, un)
	lo, hi, nan := GP32(), GP32(), GP32()
	VMOVD(mn.AsX(), lo)
	VMOVD(mx.AsX(), hi)
	VMOVD(un.AsX(), nan)
	Store(lo, Return("lo"))
	Store(hi, Return("hi"))
	TESTL(nan, nan)
	SETNE(addr(Return("nan")))
	VZEROUPPER()
	RET()
}

// histConsts broadcasts the histogram kernels' arguments left, right, nb,
// width and last, and last+1 (the out-of-range index).
func histConsts(t tier) (left, right, nb, width, last, out reg.VecVirtual) {
	left, right, nb, width, last, out = t.vec(), t.vec(), t.vec(), t.vec(), t.vec(), t.vec()
	VBROADCASTSS(addr(Param("left")), left)
	VBROADCASTSS(addr(Param("right")), right)
	VBROADCASTSS(addr(Param("nb")), nb)
	VBROADCASTSS(addr(Param("width")), width)
	l := GP32()
	Load(Param("last"), l)
	VPBROADCASTD(addrOf(l, t, last), last)
	INCL(l)
	VPBROADCASTD(addrOf(l, t, out), out)
	return
}

// histBin returns the code that sets q to histIndex's bin of v (m1 and m2
// scratch), after loading its constants.
func histBin(t tier) func(v, q, m1, m2 reg.VecVirtual) {
	left, right, nb, width, last, out := histConsts(t)
	return func(v, q, m1, m2 reg.VecVirtual) {
		VSUBPS(left, v, q)
		VMULPS(nb, q, q)
		VDIVPS(width, q, q)
		VCVTTPS2DQ(q, q)
		VPMINSD(last, q, q)
		if t.vw == 16 {
			in, hiOK := K(), K()
			VCMPPS(U8(0x1d), left, v, in)    // v >= left (_CMP_GE_OQ)
			VCMPPS(U8(0x12), right, v, hiOK) // v <= right (_CMP_LE_OQ)
			KANDW(hiOK, in, in)
			VPBLENDMD(q, out, in, q) // in-range lanes keep q
			return
		}
		VCMPPS(U8(0x1d), left, v, m1)
		VCMPPS(U8(0x12), right, v, m2)
		VANDPS(m2, m1, m1)
		VBLENDVPS(m1, q, out, q) // m1 lanes take q, others out
	}
}

// histIndex: idx[i] = min(int32(float32(float32(x[i]-left)*nb)/width), last)
// where left <= x[i] <= right, else last+1, for i < n (a multiple of vw):
// torch.histc's bin of each value, in its float32 arithmetic.
func histIndex(t tier) {
	kernel("histidx_"+t.name, "func(n int, x *float32, idx *int32, left, right, nb, width float32, last int32)", "histidx_"+t.name+" is histIndexGo for n a multiple of the vector width.")
	ps := params("n", "x", "idx")
	n, x, idx := ps[0], ps[1], ps[2]
	bin := histBin(t)
	v, q, m1, m2 := t.vec(), t.vec(), t.vec(), t.vec()
	Label("loop")
	VMOVUPS(Mem{Base: x}, v)
	bin(v, q, m1, m2)
	VMOVDQU32orU(t, q, Mem{Base: idx})
	loopBack(t, n, x, idx)
	VZEROUPPER()
	RET()
}

// histIndexNonZero: histIndex of x's non-zero values, compacted: for the
// j-th of them idx[j] is its bin and vals[j] the value; returns their count,
// and minmax's results for all of x (the pass reads x once for both).
// Each vector's lanes are packed (AVX2: VPERMD with the permutation nzPerm
// holds for its mask of non-zero lanes; AVX-512: VPCOMPRESSD) and stored
// whole (the caller gives a vector of slack), the next store overwriting
// the lanes past the count.
func histIndexNonZero(t tier) {
	kernel("histidxnz_"+t.name, "func(n int, x *float32, idx *int32, vals *float32, left, right, nb, width float32, last int32) (m int, lo, hi int32)", "histidxnz_"+t.name+" is histIndexNonZeroGo and minmaxGo for n a multiple of the vector width.")
	ps := params("n", "x", "idx", "vals")
	n, x, idx, vals := ps[0], ps[1], ps[2], ps[3]
	bin := histBin(t)
	m, bits := GP64(), GP64()
	XORQ(m, m)
	zero := t.vec()
	VXORPS(zero, zero, zero)
	v, q, m1, m2 := t.vec(), t.vec(), t.vec(), t.vec()
	keys, mn, mx := minmaxKeys(t, x, v, m1, m2)
	var perm reg.GPVirtual
	if t.vw == 8 {
		perm = GP64()
		LEAQ(nzPermData(), perm)
	}
	Label("loop")
	keys()
	bin(v, q, m1, m2)
	if t.vw == 16 {
		nz := K()
		VCMPPS(U8(4), zero, v, nz) // v != 0 (_CMP_NEQ_UQ: a NaN too)
		VPCOMPRESSD_Z(q, nz, m1)   // zeroing: no wait on m1's last value
		VCOMPRESSPS_Z(v, nz, m2)
		VMOVDQU32(m1, Mem{Base: idx, Index: m, Scale: 4})
		VMOVUPS(m2, Mem{Base: vals, Index: m, Scale: 4})
		KMOVW(nz, bits.As32())
		POPCNTL(bits.As32(), bits.As32())
	} else {
		VCMPPS(U8(4), zero, v, m1) // v != 0 (_CMP_NEQ_UQ: a NaN too)
		VMOVMSKPS(m1, bits.As32())
		SHLQ(U8(5), bits)
		VMOVDQU(Mem{Base: perm, Index: bits, Scale: 1}, m2)
		VPERMD(q, m2, q)
		VPERMPS(v, m2, v)
		VMOVDQU(q, Mem{Base: idx, Index: m, Scale: 4})
		VMOVUPS(v, Mem{Base: vals, Index: m, Scale: 4})
		SHRQ(U8(5), bits)
		POPCNTQ(bits, bits)
	}
	ADDQ(bits, m)
	loopBack(t, n, x)
	Store(m, Return("m"))
	nzReturn(t, mn, mx)
}

// count8: cc[idx[i]&mask]++ for i < n, in order, on bytes; each index
// whose count wraps to zero goes to wraps; returns how many did. Scalar,
// for every tier: a byte a cell keeps a histogram's hot cells in L1, and
// the wraps (a taken branch each 256 counts) are rare.
func count8() {
	kernel("count8", "func(n int, idx *int32, cc *uint8, mask int, wraps *int32) (w int)",
		"count8 adds one to cc[idx[i]&mask] for i < n, modulo 256, and lists in wraps each index whose count wrapped (see count8Go).")
	ps := params("n", "idx", "cc", "mask", "wraps")
	n, idx, cc, mask, wraps := ps[0], ps[1], ps[2], ps[3], ps[4]
	w, x, end, end4 := GP64(), GP64(), GP64(), GP64()
	XORQ(w, w)
	LEAQ(Mem{Base: idx, Index: n, Scale: 4}, end)
	MOVQ(n, end4)
	ANDQ(I8(-4), end4)
	LEAQ(Mem{Base: idx, Index: end4, Scale: 4}, end4)
	// The loop counts four a turn; a wrap jumps out and back.
	CMPQ(idx, end4)
	JEQ(LabelRef("tail"))
	Label("loop")
	for k := range 4 {
		MOVL(Mem{Base: idx, Disp: 4 * k}, x.As32())
		ANDQ(mask, x)
		ADDB(U8(1), Mem{Base: cc, Index: x, Scale: 1})
		JZ(LabelRef(fmt.Sprintf("wrap%d", k)))
		Label(fmt.Sprintf("back%d", k))
	}
	ADDQ(U8(16), idx)
	CMPQ(idx, end4)
	JNE(LabelRef("loop"))
	Label("tail")
	CMPQ(idx, end)
	JEQ(LabelRef("done"))
	MOVL(Mem{Base: idx}, x.As32())
	ANDQ(mask, x)
	ADDB(U8(1), Mem{Base: cc, Index: x, Scale: 1})
	JNZ(LabelRef("next"))
	MOVL(x.As32(), Mem{Base: wraps, Index: w, Scale: 4})
	INCQ(w)
	Label("next")
	ADDQ(U8(4), idx)
	JMP(LabelRef("tail"))
	Label("done")
	Store(w, Return("w"))
	RET()
	for k := range 4 {
		Label(fmt.Sprintf("wrap%d", k))
		MOVL(x.As32(), Mem{Base: wraps, Index: w, Scale: 4})
		INCQ(w)
		JMP(LabelRef(fmt.Sprintf("back%d", k)))
	}
}

// storeFence orders the non-temporal stores before it (gemmDot's nt
// kernels) with every store after it: they are weakly ordered, and the
// locks that hand a layer's output to the cores reading it are not
// documented to drain them. Once per job: a fence per call of a kernel
// took 0.1 ms of a 112x112 layer's 0.5.
func storeFence() {
	TEXT("storeFence", NOSPLIT, "func()")
	Doc("storeFence is an SFENCE: the non-temporal stores before it are seen before any store after it.")
	SFENCE()
	RET()
}

// CellsPerUnit is floatk.HistCells: cells per unit of value.
const CellsPerUnit = 2048

// histCellNonZero: of x's non-zero values, in order, those whose v*2048 is
// more than tol from an integer (a NaN is not) and whose cell floor(v*2048)
// - base is below ncells (unsigned) have the cell in idx (m of them), the
// others their value in vals (s of them); returns m, s and minmax's results
// for all of x. Lanes are packed as in histIndexNonZero.
func histCellNonZero(t tier) {
	kernel("histcellnz_"+t.name, "func(n int, x *float32, idx *int32, vals *float32, base, ncells int32, tol, rel float32) (m, s int, lo, hi int32)", "histcellnz_"+t.name+" is histCellNonZeroGo and minmaxGo for n a multiple of the vector width.")
	ps := params("n", "x", "idx", "vals")
	n, x, idx, vals := ps[0], ps[1], ps[2], ps[3]
	scale, base, ncells, tol, rel, zero := t.vec(), t.vec(), t.vec(), t.vec(), t.vec(), t.vec()
	g := GP32()
	MOVL(U32(math.Float32bits(CellsPerUnit)), g)
	VPBROADCASTD(addrOf(g, t, scale), scale)
	Load(Param("base"), g)
	VPBROADCASTD(addrOf(g, t, base), base)
	Load(Param("ncells"), g)
	if t.vw == 8 {
		// AVX2 compares signed: both sides biased by 2^31.
		XORL(U32(0x80000000), g)
	}
	VPBROADCASTD(addrOf(g, t, ncells), ncells)
	VBROADCASTSS(addr(Param("tol")), tol)
	VBROADCASTSS(addr(Param("rel")), rel)
	var abs, one reg.VecVirtual // abs on zmm, one on ymm
	if t.vw == 16 {
		abs = t.vec()
		MOVL(U32(0x7fffffff), g)
		VPBROADCASTD(g, abs)
	} else {
		one = t.vec()
		MOVL(U32(math.Float32bits(1)), g)
		VPBROADCASTD(addrOf(g, t, one), one)
	}
	VXORPS(zero, zero, zero)
	m, sp, bits := GP64(), GP64(), GP64()
	XORQ(m, m)
	XORQ(sp, sp)
	v, q, m1, m2 := t.vec(), t.vec(), t.vec(), t.vec()
	keys, mn, mx := minmaxKeys(t, x, v, m1, m2)
	var perm, bias reg.Register
	if t.vw == 8 {
		perm = GP64()
		LEAQ(nzPermData(), perm)
		MOVL(U32(0x80000000), g)
		bias = t.vec()
		VPBROADCASTD(addrOf(g, t, bias.(reg.VecVirtual)), bias)
	}
	tv := t.vec()
	Label("loop")
	keys()
	VMULPS(scale, v, m1) // exact: a power of two
	if t.vw == 16 {
		// The floor as an integer and the distance to the nearest
		// integer, one instruction each and a mask: three fewer than
		// rounding, converting, subtracting and a fraction's two sides.
		VCVTPS2DQ_RD_SAE(m1, q) // 0x80000000 past int32, a NaN too: not a cell
		VMULPS(rel, m1, tv)
		VREDUCEPS(U8(8), m1, m1) // c - rne(c), exact; no precision exception
		VPANDD(abs, m1, m1)      // |c - rne(c)| = min(frac, 1 - frac)
		VADDPS(tol, tv, m2)      // t
	} else {
		VROUNDPS(U8(9), m1, m2) // floor, no precision exception
		VCVTTPS2DQ(m2, q)       // exact where the cell is kept
		VMULPS(rel, m1, tv)
		VSUBPS(m2, m1, m1)  // the fraction, exact
		VADDPS(tol, tv, m2) // t
		VSUBPS(m1, one, tv) // 1 - frac, exact where it is the smaller
		VMINPS(tv, m1, m1)  // the distance to the nearest integer
	}
	VPSUBD(base, q, q)
	if t.vw == 16 {
		// Each compare under the last one's mask: the ANDs for free.
		ok, nz, sk := K(), K(), K()
		VCMPPS(U8(4), zero, v, nz)        // v != 0 (_CMP_NEQ_UQ: a NaN too)
		VPCMPUD(U8(1), ncells, q, nz, ok) // and cell < ncells
		VCMPPS(U8(0x1d), m2, m1, ok, ok)  // and distance >= t (_CMP_GE_OQ: not a NaN)
		KANDNW(nz, ok, sk)                // non-zero, not a cell
		VPCOMPRESSD_Z(q, ok, m1)          // zeroing: no wait on m1's last value
		VCOMPRESSPS_Z(v, sk, m2)
		VMOVDQU32(m1, Mem{Base: idx, Index: m, Scale: 4})
		VMOVUPS(m2, Mem{Base: vals, Index: sp, Scale: 4})
		KMOVW(ok, bits.As32())
		POPCNTL(bits.As32(), bits.As32())
		ADDQ(bits, m)
		KMOVW(sk, bits.As32())
		POPCNTL(bits.As32(), bits.As32())
		ADDQ(bits, sp)
	} else {
		VCMPPS(U8(0x1d), m2, m1, m1)
		VPXOR(bias, q, m2)
		VPCMPGTD(m2, ncells, m2) // cell < ncells, unsigned
		VANDPS(m2, m1, m1)       // m1: a cell
		VCMPPS(U8(4), zero, v, tv)
		VANDNPS(tv, m1, m2) // m2: non-zero, not a cell
		VANDPS(tv, m1, m1)  // m1: non-zero cells
		// pack stores src's lanes that mask selects at dst[count], packed,
		// and adds their number to count.
		pack := func(mask, src reg.VecVirtual, dst, count reg.GPVirtual) {
			VMOVMSKPS(mask, bits.As32())
			SHLQ(U8(5), bits)
			VMOVDQU(Mem{Base: perm, Index: bits, Scale: 1}, tv)
			VPERMD(src, tv, src)
			VMOVDQU(src, Mem{Base: dst, Index: count, Scale: 4})
			SHRQ(U8(5), bits)
			POPCNTQ(bits, bits)
			ADDQ(bits, count)
		}
		pack(m1, q, idx, m)
		pack(m2, v, vals, sp)
	}
	loopBack(t, n, x)
	Store(m, Return("m"))
	Store(sp, Return("s"))
	nzReturn(t, mn, mx)
}

// minmaxKeys emits the order keys' min and max of minmax's loop and the
// non-zero kernels': it loads x's first vector into v and starts mn and mx
// from its keys, and returns step, which loads the vector at x into v and
// folds its keys in (m1 and m2 scratch).
func minmaxKeys(t tier, x reg.GPVirtual, v, m1, m2 reg.VecVirtual) (step func(), mn, mx reg.VecVirtual) {
	mn, mx = t.vec(), t.vec()
	var abs reg.VecVirtual
	if t.vw == 16 {
		abs = t.vec()
		g := GP32()
		MOVL(U32(0x7fffffff), g)
		VPBROADCASTD(g, abs)
	}
	keyOf := func() { // minmax's order key of v into m2
		if t.vw == 16 {
			// v ^ (sign lanes & 0x7fffffff): a ternary op for the shift and the xor.
			VPSRAD(U8(31), v, m2)
			VPTERNLOGD(U8(0x6a), v, abs, m2)
			return
		}
		VPSRAD(U8(31), v, m1)
		VPSRLD(U8(1), m1, m1)
		VPXOR(m1, v, m2)
	}
	VMOVUPS(Mem{Base: x}, v)
	keyOf()
	VMOVDQU32orU(t, m2, mn)
	VMOVDQU32orU(t, m2, mx)
	return func() {
		VMOVUPS(Mem{Base: x}, v)
		keyOf()
		VPMINSD(m2, mn, mn)
		VPMAXSD(m2, mx, mx)
	}, mn, mx
}

// nzReturn ends such a kernel: it returns the keys' min and max as lo and hi.
func nzReturn(t tier, mn, mx reg.VecVirtual) {
	reduce(t, mn, mx, nil)
	lo, hi := GP32(), GP32()
	VMOVD(mn.AsX(), lo)
	VMOVD(mx.AsX(), hi)
	Store(lo, Return("lo"))
	Store(hi, Return("hi"))
	VZEROUPPER()
	RET()
}

var nzPermMem *Mem

// nzPermData is, for each 8-bit mask, the VPERMD indices that move its set
// lanes to the front in order (the rest 0).
func nzPermData() Mem {
	return rodata(&nzPermMem, "nz_perm", func() {
		for mask := range 256 {
			j := 0
			for i := range 8 {
				if mask>>i&1 != 0 {
					DATA(32*mask+4*j, U32(i))
					j++
				}
			}
			for ; j < 8; j++ {
				DATA(32*mask+4*j, U32(0))
			}
		}
	})
}

// deinterleave: even[i] = x[2i], odd[i] = x[2i+1] for i < n (a multiple of vw).
func deinterleave(t tier) {
	kernel("deinterleave_"+t.name, "func(n int, x, even, odd *float32)", "deinterleave_"+t.name+" is deinterleaveGo for n a multiple of the vector width.")
	ps := params("n", "x", "even", "odd")
	n, x, even, odd := ps[0], ps[1], ps[2], ps[3]
	a, b, e, o := t.vec(), t.vec(), t.vec(), t.vec()
	var ie, io reg.VecVirtual
	if t.vw == 16 {
		// VPERMT2PS indices: lanes 0-15 from the first source, 16-31 the second.
		ie, io = t.vec(), t.vec()
		VMOVDQU32(deintData().Offset(0), ie)
		VMOVDQU32(deintData().Offset(64), io)
	}
	Label("loop")
	VMOVUPS(Mem{Base: x}, a)
	VMOVUPS(Mem{Base: x, Disp: 4 * t.vw}, b)
	if t.vw == 16 {
		VMOVAPS(a, e)
		VPERMT2PS(b, ie, e)
		VMOVAPS(a, o)
		VPERMT2PS(b, io, o)
	} else {
		// Within 128-bit lanes, then fix the lane order (0, 2, 1, 3 of 64-bit pairs).
		VSHUFPS(U8(0x88), b, a, e)
		VSHUFPS(U8(0xdd), b, a, o)
		VPERMPD(U8(0xd8), e, e)
		VPERMPD(U8(0xd8), o, o)
	}
	VMOVUPS(e, Mem{Base: even})
	VMOVUPS(o, Mem{Base: odd})
	ADDQ(U8(8*t.vw), x)
	loopBack(t, n, even, odd)
	VZEROUPPER()
	RET()
}

// kernel starts the function name of Go signature sig, documented by doc.
func kernel(name, sig, doc string) {
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(doc)
}

// params loads the named integer and pointer arguments into new registers,
// in order.
func params(names ...string) []reg.GPVirtual {
	r := make([]reg.GPVirtual, len(names))
	for i, name := range names {
		r[i] = GP64()
		Load(Param(name), r[i])
	}
	return r
}

// loopBack advances each pointer in ps by one vector of float32s, counts n
// down by the vector's values and jumps back to "loop" while any are left.
func loopBack(t tier, n reg.GPVirtual, ps ...reg.GPVirtual) {
	for _, p := range ps {
		ADDQ(U8(4*t.vw), p)
	}
	SUBQ(U8(t.vw), n)
	JNZ(LabelRef("loop"))
}

// addrOf broadcasts from a general register: it returns the register for
// VPBROADCASTD (AVX-512 takes it directly; AVX2 needs it in an XMM first).
func addrOf(r reg.GPVirtual, t tier, tmp reg.VecVirtual) Op {
	if t.vw == 16 {
		return r
	}
	VMOVD(r, tmp.AsX())
	return tmp.AsX()
}

// VMOVDQU32orU copies a vector register.
func VMOVDQU32orU(t tier, src reg.VecVirtual, dst Op) {
	if t.vw == 16 {
		VMOVDQU32(src, dst)
		return
	}
	VMOVDQU(src, dst)
}

// unordered ORs into un an all-ones lane wherever v is NaN.
func unordered(t tier, v, un reg.VecVirtual) {
	if t.vw == 16 {
		k := K()
		VCMPPS(U8(3), v, v, k) // _CMP_UNORD_Q
		m := t.vec()
		VPMOVM2D(k, m)
		VPORD(m, un, un)
		return
	}
	m := t.vec()
	VCMPPS(U8(3), v, v, m)
	VORPS(m, un, un)
}

// reduce folds the lanes of mn (min), mx (max) and un (or; nil: none) into lane 0.
func reduce(t tier, mn, mx, un reg.VecVirtual) {
	tmp := t.vec()
	if t.vw == 16 {
		VEXTRACTI32X8(U8(1), mn, tmp.AsY())
		VPMINSD(tmp.AsY(), mn.AsY(), mn.AsY())
		VEXTRACTI32X8(U8(1), mx, tmp.AsY())
		VPMAXSD(tmp.AsY(), mx.AsY(), mx.AsY())
		if un != nil {
			VEXTRACTI32X8(U8(1), un, tmp.AsY())
			VPOR(tmp.AsY(), un.AsY(), un.AsY())
		}
	}
	VEXTRACTI128(U8(1), mn.AsY(), tmp.AsX())
	VPMINSD(tmp.AsX(), mn.AsX(), mn.AsX())
	VEXTRACTI128(U8(1), mx.AsY(), tmp.AsX())
	VPMAXSD(tmp.AsX(), mx.AsX(), mx.AsX())
	if un != nil {
		VEXTRACTI128(U8(1), un.AsY(), tmp.AsX())
		VPOR(tmp.AsX(), un.AsX(), un.AsX())
	}
	for _, sh := range []uint8{0x4e, 0xb1} { // swap 64-bit halves, then 32-bit pairs
		VPSHUFD(U8(sh), mn.AsX(), tmp.AsX())
		VPMINSD(tmp.AsX(), mn.AsX(), mn.AsX())
		VPSHUFD(U8(sh), mx.AsX(), tmp.AsX())
		VPMAXSD(tmp.AsX(), mx.AsX(), mx.AsX())
		if un != nil {
			VPSHUFD(U8(sh), un.AsX(), tmp.AsX())
			VPOR(tmp.AsX(), un.AsX(), un.AsX())
		}
	}
}

func addr(c gotypes.Component) Mem {
	b, err := c.Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}
