package ir

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/ptqc/ptqc/ir/floatk"
)

// Program is a float graph prepared for fast runs on floatk's kernels: dense
// convolutions of any window as GEMMs of packed weights by the input (1x1)
// or its im2col columns, grouped ones as a GEMM per group, square 3x3
// depthwise ones straight from their input planes where the tier has the
// kernel (floatk.DW3), other depthwise ones (and channel multipliers) as
// tap lists over padded, stride-phase-split planes, Linear as a GEMM by the
// transposed weights; the ops without MACs as steps of their own (runOp),
// an unfused BatchNorm on the reference interpreter's code. Outputs are
// NCHW float32 and the reference's bit for bit (up to the sign of a zero):
// the kernels add the same rounded products in the same order.
//
// A Program copies the weights it packs: compile the graph again after
// changing it. It is safe for concurrent use; it keeps the output buffers
// it recycles (RunTransient, Run without hooks) for its later runs.
type Program struct {
	g     *Graph
	k     *floatk.Kernels
	steps []*step
	uses  []int // readers of each tensor

	pool pool // recycled node outputs

	// Steps before cut run sample by sample in a run of several (see
	// split.go): live are the tensors they leave to the later steps,
	// tailUses the readers each tensor has among those.
	cut      int
	live     []int
	tailUses []int
}

type stepKind int

const (
	stepRef    stepKind = iota // the reference interpreter's runNode
	stepGemm                   // dense conv
	stepDW                     // depthwise conv
	stepLinear                 // linear
	stepAdd
	stepMean
	stepCopy // an op that leaves the values as they are
	stepOp   // an op without MACs (runOp)
)

type step struct {
	kind stepKind
	nd   *Node
	band int       // stepGemm: output channels a band when it runs in bands (bands.go)
	bias []float32 // conv: M values (zeros without bias); linear: nil or Out

	// stepGemm: per group g, out_g[M][N] = a_g[M][K] x cols_g[K][N], where
	// group g's output channels [g*M, (g+1)*M) read its input channels.
	a       []float32 // per group (at g*M*K), row panels of mr rows, each k-major: panel i at i*mr*K
	groups  int
	k, m, n int
	im2col  bool // else 1x1, stride 1, no padding, one group: cols is the input (GemmDot)
	phased  bool // GemmDotPhased, a's steps in floatk.PhaseOrder
	stream  bool // GemmDotStream: an output bound for memory (streamMinOut)
	mr      int  // rows per panel
	// Strided im2col reads each input channel split into SH x SW phase
	// planes of hq x wq (see splitPhases): a run of output columns then
	// reads a contiguous run of one phase.

	// stepDW (and strided im2col: hq, wq)
	direct              bool      // floatk's DW3 from the unpadded plane
	w                   []float32 // OutC x taps
	offs                []int
	hq, wq, oh, ow, dwN int // phase plane size, output size, kernel length
	xLen                int

	// stepLinear
	wt   []float32 // W transposed, columns padded with zeros to outP, in panels of In x NR
	outP int
}

// Compile prepares g for Run on the fastest kernels this CPU has.
func Compile(g *Graph) (*Program, error) { return CompileWith(g, floatk.Best) }

// CompileWith is Compile on the kernel tier kt (one of floatk.Tiers()).
func CompileWith(g *Graph, kt *floatk.Kernels) (*Program, error) {
	uses, err := readers(g)
	if err != nil {
		return nil, err
	}
	p := &Program{g: g, k: kt, uses: uses}
	for _, nd := range g.Nodes {
		st := &step{kind: stepRef, nd: nd}
		switch {
		case nd.Op == OpConv && nd.Conv.Groups > 1 && nd.Conv.Groups == nd.Conv.InC:
			p.dwStep(st)
		case nd.Op == OpConv:
			p.gemmStep(st)
		case nd.Op == OpLinear:
			p.linearStep(st)
		case nd.Op == OpAdd || nd.Op == OpSub:
			st.kind = stepAdd
		case nd.Op == OpMean:
			st.kind = stepMean
		case nd.Op == OpQuant || nd.Op == OpDeQuant || nd.Op == OpDropout || nd.Op == OpIdentity || nd.Op == OpFlatten:
			st.kind = stepCopy
		case hasOp(nd.Op):
			st.kind = stepOp
		}
		p.steps = append(p.steps, st)
	}
	p.markSplit()
	p.markBands()
	return p, nil
}

func convBias(c *Conv) []float32 {
	if c.Bias != nil {
		return append([]float32(nil), c.Bias...)
	}
	return make([]float32, c.OutC)
}

// phasedMinK is the depth from which 1x1 convolutions take GemmDotPhased,
// whose larger tile reads B less often, over GemmDot, which wastes less on
// short sums (measured on MobileNetV2-224's layers, Zen 4: K 16-32 run
// 30-50% faster on GemmDot, K 64 the same, K 384-576 20% faster phased).
// A tier's PhasedMinM rows take it at any depth, up to phasedMaxOut
// outputs: AVX2's 6-row phased kernel streams a copy of B, and from four
// panels a tile it beat the 2-row GemmDot at K 8-56 (Zen 3, one image of
// MobileNetV2-224: 24 -> 144 at 56x56 and 32 -> 192 at 28x28 about 10%
// faster; 32 -> 16 at 112x112 20% slower alone).
const phasedMinK = 64

