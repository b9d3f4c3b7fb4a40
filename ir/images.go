package ir

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// groupBytes bounds a group's largest activation in RunImages: with the
// node's other operand and its scratch it stays within a core's L2.
var groupBytes = 256 << 10 // a variable for tests

// RunImages runs the n samples x as Run does, a group of samples at a time
// through all the nodes: a group's activations stay in the caches however
// large n is (a batch of 64 224x224 images holds ~100 MB per layer, which a
// layer-by-layer run streams through memory at every node). Groups are two
// 224x224 images, each through the layers of large activations on its own
// (split.go), or as many small ones as fit groupBytes. With
// several groups and cores, the groups run side by side, one per core, each
// node on its group's core alone; with one group the node's work is split
// across the cores as in Run. Each sample's output is the same, bit for bit,
// whatever the grouping and the number of cores.
//
// The hooks see each group's outputs (their n is the group's size, or 1
// for a sample taken alone before a cut). For one
// node, a hook's calls come in sample order and one at a time; calls for
// different nodes may run at the same time. transient is RunTransient's
// promise about the hooks.
func (p *Program) RunImages(x []float32, n int, pre, hook Hook, transient bool) ([]float32, error) {
	g := p.g
	if err := checkInput(g, x, n); err != nil {
		return nil, err
	}
	elems := g.Tensors[g.Input].Elems()
	recycle := transient || (pre == nil && hook == nil)
	size, groups := p.groups(n)
	if groups == 1 {
		return p.run(x, n, pre, hook, nil, p.poolIf(recycle), 0, true)
	}
	outElems := g.Tensors[g.Output].Elems()
	all := make([]float32, n*outElems)
	err := p.runGroups(n, size, func(s0, k int, _ *[]float32) ([]float32, error) {
		return x[s0*elems : (s0+k)*elems], nil
	}, func(s0, k int, out []float32) {
		copy(all[s0*outElems:(s0+k)*outElems], out)
	}, pre, hook, nil, recycle)
	if err != nil {
		return nil, err
	}
	return all, nil
}

// RunEach runs n samples as RunImages does with transient hooks, each group
// of samples read by load (k samples from sample s0 into x, of k times the
// input's elements) just before it runs, and keeps no output: a pass that
// wants only the hooks (calibration) holds a group's input per core instead
// of all n samples, and runs without a pause at any point of the data.
// part, if not nil, sees the convs' outputs in parts before hook sees them
// whole (PartHook), where a group runs on one core; its calls for a node
// come in the node's hook turn, sample order.
func (p *Program) RunEach(n int, load func(s0, k int, x []float32) error, hook Hook, part PartHook) error {
	_, err := p.runLoaded("RunEach", n, load, hook, part, false)
	return err
}

// RunLoaded runs n samples as RunEach does, without hooks, and returns their
// outputs as RunImages does: an evaluation holds a group's input per core,
// not the batch's, and each core reads its own samples.
func (p *Program) RunLoaded(n int, load func(s0, k int, x []float32) error) ([]float32, error) {
	return p.runLoaded("RunLoaded", n, load, nil, nil, true)
}

func (p *Program) runLoaded(name string, n int, load func(s0, k int, x []float32) error, hook Hook, part PartHook, keepOut bool) ([]float32, error) {
	if n < 0 {
		return nil, fmt.Errorf("ir: %s of %d samples", name, n)
	}
	outElems := p.g.Tensors[p.g.Output].Elems()
	if n == 0 {
		return nil, nil
	}
	elems := p.g.Tensors[p.g.Input].Elems()
	size, groups := p.groups(n)
	input := func(s0, k int, buf *[]float32) ([]float32, error) {
		if cap(*buf) < k*elems {
			*buf = make([]float32, k*elems)
		}
		x := (*buf)[:k*elems]
		return x, load(s0, k, x)
	}
	if groups == 1 {
		// From the pool: a run per sample (a batch of 1) touches no new pages.
		x := p.pool.get(n * elems)
		if err := load(0, n, x); err != nil {
			p.pool.put([][]float32{x})
			return nil, err
		}
		out, err := p.run(x, n, nil, hook, part, &p.pool, 0, true)
		same := len(out) > 0 && &out[0] == &x[0]
		if !same {
			p.pool.put([][]float32{x})
		}
		if err != nil || keepOut {
			return out, err
		}
		if !same {
			p.pool.put([][]float32{out})
		}
		return nil, nil
	}
	var all []float32
	var keep func(s0, k int, out []float32)
	if keepOut {
		all = make([]float32, n*outElems)
		keep = func(s0, k int, out []float32) {
			copy(all[s0*outElems:(s0+k)*outElems], out)
		}
	}
	if err := p.runGroups(n, size, input, keep, nil, hook, part, true); err != nil {
		return nil, err
	}
	return all, nil
}

// groups is the size and count of RunImages' groups for n samples.
func (p *Program) groups(n int) (size, groups int) {
	w := runtime.GOMAXPROCS(0)
	size = p.groupSize()
	if n >= w {
		size = min(size, (n+w-1)/w) // a group for each worker at least
	}
	groups = (n + size - 1) / size
	size = (n + groups - 1) / groups // groups of equal size, give or take one
	return size, (n + size - 1) / size
}

