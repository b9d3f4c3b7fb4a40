package calibrate

import (
	"math"
	"slices"

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
//
// Copying every value costs more than counting it (the batches of
// MobileNetV2-224 write gigabytes), so a call after the first whose guessed
// edges are integers counts cells instead (floatk.HistCellNonZero): the
// edges of any such call are integers L < R, so every bin boundary is a
// multiple of 1/2048, and a value whose x*2048 lies farther than tol from
// an integer has the bin of its cell for any such edges with R-L <= wmax.
// Only the other values are copied (ReLU6's sixes, values outside the
// cells' window) and counted exactly at the end. The first call, whose
// edges are its own range, copies its parts until they span an integer (its
// edges are then integers at least that far apart), and counts cells from
// the next part on. A call whose edges outgrow wmax marks the observer
// failed, and Calibrate runs again without cells.
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
	size    int  // the call's values
	nz      bool // false: guessed edges too wide for float32 bins (count's other cases)
	zeros   int  // zeros left out of counts and stash

	cells   bool // this call counts cells: stash holds only the values left out of them
	first   bool // the first call (its edges are its own range)
	noCells bool // never count cells (Calibrate's run after a failed one)
	nonNeg  bool // the observed values are never below zero (a ReLU's): see cellPlan
	failed  bool // a call counted cells its edges outgrew
	base    int32
	ncells  int32
	tol     float32
	rel     float32 // per cell above zero (nonNeg)
	wmax    float32
	// cc counts cells modulo 256 (floatk.Count8), ncells of them used: a
	// byte each keeps the hot ones in L1 (4-byte counts took 5-9% more of a
	// calibration's time, MobileNetV2-224). wraps lists a cell each time its
	// count wrapped to zero.
	cc    []uint8
	wraps []int32
	vals  []float32 // a chunk's values left out of the cells
}

// Cell counting's limits: a call's edges may widen to wmax = cellWiden*w +
// cellSlack for guessed edges w apart, and its cells reach cellPad past them
// (below only where the range has been below zero).
const (
	cellWiden = 4
	cellSlack = 16
	cellPad   = 2
	// tol = wmax*2^-11: histc's float32 arithmetic errs by at most
	// (R-L)*2^-12*(1+2^-11) cells (the subtraction and the division each
	// round once), so tol holds that twice over.
	cellTolPerWidth = 0x1p-11
	// cellMaxTol bounds the share of values copied (2*tol of them).
	cellMaxTol = 1.0 / 8
	// For values never below zero the left edge L (an integer) is not
	// either, so histc's v-L is exact and only its quotient rounds
	// (relative error 2^-24): it errs by less than c*2^-24 cells for c =
	// v*2048, whatever the width, less than a float32's spacing at c, so
	// only values on a cell boundary change bins (the right edge's). The
	// tolerance c*2^-22 + 2^-24 keeps a margin and copies next to nothing
	// (MobileNetV2-224's ReLU layers: 3.8M values, most of them the first
	// batch's first image, against 52M with wmax's).
	cellRelNonNeg = 0x1p-22
	cellTolNonNeg = 0x1p-24
)

// cellPlan sets up cell counting for a call with guessed edges [gl, gr]
// (integers) where the limits allow, and reports whether it did; omin is the
// observer's min so far.
func (p *histParts) cellPlan(gl, gr, omin float32) bool {
	w := gr - gl
	wmax := cellWiden*w + cellSlack
	tol, rel := wmax*cellTolPerWidth, float32(0)
	if p.nonNeg && omin >= 0 {
		tol, rel, wmax = cellTolNonNeg, cellRelNonNeg, float32(math.Inf(1))
	}
	if p.noCells || !(tol <= cellMaxTol) {
		return false
	}
	lo, hi := gl-cellPad, gr+cellPad
	if omin >= 0 {
		lo = max(gl-cellPad, 0)
	}
	ncells := float32(floatk.HistCells) * (hi - lo)
	if !(ncells < 1<<22) || math.Abs(float64(lo)) > 1<<20 {
		return false
	}
	p.base, p.ncells, p.tol, p.rel, p.wmax = int32(lo)*floatk.HistCells, int32(ncells), tol, rel, wmax
	n := 1
	for n < int(p.ncells) {
		n *= 2
	}
	if len(p.cc) < n {
		p.cc = make([]uint8, n) // a power of two: Count8 masks the cells
	}
	clear(p.cc[:p.ncells])
	p.wraps = p.wraps[:0]
	return true
}

func (o *HistogramObserver) begin(size int) {
	p := &o.p
	p.r.reset()
	p.guess, p.nz, p.zeros, p.cells, p.first = false, true, 0, false, false
	p.size, p.stash = size, p.stash[:0]
	if p.counts == nil {
		p.counts = new([2][partBins]uint32)
	}
	if math.IsInf(float64(o.min), 1) || o.min == o.max {
		// The first call's edges are its own range: it copies its parts
		// until their range crosses an integer (see part).
		p.first = true
		return
	}
	p.pl = o.plan(o.min, o.max)
	if p.pl.fromData {
		return
	}
	p.guess = true
	p.nz = fitsFloat32(p.pl.left, p.pl.right, o.bins)
	if p.nz && p.cellPlan(p.pl.left, p.pl.right, o.min) {
		p.cells = true
		return
	}
	*p.counts = [2][partBins]uint32{}
}

