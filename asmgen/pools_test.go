package asmgen

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/internal/zoo"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/lower"
)

// The pools and the slice copy are AVX2 code every tier calls (pools.go), so
// they are checked once, on avx2, against the interpreter's arithmetic; the
// model tests run them in every tier's package.

// wantPool is the interpreter per channel of codes x (compiler.AvgPoolQ,
// ir.MaxPool), before the sentinel tail.
func wantPool(m *Pool, x []uint8) []uint8 {
	want := sentinelTail(m.OH * m.OW * m.C)
	plane, o := make([]uint8, m.H*m.W), make([]uint8, m.OH*m.OW)
	p := ir.Pool{Window: m.Win, Ceil: m.Ceil, CountPad: m.CountPad}
	for c := 0; c < m.C; c++ {
		for i := range plane {
			plane[i] = x[i*m.C+c]
		}
		if m.Avg {
			compiler.AvgPoolQ(&p, m.H, m.W, plane, m.Z, m.OH, m.OW, o)
		} else {
			ir.MaxPool(&m.Win, m.H, m.W, plane, m.OH, m.OW, o)
		}
		for i, v := range o {
			want[i*m.C+c] = v
		}
	}
	return want
}

// poolCase draws a pool of window w over an h x wd input: its channels,
// ceil mode, and for an average pool count_include_pad and a zero point;
// nil where the geometry leaves no output or a window of padding only.
func poolCase(r *rand.Rand, w ir.Window, h, wd int, avg bool) *Pool {
	m := &Pool{C: []int{1 + r.IntN(40), 32, 64, 300}[r.IntN(4)], H: h, W: wd, Win: w, Ceil: r.IntN(2) == 0, Avg: avg}
	if avg {
		m.CountPad, m.Z = r.IntN(2) == 0, int32(r.IntN(256))
	}
	m.OH, m.OW = w.OutSize(h, wd, m.Ceil)
	if m.OH < 1 || m.OW < 1 {
		return nil
	}
	if _, ok := poolAxes(m.OH, h, w.KH, w.SH, w.PadT, w.PadB, w.DH, false); !ok {
		return nil
	}
	if _, ok := poolAxes(m.OW, wd, w.KW, w.SW, w.PadL, w.PadR, w.DW, false); !ok {
		return nil
	}
	return m
}

