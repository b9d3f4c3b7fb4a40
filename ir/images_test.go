package ir

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRunImages checks that RunImages gives the reference's outputs bit for
// bit whatever the group size and the number of workers, with and without a
// cut (split.go), and that each hook, node by node, sees the samples in
// order: its calls concatenated are the reference's whole-batch output of
// the node.
func TestRunImages(t *testing.T) {
	mnv2 := randomGraph(t, smallDesc(), 7)
	d := &Description{Arch: "resnet", Block: "basic", Layers: []int{1, 1, 1, 1}, Widths: []int{8, 8, 16, 16}, WidthPerGroup: 64, Groups: 1,
		NumClasses: 5, Input: []int{3, 20, 20}, Mean: []float32{0, 0, 0}, Std: []float32{1, 1, 1}, Weights: "w.safetensors"}
	resnet := randomGraph(t, d, 8)
	defer func(b int) { groupBytes = b }(groupBytes)
	defer func(b int) { minPartsBytes = b }(minPartsBytes)
	defer func(b int) { smallBytes = b }(smallBytes)
	defer func(b, c int) { bandMinBytes, bandBytes = b, c }(bandMinBytes, bandBytes)
	minPartsBytes = 0 // every conv in parts
	bandMinBytes = 0  // every 1x1 conv before a depthwise one in bands,
	bandBytes = 1     // of a panel each
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	mnv2f := Fuse(mnv2)
	for _, g := range []*Graph{mnv2f, Fuse(resnet)} {
		const n = 7
		x := randomInput(n, g.Tensors[g.Input].Shape, 9)
		wantPre, wantPost := map[string][]float32{}, map[string][]float32{}
		keep := func(m map[string][]float32) Hook {
			return func(nd *Node, out []float32, _ int) error {
				m[nd.Name] = append([]float32(nil), out...)
				return nil
			}
		}
		want, err := Reference(g, x, n, keep(wantPre), keep(wantPost))
		if err != nil {
			t.Fatal(err)
		}
		// The first conv's output is among the largest tensors: half of it
		// puts a cut after the first layers.
		var conv *Node
		for _, nd := range g.Nodes {
			if nd.Op == OpConv && conv == nil {
				conv = nd
			}
		}
		for _, small := range []int{1 << 30, 2 * g.Tensors[conv.Out].Elems()} {
			smallBytes = small
			p, err := Compile(g)
			if err != nil {
				t.Fatal(err)
			}
			if split := small < 1<<30; split != (p.cut > 0) {
				t.Fatalf("%s: smallBytes %d: cut %d", g.Name, small, p.cut)
			}
			if banded := slices.ContainsFunc(p.steps, func(st *step) bool { return st.band > 0 }); banded != (g == mnv2f) {
				t.Fatalf("%s: steps in channel bands: %v", g.Name, banded)
			}
			testRunImages(t, p, x, n, want, wantPre, wantPost)
			// Run keeps RunHooks' promise with a cut too: a node's hook
			// once, with all n samples (tools/mnv2_224's BatchNorm
			// statistics take them so).
			calls := map[string]int{}
			if _, err := p.Run(x, n, nil, func(nd *Node, out []float32, k int) error {
				calls[nd.Name]++
				if k != n || len(out) != n*g.Tensors[nd.Out].Elems() {
					return fmt.Errorf("%s: hook of %d samples (%d values), want all %d", nd.Name, k, len(out), n)
				}
				return nil
			}); err != nil {
				t.Fatalf("%s: Run, cut %d: %v", g.Name, p.cut, err)
			}
			for name, c := range calls {
				if c != 1 {
					t.Errorf("%s: Run, cut %d: %s's hook called %d times", g.Name, p.cut, name, c)
				}
			}
		}
	}
}

