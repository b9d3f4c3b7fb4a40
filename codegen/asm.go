package codegen

import (
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"
	"github.com/ptqc/ptqc/runtime"
)

func (g *gen) scratchBytes() int {
	n := 0
	if g.asm != nil {
		for _, l := range g.asm.Layers {
			n = max(n, l.Scratch)
		}
	}
	return n
}

// padBytes is the pad buffer a worker needs for the assembly.
func (g *gen) padBytes() int {
	if g.asm == nil {
		return 0
	}
	return g.lm.PadBytes
}

// glue writes the Model and what runs it: tiers, workers, Forward.
func (g *gen) glue(f *jen.File) {
	pkg := g.opts.Package
	m := func() *jen.Statement { return jen.Id("m") }
	r := func() *jen.Statement { return jen.Id("r") }
	f.Line()
	f.Comment(lines(
		"forwardFunc runs one image through the layers on one tier's kernels, in sh's",
		"arena with own's scratch: worker w of nw takes chunks of every layer from team",
		"(steps 2i and 2i+1 are layer i's padding and the layer; nil: one worker alone).",
	))
	f.Type().Id("forwardFunc").Func().Params(forwardParams()...)
	f.Line()
	f.Comment(lines(
		"lockstepFunc runs len(sh) images (in and out hold them in turn) on one goroutine,",
		"image j in sh[j]'s arena, every layer of a weight-bound tail for all of them",
		"before the next (nil: the tier has none).",
	))
	f.Type().Id("lockstepFunc").Func().Params(jen.Id("r").Op("*").Id("runner"), jen.Id("sh").Index().Op("*").Id("worker"), jen.List(jen.Id("out"), jen.Id("in")).Index().Float32())
	f.Line()
	f.Comment("tier is a set of kernels: the portable Go ones or an instruction set's assembly.")
	f.Type().Id("tier").Struct(jen.Id("name").String(), jen.Id("forward").Id("forwardFunc"), jen.Id("lockstep").Id("lockstepFunc"),
		jen.Id("wide").Bool().Comment("call the _wide kernels where a layer has them (runtime.WideZMM; set by setup)"))
	f.Line()
	f.Comment("tiers are the package's kernel tiers, best last; New picks one (runtime.SelectTier).")
	f.Var().Id("tiers").Op("=").Append(jen.Index().Id("tier").Values(jen.Values(jen.Dict{jen.Id("name"): jen.Qual(rt, "TierGeneric"), jen.Id("forward"): jen.Id("forwardGeneric")})), jen.Id("asmTiers").Op("..."))
	f.Line()
	f.Comment("lockstep is how many images of a batch a worker runs together on a tier with a lockstepFunc.")
	f.Const().Id("lockstep").Op("=").Lit(g.plan.k)
	f.Line()
	f.Comment("worker is the memory of one goroutine of a runner: the activation arena and the assembly's room.")
	f.Type().Id("worker").Struct(jen.List(jen.Id("arena"), jen.Id("scratch"), jen.Id("pad")).Index().Byte())
	f.Line()
	f.Comment("newWorker allocates a worker's memory.")
	f.Func().Id("newWorker").Params().Op("*").Id("worker").Block(
		jen.Return(jen.Op("&").Id("worker").Values(jen.Dict{
			jen.Id("arena"):   jen.Make(jen.Index().Byte(), jen.Id("arenaBytes").Op("+").Id("slack")),
			jen.Id("scratch"): jen.Make(jen.Index().Byte(), jen.Id("scratchBytes").Op("+").Id("slack")),
			jen.Id("pad"):     jen.Make(jen.Index().Byte(), jen.Id("padBytes").Op("+").Id("slack")),
		})),
	)
	f.Line()
	model := []string{
		"Model runs the network. It is safe for concurrent use: every Forward, Classify",
		"or LayerTimes call takes a runner (PTQC_THREADS workers and their memory) of its",
		"own from the Model's pool, which makes one when none is idle and keeps it for",
		"the next call, so concurrent calls run side by side and allocate nothing once",
		"the pool has a runner per call running at once.",
	}
	if g.plan.k > 1 {
		model[4] = "the pool has a runner per call running at once (a runner's first batch of"
		model = append(model, "several images per worker also allocates: their lockstep memory).")
	}
	f.Comment(lines(append(model,
		"The zero Model is ready to use; New loads the weights and makes a runner up",
		"front. A Model must not be copied after first use.",
	)...))
	f.Type().Id("Model").Struct(
		jen.Id("once").Qual("sync", "Once"),
		jen.Id("err").Error().Comment("from setup: a bad PTQC_ISA, mixed builds; every call returns it"),
		jen.Id("tier").Id("tier"),
		jen.Id("mu").Qual("sync", "Mutex"),
		jen.Id("idle").Index().Op("*").Id("runner").Comment("guarded by mu"),
	)
	f.Line()
	f.Comment("runner runs one call at a time: a team of workers with their memory.")
	f.Type().Id("runner").Struct(
		jen.Id("tier").Id("tier"),
		jen.Id("team").Op("*").Qual(rt, "Team"),
		jen.Id("ws").Index().Op("*").Id("worker"),
		jen.Id("groups").Index().Index().Op("*").Id("worker").Comment("worker w's lockstep images' memory, ws[w] first (see group)"),
		jen.List(jen.Id("batchFn"), jen.Id("splitFn")).Func().Params(jen.Int()).Comment("r.batch, r.split, bound once"),
		jen.List(jen.Id("out"), jen.Id("in")).Index().Float32().Comment("the images the workers are running"),
		jen.Id("n").Int(),
		jen.Id("prof").Op("*").Id("profile"),
		jen.Id("img").Index().Float32().Comment("Classify's input"),
		jen.Id("logits").Index(jen.Id("NumClasses")).Float32(),
	)
	f.Line()
	newDoc := []string{
		"New returns a Model with its weights loaded, its kernels chosen and one runner",
		"allocated: the best tier this CPU runs, or the one the environment variable",
		"PTQC_ISA names (" + strings.Join(runtime.TierNames(), ", ") + "); an error there, or in the",
		"package's files, is returned by Tier and Forward. A runner uses PTQC_THREADS goroutines",
		"(default GOMAXPROCS).",
	}
	if g.hasWide() {
		newDoc = append(newDoc, "On the zmm tiers its layers of 9 to 31 output channels run 512-bit kernels",
			"where runtime.WideZMM says so (AMD Zen 5 and later; PTQC_WIDE=1 or 0 decides instead).")
	}
	f.Comment(lines(newDoc...))
	f.Func().Id("New").Params().Op("*").Id("Model").Block(
		m().Op(":=").Op("&").Id("Model").Values(),
		jen.If(m().Dot("init").Call().Op("==").Nil()).Block(m().Dot("put").Call(m().Dot("newRunner").Call())),
		jen.Return(m()),
	)
	f.Line()
	f.Comment("init sets the Model up on its first use and returns setup's error.")
	f.Func().Params(m().Op("*").Id("Model")).Id("init").Params().Error().Block(
		m().Dot("once").Dot("Do").Call(m().Dot("setup")),
		jen.Return(m().Dot("err")),
	)
	f.Line()
	f.Comment("setup loads the weights once per process and picks the tier.")
	f.Func().Params(m().Op("*").Id("Model")).Id("setup").Params().Block(
		jen.Id("loadOnce").Dot("Do").Call(jen.Id("load")),
		jen.If(jen.Id("loadErr").Op("!=").Nil()).Block(
			m().Dot("err").Op("=").Id("loadErr"),
			jen.Return(),
		),
		jen.Id("names").Op(":=").Make(jen.Index().String(), jen.Len(jen.Id("tiers"))),
		jen.For(jen.List(jen.Id("i"), jen.Id("t")).Op(":=").Range().Id("tiers")).Block(jen.Id("names").Index(jen.Id("i")).Op("=").Id("t").Dot("name")),
		jen.List(jen.Id("name"), jen.Err()).Op(":=").Qual(rt, "SelectTier").Call(jen.Id("names")),
		jen.If(jen.Err().Op("!=").Nil()).Block(
			m().Dot("err").Op("=").Qual("fmt", "Errorf").Call(jen.Lit(pkg+": %w"), jen.Err()),
			jen.Return(),
		),
		jen.For(jen.List(jen.Id("_"), jen.Id("t")).Op(":=").Range().Id("tiers")).Block(
			jen.If(jen.Id("t").Dot("name").Op("==").Id("name")).Block(m().Dot("tier").Op("=").Id("t")),
		),
		m().Dot("tier").Dot("wide").Op("=").Qual(rt, "WideZMM").Call(),
	)
	f.Line()
	f.Comment("get takes an idle runner, or makes one.")
	f.Func().Params(m().Op("*").Id("Model")).Id("get").Params().Op("*").Id("runner").Block(
		m().Dot("mu").Dot("Lock").Call(),
		jen.If(jen.Id("n").Op(":=").Len(m().Dot("idle")), jen.Id("n").Op(">").Lit(0)).Block(
			r().Op(":=").Add(m()).Dot("idle").Index(jen.Id("n").Op("-").Lit(1)),
			m().Dot("idle").Op("=").Add(m()).Dot("idle").Index(jen.Empty(), jen.Id("n").Op("-").Lit(1)),
			m().Dot("mu").Dot("Unlock").Call(),
			jen.Return(r()),
		),
		m().Dot("mu").Dot("Unlock").Call(),
		jen.Return(m().Dot("newRunner").Call()),
	)
	f.Line()
	f.Comment("put makes r idle again.")
	f.Func().Params(m().Op("*").Id("Model")).Id("put").Params(r().Op("*").Id("runner")).Block(
		m().Dot("mu").Dot("Lock").Call(),
		m().Dot("idle").Op("=").Append(m().Dot("idle"), r()),
		m().Dot("mu").Dot("Unlock").Call(),
	)
	f.Line()
	f.Comment("newRunner allocates a runner: a team of PTQC_THREADS workers and their memory.")
	f.Func().Params(m().Op("*").Id("Model")).Id("newRunner").Params().Op("*").Id("runner").Block(
		jen.Id("nw").Op(":=").Qual(rt, "Threads").Call(),
		r().Op(":=").Op("&").Id("runner").Values(jen.Dict{
			jen.Id("tier"): m().Dot("tier"),
			jen.Id("team"): jen.Qual(rt, "NewTeam").Call(jen.Id("nw"), jen.Lit(2).Op("*").Id("numLayers")),
		}),
		jen.For(jen.Range().Id("nw")).Block(
			jen.Id("wk").Op(":=").Id("newWorker").Call(),
			r().Dot("ws").Op("=").Append(r().Dot("ws"), jen.Id("wk")),
			r().Dot("groups").Op("=").Append(r().Dot("groups"), jen.Index().Op("*").Id("worker").Values(jen.Id("wk"))),
		),
		jen.List(r().Dot("batchFn"), r().Dot("splitFn")).Op("=").List(r().Dot("batch"), r().Dot("split")),
		jen.Return(r()),
	)
	f.Line()
	f.Comment("Tier is the kernel tier the Model runs (" + quotedOr(runtime.TierNames()) + "), or New's error.")
	f.Func().Params(m().Op("*").Id("Model")).Id("Tier").Params().Params(jen.String(), jen.Error()).Block(
		jen.If(m().Op("==").Nil()).Block(jen.Return(jen.Lit(""), jen.Qual("errors", "New").Call(jen.Lit(pkg+": Tier of a nil Model")))),
		jen.If(jen.Err().Op(":=").Add(m()).Dot("init").Call(), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Lit(""), jen.Err())),
		jen.Return(m().Dot("tier").Dot("name"), jen.Nil()),
	)
	img := func(s string, i jen.Code, n string) jen.Code {
		return jen.Id(s).Index(jen.Add(i).Op("*").Id(n), jen.Empty()).Index(jen.Empty(), jen.Id(n))
	}
	f.Line()
	f.Comment(lines(
		"Forward runs len(in) / (InputChannels*InputHeight*InputWidth) images, each NCHW",
		"float32 normalized as Transform does, and writes NumClasses dequantized logits",
		"per image to out. Several images run on the workers side by side; a single",
		"image has every layer split across them. It allocates nothing once the Model",
		"has an idle runner (see Model).",
	))
	f.Func().Params(m().Op("*").Id("Model")).Id("Forward").Params(jen.List(jen.Id("out"), jen.Id("in")).Index().Float32()).Error().Block(
		jen.If(m().Op("==").Nil()).Block(jen.Return(jen.Qual("errors", "New").Call(jen.Lit(pkg+": Forward on a nil Model")))),
		jen.If(jen.Len(jen.Id("in")).Op("==").Lit(0).Op("||").Len(jen.Id("in")).Op("%").Id("inputLen").Op("!=").Lit(0)).Block(
			jen.Return(jen.Qual("fmt", "Errorf").Call(jen.Lit(pkg+": input has %d values, want a positive multiple of %d (%dx%dx%d per image)"),
				jen.Len(jen.Id("in")), jen.Id("inputLen"), jen.Id("InputChannels"), jen.Id("InputHeight"), jen.Id("InputWidth"))),
		),
		jen.Id("n").Op(":=").Len(jen.Id("in")).Op("/").Id("inputLen"),
		jen.If(jen.Len(jen.Id("out")).Op("<").Id("n").Op("*").Id("NumClasses")).Block(
			jen.Return(jen.Qual("fmt", "Errorf").Call(jen.Lit(pkg+": output has room for %d values, want %d (%d images x %d classes)"),
				jen.Len(jen.Id("out")), jen.Id("n").Op("*").Id("NumClasses"), jen.Id("n"), jen.Id("NumClasses"))),
		),
		jen.If(jen.Err().Op(":=").Add(m()).Dot("init").Call(), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Err())),
		r().Op(":=").Add(m()).Dot("get").Call(),
		r().Dot("run").Call(jen.Id("out"), jen.Id("in"), jen.Id("n")),
		m().Dot("put").Call(r()),
		jen.Return(jen.Nil()),
	)
	f.Line()
	f.Comment("run runs the n images of in on r's workers and writes their logits to out.")
	f.Func().Params(r().Op("*").Id("runner")).Id("run").Params(jen.List(jen.Id("out"), jen.Id("in")).Index().Float32(), jen.Id("n").Int()).Block(
		jen.Id("nw").Op(":=").Add(r()).Dot("team").Dot("Workers").Call(),
		jen.Switch().Block(
			jen.Case(jen.Id("nw").Op("==").Lit(1)).Block(
				jen.List(r().Dot("out"), r().Dot("in"), r().Dot("n")).Op("=").List(jen.Id("out"), jen.Id("in"), jen.Id("n")),
				r().Dot("batch").Call(jen.Lit(0)),
			),
			jen.Case(jen.Id("n").Op(">=").Id("nw").Op("||").Add(r()).Dot("tier").Dot("name").Op("==").Qual(rt, "TierGeneric")).Block(
				jen.Comment("Images side by side, each in its own worker's arena."),
				jen.List(r().Dot("out"), r().Dot("in"), r().Dot("n")).Op("=").List(jen.Id("out"), jen.Id("in"), jen.Id("n")),
				r().Dot("team").Dot("Run").Call(r().Dot("batchFn")),
			),
			jen.Default().Block(
				jen.Comment("One image at a time, every layer split across the workers."),
				jen.For(jen.Id("i").Op(":=").Range().Id("n")).Block(
					jen.List(r().Dot("out"), r().Dot("in")).Op("=").List(img("out", jen.Id("i"), "NumClasses"), img("in", jen.Id("i"), "inputLen")),
					r().Dot("team").Dot("Run").Call(r().Dot("splitFn")),
				),
			),
		),
		jen.List(r().Dot("out"), r().Dot("in")).Op("=").List(jen.Nil(), jen.Nil()),
	)
	f.Line()
	f.Comment(lines(
		"batch runs worker w's share of r.n images in its own arena: on a tier with a",
		"lockstepFunc, groups of k images (at most lockstep, and few enough that every",
		"worker gets a group), then the rest one at a time.",
	))
	f.Func().Params(r().Op("*").Id("runner")).Id("batch").Params(jen.Id("w").Int()).Block(
		jen.Id("nw").Op(":=").Add(r()).Dot("team").Dot("Workers").Call(),
		jen.List(jen.Id("k"), jen.Id("ng")).Op(":=").List(jen.Min(jen.Id("lockstep"), r().Dot("n").Op("/").Id("nw")), jen.Lit(0)),
		jen.If(r().Dot("tier").Dot("lockstep").Op("!=").Nil().Op("&&").Id("k").Op(">").Lit(1)).Block(
			jen.Id("ng").Op("=").Add(r()).Dot("n").Op("/").Id("k"),
		),
		jen.For(jen.Id("u").Op(":=").Id("w"), jen.Id("u").Op("<").Id("ng").Op("+").Add(r()).Dot("n").Op("-").Id("ng").Op("*").Id("k"), jen.Id("u").Op("+=").Id("nw")).Block(
			jen.If(jen.Id("u").Op("<").Id("ng")).Block(
				r().Dot("tier").Dot("lockstep").Call(r(), r().Dot("group").Call(jen.Id("w"), jen.Id("k")),
					jen.Id("r.out").Index(jen.Id("u").Op("*").Id("k").Op("*").Id("NumClasses"), jen.Empty()).Index(jen.Empty(), jen.Id("k").Op("*").Id("NumClasses")),
					jen.Id("r.in").Index(jen.Id("u").Op("*").Id("k").Op("*").Id("inputLen"), jen.Empty()).Index(jen.Empty(), jen.Id("k").Op("*").Id("inputLen"))),
				jen.Continue(),
			),
			jen.Id("i").Op(":=").Id("u").Op("-").Id("ng").Op("+").Id("ng").Op("*").Id("k"),
			r().Dot("tier").Dot("forward").Call(r(), r().Dot("ws").Index(jen.Id("w")), r().Dot("ws").Index(jen.Id("w")), jen.Lit(0), jen.Lit(1), jen.Nil(),
				img("r.out", jen.Id("i"), "NumClasses"), img("r.in", jen.Id("i"), "inputLen")),
		),
	)
	f.Line()
	f.Comment(lines(
		"group is worker w's memory for k images in lockstep, grown on its first use: only",
		"batches of several images per worker need it.",
	))
	f.Func().Params(r().Op("*").Id("runner")).Id("group").Params(jen.List(jen.Id("w"), jen.Id("k")).Int()).Index().Op("*").Id("worker").Block(
		jen.For(jen.Len(r().Dot("groups").Index(jen.Id("w"))).Op("<").Id("k")).Block(
			r().Dot("groups").Index(jen.Id("w")).Op("=").Append(r().Dot("groups").Index(jen.Id("w")), jen.Id("newWorker").Call()),
		),
		jen.Return(r().Dot("groups").Index(jen.Id("w")).Index(jen.Empty(), jen.Id("k"))),
	)
	f.Line()
	f.Comment("split runs worker w's share of every layer of one image, in worker 0's arena.")
	f.Func().Params(r().Op("*").Id("runner")).Id("split").Params(jen.Id("w").Int()).Block(
		r().Dot("tier").Dot("forward").Call(r(), r().Dot("ws").Index(jen.Lit(0)), r().Dot("ws").Index(jen.Id("w")), jen.Id("w"), r().Dot("team").Dot("Workers").Call(), r().Dot("team"), r().Dot("out"), r().Dot("in")),
	)

	// Profiling.
	f.Line()
	f.Const().Id("numLayers").Op("=").Lit(len(g.layers))
	f.Line()
	f.Comment("layerNames and layerKinds describe the layers for LayerTimes.")
	f.Var().Defs(
		jen.Id("layerNames").Op("=").Index(jen.Id("numLayers")).String().ValuesFunc(func(grp *jen.Group) {
			for _, l := range g.layers {
				grp.Lit(l.Node.Name)
			}
		}),
		jen.Id("layerKinds").Op("=").Index(jen.Id("numLayers")).String().ValuesFunc(func(grp *jen.Group) {
			for _, l := range g.layers {
				grp.Lit(l.Kind.String())
			}
		}),
	)
	f.Line()
	f.Comment("profile accumulates the wall time of every layer for LayerTimes.")
	f.Type().Id("profile").Struct(
		jen.Id("last").Qual("time", "Time"),
		jen.Id("t").Index(jen.Id("numLayers")).Qual("time", "Duration"),
	)
	f.Line()
	f.Comment("lap ends layer i's time when profiling (worker 0 keeps the clock).")
	f.Func().Params(r().Op("*").Id("runner")).Id("lap").Params(jen.List(jen.Id("w"), jen.Id("i")).Int()).Block(
		jen.If(jen.Id("w").Op("!=").Lit(0).Op("||").Add(r()).Dot("prof").Op("==").Nil()).Block(jen.Return()),
		jen.Id("now").Op(":=").Qual("time", "Now").Call(),
		r().Dot("prof").Dot("t").Index(jen.Id("i")).Op("+=").Id("now").Dot("Sub").Call(r().Dot("prof").Dot("last")),
		r().Dot("prof").Dot("last").Op("=").Id("now"),
	)
	f.Line()
	f.Comment(lines(
		"LayerTimes runs the images of in one at a time, reps times, as Forward runs a",
		"single image, and returns every layer's mean wall time per image: where the",
		"time goes.",
	))
	f.Func().Params(m().Op("*").Id("Model")).Id("LayerTimes").Params(jen.Id("in").Index().Float32(), jen.Id("reps").Int()).Params(jen.Index().Qual(rt, "LayerTime"), jen.Error()).Block(
		jen.If(m().Op("==").Nil().Op("||").Len(jen.Id("in")).Op("==").Lit(0).Op("||").Len(jen.Id("in")).Op("%").Id("inputLen").Op("!=").Lit(0).Op("||").Id("reps").Op("<").Lit(1)).Block(
			jen.Return(jen.Nil(), jen.Qual("fmt", "Errorf").Call(jen.Lit(pkg+": LayerTimes of %d values, %d times"), jen.Len(jen.Id("in")), jen.Id("reps"))),
		),
		jen.If(jen.Err().Op(":=").Add(m()).Dot("init").Call(), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err())),
		r().Op(":=").Add(m()).Dot("get").Call(),
		jen.Defer().Add(m()).Dot("put").Call(r()),
		jen.Id("p").Op(":=").Op("&").Id("profile").Values(),
		r().Dot("prof").Op("=").Id("p"),
		jen.Defer().Func().Params().Block(r().Dot("prof").Op("=").Nil()).Call(),
		jen.Id("out").Op(":=").Make(jen.Index().Float32(), jen.Id("NumClasses")),
		jen.Id("n").Op(":=").Len(jen.Id("in")).Op("/").Id("inputLen"),
		jen.For(jen.Range().Id("reps")).Block(
			jen.For(jen.Id("i").Op(":=").Range().Id("n")).Block(
				jen.Id("p").Dot("last").Op("=").Qual("time", "Now").Call(),
				r().Dot("run").Call(jen.Id("out"), img("in", jen.Id("i"), "inputLen"), jen.Lit(1)),
			),
		),
		jen.Id("ts").Op(":=").Make(jen.Index().Qual(rt, "LayerTime"), jen.Id("numLayers")),
		jen.For(jen.Id("i").Op(":=").Range().Id("ts")).Block(
			jen.Id("ts").Index(jen.Id("i")).Op("=").Qual(rt, "LayerTime").Values(jen.Dict{
				jen.Id("Layer"): jen.Id("layerNames").Index(jen.Id("i")),
				jen.Id("Kind"):  jen.Id("layerKinds").Index(jen.Id("i")),
				jen.Id("Time"):  jen.Id("p").Dot("t").Index(jen.Id("i")).Op("/").Qual("time", "Duration").Call(jen.Id("reps").Op("*").Id("n")),
			}),
		),
		jen.Return(jen.Id("ts"), jen.Nil()),
	)
}

