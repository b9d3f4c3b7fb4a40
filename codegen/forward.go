package codegen

import (
	"fmt"

	"github.com/dave/jennifer/jen"
	"github.com/ptqc/ptqc/lower"
)

// step is how a forward function of an assembly tier runs one layer, in the
// names a (arena), pd (pad buffer), t (scratch), in and out: pad first if
// set, then once, or call over units x cols split however the caller likes.
type step struct {
	pad         jen.Code
	once        jen.Code
	units, cols int
	call        func(s0, s1, n0, n1 jen.Code) jen.Code
	// dense says that call's column range splits the weights: a range
	// reads its columns' weights only (Pointwise, Dense, Grouped).
	dense bool
}

// uses says which of a, pd, in and out layer l's step names.
func uses(l *layer) (a, pd, in, out bool) {
	pd = l.PadIn || l.PadCopy
	switch l.Kind {
	case lower.Quantize:
		return l.Pad == nil, l.Pad != nil, true, false
	case lower.Dequantize:
		return true, false, false, true
	}
	return true, pd, false, false
}

// asmStep is layer i's step on tier tierName; nil for a layer that moves
// nothing (a view, or a layer whose inputs were all written in place).
func (g *gen) asmStep(i int, tierName string) (*step, error) {
	l, al := g.layers[i], g.asm.Layers[i]
	fn := al.Funcs[tierName]
	if l.View || l.DirectAll() {
		return nil, nil
	}
	if l.Kind.HasAsm() && fn == "" {
		return nil, fmt.Errorf("layer %d (%s): no %s kernel", i, l.Node.Name, tierName)
	}
	at := func(s string, off jen.Code) jen.Code { return jen.Op("&").Id(s).Index(off) }
	x := at("a", l.id("X"))
	if l.PadIn {
		x = at("pd", jen.Lit(0))
	}
	s := &step{units: al.Units, cols: 1}
	if l.PadCopy {
		s.pad = jen.Qual(rt, "PadNHWC").Call(jen.Id("pd"), sub("a", l.id("X"), l.id("XLen")), l.id("XC"), l.id("XH"), l.id("XW"), jen.Lit(l.Pad.Stride), jen.Lit(l.Pad.Border), jen.Lit(int(l.Pad.Z)))
	}
	switch l.Kind {
	case lower.Dequantize:
		s.once = g.genericCall(l)
	case lower.Table, lower.Depthwise:
		s.call = func(s0, s1, _, _ jen.Code) jen.Code {
			return jen.Id(fn).Call(x, jen.Id("wptr").Call(l.id("W")), at("a", l.id("Y")), s0, s1)
		}
	case lower.Mul, lower.Add:
		s.call = func(s0, s1, _, _ jen.Code) jen.Code {
			return jen.Id(fn).Call(x, at("a", l.id("X2")), at("a", l.id("Y")), s0, s1)
		}
	case lower.Concat:
		s.call = func(s0, s1, _, _ jen.Code) jen.Code {
			return jen.Id(fn).Call(at("a", jen.Lit(0)), s0, s1)
		}
	case lower.Quantize:
		y := at("a", l.id("Y"))
		if l.Pad != nil {
			y = at("pd", jen.Lit(0))
		}
		s.call = func(s0, s1, _, _ jen.Code) jen.Code {
			return jen.Id(fn).Call(jen.Op("&").Id("in").Index(jen.Lit(0)), y, s0, s1)
		}
	case lower.Pointwise, lower.Dense:
		s.cols, s.dense = al.Cols, true
		s.call = func(s0, s1, n0, n1 jen.Code) jen.Code {
			args := []jen.Code{x, jen.Id("wptr").Call(l.id("W")), at("a", l.id("Y")), jen.Id("t"), s0, s1, n0, n1}
			if w, ok := al.Wide[tierName]; ok {
				return jen.If(jen.Id("r").Dot("tier").Dot("wide")).Block(jen.Id(w).Call(args...)).Else().Block(jen.Id(fn).Call(args...))
			}
			return jen.Id(fn).Call(args...)
		}
	case lower.Grouped:
		s.cols, s.dense = al.Cols, true
		if al.AllBlocks[tierName] {
			// Any range of column blocks in one call (lower.AsmLayer).
			s.call = func(s0, s1, n0, n1 jen.Code) jen.Code {
				return jen.Id(fn).Call(x, jen.Id("wptr").Call(l.id("W")), at("a", l.id("Y")), jen.Id("t"), s0, s1, n0, n1)
			}
			break
		}
		// The dense kernel once per column block: its span of the
		// input, its units (lower.GroupCols).
		xb := jen.Op("&").Id("a").Index(l.id("X").Op("+").Id("b").Op("*").Add(l.id("Span")))
		if l.PadIn {
			xb = jen.Op("&").Id("pd").Index(jen.Id("b").Op("*").Add(l.id("Span")))
		}
		s.call = func(s0, s1, n0, n1 jen.Code) jen.Code {
			return jen.For(jen.Id("b").Op(":=").Add(n0), jen.Id("b").Op("<").Add(n1), jen.Id("b").Op("++")).Block(
				jen.Id(fn).Call(xb, jen.Id("wptr").Call(l.id("W")), at("a", l.id("Y")), jen.Id("t"), s0, s1,
					jen.Id("b").Op("*").Add(l.id("GU")), jen.Min(jen.Parens(jen.Id("b").Op("+").Lit(1)).Op("*").Add(l.id("GU")), jen.Lit(cols16(l.YD.C)))))
		}
	case lower.Mean:
		s.once = jen.Id(fn).Call(x, at("a", l.id("Y")))
	case lower.MaxPool, lower.AvgPool, lower.WindowPool, lower.Slice, lower.Shuffle, lower.ChannelMax:
		s.call = func(s0, s1, _, _ jen.Code) jen.Code {
			return jen.Id(fn).Call(x, at("a", l.id("Y")), s0, s1)
		}
	default:
		return nil, fmt.Errorf("layer %d (%s): no assembly for kind %s", i, l.Node.Name, l.Kind)
	}
	return s, nil
}