// phasedMaxOut bounds the outputs of a short-sum 1x1 conv on
// GemmDotPhased: a larger output goes to memory, and the phased kernel's
// spills queue behind its stores (16 -> 96 at 112x112, 1.2M outputs, took
// 20% longer than on GemmDot in a forward pass, though its tiles ran 5%
// faster with the output in cache).
const phasedMaxOut = 1 << 20

// streamMinOut is the outputs (a sample's) from which a short-sum 1x1
// conv not run in channel bands (bands.go: a run of one sample over the
// cores, or with hooks) writes them with non-temporal stores
// (GemmDotStream): 4 MB, past the L2 of every CPU the tiers run on, so the
// lines go to memory either way, and without the stores' reads of them
// from memory first (MobileNetV2-224's 16 -> 96 at 112x112, 4.8 MB:
// 1.36-1.43 -> 0.69-0.73 ms on a Sapphire Rapids core, its consumer 0.25
// ms slower). At 56x56x144 (1.8 MB, in Sapphire Rapids' L2) they made that
// layer's consumers slower by more than they saved.
var streamMinOut = 1 << 20 // a variable for tests

func (p *Program) gemmStep(st *step) {
	c := st.nd.Conv
	out := p.g.Tensors[st.nd.Out].Shape
	st.kind = stepGemm
	st.groups = c.Groups
	st.k, st.m, st.n = c.InC/c.Groups*c.Taps(), c.OutC/c.Groups, out[1]*out[2]
	// The reference's pointwise path (a dot product per output) exactly when
	// it takes it; every other conv adds its terms in k order (GemmSeq).
	st.im2col = c.Class() != ConvPointwise
	st.bias = convBias(c)
	st.mr = p.k.MR
	if st.im2col && (c.SH > 1 || c.SW > 1) {
		in := p.g.Tensors[st.nd.In[0]].Shape
		st.hq, st.wq = phasePlane(&c.Window, in[1], in[2])
	}
	order := make([]int, st.k) // the steps' columns of W
	for i := range order {
		order[i] = i
	}
	switch {
	case st.im2col:
	case st.k >= phasedMinK || p.k.PhasedMinM > 0 && st.m >= p.k.PhasedMinM && st.m*st.n <= phasedMaxOut:
		st.phased = true
		order = floatk.PhaseOrder(st.k)
	default:
		st.mr = p.k.MRDot
		st.stream = st.m*st.n >= streamMinOut
	}
	mr := st.mr
	st.a = make([]float32, 0, c.OutC*st.k)
	for g := range st.groups {
		w := c.Weight[g*st.m*st.k : (g+1)*st.m*st.k]
		for m0 := 0; m0 < st.m; m0 += mr {
			rows := min(mr, st.m-m0)
			for _, i := range order {
				for r := range rows {
					st.a = append(st.a, w[(m0+r)*st.k+i])
				}
			}
		}
	}
}

// phasePlane is the size of the SH x SW phase planes (splitPhases) of an
// ih x iw plane padded for w: every element a window reads is in one.
func phasePlane(w *Window, ih, iw int) (hq, wq int) {
	hp, wp := w.PadT+ih+w.PadB, w.PadL+iw+w.PadR
	return (hp + w.SH - 1) / w.SH, (wp + w.SW - 1) / w.SW
}

// dwStep prepares a conv of one input channel per group (depthwise, or with
// a channel multiplier): output channel oc reads input channel oc*InC/OutC.
func (p *Program) dwStep(st *step) {
	c := st.nd.Conv
	in, out := p.g.Tensors[st.nd.In[0]].Shape, p.g.Tensors[st.nd.Out].Shape
	st.kind = stepDW
	st.w = append([]float32(nil), c.Weight...)
	st.bias = convBias(c)
	st.oh, st.ow = out[1], out[2]
	if k, s, _, ok := c.Square(); ok && k == 3 && c.Depthwise() && p.k.HasDW3(s) {
		st.direct = true
		return
	}
	st.hq, st.wq = phasePlane(&c.Window, in[1], in[2])
	// Output (oy, ox) is kernel element oy*wq+ox; the columns past ow are
	// computed and dropped.
	blk := p.k.Block
	st.dwN = (st.oh*st.wq + blk - 1) / blk * blk
	plane := st.hq * st.wq
	for ky := range c.KH {
		for kx := range c.KW {
			dy, dx := ky*c.DH, kx*c.DW
			phase := (dy%c.SH)*c.SW + dx%c.SW
			st.offs = append(st.offs, phase*plane+(dy/c.SH)*st.wq+dx/c.SW)
		}
	}
	st.xLen = c.SH * c.SW * plane
	for _, o := range st.offs {
		st.xLen = max(st.xLen, o+st.dwN)
	}
}

