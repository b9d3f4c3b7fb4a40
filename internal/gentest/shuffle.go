package gentest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/zoo"
	"github.com/ptqc/ptqc/ir"
)

// ShuffleModel is a random graph of channel shuffles of 2, 3 or 4 groups
// (seed%3 picks it) in the places lower folds them into (ShuffleNetV2's two
// units, splits into as many slices as groups, pointwise, dense and
// depthwise convs, pools and a mean reading shuffled channels, a shuffle of
// a shuffle, a slice whose channels end up scattered) and where it cannot
// (an add, a per-channel affine, the output), quantized with qconfig. Odd
// seeds give the concats their first input's qparams, so that convs write
// into them in place.
func ShuffleModel(tb testing.TB, seed uint64, qconfig string) *compiler.Model {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 25))
	g := 2 + int(seed%3)
	c := 2 * g * (1 + r.IntN(4))
	bld := zoo.NewBuilder(fmt.Sprint("shuffle", seed), r, 3, 5+r.IntN(5), 5+r.IntN(5))
	add := bld.Op
	n := 0
	name := func(s string) string { n++; return fmt.Sprint(s, n) }
	pw := func(x, in, out int) int {
		return bld.Conv(name("pw"), x, in, out, 1, ir.SquareWindow(1, 1, 0), []ir.Act{ir.ActNone, ir.ActReLU}[r.IntN(2)])
	}
	dw := func(x, ch int) int { return bld.Conv(name("dw"), x, ch, ch, ch, ir.SquareWindow(3, 1, 1), ir.ActNone) }
	shuffle := func(x, ch, groups int) int {
		return add(ir.OpShuffle, name("shuffle"), &ir.Node{Perm: zoo.ShufflePerm(ch, groups)}, x)
	}
	slice := func(x, s, e int) int {
		return add(ir.OpSlice, name("slice"), &ir.Node{Slice: &ir.Slice{Start: s, End: e}}, x)
	}
	x := add(ir.OpQuant, "quant", nil, bld.G.Input)
	x = bld.Conv("stem", x, 3, c, 1, ir.SquareWindow(3, 1, 1), ir.ActReLU)
	for range 3 + r.IntN(4) {
		switch r.IntN(7) {
		case 0, 1: // ShuffleNetV2's unit of stride 1
			h := c / 2
			x1, x2 := slice(x, 0, h), slice(x, h, c)
			b := dw(pw(x2, c-h, h), h)
			x = shuffle(add(ir.OpConcat, name("cat"), nil, x1, pw(b, h, h)), c, g)
		case 2: // and of stride 2 (stride 1 here)
			a := pw(dw(x, c), c, c/2)
			b := pw(dw(pw(x, c, c/2), c/2), c/2, c/2)
			x = shuffle(add(ir.OpConcat, name("cat"), nil, a, b), c, g)
		case 3: // a shuffle split into its groups, each computed on or passed
			x = shuffle(x, c, g)
			var parts []int
			for k := range g {
				p := slice(x, k*c/g, (k+1)*c/g)
				switch r.IntN(3) {
				case 0:
					p = pw(p, c/g, c/g)
				case 1:
					p = dw(p, c/g)
				}
				parts = append(parts, p)
			}
			x = add(ir.OpConcat, name("cat"), nil, parts...)
		case 4: // a shuffle of a shuffle, then a dense conv, a pool and a slice of scattered channels
			x = shuffle(shuffle(x, c, g), c, 2)
			x = bld.Conv(name("dense"), x, c, c, 1, ir.SquareWindow(3, 1, 1), ir.ActReLU)
			x = shuffle(x, c, g)
			x = add(ir.OpMaxPool, name("maxpool"), &ir.Node{Pool: &ir.Pool{Window: ir.SquareWindow(3, 1, 1)}}, x)
			s := slice(shuffle(x, c, g), 1, c-1)
			x = pw(s, c-2, c)
		case 5: // where the order must be logical: an add and a per-channel affine
			s := shuffle(x, c, g)
			x = add(ir.OpAdd, name("add"), nil, x, s)
			af := &ir.Affine{C: c, Scale: make([]float32, c), Shift: make([]float32, c)}
			for i := range af.Scale {
				af.Scale[i], af.Shift[i] = float32(0.5+r.Float64()), float32(0.2*r.NormFloat64())
			}
			x = add(ir.OpAffine, name("affine"), &ir.Node{Affine: af}, shuffle(x, c, g))
		case 6: // a slice read by a concat and by a conv
			x = shuffle(x, c, g)
			a := slice(x, 0, c/2)
			x = add(ir.OpConcat, name("cat"), nil, a, pw(a, c/2, c/2))
		}
	}
	if seed%2 == 0 {
		lin := &ir.Linear{In: c, Out: 6, Weight: make([]float32, 6*c), Bias: make([]float32, 6)}
		for i := range lin.Weight {
			lin.Weight[i] = float32(r.NormFloat64())
		}
		x = add(ir.OpLinear, "fc", &ir.Node{Linear: lin}, add(ir.OpMean, "mean", nil, shuffle(x, c, g)))
	} else {
		x = shuffle(x, c, g) // the output: gathered into logical order
	}
	bld.G.Output = add(ir.OpDeQuant, "dequant", nil, x)
	m := Convert(tb, bld.G, qconfig, r)
	if seed%2 == 1 {
		shareConvInputs(m)
	}
	return m
}