func testRunImages(t *testing.T, p *Program, x []float32, n int, want []float32, wantPre, wantPost map[string][]float32) {
	t.Helper()
	g := p.g
	for _, procs := range []int{1, 2, 3} {
		for _, gb := range []int{1, 3 * 4 * g.Tensors[g.Input].Elems(), 1 << 30} {
			name := fmt.Sprintf("%s/cut%d/procs%d/group%d", g.Name, p.cut, procs, gb)
			runtime.GOMAXPROCS(procs)
			groupBytes = gb
			out, err := p.RunImages(x, n, nil, nil, true)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, out, cmpBits); diff != "" {
				t.Errorf("%s: output differs from the reference (-want +got):\n%s", name, diff)
			}
			var mu sync.Mutex
			gotPre, gotPost := map[string][]float32{}, map[string][]float32{}
			cat := func(m map[string][]float32) Hook {
				return func(nd *Node, out []float32, k int) error {
					if len(out) != k*g.Tensors[nd.Out].Elems() {
						return fmt.Errorf("%s: %d values for %d samples", nd.Name, len(out), k)
					}
					mu.Lock()
					defer mu.Unlock()
					m[nd.Name] = append(m[nd.Name], out...)
					return nil
				}
			}
			out, err = p.RunImages(x, n, cat(gotPre), cat(gotPost), true)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, out, cmpBits); diff != "" {
				t.Errorf("%s, with hooks: output differs from the reference (-want +got):\n%s", name, diff)
			}
			if diff := cmp.Diff(wantPre, gotPre, cmpBits); diff != "" {
				t.Errorf("%s: pre hook (-want +got):\n%s", name, diff)
			}
			if diff := cmp.Diff(wantPost, gotPost, cmpBits); diff != "" {
				t.Errorf("%s: hook (-want +got):\n%s", name, diff)
			}
			// RunEach: the same hook calls, the input read group by group.
			gotEach := map[string][]float32{}
			elems := g.Tensors[g.Input].Elems()
			err = p.RunEach(n, func(s0, k int, xs []float32) error {
				copy(xs, x[s0*elems:(s0+k)*elems])
				return nil
			}, cat(gotEach), nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantPost, gotEach, cmpBits); diff != "" {
				t.Errorf("%s: RunEach's hook (-want +got):\n%s", name, diff)
			}
			checkParts(t, name, p, x, n, wantPost)
			// RunLoaded: RunImages' outputs, the input read group by group.
			out, err = p.RunLoaded(n, func(s0, k int, xs []float32) error {
				copy(xs, x[s0*elems:(s0+k)*elems])
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, out, cmpBits); diff != "" {
				t.Errorf("%s: RunLoaded's output differs from the reference (-want +got):\n%s", name, diff)
			}
		}
	}
}

// checkParts checks RunEach's part hook: a node's parts (where it has
// them) come in its hook's turn, sample by sample, in sample order; they
// cover each sample's output exactly once and hold the reference's values;
// the hook follows with the same values whole.
func checkParts(t *testing.T, name string, p *Program, x []float32, n int, want map[string][]float32) {
	t.Helper()
	g := p.g
	type state struct {
		base, last int // samples before the group; the last part's sample
		vals       []float32
		covered    []bool
		parted     bool
	}
	var mu sync.Mutex
	st := map[*Node]*state{}
	get := func(nd *Node) *state {
		if st[nd] == nil {
			e := g.Tensors[nd.Out].Elems()
			st[nd] = &state{vals: make([]float32, n*e), covered: make([]bool, n*e)}
		}
		return st[nd]
	}
	var parts, bands int
	var errs []string
	fail := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	part := func(nd *Node, s int, v []float32, off int) error {
		mu.Lock()
		defer mu.Unlock()
		parts++
		e, ns := get(nd), g.Tensors[nd.Out].Elems()
		if smp := e.base + s; smp < e.last || off < 0 || off+len(v) > ns {
			fail("%s: part of sample %d after sample %d, or at %d+%d of %d values", nd.Name, smp, e.last, off, len(v), ns)
		} else {
			e.last, e.parted = smp, true
			for i, f := range v {
				j := smp*ns + off + i
				if e.covered[j] {
					fail("%s: value %d of sample %d in two parts", nd.Name, off+i, smp)
				}
				e.covered[j], e.vals[j] = true, f
			}
		}
		return nil
	}
	hook := func(nd *Node, out []float32, k int) error {
		mu.Lock()
		defer mu.Unlock()
		e, ns := get(nd), g.Tensors[nd.Out].Elems()
		if e.parted {
			for j := e.base * ns; j < (e.base+k)*ns; j++ {
				if !e.covered[j] {
					fail("%s: value %d of sample %d in no part", nd.Name, j%ns, j/ns)
					break
				}
			}
		} else {
			copy(e.vals[e.base*ns:], out)
		}
		if out == nil && !e.parted {
			fail("%s: hook without the output, and no parts", nd.Name)
		} else if out != nil {
			if diff := cmp.Diff(e.vals[e.base*ns:(e.base+k)*ns], out, cmpBits); diff != "" {
				fail("%s: hook and parts differ (-parts +hook):\n%s", nd.Name, diff)
			}
		}
		if out == nil {
			bands++
		}
		e.base += k
		e.last, e.parted = e.base, false
		return nil
	}
	elems := g.Tensors[g.Input].Elems()
	err := p.RunEach(n, func(s0, k int, xs []float32) error {
		copy(xs, x[s0*elems:(s0+k)*elems])
		return nil
	}, hook, part)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range errs {
		t.Errorf("%s: RunEach: %s", name, f)
	}
	got := map[string][]float32{}
	for nd, e := range st {
		got[nd.Name] = e.vals
	}
	if diff := cmp.Diff(want, got, cmpBits); diff != "" {
		t.Errorf("%s: RunEach with parts (-want +got):\n%s", name, diff)
	}
	if _, groups := p.groups(n); groups > 1 || runtime.GOMAXPROCS(0) == 1 {
		if parts == 0 {
			t.Errorf("%s: RunEach ran on one core a group and had no parts", name)
		}
		if banded := slices.ContainsFunc(p.steps, func(st *step) bool { return st.band > 0 }); banded != (bands > 0) {
			t.Errorf("%s: RunEach ran on one core a group: steps in bands %v, hooks without the output %d", name, banded, bands)
		}
	}
}

