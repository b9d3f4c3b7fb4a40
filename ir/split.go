package ir

// A run of several samples takes the layers with large activations (a
// 224x224 model's first blocks, MB a sample) one sample at a time, so that
// each sample's planes stay in the caches from layer to layer, and the
// later layers, with small activations and most of the weights (MobileNetV2-
// 224's 14x14 and 7x7 layers: 12 of its 14 MB), all the samples at once:
// each weight comes from memory once for them, and the planes of several
// samples side by side fill the GEMM tiles (a 7x7 plane is 49 columns).
// Every value is the same, bit for bit, either way.

// smallBytes is the largest tensor (a sample's) of the steps a run takes
// all its samples through at once.
var smallBytes = 512 << 10 // a variable for tests

// splitGroup is the samples of a group of RunImages with a cut. Two: the
// hooks take a node's samples in order, so a group's later samples hold up
// the next group (on the other core) at the node before the cut's steps
// they run sample by sample; with four samples whose steps before the cut
// took most of the time, calibrating MobileNetV2-224 ran 30% longer.
const splitGroup = 2

// markSplit sets cut, live and tailUses: cut is the first step after which
// every tensor produced or still read is small, 0 if there is none (or no
// step before it).
func (p *Program) markSplit() {
	g := p.g
	cut := 0
	for i, st := range p.steps {
		if 4*g.Tensors[st.nd.Out].Elems() > smallBytes {
			cut = i + 1
		}
		for _, t := range st.nd.In {
			if t != g.Input && 4*g.Tensors[t].Elems() > smallBytes {
				cut = i + 1
			}
		}
	}
	p.cut, p.live, p.tailUses = 0, nil, nil
	if cut == 0 || cut >= len(p.steps) {
		return
	}
	tail := make([]int, len(g.Tensors))
	for _, st := range p.steps[cut:] {
		for _, t := range st.nd.In {
			tail[t]++
		}
	}
	var live []int
	for _, st := range p.steps[:cut] {
		if t := st.nd.Out; tail[t] > 0 || t == g.Output {
			if t == g.Output {
				return // the output before the cut: no split
			}
			live = append(live, t)
		}
	}
	p.cut, p.live, p.tailUses = cut, live, tail
}

// runSplit is run for n > 1 samples with a cut: the steps before it on each
// sample in turn (a hook call, and its parts, for that sample alone), their live
// tensors gathered for the n samples, then the steps after it on all n.
func (p *Program) runSplit(x []float32, n int, pre, hook Hook, part PartHook, pl *pool, w int) ([]float32, error) {
	g := p.g
	ie := g.Tensors[g.Input].Elems()
	vals := make([][]float32, len(g.Tensors))
	vals[g.Input] = x
	for _, t := range p.live {
		vals[t] = get(pl, n*g.Tensors[t].Elems())
	}
	one := make([][]float32, len(g.Tensors))
	for s := range n {
		clear(one)
		one[g.Input] = x[s*ie : (s+1)*ie]
		if err := p.runSteps(p.steps[:p.cut], one, append([]int(nil), p.uses...), 1, pre, hook, part, pl, w); err != nil {
			put(pl, gather(vals, p.live))
			return nil, err
		}
		for _, t := range p.live {
			e := g.Tensors[t].Elems()
			copy(vals[t][s*e:(s+1)*e], one[t])
		}
		put(pl, gather(one, p.live))
	}
	if err := p.runSteps(p.steps[p.cut:], vals, append([]int(nil), p.tailUses...), n, pre, hook, part, pl, w); err != nil {
		return nil, err
	}
	return vals[g.Output], nil
}

// gather lists the buffers of tensors ts in vals.
func gather(vals [][]float32, ts []int) [][]float32 {
	bufs := make([][]float32, 0, len(ts))
	for _, t := range ts {
		if vals[t] != nil {
			bufs = append(bufs, vals[t])
		}
	}
	return bufs
}
