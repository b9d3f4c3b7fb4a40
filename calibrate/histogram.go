package calibrate

import (
	"fmt"
	"math"
	"runtime"

	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ir/floatk"
)

// HistogramObserver is torch.ao.quantization.HistogramObserver of PyTorch 1.13
// (bins 2048, upsample_rate 128), reproduced operation by operation:
//
//   - The first call (or any call while min == max) sets min and max to the
//     tensor's and builds the histogram with torch.histc(x, 2048,
//     min=int(min), max=int(max)). As in PyTorch 1.13 the histc range is
//     truncated to integers: values outside [int(min), int(max)] are not
//     counted, and the counts are still read as spanning [min, max]; when
//     int(min) == int(max), histc falls back to the tensor's own min and max
//     (and widens a constant tensor to [v-1, v+1]).
//   - Later calls widen the range (_adjust_min_max relaxes only the max),
//     histogram the new tensor over the (again integer-truncated) new range and
//     add the old histogram, resampled by _combine_histograms (upsample by 128,
//     double precision cumulative sum, downsample).
//   - QParams runs _non_linear_param_search (the L2 quantization-error search)
//     and computes the qparams from the chosen range.
//
// The resampling is computed without materialising PyTorch's bins*downsample
// array, so a call costs O(len(x) + bins*upsample_rate) time and allocates
// nothing.
//
// The result is PyTorch's bit for bit only for bit-identical inputs, and
// PyTorch's algorithm is ill-conditioned: the shifted integral histogram of
// _combine_histograms is float32, so after a range change every empty bin
// above the old range holds (I - float32(I)) / upsample_rate, I the float64
// integral (upsample_rate times the count, often far past 2^24): up to
// ulp(I)/256 per bin (0.125 at 3e8), of either sign; over hundreds of tail
// bins that is as large as the 1e-5 quantile where the search starts, and the
// search's float32 quantization error (negative too on such histograms) then
// decides where it stops. Inputs a few ulps apart (ptqc's float convolutions
// against oneDNN's) can so end with ranges 10% or more apart, in PyTorch as
// here: see TestHistogramMobileNetV2Layer and tools/histogram_model_golden.py.
type HistogramObserver struct {
	dtype        DType
	scheme       Scheme
	reduceRange  bool
	bins         int
	upsampleRate int
	dstNBins     int

	min, max float32   // PyTorch's min_val / max_val buffers
	hist     []float32 // PyTorch's histogram buffer

	// scratch
	next   []float32
	counts []uint32
	idx    []int32 // bins of a chunk of the input
	parts  []histPart
	csum   []float32
	norm   []float32

	p histParts // see partObserver

	// cache of the search result, valid until the next Observe
	searched         bool
	newMin, newMax   float32
	searchIterations int
}

const (
	histogramBins         = 2048
	histogramUpsampleRate = 128
)

// NewHistogramObserver returns a HistogramObserver with PyTorch's defaults
// (2048 bins, upsample rate 128). It panics on quint8 symmetric with
// reduceRange (PyTorch's HistogramObserver accepts it but then returns zero
// point 128 for a 0..127 range; the other observers refuse it).
func NewHistogramObserver(dtype DType, scheme Scheme, reduceRange bool) *HistogramObserver {
	checkSpec(dtype, scheme, reduceRange)
	const bins = histogramBins
	return &HistogramObserver{
		dtype:        dtype,
		scheme:       scheme,
		reduceRange:  reduceRange,
		bins:         bins,
		upsampleRate: histogramUpsampleRate,
		dstNBins:     256, // 2 ** torch.iinfo(dtype).bits, whatever reduce_range says
		min:          float32(math.Inf(1)),
		max:          float32(math.Inf(-1)),
		hist:         make([]float32, bins),
		next:         make([]float32, bins),
		counts:       make([]uint32, 2*bins+2),
		idx:          make([]int32, 4096+floatk.HistSlack),
		csum:         make([]float32, bins),
		norm:         make([]float32, bins),
	}
}

