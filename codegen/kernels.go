package codegen

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dave/jennifer/jen"
	"github.com/ptqc/ptqc/lower"
)

// The portable Go kernels, one function per layer. Shapes, strides, padding and
// qparams are the layer's constants, so the Go compiler knows every loop bound
// and slice length and drops most bounds checks. Each reslices its arguments to
// their constant lengths first, for the same reason.

func (g *gen) kernels() ([]byte, error) {
	f := g.file()
	buildConst(f, "kernelsBuild", "kernelsBuild is the build this file comes from (see buildID).")
	for _, l := range g.layers {
		f.Line()
		f.Comment(l.ID + "Generic runs " + l.summary() + ".")
		switch l.Kind {
		case lower.Quantize:
			kQuantizeGo(f, l)
		case lower.Dequantize:
			kDequantizeGo(f, l)
		case lower.Pointwise:
			kPointwiseGo(f, l)
			kEpiAddGo(f, l)
		case lower.Depthwise:
			kDepthwiseGo(f, l)
		case lower.Dense, lower.Grouped:
			kConvGo(f, l)
			kEpiAddGo(f, l)
		case lower.Add:
			kAddGo(f, l)
		case lower.Mean:
			kMeanGo(f, l)
		case lower.MaxPool:
			kMaxPoolGo(f, l)
		default:
			opKernel(f, l)
		}
	}
	return render(f)
}

var id = jen.Id

// params is the layer signature; unused parameters are blank.
func params(x2, wb bool) jen.Code {
	name := func(n string, used bool) *jen.Statement {
		if used {
			return id(n)
		}
		return id("_")
	}
	return jen.List(
		jen.List(id("y"), id("x"), name("x2", x2)).Index().Byte(),
		name("w", wb).Index().Int8(),
		name("b", wb).Index().Int32(),
	)
}

// reslice is s = s[:n].
func reslice(s string, n jen.Code) jen.Code {
	return id(s).Op("=").Id(s).Index(jen.Empty(), n)
}

// window is s[off:][:n].
func window(s string, off, n jen.Code) *jen.Statement {
	return id(s).Index(off, jen.Empty()).Index(jen.Empty(), n)
}

// mac is acc += int32(a) * int32(b).
func mac(acc *jen.Statement, a, b jen.Code) jen.Code {
	return acc.Op("+=").Int32().Call(a).Op("*").Int32().Call(b)
}

// rangeInt is for v := range n.
func rangeInt(v string, n jen.Code, body ...jen.Code) jen.Code {
	return jen.For(id(v).Op(":=").Range().Add(n)).Block(body...)
}

// rangeSlice is for i, v := range s.
func rangeSlice(i, v string, s jen.Code, body ...jen.Code) jen.Code {
	return jen.For(jen.List(id(i), id(v)).Op(":=").Range().Add(s)).Block(body...)
}

// outside is iy < 0 || iy >= XH || ix < 0 || ix >= XW.
func outside(l *layer) jen.Code {
	return id("iy").Op("<").Lit(0).Op("||").Id("iy").Op(">=").Add(l.id("XH")).Op("||").
		Id("ix").Op("<").Lit(0).Op("||").Id("ix").Op(">=").Add(l.id("XW"))
}

// taps loops over the kernel window of output pixel (oy, ox) with input
// coordinates iy, ix; body runs per tap.
func taps(l *layer, body ...jen.Code) jen.Code {
	if l.Windowed() {
		return windowTapsLoop(l, body...)
	}
	return rangeInt("ky", l.id("K"),
		id("iy").Op(":=").Id("oy").Op("*").Add(l.id("S")).Op("-").Add(l.id("P")).Op("+").Id("ky"),
		rangeInt("kx", l.id("K"), append([]jen.Code{
			id("ix").Op(":=").Id("ox").Op("*").Add(l.id("S")).Op("-").Add(l.id("P")).Op("+").Id("kx"),
		}, body...)...),
	)
}

// convPrologue reslices a conv layer's arguments to their constant lengths.
func convPrologue(l *layer) []jen.Code {
	return []jen.Code{
		reslice("x", l.id("XLen")),
		reslice("y", l.id("YLen")),
		reslice("w", l.id("WLen")),
		reslice("b", l.id("YC")),
	}
}