func (p *Program) linearStep(st *step) {
	l := st.nd.Linear
	st.kind = stepLinear
	nr := p.k.NR
	st.outP = (l.Out + nr - 1) / nr * nr
	// Panels: a tile's weights are one contiguous run (rows of a whole
	// transposed matrix are a page or more apart: no prefetcher follows).
	st.wt = make([]float32, l.In*st.outP)
	for o := range l.Out {
		panel := st.wt[o/nr*l.In*nr:]
		for i := range l.In {
			panel[i*nr+o%nr] = l.Weight[o*l.In+i]
		}
	}
	if l.Bias != nil {
		st.bias = append([]float32(nil), l.Bias...)
	}
}

// Run executes the program on n samples as RunHooks does. Hooks may keep
// the outputs they see. Without hooks it is RunImages.
func (p *Program) Run(x []float32, n int, pre, hook Hook) ([]float32, error) {
	if pre == nil && hook == nil {
		return p.RunImages(x, n, nil, nil, true)
	}
	return p.run(x, n, pre, hook, nil, nil, 0, false)
}

// RunTransient is Run for hooks that do not keep the outputs they see past
// their call: their buffers are reused for later nodes and runs.
func (p *Program) RunTransient(x []float32, n int, pre, hook Hook) ([]float32, error) {
	return p.run(x, n, pre, hook, nil, &p.pool, 0, false)
}

// run runs n samples; w is the workers each node's jobs spread over (0:
// GOMAXPROCS, 1: this goroutine alone, for runs side by side). The node
// outputs come from pl and go back to it once read, or are new if pl is nil
// (the hooks may keep them). part, if not nil, sees the outputs of the
// nodes computed in jobs (convs) as the jobs compute them when the jobs
// run on this goroutine alone (w 1), and without pre (whose nodes apply
// their activation after the hook). split lets a run with a cut take the
// steps before it sample by sample (split.go), a hook call each; else the
// hooks see all n samples of a node at once.
func (p *Program) run(x []float32, n int, pre, hook Hook, part PartHook, pl *pool, w int, split bool) ([]float32, error) {
	g := p.g
	if err := checkInput(g, x, n); err != nil {
		return nil, err
	}
	if split && n > 1 && p.cut > 0 {
		return p.runSplit(x, n, pre, hook, part, pl, w)
	}
	vals := make([][]float32, len(g.Tensors))
	vals[g.Input] = x
	if err := p.runSteps(p.steps, vals, append([]int(nil), p.uses...), n, pre, hook, part, pl, w); err != nil {
		return nil, err
	}
	if vals[g.Output] == nil {
		return nil, fmt.Errorf("graph output tensor %d was never computed", g.Output)
	}
	return vals[g.Output], nil
}

// runSteps runs steps on n samples, the values in vals (by tensor) and
// uses the readers left of each. A tensor no later node reads goes back to
// pl.
func (p *Program) runSteps(steps []*step, vals [][]float32, uses []int, n int, pre, hook Hook, part PartHook, pl *pool, w int) error {
	g := p.g
	var dead [][]float32
	defer func() { put(pl, dead) }()
	parts := part != nil && pre == nil && workers(w) == 1
	// Channel bands where nothing needs the conv's whole output: its parts
	// take it, or no hook at all.
	bands := parts || pre == nil && hook == nil && workers(w) == 1
	partOf := func(nd *Node, perr *error) partFunc {
		if part == nil {
			return func(int, []float32, int) {}
		}
		return func(s int, x []float32, off int) {
			if *perr == nil {
				*perr = part(nd, s, x, off)
			}
		}
	}
	// finish calls nd's hook and drops the buffers of the inputs it read
	// last: only after the node ran may they be reused.
	finish := func(nd *Node, out []float32) error {
		err := finishNode(g, nd, out, n, hook, uses, func(t int) {
			if pl != nil && vals[t] != nil {
				dead = append(dead, vals[t])
			}
			vals[t] = nil
		})
		put(pl, dead)
		dead = dead[:0]
		return err
	}
	for i := 0; i < len(steps); i++ {
		st := steps[i]
		nd := st.nd
		var perr error
		if bands && st.band > 0 && i+1 < len(steps) {
			dw := steps[i+1]
			var derr error
			out := p.runBands(st, dw, vals, n, partOf(nd, &perr), partOf(dw.nd, &derr), pl)
			if perr == nil {
				perr = derr
			}
			if perr != nil {
				put(pl, [][]float32{out})
				return fmt.Errorf("%s: %w", nd.Name, perr)
			}
			vals[dw.nd.Out] = out
			if err := finish(nd, nil); err != nil {
				return err
			}
			if err := finish(dw.nd, out); err != nil {
				return err
			}
			i++
			continue
		}
		var pf partFunc
		if parts && 4*g.Tensors[nd.Out].Elems() > minPartsBytes {
			pf = partOf(nd, &perr)
		}
		out, err := p.runStep(st, vals, n, pre, pf, pl, w)
		if err == nil {
			err = perr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", nd.Name, err)
		}
		vals[nd.Out] = out
		if err := finish(nd, out); err != nil {
			return err
		}
	}
	return nil
}

// get returns a buffer of n floats from pl, or a new one if pl is nil.
func get(pl *pool, n int) []float32 {
	if pl == nil {
		return make([]float32, n)
	}
	return pl.get(n)
}

