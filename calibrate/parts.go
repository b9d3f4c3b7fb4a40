package calibrate

import "math"

// partObserver takes one forward call's tensor in parts (a batch's samples,
// a group at a time, in order) and ends as Observe of their concatenation
// would, bit for bit: begin, part for each part, end. When end reports false
// the observer cannot finish without the parts again: part must then be
// called with each of them again (same order), and end once more, which
// finishes the call.
type partObserver interface {
	begin()
	// part adds x, of min lo and max hi (finite).
	part(x []float32, lo, hi float32)
	end() bool
}

var (
	_ partObserver = (*MinMaxObserver)(nil)
	_ partObserver = (*MovingAverageMinMaxObserver)(nil)
	_ partObserver = (*HistogramObserver)(nil)
)

// partRange is the min and max of a call's parts so far.
type partRange struct {
	lo, hi float32
	seen   bool
}

func (r *partRange) reset() {
	*r = partRange{lo: float32(math.Inf(1)), hi: float32(math.Inf(-1))}
}

func (r *partRange) add(lo, hi float32) {
	r.lo, r.hi, r.seen = min(r.lo, lo), max(r.hi, hi), true
}

func (o *MinMaxObserver) begin() { o.parts.reset() }

func (o *MinMaxObserver) part(_ []float32, lo, hi float32) { o.parts.add(lo, hi) }

// end: min and max are exact in any grouping.
func (o *MinMaxObserver) end() bool {
	if o.parts.seen {
		o.min = minimum(o.parts.lo, o.min)
		o.max = maximum(o.parts.hi, o.max)
	}
	return true
}

func (o *MovingAverageMinMaxObserver) end() bool {
	if o.parts.seen {
		o.observeRange(o.parts.lo, o.parts.hi)
	}
	return true
}

// histParts is a HistogramObserver's state within a call taken in parts.
//
// The tensor's histc edges depend on the call's min and max, known only
// after the last part; they are guessed at begin as the edges of a call that
// stays within the histogram's range, and the parts counted on them as they
// come (counts add up exactly). PyTorch 1.13 truncates the edges to integers,
// so the guess holds unless a call moves the range past an integer (or it is
// the first call): then end asks for the parts again, counted on the edges
// now known.
type histParts struct {
	r      partRange
	guess  bool // counting on guessed edges
	again  bool // counting on the edges end found
	pl     histPlan
	counts []uint32 // as HistogramObserver.counts
}

func (o *HistogramObserver) begin() {
	p := &o.p
	p.r.reset()
	p.again = false
	p.guess = false
	if p.counts == nil {
		p.counts = make([]uint32, len(o.counts))
	}
	if math.IsInf(float64(o.min), 1) || o.min == o.max {
		return // the first call's edges are its own range
	}
	p.pl = o.plan(o.min, o.max)
	if p.pl.fromData {
		return
	}
	p.guess = true
	clear(p.counts)
}

func (o *HistogramObserver) part(x []float32, lo, hi float32) {
	p := &o.p
	if !p.again {
		p.r.add(lo, hi)
	}
	if p.guess || p.again {
		count(p.counts[:o.bins+1], p.counts[o.bins+1:], o.idx, x, p.pl.left, p.pl.right, o.bins)
	}
}

func (o *HistogramObserver) end() bool {
	p := &o.p
	if !p.r.seen {
		return true
	}
	if !p.again {
		pl := o.plan(p.r.lo, p.r.hi)
		if !p.guess || pl.left != p.pl.left || pl.right != p.pl.right {
			p.pl, p.guess, p.again = pl, false, true
			clear(p.counts)
			return false
		}
		p.pl = pl // the same edges, so the same counts; the new range
	}
	o.counts, p.counts = p.counts, o.counts
	o.finish(p.pl)
	p.again = false
	return true
}