// asmSteps are every layer's steps on tier tierName (asmStep).
func (g *gen) asmSteps(tierName string) ([]*step, error) {
	steps := make([]*step, len(g.layers))
	for i := range g.layers {
		var err error
		if steps[i], err = g.asmStep(i, tierName); err != nil {
			return nil, err
		}
	}
	return steps, nil
}

// asmForward writes the forward function of one assembly tier from its steps:
// every layer's chunks claimed from the team (steps 2i and 2i+1 are its
// padding and itself).
func (g *gen) asmForward(f *jen.File, tierName string, steps []*step) {
	f.Line()
	f.Comment(fmt.Sprintf("%s runs one image on the %s kernels of kernels_amd64.s (portable ones where it has none).", forwardName(tierName), tierName))
	f.Func().Id(forwardName(tierName)).Params(forwardParams()...).BlockFunc(func(grp *jen.Group) {
		grp.List(jen.Id("a"), jen.Id("pd"), jen.Id("t")).Op(":=").List(jen.Id("sh").Dot("arena"), jen.Id("sh").Dot("pad"), jen.Op("&").Id("own").Dot("scratch").Index(jen.Lit(0)))
		grp.Var().Id("nc").Int()
		grp.List(jen.Id("_"), jen.Id("_"), jen.Id("_"), jen.Id("_"), jen.Id("_")).Op("=").List(jen.Id("a"), jen.Id("pd"), jen.Id("t"), jen.Id("nc"), jen.Id("nw"))
		// once runs body as a step of one chunk.
		once := func(step int, body ...jen.Code) {
			grp.If(jen.Id("team").Dot("Claim").Call(jen.Lit(step), jen.Lit(0)).Op("==").Lit(0)).Block(append(body, jen.Id("team").Dot("Done").Call(jen.Lit(step)))...)
			grp.Id("team").Dot("Wait").Call(jen.Lit(step), jen.Lit(1))
		}
		for i, l := range g.layers {
			s := steps[i]
			if s == nil {
				why := "every input was written in place"
				if l.View {
					why = "a view, read in place"
				}
				grp.Comment(fmt.Sprintf("%s: %s: %s", l.ID, text(l.summary()), why))
				grp.Id("r").Dot("lap").Call(jen.Id("w"), jen.Lit(i))
				continue
			}
			grp.Comment(fmt.Sprintf("%s: %s", l.ID, text(l.summary())))
			if s.pad != nil {
				once(2*i, s.pad)
			}
			if s.once != nil {
				once(2*i+1, s.once)
			} else {
				// The layer's units x cols in chunks claimed from team.
				step := 2*i + 1
				grp.Id("nc").Op("=").Id("team").Dot("Chunks").Call(jen.Lit(max(s.units, s.cols)))
				body := []jen.Code{
					jen.List(jen.Id("s0"), jen.Id("s1"), jen.Id("n0"), jen.Id("n1")).Op(":=").Qual(rt, "SplitWork").Call(jen.Lit(s.units), jen.Lit(s.cols), jen.Id("c"), jen.Id("nc")),
					jen.If(jen.Id("s0").Op("<").Id("s1").Op("&&").Id("n0").Op("<").Id("n1")).Block(s.call(jen.Id("s0"), jen.Id("s1"), jen.Id("n0"), jen.Id("n1"))),
					jen.Id("team").Dot("Done").Call(jen.Lit(step)),
				}
				grp.For(jen.Id("c").Op(":=").Id("team").Dot("Claim").Call(jen.Lit(step), jen.Lit(0)), jen.Id("c").Op("<").Id("nc"), jen.Id("c").Op("=").Id("team").Dot("Claim").Call(jen.Lit(step), jen.Id("c").Op("+").Lit(1))).Block(body...)
				grp.Id("team").Dot("Wait").Call(jen.Lit(step), jen.Id("nc"))
			}
			grp.Id("r").Dot("lap").Call(jen.Id("w"), jen.Lit(i))
		}
	})
}