func TestPool(t *testing.T) {
	r, h := kernelTest(t, avx2, 31, 1)
	win := func(kh, kw, sh, sw, pt, pl, pb, pr, dh, dw int) ir.Window {
		return ir.Window{KH: kh, KW: kw, SH: sh, SW: sw, PadT: pt, PadL: pl, PadB: pb, PadR: pr, DH: dh, DW: dw}
	}
	var ms []*Pool
	full := map[*Pool]bool{} // codes all 255
	for _, c := range []struct {
		m    Pool
		why  string
		full bool
	}{
		{Pool{C: 192, H: 9, W: 9, Win: ir.SquareWindow(3, 1, 1), Avg: true, CountPad: true, Z: 3}, "Inception's 3x3 s1 p1 branch pool", false},
		{Pool{C: 64, H: 9, W: 9, Win: ir.SquareWindow(3, 1, 1), Avg: true, Z: 200}, "the same without counting the padding", false},
		{Pool{C: 256, H: 7, W: 7, Win: ir.SquareWindow(2, 2, 0), Ceil: true, Avg: true, Z: 0}, "ResNet-D's 2x2 s2 ceil-mode shortcut", false},
		{Pool{C: 40, H: 8, W: 8, Win: ir.SquareWindow(2, 2, 0), Avg: true, CountPad: true, Z: 128}, "DenseNet's transition", false},
		{Pool{C: 33, H: 10, W: 9, Win: ir.SquareWindow(5, 3, 2), Ceil: true, Avg: true, CountPad: true, Z: 17}, "ceil mode with a clipped last window", false},
		{Pool{C: 3, H: 300, W: 300, Win: win(300, 299, 1, 1, 0, 0, 0, 0, 1, 1), Avg: true, Z: 5}, "sums past 2^24: float32 rounds them", false},
		{Pool{C: 7, H: 1, W: 1, Win: ir.SquareWindow(1, 1, 0), Avg: true, Z: 255}, "one pixel", false},
		{Pool{C: 80, H: 260, W: 3, Win: win(257, 1, 1, 1, 0, 0, 0, 0, 1, 1), Avg: true, Z: 9}, "257 taps of 255: the largest uint16 sums", true},
		{Pool{C: 80, H: 17, W: 18, Win: win(17, 16, 1, 2, 0, 1, 0, 1, 1, 1), Avg: true, Z: 9}, "272 taps: int32 sums", true},
		{Pool{C: 64, H: 12, W: 12, Win: win(3, 3, 2, 2, 2, 2, 2, 2, 2, 2), Z: 0}, "a dilated max pool", false},
		{Pool{C: 300, H: 9, W: 11, Win: win(2, 3, 1, 2, 1, 0, 1, 2, 3, 2), Ceil: true}, "a dilated rectangular max pool, ceil mode", false},
	} {
		m := c.m
		m.OH, m.OW = m.Win.OutSize(m.H, m.W, m.Ceil)
		ms = append(ms, &m)
		full[&m] = c.full
	}
	for len(ms) < 60 {
		w, hh, ww := randWindow(r)
		avg := r.IntN(2) == 0
		if avg {
			w.DH, w.DW = 1, 1
		}
		if r.IntN(4) == 0 {
			k, s := 1+r.IntN(4), 1+r.IntN(3)
			w = ir.SquareWindow(k, s, r.IntN(k/2+1))
			if !avg {
				w.DH, w.DW = 2, 1+r.IntN(2)
			}
		}
		w.PadT, w.PadB = min(w.PadT, (w.KH-1)*w.DH), min(w.PadB, (w.KH-1)*w.DH)
		w.PadL, w.PadR = min(w.PadL, (w.KW-1)*w.DW), min(w.PadR, (w.KW-1)*w.DW)
		if !avg && w.DH == 1 && w.DW == 1 {
			w.DH = 2 // the MaxPool kernel's otherwise
		}
		if m := poolCase(r, w, hh, ww, avg); m != nil {
			ms = append(ms, m)
		}
	}
	var checks []kernelCall[*Pool, uint8]
	for i, m := range ms {
		name := fmt.Sprintf("pool%d", i)
		if err := h.prog.Pool(name, m); err != nil {
			t.Fatalf("%+v: %v", *m, err)
		}
		x := randBytes(r, m.H*m.W*m.C)
		if full[m] {
			for j := range x {
				x[j] = 255
			}
		}
		xb, ob := h.buf(x), h.buf(sentinelTail(m.OH*m.OW*m.C))
		split(h, r, name, m.Units(), xb, ob)
		checks = append(checks, kernelCall[*Pool, uint8]{fmt.Sprintf("%s avg %v countpad %v C%d %s ceil %v z %d over %dx%d",
			name, m.Avg, m.CountPad, m.C, windowText(&m.Win), m.Ceil, m.Z, m.H, m.W), m, x, ob})
	}
	res := h.run(t)
	for _, ck := range checks {
		sameBytes(t, ck.name, res[ck.out], wantPool(ck.layer, ck.x), ck.layer.C, ck.layer.C)
	}
}

// TestPoolRefused: windows of padding only and dilated averages are errors.
func TestPoolRefused(t *testing.T) {
	p := NewProgram("main")
	for i, m := range []Pool{
		{C: 4, H: 2, W: 2, Win: ir.Window{KH: 2, KW: 2, SH: 1, SW: 1, PadT: 3, DH: 1, DW: 1}, Avg: true},
		{C: 4, H: 5, W: 5, Win: ir.Window{KH: 2, KW: 2, SH: 1, SW: 1, DH: 2, DW: 1}, Avg: true},
	} {
		m.OH, m.OW = m.Win.OutSize(m.H, m.W, false)
		if err := p.Pool(fmt.Sprintf("bad%d", i), &m); err == nil {
			t.Errorf("%+v: no error", m)
		}
	}
}

// TestChannelMax: each pixel's largest channel, for channel counts around
// the 32-byte pieces and their masked tail, bytes past a pixel larger than
// its own (the next pixel's must not leak into it).
func TestChannelMax(t *testing.T) {
	r, h := kernelTest(t, avx2, 33, 1)
	type check struct {
		m   *ChannelMax
		x   []byte
		out int
	}
	var checks []check
	for i, c := range []int{1, 2, 3, 7, 16, 31, 32, 33, 63, 64, 65, 100, 257} {
		m := &ChannelMax{C: c, Rows: 1 + r.IntN(5), RW: 1 + r.IntN(7)}
		name := fmt.Sprintf("cmax%d", i)
		if err := h.prog.ChannelMax(name, m); err != nil {
			t.Fatal(err)
		}
		x := randBytes(r, m.Rows*m.RW*c)
		for p := 1; p < m.Rows*m.RW; p += 2 {
			x[p*c] = 255 // read past the pixel before, it would win there
		}
		xb, ob := h.buf(x), h.buf(sentinelTail(m.Rows*m.RW))
		split(h, r, name, m.Units(), xb, ob)
		checks = append(checks, check{m, x, ob})
	}
	res := h.run(t)
	for _, ck := range checks {
		m := ck.m
		want := sentinelTail(m.Rows * m.RW)
		for p := range want[:m.Rows*m.RW] {
			want[p] = slices.Max(ck.x[p*m.C:][:m.C])
		}
		sameBytes(t, fmt.Sprintf("channel max %+v", *m), res[ck.out], want, 1, 1)
	}
}