func kQuantizeGo(f *jen.File, l *layer) {
	f.Func().Id(l.ID+"Generic").Params(id("y").Index().Byte(), id("x").Index().Float32()).Block(
		reslice("x", l.id("XC").Op("*").Add(l.id("XH")).Op("*").Add(l.id("XW"))),
		reslice("y", l.id("YLen")),
		rangeInt("c", l.id("XC"),
			id("plane").Op(":=").Add(window("x", id("c").Op("*").Add(l.id("XH")).Op("*").Add(l.id("XW")), l.id("XH").Op("*").Add(l.id("XW")))),
			rangeSlice("i", "v", id("plane"),
				id("y").Index(id("i").Op("*").Add(l.id("XC")).Op("+").Id("c")).Op("=").Qual(rt, "QuantizeValue").Call(id("v"), l.id("Inv"), l.id("YZero")),
			),
		),
	)
}

func kDequantizeGo(f *jen.File, l *layer) {
	deq := func(v jen.Code) jen.Code {
		return jen.Qual(rt, "Dequantize").Call(v, l.id("Scale"), l.id("XZero"))
	}
	var body []jen.Code
	body = append(body, reslice("x", l.id("XLen")), reslice("y", l.id("XLen")))
	if l.XD.H == 1 && l.XD.W == 1 {
		body = append(body, rangeSlice("i", "v", id("x"), id("y").Index(id("i")).Op("=").Add(deq(id("v")))))
	} else {
		// NHWC back to the interpreter's NCHW.
		body = append(body, rangeInt("p", l.id("XH").Op("*").Add(l.id("XW")),
			rangeSlice("c", "v", window("x", id("p").Op("*").Add(l.id("XC")), l.id("XC")),
				id("y").Index(id("c").Op("*").Add(l.id("XH")).Op("*").Add(l.id("XW")).Op("+").Id("p")).Op("=").Add(deq(id("v"))),
			),
		))
	}
	switch l.Node.Softmax {
	case "softmax":
		body = append(body, jen.Qual(rt, "Softmax").Call(id("y")))
	case "log_softmax":
		body = append(body, jen.Qual(rt, "LogSoftmax").Call(id("y")))
	}
	f.Func().Id(l.ID+"Generic").Params(id("y").Index().Float32(), id("x").Index().Byte()).Block(body...)
}

// kPointwiseGo is a GEMM over the quad packing of PackDense: each output
// channel of a pixel is the dot product of the pixel's channels (padded to
// whole quads) with its weights, four channels at a time sharing the loads of
// x (their quads are 16 contiguous bytes). Pairs of pixels go through int64
// multiply-adds, one pixel in each 32-bit half (runtime.Lanes): exact while
// XC * 255 * 128 < 2^31, which halves the multiplies. Sums go to a row of
// accumulators and are requantized after the dot products.
func kPointwiseGo(f *jen.File, l *layer) {
	body := convPrologue(l)
	np := l.YD.H * l.YD.W
	pairs := l.XD.C*255*128 < math.MaxInt32 && np >= 2
	padded := l.XD.C%4 != 0 // copy a pixel into whole quads
	body = append(body, jen.Var().Id("acc0").Index(l.id("YC")).Int32())
	if padded {
		body = append(body, jen.Var().Id("xq0").Index(l.id("XQ")).Byte())
	}
	pixel := func(k int, p jen.Code) []jen.Code {
		xs := num("x", k)
		st := []jen.Code{id(xs).Op(":=").Add(window("x", jen.Parens(p).Op("*").Add(l.id("XC")), l.id("XC")))}
		if padded {
			st = append(st, jen.Copy(id(num("xq", k)).Index(jen.Empty(), jen.Empty()), id(xs)), id(xs).Op("=").Id(num("xq", k)).Index(jen.Empty(), jen.Empty()))
		}
		return st
	}
	if pairs {
		body = append(body, jen.Var().Id("acc1").Index(l.id("YC")).Int32())
		if padded {
			body = append(body, jen.Var().Id("xq1").Index(l.id("XQ")).Byte())
		}
		st := append(pixel(0, id("p")), pixel(1, id("p").Op("+").Lit(1))...)
		st = append(st, quadDots(l, 2)...)
		st = append(st,
			id("y0").Op(":=").Add(window("y", times("p", 0, l.ystride()), l.id("YC"))),
			requantizeRow(l, "y0", "acc0"),
			id("y1").Op(":=").Add(window("y", times("p", 1, l.ystride()), l.id("YC"))),
			requantizeRow(l, "y1", "acc1"),
		)
		body = append(body, jen.For(id("p").Op(":=").Lit(0), id("p").Op("+").Lit(2).Op("<=").Add(l.id("YH")).Op("*").Add(l.id("YW")), id("p").Op("+=").Lit(2)).Block(st...))
	}
	one := func() []jen.Code {
		st := append(pixel(0, id("p")), quadDots(l, 1)...)
		return append(st,
			id("ys").Op(":=").Add(window("y", times("p", 0, l.ystride()), l.id("YC"))),
			requantizeRow(l, "ys", "acc0"),
		)
	}
	switch {
	case !pairs:
		body = append(body, rangeInt("p", l.id("YH").Op("*").Add(l.id("YW")), one()...))
	case np%2 != 0:
		body = append(body, jen.Block(append([]jen.Code{
			id("p").Op(":=").Add(l.id("YH")).Op("*").Add(l.id("YW")).Op("-").Lit(1),
		}, one()...)...))
	}
	f.Func().Id(l.ID + "Generic").Params(params(false, true)).Block(body...)
}

