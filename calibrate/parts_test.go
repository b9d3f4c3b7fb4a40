package calibrate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/ir/floatk"
)

// TestPartsMatchObserve checks that a call taken in parts (partObserver)
// leaves every observer as Observe of the whole tensor does, bit for bit,
// over sequences of calls whose ranges stay, grow past an integer, grow
// within one, sit within (0, 1) (histc's edges from the data), or are
// constant.
func TestPartsMatchObserve(t *testing.T) {
	type call struct {
		scale, shift float32
		relu, cnst   bool
		relu6        bool
	}
	seqs := map[string][]call{
		"steady":   {{scale: 2}, {scale: 2}, {scale: 2}, {scale: 2}},
		"growing":  {{scale: 1}, {scale: 1.5}, {scale: 3}, {scale: 3.1}, {scale: 7}},
		"relu":     {{scale: 3, relu: true}, {scale: 3, relu: true}, {scale: 9, relu: true}, {scale: 9.2, relu: true}},
		"fraction": {{scale: 0.05, shift: 0.4}, {scale: 0.05, shift: 0.4}, {scale: 0.3, shift: 0.4}},
		"shrink":   {{scale: 10}, {scale: 0.1}, {scale: 0.1, shift: 5}},
		"relu6":    {{scale: 2, relu6: true}, {scale: 9, relu6: true}, {scale: 9, relu6: true}, {scale: 1, relu6: true}},
		"constant": {{cnst: true, shift: 2}, {cnst: true, shift: 2}, {scale: 1}, {scale: 1}},
		"large":    {{scale: 300, shift: -1000}, {scale: 400, shift: -1000}, {scale: 300, shift: 1000}},
	}
	specs := []Spec{
		{Kind: MinMax, DType: QUInt8, Scheme: Affine, ReduceRange: true},
		{Kind: MovingAverageMinMax, DType: QUInt8, Scheme: Affine},
		{Kind: Histogram, DType: QUInt8, Scheme: Affine, ReduceRange: true},
		{Kind: Histogram, DType: QInt8, Scheme: Symmetric},
	}
	asked, ncalls := 0, 0 // histogram calls counted again, of all
	for name, seq := range seqs {
		r := rand.New(rand.NewPCG(uint64(len(name)), 3))
		calls := make([][]float32, len(seq))
		for i, c := range seq {
			x := make([]float32, 5*300)
			for j := range x {
				v := float32(r.NormFloat64())*c.scale + c.shift
				if c.cnst {
					v = c.shift
				}
				if c.relu {
					v = max(v, 0)
				}
				if c.relu6 {
					v = min(max(v, 0), 6)
				}
				x[j] = v
			}
			calls[i] = x
		}
		for _, spec := range specs {
			for _, parts := range []int{1, 2, 5} {
				t.Run(fmt.Sprintf("%s/%v/%d", name, spec, parts), func(t *testing.T) {
					whole, split := NewObserver(spec), NewObserver(spec)
					again := 0
					for i, x := range calls {
						whole.Observe(x)
						po := split.(partObserver)
						feed := func() {
							per := len(x) / parts
							for k := range parts {
								p := x[k*per : (k+1)*per]
								lo, hi, ok := po.part(p)
								wlo, whi, wok := floatk.Best.MinMax(p)
								if lo != wlo || hi != whi || ok != wok {
									t.Fatalf("part of %d values: range %v, %v, %v, want MinMax's %v, %v, %v", len(p), lo, hi, ok, wlo, whi, wok)
								}
							}
						}
						po.begin(len(x))
						feed()
						if h, ok := split.(*HistogramObserver); ok && !h.guessHolds(h.plan(h.p.r.lo, h.p.r.hi)) {
							again++
						}
						po.end()
						if diff := cmp.Diff(state(whole), state(split)); diff != "" {
							t.Fatalf("after call %d (-Observe +parts):\n%s", i, diff)
						}
					}
					if spec.Kind == Histogram {
						asked += again
						ncalls += len(calls)
					}
				})
			}
		}
	}
	// Both paths ran: guessed edges that held, and calls counted again.
	if asked == 0 || asked == ncalls {
		t.Errorf("%d of %d histogram calls counted again", asked, ncalls)
	}
}