// cmpBits compares floats by value, a zero's sign aside (see fastTolUlps).
var cmpBits = cmp.Comparer(func(a, b float32) bool {
	return a == b || (math.IsNaN(float64(a)) && math.IsNaN(float64(b)))
})

// TestRunImagesHookError checks that a hook's error ends the run, whichever
// group it comes from, and that the groups waiting for their turn give up.
func TestRunImagesHookError(t *testing.T) {
	g, p := oneSampleGroups(t)
	const n = 9
	x := randomInput(n, g.Tensors[g.Input].Shape, 4)
	boom := errors.New("boom")
	for _, procs := range []int{1, 2, 4} {
		runtime.GOMAXPROCS(procs)
		for _, bad := range []int{0, 4, n - 1} {
			seen := 0
			var mu sync.Mutex
			_, err := p.RunImages(x, n, nil, func(nd *Node, _ []float32, k int) error {
				mu.Lock()
				defer mu.Unlock()
				if nd == g.Nodes[len(g.Nodes)/2] {
					if seen == bad {
						return boom
					}
					seen += k
				}
				return nil
			}, true)
			if !errors.Is(err, boom) {
				t.Errorf("procs %d, failing at sample %d: error %v, want %v", procs, bad, err, boom)
			}
		}
	}
}

// TestRunLoadedError checks that a load's error ends the run and that, of
// several failing groups, the first one's error is the one returned.
func TestRunLoadedError(t *testing.T) {
	_, p := oneSampleGroups(t)
	const n = 9
	for _, procs := range []int{1, 2, 4} {
		runtime.GOMAXPROCS(procs)
		for _, bad := range []int{0, 4, n - 1} {
			_, err := p.RunLoaded(n, func(s0, k int, xs []float32) error {
				if s0 <= bad+2 && bad < s0+k || s0 > bad+2 {
					return fmt.Errorf("sample %d", max(s0, bad))
				}
				return nil
			})
			if want := fmt.Sprintf("sample %d", bad); err == nil || err.Error() != want {
				t.Errorf("procs %d, failing from sample %d: error %v, want %s", procs, bad, err, want)
			}
		}
	}
}

// oneSampleGroups is a small fused graph's program run a sample per group;
// GOMAXPROCS and the group size are restored when the test ends.
func oneSampleGroups(t *testing.T) (*Graph, *Program) {
	t.Helper()
	g := Fuse(randomGraph(t, smallDesc(), 3))
	b, procs := groupBytes, runtime.GOMAXPROCS(0)
	t.Cleanup(func() {
		groupBytes = b
		runtime.GOMAXPROCS(procs)
	})
	groupBytes = 1
	p, err := Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	return g, p
}