// quadDots sets acc0[o] (and acc1[o], for a pair of pixels x0 and x1) to the
// dot product of x0 (x1) with output channel o's weights, for every o: four
// channels of a unit of 16 at a time, then one at a time.
func quadDots(l *layer, pixels int) []jen.Code {
	const rows = 4
	typ, conv := jen.Int32(), "int32"
	if pixels == 2 {
		typ, conv = jen.Int64(), "int64"
	}
	block := func(n int) []jen.Code {
		var accs, loop, outs []jen.Code
		loop = append(loop, id("wq").Op(":=").Add(window("ws", jen.Lit(64).Op("*").Id("q"), jen.Lit(4*n))))
		for k := range pixels {
			loop = append(loop, id(num("xq", k)+"_").Op(":=").Add(window(num("x", k), jen.Lit(4).Op("*").Id("q"), jen.Lit(4))))
		}
		for i := range 4 {
			u := id(num("u", i))
			if pixels == 2 {
				loop = append(loop, u.Op(":=").Int64().Call(id("xq0_").Index(jen.Lit(i))).Op("|").Int64().Call(id("xq1_").Index(jen.Lit(i))).Op("<<").Lit(32))
			} else {
				loop = append(loop, u.Op(":=").Int32().Call(id("xq0_").Index(jen.Lit(i))))
			}
		}
		for j := range n {
			a := num("a", j)
			accs = append(accs, id(a))
			sum := jen.Id(fmt.Sprintf("u0*%[1]s(wq[%[2]d]) + u1*%[1]s(wq[%[3]d]) + u2*%[1]s(wq[%[4]d]) + u3*%[1]s(wq[%[5]d])", conv, 4*j, 4*j+1, 4*j+2, 4*j+3))
			loop = append(loop, id(a).Op("+=").Add(sum))
			if pixels == 2 {
				outs = append(outs, jen.List(id("acc0").Index(plus("o", j)), id("acc1").Index(plus("o", j))).Op("=").Qual(rt, "Lanes").Call(id(a)))
			} else {
				outs = append(outs, id("acc0").Index(plus("o", j)).Op("=").Id(a))
			}
		}
		return append([]jen.Code{
			// Output channel o's quads start at unit o/16, column o%16.
			id("ws").Op(":=").Id("w").Index(jen.Parens(id("o").Op("/").Lit(16)).Op("*").Add(l.id("KQ")).Op("*").Lit(64).Op("+").Parens(id("o").Op("%").Lit(16)).Op("*").Lit(4), jen.Empty()),
			jen.Var().List(accs...).Add(typ),
			jen.For(id("q").Op(":=").Lit(0), id("q").Op("<").Add(l.id("KQ")), id("q").Op("++")).Block(loop...),
		}, outs...)
	}
	var st []jen.Code
	if l.YD.C >= rows {
		st = append(st, jen.For(id("o").Op(":=").Lit(0), id("o").Op("+").Lit(rows).Op("<=").Add(l.id("YC")), id("o").Op("+=").Lit(rows)).Block(block(rows)...))
	}
	if l.YD.C%rows != 0 {
		st = append(st, jen.For(id("o").Op(":=").Add(l.id("YC")).Op("/").Lit(rows).Op("*").Lit(rows), id("o").Op("<").Add(l.id("YC")), id("o").Op("++")).Block(block(1)...))
	}
	return st
}

