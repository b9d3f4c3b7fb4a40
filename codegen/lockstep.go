package codegen

import (
	"fmt"
	"strings"

	"github.com/dave/jennifer/jen"
	"github.com/ptqc/ptqc/lower"
)

// Defaults of Options.Lockstep and Options.PieceBytes.
const (
	defaultLockstep   = 4
	defaultPieceBytes = 128 << 10
)

// lockstepWeights is the least weight bytes a tail needs for the lockstep,
// well above the L2 of the CPUs it runs on (2 MB a core on Sapphire Rapids,
// 1 MB on Zen 4 and 5): ResNet-50's and ResNeXt-50's (16-22 MB) gained 3-10%
// at batch 16, MobileNetV3-Large's and EfficientNet-B0's (4.0-4.3 MB) and
// GoogLeNet's lost 2-5% (docs/speed.md).
const lockstepWeights = 8 << 20

// lockstep is the plan of the lockstep functions: a batch's images run k at
// a time on one worker, image by image up to layer from, then every layer
// for all k before the next, so that a layer's weights, read from memory for
// the first image, come from cache for the others. k is 1 without them;
// weights is the tail's weight bytes.
type lockstep struct{ k, from, weights int }

// lockstepPlan starts the lockstep after the last dense layer whose
// activations (input and output, one image) outweigh its weights: before it,
// an image's activations stay in cache from one layer to the next; after it,
// a layer's weights are what streams from memory, once per image (ResNet-50's
// layer4 reads 15 MB of weights for 100 KB of activations). A lockstep that
// Options.Lockstep asks for runs every layer so, whatever the weights.
func (g *gen) lockstepPlan() lockstep {
	k := g.opts.Lockstep
	if k == 0 {
		k = defaultLockstep
	}
	if g.asm == nil || k < 2 {
		return lockstep{k: 1}
	}
	from, weights := 0, 0
	for i, l := range g.layers {
		if !denseKind(l.Kind) || l.View || l.DirectAll() {
			continue
		}
		if g.opts.Lockstep == 0 && len(l.W) < l.X.Elems()+l.Y.Elems() {
			from, weights = i+1, 0
			continue
		}
		weights += len(l.W)
	}
	if g.opts.Lockstep == 0 && weights < lockstepWeights {
		return lockstep{k: 1}
	}
	return lockstep{k: k, from: from, weights: weights}
}

func denseKind(k lower.Kind) bool {
	return k == lower.Pointwise || k == lower.Dense || k == lower.Grouped
}

// piece is the column units of a piece of a dense layer with cols column
// units and wb bytes of weights in the lockstep (0: the layer in one piece):
// at most Options.PieceBytes of weights, in whole groups of four column units
// (the dense kernels' widest block) where the layer has 8 or more.
func (g *gen) piece(wb, cols int) int {
	budget := g.opts.PieceBytes
	if budget == 0 {
		budget = defaultPieceBytes
	}
	n := (wb + budget - 1) / budget
	if n < 2 || cols < 2 {
		return 0
	}
	size := (cols + n - 1) / n
	if cols >= 8 {
		size = (size + 3) / 4 * 4
	}
	if size >= cols {
		return 0
	}
	return size
}

func lockstepName(tier string) string { return "lockstep" + strings.ToUpper(tier) }

