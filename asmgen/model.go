package asmgen

import (
	"fmt"
	goruntime "runtime"
	"sync/atomic"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/runtime"
)

// Generate writes the assembly of every layer of m that has a kernel, for
// every runtime tier but the portable one: layer l's kernel for tier t is
// l.ID_t ("l07_avx2").
func Generate(m *lower.Model, pkg string) (*lower.Asm, error) { return generate(m, pkg, targets()) }

// Plan is Generate in two steps: the kernels each layer runs (the Asm
// without its Files), at once, then files, which writes them (most of the
// time): what needs only the names (the package's Go files) need not wait.
func Plan(m *lower.Model, pkg string) (*lower.Asm, func() (map[string][]byte, error), error) {
	return plan(m, pkg, targets())
}

// targets are every runtime tier but the portable one, best last.
func targets() []Target {
	var ts []Target
	for _, t := range runtime.Tiers {
		if t != runtime.Generic {
			ts = append(ts, Target{Tier: t})
		}
	}
	return ts
}

// generate is Generate for the given targets, best last.
func generate(m *lower.Model, pkg string, tiers []Target) (*lower.Asm, error) {
	a, files, err := plan(m, pkg, tiers)
	if err != nil {
		return nil, err
	}
	if a.Files, err = files(); err != nil {
		return nil, err
	}
	return a, nil
}