// forwardParams are a forwardFunc's parameters.
func forwardParams() []jen.Code {
	return []jen.Code{jen.Id("r").Op("*").Id("runner"), jen.List(jen.Id("sh"), jen.Id("own")).Op("*").Id("worker"), jen.List(jen.Id("w"), jen.Id("nw")).Int(), jen.Id("team").Op("*").Qual(rt, "Team"), jen.List(jen.Id("out"), jen.Id("in")).Index().Float32()}
}

// asmFiles are the assembly's files plus forward_amd64.go (a forward function
// per tier calling the kernels) and forward_other.go (no assembly elsewhere).
func (g *gen) asmFiles() (map[string][]byte, error) {
	f := g.file()
	f.ImportName(rt, "runtime")
	buildConst(f, "forwardBuild", "forwardBuild is the build this file comes from (see buildID).")
	f.Line()
	f.Comment("asmBuilds are the builds of the files that make up the assembly tiers.")
	f.Func().Id("asmBuilds").Params().Index().Id("fileBuild").Block(jen.Return(jen.Index().Id("fileBuild").Values(
		jen.Values(jen.Lit("forward_amd64.go"), jen.Id("forwardBuild")),
		jen.Values(jen.Lit("kernels_amd64.go"), jen.Id("kernelsAmd64Build")),
		jen.Values(jen.Lit("kernels_amd64.s"), jen.Id("asmBuild").Call()),
	)))
	f.Line()
	f.Comment("asmTiers are the tiers of kernels_amd64.s.")
	f.Var().Id("asmTiers").Op("=").Index().Id("tier").ValuesFunc(func(grp *jen.Group) {
		for _, t := range g.asm.Tiers {
			d := jen.Dict{jen.Id("name"): jen.Lit(t), jen.Id("forward"): jen.Id(forwardName(t))}
			if g.plan.k > 1 {
				d[jen.Id("lockstep")] = jen.Id(lockstepName(t))
			}
			grp.Values(d)
		}
	})
	f.Line()
	f.Comment("wptr is the address of weights[off], as the assembly reads it.")
	f.Func().Id("wptr").Params(jen.Id("off").Int()).Op("*").Byte().Block(
		jen.Return(jen.Parens(jen.Op("*").Byte()).Call(jen.Qual("unsafe", "Pointer").Call(jen.Op("&").Id("weights").Index(jen.Id("off"))))),
	)
	for _, t := range g.asm.Tiers {
		steps, err := g.asmSteps(t)
		if err != nil {
			return nil, err
		}
		g.asmForward(f, t, steps)
		if g.plan.k > 1 {
			g.asmLockstep(f, t, steps)
		}
	}
	b, err := render(f)
	if err != nil {
		return nil, err
	}
	o := g.file()
	o.HeaderComment("//go:build !amd64")
	buildConst(o, "forwardBuild", "forwardBuild is the build this file comes from (see buildID).")
	o.Line()
	o.Comment("asmTiers: the assembly is amd64 only.")
	o.Var().Id("asmTiers").Index().Id("tier")
	o.Line()
	o.Func().Id("asmBuilds").Params().Index().Id("fileBuild").Block(jen.Return(jen.Index().Id("fileBuild").Values(
		jen.Values(jen.Lit("forward_other.go"), jen.Id("forwardBuild")),
	)))
	other, err := render(o)
	if err != nil {
		return nil, err
	}
	// The kernels last: the Go files rendered while they were written.
	asm := g.asm.Files
	if g.opts.AsmFiles != nil {
		if asm, err = g.opts.AsmFiles(); err != nil {
			return nil, err
		}
	}
	files := map[string][]byte{"forward_amd64.go": b, "forward_other.go": other}
	for name, b := range asm {
		files[name] = b
	}
	return files, nil
}

// hasWide says whether a layer has a wide kernel (lower.AsmLayer.Wide).
func (g *gen) hasWide() bool {
	if g.asm == nil {
		return false
	}
	for _, l := range g.asm.Layers {
		if len(l.Wide) > 0 {
			return true
		}
	}
	return false
}

func forwardName(tier string) string { return "forward" + strings.ToUpper(tier) }

// cols16 is the 16-channel column units of c output channels.
func cols16(c int) int { return (c + 15) / 16 }

// tiers are the package's kernel tiers, best last.
func (g *gen) tiers() []string {
	t := []string{runtime.TierGeneric}
	if g.asm != nil {
		t = append(t, g.asm.Tiers...)
	}
	return t
}

// quotedOr is "a", "b" or "c".
func quotedOr(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