func (o *HistogramObserver) part(x []float32) (lo, hi float32, ok bool) {
	p := &o.p
	if p.cells {
		lo, hi, ok = o.partCells(x)
		if ok {
			p.r.add(lo, hi)
		}
		return lo, hi, ok
	}
	p.growStash(len(x))
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
		// A first call whose parts so far span an integer ends with integer
		// edges at least that far apart: its later parts count cells.
		if p.first {
			if gl, gr := float32(truncInt(p.r.lo)), float32(truncInt(p.r.hi)); gl < gr && fitsFloat32(gl, gr, o.bins) {
				p.cells = p.cellPlan(gl, gr, p.r.lo)
			}
		}
	}
	return lo, hi, ok
}

// growStash makes room in stash for n more values (and the kernels'
// slack): doubling, up to the call's size, so that calls which count cells
// (and copy a few values) never hold a whole batch's room.
func (p *histParts) growStash(n int) {
	need := len(p.stash) + n + floatk.HistSlack
	if need <= cap(p.stash) {
		return
	}
	s := make([]float32, len(p.stash), max(need, min(2*cap(p.stash), p.size+floatk.HistSlack)))
	copy(s, p.stash)
	p.stash, p.faulted = s, len(s)
}

// partCells is part for a call that counts cells.
func (o *HistogramObserver) partCells(x []float32) (lo, hi float32, ok bool) {
	p := &o.p
	if len(p.vals) < len(o.idx) {
		p.vals = make([]float32, len(o.idx))
	}
	chunk := len(o.idx) - floatk.HistSlack
	lo, hi, ok = float32(math.Inf(1)), float32(math.Inf(-1)), true
	for len(x) > 0 {
		n := min(len(x), chunk)
		m, s, l, h, nonan := floatk.Best.HistCellNonZero(x[:n], o.idx, p.vals, p.base, p.ncells, p.tol, p.rel)
		lo, hi, ok = min(lo, l), max(hi, h), ok && nonan
		p.zeros += n - m - s
		p.stash = append(p.stash, p.vals[:s]...)
		x = x[n:]
		k := len(p.wraps)
		p.wraps = slices.Grow(p.wraps, m)
		p.wraps = p.wraps[:k+floatk.Best.Count8(o.idx[:m], p.cc, p.wraps[k:k+m])]
	}
	return lo, hi, ok
}

// endCells is end's counting for a call that counted cells, of plan pl; it
// marks the observer failed where the cells cannot tell the bins.
func (o *HistogramObserver) endCells(pl histPlan) {
	p := &o.p
	bins := o.bins
	clear(o.counts)
	c0 := o.counts[:bins+1]
	left, right := pl.left, pl.right
	if pl.fromData || pl.rebin || !(right-left <= p.wmax) || p.rel > 0 && left < 0 { // else the edges are integers
		p.failed = true
		return
	}
	// Cell a (absolute) is bin (a - l)/w for l <= a < r, out of range
	// (the last count) otherwise.
	l, r, w := int64(left)*floatk.HistCells, int64(right)*floatk.HistCells, int64(right-left)
	add := func(j int, c uint32) {
		if a := int64(j) + int64(p.base); a >= l && a < r {
			c0[(a-l)/w] += c
		} else {
			c0[bins] += c
		}
	}
	// Bin k is cells [l+k*w, l+(k+1)*w): sums of runs of w counts (a
	// division per cell took ~1% of a build's time).
	cc := p.cc[:p.ncells]
	in0 := int(min(max(l-int64(p.base), 0), int64(len(cc)))) // cells in range: [in0, in1)
	in1 := int(min(max(r-int64(p.base), 0), int64(len(cc))))
	c0[bins] += sumBytes(cc[:in0]) + sumBytes(cc[in1:])
	clip := func(j int64) int { return int(min(max(j, int64(in0)), int64(in1))) }
	for k := range bins {
		j := l + int64(k)*w - int64(p.base)
		c0[k] += sumBytes(cc[clip(j):clip(j+w)])
	}
	for _, j := range p.wraps {
		add(int(j), 1<<8)
	}
	count(c0, o.counts[bins+1:], o.idx, p.stash, left, right, bins)
}

// sumBytes is the sum of b.
func sumBytes(b []uint8) uint32 {
	var s uint32
	for _, v := range b {
		s += uint32(v)
	}
	return s
}

// cellsFailed reports whether a call counted cells its edges outgrew.
func (o *HistogramObserver) cellsFailed() bool { return o.p.failed }

// withoutCells turns cell counting off (see histParts).
func (o *HistogramObserver) withoutCells() { o.p.noCells = true }

// nonNegative says the observed values are never below zero, so that cells
// may take a tolerance in proportion to the value (see cellPlan). A value
// below zero then fails the calibration's cells, as edges outgrowing wmax
// do.
func (o *HistogramObserver) nonNegative() { o.p.nonNeg = true }

func (o *HistogramObserver) end() {
	p := &o.p
	if !p.r.seen {
		return
	}
	pl := o.plan(p.r.lo, p.r.hi)
	if p.cells {
		if o.endCells(pl); p.failed {
			return
		}
	} else if o.guessHolds(pl) {
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
