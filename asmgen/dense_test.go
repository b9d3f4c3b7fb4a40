package asmgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/lower"
)

// denseCase is a random dense layer with its input codes (H x W x Cin).
type denseCase struct {
	d       *Dense
	x       []uint8
	lowJunk bool // padding channels below 128, so that the u8 path can be taken
}

type denseShape struct {
	cin, cout, k, s, p, h, w int
	xmax                     int32
	act                      string // "", "relu", "relu6"
	smallW                   bool   // weights small enough for the u8s8 path
	bigM                     bool   // multipliers that overflow int32 after rounding
	sparse                   bool   // codes of 128 or more in few pixels: a row's strips take both paths
}

func randDense(r *rand.Rand, sh denseShape) *denseCase {
	oh := (sh.h+2*sh.p-sh.k)/sh.s + 1
	ow := (sh.w+2*sh.p-sh.k)/sh.s + 1
	d := &Dense{Cin: sh.cin, Cout: sh.cout, K: sh.k, Stride: sh.s, Pad: sh.p, H: sh.h, W: sh.w, OH: oh, OW: ow,
		XMax: sh.xmax, OutStride: sh.cout}
	d.InStride = sh.cin
	if sh.k != 1 || sh.s != 1 || sh.p != 0 {
		d.InStride = 4 * lower.Quads(sh.cin)
	}
	d.ZIn = edgeZero(r, sh.xmax)
	n := sh.cout * sh.cin * sh.k * sh.k
	d.Weight = make([]int8, n)
	for i := range d.Weight {
		if sh.smallW {
			d.Weight[i] = int8(r.IntN(129) - 64)
		} else {
			d.Weight[i] = int8(r.IntN(256) - 128)
		}
	}
	d.Requant = randRequant(r, sh.cout, -4, 10, sh.bigM, sh.act)
	x := make([]uint8, sh.h*sh.w*sh.cin)
	outliers := r.IntN(2) == 0 // mostly 7-bit codes: strips take both paths
	if sh.sparse {
		outliers = true
	}
	for i := range x {
		x[i] = uint8(r.IntN(int(sh.xmax) + 1))
		if sh.sparse && (i/sh.cin)%37 != 0 || outliers && r.IntN(40) != 0 {
			x[i] &= 127
		}
	}
	return &denseCase{d: d, x: x, lowJunk: outliers}
}

// edgeZero picks zero points near 0 and near top most of the time.
func edgeZero(r *rand.Rand, top int32) int32 {
	switch r.IntN(4) {
	case 0:
		return int32(r.IntN(3))
	case 1:
		return top - int32(r.IntN(3))
	}
	return int32(r.IntN(int(top) + 1))
}

// input lays the codes out the way the kernel reads them.
func (c *denseCase) input(r *rand.Rand, isa Target) []byte {
	d := c.d
	junk := func() byte {
		if c.lowJunk {
			return byte(r.IntN(128))
		}
		return byte(r.IntN(256))
	}
	if d.Pointwise() {
		b := make([]byte, d.H*d.W*d.InStride)
		for p := 0; p < d.H*d.W; p++ {
			for ch := 0; ch < d.InStride; ch++ {
				b[p*d.InStride+ch] = junk()
				if ch < d.Cin {
					b[p*d.InStride+ch] = c.x[p*d.Cin+ch]
				}
			}
		}
		return b
	}
	bd := d.border()
	hp, wp := d.H+2*bd, d.padW()
	esz := 1
	b := make([]byte, hp*wp*d.InStride*esz)
	for y := 0; y < hp; y++ {
		for xx := 0; xx < wp; xx++ {
			for ch := 0; ch < d.InStride; ch++ {
				v := int(junk())
				if ch < d.Cin {
					v = int(d.ZIn)
					if iy, ix := y-bd, xx-bd; iy >= 0 && iy < d.H && ix >= 0 && ix < d.W {
						v = int(c.x[(iy*d.W+ix)*d.Cin+ch])
					}
				}
				i := ((y*wp+xx)*d.InStride + ch) * esz
				b[i] = byte(v)
				if esz == 2 {
					b[i+1] = 0
				}
			}
		}
	}
	return b
}