// put returns bufs to pl, if not nil.
func put(pl *pool, bufs [][]float32) {
	if pl != nil {
		pl.put(bufs)
	}
}

// bounds is the clamp of an activation.
func bounds(act Act) (lo, hi float32) {
	switch act {
	case ActReLU:
		return 0, float32(math.Inf(1))
	case ActReLU6:
		return 0, 6
	}
	return float32(math.Inf(-1)), float32(math.Inf(1))
}

// A sample's output of more than minPartsBytes is seen in parts, each
// job's output (and im2col columns) within partBytes: still in L2 when its
// parts are read. A smaller output still is when the node's hook reads it.
var minPartsBytes = 768 << 10 // a variable for tests

const partBytes = 384 << 10

// partFunc takes a run of sample s's output of a node, off values from
// the sample's first, right after a job computed it (see PartHook).
type partFunc func(s int, x []float32, off int)

// runStep runs one node; its output comes from pl (see get). part,
// if not nil, sees the output of jobs that compute it in parts.
func (p *Program) runStep(st *step, vals [][]float32, n int, pre Hook, part partFunc, pl *pool, w int) ([]float32, error) {
	nd := st.nd
	if st.kind == stepRef {
		m := map[int][]float32{}
		for _, t := range nd.In {
			m[t] = vals[t]
		}
		return runNode(p.g, nd, m, n, pre)
	}
	act := nd.Act
	if pre != nil {
		act = ActNone
	}
	lo, hi := bounds(act)
	a := vals[nd.In[0]]
	inT, outT := p.g.Tensors[nd.In[0]], p.g.Tensors[nd.Out]
	ie, oe := inT.Elems(), outT.Elems()
	out := get(pl, n*oe)
	switch st.kind {
	case stepAdd:
		b := vals[nd.In[1]]
		if len(b) != len(a) || len(a) != len(out) {
			return nil, fmt.Errorf("add of %d and %d values into %d", len(a), len(b), len(out))
		}
		if nd.Op == OpSub {
			for i := range out {
				out[i] = a[i] - b[i]
			}
		} else {
			p.k.Add(a, b, out)
		}
		activate(out, nd.Act) // add_relu
	case stepCopy:
		copy(out, a)
	case stepOp:
		p.runOp(st, vals, out, n, w)
	case stepMean:
		c := inT.Shape[0]
		hw := ie / c
		parallel(w, n*c, func(j int) {
			var s float64
			for _, v := range a[j*hw : (j+1)*hw] {
				s += float64(v)
			}
			out[j] = float32(s / float64(hw))
		})
	case stepGemm:
		p.gemmConv(st, a, ie, out, oe, n, lo, hi, w, part)
	case stepDW:
		p.dwConv(st, a, ie, out, oe, n, lo, hi, w, part)
	case stepLinear:
		p.linear(st, a, out, n, w)
		if act != ActNone {
			activate(out, act)
		}
	}
	if pre != nil && (nd.Op == OpConv || nd.Op == OpLinear) {
		if err := pre(nd, out, n); err != nil {
			return nil, err
		}
		activate(out, nd.Act)
	}
	return out, nil
}

var scratchPool sync.Pool

// scratch returns a buffer of n floats (contents undefined) for putScratch.
func scratch(n int) *[]float32 {
	if b, ok := scratchPool.Get().(*[]float32); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]float32, n)
	return &b
}

func putScratch(b *[]float32) { scratchPool.Put(b) }

// workers is the goroutines a node's jobs spread over: w, or GOMAXPROCS if 0.
func workers(w int) int {
	if w > 0 {
		return w
	}
	return runtime.GOMAXPROCS(0)
}

// parallel is Parallel on w workers (see workers).
func parallel(w, jobs int, fn func(int)) {
	if workers(w) == 1 {
		for j := range jobs {
			fn(j)
		}
		return
	}
	Parallel(jobs, fn)
}

// tilesPerJob splits tiles column tiles of each of n images into enough jobs
// to keep w workers busy (see workers), each job a run of up to 8 tiles.
func tilesPerJob(tiles, n, w int) int {
	return max(1, min(8, tiles*n/(4*workers(w))))
}

