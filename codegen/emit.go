package codegen

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dave/jennifer/jen"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/lower"
)

const rt = "github.com/ptqc/ptqc/runtime"

// gen holds what the emitters share.
type gen struct {
	m       *compiler.Model
	lm      *lower.Model
	opts    Options
	layers  []*layer
	weights []byte     // weights.bin
	asm     *lower.Asm // nil: no assembly
	plan    lockstep   // lockstepPlan's
}

func (g *gen) file() *jen.File {
	f := jen.NewFile(g.opts.Package)
	f.HeaderComment(Header)
	f.ImportName(rt, "runtime")
	return f
}

func render(f *jen.File) ([]byte, error) {
	var b bytes.Buffer
	if err := f.Render(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// lines makes a // comment of several lines (jennifer writes a string starting
// with // as is).
func lines(ls ...string) string {
	var b strings.Builder
	for i, l := range ls {
		if i > 0 {
			b.WriteByte('\n')
		}
		if l == "" {
			b.WriteString("//")
		} else {
			b.WriteString("// " + text(l))
		}
	}
	return b.String()
}

// text makes s safe in a // comment: a name or a string from a model file could
// otherwise end the comment (a newline), start a raw one for jennifer (a leading
// /), or make the source invalid (bad UTF-8, a BOM).
func text(s string) string {
	bad := func(r rune) bool {
		return r < 0x20 && r != '\t' || r == 0x7f || r == 0x2028 || r == 0x2029 || r == 0xfeff
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, bad) || strings.HasPrefix(s, "/") {
		return strconv.Quote(s)
	}
	return s
}

// f32 is a float32 literal that converts back to exactly v.
func f32(v float32) jen.Code { return jen.Id(strconv.FormatFloat(float64(v), 'g', -1, 32)) }

// id is the generated identifier of layer l's constant or function named s.
func (l *layer) id(s string) *jen.Statement { return jen.Id(l.ID + s) }

// perTensor reports whether every output channel has the same multiplier, which
// is then a constant instead of a table.
func perTensor(m []float32) bool {
	for _, v := range m {
		if v != m[0] {
			return false
		}
	}
	return true
}

// summary describes a layer in one line for comments.
func (l *layer) summary() string {
	nd := *l.Node
	nd.Name = text(nd.Name)
	switch l.Kind {
	case lower.Quantize:
		return fmt.Sprintf("%s: quantize the %v input (NCHW float32 to NHWC uint8)", nd.Name, l.XD)
	case lower.Dequantize:
		return fmt.Sprintf("%s: dequantize the %v output", nd.Name, l.XD)
	case lower.Add:
		if nd.Add.ReLU {
			return fmt.Sprintf("%s: residual add and ReLU, %v", nd.Name, l.XD)
		}
		return fmt.Sprintf("%s: residual add, %v", nd.Name, l.XD)
	case lower.Mean:
		return fmt.Sprintf("%s: mean over %dx%d, %d channels", nd.Name, l.XD.H, l.XD.W, l.XD.C)
	case lower.MaxPool:
		if l.Windowed() {
			return fmt.Sprintf("%s: %s; %v -> %v", nd.Name, text(ir.Repr(&ir.Node{Op: ir.OpMaxPool, Pool: &l.Geom})), l.XD, l.YD)
		}
		p, ceil := l.Geom, ""
		if p.Ceil {
			ceil = ", ceil mode"
		}
		return fmt.Sprintf("%s: max pool %dx%d, stride %d, padding %d%s; %v -> %v", nd.Name, p.KH, p.KH, p.SH, p.PadT, ceil, l.XD, l.YD)
	case lower.WindowPool, lower.AvgPool:
		op := ir.OpMaxPool
		if l.Kind == lower.AvgPool {
			op = ir.OpAvgPool
		}
		return fmt.Sprintf("%s: %s; %v -> %v", nd.Name, text(ir.Repr(&ir.Node{Op: op, Pool: &l.Geom})), l.XD, l.YD)
	case lower.Table:
		per := ""
		if len(nd.Table.T) > 256 {
			per = " per channel"
		}
		return fmt.Sprintf("%s: %v as a lookup table%s, %v", nd.Name, nd.Table.Op, per, l.XD)
	case lower.Mul:
		return fmt.Sprintf("%s: %v times %v", nd.Name, l.XD, dimsOf(l.X2))
	case lower.Concat:
		ins := map[*compiler.Tensor]bool{}
		for _, x := range l.Xs {
			ins[x] = true
		}
		if len(ins) < len(l.Xs) {
			// lower's channel orders cut inputs into runs (lower/order.go).
			return fmt.Sprintf("%s: concat of %d inputs in %d runs into %v", nd.Name, len(ins), len(l.Xs), l.YD)
		}
		return fmt.Sprintf("%s: concat of %d inputs into %v", nd.Name, len(l.Xs), l.YD)
	case lower.Slice:
		return fmt.Sprintf("%s: channels %d to %d of %v", nd.Name, nd.Slice.Start, nd.Slice.End, l.XD)
	case lower.Shuffle:
		return fmt.Sprintf("%s: channel shuffle, %v", nd.Name, l.XD)
	case lower.ChannelMax:
		return fmt.Sprintf("%s: max over the channels, %v -> %v", nd.Name, l.XD, l.YD)
	}
	c := nd.Conv
	act := map[ir.Act]string{ir.ActNone: "", ir.ActReLU: ", ReLU", ir.ActReLU6: ", ReLU6"}[c.Act]
	switch e := l.Epi; {
	case e != nil && e.T != nil:
		act += fmt.Sprintf(", then %s: %v", text(e.Node.Name), e.Node.Table.Op)
	case e != nil:
		act += fmt.Sprintf(", then %s: %s with tensor %d", text(e.Node.Name), map[bool]string{false: "add", true: "add_relu"}[e.Node.Add.ReLU], e.Res.ID)
	}
	if nd.Kind == compiler.KLinear {
		return fmt.Sprintf("%s: linear %d -> %d%s", nd.Name, c.InC, c.OutC, act)
	}
	if l.Windowed() {
		return fmt.Sprintf("%s: conv %s%s; %v -> %v", nd.Name, ir.ConvArgs(&ir.Conv{InC: c.InC, OutC: c.OutC, Groups: c.Groups, Window: l.Geom.Window}, ""), act, l.XD, l.YD)
	}
	return fmt.Sprintf("%s: %v %dx%d, stride %d, padding %d, groups %d%s; %v -> %v", nd.Name, l.Kind, c.Kernel, c.Kernel, c.Stride, c.Pad, c.Groups, act, l.XD, l.YD)
}

// dimsOf is t's shape as Dims ([F] as F).
func dimsOf(t *compiler.Tensor) lower.Dims {
	if len(t.Shape) == 3 {
		return lower.Dims{C: t.Shape[0], H: t.Shape[1], W: t.Shape[2]}
	}
	return lower.Dims{C: t.Elems(), H: 1, W: 1}
}

// consts are layer l's constants: its shapes, qparams, arena offsets and where
// its parameters are, plus the multiplier table of a per-channel layer.
func (g *gen) consts(f *jen.File, l *layer) {
	type def struct {
		name string
		typ  jen.Code // nil: an untyped integer constant
		v    jen.Code
	}
	var defs [][]def
	add := func(ds ...def) { defs = append(defs, ds) }
	n := func(name string, v int) def { return def{name, nil, jen.Lit(v)} }
	x, y := l.XD, l.YD
	add(n("XC", x.C), n("XH", x.H), n("XW", x.W))
	if l.Kind != lower.Quantize { // the float input is the caller's
		add(n("XLen", x.Elems()), n("X", l.XOff), n("XZero", int(l.X.Zero)))
	}
	if l.Kind == lower.Add {
		add(n("X2", l.X2Off), n("X2Zero", int(l.X2.Zero)))
	}
	if l.Kind != lower.Dequantize {
		add(n("YC", y.C), n("YH", y.H), n("YW", y.W))
		add(n("YLen", l.YSpan()), n("Y", l.YOff), n("YZero", int(l.ReqY().Zero)))
		if l.YStride != y.C {
			add(n("YS", l.YStride))
		}
	}
	var tables []chanTable
	switch l.Kind {
	case lower.Quantize:
		add(def{"Inv", jen.Float32(), f32(float32(1 / l.Y.Scale))})
	case lower.Dequantize:
		add(def{"Scale", jen.Float32(), f32(float32(l.X.Scale))})
	case lower.Add:
		add(def{"MA", jen.Float32(), f32(l.Node.Add.MA)})
		add(def{"MB", jen.Float32(), f32(l.Node.Add.MB)})
	case lower.MaxPool:
		p := l.Geom
		if l.Windowed() {
			add(n("KH", p.KH), n("KW", p.KW), n("SH", p.SH), n("SW", p.SW), n("PT", p.PadT), n("PL", p.PadL))
			break
		}
		add(n("K", p.KH), n("S", p.SH), n("P", p.PadT))
	case lower.Mean:
		hw := x.H * x.W
		add(def{"Inv", jen.Float32(), f32(float32(1 / float64(hw)))})
		// sum(q - z) = sum(q) - H*W*z in wrapping int32 arithmetic.
		add(def{"Sub", jen.Int32(), jen.Lit(int(int32(hw) * l.X.Zero))})
	case lower.WindowPool, lower.AvgPool:
		w := l.Geom.Window
		add(n("KH", w.KH), n("KW", w.KW), n("SH", w.SH), n("SW", w.SW))
		add(n("PT", w.PadT), n("PL", w.PadL), n("PB", w.PadB), n("PR", w.PadR), n("DH", w.DH), n("DW", w.DW))
	case lower.Table:
		add(n("W", l.WOff), n("WLen", len(l.W)))
	case lower.Mul:
		add(n("X2", l.X2Off), n("X2Zero", int(l.X2.Zero)), n("X2Len", l.X2.Elems()))
		add(def{"M", jen.Float32(), f32(l.Node.Mul.M)})
	case lower.Concat:
		for i, t := range l.Xs {
			add(n(num("X", i)+"C", l.XsC[i]), n(num("X", i)+"At", l.XsAt[i]), n(num("X", i)+"Len", l.InSpan(i)), n(num("X", i), l.XsOff[i]), n(num("X", i)+"Zero", int(t.Zero)))
			if l.XsStride[i] != l.XsC[i] {
				add(n(num("X", i)+"S", l.XsStride[i]))
			}
			if m := l.Node.Concat.M[i]; m != 0 {
				add(def{num("M", i), jen.Float32(), f32(m)})
			}
		}
	case lower.Slice:
		add(n("Start", l.Node.Slice.Start))
	case lower.Shuffle, lower.ChannelMax:
	default:
		c := l.Node.Conv
		if l.Windowed() {
			w := l.Geom.Window
			add(n("KH", w.KH), n("KW", w.KW), n("SH", w.SH), n("SW", w.SW))
			add(n("PT", w.PadT), n("PL", w.PadL), n("DH", w.DH), n("DW", w.DW), n("G", c.Groups))
		} else {
			add(n("K", c.Kernel), n("S", c.Stride), n("P", c.Pad), n("G", c.Groups))
		}
		add(n("Lo", int(c.Lo)), n("Hi", int(c.Hi)))
		add(n("W", l.WOff), n("WLen", len(l.W)), n("B", l.BOff))
		if e := l.Epi; e != nil && e.Res != nil {
			// The add epilogue: Y's bytes (at YZero) and Res's into AddZero.
			add(n("Res", e.ResOff), n("ResZero", int(e.Res.Zero)), n("AddZero", int(l.Y.Zero)))
			add(def{"MA", jen.Float32(), f32(e.MA)})
			add(def{"MB", jen.Float32(), f32(e.MB)})
		}
		switch {
		case l.Im2col:
			// PackIm2col: the patch's taps XQ = InC bytes apart, KQ quads in all.
			w := c.Window()
			add(n("XQ", c.InC), n("KQ", lower.Quads(w.Taps()*c.InC)))
		case l.Kind == lower.Pointwise || l.Kind == lower.Dense:
			// PackDense: quads of input channels (XQ per tap), KQ per output channel.
			w := c.Window()
			add(n("XQ", 4*lower.Quads(c.InC)), n("KQ", w.Taps()*lower.Quads(c.InC)))
		case l.Kind == lower.Grouped:
			// lower.GroupCols: column blocks of GPB groups reading SPAN channels
			// (SQ quads per tap, KQ per output channel), GU units each.
			gc := lower.GroupColsOf(c.InC, c.OutC, c.Groups)
			add(n("ICG", c.InC/c.Groups), n("OCG", c.OutC/c.Groups), n("GPB", gc.Groups), n("Span", gc.Span), n("GU", gc.Units))
			// TL: a tap's bytes in the patch.
			sq, w := lower.Quads(gc.Span), c.Window()
			kq := w.Taps() * sq
			if lower.NarrowGroups(c.InC, c.OutC, c.Groups) {
				kq = w.Taps() // lower.PackNarrow: a quad per tap
			}
			add(n("SQ", sq), n("KQ", kq), n("TL", max(c.InC, (gc.Blocks-1)*gc.Span+4*sq)))
		}
		for _, t := range []chanTable{{"M", c.M}, {"Bias", c.B}} {
			if perTensor(t.v) {
				add(def{t.name, jen.Float32(), f32(t.v[0])})
			} else {
				tables = append(tables, t)
			}
		}
	}
	f.Line()
	f.Comment(l.ID + " is " + l.summary() + ".")
	f.Const().DefsFunc(func(grp *jen.Group) {
		for _, ds := range defs {
			if ds[0].typ != nil {
				grp.Add(l.id(ds[0].name)).Add(ds[0].typ).Op("=").Add(ds[0].v)
				continue
			}
			names, vals := make([]jen.Code, len(ds)), make([]jen.Code, len(ds))
			for i, d := range ds {
				names[i], vals[i] = l.id(d.name), d.v
			}
			grp.List(names...).Op("=").List(vals...)
		}
	})
	if l.Kind == lower.Shuffle && !l.View {
		f.Line()
		f.Comment(l.ID + "Perm is the input channel of each output channel.")
		f.Var().Add(l.id("Perm")).Op("=").Index(l.id("YC")).Int32().ValuesFunc(func(grp *jen.Group) {
			for _, v := range l.Node.Perm {
				grp.Lit(v)
			}
		})
	}
	if l.Epi != nil && l.Epi.T != nil {
		f.Line()
		f.Comment(l.ID + "Tab is " + text(l.Epi.Node.Name) + ", applied to the requantized bytes: " + l.Epi.Node.Table.Op.String() + " as a lookup table.")
		f.Var().Add(l.id("Tab")).Op("=").Index(jen.Lit(256)).Uint8().ValuesFunc(func(grp *jen.Group) {
			for _, v := range l.Epi.T {
				grp.Lit(int(v))
			}
		})
	}
	for _, t := range tables {
		f.Line()
		f.Comment(l.ID + t.name + " are the per-channel " + chanTableDoc[t.name] + ".")
		f.Var().Add(l.id(t.name)).Op("=").Index(l.id("YC")).Float32().ValuesFunc(func(grp *jen.Group) {
			for _, v := range t.v {
				grp.Add(f32(v))
			}
		})
	}
}

// chanTable is a per-channel requantization constant: a table, or one
// constant when every channel has the same value.
type chanTable struct {
	name string
	v    []float32
}

var chanTableDoc = map[string]string{
	"M":    "requantization multipliers s_x * s_w[c] / s_y",
	"Bias": "biases in output units, b[c] / s_y",
}

// perChannel is layer l's constant name (M or Bias) for output channel o.
func (l *layer) perChannel(name string, v []float32, o jen.Code) jen.Code {
	if perTensor(v) {
		return l.id(name)
	}
	return l.id(name).Index(o)
}

// requantize is y = runtime.Requantize(acc, M[o], Bias[o], z_y, lo, hi).
func (l *layer) requantize(dst *jen.Statement, acc, o jen.Code) jen.Code {
	c := l.Node.Conv
	q := jen.Qual(rt, "Requantize").Call(acc, l.perChannel("M", c.M, o), l.perChannel("Bias", c.B, o), l.id("YZero"), l.id("Lo"), l.id("Hi"))
	if l.Epi != nil && l.Epi.T != nil {
		q = l.id("Tab").Index(q)
	}
	return dst.Op("=").Add(q)
}

func (g *gen) model() ([]byte, error) {
	f := g.file()
	f.Anon("embed")
	buildConst(f, "buildID", "buildID identifies the ptqc build that wrote this package; every generated file but weights.bin records it.")
	f.Line()
	f.Comment("weightsID is the hash weights.bin records of its own bytes: it changes only with the weights.")
	f.Const().Id("weightsID").Uint64().Op("=").Id(weightsPlaceholder)
	in := g.layers[0].XD
	out := g.layers[len(g.layers)-1].XD
	f.Line()
	f.Comment("The model's input, one image in NCHW float32 normalized as Transform does, and output, NumClasses logits.")
	f.Const().Defs(
		jen.Id("InputChannels").Op("=").Lit(in.C),
		jen.Id("InputHeight").Op("=").Lit(in.H),
		jen.Id("InputWidth").Op("=").Lit(in.W),
		jen.Id("NumClasses").Op("=").Lit(out.Elems()),
	)
	f.Line()
	f.Const().Defs(
		jen.Comment("inputLen is the number of float32 values of one image."),
		jen.Id("inputLen").Op("=").Id("InputChannels").Op("*").Id("InputHeight").Op("*").Id("InputWidth"),
		jen.Comment("arenaBytes holds every uint8 activation of one image, NHWC, as ptqc's memory plan placed them."),
		jen.Id("arenaBytes").Op("=").Lit(g.lm.ArenaBytes),
		jen.Comment("slack follows every buffer: the assembly reads whole vectors, up to slack bytes past a tensor."),
		jen.Id("slack").Op("=").Lit(lower.ReadSlack),
		jen.Comment("scratchBytes and padBytes are a worker's room for the assembly: widened input rows, and the"),
		jen.Comment("padded input of a k x k conv."),
		jen.Id("scratchBytes").Op("=").Lit(g.scratchBytes()),
		jen.Id("padBytes").Op("=").Lit(g.padBytes()),
		jen.Comment("weights.bin: a header, then weightsLen int8 weights and biasesLen int32 little-endian accumulator starts (-z_x * sum(w))."),
		jen.Id("weightsHeader").Op("=").Lit(headerLen),
		jen.Id("weightsLen").Op("=").Lit(g.lm.WeightsLen),
		jen.Id("biasesLen").Op("=").Lit(g.lm.BiasesLen),
	)
	f.Line()
	f.Line()
	f.Comment("//go:embed weights.bin")
	f.Var().Id("weightsBin").String()
	f.Line()
	f.Var().Defs(
		jen.Id("loadOnce").Qual("sync", "Once"),
		jen.Comment("weights and biases are every layer's packed parameters, read-only once loaded."),
		jen.Id("weights").Index().Int8(),
		jen.Id("biases").Index().Int32(),
		jen.Id("loadErr").Error(),
	)
	f.Line()
	f.Comment("fileBuild is the build a generated file comes from.")
	f.Type().Id("fileBuild").Struct(jen.Id("file").String(), jen.Id("id").Uint64())
	f.Line()
	f.Comment("load checks that every file comes from this build and unpacks weights.bin.")
	f.Func().Id("load").Params().Block(
		jen.If(jen.Len(jen.Id("weightsBin")).Op("!=").Id("weightsHeader").Op("+").Id("weightsLen").Op("+").Lit(4).Op("*").Id("biasesLen")).Block(
			jen.Id("loadErr").Op("=").Qual("fmt", "Errorf").Call(jen.Lit(g.opts.Package+": weights.bin has %d bytes, want %d (files of two ptqc builds mixed? build the package again)"), jen.Len(jen.Id("weightsBin")), jen.Id("weightsHeader").Op("+").Id("weightsLen").Op("+").Lit(4).Op("*").Id("biasesLen")),
			jen.Return(),
		),
		jen.Comment("A build killed while renaming its files can leave old and new ones mixed."),
		jen.If(jen.Id("id").Op(":=").Qual("encoding/binary", "LittleEndian").Dot("Uint64").Call(jen.Index().Byte().Call(jen.Id("weightsBin").Index(jen.Id("weightsHeader").Op("-").Lit(8), jen.Id("weightsHeader")))), jen.Id("id").Op("!=").Id("weightsID")).Block(
			jen.Id("loadErr").Op("=").Qual("fmt", "Errorf").Call(jen.Lit(g.opts.Package+": weights.bin holds the weights %016x, model.go wants %016x: files of two builds are mixed (an interrupted ptqc build?); build the package again"), jen.Id("id"), jen.Id("weightsID")),
			jen.Return(),
		),
		jen.Id("builds").Op(":=").Append(jen.Index().Id("fileBuild").Values(
			jen.Values(jen.Lit("kernels.go"), jen.Id("kernelsBuild")),
			jen.Values(jen.Lit("doc.go"), jen.Id("docBuild")),
		), jen.Id("asmBuilds").Call().Op("...")),
		jen.For(jen.List(jen.Id("_"), jen.Id("b")).Op(":=").Range().Id("builds")).Block(
			jen.If(jen.Id("b").Dot("id").Op("!=").Id("buildID")).Block(
				jen.Id("loadErr").Op("=").Qual("fmt", "Errorf").Call(jen.Lit(g.opts.Package+": %s comes from ptqc build %016x, model.go from build %016x: files of two builds are mixed (an interrupted ptqc build?); build the package again"), jen.Id("b").Dot("file"), jen.Id("b").Dot("id"), jen.Id("buildID")),
				jen.Return(),
			),
		),
		jen.Id("weights").Op("=").Qual(rt, "Weights").Call(jen.Id("weightsLen").Op("+").Id("slack")).Index(jen.Empty(), jen.Id("weightsLen")),
		jen.For(jen.Id("i").Op(":=").Range().Id("weights")).Block(
			jen.Id("weights").Index(jen.Id("i")).Op("=").Int8().Call(jen.Id("weightsBin").Index(jen.Id("weightsHeader").Op("+").Id("i"))),
		),
		jen.Id("b").Op(":=").Id("weightsBin").Index(jen.Id("weightsHeader").Op("+").Id("weightsLen"), jen.Empty()),
		jen.Id("biases").Op("=").Make(jen.Index().Int32(), jen.Id("biasesLen")),
		jen.For(jen.Id("i").Op(":=").Range().Id("biases")).Block(
			jen.Id("biases").Index(jen.Id("i")).Op("=").Int32().Call(
				jen.Uint32().Call(jen.Id("b").Index(jen.Lit(4).Op("*").Id("i"))).Op("|").
					Uint32().Call(jen.Id("b").Index(jen.Lit(4).Op("*").Id("i").Op("+").Lit(1))).Op("<<").Lit(8).Op("|").
					Uint32().Call(jen.Id("b").Index(jen.Lit(4).Op("*").Id("i").Op("+").Lit(2))).Op("<<").Lit(16).Op("|").
					Uint32().Call(jen.Id("b").Index(jen.Lit(4).Op("*").Id("i").Op("+").Lit(3))).Op("<<").Lit(24)),
		),
	)
	g.glue(f)
	f.Line()
	f.Comment("forwardGeneric runs one image on the portable Go kernels of kernels.go, which do not split a layer: only worker 0 works.")
	f.Func().Id("forwardGeneric").Params(jen.Id("r").Op("*").Id("runner"), jen.List(jen.Id("sh"), jen.Id("_")).Op("*").Id("worker"), jen.List(jen.Id("w"), jen.Id("_")).Int(), jen.Id("_").Op("*").Qual(rt, "Team"), jen.List(jen.Id("out"), jen.Id("in")).Index().Float32()).BlockFunc(func(grp *jen.Group) {
		grp.If(jen.Id("w").Op("!=").Lit(0)).Block(jen.Return())
		grp.Id("a").Op(":=").Id("sh").Dot("arena")
		for i, l := range g.layers {
			grp.Add(g.genericCall(l))
			if l.Epi != nil && l.Epi.Res != nil {
				grp.Id(l.ID+"AddGeneric").Call(sub("a", l.id("Y"), l.id("YLen")), sub("a", l.id("Res"), l.id("YLen")))
			}
			grp.Id("r").Dot("lap").Call(jen.Lit(0), jen.Lit(i))
		}
	})
	if g.asm == nil {
		f.Line()
		f.Comment("asmTiers: this package has no assembly.")
		f.Var().Id("asmTiers").Index().Id("tier")
		f.Line()
		f.Func().Id("asmBuilds").Params().Index().Id("fileBuild").Block(jen.Return(jen.Nil()))
	}

	f.Line()
	f.Comment("The layer schedule: every layer's shapes (C, H, W of x and y), arena offsets, qparams and parameters.")
	for _, l := range g.layers {
		g.consts(f, l)
	}

	g.helpers(f)
	return render(f)
}

// sub is s[off:][:n].
func sub(s string, off, n jen.Code) jen.Code {
	return jen.Id(s).Index(off, jen.Empty()).Index(jen.Empty(), n)
}

// genericCall is the call of layer l's portable kernel in a forward function
// (arena a, input in, output out).
func (g *gen) genericCall(l *layer) jen.Code { return g.rowsCall(l, jen.Lit(0), l.id("YH")) }

// rowsCall is genericCall computing output rows [s0, s1) where the kernel
// takes rows (hasRows), all of them for the others.
func (g *gen) rowsCall(l *layer, s0, s1 jen.Code) jen.Code {
	call := jen.Id(l.ID + "Generic")
	if hasRows(l.Kind) {
		return call.Call(append(g.args(l), s0, s1)...)
	}
	return call.Call(g.args(l)...)
}

// args are the arguments of layer l's portable kernel but rows.
func (g *gen) args(l *layer) []jen.Code {
	switch l.Kind {
	case lower.Quantize:
		return []jen.Code{sub("a", l.id("Y"), l.id("YLen")), jen.Id("in")}
	case lower.Dequantize:
		return []jen.Code{jen.Id("out"), sub("a", l.id("X"), l.id("XLen"))}
	case lower.Add:
		return []jen.Code{sub("a", l.id("Y"), l.id("YLen")), sub("a", l.id("X"), l.id("XLen")), sub("a", l.id("X2"), l.id("XLen")), jen.Nil(), jen.Nil()}
	case lower.Mean, lower.MaxPool, lower.WindowPool, lower.AvgPool, lower.Slice, lower.Shuffle, lower.ChannelMax:
		return []jen.Code{sub("a", l.id("Y"), l.id("YLen")), sub("a", l.id("X"), l.id("XLen")), jen.Nil(), jen.Nil(), jen.Nil()}
	case lower.Mul:
		return []jen.Code{sub("a", l.id("Y"), l.id("YLen")), sub("a", l.id("X"), l.id("XLen")), sub("a", l.id("X2"), l.id("X2Len")), jen.Nil(), jen.Nil()}
	case lower.Table:
		return []jen.Code{sub("a", l.id("Y"), l.id("YLen")), sub("a", l.id("X"), l.id("XLen")), jen.Nil(), sub("weights", l.id("W"), l.id("WLen")), jen.Nil()}
	case lower.Concat:
		args := []jen.Code{sub("a", l.id("Y"), l.id("YLen"))}
		for i := range l.Xs {
			if !l.Direct[i] {
				args = append(args, sub("a", l.id(num("X", i)), l.id(num("X", i)+"Len")))
			}
		}
		return args
	}
	return []jen.Code{sub("a", l.id("Y"), l.id("YLen")), sub("a", l.id("X"), l.id("XLen")), jen.Nil(), sub("weights", l.id("W"), l.id("WLen")), sub("biases", l.id("B"), l.id("YC"))}
}

// helpers writes Transform, Preprocess, Classify and ClassifyJPEG.
func (g *gen) helpers(f *jen.File) {
	d := g.m.Desc
	f32s := func(v []float32) jen.Code {
		return jen.Index().Float32().ValuesFunc(func(grp *jen.Group) {
			for _, x := range v {
				grp.Add(f32(x))
			}
		})
	}
	f.Line()
	f.Comment(lines(
		"Transform returns the preprocessing of the model's description: resize the",
		"shorter side, center crop, pad, scale to [0, 1] and normalize per channel.",
	))
	f.Func().Id("Transform").Params().Qual(rt, "Transform").Block(
		jen.Return(jen.Qual(rt, "Transform").Values(jen.Dict{
			jen.Id("Channels"): jen.Id("InputChannels"),
			jen.Id("Height"):   jen.Id("InputHeight"),
			jen.Id("Width"):    jen.Id("InputWidth"),
			jen.Id("Resize"):   jen.Lit(d.Preprocess.Resize),
			jen.Id("Crop"):     jen.Lit(d.Preprocess.Crop),
			jen.Id("Pad"):      jen.Lit(d.Preprocess.Pad),
			jen.Id("Mean"):     f32s(d.Mean),
			jen.Id("Std"):      f32s(d.Std),
		})),
	)
	f.Line()
	f.Var().Id("transform").Op("=").Id("Transform").Call()
	f.Line()
	f.Comment(lines(
		"Preprocess writes img, transformed as Transform says, into the first",
		"InputChannels*InputHeight*InputWidth values of dst.",
	))
	f.Func().Id("Preprocess").Params(jen.Id("dst").Index().Float32(), jen.Id("img").Qual("image", "Image")).Error().Block(
		jen.Id("t").Op(":=").Id("transform"),
		jen.Return(jen.Id("t").Dot("Image").Call(jen.Id("dst"), jen.Id("img"))),
	)
	f.Line()
	f.Comment(lines(
		"Classes names the outputs, as the description's \"classes\" (or -classes) did;",
		"nil when it gave none.",
	))
	if len(d.Classes) == 0 {
		f.Var().Id("Classes").Index().String()
	} else {
		f.Var().Id("Classes").Op("=").Index().String().ValuesFunc(func(grp *jen.Group) {
			for _, c := range d.Classes {
				grp.Line().Lit(c)
			}
			grp.Line()
		})
	}
	f.Line()
	top, doc := "Top", []string{
		"Classify preprocesses img, runs it and returns the k classes with the highest",
		"logits, best first (ties to the lower index): index, name (Classes) and softmax",
		"probability. A Prediction prints as \"Shirt 0.87\".",
	}
	if g.layers[len(g.layers)-1].Node.Softmax == "softmax" {
		top, doc = "TopProbs", []string{
			"Classify preprocesses img, runs it and returns the k classes with the highest",
			"probabilities (the model ends in a Softmax), best first (ties to the lower",
			"index): index, name (Classes) and probability. A Prediction prints as \"Shirt 0.87\".",
		}
	}
	f.Comment(lines(doc...))
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Classify").Params(jen.Id("img").Qual("image", "Image"), jen.Id("k").Int()).Params(jen.Index().Qual(rt, "Prediction"), jen.Error()).Block(
		jen.If(jen.Id("m").Op("==").Nil()).Block(jen.Return(jen.Nil(), jen.Qual("errors", "New").Call(jen.Lit(g.opts.Package+": Classify on a nil Model")))),
		jen.If(jen.Err().Op(":=").Id("m").Dot("init").Call(), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err())),
		jen.Id("r").Op(":=").Id("m").Dot("get").Call(),
		jen.Defer().Id("m").Dot("put").Call(jen.Id("r")),
		jen.If(jen.Id("r").Dot("img").Op("==").Nil()).Block(
			jen.Id("r").Dot("img").Op("=").Make(jen.Index().Float32(), jen.Id("inputLen")),
		),
		jen.If(jen.Err().Op(":=").Id("Preprocess").Call(jen.Id("r").Dot("img"), jen.Id("img")), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err())),
		jen.Id("r").Dot("run").Call(jen.Id("r").Dot("logits").Index(jen.Empty(), jen.Empty()), jen.Id("r").Dot("img"), jen.Lit(1)),
		jen.Return(jen.Qual(rt, top).Call(jen.Id("r").Dot("logits").Index(jen.Empty(), jen.Empty()), jen.Id("Classes"), jen.Id("k")), jen.Nil()),
	)
	f.Line()
	f.Comment(lines(
		"ClassifyJPEG decodes a JPEG file as PIL decodes it for torchvision",
		"(runtime.DecodeJPEG: libjpeg-turbo's chroma upsampling and colors), then",
		"classifies it as Classify does.",
	))
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("ClassifyJPEG").Params(jen.Id("r").Qual("io", "Reader"), jen.Id("k").Int()).Params(jen.Index().Qual(rt, "Prediction"), jen.Error()).Block(
		jen.List(jen.Id("img"), jen.Err()).Op(":=").Qual(rt, "DecodeJPEG").Call(jen.Id("r")),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Qual("fmt", "Errorf").Call(jen.Lit(g.opts.Package+": %w"), jen.Err()))),
		jen.Return(jen.Id("m").Dot("Classify").Call(jen.Id("img"), jen.Id("k"))),
	)
}
