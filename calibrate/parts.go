package calibrate

import "math"

// partObserver takes one forward call's tensor in parts (a batch's samples,
// a group at a time, in order) and ends as Observe of their concatenation
// would, bit for bit: begin, part for each part, end.
type partObserver interface {
	// begin starts a call of size values in all.
	begin(size int)
	// part adds x, of min lo and max hi (finite).
	part(x []float32, lo, hi float32)
	end()
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

func (o *MinMaxObserver) begin(int) { o.parts.reset() }

func (o *MinMaxObserver) part(_ []float32, lo, hi float32) { o.parts.add(lo, hi) }

// end: min and max are exact in any grouping.
func (o *MinMaxObserver) end() {
	if o.parts.seen {
		o.min = minimum(o.parts.lo, o.min)
		o.max = maximum(o.parts.hi, o.max)
	}
}

func (o *MovingAverageMinMaxObserver) end() {
	if o.parts.seen {
		o.observeRange(o.parts.lo, o.parts.hi)
	}
}

// histParts is a HistogramObserver's state within a call taken in parts.
//
// The tensor's histc edges depend on the call's min and max, known only
// after the last part. They are guessed at begin as the edges of a call that
// stays within the histogram's range, and each part counted on them while
// it is in the caches (counts add up exactly). PyTorch 1.13 truncates the
// edges to integers, so the guess holds unless the call moves the range past
// an integer (5-35% of the calls of MobileNetV2-224's layers after the
// first): then, or on the first call, end counts the parts again from a copy.
// (Running the batch again instead for the observers that need it took more
// CPU than the copies: most batches have one such layer, often a late one.)
type histParts struct {
	r      partRange
	guess  bool // counting on guessed edges
	pl     histPlan
	counts []uint32  // as HistogramObserver.counts
	stash  []float32 // the parts
}

func (o *HistogramObserver) begin(size int) {
	p := &o.p
	p.r.reset()
	p.guess = false
	if cap(p.stash) < size {
		p.stash = make([]float32, 0, size)
	}
	p.stash = p.stash[:0]
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
	p.r.add(lo, hi)
	p.stash = append(p.stash, x...)
	if p.guess {
		count(p.counts[:o.bins+1], p.counts[o.bins+1:], o.idx, x, p.pl.left, p.pl.right, o.bins)
	}
}

func (o *HistogramObserver) end() {
	p := &o.p
	if !p.r.seen {
		return
	}
	pl := o.plan(p.r.lo, p.r.hi)
	if o.guessHolds(pl) {
		o.counts, p.counts = p.counts, o.counts
	} else {
		o.histc(p.stash, pl.left, pl.right)
	}
	o.finish(pl)
}

// guessHolds reports whether the guessed edges are pl's.
func (o *HistogramObserver) guessHolds(pl histPlan) bool {
	return o.p.guess && pl.left == o.p.pl.left && pl.right == o.p.pl.right
}
