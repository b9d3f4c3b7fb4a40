package asmgen

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/lower"
)

// tileShapes are the GEMM layers with tile programs: pointwise and linear
// layers covering full and partial pixel tiles (16 rows), reductions with and
// without full 64-channel steps and a tail, column units of 16, of 8 or fewer
// and of 9 to 15 channels; and k x k convs (ResNet's 3x3 stride 1 and 2, the
// 1x1 stride-2 downsample, a 5x5) with rows split into tiles evenly (14, 9),
// unevenly (17 = 9 + 8) and over 16 pixels, taps of full steps, of a tail only
// (40 channels) and of both (100).
func tileShapes() []denseShape {
	var out []denseShape
	for _, sh := range denseShapes() {
		if (&Dense{Cin: sh.cin, K: sh.k, Stride: sh.s, Pad: sh.p}).tileOK() {
			out = append(out, sh)
		}
	}
	return append(out,
		denseShape{cin: 64, cout: 16, k: 1, s: 1, h: 4, w: 4, xmax: 255},
		denseShape{cin: 128, cout: 32, k: 1, s: 1, h: 5, w: 7, xmax: 255, act: "relu6"},
		denseShape{cin: 200, cout: 8, k: 1, s: 1, h: 17, w: 1, xmax: 255},
		denseShape{cin: 1280, cout: 10, k: 1, s: 1, h: 1, w: 1, xmax: 255},  // a classifier
		denseShape{cin: 320, cout: 1280, k: 1, s: 1, h: 1, w: 2, xmax: 255}, // the last pointwise, small image
		denseShape{cin: 1, cout: 3, k: 1, s: 1, h: 3, w: 11, xmax: 255, bigM: true},
		denseShape{cin: 32, cout: 25, k: 1, s: 1, h: 6, w: 6, xmax: 255, act: "relu"},
		denseShape{cin: 64, cout: 64, k: 3, s: 1, p: 1, h: 3, w: 14, xmax: 255, act: "relu"},
		denseShape{cin: 64, cout: 40, k: 3, s: 2, p: 1, h: 6, w: 35, xmax: 255}, // rows of 18: tiles 9 + 9
		denseShape{cin: 40, cout: 24, k: 3, s: 1, p: 1, h: 2, w: 17, xmax: 255, act: "relu6"},
		denseShape{cin: 100, cout: 17, k: 3, s: 1, p: 1, h: 3, w: 5, xmax: 255, bigM: true},
		denseShape{cin: 128, cout: 48, k: 1, s: 2, h: 5, w: 7, xmax: 255},
		denseShape{cin: 32, cout: 20, k: 5, s: 1, p: 2, h: 3, w: 33, xmax: 127},
		denseShape{cin: 48, cout: 9, k: 2, s: 2, h: 4, w: 6, xmax: 255, act: "relu"},
		denseShape{cin: 64, cout: 56, k: 3, s: 1, p: 1, h: 2, w: 7, xmax: 255, act: "relu"}, // units outermost, a partial pair
		// Band tiles (7 outputs of a 9-pixel padded row, 6 of 8, 8 of 10), the
		// last tile short.
		denseShape{cin: 96, cout: 40, k: 3, s: 1, p: 1, h: 5, w: 7, xmax: 255},
		denseShape{cin: 48, cout: 24, k: 3, s: 1, p: 1, h: 3, w: 6, xmax: 255, act: "relu"},
		denseShape{cin: 64, cout: 48, k: 3, s: 1, p: 1, h: 4, w: 8, xmax: 255, bigM: true},
	)
}

// TestUnitsOuterShapes checks that the tile shapes run both loop orders of
// the amx kernels (amxGen.unitsOuter), units outermost with pairs, a last
// single unit and a last pair of a partial unit, and band tiles in both.
func TestUnitsOuterShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 5))
	var outer, inner, odd, partialPair, band, bandInner int
	for _, sh := range tileShapes() {
		d := randDense(r, sh).d
		p, err := newTileProgram(d)
		if err != nil {
			t.Fatal(err)
		}
		if p.band > 0 {
			band++
			if !(&amxGen{tp: p}).unitsOuter() {
				bandInner++
			}
		}
		if !(&amxGen{tp: p}).unitsOuter() {
			inner++
			continue
		}
		if d.Pointwise() {
			t.Errorf("%+v: a pointwise layer units outermost", sh)
		}
		outer++
		switch {
		case d.Cols()%2 == 1:
			odd++
		case d.Cout%ColBlock != 0:
			partialPair++
		}
	}
	if inner == 0 || outer == 0 || odd == 0 || partialPair == 0 || band < 3 || bandInner == 0 {
		t.Errorf("tile shapes: %d pixels outermost, %d units outermost (%d of an odd unit count, %d ending in a partial pair); %d of band tiles (%d pixels outermost)",
			inner, outer, odd, partialPair, band, bandInner)
	}
}