// Observe adds x to the histogram. It panics if x holds a NaN or an infinity
// (PyTorch fails on int() of them too); any finite values are accepted,
// including those for which PyTorch fails (a range past int64 or too wide to
// rebin; see truncInt, count and rebin64).
func (o *HistogramObserver) Observe(x []float32) {
	if len(x) == 0 {
		return
	}
	lo, hi := aminmax(x)
	if lo != lo || math.IsInf(float64(lo), 0) || math.IsInf(float64(hi), 0) {
		panic(fmt.Sprintf("calibrate: histogram observer: tensor range [%v, %v] is not finite", lo, hi))
	}
	pl := o.plan(lo, hi)
	o.histc(x, pl.left, pl.right)
	o.finish(pl)
}

// histPlan is what a forward call's tensor, of range [lo, hi], makes of the
// histogram: its new range, the edges of the tensor's torch.histc, and how
// the old histogram is resampled.
type histPlan struct {
	first                    bool    // the histogram starts over (first call, or min == max)
	cmin, cmax               float32 // the new min_val and max_val
	downsampleRate, startIdx int
	left, right              float32 // torch.histc's edges in float32
	fromData                 bool    // the edges are the tensor's own min and max
	rebin                    bool    // _adjust_min_max overflows: rebin64 resamples instead
}

// plan is the first half of Observe, for a tensor of range [lo, hi].
func (o *HistogramObserver) plan(lo, hi float32) histPlan {
	sameValues := o.min == o.max
	uninitialized := math.IsInf(float64(o.min), 1) && math.IsInf(float64(o.max), -1)
	var pl histPlan
	if uninitialized || sameValues {
		pl = histPlan{first: true, cmin: lo, cmax: hi}
	} else {
		cmin, cmax := minimum(lo, o.min), maximum(hi, o.max)
		var ok bool
		pl.cmin, pl.cmax, pl.downsampleRate, pl.startIdx, ok = o.adjustMinMax(cmin, cmax)
		if !ok {
			pl.cmin, pl.cmax, pl.rebin = cmin, cmax, true
		}
	}
	pl.left, pl.right, pl.fromData = histcEdges(truncInt(pl.cmin), truncInt(pl.cmax), lo, hi)
	return pl
}

// histcEdges are the edges of torch.histc(x, min=l, max=r) for x of range
// [lo, hi] (PyTorch 1.13 passes l and r truncated to integers): when l == r
// histc takes x's own min and max (fromData), and widens a constant x to
// [v-1, v+1].
func histcEdges(l, r float64, lo, hi float32) (left, right float32, fromData bool) {
	if l == r {
		l, r = float64(lo), float64(hi)
		fromData = true
	}
	if l == r {
		l--
		r++
	}
	return float32(l), float32(r), fromData
}

// finish is the second half of Observe: the histogram of the tensor, whose
// counts o.counts holds (see count), resampled into the old one as pl says.
func (o *HistogramObserver) finish(pl histPlan) {
	o.searched = false
	dst := o.next
	if pl.first {
		dst = o.hist
	}
	c0, c1 := o.counts[:o.bins+1], o.counts[o.bins+1:]
	for i := range dst {
		dst[i] = float32(c0[i] + c1[i])
	}
	if pl.first {
		o.min, o.max = pl.cmin, pl.cmax
		return
	}
	switch {
	case pl.cmin == o.min && pl.cmax == o.max:
		for i, v := range o.hist {
			o.next[i] += v
		}
	case pl.rebin:
		o.rebin64(o.next, pl.cmin, pl.cmax)
	default:
		o.combineHistograms(o.next, pl.downsampleRate, pl.startIdx)
	}
	o.hist, o.next = o.next, o.hist
	o.min, o.max = pl.cmin, pl.cmax
}

// truncInt is Python's int() of a float32 tensor: truncation toward zero. Past
// int64, where torch.histc refuses the bound, the value is kept (float32s that
// large are integers).
func truncInt(v float32) float64 {
	return math.Trunc(float64(v))
}

