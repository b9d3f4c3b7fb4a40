package calibrate

import (
	"fmt"
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
