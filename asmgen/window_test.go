package asmgen

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/internal/zoo"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/ptq"
)

// randWindow draws a window that is not square: KH, KW in 1..7, strides
// 1..3 per axis, pads 0..3 per side, dilation 2 now and then; h, w an input
// it maps to at least one output pixel.
func randWindow(r *rand.Rand) (w ir.Window, h, wd int) {
	for {
		w = ir.Window{KH: 1 + r.IntN(7), KW: 1 + r.IntN(7), SH: 1 + r.IntN(3), SW: 1 + r.IntN(3),
			PadT: r.IntN(4), PadL: r.IntN(4), PadB: r.IntN(4), PadR: r.IntN(4), DH: 1, DW: 1}
		if r.IntN(5) == 0 {
			w.DH, w.DW = 1+r.IntN(2), 1+r.IntN(2)
		}
		if r.IntN(3) == 0 { // Inception's 1xn / nx1
			n := []int{3, 5, 7}[r.IntN(3)]
			w = ir.Window{KH: 1, KW: n, SH: 1, SW: 1, PadL: n / 2, PadR: n / 2, DH: 1, DW: 1}
			if r.IntN(2) == 0 {
				w.KH, w.KW, w.PadT, w.PadB, w.PadL, w.PadR = w.KW, w.KH, w.PadL, w.PadR, 0, 0
			}
		}
		if _, _, _, sq := w.Square(); sq {
			continue
		}
		h, wd = 1+r.IntN(12), 1+r.IntN(20)
		if oh, ow := w.OutSize(h, wd, false); oh >= 1 && ow >= 1 {
			return w, h, wd
		}
	}
}

// randWinDense is a random dense layer of window w over an h x wd input.
func randWinDense(r *rand.Rand, cin, cout int, w ir.Window, h, wd int) *denseCase {
	xmax := []int32{255, 255, 127, 60}[r.IntN(4)]
	sh := denseShape{cin: cin, cout: cout, k: 1, s: 1, h: h, w: wd, xmax: xmax, act: []string{"", "relu", "relu6"}[r.IntN(3)],
		smallW: r.IntN(3) == 0, bigM: r.IntN(10) == 0}
	c := randDense(r, sh) // the 1x1 draw, then the window's weights
	d := c.d
	d.K, d.Stride, d.Pad, d.Win = 0, 0, 0, &w
	d.OH, d.OW = w.OutSize(h, wd, false)
	d.InStride = 4 * lower.Quads(cin)
	d.Weight = make([]int8, cout*cin*w.Taps())
	for i := range d.Weight {
		if sh.smallW {
			d.Weight[i] = int8(r.IntN(129) - 64)
		} else {
			d.Weight[i] = int8(r.IntN(256) - 128)
		}
	}
	return c
}

// windowDenseCases: small and odd channel counts, and some wide enough for
// the zmm design and the tile programs (32+ input channels).
func windowDenseCases(r *rand.Rand, n int) []*denseCase {
	var cs []*denseCase
	for i := range n {
		w, h, wd := randWindow(r)
		cin, cout := 1+r.IntN(40), 1+r.IntN(40)
		if i%3 == 0 {
			cin, cout = 32+r.IntN(100), 32+r.IntN(60)
		}
		cs = append(cs, randWinDense(r, cin, cout, w, h, wd))
	}
	return cs
}

// TestDenseWindow runs dense kernels of random windows on every tier as
// TestDense does (four calls over a split of the work).
func TestDenseWindow(t *testing.T) {
	testDenseCases(t, 7, "win", func(r *rand.Rand) []*denseCase { return windowDenseCases(r, 30) },
		func(d *Dense) []int8 { return lower.PackDenseTaps(d.Weight, d.Cin, d.Cout, d.taps()) })
}