// plus is v or v+i.
func plus(v string, i int) *jen.Statement {
	if i == 0 {
		return id(v)
	}
	return id(v).Op("+").Lit(i)
}

// times is (v+i)*n, without parentheses around a lone v.
func times(v string, i int, n jen.Code) *jen.Statement {
	if i == 0 {
		return id(v).Op("*").Add(n)
	}
	return jen.Parens(plus(v, i)).Op("*").Add(n)
}

func num(s string, i int) string { return s + strconv.Itoa(i) }

// requantizeRow is ys[o] = Requantize(b[o] + acc[o], ...) for every channel
// (b holds the folded -z_x * sum(w[o])).
func requantizeRow(l *layer, ys, acc string) jen.Code {
	return rangeSlice("o", "a", id(acc), l.requantize(id(ys).Index(id("o")), id("b").Index(id("o")).Op("+").Id("a"), id("o")))
}

// kDepthwiseGo accumulates, per output pixel, each tap's row of C weights times
// the input pixel's C channels into a row of C accumulators. A tap in the padding
// reads z_x (nothing to add when z_x is 0).
func kDepthwiseGo(f *jen.File, l *layer) {
	body := convPrologue(l)
	pad := []jen.Code{jen.Continue()}
	if l.X.Zero != 0 {
		pad = []jen.Code{
			rangeSlice("c", "v", id("ws"), id("acc").Index(id("c")).Op("+=").Add(l.id("XZero")).Op("*").Int32().Call(id("v"))),
			jen.Continue(),
		}
	}
	body = append(body,
		jen.Var().Id("acc").Index(l.id("YC")).Int32(),
		rangeInt("oy", l.id("YH"), rangeInt("ox", l.id("YW"),
			id("acc").Op("=").Index(l.id("YC")).Int32().Call(id("b")),
			taps(l,
				id("ws").Op(":=").Add(window("w", jen.Parens(tapIndex(l)).Op("*").Add(l.id("YC")), l.id("YC"))),
				jen.If(outside(l)).Block(pad...),
				rangeSlice("c", "v", window("x", jen.Parens(id("iy").Op("*").Add(l.id("XW")).Op("+").Id("ix")).Op("*").Add(l.id("XC")), l.id("XC")),
					mac(id("acc").Index(id("c")), id("v"), id("ws").Index(id("c"))),
				),
			),
			id("ys").Op(":=").Add(window("y", jen.Parens(id("oy").Op("*").Add(l.id("YW")).Op("+").Id("ox")).Op("*").Add(l.id("YC")), l.id("YC"))),
			rangeSlice("c", "a", id("acc"), l.requantize(id("ys").Index(id("c")), id("a"), id("c"))),
		)),
	)
	f.Func().Id(l.ID + "Generic").Params(params(false, true)).Block(body...)
}