func (p *Program) gemmConv(st *step, in []float32, ie int, out []float32, oe int, n int, lo, hi float32, w int, part partFunc) {
	kt := p.k
	nr := kt.NR
	K, M, N, G := st.k, st.m, st.n, st.groups
	c := st.nd.Conv
	inShape := p.g.Tensors[st.nd.In[0]].Shape
	ow := p.g.Tensors[st.nd.Out].Shape[2]
	if !st.im2col && N < 4*nr {
		p.gemmSmall(st, in, ie, out, oe, n, lo, hi, w)
		return
	}
	icg := c.InC / G
	var phases []float32 // per image, InC x SH*SW phase planes
	phaseLen := c.SH * c.SW * st.hq * st.wq
	if st.hq > 0 {
		buf := scratch(n * c.InC * phaseLen)
		defer putScratch(buf)
		phases = *buf
		ih, iw := inShape[1], inShape[2]
		parallel(w, n*c.InC, func(j int) {
			p.splitPhases(phases[j*phaseLen:(j+1)*phaseLen], in[j*ih*iw:(j+1)*ih*iw], ih, iw, &c.Window, st.hq, st.wq)
		})
	}
	tiles := (N + nr - 1) / nr
	per := tilesPerJob(tiles, n*G, w)
	if part != nil {
		// Fewer, longer parts: a job's output (and columns) within partBytes.
		per = max(per, min(partBytes/(4*nr*M), partBytes/(4*nr*K)))
	}
	chunks := (tiles + per - 1) / per
	parallel(w, n*G*chunks, func(j int) {
		s, g, chunk := j/(G*chunks), j/chunks%G, j%chunks
		x, o := in[s*ie:(s+1)*ie], out[s*oe+g*M*N:s*oe+(g+1)*M*N]
		a, bias := st.a[g*M*K:(g+1)*M*K], st.bias[g*M:(g+1)*M]
		j0 := chunk * per * nr
		j1 := min(N, j0+per*nr)
		width := (j1 - j0 + nr - 1) / nr * nr
		tile := p.tileScratch(K)
		defer putScratch(tile)
		// A part hook reads the output right away: from the caches.
		stream := st.stream && part == nil
		if st.im2col {
			buf := scratch(K * width)
			cols := *buf
			c0, c1 := g*icg, (g+1)*icg
			if phases != nil {
				ph := phases[(s*c.InC+c0)*phaseLen : (s*c.InC+c1)*phaseLen]
				im2colPhases(&c.Window, ph, icg, st.hq, st.wq, ow, j0, j1, cols, width)
			} else {
				ih, iw := inShape[1], inShape[2]
				im2col(&c.Window, x[c0*ih*iw:c1*ih*iw], icg, ih, iw, ow, j0, j1, cols, width)
			}
			for t0 := j0; t0 < j1; t0 += nr {
				p.gemmTile(st, a, bias, cols[t0-j0:], width, o, N, t0, min(nr, N-t0), lo, hi, *tile, false)
			}
			putScratch(buf)
		} else {
			p.pointwiseCols(st, a, bias, x, o, j0, j1, lo, hi, *tile, stream)
		}
		if stream {
			kt.FenceStream()
		}
		if part != nil {
			for m := range M {
				part(s, o[m*N+j0:m*N+j1], g*M*N+m*N+j0)
			}
		}
	})
}

// pointwiseCols computes columns [j0, j1) of a 1x1 conv's output o (rows
// of st.n) from its input x (st.k rows of st.n) and a's packed rows (bias's
// rows of them); j0 is a tile's first column.
func (p *Program) pointwiseCols(st *step, a, bias, x, o []float32, j0, j1 int, lo, hi float32, tile []float32, stream bool) {
	nr, K, N := p.k.NR, st.k, st.n
	for t0 := j0; t0 < j1; t0 += nr {
		if t0+nr > N {
			// The last tile of the input: copy its columns, zero-padded.
			edge := scratch(K * nr)
			e := *edge
			clear(e)
			for i := range K {
				copy(e[i*nr:i*nr+N-t0], x[i*N+t0:i*N+N])
			}
			p.gemmTile(st, a, bias, e, nr, o, N, t0, N-t0, lo, hi, tile, false)
			putScratch(edge)
			continue
		}
		p.gemmTile(st, a, bias, x[t0:], N, o, N, t0, nr, lo, hi, tile, stream)
	}
}

// gemmSmall is gemmConv for 1x1 convs on small planes (under 4 tiles):
// columns of several images side by side make full tiles.
func (p *Program) gemmSmall(st *step, in []float32, ie int, out []float32, oe int, n int, lo, hi float32, wk int) {
	nr := p.k.NR
	K, M, N := st.k, st.m, st.n
	per := max(1, min((4*nr)/N, (n+3)/4)) // images per job: about 4 tiles, and work for 4 workers
	parallel(wk, (n+per-1)/per, func(j int) {
		s0 := j * per
		cnt := min(per, n-s0)
		// Columns padded for gemmTile's last tile: a whole one, a half
		// (GemmDotPhasedHalf), a column (GemmDotPhasedCol) or a half and
		// a column.
		w := (cnt*N + nr - 1) / nr * nr
		h := p.k.HalfNR()
		if st.phased && h > 0 {
			w = (cnt*N + h - 1) / h * h
		}
		if rem := cnt * N % nr; st.phased && p.k.HasCol() && (rem == 1 || h > 0 && rem == h+1) {
			w = cnt * N
		}
		buf := scratch((K + M) * w)
		b, c := (*buf)[:K*w], (*buf)[K*w:]
		for k := range K {
			row := b[k*w : (k+1)*w]
			for i := range cnt {
				copy(row[i*N:(i+1)*N], in[(s0+i)*ie+k*N:])
			}
			clear(row[cnt*N:])
		}
		tile := p.tileScratch(K)
		rb := smallRows(st.mr, K)
		for r0 := 0; r0 < M; r0 += rb {
			r1 := min(M, r0+rb)
			for t0 := 0; t0 < w; t0 += nr {
				p.gemmTile(st, st.a[r0*K:r1*K], st.bias[r0:r1], b[t0:], w, c[r0*w:], w, t0, min(nr, w-t0), lo, hi, *tile, false)
			}
		}
		putScratch(tile)
		for i := range cnt {
			o := out[(s0+i)*oe:]
			for m := range M {
				copy(o[m*N:(m+1)*N], c[m*w+i*N:])
			}
		}
		putScratch(buf)
	})
}