// asmLockstep writes tier tierName's lockstep function from its steps:
// len(sh) images (in and out hold them one after the other), image j in
// sh[j]'s arena and pad buffer, on one goroutine.
func (g *gen) asmLockstep(f *jen.File, tierName string, steps []*step) {
	p := g.plan
	s := func() *jen.Statement { return jen.Id("s") }
	// bind declares the names a step uses for image j (sh[j] is s).
	bind := func(a, pd, in, out bool) []jen.Code {
		var names, vals []jen.Code
		add := func(use bool, name string, val jen.Code) {
			if use {
				names, vals = append(names, jen.Id(name)), append(vals, val)
			}
		}
		add(a, "a", s().Dot("arena"))
		add(pd, "pd", s().Dot("pad"))
		add(in, "in", jen.Id("in").Index(jen.Id("j").Op("*").Id("inputLen"), jen.Empty()).Index(jen.Empty(), jen.Id("inputLen")))
		add(out, "out", jen.Id("out").Index(jen.Id("j").Op("*").Id("NumClasses"), jen.Empty()).Index(jen.Empty(), jen.Id("NumClasses")))
		return []jen.Code{jen.List(names...).Op(":=").List(vals...)}
	}
	// each ranges over the images; j only when the body needs it.
	each := func(j bool, body []jen.Code) jen.Code {
		idx := jen.Id("_")
		if j {
			idx = jen.Id("j")
		}
		return jen.For(jen.List(idx, s()).Op(":=").Range().Id("sh")).Block(body...)
	}
	// whole is step st over all its units and columns.
	whole := func(st *step) []jen.Code {
		var c []jen.Code
		if st.pad != nil {
			c = append(c, st.pad)
		}
		if st.once != nil {
			return append(c, st.once)
		}
		return append(c, st.call(jen.Lit(0), jen.Lit(st.units), jen.Lit(0), jen.Lit(st.cols)))
	}
	first := g.layers[p.from]
	f.Line()
	f.Comment(lines(
		fmt.Sprintf("%s runs len(sh) images (in and out hold them in turn) on the %s kernels,", lockstepName(tierName), tierName),
		"image j in sh[j]'s arena and pad buffer: image by image up to "+first.ID+", then each",
		"layer for every image before the next, a dense layer's columns in pieces, so that",
		fmt.Sprintf("its weights (%.1f MB from %s on) come from cache after the first image.", float64(p.weights)/(1<<20), first.ID),
	))
	f.Func().Id(lockstepName(tierName)).Params(jen.Id("r").Op("*").Id("runner"), jen.Id("sh").Index().Op("*").Id("worker"), jen.List(jen.Id("out"), jen.Id("in")).Index().Float32()).BlockFunc(func(grp *jen.Group) {
		grp.Id("t").Op(":=").Op("&").Id("sh").Index(jen.Lit(0)).Dot("scratch").Index(jen.Lit(0))
		grp.Id("_").Op("=").Id("t")
		// note is layer i's comment.
		note := func(i int) jen.Code {
			l := g.layers[i]
			if steps[i] == nil {
				return jen.Comment(fmt.Sprintf("%s: %s: moves nothing", l.ID, text(l.summary())))
			}
			return jen.Comment(fmt.Sprintf("%s: %s", l.ID, text(l.summary())))
		}
		if p.from > 0 {
			body := append(bind(true, true, true, true), jen.List(jen.Id("_"), jen.Id("_"), jen.Id("_"), jen.Id("_")).Op("=").List(jen.Id("a"), jen.Id("pd"), jen.Id("in"), jen.Id("out")))
			for i := range p.from {
				body = append(body, note(i))
				if steps[i] != nil {
					body = append(body, whole(steps[i])...)
				}
			}
			grp.Add(each(true, body))
		}
		for i := p.from; i < len(g.layers); i++ {
			l, st := g.layers[i], steps[i]
			grp.Add(note(i))
			if st == nil {
				continue
			}
			a, pd, in, out := uses(l)
			size := 0
			if st.dense {
				size = g.piece(len(l.W), st.cols)
			}
			if size == 0 {
				grp.Add(each(in || out, append(bind(a, pd, in, out), whole(st)...)))
				continue
			}
			if st.pad != nil {
				grp.Add(each(false, append(bind(true, true, false, false), st.pad)))
			}
			n0, n1 := jen.Id("n0"), jen.Id("n1")
			grp.For(n0.Clone().Op(":=").Lit(0), n0.Clone().Op("<").Lit(st.cols), n0.Clone().Op("+=").Lit(size)).Block(
				n1.Clone().Op(":=").Min(n0.Clone().Op("+").Lit(size), jen.Lit(st.cols)),
				each(false, append(bind(true, l.PadIn, false, false), st.call(jen.Lit(0), jen.Lit(st.units), n0, n1))),
			)
		}
	})
}