// kConvGo gathers each output pixel's K x K input patch, each tap's channels
// padded to XQ (z_x in the padding taps), then takes each output channel's dot
// product with its group's part of the patch: with the quad packing (for one
// group the padding channels stay zero; a grouped conv's packing is
// lower.ExpandGrouped's, read only where the channel's group is, or
// lower.PackNarrow's). An Im2col layer's taps are XQ = InC bytes apart: its
// patch is dense, padded to whole quads once (lower.PackIm2col).
func kConvGo(f *jen.File, l *layer) {
	body := convPrologue(l)
	var dot []jen.Code
	tapLen := l.id("XC")
	if l.Kind == lower.Dense {
		tapLen = l.id("XQ")
		body = append(body, jen.Var().Id("acc0").Index(l.id("YC")).Int32())
		dot = append([]jen.Code{id("x0").Op(":=").Id("patch").Index(jen.Empty(), jen.Empty())}, quadDots(l, 1)...)
		dot = append(dot, requantizeRow(l, "ys", "acc0"))
	} else {
		// The packing of lower.ExpandGrouped: output channel o's weights are
		// column o%16 of unit o/16, SQ quads per tap over its block's span,
		// its group's channels at "at" in the span, zero elsewhere. So the
		// dot product runs over the quads that hold its group, against the
		// patch from the block's first channel pb on (each tap TL bytes
		// apart: room for the last block's last quad).
		tapLen = l.id("TL")
		mac4 := id("a").Op("+=").Int32().Call(id("p4").Index(jen.Lit(0))).Op("*").Int32().Call(id("w4").Index(jen.Lit(0))).Op("+").
			Int32().Call(id("p4").Index(jen.Lit(1))).Op("*").Int32().Call(id("w4").Index(jen.Lit(1))).Op("+").
			Int32().Call(id("p4").Index(jen.Lit(2))).Op("*").Int32().Call(id("w4").Index(jen.Lit(2))).Op("+").
			Int32().Call(id("p4").Index(jen.Lit(3))).Op("*").Int32().Call(id("w4").Index(jen.Lit(3)))
		quad := []jen.Code{
			id("p4").Op(":=").Add(window("ps", id("q").Op("*").Lit(4), jen.Lit(4))),
			id("w4").Op(":=").Add(window("wt", id("q").Op("*").Lit(64), jen.Lit(4))),
			mac4,
		}
		// Groups of whole quads (ICG a multiple of 4, as in ResNeXt and
		// RegNet) take ICG/4 quads from at on, slices of constant length.
		first, loop := id("at").Op("/").Lit(4), jen.For(id("q").Op(":=").Range().Add(l.id("ICG")).Op("/").Lit(4)).Block(quad...)
		var psLen, wtLen jen.Code
		if c := l.Node.Conv; c.InC/c.Groups%4 == 0 {
			psLen, wtLen = l.id("ICG"), jen.Parens(l.id("ICG").Op("/").Lit(4).Op("-").Lit(1)).Op("*").Lit(64).Op("+").Lit(4)
		} else {
			first = jen.Lit(0)
			loop = jen.For(id("q").Op(":=").Id("at").Op("/").Lit(4), id("q").Op("<").Parens(id("at").Op("+").Add(l.id("ICG")).Op("+").Lit(3)).Op("/").Lit(4), id("q").Op("++")).Block(quad...)
		}
		if c := l.Node.Conv; lower.NarrowGroups(c.InC, c.OutC, c.Groups) {
			// lower.PackNarrow: per unit and tap a quad whose position
			// NarrowCol(o%16) holds output channel o, against its group's 4
			// channels of the patch.
			dot = []jen.Code{rangeInt("o", l.id("YC"),
				id("ws").Op(":=").Id("w").Index(id("o").Op("/").Lit(16).Op("*").Add(l.id("KQ")).Op("*").Lit(64).Op("+").
					Parens(id("o").Op("%").Lit(4).Op("*").Lit(4).Op("+").Id("o").Op("%").Lit(16).Op("/").Lit(4)).Op("*").Lit(4), jen.Empty()),
				id("a").Op(":=").Id("b").Index(id("o")),
				rangeInt("t", tapCount(l),
					id("p4").Op(":=").Add(window("patch", id("t").Op("*").Add(l.id("TL")).Op("+").Id("o").Op("/").Lit(4).Op("*").Lit(4), jen.Lit(4))),
					id("w4").Op(":=").Add(window("ws", id("t").Op("*").Lit(64), jen.Lit(4))),
					mac4,
				),
				l.requantize(id("ys").Index(id("o")), id("a"), id("o")),
			)}
		} else {
			dot = []jen.Code{rangeInt("o", l.id("YC"),
				id("g").Op(":=").Id("o").Op("/").Add(l.id("OCG")),
				id("at").Op(":=").Id("g").Op("%").Add(l.id("GPB")).Op("*").Add(l.id("ICG")),
				id("pb").Op(":=").Id("g").Op("/").Add(l.id("GPB")).Op("*").Add(l.id("Span")),
				id("ws").Op(":=").Id("w").Index(id("o").Op("/").Lit(16).Op("*").Add(l.id("KQ")).Op("*").Lit(64).Op("+").Id("o").Op("%").Lit(16).Op("*").Lit(4), jen.Empty()),
				id("a").Op(":=").Id("b").Index(id("o")),
				rangeInt("t", tapCount(l),
					id("ps").Op(":=").Add(sliceOf("patch", id("t").Op("*").Add(l.id("TL")).Op("+").Id("pb").Op("+").Add(first).Op("*").Lit(4), psLen)),
					id("wt").Op(":=").Add(sliceOf("ws", id("t").Op("*").Add(l.id("SQ")).Op("*").Lit(64).Op("+").Add(first).Op("*").Lit(64), wtLen)),
					loop,
				),
				l.requantize(id("ys").Index(id("o")), id("a"), id("o")),
			)}
		}
	}
	// A grouped conv computes output rows [s0, s1) (it once had no assembly
	// and ran on the workers of every tier); a dense one the whole output.
	oy := func(body ...jen.Code) jen.Code { return rangeInt("oy", l.id("YH"), body...) }
	sig := params(false, true)
	if l.Kind == lower.Grouped {
		oy = func(body ...jen.Code) jen.Code {
			return jen.For(id("oy").Op(":=").Id("s0"), id("oy").Op("<").Id("s1"), id("oy").Op("++")).Block(body...)
		}
		sig = jen.List(sig, rows)
	}
	patch := tapCount(l).Op("*").Add(tapLen)
	if l.Im2col {
		patch = jen.Lit(4).Op("*").Add(l.id("KQ")) // the dense taps padded to whole quads
	}
	body = append(body,
		jen.Var().Id("patch").Index(patch).Byte(),
		oy(rangeInt("ox", l.id("YW"), append([]jen.Code{
			taps(l,
				id("ps").Op(":=").Add(window("patch", jen.Parens(tapIndex(l)).Op("*").Add(tapLen), l.id("XC"))),
				jen.If(outside(l)).Block(
					rangeInt("i", id("ps"), id("ps").Index(id("i")).Op("=").Add(l.id("XZero"))),
					jen.Continue(),
				),
				jen.Copy(id("ps"), window("x", jen.Parens(id("iy").Op("*").Add(l.id("XW")).Op("+").Id("ix")).Op("*").Add(l.id("XC")), l.id("XC"))),
			),
			id("ys").Op(":=").Add(window("y", jen.Parens(id("oy").Op("*").Add(l.id("YW")).Op("+").Id("ox")).Op("*").Add(l.ystride()), l.id("YC"))),
		}, dot...)...)),
	)
	f.Func().Id(l.ID + "Generic").Params(sig).Block(body...)
}