// want is the interpreter's arithmetic on the logical layout.
func (c *denseCase) want() []uint8 {
	d, g := c.d, c.d.geom()
	out := make([]uint8, d.OH*d.OW*d.Cout)
	for oy := 0; oy < d.OH; oy++ {
		for ox := 0; ox < d.OW; ox++ {
			for o := 0; o < d.Cout; o++ {
				var acc int32
				for ci := 0; ci < d.Cin; ci++ {
					forTaps(g, d.H, d.W, oy, ox, func(ky, kx, px int) {
						acc += (int32(c.x[px*d.Cin+ci]) - d.ZIn) * int32(d.Weight[((o*d.Cin+ci)*g.KH+ky)*g.KW+kx])
					})
				}
				out[(oy*d.OW+ox)*d.Cout+o] = d.epi(compiler.Requantize(acc, d.M[o], d.B[o], d.Z, d.Lo, d.Hi))
			}
		}
	}
	return out
}

// runDense adds the calls of kernel name over parts of c's layer on input x
// and packed weights w (harness buffers), into a fresh output with scratch
// bytes of scratch; it returns the call to check against c.want.
func runDense(h *harness, name string, c *denseCase, x, w, scratch int, parts [][4]int) kernelCall[*denseCase, uint8] {
	y := h.buf(make([]byte, c.d.OH*c.d.OW*c.d.OutStride))
	s := h.buf(make([]byte, scratch))
	h.callSplit(name, parts, x, w, y, s)
	return kernelCall[*denseCase, uint8]{name: name, layer: c, out: y}
}

func denseShapes() []denseShape {
	return []denseShape{
		// pointwise, MobileNet-like and odd
		{cin: 24, cout: 144, k: 1, s: 1, h: 7, w: 5, xmax: 255},
		{cin: 16, cout: 96, k: 1, s: 1, h: 4, w: 4, xmax: 255, act: "relu6"},
		{cin: 144, cout: 24, k: 1, s: 1, h: 3, w: 5, xmax: 255},
		{cin: 96, cout: 40, k: 1, s: 1, h: 2, w: 7, xmax: 127, act: "relu"},
		{cin: 5, cout: 9, k: 1, s: 1, h: 3, w: 3, xmax: 255, act: "relu"},
		{cin: 3, cout: 1, k: 1, s: 1, h: 1, w: 1, xmax: 255},
		{cin: 17, cout: 23, k: 1, s: 1, h: 5, w: 5, xmax: 127, smallW: true},
		{cin: 64, cout: 32, k: 1, s: 1, h: 6, w: 2, xmax: 255, smallW: true, act: "relu6"},
		{cin: 40, cout: 24, k: 1, s: 1, h: 3, w: 3, xmax: 255, bigM: true},
		{cin: 1280, cout: 17, k: 1, s: 1, h: 1, w: 1, xmax: 255},
		{cin: 96, cout: 56, k: 1, s: 1, h: 3, w: 3, xmax: 60},
		// wide enough for the avx512 tier's zmm kernels (Dense.tierDesign)
		{cin: 64, cout: 144, k: 1, s: 1, h: 5, w: 7, xmax: 255, act: "relu6"},
		{cin: 40, cout: 200, k: 1, s: 1, h: 2, w: 7, xmax: 255},
		{cin: 33, cout: 70, k: 1, s: 1, h: 3, w: 3, xmax: 255, bigM: true},
		{cin: 48, cout: 1000, k: 1, s: 1, h: 1, w: 1, xmax: 255},
		// long reductions: tall strips where a call has all the pixels
		{cin: 520, cout: 48, k: 1, s: 1, h: 7, w: 7, xmax: 255, act: "relu"},
		{cin: 640, cout: 70, k: 1, s: 1, h: 5, w: 7, xmax: 255},
		{cin: 8, cout: 56, k: 3, s: 2, p: 1, h: 7, w: 9, xmax: 255, act: "relu"},
		// rows of 14 and 7 pixels (strips 5+5+4, 4+3), five column units
		{cin: 16, cout: 80, k: 3, s: 1, p: 1, h: 3, w: 14, xmax: 255, act: "relu"},
		{cin: 12, cout: 72, k: 3, s: 2, p: 1, h: 4, w: 13, xmax: 255},
		// linear-like and implicit convs
		{cin: 3, cout: 32, k: 3, s: 2, p: 1, h: 9, w: 14, xmax: 255, act: "relu6"},
		{cin: 3, cout: 16, k: 3, s: 2, p: 1, h: 8, w: 8, xmax: 127, smallW: true},
		{cin: 1, cout: 8, k: 3, s: 1, p: 1, h: 5, w: 7, xmax: 255, act: "relu"},
		{cin: 8, cout: 12, k: 3, s: 1, p: 1, h: 4, w: 5, xmax: 255},
		{cin: 20, cout: 24, k: 3, s: 2, p: 1, h: 5, w: 6, xmax: 255, bigM: true},
		{cin: 40, cout: 8, k: 1, s: 2, p: 0, h: 5, w: 5, xmax: 255},
		{cin: 6, cout: 16, k: 5, s: 1, p: 2, h: 6, w: 6, xmax: 127, smallW: true, act: "relu6"},
		// a pixel in 37 with codes of 128 or more: strips of one row on both paths
		{cin: 16, cout: 48, k: 3, s: 1, p: 1, h: 6, w: 20, xmax: 255, sparse: true},
		{cin: 24, cout: 32, k: 3, s: 2, p: 1, h: 9, w: 30, xmax: 255, sparse: true, act: "relu"},
	}
}