func TestSlice(t *testing.T) {
	r, h := kernelTest(t, avx2, 32, 1)
	type check struct {
		s   *Slice
		x   []byte
		out int
	}
	var checks []check
	shapes := [][5]int{ // XC, Start, C, Rows, RW
		{116, 58, 58, 7, 7}, // ShuffleNetV2's second half
		{116, 0, 58, 7, 7},
		{24, 8, 16, 5, 5},
		{64, 1, 63, 3, 4},
		{3, 2, 1, 1, 1},
		{300, 17, 280, 2, 3},
	}
	for range 20 {
		xc := 1 + r.IntN(200)
		start := r.IntN(xc)
		shapes = append(shapes, [5]int{xc, start, 1 + r.IntN(xc-start), 1 + r.IntN(6), 1 + r.IntN(9)})
	}
	for i, sh := range shapes {
		s := &Slice{XC: sh[0], Start: sh[1], C: sh[2], Rows: sh[3], RW: sh[4]}
		name := fmt.Sprintf("slice%d", i)
		if err := h.prog.Slice(name, s); err != nil {
			t.Fatal(err)
		}
		x := randBytes(r, s.Rows*s.RW*s.XC)
		xb, ob := h.buf(x), h.buf(sentinelTail(s.Rows*s.RW*s.C))
		split(h, r, name, s.Units(), xb, ob)
		checks = append(checks, check{s, x, ob})
	}
	res := h.run(t)
	for i, ck := range checks {
		s := ck.s
		want := sentinelTail(s.Rows * s.RW * s.C)
		for p := range s.Rows * s.RW {
			copy(want[p*s.C:][:s.C], ck.x[p*s.XC+s.Start:])
		}
		sameBytes(t, fmt.Sprintf("slice%d %+v", i, *s), res[ck.out], want, 1, 1)
	}
}

// poolModel is a graph of the pools and slices that once ran only portable
// Go: Inception's 3x3 s1 p1 average pool (padding counted), ResNet-D's 2x2
// s2 ceil-mode one (not counted), a rectangular one with uneven pads, a
// dilated max pool, a dilated rectangular one in ceil mode, and a slice
// read by a conv (copied, not a view), calibrated on N(0,1) samples with
// qconfig and converted.
func poolModel(t *testing.T, qconfig string) *compiler.Model {
	t.Helper()
	r := rand.New(rand.NewPCG(31, 7))
	bld := zoo.NewBuilder("pools", r, 3, 15, 13)
	g, conv, add := bld.G, bld.Conv, bld.Op
	win := func(kh, kw, sh, sw, pt, pl, pb, pr, dh, dw int) ir.Window {
		return ir.Window{KH: kh, KW: kw, SH: sh, SW: sw, PadT: pt, PadL: pl, PadB: pb, PadR: pr, DH: dh, DW: dw}
	}
	pool := func(op ir.Op, name string, x int, w ir.Window, ceil, countPad bool) int {
		return add(op, name, &ir.Node{Pool: &ir.Pool{Window: w, Ceil: ceil, CountPad: countPad}}, x)
	}
	x := add(ir.OpQuant, "quant", nil, g.Input)
	x = conv("stem", x, 3, 40, 1, ir.SquareWindow(3, 1, 1), ir.ActReLU)                   // 40x15x13
	x = pool(ir.OpAvgPool, "inception", x, ir.SquareWindow(3, 1, 1), false, true)         // 40x15x13
	x = pool(ir.OpAvgPool, "resnetd", x, ir.SquareWindow(2, 2, 0), true, false)           // 40x8x7
	x = pool(ir.OpAvgPool, "rect", x, win(2, 3, 1, 2, 1, 0, 0, 1, 1, 1), true, false)     // 40x8x4
	x = pool(ir.OpMaxPool, "dilated", x, win(3, 3, 1, 1, 2, 2, 2, 2, 2, 2), false, false) // 40x8x4
	x = conv("mix", x, 40, 36, 1, ir.SquareWindow(1, 1, 0), ir.ActNone)
	s := add(ir.OpSlice, "slice", &ir.Node{Slice: &ir.Slice{Start: 5, End: 29}}, x) // 24 channels
	s = conv("after", s, 24, 20, 1, ir.SquareWindow(3, 1, 1), ir.ActReLU6)
	s = pool(ir.OpMaxPool, "dilrect", s, win(2, 3, 2, 1, 1, 2, 1, 1, 2, 2), true, false) // 20x5x3
	s = pool(ir.OpAvgPool, "counted", s, win(3, 2, 2, 2, 1, 1, 1, 1, 1, 1), true, true)  // 20x3x2
	s = add(ir.OpFlatten, "flatten", nil, s)
	g.Output = add(ir.OpDeQuant, "dequant", nil, s)
	return gentest.Convert(t, g, qconfig, r)
}