// TestTileEmulated runs the tile programs of random GEMM layers (the tile
// shapes and random sizes) on the emulated tile unit, in four calls over a
// split of the work as workers make it, and checks every output byte against
// the interpreter's arithmetic.
func TestTileEmulated(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 1))
	shapes := tileShapes()
	for range 60 {
		// Any sizes: channels 1..300 in and 1..70 out, 1..50 pixels; half
		// of them k x k convs with 32 or more input channels.
		sh := denseShape{cin: 1 + r.IntN(300), cout: 1 + r.IntN(70), k: 1, s: 1, h: 1 + r.IntN(5), w: 1 + r.IntN(10), xmax: 255,
			act: []string{"", "relu", "relu6"}[r.IntN(3)], bigM: r.IntN(8) == 0}
		if r.IntN(2) == 0 {
			sh.cin, sh.k, sh.s = 32+r.IntN(200), 1+r.IntN(3), 1+r.IntN(2)
			sh.p = r.IntN(sh.k)
			sh.h, sh.w = sh.k+r.IntN(4), sh.k+r.IntN(24)
		}
		shapes = append(shapes, sh)
	}
	for i, sh := range shapes {
		for rep := 0; rep < 3; rep++ {
			c := randDense(r, sh)
			d := c.d
			p, err := newTileProgram(d)
			if err != nil {
				t.Fatal(err)
			}
			x := append(c.input(r, avx512vnni), make([]byte, lower.ReadSlack)...)
			for j := len(x) - lower.ReadSlack; j < len(x); j++ {
				x[j] = byte(r.IntN(256)) // the arena's slack holds anything
			}
			w := convert[byte](lower.PackDense(d.Weight, d.Cin, d.Cout, d.K))
			y, err := emulateSplit(p, d, x, w, workSplit(r, d.Units(), d.Cols()))
			if err != nil {
				t.Fatalf("shape %d %+v: %v", i, sh, err)
			}
			want := c.want()
			bad := 0
			for j := range want {
				if y[j] != want[j] {
					if bad < 5 {
						t.Errorf("shape %d %+v: pixel %d channel %d: got %d want %d", i, sh, j/d.Cout, j%d.Cout, y[j], want[j])
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("shape %d %+v: %d of %d bytes differ", i, sh, bad, len(want))
			}
		}
	}
}

// emulateSplit runs tile program p of layer d over input x and packed
// weights w on the emulator, in the calls of parts, and returns the output.
func emulateSplit(p *tileProgram, d *Dense, x, w []byte, parts [][4]int) ([]byte, error) {
	y := make([]byte, d.OH*d.OW*d.OutStride)
	scratch := make([]byte, AMXScratch+d.patchBytes())
	for _, s := range parts {
		if err := p.emulate(x, w, y, scratch, s[0], s[1], s[2], s[3]); err != nil {
			return nil, err
		}
	}
	return y, nil
}

// TestTileEmulatorFaults checks that the emulator refuses what the CPU would
// fault on or what would read outside the buffers, so that a wrong program
// cannot pass by accident.
func TestTileEmulatorFaults(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 2))
	c := randDense(r, denseShape{cin: 99, cout: 32, k: 1, s: 1, h: 5, w: 5, xmax: 255}) // one pair of units
	d := c.d
	w := convert[byte](lower.PackDense(d.Weight, d.Cin, d.Cout, 1))
	x := append(c.input(r, avx512vnni), make([]byte, lower.ReadSlack)...)
	y := make([]byte, d.H*d.W*d.OutStride)
	for _, tc := range []struct {
		name string
		edit func(p *tileProgram)
		x, w []byte
	}{
		{"short weights", nil, x, w[:len(w)-1]},
		{"no slack", nil, x[:len(x)-lower.ReadSlack], w},
		{"reduction mismatch", func(p *tileProgram) { p.cfg[cfgRowsOff+tB1]-- }, x, w},
		{"unconfigured tile", func(p *tileProgram) { p.cfg[cfgRowsOff+tB1t] = 0; p.cfg[cfgColsbOff+2*tB1t] = 0 }, x, w},
		{"same tile twice", func(p *tileProgram) {
			for i := range p.pair {
				if p.pair[i].kind == stepDot {
					p.pair[i].a = p.pair[i].t
					return
				}
			}
		}, x, w},
		{"wrong stride", func(p *tileProgram) {
			for i := range p.pair {
				if p.pair[i].kind == stepLoad && p.pair[i].base == baseW {
					p.pair[i].stride = 0
					return
				}
			}
		}, x, w},
	} {
		p, err := newTileProgram(d)
		if err != nil {
			t.Fatal(err)
		}
		if tc.edit != nil {
			tc.edit(p)
		}
		err = p.emulate(tc.x, tc.w, y, make([]byte, AMXScratch), 0, d.Units(), 0, d.Cols())
		if tc.name == "wrong stride" {
			// Not a fault: the result must then differ.
			want, bad := c.want(), 0
			for j := range want {
				if y[j] != want[j] {
					bad++
				}
			}
			if err != nil || bad == 0 {
				t.Errorf("%s: err %v, %d bytes differ; want no error and wrong bytes", tc.name, err, bad)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", tc.name)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}

// TestTileIm2col runs the tile programs of random stems on the emulator,
// over a split of the work, against the interpreter's arithmetic.
func TestTileIm2col(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 8))
	for i, c := range im2colCases(r, 60) {
		d := c.d
		p, err := newTileProgram(d)
		if err != nil {
			t.Fatal(err)
		}
		x := append(c.input(r, avx512vnni), make([]byte, lower.ReadSlack)...)
		w := convert[byte](lower.PackIm2col(d.Weight, d.Cin, d.Cout, d.taps()))
		y, err := emulateSplit(p, d, x, w, workSplit(r, d.Units(), d.Cols()))
		if err != nil {
			t.Fatalf("stem %d: %v", i, err)
		}
		sameBytes(t, fmt.Sprintf("stem %d: %d -> %d, %s over %dx%d", i, d.Cin, d.Cout, d.geomText(), d.H, d.W), y, c.want(), d.Cout, d.OutStride)
	}
}