// histc is torch.histc(x, bins, min=left, max=right) on CPU (the
// LINEAR_INTERPOLATION kernel of aten/src/ATen/native/cpu/HistogramKernel.cpp)
// into o.counts, bin i's count the sum of counts[i] and counts[bins+1+i].
func (o *HistogramObserver) histc(x []float32, left, right float32) {
	bins := o.bins
	clear(o.counts)
	c0, c1 := o.counts[:bins+1], o.counts[bins+1:2*bins+2]
	if w := min(runtime.GOMAXPROCS(0), len(x)/parallelHistc); w > 1 && fitsFloat32(left, right, bins) {
		// Counts are integers: parts counted apart add up exactly.
		for len(o.parts) < w {
			o.parts = append(o.parts, histPart{counts: make([]uint32, 2*bins+2), idx: make([]int32, len(o.idx))})
		}
		per := (len(x) + w - 1) / w
		ir.Parallel(w, func(k int) {
			pt := &o.parts[k]
			clear(pt.counts)
			countBins(pt.counts[:bins+1], pt.counts[bins+1:], pt.idx, x[k*per:min(len(x), (k+1)*per)], left, right, right-left, bins)
		})
		for _, pt := range o.parts[:w] {
			for i, c := range pt.counts[:bins+1] {
				c0[i] += c + pt.counts[bins+1+i]
			}
		}
	} else {
		count(c0, c1, o.idx, x, left, right, bins)
	}
}

// count is countBins, or with collapsed float32 edges (|v| too large for
// v±1 to differ, where PyTorch divides by zero) everything in range in bin 0.
func count(c0, c1 []uint32, idx []int32, x []float32, left, right float32, bins int) {
	if fitsFloat32(left, right, bins) {
		countBins(c0, c1, idx, x, left, right, right-left, bins)
		return
	}
	if right-left > 0 {
		// (v-left)*bins would overflow float32 and the bin index with it,
		// where PyTorch's index is undefined: compute it in float64.
		last := bins - 1
		for _, v := range x {
			if v >= left && v <= right {
				c0[min(int((float64(v)-float64(left))*float64(bins)/(float64(right)-float64(left))), last)]++
			} else {
				c0[bins]++
			}
		}
		return
	}
	for _, v := range x {
		if v >= left && v <= right {
			c0[0]++
		}
	}
}

// fitsFloat32 says whether histc's float32 bin arithmetic holds for the
// edges: a positive width whose product with bins stays finite.
func fitsFloat32(left, right float32, bins int) bool {
	w := right - left
	return w > 0 && float64(w)*float64(bins) <= math.MaxFloat32
}

// parallelHistc is the input length per worker above which histc splits.
const parallelHistc = 1 << 16

// histPart is one worker's scratch for a split histc.
type histPart struct {
	counts []uint32
	idx    []int32
}

// countBins adds to c0 and c1 (bins+1 counts each; the last one takes the
// values out of range) the histc bins of x: (elt - leftmost) * nbins /
// (rightmost - leftmost) in float32, the right edge in the last bin
// (floatk.HistIndex). Alternate elements go to c0 and c1, which breaks the
// store-to-load chain when many values fall in one bin (the zeros after a
// ReLU). idx is scratch.
func countBins(c0, c1 []uint32, idx []int32, x []float32, left, right, width float32, bins int) {
	nb := float32(bins)
	for len(x) > 0 {
		n := min(len(x), len(idx))
		ix := idx[:n]
		floatk.Best.HistIndex(x[:n], ix, left, right, nb, width, int32(bins-1))
		i := 0
		for ; i+4 <= n; i += 4 {
			c0[ix[i]]++
			c1[ix[i+1]]++
			c0[ix[i+2]]++
			c1[ix[i+3]]++
		}
		for ; i+2 <= n; i += 2 {
			c0[ix[i]]++
			c1[ix[i+1]]++
		}
		if i < n {
			c0[ix[i]]++
		}
		x = x[n:]
	}
}

// adjustMinMax is HistogramObserver._adjust_min_max in float32. It reports
// false where that arithmetic overflows (a range wider than float32, or one
// 2^40 times the old one, where PyTorch fails or allocates the 2048*2^40
// upsampled bins); the caller then rebins with rebin64.
func (o *HistogramObserver) adjustMinMax(combinedMin, combinedMax float32) (cmin, cmax float32, downsampleRate, startIdx int, ok bool) {
	histBinWidth := (o.max - o.min) / float32(o.bins*o.upsampleRate)
	binsWidth := float32(float32(o.bins) * histBinWidth)
	d := math.Ceil(float64((combinedMax - combinedMin) / binsWidth))
	if !(d >= 1 && d < 1<<40) {
		return 0, 0, 0, 0, false
	}
	downsampleRate = int(d)
	e := float32(float32(downsampleRate)*binsWidth) - (combinedMax - combinedMin)
	cmax = combinedMax + e
	cmin = combinedMin
	start := roundEven32((o.min - cmin) / histBinWidth)
	if math.IsInf(float64(cmax), 0) || !(start >= 0 && start < 1<<60) {
		return 0, 0, 0, 0, false
	}
	return cmin, cmax, downsampleRate, int(start), true
}