// plan is Plan for the given targets, best last.
func plan(m *lower.Model, pkg string, tiers []Target) (*lower.Asm, func() (map[string][]byte, error), error) {
	out := &lower.Asm{Layers: make([]lower.AsmLayer, len(m.Layers))}
	for _, t := range tiers {
		out.Tiers = append(out.Tiers, t.tier())
	}
	xmax := map[int]int32{} // largest code each tensor can hold
	layers := make([]func(p *Program, isa Target, fn string) error, len(m.Layers))
	// denses are the dense layers, whose Wide kernels a tier may add (Dense.HasWide).
	denses := make([]*Dense, len(m.Layers))
	shared := make([]bool, len(m.Layers)) // one kernel for every tier (bytes.go)
	for i, ly := range m.Layers {
		nd, x, y := ly.Node, ly.X, ly.Y
		ry := ly.ReqY() // the requantization's output: y, or the conv's own before its table
		l := &out.Layers[i]
		l.Funcs = map[string]string{}
		xc, xh, xw := ly.XD.C, ly.XD.H, ly.XD.W
		yh, yw := ly.YD.H, ly.YD.W
		xmax[y.ID] = 255
		switch ly.Kind {
		case lower.Quantize:
			q := &Quantize{C: xc, H: xh, W: xw, Inv: float32(1 / y.Scale), Z: y.Zero, OutStride: xc}
			if ly.Pad != nil {
				q.OutStride, q.Border = ly.Pad.Stride, ly.Pad.Border
			}
			l.Units = q.Units()
			layers[i] = func(p *Program, isa Target, fn string) error { return p.Quantize(fn, q, isa.base()) }
		case lower.Pointwise, lower.Dense:
			c := nd.Conv
			xmax[y.ID] = convMax(ly)
			d := &Dense{Cin: c.InC, Cout: c.OutC, K: c.Kernel, Stride: c.Stride, Pad: c.Pad,
				H: xh, W: xw, OH: yh, OW: yw, InStride: xc, OutStride: ly.YStride,
				ZIn: x.Zero, XMax: xmax[x.ID], Weight: c.Weight, Requant: requant(ly, ry), Win: window(ly), Im2col: ly.Im2col}
			if ly.Pad != nil {
				d.InStride = ly.Pad.Stride
			}
			if err := d.check(); err != nil {
				return nil, nil, fmt.Errorf("node %d (%s): %w", i, nd.Name, err)
			}
			l.Units, l.Cols = d.Units(), d.Cols()
			denses[i] = d
			for _, isa := range tiers {
				if isa.AMX && ly.Tile {
					l.Scratch = max(l.Scratch, d.amxScratchBytes(isa))
					continue
				}
				l.Scratch = max(l.Scratch, d.ScratchBytes(isa.base()))
				if d.HasWide(isa.base()) {
					l.Scratch = max(l.Scratch, d.wide().ScratchBytes(isa.base()))
				}
			}
			layers[i] = func(p *Program, isa Target, fn string) error {
				if isa.AMX && ly.Tile {
					return p.AMXDense(fn, d, isa)
				}
				return p.Dense(fn, d, isa.base())
			}
		case lower.Depthwise:
			c := nd.Conv
			xmax[y.ID] = convMax(ly)
			d := &Depthwise{C: c.InC, K: c.Kernel, Stride: c.Stride, Pad: c.Pad, H: xh, W: xw, OH: yh, OW: yw,
				ZIn: x.Zero, XMax: xmax[x.ID], Weight: c.Weight, Requant: requant(ly, ry), Win: window(ly)}
			l.Units = d.Units()
			layers[i] = func(p *Program, isa Target, fn string) error { return p.Depthwise(fn, d, isa.base()) }
		case lower.Grouped:
			c := nd.Conv
			xmax[y.ID] = convMax(ly)
			in := xc
			if ly.Pad != nil {
				in = ly.Pad.Stride
			}
			d := GroupedDense(c, xh, xw, yh, yw, in, x.Zero, xmax[x.ID], requant(ly, ry))
			if err := d.check(); err != nil {
				return nil, nil, fmt.Errorf("node %d (%s): %w", i, nd.Name, err)
			}
			gc := lower.GroupColsOf(c.InC, c.OutC, c.Groups)
			l.Units, l.Cols = d.Units(), gc.Blocks
			type kernel struct {
				d      *Dense
				design Target
			}
			kernels := map[Target]kernel{} // by base tier, chosen once
			for _, isa := range tiers {
				l.Scratch = max(l.Scratch, d.ScratchBytes(isa.base()))
				k, ok := kernels[isa.base()]
				if !ok {
					k.d, k.design = GroupedKernel(d, gc, isa.base())
					kernels[isa.base()] = k
				}
				if k.d.BlockSpan > 0 {
					if l.AllBlocks == nil {
						l.AllBlocks = map[string]bool{}
					}
					l.AllBlocks[isa.tier()] = true
				}
			}
			// The amx tier runs the avx512 kernel: no tile program.
			layers[i] = func(p *Program, isa Target, fn string) error {
				k := kernels[isa.base()]
				return p.Dense(fn, k.d, k.design)
			}
		case lower.Add:
			a := &Add{N: ly.XD.Elems(), ZA: x.Zero, ZB: ly.X2.Zero, MA: nd.Add.MA, MB: nd.Add.MB, Z: y.Zero, ReLU: nd.Add.ReLU}
			l.Units = a.Units()
			layers[i] = func(p *Program, isa Target, fn string) error { return p.Add(fn, a, isa.base()) }
		case lower.MaxPool:
			xmax[y.ID] = xmax[x.ID]
			mp := &MaxPool{C: xc, H: xh, W: xw, OH: yh, OW: yw, K: ly.Geom.KH, S: ly.Geom.SH, P: ly.Geom.PadT, Ceil: ly.Geom.Ceil, Win: window(ly)}
			l.Units = mp.Units()
			layers[i] = func(p *Program, isa Target, fn string) error { return p.MaxPool(fn, mp, isa.base()) }
		case lower.Mean:
			xmax[y.ID] = xmax[x.ID]
			mn := &Mean{C: xc, HW: xh * xw, Z: x.Zero}
			layers[i] = func(p *Program, isa Target, fn string) error { return p.Mean(fn, mn, isa.base()) }
		case lower.Table, lower.Mul, lower.Concat, lower.AvgPool, lower.WindowPool, lower.Slice, lower.Shuffle, lower.ChannelMax:
			xmax[y.ID] = portableMax(ly, xmax)
			if f, units, one := bytesKernel(ly); f != nil {
				l.Units, layers[i], shared[i] = units, f, one
			}
		default:
			// Portable kernels only; their largest code still picks the
			// dense path of the layers they feed.
			xmax[y.ID] = portableMax(ly, xmax)
		}
	}
	var jobs []kernelJob
	made := map[Target]bool{}
	for _, isa := range tiers {
		made[isa] = true
		for i, f := range layers {
			if f == nil {
				continue
			}
			l := &out.Layers[i]
			if shared[i] && len(l.Funcs) > 0 {
				// One kernel for every tier: the first tier's.
				l.Funcs[isa.tier()] = l.Funcs[tiers[0].tier()]
				continue
			}
			if isa.AMX && !m.Layers[i].Tile && made[isa.base()] {
				// The base tier's kernels, already written.
				l.Funcs[isa.tier()] = l.Funcs[isa.base().tier()]
				if fn, ok := l.Wide[isa.base().tier()]; ok {
					l.Wide[isa.tier()] = fn
				}
				continue
			}
			fn := m.Layers[i].ID + "_" + isa.tier()
			jobs = append(jobs, kernelJob{i: i, fn: fn, make: func(p *Program) error { return f(p, isa, fn) }})
			l.Funcs[isa.tier()] = fn
			if d := denses[i]; d != nil && !(isa.AMX && m.Layers[i].Tile) && d.HasWide(isa.base()) {
				fn, w := fn+"_wide", d.wide()
				jobs = append(jobs, kernelJob{i: i, fn: fn, make: func(p *Program) error { return p.Dense(fn, w, isa.base()) }})
				if l.Wide == nil {
					l.Wide = map[string]string{}
				}
				l.Wide[isa.tier()] = fn
			}
		}
	}
	return out, func() (map[string][]byte, error) { return writeKernels(jobs, pkg, m) }, nil
}

