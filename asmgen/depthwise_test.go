package asmgen

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/lower"
)

type dwShape struct {
	c, k, s, p, h, w int
	act              string
	bigM             bool
	smallW           bool // weights that let the u8 path sum every pair in int16
}

func randDW(r *rand.Rand, sh dwShape) (*Depthwise, []uint8) {
	d := &Depthwise{C: sh.c, K: sh.k, Stride: sh.s, Pad: sh.p, H: sh.h, W: sh.w, XMax: 255}
	d.OH = (sh.h+2*sh.p-sh.k)/sh.s + 1
	d.OW = (sh.w+2*sh.p-sh.k)/sh.s + 1
	d.ZIn = edgeZero(r, 255)
	low := r.IntN(3) // 0: codes 0..255; 1: below 128; 2: below 128 but one pixel
	if low > 0 {
		d.ZIn = edgeZero(r, 127)
	}
	d.Weight = make([]int8, sh.c*sh.k*sh.k)
	for i := range d.Weight {
		d.Weight[i] = int8(r.IntN(256) - 128)
		if sh.smallW {
			d.Weight[i] = int8(r.IntN(50) - 25)
		}
	}
	d.Requant = randRequant(r, sh.c, -6, 8, sh.bigM, sh.act)
	x := make([]uint8, sh.h*sh.w*sh.c)
	for i := range x {
		x[i] = uint8(r.IntN(256))
		if low > 0 {
			x[i] &= 127
		}
	}
	if low == 2 {
		p := r.IntN(sh.h * sh.w)
		x[p*sh.c+r.IntN(sh.c)] |= 128
	}
	return d, x
}

func wantDW(d *Depthwise, x []uint8) []uint8 {
	out, g := make([]uint8, d.OH*d.OW*d.C), d.geom()
	for oy := 0; oy < d.OH; oy++ {
		for ox := 0; ox < d.OW; ox++ {
			for c := 0; c < d.C; c++ {
				var acc int32
				forTaps(g, d.H, d.W, oy, ox, func(ky, kx, px int) {
					acc += (int32(x[px*d.C+c]) - d.ZIn) * int32(d.Weight[(c*g.KH+ky)*g.KW+kx])
				})
				out[(oy*d.OW+ox)*d.C+c] = d.epi(compiler.Requantize(acc, d.M[c], d.B[c], d.Z, d.Lo, d.Hi))
			}
		}
	}
	return out
}

// nhwc is the kernels' layout of H*W pixels of c channels: the codes as they are.
func nhwc(_ *rand.Rand, x []uint8, _ int) []byte { return append([]byte(nil), x...) }

func TestDepthwise(t *testing.T) {
	shapes := []dwShape{
		{c: 32, k: 3, s: 1, p: 1, h: 9, w: 8, act: "relu6"},
		{c: 96, k: 3, s: 2, p: 1, h: 9, w: 10, act: "relu6"},
		{c: 144, k: 3, s: 2, p: 1, h: 8, w: 8},
		{c: 24, k: 3, s: 1, p: 1, h: 1, w: 1, act: "relu"},
		{c: 5, k: 3, s: 1, p: 1, h: 2, w: 3},
		{c: 13, k: 3, s: 2, p: 1, h: 5, w: 4, act: "relu"},
		{c: 40, k: 3, s: 1, p: 0, h: 4, w: 6, bigM: true},
		{c: 8, k: 5, s: 1, p: 2, h: 6, w: 7},
		{c: 17, k: 1, s: 2, p: 0, h: 5, w: 5},
		{c: 16, k: 2, s: 2, p: 0, h: 4, w: 6},
		{c: 960, k: 3, s: 1, p: 1, h: 3, w: 3, act: "relu6"},
		{c: 72, k: 3, s: 1, p: 1, h: 12, w: 5, act: "relu6"},
		{c: 200, k: 3, s: 2, p: 1, h: 7, w: 6, act: "relu6"},
		{c: 64, k: 5, s: 1, p: 2, h: 5, w: 6},
		// Rows of 2, 3 and 10 pixels inside the padding: windows of a
		// step or two, and unrolled loops with and without a remainder.
		{c: 64, k: 3, s: 1, p: 1, h: 3, w: 4},
		{c: 80, k: 3, s: 1, p: 1, h: 3, w: 5, act: "relu"},
		{c: 64, k: 3, s: 1, p: 1, h: 4, w: 12, act: "relu6"},
		{c: 48, k: 3, s: 2, p: 1, h: 5, w: 9},
		// Fewer channels than a vector: several pixels a vector
		// (pixelsPerVector), runs of whole vectors and a remainder of one
		// pixel or more, rows of border pixels only.
		{c: 16, k: 3, s: 1, p: 1, h: 5, w: 11, act: "relu6"},
		{c: 16, k: 3, s: 1, p: 1, h: 3, w: 8},
		{c: 32, k: 3, s: 1, p: 1, h: 4, w: 9, act: "relu"},
		{c: 32, k: 3, s: 1, p: 1, h: 3, w: 10},
		{c: 32, k: 3, s: 1, p: 1, h: 3, w: 2},
		{c: 32, k: 5, s: 1, p: 2, h: 6, w: 9, act: "relu6"},
		{c: 4, k: 3, s: 1, p: 0, h: 5, w: 23},
		{c: 8, k: 3, s: 1, p: 1, h: 4, w: 13},
	}
	eachKernelTier(t, 2, func(t *testing.T, isa Target, r *rand.Rand, h *harness) {
		var checks []kernelCall[*Depthwise, uint8]
		for i, sh := range shapes {
			for rep := 0; rep < 2; rep++ {
				d, x := randDW(r, sh)
				name := fmt.Sprintf("dw%d_%d", i, rep)
				if err := h.prog.Depthwise(name, d, isa); err != nil {
					t.Fatal(err)
				}
				blob := convert[byte](lower.PackDepthwise(d.Weight, d.C, d.K))
				xb, wb := h.buf(nhwc(r, x, d.C)), h.buf(blob)
				y := h.buf(make([]byte, d.OH*d.OW*d.C))
				mid := r.IntN(d.OH + 1)
				h.call(name, xb, wb, y, ilit(mid), ilit(d.OH))
				h.call(name, xb, wb, y, lit("0"), ilit(mid))
				checks = append(checks, kernelCall[*Depthwise, uint8]{name, d, x, y})
			}
		}
		res := h.run(t)
		for _, ck := range checks {
			sameBytes(t, ck.name, res[ck.out], wantDW(ck.layer, ck.x), ck.layer.C, ck.layer.C)
		}
	})
}

func TestWindowPeriod(t *testing.T) {
	for _, c := range []struct{ k, st, u int }{{3, 1, 3}, {3, 2, 2}, {2, 1, 2}, {4, 1, 4}, {4, 2, 2}, {4, 3, 2}, {3, 3, 0}} {
		if u, ok := windowPeriod(c.k, c.st); u != c.u || ok != (c.u > 0) {
			t.Errorf("windowPeriod(%d, %d) = %d, %v, want %d", c.k, c.st, u, ok, c.u)
		}
	}
}