// testDenseCases runs the dense kernels of the cases on every tier (the
// native kernel of an emulated tier assembled too, not run: UNVERIFIED here)
// over inputs with ReadSlack bytes after them, weights packed by pack,
// against the interpreter's arithmetic.
func testDenseCases(t *testing.T, seed uint64, prefix string, cases func(*rand.Rand) []*denseCase, pack func(*Dense) []int8) {
	eachKernelTier(t, seed, func(t *testing.T, isa Target, r *rand.Rand, h *harness) {
		var checks []kernelCall[*denseCase, uint8]
		paths := map[Path]int{}
		for j, c := range cases(r) {
			name := fmt.Sprintf("%s%d", prefix, j)
			if err := h.prog.Dense(name, c.d, isa); err != nil {
				t.Fatal(err)
			}
			if isa.emulated() {
				if err := h.prog.Dense(name+"_native", c.d, Target{Tier: isa.Tier}); err != nil {
					t.Fatal(err)
				}
			}
			paths[c.d.Path(isa)]++
			x := h.buf(append(c.input(r, isa), make([]byte, lower.ReadSlack)...))
			w := h.buf(convert[byte](pack(c.d)))
			checks = append(checks, runDense(h, name, c, x, w, max(1, c.d.ScratchBytes(isa)), workSplit(r, c.d.Units(), c.d.Cols())))
		}
		t.Logf("paths: %v", paths)
		if isa.emulated() && !isa.Tier.Supported() {
			t.Logf("native %s kernels of the same layers assembled, not run: UNVERIFIED here", isa.Name)
		}
		res := h.run(t)
		for _, ck := range checks {
			d := ck.layer.d
			sameBytes(t, fmt.Sprintf("%s %d -> %d %s over %dx%d (%s)", ck.name, d.Cin, d.Cout, d.geomText(), d.H, d.W, d.Path(isa)),
				res[ck.out], ck.layer.want(), d.Cout, d.OutStride)
		}
	})
}

// TestTileWindow runs the tile programs of random windows on the tile
// emulator against the interpreter's arithmetic.
func TestTileWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	for _, c := range windowDenseCases(r, 60) {
		d := c.d
		if !d.tileOK() {
			continue
		}
		p, err := newTileProgram(d)
		if err != nil {
			t.Fatal(err)
		}
		x := append(c.input(r, avx512vnni), make([]byte, lower.ReadSlack)...)
		w := convert[byte](lower.PackDenseTaps(d.Weight, d.Cin, d.Cout, d.taps()))
		y, err := emulateSplit(p, d, x, w, workSplit(r, d.Units(), d.Cols()))
		if err != nil {
			t.Fatalf("%s: %v", d.geomText(), err)
		}
		sameBytes(t, fmt.Sprintf("%d -> %d %s over %dx%d", d.Cin, d.Cout, d.geomText(), d.H, d.W), y, c.want(), d.Cout, d.OutStride)
	}
}

// TestAMXDenseWindow runs the amx kernels of random windows as TestAMXDense
// does: tile instructions emulated here, the real ones where the CPU has AMX.
func TestAMXDenseWindow(t *testing.T) {
	testenv.SkipShort(t, "builds a program")
	needISA(t, amxEmulated.base())
	r := rand.New(rand.NewPCG(7, 10))
	n := 24
	if testenv.Long() {
		n = 60
	}
	h, real, zmmEpilogue := newAMXHarness()
	var checks []kernelCall[*denseCase, uint8]
	for j, c := range windowDenseCases(r, n) {
		if !c.d.tileOK() {
			continue
		}
		name := fmt.Sprintf("amxwin%d", j)
		x := h.buf(append(c.input(r, avx512vnni), make([]byte, lower.ReadSlack)...))
		w := h.buf(convert[byte](lower.PackDenseTaps(c.d.Weight, c.d.Cin, c.d.Cout, c.d.taps())))
		checks = append(checks, amxVariants(t, h, name, c, x, w, workSplit(r, c.d.Units(), c.d.Cols()), real, zmmEpilogue)...)
	}
	res := h.run(t)
	for _, ck := range checks {
		d := ck.layer.d
		sameBytes(t, fmt.Sprintf("%s %d -> %d %s", ck.name, d.Cin, d.Cout, d.geomText()), res[ck.out], ck.layer.want(), d.Cout, d.OutStride)
	}
	if !real {
		t.Logf("CPU without AMX: the real amx kernels are assembled but UNVERIFIED here; %d emulated ones checked (zmm epilogue: %v)", len(checks), zmmEpilogue)
	}
}

