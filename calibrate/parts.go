package calibrate

import (
	"math"

	"github.com/ptqc/ptqc/ir/floatk"
)

// partObserver takes one forward call's tensor in parts (a batch's samples,
// a group at a time, in order) and ends as Observe of their concatenation
// would, bit for bit: begin, part for each part, end.
type partObserver interface {
	// begin starts a call of size values in all.
	begin(size int)
	// part adds x and returns its min and max as floatk's MinMax does
	// (ok false: a NaN); a part with a NaN or an infinity leaves the call
	// meaningless, and the caller gives up on it.
	part(x []float32) (lo, hi float32, ok bool)
	end()
}

var (
	_ partObserver = (*MinMaxObserver)(nil)
	_ partObserver = (*MovingAverageMinMaxObserver)(nil)
	_ partObserver = (*HistogramObserver)(nil)
)

// partBins is the power of two above a histogram's bins+1 counts
// (NewHistogramObserver's are always histogramBins).
const partBins = 2 * histogramBins

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

func (o *MinMaxObserver) part(x []float32) (lo, hi float32, ok bool) {
	lo, hi, ok = floatk.Best.MinMax(x)
	if ok {
		o.parts.add(lo, hi)
	}
	return lo, hi, ok
}

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
// Zeros, about half of a ReLU's output and all in one bin, are neither
// counted one by one nor copied: the parts' non-zero values are binned and
// copied in one pass (floatk.HistIndexNonZero), the zeros added to their
// bin at the end (also after a count again: the copy has no zeros either).
type histParts struct {
	r     partRange
	guess bool // counting on guessed edges
	pl    histPlan
	// counts are as HistogramObserver.counts, each half in an array of a
	// power-of-two length: its index masked, the counting loop checks no
	// bounds.
	counts *[2][partBins]uint32
	stash  []float32 // the parts, without their zeros if nz
	// faulted is how much of stash's capacity has been prefaulted: its
	// first pages are written in the first call, a fault each otherwise.
	faulted int
	nz      bool // false: guessed edges too wide for float32 bins (count's other cases)
	zeros   int  // zeros left out of counts and stash
}

func (o *HistogramObserver) begin(size int) {
	p := &o.p
	p.r.reset()
	p.guess, p.nz, p.zeros = false, true, 0
	if cap(p.stash) < size+floatk.HistSlack {
		p.stash = make([]float32, 0, size+floatk.HistSlack)
		p.faulted = 0
	}
	p.stash = p.stash[:0]
	if p.counts == nil {
		p.counts = new([2][partBins]uint32)
	}
	if math.IsInf(float64(o.min), 1) || o.min == o.max {
		return // the first call's edges are its own range
	}
	p.pl = o.plan(o.min, o.max)
	if p.pl.fromData {
		return
	}
	p.guess = true
	p.nz = fitsFloat32(p.pl.left, p.pl.right, o.bins)
	*p.counts = [2][partBins]uint32{}
}

func (o *HistogramObserver) part(x []float32) (lo, hi float32, ok bool) {
	p := &o.p
	if need := min(len(p.stash)+len(x)+floatk.HistSlack, cap(p.stash)); need > p.faulted {
		prefault(p.stash[p.faulted:need])
		p.faulted = need
	}
	if !p.nz {
		lo, hi, ok = floatk.Best.MinMax(x)
		if ok {
			p.r.add(lo, hi)
		}
		p.stash = append(p.stash, x...)
		count(p.counts[0][:o.bins+1], p.counts[1][:o.bins+1], o.idx, x, p.pl.left, p.pl.right, o.bins)
		return lo, hi, ok
	}
	// Without guessed edges the bins are not used.
	left, right := float32(0), float32(1)
	if p.guess {
		left, right = p.pl.left, p.pl.right
	}
	c0, c1 := &p.counts[0], &p.counts[1]
	chunk := len(o.idx) - floatk.HistSlack
	lo, hi, ok = float32(math.Inf(1)), float32(math.Inf(-1)), true
	for len(x) > 0 {
		n := min(len(x), chunk)
		k := len(p.stash)
		// The pass that bins and copies the values finds their range too.
		m, l, h, nonan := floatk.Best.HistIndexNonZero(x[:n], o.idx, p.stash[k:k+n+floatk.HistSlack], left, right,
			float32(o.bins), right-left, int32(o.bins-1))
		lo, hi, ok = min(lo, l), max(hi, h), ok && nonan
		p.stash = p.stash[:k+m]
		p.zeros += n - m
		x = x[n:]
		if !p.guess {
			continue
		}
		ix := o.idx[:m]
		for len(ix) >= 4 {
			c0[ix[0]&(partBins-1)]++
			c1[ix[1]&(partBins-1)]++
			c0[ix[2]&(partBins-1)]++
			c1[ix[3]&(partBins-1)]++
			ix = ix[4:]
		}
		for len(ix) >= 2 {
			c0[ix[0]&(partBins-1)]++
			c1[ix[1]&(partBins-1)]++
			ix = ix[2:]
		}
		if len(ix) > 0 {
			c0[ix[0]&(partBins-1)]++
		}
	}
	if ok {
		p.r.add(lo, hi)
	}
	return lo, hi, ok
}

func (o *HistogramObserver) end() {
	p := &o.p
	if !p.r.seen {
		return
	}
	pl := o.plan(p.r.lo, p.r.hi)
	if o.guessHolds(pl) {
		copy(o.counts[:o.bins+1], p.counts[0][:o.bins+1])
		copy(o.counts[o.bins+1:], p.counts[1][:o.bins+1])
	} else {
		o.histc(p.stash, pl.left, pl.right)
	}
	addZeros(o.counts[:o.bins+1], p.zeros, pl.left, pl.right, o.bins)
	o.finish(pl)
}

// addZeros adds n zeros to the counts c0 (bins+1 of them) where count puts
// them.
func addZeros(c0 []uint32, n int, left, right float32, bins int) {
	in := 0 >= left && 0 <= right
	switch {
	case n == 0:
	case !in:
		if right-left > 0 { // count's first two cases: in the last count
			c0[bins] += uint32(n)
		}
	case fitsFloat32(left, right, bins):
		var idx [1]int32
		floatk.Generic.HistIndex([]float32{0}, idx[:], left, right, float32(bins), right-left, int32(bins-1))
		c0[idx[0]] += uint32(n)
	case right-left > 0:
		c0[min(int((0-float64(left))*float64(bins)/(float64(right)-float64(left))), bins-1)] += uint32(n)
	default: // collapsed edges
		c0[0] += uint32(n)
	}
}

// guessHolds reports whether the guessed edges are pl's.
func (o *HistogramObserver) guessHolds(pl histPlan) bool {
	return o.p.guess && pl.left == o.p.pl.left && pl.right == o.p.pl.right
}
