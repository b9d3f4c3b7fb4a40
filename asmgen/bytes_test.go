package asmgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/ir"
	"golang.org/x/sys/cpu"
)

// The byte-wise kernels are the same AVX2 code on every tier (bytes.go), so
// they are checked once, on avx2, but for Concat's zmm requantization
// (TestConcat runs every design); the model tests run them in every tier's
// package.

// randBytes is n random codes, a fifth of them at 0 or 255.
func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		switch r.IntN(10) {
		case 0:
			b[i] = 0
		case 1:
			b[i] = 255
		default:
			b[i] = byte(r.IntN(256))
		}
	}
	return b
}

// randTable is a table of 256 entries: random, or with runs of equal
// entries over aligned blocks of rows (the shapes lut turns into constants:
// saturated activations, pairs, quarters, one value throughout).
func randTable(r *rand.Rand) []byte {
	t := randBytes(r, 256)
	switch r.IntN(4) {
	case 0:
		return t
	case 1: // a steep ramp, saturated at both ends
		m, a := r.Float64()*256, 0.5+4*r.Float64()
		for i := range t {
			t[i] = byte(max(0, min(255, math.Round(a*(float64(i)-m)+128))))
		}
	case 2: // aligned blocks of 1..16 rows of one value each
		for lo := 0; lo < 16; {
			n := 1 << r.IntN(5)
			for lo%n != 0 || lo+n > 16 {
				n /= 2
			}
			if r.IntN(3) > 0 {
				v := byte(r.IntN(256))
				for i := 16 * lo; i < 16*(lo+n); i++ {
					t[i] = v
				}
			}
			lo += n
		}
	default:
		v := byte(r.IntN(256))
		for i := range t {
			t[i] = v
		}
	}
	return t
}

// split calls a kernel of units units in two parts, the second first.
func split(h *harness, r *rand.Rand, name string, units int, args ...any) {
	mid := r.IntN(units + 1)
	h.call(name, append(args, ilit(mid), ilit(units))...)
	h.call(name, append(args, lit("0"), ilit(mid))...)
}

func TestTable(t *testing.T) {
	r, h := kernelTest(t, avx2, 21, 22)
	type check struct {
		t       *Table
		tab, x  []byte
		out, in int
	}
	var checks []check
	for i, sh := range [][3]int{{1, 1, 1}, {3, 5, 7}, {16, 4, 4}, {32, 2, 3}, {13, 9, 5}, {72, 7, 7}, {960, 1, 1}, {8, 9, 5}, {39, 3, 2}, {24, 28, 28}, {5, 3, 3}, {7, 2, 9}, {40, 4, 4}, {9, 11, 2}, {17, 3, 1}, {6, 6, 6}} {
		c, hh, w := sh[0], sh[1], sh[2]
		for _, per := range []bool{false, true} {
			tb := &Table{N: c * hh * w, C: c, PerChan: per, Rows: hh, RW: w}
			name := fmt.Sprintf("table%d_%v", i, per)
			n := 256
			if per {
				n *= c
			}
			tab, x := randBytes(r, n), randBytes(r, tb.N)
			if !per && i%2 == 1 {
				tab = randTable(r)
				tb.T = tab
			}
			if err := h.prog.Table(name, tb); err != nil {
				t.Fatal(err)
			}
			xb, wb, ob := h.buf(x), h.buf(tab), h.buf(make([]byte, tb.N))
			split(h, r, name, tb.Units(), xb, wb, ob)
			checks = append(checks, check{tb, tab, x, ob, i})
		}
	}
	res := h.run(t)
	for _, ck := range checks {
		want := make([]byte, ck.t.N)
		for j, v := range ck.x {
			tc := 0
			if ck.t.PerChan {
				tc = j % ck.t.C
			}
			want[j] = ck.tab[tc*256+int(v)]
		}
		sameBytes(t, fmt.Sprintf("table%d_%v", ck.in, ck.t.PerChan), res[ck.out], want, 1, 1)
	}
}