// rebin64 adds the current histogram, spanning [o.min, o.max], into dst,
// spanning [cmin, cmax], each bin's count into the bin holding its centre,
// in float64. It stands in for _combine_histograms only where that overflows
// (see adjustMinMax).
func (o *HistogramObserver) rebin64(dst []float32, cmin, cmax float32) {
	w := (float64(o.max) - float64(o.min)) / float64(o.bins)
	span := float64(cmax) - float64(cmin)
	for i, h := range o.hist {
		if h == 0 {
			continue
		}
		c := float64(o.min) + (float64(i)+0.5)*w
		j := 0
		if span > 0 {
			j = int(min(max(math.Floor((c-float64(cmin))/span*float64(o.bins)), 0), float64(o.bins-1)))
		}
		dst[j] += h
	}
}

// combineHistograms is HistogramObserver._combine_histograms: it adds the
// current histogram o.hist, upsampled by upsampleRate, placed at startIdx of a
// bins*downsampleRate grid, integrated in float64 and downsampled, into dst.
// Only the upsampled run is summed; the zeros around it do not change the
// cumulative sum.
func (o *HistogramObserver) combineHistograms(dst []float32, downsampleRate, startIdx int) {
	u := o.upsampleRate
	n := o.bins
	regStart := startIdx
	regEnd := startIdx + n*u
	if total := n * downsampleRate; regEnd > total {
		// PyTorch raises a shape mismatch here; keep what fits.
		regEnd = total
	}
	var s float64 // cumsum(..., dtype=torch.double), sequential
	q := regStart
	var prev float32 // shifted_integral_histogram is float32
	for j := range n {
		hi := downsampleRate * (j + 1) // positions up to downsampleRate-1 + j*downsampleRate
		if hi > regEnd {
			hi = regEnd
		}
		for q < hi {
			b := (q - regStart) / u
			runEnd := min(regStart+(b+1)*u, hi)
			v := float64(o.hist[b])
			for ; q < runEnd; q++ {
				s += v
			}
		}
		interp := float32((s - float64(prev)) / float64(u))
		dst[j] += interp
		prev = float32(s)
	}
}

// QParams runs the non-linear parameter search and computes the scale and zero
// point from its range (scale 1, zero point 0 before any call).
func (o *HistogramObserver) QParams() QParams {
	if math.IsInf(float64(o.min), 1) && math.IsInf(float64(o.max), -1) {
		return QParams{Scale: 1, ZeroPoint: 0}
	}
	lo, hi := o.MinMax()
	return CalculateQParams(lo, hi, o.dtype, o.scheme, o.reduceRange)
}

// MinMax returns the range chosen by the non-linear search (the range QParams
// uses), (+Inf, -Inf) before any call. See ObservedRange for the histogram's
// own range.
func (o *HistogramObserver) MinMax() (min, max float32) {
	if math.IsInf(float64(o.min), 1) && math.IsInf(float64(o.max), -1) {
		return o.min, o.max
	}
	if !o.searched {
		o.newMin, o.newMax = o.nonLinearParamSearch()
		o.searched = true
	}
	return o.newMin, o.newMax
}

// ObservedRange returns PyTorch's min_val and max_val: the range the histogram
// spans (the max relaxed by _adjust_min_max).
func (o *HistogramObserver) ObservedRange() (min, max float32) { return o.min, o.max }