// globalPoolsModel holds the global pools ONNX imports hand-written ones as
// (frontend/onnx's globalReduce and axisReduce): a max pool of the whole
// plane flattened (an alias of [C,1,1]) concatenated with 1-D features, a
// mean scaled by H*W (a sum), pools along W or H alone and the means of
// their outputs added.
func globalPoolsModel(t *testing.T, qconfig string) *compiler.Model {
	t.Helper()
	r := rand.New(rand.NewPCG(41, 9))
	bld := zoo.NewBuilder("gpools", r, 3, 7, 6)
	g, conv, add := bld.G, bld.Conv, bld.Op
	pool := func(op ir.Op, name string, x, kh, kw int) int {
		return add(op, name, &ir.Node{Pool: &ir.Pool{Window: ir.Window{KH: kh, KW: kw, SH: 1, SW: 1, DH: 1, DW: 1}}}, x)
	}
	x := add(ir.OpQuant, "quant", nil, g.Input)
	x = conv("stem", x, 3, 12, 1, ir.SquareWindow(3, 1, 1), ir.ActReLU) // 12x7x6
	mx := pool(ir.OpMaxPool, "gmax", x, 7, 6)                           // 12x1x1
	mx = add(ir.OpFlatten, "gmax.flat", nil, mx)
	af := &ir.Affine{C: 12, Scale: make([]float32, 12), Shift: make([]float32, 12)}
	for i := range af.Scale {
		af.Scale[i] = 42
	}
	sm := add(ir.OpMean, "gsum.mean", nil, x)
	sm = add(ir.OpAffine, "gsum", &ir.Node{Affine: af}, sm)
	rm := pool(ir.OpAvgPool, "rows", x, 1, 6) // 12x7x1
	rm = add(ir.OpMean, "rows.mean", nil, rm)
	hm := pool(ir.OpMaxPool, "hmax", x, 7, 1) // 12x1x6
	hm = add(ir.OpMean, "hmax.mean", nil, hm)
	f := add(ir.OpAdd, "add", nil, rm, hm)
	f = add(ir.OpConcat, "cat", nil, mx, sm, f) // 36
	f = bld.Linear("head", f, 36, 5)
	g.Output = add(ir.OpDeQuant, "dequant", nil, f)
	return gentest.Convert(t, g, qconfig, r)
}

// TestGeneratedGlobalPools runs globalPoolsModel through generated packages
// on every tier against the interpreter.
func TestGeneratedGlobalPools(t *testing.T) {
	testenv.SkipShort(t, "builds generated packages with the go command")
	testModelEveryTier(t, []*compiler.Model{globalPoolsModel(t, "fbgemm"), globalPoolsModel(t, "qnnpack")}, []uint64{0, 1})
}

// TestGeneratedPools runs poolModel through generated packages on every tier
// (emulated where the CPU lacks it) against the interpreter, after checking
// that the pools and the slice got assembly on every tier.
func TestGeneratedPools(t *testing.T) {
	testenv.SkipShort(t, "builds generated packages with the go command")
	ms := []*compiler.Model{poolModel(t, "fbgemm"), poolModel(t, "qnnpack")}
	testModelEveryTier(t, ms, []uint64{0, 1})
}

// TestGeneratedRandomPools runs models of random pool windows (average with
// and without the padding counted, max with dilation, ceil mode or not) and
// random slices through generated packages on every tier, the portable one
// included, and the emulations, against the interpreter.
func TestGeneratedRandomPools(t *testing.T) {
	testenv.SkipShort(t, "builds generated packages with the go command")
	var ms []*compiler.Model
	seeds := randomModels(0, 1, 2, 3)
	for _, s := range seeds {
		ms = append(ms, randPoolModel(t, s, []string{"fbgemm", "qnnpack"}[s%2]))
	}
	testModelEveryTier(t, ms, seeds)
}