// shareConvInputs gives the conv outputs that concats read the concat's
// qparams (the convs' multipliers stay: the numbers change, not their
// definition), so that the convs write in place.
func shareConvInputs(m *compiler.Model) {
	conv := map[int]bool{}
	for _, nd := range m.Nodes {
		if nd.Kind == compiler.KConv {
			conv[nd.Out] = true
		}
		if nd.Kind != compiler.KConcat {
			continue
		}
		y := m.Tensors[nd.Out]
		for i, id := range nd.In {
			if conv[id] {
				m.Tensors[id].Scale, m.Tensors[id].Zero = y.Scale, y.Zero
				nd.Concat.M[i] = 0
			}
		}
	}
}

// ShuffleNetV2 is torchvision's ShuffleNetV2 x1.0 (stages of 4, 8 and 4
// units of 116, 232 and 464 channels, conv5 of 1024) with random weights
// on a 3 x h x h input, 10 classes, quantized with qconfig: the 224 model's
// graph at a test's size.
func ShuffleNetV2(tb testing.TB, h int, qconfig string) *compiler.Model {
	tb.Helper()
	r := rand.New(rand.NewPCG(2, 26))
	bld := zoo.NewBuilder("shufflenet_v2", r, 3, h, h)
	add := bld.Op
	pw := func(name string, x, in, out int) int {
		return bld.Conv(name, x, in, out, 1, ir.SquareWindow(1, 1, 0), ir.ActReLU)
	}
	dw := func(name string, x, c, s int) int {
		return bld.Conv(name, x, c, c, c, ir.SquareWindow(3, s, 1), ir.ActNone)
	}
	x := add(ir.OpQuant, "quant", nil, bld.G.Input)
	x = bld.Conv("conv1", x, 3, 24, 1, ir.SquareWindow(3, 2, 1), ir.ActReLU)
	x = add(ir.OpMaxPool, "maxpool", &ir.Node{Pool: &ir.Pool{Window: ir.SquareWindow(3, 2, 1)}}, x)
	c := 24
	for s, st := range []struct{ units, out int }{{4, 116}, {8, 232}, {4, 464}} {
		h := st.out / 2
		for u := range st.units {
			n := fmt.Sprintf("stage%d.%d", s+2, u)
			if u == 0 {
				a := pw(n+".branch1.2", dw(n+".branch1.0", x, c, 2), c, h)
				b := pw(n+".branch2.5", dw(n+".branch2.3", pw(n+".branch2.0", x, c, h), h, 2), h, h)
				x = add(ir.OpConcat, n+".cat", nil, a, b)
			} else {
				x1 := add(ir.OpSlice, n+".x1", &ir.Node{Slice: &ir.Slice{Start: 0, End: h}}, x)
				x2 := add(ir.OpSlice, n+".x2", &ir.Node{Slice: &ir.Slice{Start: h, End: st.out}}, x)
				b := pw(n+".branch2.5", dw(n+".branch2.3", pw(n+".branch2.0", x2, h, h), h, 1), h, h)
				x = add(ir.OpConcat, n+".cat", nil, x1, b)
			}
			x = add(ir.OpShuffle, n+".shuffle", &ir.Node{Perm: zoo.ShufflePerm(st.out, 2)}, x)
			c = st.out
		}
	}
	x = pw("conv5", x, c, 1024)
	lin := &ir.Linear{In: 1024, Out: 10, Weight: make([]float32, 10*1024), Bias: make([]float32, 10)}
	for i := range lin.Weight {
		lin.Weight[i] = float32(r.NormFloat64() / 32)
	}
	x = add(ir.OpLinear, "fc", &ir.Node{Linear: lin}, add(ir.OpMean, "mean", nil, x))
	bld.G.Output = add(ir.OpDeQuant, "dequant", nil, x)
	return Convert(tb, bld.G, qconfig, r)
}