// TestDepthwiseWindow runs depthwise kernels of random windows on every
// tier: channel counts around the chunk sizes (8, 16, 32, 64) and odd ones.
func TestDepthwiseWindow(t *testing.T) {
	eachKernelTier(t, 8, func(t *testing.T, isa Target, r *rand.Rand, h *harness) {
		var checks []kernelCall[*Depthwise, uint8]
		for j := range 40 {
			w, hh, ww := randWindow(r)
			c := []int{1 + r.IntN(20), 8, 16, 24, 32 + r.IntN(40), 64, 96 + r.IntN(40)}[r.IntN(7)]
			sh := dwShape{c: c, k: 1, s: 1, h: hh, w: ww, act: []string{"", "relu", "relu6"}[r.IntN(3)], bigM: r.IntN(10) == 0, smallW: r.IntN(3) == 0}
			d, x := randDW(r, sh) // the 1x1 draw, then the window's weights
			d.K, d.Stride, d.Pad, d.Win = 0, 0, 0, &w
			d.OH, d.OW = w.OutSize(hh, ww, false)
			d.Weight = make([]int8, c*w.Taps())
			for k := range d.Weight {
				d.Weight[k] = int8(r.IntN(256) - 128)
				if sh.smallW {
					d.Weight[k] = int8(r.IntN(50) - 25)
				}
			}
			name := fmt.Sprintf("dwwin%d", j)
			if err := h.prog.Depthwise(name, d, isa); err != nil {
				t.Fatal(err)
			}
			if isa.emulated() {
				if err := h.prog.Depthwise(name+"_native", d, Target{Tier: isa.Tier}); err != nil {
					t.Fatal(err)
				}
			}
			xb, wb := h.buf(nhwc(r, x, d.C)), h.buf(convert[byte](lower.PackDepthwiseTaps(d.Weight, d.C, w.Taps())))
			y := h.buf(make([]byte, d.OH*d.OW*d.C))
			mid := r.IntN(d.OH + 1)
			h.call(name, xb, wb, y, ilit(mid), ilit(d.OH))
			h.call(name, xb, wb, y, lit("0"), ilit(mid))
			checks = append(checks, kernelCall[*Depthwise, uint8]{name, d, x, y})
		}
		if isa.emulated() && !isa.Tier.Supported() {
			t.Logf("native %s kernels of the same layers assembled, not run: UNVERIFIED here", isa.Name)
		}
		res := h.run(t)
		for _, ck := range checks {
			d := ck.layer
			sameBytes(t, fmt.Sprintf("%s C%d %s over %dx%d", ck.name, d.C, d.geomText(), d.H, d.W), res[ck.out], wantDW(d, ck.x), d.C, d.C)
		}
	})
}

// windowModel is a graph of window convs (Inception's 1x7 and 7x1 with 32+
// channels: the amx tier's tile programs; TF-style asymmetric pads, a
// dilated grouped 3x1, a strided 5x5 depthwise, dilated dense and depthwise
// convs) and a
// rectangular max pool, calibrated on
// N(0,1) samples with qconfig and converted.
func windowModel(t *testing.T, qconfig string) *compiler.Model {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 11))
	bld := zoo.NewBuilder("windows", r, 3, 13, 11)
	g, conv := bld.G, bld.Conv
	win := func(kh, kw, sh, sw, pt, pl, pb, pr, dh, dw int) ir.Window {
		return ir.Window{KH: kh, KW: kw, SH: sh, SW: sw, PadT: pt, PadL: pl, PadB: pb, PadR: pr, DH: dh, DW: dw}
	}
	x := g.Add(&ir.Node{Op: ir.OpQuant, Name: "quant"}, g.Input)
	x = conv("stem", x, 3, 34, 1, win(3, 3, 2, 1, 0, 1, 1, 1, 1, 1), ir.ActReLU) // 34x7x11, TF "same"
	x = conv("1x7", x, 34, 40, 1, win(1, 7, 1, 1, 0, 3, 0, 3, 1, 1), ir.ActReLU)
	x = conv("7x1", x, 40, 36, 1, win(7, 1, 1, 1, 3, 0, 3, 0, 1, 1), ir.ActReLU6)
	x = conv("g3x1d", x, 36, 36, 6, win(3, 1, 1, 1, 2, 0, 2, 0, 2, 1), ir.ActReLU)
	x = conv("dw5x5", x, 36, 36, 36, win(5, 5, 2, 2, 1, 1, 2, 2, 1, 1), ir.ActReLU6) // 36x4x6
	x = conv("dw1x3d", x, 36, 36, 36, win(1, 3, 1, 1, 0, 2, 0, 2, 1, 2), ir.ActNone)
	x = conv("dense3x3d", x, 36, 20, 1, win(3, 3, 1, 1, 2, 2, 2, 2, 2, 2), ir.ActReLU)
	x = g.Add(&ir.Node{Op: ir.OpMaxPool, Name: "pool3x2", Pool: &ir.Pool{Window: win(3, 2, 1, 1, 1, 0, 1, 1, 1, 1)}}, x)
	x = conv("head", x, 20, 5, 1, win(2, 3, 2, 3, 0, 0, 1, 0, 1, 1), ir.ActNone) // 5x2x2
	x = g.Add(&ir.Node{Op: ir.OpFlatten, Name: "flatten"}, x)
	g.Output = g.Add(&ir.Node{Op: ir.OpDeQuant, Name: "dequant"}, x)
	return gentest.Convert(t, g, qconfig, r)
}