// TestTableAffine: an affine's per-channel tables computed on lanes give the
// tables' bytes: channel counts with and without a 16-, an 8- and a
// byte-wise part, every activation, zero points at the edges, rounding ties
// (scales of halves) and products that overflow to infinity; every code in
// every channel.
func TestTableAffine(t *testing.T) {
	r, h := kernelTest(t, avx2, 31, 32)
	var checks []kernelCall[*Table, byte]
	for i, sh := range [][3]int{{1, 16, 16}, {8, 16, 16}, {16, 32, 8}, {24, 16, 16}, {39, 16, 16}, {64, 16, 16}, {67, 256, 1}, {5, 16, 16}, {1024, 16, 16}} {
		c, hh, w := sh[0], sh[1], sh[2]
		a := &compiler.TableAffine{XScale: float32(math.Exp2(-8 + 6*r.Float64())), XZero: edgeZero(r, 255),
			Scale: make([]float32, c), Shift: make([]float32, c), Act: ir.Act(i % 3),
			Inv: float32(1 / math.Exp2(-7+6*r.Float64())), YZero: edgeZero(r, 255)}
		if i == 1 { // every output a tie: (q - z) * 0.5 * 1 + 0
			a.XScale, a.Inv = 0.5, 1
		}
		for j := range c {
			a.Scale[j] = float32(r.NormFloat64() * math.Exp2(2*r.NormFloat64()))
			a.Shift[j] = float32(r.NormFloat64() * 4)
			switch {
			case i == 1:
				a.Scale[j], a.Shift[j] = 1, 0
			case j%11 == 3:
				a.Scale[j] = 3e38 // to infinity
			case j%11 == 5:
				a.Scale[j] = -3e38
			}
		}
		tb := &Table{N: c * hh * w, C: c, PerChan: true, Rows: hh, RW: w, Affine: a}
		tab := make([]byte, 256*c)
		for j := range tab {
			tab[j] = a.Value(j/256, uint8(j%256))
		}
		name := fmt.Sprintf("affine%d", i)
		if err := h.prog.Table(name, tb); err != nil {
			t.Fatal(err)
		}
		x := make([]byte, tb.N) // pixel p, channel j: code p+7j (256 pixels)
		for j := range x {
			x[j] = byte(j/c + 7*(j%c))
		}
		xb, wb, ob := h.buf(x), h.buf(tab), h.buf(make([]byte, tb.N))
		split(h, r, name, tb.Units(), xb, wb, ob)
		checks = append(checks, kernelCall[*Table, byte]{name, tb, x, ob})
	}
	res := h.run(t)
	for _, ck := range checks {
		tb := ck.layer
		want := make([]byte, tb.N)
		for j, v := range ck.x {
			want[j] = tb.Affine.Value(j%tb.C, v) // the table's byte
		}
		sameBytes(t, fmt.Sprintf("%s (%d channels, %v)", ck.name, tb.C, tb.Affine.Act), res[ck.out], want, 1, 1)
	}
}

// TestMul runs on every design (zmm on the avx512 tiers).
func TestMul(t *testing.T) { elemTiers(t, testMul) }

func testMul(t *testing.T, isa Target) {
	r, h := kernelTest(t, isa, 23, 24)
	var checks []kernelCall[*Mul, []byte]
	for i, sh := range [][3]int{{1, 1, 1}, {3, 5, 7}, {16, 4, 4}, {32, 2, 3}, {13, 9, 5}, {72, 7, 7}, {960, 1, 1}, {8, 9, 5}, {40, 3, 2}, {24, 14, 14}, {57, 2, 2}, {130, 3, 2}, {64, 2, 3}} {
		c, hh, w := sh[0], sh[1], sh[2]
		for mode := range 3 { // elementwise, [C,1,1], [1,H,W]
			m := &Mul{N: c * hh * w, C: c, Bcast: mode == 1, Plane: mode == 2, Rows: hh, ZA: edgeZero(r, 255), ZB: edgeZero(r, 255), Z: edgeZero(r, 255),
				M: float32(math.Exp2(-16 + 14*r.Float64()))}
			if i == 4 {
				m.M = 3e5 // rounding overflows int32
			}
			name := fmt.Sprintf("mul%d_%d", i, mode)
			if err := h.prog.Mul(name, m, isa); err != nil {
				t.Fatal(err)
			}
			nb := []int{m.N, c, hh * w}[mode]
			a, b := randBytes(r, m.N), randBytes(r, nb)
			ab, bb, ob := h.buf(a), h.buf(b), h.buf(make([]byte, m.N))
			split(h, r, name, m.Units(), ab, bb, ob)
			checks = append(checks, kernelCall[*Mul, []byte]{name, m, [][]byte{a, b}, ob})
		}
	}
	res := h.run(t)
	for _, ck := range checks {
		m, a, b := ck.layer, ck.x[0], ck.x[1]
		want := make([]byte, m.N)
		for j := range want {
			qb := b[j%len(b)]
			if m.Plane {
				qb = b[j/m.C]
			}
			want[j] = compiler.Requantize((int32(a[j])-m.ZA)*(int32(qb)-m.ZB), m.M, 0, m.Z, 0, 255)
		}
		sameBytes(t, ck.name, res[ck.out], want, 1, 1)
	}
}

// TestConcat runs on every design: requantized inputs go on zmm on the
// avx512 tiers (the emulated one runs the avx2 design).
func TestConcat(t *testing.T) { elemTiers(t, testConcat) }