func TestDense(t *testing.T) {
	eachKernelTier(t, 1, func(t *testing.T, isa Target, r *rand.Rand, h *harness) {
		var checks []kernelCall[*denseCase, uint8]
		paths := map[Path]int{}
		wide := 0
		for i, sh := range denseShapes() {
			for rep := 0; rep < 2; rep++ {
				c := randDense(r, sh)
				name := fmt.Sprintf("dense%d_%d", i, rep)
				if err := h.prog.Dense(name, c.d, isa); err != nil {
					t.Fatal(err)
				}
				paths[c.d.Path(isa)]++
				blob := convert[byte](lower.PackDense(c.d.Weight, c.d.Cin, c.d.Cout, c.d.K))
				x, w := h.buf(c.input(r, isa)), h.buf(blob)
				parts := workSplit(r, c.d.Units(), c.d.Cols())
				checks = append(checks, runDense(h, name, c, x, w, max(1, c.d.ScratchBytes(isa)), parts))
				if c.d.HasWide(isa) {
					// The same layer on the zmm design (runtime.WideZMM).
					wc := *c
					wc.d = c.d.wide()
					if err := h.prog.Dense(name+"_wide", wc.d, isa); err != nil {
						t.Fatal(err)
					}
					checks = append(checks, runDense(h, name+"_wide", &wc, x, w, max(1, wc.d.ScratchBytes(isa)), parts))
					wide++
				}
			}
		}
		t.Logf("paths: %v; %d wide kernels", paths, wide)
		if isa.ZMM && wide == 0 {
			t.Error("no layer with a wide kernel")
		}
		res := h.run(t)
		for _, ck := range checks {
			d := ck.layer.d
			sameBytes(t, fmt.Sprintf("%s (%s)", ck.name, d.Path(isa)), res[ck.out], ck.layer.want(), d.Cout, d.OutStride)
		}
	})
}

// randomBias is n float biases in output units: half of them exact halves (the
// rounding ties of rne after the bias add), all within +-300 steps so that
// both clamps and the middle of the range are hit.
// randRequant draws the requantization of n channels: biases, multipliers
// 2^(exp - span*U) (or huge ones, bigM), an output zero point near the edges
// and the clamps of act.
func randRequant(r *rand.Rand, n int, exp, span float64, bigM bool, act string) Requant {
	q := Requant{B: randomBias(r, n), M: make([]float32, n)}
	for i := range q.M {
		q.M[i] = float32(math.Exp2(exp - span*r.Float64()))
		if bigM {
			q.M[i] = float32(math.Exp2(14 + 20*r.Float64()))
		}
	}
	q.Z, q.Lo, q.Hi = edgeZero(r, 255), 0, 255
	switch act {
	case "relu":
		q.Lo = q.Z
	case "relu6":
		q.Lo, q.Hi = q.Z, min(255, q.Z+int32(r.IntN(200)))
	}
	if r.IntN(3) == 0 {
		q.Table = randTable(r) // an epilogue table
	}
	return q
}

// epi is the epilogue table applied to v.
func (q *Requant) epi(v uint8) uint8 {
	if q.Table == nil {
		return v
	}
	return q.Table[v]
}

