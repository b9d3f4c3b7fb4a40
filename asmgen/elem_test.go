package asmgen

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/ptqc/ptqc/compiler"
)

// elemTiers runs an element-wise kernel's test for avx2, avx512 and avx512
// emulated with AVX2.
func elemTiers(t *testing.T, test func(*testing.T, Target)) {
	for _, isa := range []Target{avx2, avx512, zmmEmulated} {
		t.Run(isa.String(), func(t *testing.T) { test(t, isa) })
	}
}

func TestAdd(t *testing.T) { elemTiers(t, testAdd) }

func testAdd(t *testing.T, isa Target) {
	r, h := kernelTest(t, isa, 3, 3)
	type check struct {
		a    *Add
		x, y []byte
		out  int
	}
	var checks []check
	for i, n := range []int{8, 16, 24, 32, 40, 56 * 56 * 24, 7 * 7 * 160, 1000, 1, 7, 13, 29, 31, 33, 150} {
		a := &Add{N: n, ZA: edgeZero(r, 255), ZB: edgeZero(r, 255), Z: edgeZero(r, 255),
			MA: float32(math.Exp2(-3 + 4*r.Float64())), MB: float32(math.Exp2(-3 + 4*r.Float64()))}
		if i == 3 {
			a.MA, a.MB = 3e9, -1e9 // rounding overflows int32
		}
		a.ReLU = i%3 == 1 // add_relu
		name := fmt.Sprintf("add%d", i)
		if err := h.prog.Add(name, a, isa); err != nil {
			t.Fatal(err)
		}
		x, y := make([]byte, n), make([]byte, n)
		for j := range x {
			x[j], y[j] = byte(r.IntN(256)), byte(r.IntN(256))
		}
		xb, yb, ob := h.buf(x), h.buf(y), h.buf(make([]byte, n))
		mid := r.IntN(a.Units() + 1)
		h.call(name, xb, yb, ob, ilit(mid), ilit(a.Units()))
		h.call(name, xb, yb, ob, lit("0"), ilit(mid))
		checks = append(checks, check{a, x, y, ob})
	}
	res := h.run(t)
	for i, ck := range checks {
		want := make([]byte, ck.a.N)
		for j := range want {
			want[j] = compiler.AddQ(ck.x[j], ck.y[j], ck.a.ZA, ck.a.ZB, ck.a.MA, ck.a.MB, ck.a.Z)
			if ck.a.ReLU {
				want[j] = max(want[j], uint8(ck.a.Z))
			}
		}
		sameBytes(t, fmt.Sprintf("add%d", i), res[ck.out], want, 8, 8)
	}
}

func TestMean(t *testing.T) { elemTiers(t, testMean) }

func testMean(t *testing.T, isa Target) {
	r, h := kernelTest(t, isa, 4, 4)
	var checks []kernelCall[*Mean, uint8]
	for i, sh := range [][2]int{{1280, 49}, {3, 1}, {17, 5}, {24, 64}, {8, 300}, {40, 7}, {1, 9}, {20, 4}, {9, 3}} {
		m := &Mean{C: sh[0], HW: sh[1], Z: edgeZero(r, 255)}
		name := fmt.Sprintf("mean%d", i)
		if err := h.prog.Mean(name, m, isa); err != nil {
			t.Fatal(err)
		}
		x := make([]uint8, m.C*m.HW)
		for j := range x {
			x[j] = uint8(r.IntN(256))
		}
		xb, ob := h.buf(nhwc(r, x, m.C)), h.buf(make([]byte, m.C))
		h.call(name, xb, ob)
		checks = append(checks, kernelCall[*Mean, uint8]{name, m, x, ob})
	}
	res := h.run(t)
	for _, ck := range checks {
		m := ck.layer
		want := make([]uint8, m.C)
		inv := float32(1 / float64(m.HW))
		for c := range want {
			var sum int32
			for p := 0; p < m.HW; p++ {
				sum += int32(ck.x[p*m.C+c]) - m.Z
			}
			want[c] = compiler.MeanQ(sum, inv, m.Z)
		}
		sameBytes(t, ck.name, res[ck.out], want, m.C, m.C)
	}
}