// sliceOf is s[off:][:n], or s[off:] for a nil n.
func sliceOf(s string, off, n jen.Code) jen.Code {
	if n == nil {
		return id(s).Index(off, jen.Empty())
	}
	return window(s, off, n)
}

// kEpiAddGo is a conv's add epilogue, if it has one: the residual add of
// its output (in place) and Res, as the Add layer it replaces.
func kEpiAddGo(f *jen.File, l *layer) {
	e := l.Epi
	if e == nil || e.Res == nil {
		return
	}
	sum := jen.Qual(rt, "AddQ").Call(id("y").Index(id("i")), id("res").Index(id("i")),
		l.id("YZero"), l.id("ResZero"), l.id("MA"), l.id("MB"), l.id("AddZero"))
	if e.Node.Add.ReLU {
		sum = jen.Max(sum, l.id("AddZero"))
	}
	f.Line()
	f.Comment(l.ID + "AddGeneric applies " + text(e.Node.Name) + " to what " + l.ID + "Generic stored.")
	f.Func().Id(l.ID+"AddGeneric").Params(jen.List(id("y"), id("res")).Index().Byte()).Block(
		reslice("res", jen.Len(id("y"))),
		rangeInt("i", id("y"), id("y").Index(id("i")).Op("=").Add(sum)),
	)
}