func randomBias(r *rand.Rand, n int) []float32 {
	b := make([]float32, n)
	for i := range b {
		if r.IntN(2) == 0 {
			b[i] = float32(r.IntN(1201)-600) / 2
		} else {
			b[i] = float32((2*r.Float64() - 1) * 300)
		}
	}
	return b
}

func TestTierDesign(t *testing.T) {
	for _, c := range []struct {
		cin, cout, k int
		isa, want    Target
	}{
		{320, 1280, 1, avx512, avx512},
		{1280, 1000, 1, zmmEmulated, zmmEmulated},
		{16, 96, 1, avx512, avx512},
		{12, 96, 1, avx512, avx512vnni},
		{144, 24, 1, avx512, avx512vnni},
		{144, 24, 1, zmmEmulated, vnniEmulated},
		{3, 32, 3, avx512, avx512},
		{3, 24, 3, avx512, avx512vnni},
		{8, 56, 3, avx512, avx512},
		{16, 96, 1, avx2, avx2},
	} {
		d := &Dense{Cin: c.cin, Cout: c.cout, K: c.k}
		if got := d.tierDesign(c.isa); got != c.want {
			t.Errorf("%d -> %d k%d on %s: %s, want %s", c.cin, c.cout, c.k, c.isa, got, c.want)
		}
	}
}

// TestHasWide: the layers with a Wide kernel are those of 9 to 31 output
// channels that a zmm tier runs on 256 bits for their width alone.
func TestHasWide(t *testing.T) {
	for _, c := range []struct {
		cin, cout, k int
		isa          Target
		want         bool
	}{
		{144, 24, 1, avx512, true},
		{32, 16, 1, avx512, true},
		{96, 9, 1, avx512, true},
		{96, 31, 1, zmmEmulated, true},
		{3, 16, 3, avx512, true},  // a stem's 27 taps
		{96, 8, 1, avx512, false}, // a zmm of 8 columns does what a ymm does
		{96, 32, 1, avx512, false},
		{12, 24, 1, avx512, false}, // too short a reduction: 256 bits either way
		{144, 24, 1, avx512vnni, false},
		{144, 24, 1, avx2, false},
	} {
		d := &Dense{Cin: c.cin, Cout: c.cout, K: c.k}
		if got := d.HasWide(c.isa); got != c.want {
			t.Errorf("%d -> %d k%d on %s: HasWide %v, want %v", c.cin, c.cout, c.k, c.isa, got, c.want)
		}
		d.Wide = true
		if got := d.tierDesign(c.isa) == c.isa && c.isa.ZMM; c.want && !got {
			t.Errorf("%d -> %d k%d on %s: Wide kernel not on the zmm design", c.cin, c.cout, c.k, c.isa)
		}
	}
}

func TestColumnOrder(t *testing.T) {
	for _, c := range []struct {
		name                   string
		cin, cout, k, s, p, hw int
		chunk, block           int // column units per chunk (0: strips outermost), per zmm block
	}{
		{"mnv2 56x56 24->144", 24, 144, 1, 1, 0, 56, 0, 3},
		{"mnv2 14x14 96->576", 96, 576, 1, 1, 0, 14, 4, 4},
		{"mnv2 14x14 576->96", 576, 96, 1, 1, 0, 14, 0, 3},
		{"mnv2 7x7 320->1280", 320, 1280, 1, 1, 0, 7, 4, 4},
		{"mnv2 classifier", 1280, 1000, 1, 1, 0, 1, 4, 4},
		{"r50 layer1 3x3", 64, 64, 3, 1, 1, 56, 0, 4},
		{"r50 layer4 3x3", 512, 512, 3, 1, 1, 7, 4, 4},
		{"one chunk", 64, 48, 1, 1, 0, 1, 0, 3},
	} {
		o := (c.hw+2*c.p-c.k)/c.s + 1
		d := &Dense{Cin: c.cin, Cout: c.cout, K: c.k, Stride: c.s, Pad: c.p, H: c.hw, W: c.hw, OH: o, OW: o, InStride: 4 * lower.Quads(c.cin)}
		g := &denseGen{d: d}
		if got := g.colChunk(); got != c.chunk {
			t.Errorf("%s: chunk of %d units, want %d", c.name, got, c.chunk)
		}
		if got := blockUnits(d.Cols(), zmmUnits); got != c.block {
			t.Errorf("%s: blocks of %d units, want %d", c.name, got, c.block)
		}
	}
}