// nonLinearParamSearch is HistogramObserver._non_linear_param_search.
func (o *HistogramObserver) nonLinearParamSearch() (newMin, newMax float32) {
	binWidth := (o.max - o.min) / float32(o.bins)
	total := float64(cascadeSum(o.hist))
	cSum := cumsum32(o.csum, o.hist)

	const stepsize = 1e-5
	alpha, beta := 0.0, 1.0
	startBin, endBin := 0, o.bins-1
	normMin := math.Inf(1)
	iterations := 0
	for alpha < beta {
		iterations++
		nextAlpha := alpha + stepsize
		nextBeta := beta - stepsize
		// cSum[l] < next_alpha * total compares in float32.
		ta := float32(nextAlpha * total)
		tb := float32(nextBeta * total)
		l, r := startBin, endBin
		for l < endBin && cSum[l] < ta {
			l++
		}
		for r > startBin && cSum[r] > tb {
			r--
		}
		nextStart, nextEnd := startBin, endBin
		if l-startBin > endBin-r {
			nextStart = l
			alpha = nextAlpha
		} else {
			nextEnd = r
			beta = nextBeta
		}
		if nextStart == startBin && nextEnd == endBin {
			continue
		}
		norm := o.quantizationError(nextStart, nextEnd)
		if norm > normMin {
			break
		}
		normMin = norm
		startBin, endBin = nextStart, nextEnd
	}
	o.searchIterations = iterations
	newMin = o.min + float32(binWidth*float32(startBin))
	newMax = o.min + float32(binWidth*float32(endBin+1))
	return newMin, newMax
}

// quantizationError is HistogramObserver._compute_quantization_error: the L2
// error of quantizing the histogram with bins [nextStart, nextEnd] mapped onto
// dstNBins levels. Scalars are Python floats (float64); the tensor arithmetic
// is float32, one rounding per PyTorch operation, and the final sum uses
// torch.sum's cascade order.
func (o *HistogramObserver) quantizationError(nextStart, nextEnd int) float64 {
	binWidth := (float64(o.max) - float64(o.min)) / float64(o.bins)
	dstBinWidth := binWidth * float64(nextEnd-nextStart+1) / float64(o.dstNBins)
	if dstBinWidth == 0 {
		return 0
	}
	bw := float32(binWidth)
	dbw := float32(dstBinWidth)
	half := float32(dstBinWidth / 2)
	negHalf := float32(-dstBinWidth / 2)
	half3 := float32(float32(half*half) * half)
	negHalf3 := float32(float32(negHalf*negHalf) * negHalf)
	// _get_norm(tensor(-dbw/2), tensor(dbw/2), density) / density
	mid := (half3 - negHalf3) / 3
	lastDst := float32(o.dstNBins - 1)
	for i, h := range o.hist {
		srcBegin := float32(float32(i-nextStart) * bw)
		srcEnd := srcBegin + bw
		dBegin := clamp32(floorDiv32(srcBegin, dbw), 0, lastDst)
		dBeginCenter := float32(float32(dBegin+0.5) * dbw)
		dEnd := clamp32(floorDiv32(srcEnd, dbw), 0, lastDst)
		density := h / bw

		deltaBegin := srcBegin - dBeginCenter
		db3 := float32(float32(deltaBegin*deltaBegin) * deltaBegin)
		norm := float32(density * ((half3 - db3) / 3))

		k := float32(float32(dEnd-dBegin) - 1)
		norm += float32(k * float32(density*mid))

		dEndCenter := float32(dEnd*dbw) + half
		deltaEnd := srcEnd - dEndCenter
		de3 := float32(float32(deltaEnd*deltaEnd) * deltaEnd)
		norm += float32(density * ((de3 - negHalf3) / 3))

		o.norm[i] = norm
	}
	return float64(cascadeSum(o.norm))
}

// cumsum32 is torch.cumsum of a float32 vector on CPU, which accumulates in
// float64 and rounds each prefix to float32. It writes into dst and returns it.
func cumsum32(dst, src []float32) []float32 {
	var acc float64
	for i, v := range src {
		acc += float64(v)
		dst[i] = float32(acc)
	}
	return dst
}

func clamp32(x, lo, hi float32) float32 {
	return min(max(x, lo), hi)
}