// TestGeneratedWindows runs windowModel through generated packages on every
// tier (emulated where the CPU lacks it) against the interpreter, after
// checking that every window conv got an assembly kind.
func TestGeneratedWindows(t *testing.T) {
	testenv.SkipShort(t, "builds generated packages with the go command")
	ms := []*compiler.Model{windowModel(t, "fbgemm"), windowModel(t, "qnnpack")}
	lm, err := lower.Lower(ms[0])
	if err != nil {
		t.Fatal(err)
	}
	tiles := 0
	for _, l := range lm.Layers {
		if (l.Windowed() || l.Kind == lower.WindowPool) && !l.Kind.HasAsm() {
			t.Errorf("%s: kind %s has no assembly", l.Node.Name, l.Kind)
		}
		if l.Tile {
			tiles++
		}
	}
	if tiles < 3 {
		t.Errorf("%d tile programs, want the 1x7, 7x1 and dilated 3x3", tiles)
	}
	seeds := []uint64{0, 1}
	testModelEveryTier(t, ms, seeds)
}

// TestMaxPoolWindow runs max pools of random windows without dilation
// (ceil mode or not) against ir.MaxPool, with a sentinel tail after the output.
func TestMaxPoolWindow(t *testing.T) {
	eachKernelTier(t, 9, func(t *testing.T, isa Target, r *rand.Rand, h *harness) { testMaxPoolWindow(t, isa, r, h) })
}

func testMaxPoolWindow(t *testing.T, isa Target, r *rand.Rand, h *harness) {
	var checks []kernelCall[*MaxPool, uint8]
	for i := 0; len(checks) < 40; i++ {
		w, hh, ww := randWindow(r)
		w.DH, w.DW = 1, 1
		w.PadT, w.PadL, w.PadB, w.PadR = min(w.PadT, w.KH-1), min(w.PadL, w.KW-1), min(w.PadB, w.KH-1), min(w.PadR, w.KW-1)
		m := &MaxPool{C: []int{1 + r.IntN(40), 64, 300}[r.IntN(3)], H: hh, W: ww, Ceil: r.IntN(2) == 0, Win: &w}
		m.OH, m.OW = w.OutSize(hh, ww, m.Ceil)
		if _, _, _, sq := w.Square(); sq || m.checkWin() != nil {
			continue // a square one, or a window of padding only (lower refuses it)
		}
		name := fmt.Sprintf("poolwin%d", i)
		checks = append(checks, runMaxPool(t, h, r, isa, name, m, fmt.Sprintf("%s C%d %s ceil %v over %dx%d", name, m.C, windowText(&w), m.Ceil, m.H, m.W)))
	}
	res := h.run(t)
	for _, ck := range checks {
		sameBytes(t, ck.name, res[ck.out], wantMaxPool(ck.layer, ck.x), ck.layer.C, ck.layer.C)
	}
}

// TestGeneratedInceptionV3 runs the small Inception v3 of the families
// fixtures (1x7, 7x1, 1x3, 3x1 convs of few channels, 5x5 and 3x3 ones,
// pools) through generated packages on every tier, emulated where the CPU
// lacks it, against the interpreter.
func TestGeneratedInceptionV3(t *testing.T) {
	testenv.SkipUnlessLong(t, "builds packages of an Inception v3")
	dir := "../testdata/families/inception_v3/"
	m, err := ptq.Quantize(ptq.Options{Model: dir + "model_op13.onnx", QConfig: "fbgemm", Calib: dir + "input.npy"})
	if err != nil {
		t.Fatal(err)
	}
	ms, seeds := []*compiler.Model{m}, []uint64{0}
	testModelEveryTier(t, ms, seeds)
}