func TestQuantize(t *testing.T) { elemTiers(t, testQuantize) }

func testQuantize(t *testing.T, isa Target) {
	r, h := kernelTest(t, isa, 5, 5)
	var checks []kernelCall[*Quantize, float32]
	shapes := []Quantize{
		{C: 3, H: 9, W: 13, OutStride: 4, Border: 1},
		{C: 3, H: 3, W: 37, OutStride: 4, Border: 1},
		{C: 2, H: 2, W: 32, OutStride: 4},
		{C: 3, H: 8, W: 8, OutStride: 4, Border: 1, Wide: true},
		{C: 3, H: 5, W: 11, OutStride: 4, Border: 1, Wide: true},
		{C: 1, H: 7, W: 7, OutStride: 8},
		{C: 1, H: 6, W: 5, OutStride: 4, Border: 2},
		{C: 4, H: 3, W: 17, OutStride: 4},
		{C: 5, H: 4, W: 9, OutStride: 8, Border: 1, Wide: true},
		{C: 3, H: 4, W: 10, OutStride: 8},
		{C: 3, H: 5, W: 9, OutStride: 3},
		{C: 1, H: 4, W: 11, OutStride: 1},
	}
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e30, -1e30, 0.5, -0.5, 1.5, 2.5}
	for i := range shapes {
		q := shapes[i]
		q.Z = edgeZero(r, 255)
		q.Inv = float32(1 / (0.01 + 0.05*r.Float64()))
		name := fmt.Sprintf("quant%d", i)
		if err := h.prog.Quantize(name, &q, isa); err != nil {
			t.Fatal(err)
		}
		x := make([]float32, q.C*q.H*q.W)
		for j := range x {
			x[j] = float32(r.NormFloat64() * 3)
			if r.IntN(10) == 0 {
				x[j] = specials[r.IntN(len(specials))] / q.Inv
			}
		}
		xb := make([]byte, 4*len(x))
		for j, v := range x {
			binary.LittleEndian.PutUint32(xb[4*j:], math.Float32bits(v))
		}
		out := make([]byte, q.OutBytes())
		for j := range out {
			out[j] = 0x5A // unwritten bytes must stay as they were
		}
		xi, oi := h.buf(xb), h.buf(out)
		mid := r.IntN(q.H + 1)
		h.call(name, lit(fmt.Sprintf("(*float32)(unsafe.Pointer(&b[%d][0]))", xi)), oi, ilit(mid), ilit(q.H))
		h.call(name, lit(fmt.Sprintf("(*float32)(unsafe.Pointer(&b[%d][0]))", xi)), oi, lit("0"), ilit(mid))
		checks = append(checks, kernelCall[*Quantize, float32]{name, &q, x, oi})
	}
	h.imports = append(h.imports, "unsafe")
	res := h.run(t)
	for i, ck := range checks {
		q, got := ck.layer, res[ck.out]
		esz := 1
		if q.Wide {
			esz = 2
		}
		wp := q.W + 2*q.Border
		bad := 0
		for y := 0; y < q.H+2*q.Border; y++ {
			for x := 0; x < wp; x++ {
				for c := 0; c < q.OutStride; c++ {
					want := -1 // unspecified
					iy, ix := y-q.Border, x-q.Border
					inside := iy >= 0 && iy < q.H && ix >= 0 && ix < q.W
					switch {
					case c < q.C && inside:
						want = int(compiler.QuantizeValue(ck.x[(c*q.H+iy)*q.W+ix], q.Inv, q.Z))
					case c < q.C || q.OutStride == 4:
						want = int(q.Z)
					}
					if want < 0 {
						continue
					}
					o := ((y*wp+x)*q.OutStride + c) * esz
					g := int(got[o])
					if esz == 2 {
						g |= int(got[o+1]) << 8
					}
					if g != want {
						if bad < 5 {
							t.Errorf("quant%d: (%d,%d) channel %d: got %d want %d", i, y, x, c, g, want)
						}
						bad++
					}
				}
			}
		}
	}
}