// floorDiv32 is torch.div(a, b, rounding_mode='floor') for float32 (PyTorch's
// c10 div_floor_floating: Python's floor division).
func floorDiv32(a, b float32) float32 {
	if b == 0 {
		return a / b
	}
	mod := fmod32(a, b)
	div := (a - mod) / b
	if mod != 0 && (b < 0) != (mod < 0) {
		div--
	}
	if div == 0 {
		return float32(math.Copysign(0, float64(a/b)))
	}
	floordiv := float32(math.Floor(float64(div)))
	if div-floordiv > 0.5 {
		floordiv++
	}
	return floordiv
}

// fmod32 is C's fmodf (exact).
func fmod32(a, b float32) float32 {
	fa, fb := float64(a), float64(b)
	if fb == 0 || fa != fa || fb != fb || math.IsInf(fa, 0) || math.IsInf(fb, 0) {
		return float32(math.Mod(fa, fb))
	}
	q := math.Trunc(fa / fb)
	if math.Abs(q) >= 1<<24 {
		return float32(math.Mod(fa, fb))
	}
	// q*fb is exact (a 24-bit integer times a 24-bit mantissa) and so is the
	// difference. The rounded quotient never falls below an integer the exact
	// one reaches, but may round up onto the next one: then |q| is one too big.
	r := fa - float64(q*fb)
	if r != 0 && (r < 0) != (fa < 0) {
		if q > 0 {
			q--
		} else {
			q++
		}
		r = fa - float64(q*fb)
	}
	if r == 0 {
		return float32(math.Copysign(0, fa))
	}
	return float32(r)
}

// sumLanes is the float32 vector width of the PyTorch build (AVX2: 8 lanes).
const sumLanes = 8

// cascadeSum is torch.sum of a contiguous float32 vector on CPU with AVX2
// kernels (cascade_sum / vectorized_inner_sum in
// aten/src/ATen/native/cpu/SumKernel.cpp): float32 accumulation in 4
// interleaved rows of 8-lane vectors, summed in cascaded levels.
func cascadeSum(x []float32) float32 {
	lanes := sumLanes
	if len(x) < sumLanes {
		lanes = 1 // scalar_inner_sum: the same algorithm on 1-wide "vectors"
	}
	vecSize := len(x) / lanes
	sizeILP := vecSize / 4 // row_sum: ilp_factor 4

	// multi_row_sum<vec, 4>(size = sizeILP)
	const numLevels = 4
	levelPower := max(4, ceilLog2(sizeILP)/numLevels)
	levelStep := 1 << levelPower
	levelMask := levelStep - 1
	var acc [numLevels][4][sumLanes]float32
	i := 0
	for i+levelStep <= sizeILP {
		for j := 0; j < levelStep; j++ {
			row := x[i*4*lanes:]
			for k := range 4 {
				for l := range lanes {
					acc[0][k][l] += row[k*lanes+l]
				}
			}
			i++
		}
		for j := 1; j < numLevels; j++ {
			for k := range 4 {
				for l := range lanes {
					acc[j][k][l] += acc[j-1][k][l]
					acc[j-1][k][l] = 0
				}
			}
			if i&(levelMask<<(j*levelPower)) != 0 {
				break
			}
		}
	}
	for ; i < sizeILP; i++ {
		row := x[i*4*lanes:]
		for k := range 4 {
			for l := range lanes {
				acc[0][k][l] += row[k*lanes+l]
			}
		}
	}
	for j := 1; j < numLevels; j++ {
		for k := range 4 {
			for l := range lanes {
				acc[0][k][l] += acc[j][k][l]
			}
		}
	}
	p := acc[0]
	// row_sum: leftover vectors, then fold the 4 rows.
	for v := sizeILP * 4; v < vecSize; v++ {
		for l := range lanes {
			p[0][l] += x[v*lanes+l]
		}
	}
	for k := 1; k < 4; k++ {
		for l := range lanes {
			p[0][l] += p[k][l]
		}
	}
	// vectorized_inner_sum: leftover scalars, then the lanes in order.
	var final float32
	for idx := vecSize * lanes; idx < len(x); idx++ {
		final += x[idx]
	}
	for l := range lanes {
		final += p[0][l]
	}
	return final
}

// ceilLog2 is c10's utils::CeilLog2.
func ceilLog2(x int) int {
	if x <= 2 {
		return 1
	}
	n := 0
	for v := uint64(x - 1); v != 0; v >>= 1 {
		n++
	}
	return n
}