// smallRows is the rows of A gemmSmall runs through all its tiles at a
// time: whole panels, about smallRowsBytes of them. A 7x7 plane is a tile,
// a half tile and a column, and all of A (0.6-1.6 MB for MobileNetV2-224's
// last layers) once per tile came from memory each time.
func smallRows(mr, k int) int {
	return max(1, smallRowsBytes/(4*k*mr)) * mr
}

const smallRowsBytes = 64 << 10

// tileScratch is gemmTile's scratch for sums of k terms: a tile and
// GemmDotPhased's (or GemmDot's, or GemmDotPhasedHalf's: less).
func (p *Program) tileScratch(k int) *[]float32 {
	return scratch((4*p.k.MR + k) * p.k.NR)
}

// gemmTile computes columns [t0, t0+cols) (cols <= NR) of the M rows of
// the output o (rows of N) from a's packed rows, bias and b, their K x NR
// columns at stride ldb. A phased tile of HalfNR columns or fewer takes
// GemmDotPhasedHalf, which computes half as much padding, one of a single
// column GemmDotPhasedCol, none, and one of HalfNR+1 both (a 7x7 plane's
// last 17 columns on AVX-512). scratch is tileScratch's; stream: a full
// GemmDot tile goes straight to memory (GemmDotStream).
func (p *Program) gemmTile(st *step, a, bias, b []float32, ldb int, o []float32, N, t0, cols int, lo, hi float32, scratch []float32, stream bool) {
	kt := p.k
	nr, mr := kt.NR, st.mr
	K, M := st.k, len(bias)
	if h := kt.HalfNR(); st.phased && h > 0 && cols == h+1 && kt.HasCol() {
		p.gemmTile(st, a, bias, b, ldb, o, N, t0, h, lo, hi, scratch, false)
		p.gemmTile(st, a, bias, b[h:], ldb, o, N, t0+h, 1, lo, hi, scratch, false)
		return
	}
	if st.phased && cols == 1 && kt.HasCol() {
		for m0 := 0; m0 < M; {
			panels, rows := (M-m0)/mr, mr
			if panels == 0 {
				panels, rows = 1, M-m0
			}
			n := panels * rows
			kt.GemmDotPhasedCol(panels, rows, K, a[m0*K:(m0+n)*K], b, ldb, o[m0*N+t0:], N, bias[m0:], lo, hi)
			m0 += n
		}
		return
	}
	tile, tmp := scratch[:mr*nr], scratch[mr*nr:]
	gemm := kt.GemmSeq
	switch {
	case st.im2col:
	case st.phased && cols <= kt.HalfNR():
		nr = kt.HalfNR()
		gemm = func(panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32, lo, hi float32) {
			kt.GemmDotPhasedHalf(panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi, tmp)
		}
	case st.phased:
		gemm = func(panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32, lo, hi float32) {
			kt.GemmDotPhased(panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi, tmp)
		}
	case stream && cols == nr:
		gemm = func(panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32, lo, hi float32) {
			kt.GemmDotStream(panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi, tmp)
		}
	default:
		gemm = func(panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32, lo, hi float32) {
			kt.GemmDot(panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi, tmp)
		}
	}
	full := cols == nr
	// The full panels in one call, then the rows left.
	for m0 := 0; m0 < M; {
		panels, rows := (M-m0)/mr, mr
		if panels == 0 {
			panels, rows = 1, M-m0
		}
		if !full {
			panels = 1 // tile holds one panel
		}
		n := panels * rows
		a := a[m0*K : (m0+n)*K]
		if full {
			gemm(panels, rows, K, a, b, ldb, o[m0*N+t0:], N, bias[m0:], lo, hi)
		} else {
			gemm(1, rows, K, a, b, ldb, tile, nr, bias[m0:], lo, hi)
			for r := range rows {
				copy(o[(m0+r)*N+t0:(m0+r)*N+t0+cols], tile[r*nr:r*nr+cols])
			}
		}
		m0 += n
	}
}