// streamKernels says whether writeKernels prints each kernel once absorbed
// (Program.flush); tests turn it off to compare the whole file with avo's.
var streamKernels = true

// kernelJob is a kernel to write: layer i's, named fn, which make writes.
type kernelJob struct {
	i    int
	fn   string
	make func(p *Program) error
}

// writeKernels writes the jobs' kernels: the .s file and its Go stubs.
func writeKernels(jobs []kernelJob, pkg string, m *lower.Model) (map[string][]byte, error) {
	// The kernels are generated side by side, each on its own Program, and
	// absorbed in order as they come: the file is the one a single Program
	// gives. Each is compiled and printed once absorbed, and its
	// instructions dropped (Program.flush). Job k starts once job k-ahead
	// is absorbed: the kernels waiting to be absorbed hold their IR.
	ahead := 2 * goruntime.GOMAXPROCS(0)
	ps := make([]*Program, len(jobs))
	errs := make([]error, len(jobs))
	ready := make([]chan struct{}, len(jobs))
	room := make([]chan struct{}, len(jobs))
	for k := range ready {
		ready[k], room[k] = make(chan struct{}), make(chan struct{})
		if k < ahead {
			close(room[k])
		}
	}
	var stop atomic.Bool // an error: the jobs left need not run
	go each(len(jobs), func(k int) {
		defer close(ready[k])
		<-room[k]
		if stop.Load() {
			return
		}
		ps[k] = NewProgram(pkg)
		errs[k] = jobs[k].make(ps[k])
	})
	p := NewProgram(pkg)
	for k, j := range jobs {
		<-ready[k]
		if errs[k] == nil {
			errs[k] = p.absorb(ps[k])
		}
		if errs[k] == nil && streamKernels {
			errs[k] = p.flush()
		}
		if errs[k] != nil {
			stop.Store(true)
			for _, r := range room[min(k+ahead, len(jobs)):] {
				close(r)
			}
			return nil, fmt.Errorf("node %d (%s): %w", j.i, m.Layers[j.i].Node.Name, errs[k])
		}
		ps[k] = nil
		if k+ahead < len(jobs) {
			close(room[k+ahead])
		}
	}
	asm, stubs, err := p.Output()
	if err != nil {
		return nil, err
	}
	return map[string][]byte{"kernels_amd64.s": asm, "kernels_amd64.go": stubs}, nil
}

// window is a windowed layer's window (a copy), nil for the square
// geometry the kernels take as K, Stride and Pad.
func window(ly *lower.Layer) *ir.Window {
	if !ly.Windowed() {
		return nil
	}
	w := ly.Geom.Window
	return &w
}

// portableMax bounds the codes a layer of bytes.go's or pools.go's kernels
// (or a portable one) writes: a table's largest entry, the input's for
// channel moves and max pools, and for an average pool also z (a mean of
// codes below z rounds up to at most z).
func portableMax(ly *lower.Layer, xmax map[int]int32) int32 {
	x := ly.X
	switch ly.Kind {
	case lower.Table:
		m := uint8(0)
		for _, v := range ly.Node.Table.T {
			m = max(m, v)
		}
		return int32(m)
	case lower.Slice, lower.Shuffle, lower.WindowPool, lower.ChannelMax:
		return xmax[x.ID]
	case lower.AvgPool:
		return max(xmax[x.ID], x.Zero)
	case lower.Concat:
		m := int32(0)
		for i, in := range ly.Xs {
			if ly.Node.Concat.M[i] != 0 {
				return 255
			}
			m = max(m, xmax[in.ID])
		}
		return m
	}
	return 255
}

// convMax bounds the codes a conv layer writes: its clamp's upper end, the
// largest entry of its epilogue table over the clamp's range, or 255 after
// an add.
func convMax(ly *lower.Layer) int32 {
	c := ly.Node.Conv
	if ly.Epi == nil {
		return c.Hi
	}
	if ly.Epi.T == nil {
		return 255 // an add's
	}
	m := uint8(0)
	for _, v := range ly.Epi.T[c.Lo : c.Hi+1] {
		m = max(m, v)
	}
	return int32(m)
}

// requant is a conv layer's requantization into y, then its epilogue table
// or add (whose other input is in the same arena as y).
func requant(ly *lower.Layer, y *compiler.Tensor) Requant {
	c := ly.Node.Conv
	r := Requant{M: c.M, B: c.B, Z: y.Zero, Lo: c.Lo, Hi: c.Hi}
	if e := ly.Epi; e != nil {
		r.Table = e.T
		if e.Res != nil {
			r.Add = &EpiAdd{Delta: e.ResOff - ly.YOff, ZA: e.Mid.Zero, ZB: e.Res.Zero, MA: e.MA, MB: e.MB, Z: ly.Y.Zero, ReLU: e.Node.Add.ReLU}
		}
	}
	return r
}