// kAddGo is the residual add; add_relu clamps below at z_y.
func kAddGo(f *jen.File, l *layer) {
	sum := jen.Qual(rt, "AddQ").Call(id("x").Index(id("i")), id("x2").Index(id("i")),
		l.id("XZero"), l.id("X2Zero"), l.id("MA"), l.id("MB"), l.id("YZero"))
	if l.Node.Add.ReLU {
		sum = jen.Max(sum, l.id("YZero"))
	}
	f.Func().Id(l.ID+"Generic").Params(params(true, false)).Block(
		reslice("x", l.id("XLen")),
		reslice("x2", l.id("XLen")),
		reslice("y", l.id("XLen")),
		rangeInt("i", id("y"), id("y").Index(id("i")).Op("=").Add(sum)),
	)
}

// kMaxPoolGo takes, per output pixel, the channelwise max of the input pixels
// of its window that lie inside the plane (padding never wins, as PyTorch's -inf).
func kMaxPoolGo(f *jen.File, l *layer) {
	bound := func(v, lim, k, s, p string) (jen.Code, jen.Code) {
		start := id("o" + v).Op("*").Add(l.id(s)).Op("-").Add(l.id(p))
		return jen.Max(start, jen.Lit(0)), jen.Min(jen.Parens(id("o"+v).Op("*").Add(l.id(s)).Op("-").Add(l.id(p)).Op("+").Add(l.id(k))), l.id(lim))
	}
	y0, y1 := bound("y", "XH", "K", "S", "P")
	x0, x1 := bound("x", "XW", "K", "S", "P")
	if l.Windowed() {
		y0, y1 = bound("y", "XH", "KH", "SH", "PT")
		x0, x1 = bound("x", "XW", "KW", "SW", "PL")
	}
	f.Func().Id(l.ID+"Generic").Params(params(false, false)).Block(
		reslice("x", l.id("XLen")),
		reslice("y", l.id("YLen")),
		rangeInt("oy", l.id("YH"),
			id("y0").Op(",").Id("y1").Op(":=").List(y0, y1),
			rangeInt("ox", l.id("YW"),
				id("x0").Op(",").Id("x1").Op(":=").List(x0, x1),
				id("ys").Op(":=").Add(window("y", jen.Parens(id("oy").Op("*").Add(l.id("YW")).Op("+").Id("ox")).Op("*").Add(l.id("YC")), l.id("YC"))),
				jen.Copy(id("ys"), window("x", jen.Parens(id("y0").Op("*").Add(l.id("XW")).Op("+").Id("x0")).Op("*").Add(l.id("XC")), l.id("XC"))),
				jen.For(id("iy").Op(":=").Id("y0"), id("iy").Op("<").Id("y1"), id("iy").Op("++")).Block(
					jen.For(id("ix").Op(":=").Id("x0"), id("ix").Op("<").Id("x1"), id("ix").Op("++")).Block(
						rangeSlice("c", "v", window("x", jen.Parens(id("iy").Op("*").Add(l.id("XW")).Op("+").Id("ix")).Op("*").Add(l.id("XC")), l.id("XC")),
							id("ys").Index(id("c")).Op("=").Max(id("ys").Index(id("c")), id("v")),
						),
					),
				),
			),
		),
	)
}

func kMeanGo(f *jen.File, l *layer) {
	f.Func().Id(l.ID+"Generic").Params(params(false, false)).Block(
		reslice("x", l.id("XLen")),
		reslice("y", l.id("YLen")),
		jen.Var().Id("acc").Index(l.id("XC")).Int32(),
		rangeInt("p", l.id("XH").Op("*").Add(l.id("XW")),
			rangeSlice("c", "v", window("x", id("p").Op("*").Add(l.id("XC")), l.id("XC")),
				id("acc").Index(id("c")).Op("+=").Int32().Call(id("v")),
			),
		),
		rangeSlice("c", "s", id("acc"),
			id("y").Index(id("c")).Op("=").Qual(rt, "MeanQ").Call(id("s").Op("-").Add(l.id("Sub")), l.id("Inv"), l.id("YZero")),
		),
	)
}