// im2col writes the inputs of output positions [j0, j1) (row-major over the
// output plane of width ow) of window w over the ch planes ih x iw of x as a
// (ch*KH*KW) x width matrix, zero-padded on the right.
func im2col(w *Window, x []float32, ch, ih, iw, ow, j0, j1 int, cols []float32, width int) {
	s := w.SW
	for ic := range ch {
		plane := x[ic*ih*iw : (ic+1)*ih*iw]
		for ky := range w.KH {
			for kx := range w.KW {
				row := cols[((ic*w.KH+ky)*w.KW+kx)*width:][:width]
				dx := kx*w.DW - w.PadL // input column of output column 0
				for j := j0; j < j1; {
					oy, ox0 := j/ow, j%ow
					ox1 := min(ow, ox0+j1-j)
					dst := row[j-j0 : j-j0+ox1-ox0]
					j += ox1 - ox0
					iy := oy*w.SH - w.PadT + ky*w.DH
					if iy < 0 || iy >= ih {
						clear(dst)
						continue
					}
					// Columns ox with 0 <= ox*s+dx < iw read the row, the
					// others are padding.
					qLo := min(len(dst), max(0, ceilDiv(-dx, s)-ox0))
					qHi := max(qLo, min(len(dst), floorDiv(iw-1-dx, s)+1-ox0))
					clear(dst[:qLo])
					clear(dst[qHi:])
					if qHi == qLo {
						continue
					}
					d := dst[qLo:qHi]
					ix := (ox0+qLo)*s + dx
					src := plane[iy*iw+ix : iy*iw+ix+(len(d)-1)*s+1]
					if s == 1 {
						copy(d, src)
						continue
					}
					for q := range d {
						d[q] = src[q*s]
					}
				}
				clear(row[j1-j0:])
			}
		}
	}
}

// im2colPhases is im2col from the phase planes of ch input channels (each
// split into SH x SW planes of hq x wq, padding included): output (oy, ox)
// reads padded element (oy*SH+dy, ox*SW+dx) for dy = ky*DH, dx = kx*DW,
// which is element (oy+dy/SH, ox+dx/SW) of phase (dy%SH, dx%SW).
func im2colPhases(w *Window, phases []float32, ch, hq, wq, ow, j0, j1 int, cols []float32, width int) {
	plane := hq * wq
	for ic := range ch {
		for ky := range w.KH {
			for kx := range w.KW {
				dy, dx := ky*w.DH, kx*w.DW
				ph := phases[((ic*w.SH+dy%w.SH)*w.SW+dx%w.SW)*plane:][:plane]
				row := cols[((ic*w.KH+ky)*w.KW+kx)*width:][:width]
				for j := j0; j < j1; {
					oy, ox0 := j/ow, j%ow
					ox1 := min(ow, ox0+j1-j)
					src := (oy+dy/w.SH)*wq + ox0 + dx/w.SW
					copy(row[j-j0:j-j0+ox1-ox0], ph[src:src+ox1-ox0])
					j += ox1 - ox0
				}
				clear(row[j1-j0:])
			}
		}
	}
}

// dwColdBytes is the largest depthwise input (a sample's) taken to be in
// the caches when the conv runs.
const dwColdBytes = 2 << 20

func (p *Program) dwConv(st *step, in []float32, ie int, out []float32, oe int, n int, lo, hi float32, w int, part partFunc) {
	c := st.nd.Conv
	inShape := p.g.Tensors[st.nd.In[0]].Shape
	ih, iw := inShape[1], inShape[2]
	taps := c.Taps()
	ch, mult := c.OutC, c.OutC/c.InC
	// Jobs of several channels on small planes: a job costs more than a
	// 4x4 channel.
	per := max(1, min(ch, 4096/(st.oh*st.ow)))
	chunks := (ch + per - 1) / per
	if st.direct {
		_, s, pad, _ := c.Square()
		// An input bigger than a core's L2 on any of our CPUs streams from
		// memory (the 16->96 expansion of MobileNetV2-224's first block:
		// 4.8 MB): read in order there.
		cold := 4*ie > dwColdBytes
		parallel(w, n*chunks, func(j int) {
			smp, c0 := j/chunks, j%chunks*per
			c1 := min(ch, c0+per)
			x := in[smp*ie+c0*ih*iw : smp*ie+c1*ih*iw]
			o := out[smp*oe+c0*st.oh*st.ow : smp*oe+c1*st.oh*st.ow]
			p.k.DW3(s, pad, st.w[c0*taps:c1*taps], x, ih, iw, o, st.oh, st.ow, st.bias[c0:c1], lo, hi, cold)
			if part != nil {
				part(smp, o, c0*st.oh*st.ow)
			}
		})
		return
	}
	parallel(w, n*chunks, func(j int) {
		smp, c0 := j/chunks, j%chunks*per
		xb := scratch(st.xLen + st.dwN)
		xs, ys := (*xb)[:st.xLen], (*xb)[st.xLen:]
		last := -1 // the input channel in xs
		for cc := c0; cc < min(ch, c0+per); cc++ {
			if ic := cc / mult; ic != last {
				x := in[smp*ie+ic*ih*iw:][:ih*iw]
				if c.SH == 1 && c.SW == 1 {
					padPlane(xs, x, ih, iw, c.PadT, c.PadL, st.wq)
				} else {
					p.splitPhases(xs, x, ih, iw, &c.Window, st.hq, st.wq)
				}
				last = ic
			}
			o := out[smp*oe+cc*st.oh*st.ow:][:st.oh*st.ow]
			p.k.DW(st.dwN, st.w[cc*taps:(cc+1)*taps], st.offs, xs, ys, st.bias[cc], lo, hi)
			for oy := range st.oh {
				copy(o[oy*st.ow:(oy+1)*st.ow], ys[oy*st.wq:])
			}
			if part != nil {
				part(smp, o, cc*st.oh*st.ow)
			}
		}
		putScratch(xb)
	})
}