// runGroups runs n samples in groups of size side by side, one group per
// core: input gives group [s0, s0+k)'s samples (buf is the core's to keep
// them in), keep (if not nil) takes its output.
func (p *Program) runGroups(n, size int, input func(s0, k int, buf *[]float32) ([]float32, error), keep func(s0, k int, out []float32), pre, hook Hook, part PartHook, recycle bool) error {
	groups := (n + size - 1) / size
	w := min(runtime.GOMAXPROCS(0), groups)
	var ord *turns
	if w > 1 && (pre != nil || hook != nil) {
		ord = newTurns(p.g.Nodes)
	}
	errs := make([]error, groups)
	var next atomic.Int64
	var wg sync.WaitGroup
	pl := p.poolIf(recycle)
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []float32
			for {
				grp := int(next.Add(1) - 1)
				if grp >= groups || (ord != nil && ord.failed.Load()) {
					return
				}
				s0 := grp * size
				k := min(size, n-s0)
				gpre, ghook, gpart := pre, hook, part
				if ord != nil {
					gpre, ghook, gpart = ord.wrap(pre, grp, k, 0), ord.wrap(hook, grp, k, 1), ord.wrapPart(part, grp)
				}
				xs, err := input(s0, k, &buf)
				var out []float32
				if err == nil {
					out, err = p.run(xs, k, gpre, ghook, gpart, pl, 1, true)
				}
				if err != nil {
					errs[grp] = err
					if ord != nil {
						ord.fail()
					}
					return
				}
				if keep != nil {
					keep(s0, k, out)
				}
				if len(out) > 0 && &out[0] != &xs[0] {
					put(pl, [][]float32{out})
				}
			}
		}()
	}
	wg.Wait()
	// The first group's own error, not a later group's having waited for it.
	var aborted error
	for _, err := range errs {
		if err != nil && !errors.Is(err, errTurnAborted) {
			return err
		}
		if err != nil && aborted == nil {
			aborted = err
		}
	}
	return aborted
}

// groupSize is how many samples make a group of RunImages: splitGroup
// with a cut (split.go), else as many as fit groupBytes.
func (p *Program) groupSize() int {
	if p.cut > 0 {
		return splitGroup
	}
	m := 1
	for _, t := range p.g.Tensors {
		m = max(m, t.Elems())
	}
	return max(1, groupBytes/(4*m))
}

var errTurnAborted = errors.New("run aborted: another group of samples failed")

// turns orders hook calls: group grp calls a hook on a node only after group
// grp-1 has, and once it returned. A group's calls for a node (one, or one
// a sample before a cut: split.go) hold the node's turn from the first to
// the one that brings its last sample; so a node's turns count the groups
// through it.
type turns struct {
	index  map[*Node]int
	mu     sync.Mutex
	cond   *sync.Cond
	next   [2][]int // the group whose turn it is, by hook (pre, hook) and node
	failed atomic.Bool
}

func newTurns(nodes []*Node) *turns {
	t := &turns{index: make(map[*Node]int, len(nodes))}
	for i, nd := range nodes {
		t.index[nd] = i
	}
	t.cond = sync.NewCond(&t.mu)
	t.next = [2][]int{make([]int, len(nodes)), make([]int, len(nodes))}
	return t
}

// wrap is h (hook number which) called in group grp's turn; the group
// has k samples.
func (t *turns) wrap(h Hook, grp, k, which int) Hook {
	if h == nil {
		return nil
	}
	next := t.next[which]
	seen := make([]int, len(next)) // the group's samples through each node
	return func(nd *Node, out []float32, n int) error {
		i, err := t.await(next, nd, grp)
		if err != nil {
			return err
		}
		err = h(nd, out, n)
		if seen[i] += n; seen[i] >= k {
			t.mu.Lock()
			next[i]++
			t.mu.Unlock()
			t.cond.Broadcast()
		}
		return err
	}
}

// wrapPart is part called in group grp's turn of the node's hook: the
// hook's call after the parts ends the turn.
func (t *turns) wrapPart(part PartHook, grp int) PartHook {
	if part == nil {
		return nil
	}
	next := t.next[1]
	// The turn holds from a node's first part to its hook call: waited
	// for once (a node may have thousands of parts).
	held := make([]bool, len(next))
	return func(nd *Node, s int, x []float32, off int) error {
		if i, ok := t.index[nd]; !ok || !held[i] {
			i, err := t.await(next, nd, grp)
			if err != nil {
				return err
			}
			held[i] = true
		}
		return part(nd, s, x, off)
	}
}

// await waits for group grp's turn at node nd (next is the hook's turns)
// and returns nd's index.
func (t *turns) await(next []int, nd *Node, grp int) (int, error) {
	i, ok := t.index[nd]
	if !ok {
		return 0, fmt.Errorf("hook: node %s is not the program's", nd.Name)
	}
	t.mu.Lock()
	for next[i] != grp && !t.failed.Load() {
		t.cond.Wait()
	}
	t.mu.Unlock()
	if t.failed.Load() {
		return 0, errTurnAborted
	}
	return i, nil
}

// fail wakes every waiting group to give up.
func (t *turns) fail() {
	t.mu.Lock()
	t.failed.Store(true)
	t.mu.Unlock()
	t.cond.Broadcast()
}