// TestAsmEveryLayer: lowered, every layer of the pool model, the zoo of
// every op kind, the window model and shuffle models but the final
// dequantize, slice and shuffle views and concats written in place has a
// kernel on every assembly tier; none of the average pools, dilated max
// pools, copied slices, channel gathers and grouped convs of any window is
// left to portable Go.
func TestAsmEveryLayer(t *testing.T) {
	gathers := 0
	for _, m := range []*compiler.Model{poolModel(t, "fbgemm"), gentest.ZooModel(t, "fbgemm"), windowModel(t, "fbgemm"),
		gentest.ShuffleModel(t, 1, "qnnpack"), gentest.ShuffleModel(t, 5, "qnnpack")} {
		lm, err := lower.Lower(m)
		if err != nil {
			t.Fatal(err)
		}
		a, err := Generate(lm, "p")
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range lm.Layers {
			free := l.Kind == lower.Dequantize || l.View || l.Kind == lower.Concat && l.DirectAll()
			if l.Kind == lower.Shuffle && !l.View {
				gathers++
			}
			if !free && !l.Kind.HasAsm() {
				t.Errorf("%s: %s runs portable Go", l.Node.Name, l.Kind)
			}
			for _, tier := range a.Tiers {
				if got := a.Layers[i].Funcs[tier] != ""; got == free {
					t.Errorf("%s (%s) on %s: kernel %v", l.Node.Name, l.Kind, tier, got)
				}
			}
		}
	}
	if gathers == 0 {
		t.Error("no shuffle stayed a gather")
	}
}

// randPoolWindow draws a pool window over an h x w input (dilated for a max
// pool now and then, never for an average), pads below the kernel, with
// ceil mode and count_include_pad drawn too; ok is false where it leaves no
// output or a window of padding only.
func randPoolWindow(r *rand.Rand, h, w int, avg bool) (p ir.Pool, ok bool) {
	k := ir.Window{KH: 1 + r.IntN(4), KW: 1 + r.IntN(4), SH: 1 + r.IntN(3), SW: 1 + r.IntN(3), DH: 1, DW: 1}
	if !avg && r.IntN(3) != 0 {
		k.DH, k.DW = 1+r.IntN(3), 2+r.IntN(2)
	}
	k.PadT, k.PadB = r.IntN(k.KH), r.IntN(k.KH)
	k.PadL, k.PadR = r.IntN(k.KW), r.IntN(k.KW)
	p = ir.Pool{Window: k, Ceil: r.IntN(2) == 0, CountPad: avg && r.IntN(2) == 0}
	oh, ow := k.OutSize(h, w, p.Ceil)
	if oh < 1 || ow < 1 {
		return p, false
	}
	_, okh := poolAxes(oh, h, k.KH, k.SH, k.PadT, k.PadB, k.DH, false)
	_, okw := poolAxes(ow, w, k.KW, k.SW, k.PadL, k.PadR, k.DW, false)
	return p, okh && okw
}

// randPoolModel is Quantize -> conv -> an average and a max pool of random
// windows, in a random order -> a slice read by a 1x1 conv -> the output,
// calibrated with qconfig.
func randPoolModel(t *testing.T, seed uint64, qconfig string) *compiler.Model {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 33))
	h, w, c := 4+r.IntN(12), 4+r.IntN(12), 8+r.IntN(60)
	bld := zoo.NewBuilder(fmt.Sprintf("pools%d", seed), r, 3, h, w)
	g, add := bld.G, bld.Op
	x := add(ir.OpQuant, "quant", nil, g.Input)
	x = bld.Conv("stem", x, 3, c, 1, ir.SquareWindow(3, 1, 1), []ir.Act{ir.ActNone, ir.ActReLU}[r.IntN(2)])
	first := r.IntN(2) == 0
	for i, avg := range []bool{first, !first} {
		for {
			p, ok := randPoolWindow(r, h, w, avg)
			if !ok {
				continue
			}
			op := ir.OpMaxPool
			if avg {
				op = ir.OpAvgPool
			}
			x = add(op, fmt.Sprintf("pool%d", i), &ir.Node{Pool: &p}, x)
			h, w = p.OutSize(h, w, p.Ceil)
			break
		}
	}
	start := r.IntN(c - 1)
	end := start + 1 + r.IntN(c-start-1)
	x = add(ir.OpSlice, "slice", &ir.Node{Slice: &ir.Slice{Start: start, End: end}}, x)
	x = bld.Conv("head", x, end-start, 6, 1, ir.SquareWindow(1, 1, 0), ir.ActNone)
	x = add(ir.OpFlatten, "flatten", nil, x)
	g.Output = add(ir.OpDeQuant, "dequant", nil, x)
	return gentest.Convert(t, g, qconfig, r)
}