func (p *Program) linear(st *step, x, out []float32, n, w int) {
	kt := p.k
	nr, mr := kt.NR, kt.MR
	l := st.nd.Linear
	K, O := l.In, l.Out
	// x packed as panels of up to MR samples, k-major.
	pa := make([]float32, 0, n*K)
	for s0 := 0; s0 < n; s0 += mr {
		rows := min(mr, n-s0)
		for i := range K {
			for r := range rows {
				pa = append(pa, x[(s0+r)*K+i])
			}
		}
	}
	zero := make([]float32, mr)
	inf := float32(math.Inf(1))
	tiles := st.outP / nr
	parallel(w, tiles, func(t int) {
		t0 := t * nr
		wt := st.wt[t0*K:]
		buf := scratch(mr * nr)
		defer putScratch(buf)
		tile := *buf
		for s0 := 0; s0 < n; s0 += mr {
			rows := min(mr, n-s0)
			a := pa[s0*K : (s0+rows)*K]
			if t0+nr <= O {
				kt.GemmSeq(1, rows, K, a, wt, nr, out[s0*O+t0:], O, zero, -inf, inf)
				continue
			}
			kt.GemmSeq(1, rows, K, a, wt, nr, tile, nr, zero, -inf, inf)
			for r := range rows {
				copy(out[(s0+r)*O+t0:(s0+r+1)*O], tile[r*nr:r*nr+O-t0])
			}
		}
	})
	if st.bias != nil {
		for s := range n {
			row := out[s*O : (s+1)*O]
			for o := range row {
				row[o] += st.bias[o]
			}
		}
	}
}

// padPlane writes the ih x iw plane x into xs with padT rows of zeros above
// it and padL zeros left of each row, rows of wq (the right padding is the
// rest), zeroing only what the rows leave (to the end of xs).
func padPlane(xs, x []float32, ih, iw, padT, padL, wq int) {
	clear(xs[:padT*wq+padL])
	for iy := range ih {
		d := (iy+padT)*wq + padL
		copy(xs[d:d+iw], x[iy*iw:(iy+1)*iw])
		clear(xs[d+iw : min(len(xs), d+wq)])
	}
	clear(xs[min(len(xs), (ih+padT)*wq):])
}

// splitPhases writes the ih x iw plane x, padded for w, into xs as SH x SW
// phase planes of hq x wq: phase (py, px) holds the padded plane's elements
// (i, j) with i%SH == py and j%SW == px at (i/SH, j/SW).
func (p *Program) splitPhases(xs, x []float32, ih, iw int, w *Window, hq, wq int) {
	clear(xs)
	plane := hq * wq
	sh, sw, pad := w.SH, w.SW, w.PadL
	for iy := range ih {
		i := iy + w.PadT
		row := x[iy*iw : (iy+1)*iw]
		r := xs[(i%sh)*sw*plane+(i/sh)*wq:] // phase (i%sh, 0), row i/sh
		switch sw {
		case 1:
			copy(r[pad:pad+iw], row)
		case 2:
			// Input column ix is padded column ix+pad: the even ix go to
			// phase pad%2 from column pad/2, the odd ones to the other.
			even := r[(pad%2)*plane+pad/2:]
			odd := r[((pad+1)%2)*plane+(pad+1)/2:]
			m := iw / 2
			p.k.Deinterleave(row, even[:m], odd[:m])
			if iw%2 == 1 {
				even[m] = row[iw-1]
			}
		default:
			for px := range sw {
				// The first ix with (ix+pad)%sw == px.
				ix0 := ((px-pad)%sw + sw) % sw
				if ix0 >= iw {
					continue
				}
				d := r[px*plane+(ix0+pad)/sw:]
				d = d[:(iw-ix0+sw-1)/sw]
				for q := range d {
					d[q] = row[ix0+q*sw]
				}
			}
		}
	}
}

// RunBatches runs the n samples x through the program batch samples at a
// time with RunImages: the hooks see the samples as there, progress (if not
// nil) hears the samples done after each batch, and the outputs come back
// concatenated. transient is RunTransient's promise about the hooks.
func (p *Program) RunBatches(x []float32, n, batch int, pre, hook Hook, transient bool, progress func(done, total int)) ([]float32, error) {
	elems := p.g.Tensors[p.g.Input].Elems()
	if n < 1 || batch < 1 || len(x) != n*elems {
		return nil, fmt.Errorf("input: %d values for %d samples of shape %v in batches of %d", len(x), n, p.g.Tensors[p.g.Input].Shape, batch)
	}
	var all []float32
	for s := 0; s < n; s += batch {
		k := min(batch, n-s)
		out, err := p.RunImages(x[s*elems:(s+k)*elems], k, pre, hook, transient)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = make([]float32, 0, len(out)/k*n)
		}
		all = append(all, out...)
		if progress != nil {
			progress(s+k, n)
		}
	}
	return all, nil
}