// TestPartsCellsAtBoundaries feeds histogram observers calls whose values
// sit on, and a few ulps around, the bin boundaries of the call's own
// torch.histc edges (known before the call from plan), plus the edges and
// ReLU6's clipped values: the cells (histParts) must leave the observer as
// Observe does. A call whose range outgrows the cells' limits fails them;
// the observer without cells stays exact.
func TestPartsCellsAtBoundaries(t *testing.T) {
	seqs := map[string][][2]float32{ // each call's range
		"relu6":    {{0, 4}, {0, 6}, {0, 6}, {0, 6}},
		"growing":  {{-1.5, 3}, {-2.2, 5.5}, {-3.9, 7.1}, {-4, 9}, {-4, 9}},
		"wide":     {{-30, 30}, {-31, 40}, {-33, 41}},
		"positive": {{0, 2.5}, {0, 3.7}, {0, 12}, {0, 12.5}},
		"outgrown": {{0, 2}, {0, 2}, {0, 300}, {0, 300}},
		"large":    {{0, 40}, {0, 90}, {0, 200}, {0, 700}},
	}
	specs := []Spec{
		{Kind: Histogram, DType: QUInt8, Scheme: Affine, ReduceRange: true},
		{Kind: Histogram, DType: QInt8, Scheme: Symmetric},
	}
	cellCalls, exact, relCalls := 0, 0, 0
	for name, seq := range seqs {
		nonNeg := seq[0][0] >= 0 // every range of these starts at 0
		for _, spec := range specs {
			for _, mode := range []string{"cells", "nocells", "nonneg"} {
				noCells := mode == "nocells"
				if mode == "nonneg" && !nonNeg {
					continue
				}
				// Cells fail where the edges outgrow wmax, unless the values
				// are never negative (a tolerance per value, no wmax).
				outgrows := name == "outgrown" && mode == "cells"
				t.Run(fmt.Sprintf("%s/%v/%s", name, spec, mode), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(len(name)), 5))
					whole, split := NewObserver(spec).(*HistogramObserver), NewObserver(spec).(*HistogramObserver)
					if noCells {
						split.withoutCells()
					}
					if mode == "nonneg" {
						split.nonNegative()
					}
					for i, rg := range seq {
						pl := whole.plan(rg[0], rg[1])
						x := []float32{rg[0], rg[1], pl.left, pl.right}
						w := float64(pl.right) - float64(pl.left)
						for len(x) < 6000 {
							k := r.IntN(2049)
							b := float32(float64(pl.left) + float64(k)*w/2048)
							for range r.IntN(3) {
								b = math.Nextafter32(b, float32(r.IntN(2)*2-1)*1e9)
							}
							if b >= rg[0] && b <= rg[1] {
								x = append(x, b)
							}
							if r.IntN(4) == 0 {
								x = append(x, 0)
							}
						}
						r.Shuffle(len(x), func(a, b int) { x[a], x[b] = x[b], x[a] })
						whole.Observe(x)
						split.begin(len(x))
						cells := split.p.cells
						for k := range 3 {
							split.part(x[k*len(x)/3 : (k+1)*len(x)/3])
						}
						rel := split.p.rel > 0
						split.end()
						if split.cellsFailed() {
							if !outgrows {
								t.Fatalf("call %d: cells failed", i)
							}
							return
						}
						if cells {
							cellCalls++
							if rel {
								relCalls++
							}
						} else if i > 0 {
							exact++
						}
						if diff := cmp.Diff(state(whole), state(split)); diff != "" {
							t.Fatalf("after call %d (-Observe +parts):\n%s", i, diff)
						}
					}
					if outgrows {
						t.Fatalf("cells did not fail on a range 150 times the guess")
					}
				})
			}
		}
	}
	if cellCalls == 0 || exact == 0 || relCalls == 0 {
		t.Errorf("%d calls counted cells (%d with a tolerance per value), %d later calls without", cellCalls, relCalls, exact)
	}
}

type obsState struct {
	QParams  QParams
	Min, Max float32
	Hist     []float32
	HMin     float32
	HMax     float32
}

func state(o Observer) obsState {
	lo, hi := o.MinMax()
	s := obsState{QParams: o.QParams(), Min: lo, Max: hi}
	if h, ok := o.(*HistogramObserver); ok {
		s.Hist = append([]float32(nil), h.hist...)
		s.HMin, s.HMax = h.ObservedRange()
	}
	return s
}

// TestPartsNonNegativeBelowZero: an observer told its values are never
// below zero counts cells with a tolerance that holds only for a left edge
// at zero or above; a call whose range goes below zero anyway must fail its
// cells (Calibrate then runs again without them), not count them.
func TestPartsNonNegativeBelowZero(t *testing.T) {
	o := NewObserver(Spec{Kind: Histogram, DType: QUInt8, Scheme: Affine, ReduceRange: true}).(*HistogramObserver)
	o.nonNegative()
	r := rand.New(rand.NewPCG(3, 4))
	call := func(lo, hi float32) {
		x := make([]float32, 3000)
		for i := range x {
			x[i] = lo + (hi-lo)*r.Float32()
		}
		o.begin(len(x))
		for k := range 3 {
			o.part(x[k*len(x)/3 : (k+1)*len(x)/3])
		}
		o.end()
	}
	call(0, 3)
	call(0, 3.5)
	if o.cellsFailed() || o.p.rel == 0 {
		t.Fatalf("a non-negative call: failed %v, tolerance per value %v", o.cellsFailed(), o.p.rel)
	}
	call(-2, 3)
	if !o.cellsFailed() {
		t.Fatal("cells counted a call whose left edge is below zero")
	}
}

// TestPartsCellsWrap: cells count in bytes (floatk.Count8), so a cell
// counted 256 times or more wraps; calls with long runs of one value (an
// image's flat region) and a few hundred of others must leave the observer
// as Observe does.
func TestPartsCellsWrap(t *testing.T) {
	spec := Spec{Kind: Histogram, DType: QUInt8, Scheme: Affine, ReduceRange: true}
	whole, split := NewObserver(spec).(*HistogramObserver), NewObserver(spec).(*HistogramObserver)
	split.nonNegative()
	r := rand.New(rand.NewPCG(7, 8))
	counted := 0
	for i := range 4 {
		x := make([]float32, 5000)
		for j := range x {
			switch {
			case j < 1300:
				x[j] = 0.3
			case j < 2000:
				x[j] = 1.7
			default:
				x[j] = 4 * r.Float32()
			}
		}
		x[0], x[1] = 0, 4+float32(i)/8
		whole.Observe(x)
		split.begin(len(x))
		if split.p.cells {
			counted++
		}
		for k := range 3 {
			split.part(x[k*len(x)/3 : (k+1)*len(x)/3])
		}
		split.end()
		if split.cellsFailed() {
			t.Fatalf("call %d: cells failed", i)
		}
		if diff := cmp.Diff(state(whole), state(split)); diff != "" {
			t.Fatalf("after call %d (-Observe +parts):\n%s", i, diff)
		}
	}
	if counted == 0 || len(split.p.wraps) == 0 {
		t.Errorf("%d calls counted cells, the last with %d wraps", counted, len(split.p.wraps))
	}
}