func testConcat(t *testing.T, isa Target) {
	r, h := kernelTest(t, isa, 25, 26)
	type check struct {
		k     *Concat
		arena []byte
		skip  []bool // inputs left out (written in place)
		cs    []int
		ins   []ConcatIn
		out   int
	}
	var checks []check
	for i, sh := range [][]int{{1, 2}, {3, 5, 7}, {16, 32, 64}, {8, 8}, {13, 40, 7, 33}, {64, 96, 96, 64}, {5, 300}, {2, 2, 2, 2, 2}, {17, 49, 65, 128, 31}, {20, 3, 64, 70, 9, 5}} {
		hh, w := 1+r.IntN(5), 1+r.IntN(6)
		if i == 5 {
			hh, w = 7, 7
		}
		if i >= 8 { // more than four requantized tables over a few pixels
			hh, w = 3, 4
		}
		hw := hh * w
		k := &Concat{Rows: hh, RW: w, Z: edgeZero(r, 255)}
		var all []ConcatIn
		var skip []bool
		off := 0
		for _, c := range sh {
			in := ConcatIn{C: c, Off: off, Z: edgeZero(r, 255)}
			if r.IntN(2) == 0 || i >= 8 { // the last two: every input requantized
				in.M = float32(math.Exp2(-3 + 5*r.Float64()))
			}
			stride := c
			if r.IntN(3) == 0 { // a slice's channels read in place
				in.Stride = c + 1 + r.IntN(40)
				stride = in.Stride
			}
			all = append(all, in)
			skip = append(skip, r.IntN(4) == 0 && i < 8)
			off += (stride*hw + 63) &^ 63
			k.C += c
		}
		skip[0] = false
		k.Off = off
		at := 0
		for j, in := range all {
			if !skip[j] {
				k.Ins, k.At = append(k.Ins, in), append(k.At, at)
			}
			at += in.C
		}
		if i%2 == 1 {
			k.setOver() // tails stored as whole words into later inputs' channels
		}
		arena := randBytes(r, off+k.C*hw)
		// Every way: on zmm the VBMI lookups where the CPU has VBMI, and
		// the arithmetic without them.
		for _, vbmi := range []bool{true, false} {
			name := fmt.Sprintf("concat%d_%v", i, vbmi)
			if err := h.prog.concat(name, k, isa, vbmi); err != nil {
				t.Fatal(err)
			}
			ab := h.buf(arena)
			split(h, r, name, k.Units(), ab)
			checks = append(checks, check{k, arena, skip, sh, all, ab})
		}
	}
	if isa.lanes() == 16 && !cpu.X86.HasAVX512VBMI {
		t.Logf("CPU without AVX-512 VBMI: the concat's table lookups are UNVERIFIED here")
	}
	res := h.run(t)
	for i, ck := range checks {
		k := ck.k
		hw := k.Rows * k.RW
		want := append([]byte(nil), ck.arena...)
		y := want[k.Off:]
		at := 0
		for j, in := range ck.ins {
			for p := range hw {
				for c := range in.C {
					if ck.skip[j] {
						continue // untouched
					}
					q := ck.arena[in.Off+p*max(in.C, in.Stride)+c]
					if in.M != 0 {
						q = compiler.Requantize(int32(q)-in.Z, in.M, 0, k.Z, 0, 255)
					}
					y[p*k.C+at+c] = q
				}
			}
			at += in.C
		}
		sameBytes(t, fmt.Sprintf("concat%d_%v", i/2, i%2 == 0), res[ck.out], want, 1, 1)
	}
}

// TestGeneratedInception runs an inception block whose concat has inputs
// written in place by their convs (shared qparams) and requantized ones,
// then hardswish and a squeeze-excitation, through generated packages on
// every tier and emulation, 1 to 3 workers, against the interpreter.
func TestGeneratedInception(t *testing.T) {
	testenv.SkipShort(t, "builds generated packages with the go command")
	ms := []*compiler.Model{gentest.InceptionModel(t, "fbgemm", true), gentest.InceptionModel(t, "qnnpack", false), gentest.PairModel(t)}
	seeds := []uint64{0, 1, 2}
	testModelEveryTier(t, ms, seeds)
}

// TestVBMIFlag checks the answer vbmiFlag keeps against x/sys/cpu's, twice
// (the second call reads the kept flag).
func TestVBMIFlag(t *testing.T) {
	_, h := kernelTest(t, avx512, 27, 28)
	p := h.prog
	if err := p.function("vbmiprobe", concatSig); err != nil {
		t.Fatal(err)
	}
	c := p.ctx
	vbmiFlag(p, "vbmiprobe")
	c.Load(c.Param("a"), reg.RBX)
	c.Load(c.Param("s0"), reg.RCX)
	c.MOVB(reg.AL, operand.Mem{Base: reg.RBX, Index: reg.RCX, Scale: 1})
	c.RET()
	out := h.buf(make([]byte, 2))
	h.call("vbmiprobe", out, lit("0"), lit("0"))
	h.call("vbmiprobe", out, lit("1"), lit("0"))
	got := h.run(t)[out]
	want := byte(1)
	if cpu.X86.HasAVX512VBMI {
		want = 2
	}
	if got[0] != want || got[1] != want {
		t.Errorf("vbmiFlag: %d then %d, want %d (VBMI %v)", got[0], got[1], want, cpu.X86.HasAVX512VBMI)
	}
}
