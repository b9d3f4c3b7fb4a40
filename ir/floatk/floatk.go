// Package floatk holds the float32 kernels behind ir's fast interpreter: two
// GEMM micro-kernels, a depthwise kernel over a list of taps, an elementwise
// add, a min/max scan and Sigmoid/SiLU; and, for the int8 interpreter
// (compiler), int16 dot products, a depthwise tap's row and requantization.
// Each exists as portable Go and, on
// amd64, as avo-generated AVX2 and AVX-512 assembly (./asm; Sigmoids is
// AVX2's on both); Best picks the widest the CPU runs.
//
// The kernels compute the sums of ir's reference interpreter in its order,
// each product rounded to float32 before it is added (no fused multiply-add),
// so every tier's results are the reference's bit for bit, up to the sign of
// a zero. That keeps calibration where it was: PyTorch's histogram search is
// so ill-conditioned that activations a few ulps apart can move a layer's
// range by 20% (see calibrate.HistogramObserver).
package floatk

//go:generate go run ./asm -out kernels_amd64.s -stubs stubs_amd64.go

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/ptqc/ptqc/runtime"
)

// Kernels is one tier's set of kernels. Its methods check their arguments'
// bounds and panic on a violation: callers are ir's code, never user input.
type Kernels struct {
	Name string
	// A GEMM micro-tile is up to MR (GemmSeq, GemmDotPhased) or MRDot
	// (GemmDot) rows of A by NR columns of B.
	MR, MRDot, NR int
	// PhasedMinM, if not 0, is the rows from which GemmDotPhased beats
	// GemmDot at any k (see ../fast.go's phasedMinK for the default).
	PhasedMinM int
	// Block divides the length DW computes.
	Block int
	vw    int // Add's and MinMax's vector width (without add and minmax: all in Go)

	seq     gemmFunc
	dot     tmpGemmFunc
	dotNT   tmpGemmFunc // GemmDotStream; nil: none
	dotPh   tmpGemmFunc
	dotPhH  tmpGemmFunc // GemmDotPhasedHalf; nil: none
	dotCol  tmpGemmFunc // GemmDotPhasedCol; nil: none
	dw      func(n, taps int, w *float32, offs *int, x, y *float32, bias, lo, hi float32)
	dw3     [2]dw3Func // strides 1 and 2; nil: DW3 is false
	dw3Cold dw3Func    // stride 2 for an x from memory (DW3's cold); nil: dw3[1]
	add     func(n int, a, b, c *float32)
	minmax  func(n int, x *float32) (lo, hi int32, nan bool)
	histIdx func(n int, x *float32, idx *int32, left, right, nb, width float32, last int32)
	histNZ  func(n int, x *float32, idx *int32, vals *float32, left, right, nb, width float32, last int32) (m int, lo, hi int32) // keys, NaNs' too
	histCNZ func(n int, x *float32, idx *int32, vals *float32, base, ncells int32, tol, rel float32) (m, s int, lo, hi int32)
	count8  func(n int, idx *int32, cc *uint8, mask int, wraps *int32) int
	deint   func(n int, x, even, odd *float32)
	dotsI16 [2]func(k int, a, b *int16, ldb int, out *int32) // one and four rows; nil: Go
	requant func(n int, acc *int32, m, b float32, z, lo, hi int32, y *uint8)
	addRow  func(n int, a *int32, x *uint8, w, wz int32)
	sig     [2]func(n int, x, y *float32) // Sigmoids for n a multiple of 4: sigmoid, SiLU
}

type dw3Func func(oh, ow, ih, iw, pad int, w *float32, x, y *float32, bias *float32, lo, hi float32, channels int)

type gemmFunc func(mr, k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int)

type tmpGemmFunc func(mr, k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int, tmp *float32)

// Generic is the portable Go tier.
var Generic = &Kernels{Name: runtime.Generic.Name, MR: 4, MRDot: 4, NR: 16, Block: 16, vw: 1, seq: gemmSeqGo, dot: gemmDotGo, dotPh: gemmDotPhasedGo, dw: dwGo, count8: count8Go,
	dw3: [2]dw3Func{dw3Go(1), dw3Go(2)}}

// Best is the tier this CPU runs fastest, or the one whose kernels run on
// the tier PTQC_ISA names (runtime.ForcedTier; the int8 tiers avx512vnni and
// amx run avx512's) if this CPU has it.
var Best = best()

func best() *Kernels {
	ts := Tiers()
	if want, _ := runtime.ForcedTier(); want != nil {
		for _, t := range ts {
			if t.Name == want.FloatTier().Name {
				return t
			}
		}
	}
	return ts[0]
}

// GemmSeq computes panels mr x NR tiles, panel p
//
//	c[(p*mr+r)*ldc+j] = clamp(bias[p*mr+r] + sum_{i<k} a[p*k*mr+i*mr+r]*b[i*ldb+j], lo, hi)
//
// for r < mr <= MR and j < NR, each sum starting from the bias and adding
// the terms in i order: the reference's direct convolution. a holds panels
// of A packed k-major (the mr values of step i together); b and c are
// row-major with strides ldb and ldc. clamp keeps NaN and -0.
func (t *Kernels) GemmSeq(panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32, lo, hi float32) {
	t.check("GemmSeq", t.MR, t.NR, panels, mr, k, a, b, ldb, c, ldc, bias)
	pa, pb := firsts(k, a, b)
	t.seq(mr, k, pa, pb, ldb, &c[0], ldc, &bias[0], lo, hi, panels)
}

// firsts is &a[0] and &b[0], or nil for k == 0 (a and b may be empty then).
func firsts(k int, a, b []float32) (pa, pb *float32) {
	if k > 0 {
		return &a[0], &b[0]
	}
	return nil, nil
}

// GemmDot is GemmSeq for mr <= MRDot with the reference's 1x1 convolution
// order: four partial sums (of the steps i = 0, 1, 2, 3 mod 4 below k&^3, the
// last k&3 steps into the first), added as (s0+s1)+(s2+s3), then the bias.
// tmp holds k*NR floats of scratch (a copy of B's columns).
func (t *Kernels) GemmDot(panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32, lo, hi float32, tmp []float32) {
	t.gemmDot("GemmDot", t.dot, panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi, tmp)
}

// gemmDot checks GemmDot's arguments and runs kernel on them.
func (t *Kernels) gemmDot(name string, kernel tmpGemmFunc, panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32, lo, hi float32, tmp []float32) {
	t.check(name, t.MRDot, t.NR, panels, mr, k, a, b, ldb, c, ldc, bias)
	if len(tmp) < max(1, k*t.NR) {
		panic(fmt.Sprintf("floatk: %s %s: %d floats of scratch for k %d", t.Name, name, len(tmp), k))
	}
	pa, pb := firsts(k, a, b)
	kernel(mr, k, pa, pb, ldb, &c[0], ldc, &bias[0], lo, hi, panels, &tmp[0])
}

// GemmDotStream is GemmDot writing C with non-temporal stores, for an
// output bound for memory anyway (larger than the caches): its lines are
// not read from memory before they are written. Where the tier has no such
// kernel, or c and its rows are not aligned to the tier's vectors, it is
// GemmDot. The stores are weakly ordered: the caller calls FenceStream
// after its last one, before C is handed on.
func (t *Kernels) GemmDotStream(panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32, lo, hi float32, tmp []float32) {
	if !t.streams(c, ldc) {
		t.GemmDot(panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi, tmp)
		return
	}
	t.gemmDot("GemmDotStream", t.dotNT, panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi, tmp)
}

// FenceStream orders the GemmDotStream stores before it with every store
// after it (an SFENCE).
func (t *Kernels) FenceStream() {
	if t.dotNT != nil {
		fence()
	}
}

// streams reports whether GemmDotStream has a kernel for c with rows ldc
// apart: non-temporal stores need their vectors aligned.
func (t *Kernels) streams(c []float32, ldc int) bool {
	return t.dotNT != nil && len(c) > 0 && uintptr(unsafe.Pointer(&c[0]))%uintptr(4*t.vw) == 0 && ldc%t.vw == 0
}

// GemmDotPhased is GemmDot for mr <= MR (a larger tile, which pays where k
// is long) with A's panels holding their k steps in PhaseOrder(k): step i
// multiplies B row PhaseOrder(k)[i]. tmp holds (3*mr+k)*NR floats of
// scratch (spilled sums, a copy of B's columns).
func (t *Kernels) GemmDotPhased(panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32, lo, hi float32, tmp []float32) {
	t.check("GemmDotPhased", t.MR, t.NR, panels, mr, k, a, b, ldb, c, ldc, bias)
	if len(tmp) < (3*mr+k)*t.NR {
		panic(fmt.Sprintf("floatk: %s GemmDotPhased: %d floats of scratch for %d rows, k %d", t.Name, len(tmp), mr, k))
	}
	pa, pb := firsts(k, a, b)
	t.dotPh(mr, k, pa, pb, ldb, &c[0], ldc, &bias[0], lo, hi, panels, &tmp[0])
}

// HasCol reports whether the tier has GemmDotPhasedCol.
func (t *Kernels) HasCol() bool { return t.dotCol != nil }

// GemmDotPhasedCol is GemmDotPhased on one column (HasCol): c[(p*mr+r)*ldc]
// from b[i*ldb], for the last column of a plane (7x7 planes are three
// tiles and a column), where a tile would compute 7 or 15 columns of
// padding.
func (t *Kernels) GemmDotPhasedCol(panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32, lo, hi float32) {
	if t.dotCol == nil {
		panic(fmt.Sprintf("floatk: %s has no GemmDotPhasedCol", t.Name))
	}
	t.check("GemmDotPhasedCol", t.MR, 1, panels, mr, k, a, b, ldb, c, ldc, bias)
	pa, pb := firsts(k, a, b)
	t.dotCol(mr, k, pa, pb, ldb, &c[0], ldc, &bias[0], lo, hi, panels, nil)
}

// HalfNR is the columns of GemmDotPhasedHalf's tiles, NR/2, or 0 where the
// tier has none.
func (t *Kernels) HalfNR() int {
	if t.dotPhH == nil {
		return 0
	}
	return t.NR / 2
}

// GemmDotPhasedHalf is GemmDotPhased on tiles of HalfNR columns (> 0): for
// the last columns of a plane, which fill less than half a tile (7x7 planes
// are 3 tiles and a column). tmp holds 3*MR*HalfNR floats of scratch.
func (t *Kernels) GemmDotPhasedHalf(panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32, lo, hi float32, tmp []float32) {
	nr := t.HalfNR()
	if nr == 0 {
		panic(fmt.Sprintf("floatk: %s has no GemmDotPhasedHalf", t.Name))
	}
	t.check("GemmDotPhasedHalf", t.MR, nr, panels, mr, k, a, b, ldb, c, ldc, bias)
	if len(tmp) < 3*mr*nr {
		panic(fmt.Sprintf("floatk: %s GemmDotPhasedHalf: %d floats of scratch for %d rows", t.Name, len(tmp), mr))
	}
	pa, pb := firsts(k, a, b)
	t.dotPhH(mr, k, pa, pb, ldb, &c[0], ldc, &bias[0], lo, hi, panels, &tmp[0])
}

// PhaseOrder lists the B rows of GemmDotPhased's steps: the rows of each partial
// sum in turn (0, 4, 8, ..., then the last k&3; 1, 5, ...; 2, 6, ...; 3, 7,
// ...).
func PhaseOrder(k int) []int {
	order := make([]int, 0, k)
	for p := range 4 {
		for i := p; i < k&^3; i += 4 {
			order = append(order, i)
		}
		if p == 0 {
			for i := k &^ 3; i < k; i++ {
				order = append(order, i)
			}
		}
	}
	return order
}

// check panics unless the arguments hold panels of mr <= mrMax rows of nr
// columns.
func (t *Kernels) check(name string, mrMax, nr, panels, mr, k int, a, b []float32, ldb int, c []float32, ldc int, bias []float32) {
	rows := panels * mr
	if panels < 1 || mr < 1 || mr > mrMax || k < 0 || len(a) < k*rows || len(bias) < rows ||
		len(c) < (rows-1)*ldc+nr || (k > 0 && len(b) < (k-1)*ldb+nr) {
		panic(fmt.Sprintf("floatk: %s %s(panels %d, mr %d, k %d, len(a) %d, len(b) %d, ldb %d, len(c) %d, ldc %d, len(bias) %d): out of bounds",
			t.Name, name, panels, mr, k, len(a), len(b), ldb, len(c), ldc, len(bias)))
	}
}

// DW computes, for i < n (a multiple of Block),
//
//	y[i] = clamp(bias + sum_t w[t]*x[offs[t]+i], lo, hi)
//
// over the taps t < len(offs) in order: a depthwise convolution where x is
// laid out so that each tap reads a contiguous run.
func (t *Kernels) DW(n int, w []float32, offs []int, x, y []float32, bias, lo, hi float32) {
	ok := n > 0 && n%t.Block == 0 && len(offs) > 0 && len(w) >= len(offs) && len(y) >= n
	for _, o := range offs {
		ok = ok && o >= 0 && o+n <= len(x)
	}
	if !ok {
		panic(fmt.Sprintf("floatk: %s DW(n %d, %d taps, len(w) %d, len(x) %d, len(y) %d): out of bounds",
			t.Name, n, len(offs), len(w), len(x), len(y)))
	}
	t.dw(n, len(offs), &w[0], &offs[0], &x[0], &y[0], bias, lo, hi)
}

// HasDW3 reports whether DW3 runs stride s.
func (t *Kernels) HasDW3(s int) bool { return (s == 1 || s == 2) && t.dw3[s-1] != nil }

// DW3 is a 3x3 depthwise convolution of stride s (HasDW3) and padding pad
// of len(bias) channels: the ih x iw planes x into the oh x ow planes y,
// channel c's weights at w[9*c:], straight from x:
//
//	y[c][oy][ox] = clamp(bias[c] + sum_{ky,kx} w[9*c+ky*3+kx]*x[c][oy*s-pad+ky][ox*s-pad+kx], lo, hi)
//
// over the taps in order, skipping those outside x (up to the sign of a
// zero: columns outside x count as zeros). cold says x comes from memory,
// not the caches: AVX-512's stride 2 then reads it row by row (in order)
// where it otherwise walks each column vector down the rows.
func (t *Kernels) DW3(s, pad int, w, x []float32, ih, iw int, y []float32, oh, ow int, bias []float32, lo, hi float32, cold bool) {
	c := len(bias)
	if !t.HasDW3(s) || pad < 0 || c < 1 || len(w) < 9*c || ih < 1 || iw < 1 || len(x) < c*ih*iw || oh < 1 || ow < 1 ||
		len(y) < c*oh*ow || oh != (ih+2*pad-3)/s+1 || ow != (iw+2*pad-3)/s+1 || ih+2*pad < 3 || iw+2*pad < 3 {
		panic(fmt.Sprintf("floatk: %s DW3(stride %d, pad %d, %d channels, len(w) %d, %d values of %dx%d, %d of %dx%d): bad shape",
			t.Name, s, pad, c, len(w), len(x), ih, iw, len(y), oh, ow))
	}
	k := t.dw3[s-1]
	if cold && s == 2 && t.dw3Cold != nil {
		k = t.dw3Cold
	}
	k(oh, ow, ih, iw, pad, &w[0], &x[0], &y[0], &bias[0], lo, hi, c)
}

// Add sets c[i] = a[i] + b[i].
func (t *Kernels) Add(a, b, c []float32) {
	if len(a) != len(c) || len(b) != len(c) {
		panic(fmt.Sprintf("floatk: Add of lengths %d, %d into %d", len(a), len(b), len(c)))
	}
	v := 0
	if t.add != nil {
		v = len(c) / t.vw * t.vw
	}
	if v > 0 {
		t.add(v, &a[0], &b[0], &c[0])
	}
	addGo(a[v:], b[v:], c[v:])
}

// MinMax returns the least and greatest value of x (len(x) > 0) as Go's min
// and max builtins order them (-0 below +0), and ok = false if x holds a NaN
// (then lo and hi mean nothing).
func (t *Kernels) MinMax(x []float32) (lo, hi float32, ok bool) {
	if len(x) == 0 {
		panic("floatk: MinMax of nothing")
	}
	v := 0
	if t.minmax != nil {
		v = len(x) / t.vw * t.vw
	}
	klo, khi, nan := int32(math.MaxInt32), int32(math.MinInt32), false
	if v > 0 {
		klo, khi, nan = t.minmax(v, &x[0])
	}
	if v < len(x) {
		l, h, n := minmaxGo(x[v:])
		klo, khi, nan = min(klo, l), max(khi, h), nan || n
	}
	return unkey(klo), unkey(khi), !nan
}

// HistIndex sets idx[i] to torch.histc's bin of x[i] in float32 arithmetic,
//
//	min(int32(float32(float32(x[i]-left)*nb)/width), last)
//
// where left <= x[i] <= right, and to last+1 elsewhere (NaN included).
func (t *Kernels) HistIndex(x []float32, idx []int32, left, right, nb, width float32, last int32) {
	if len(idx) < len(x) {
		panic(fmt.Sprintf("floatk: HistIndex of %d values into %d", len(x), len(idx)))
	}
	v := 0
	if t.histIdx != nil {
		v = len(x) / t.vw * t.vw
	}
	if v > 0 {
		t.histIdx(v, &x[0], &idx[0], left, right, nb, width, last)
	}
	histIndexGo(x[v:], idx[v:], left, right, nb, width, last)
}

// HistSlack is the elements past their count HistIndexNonZero's idx and
// vals need: its kernels store whole vectors.
const HistSlack = 16

// HistIndexNonZero is HistIndex of the values of x other than zeros (+0
// and -0), compacted: for the j-th of them it sets idx[j] to its bin and
// vals[j] to the value, and returns their count m. A ReLU's output is about
// half zeros, all in one bin: their count is one addition. idx and vals
// need len(x)+HistSlack elements (what lies past the count is undefined).
// It also returns what MinMax returns for x (+Inf, -Inf and ok for no
// values), from the same pass over x.
func (t *Kernels) HistIndexNonZero(x []float32, idx []int32, vals []float32, left, right, nb, width float32, last int32) (m int, lo, hi float32, ok bool) {
	if len(idx) < len(x)+HistSlack || len(vals) < len(x)+HistSlack {
		panic(fmt.Sprintf("floatk: HistIndexNonZero of %d values into %d and %d", len(x), len(idx), len(vals)))
	}
	if len(x) == 0 {
		return 0, float32(math.Inf(1)), float32(math.Inf(-1)), true
	}
	v := t.vecLen(len(x), t.histNZ != nil)
	klo, khi := int32(math.MaxInt32), int32(math.MinInt32)
	if v > 0 {
		m, klo, khi = t.histNZ(v, &x[0], &idx[0], &vals[0], left, right, nb, width, last)
	}
	m += histIndexNonZeroGo(x[v:], idx[m:], vals[m:], left, right, nb, width, last)
	lo, hi, ok = keysRange(x[v:], klo, khi)
	return m, lo, hi, ok
}

// vecLen is the length of x's head a vector kernel takes (have: the tier has
// one): whole vectors.
func (t *Kernels) vecLen(n int, have bool) int {
	if !have {
		return 0
	}
	return n / t.vw * t.vw
}

// keysRange is MinMax's result from a vector kernel's min and max keys of
// x's head (MaxInt32 and MinInt32 for none) and the rest of x, tail.
func keysRange(tail []float32, klo, khi int32) (lo, hi float32, ok bool) {
	// Every NaN's key lies outside the infinities'.
	nan := klo < key(float32(math.Inf(-1))) || khi > key(float32(math.Inf(1)))
	if len(tail) > 0 {
		l, h, n := minmaxGo(tail)
		klo, khi, nan = min(klo, l), max(khi, h), nan || n
	}
	return unkey(klo), unkey(khi), !nan
}

func histIndexNonZeroGo(x []float32, idx []int32, vals []float32, left, right, nb, width float32, last int32) int {
	m := 0
	for _, v := range x {
		if v == 0 {
			continue
		}
		vals[m] = v
		histIndexGo(vals[m:m+1], idx[m:m+1], left, right, nb, width, last)
		m++
	}
	return m
}

func histIndexGo(x []float32, idx []int32, left, right, nb, width float32, last int32) {
	for i, v := range x {
		if v >= left && v <= right {
			idx[i] = min(int32(float32(float32(v-left)*nb)/width), last)
		} else {
			idx[i] = last + 1
		}
	}
}

// HistCells is the cells per unit of value of HistCellNonZero.
const HistCells = 2048

// HistCellNonZero is HistIndexNonZero with cells for bins, its values split
// in two: of the non-zero values v of x, in order, those whose c = v*HistCells
// (exact in float32) is at least t = float32(rel*c) + tol from the nearest
// integer (min(frac, 1-frac) >= t, exactly) and whose cell floor(c) - base
// lies in [0, ncells) have the cell in idx, m of them; the others (a NaN or
// an infinity too) are in vals, s of them. A value that far from an integer has the same
// histc bin for any integer edges whose float32 bin arithmetic errs by less
// than t cells (calibrate's histogram observer: tol for any value, rel for
// one in proportion to its distance from the left edge); the others are
// counted from vals. tol is in (0, 1/2), rel >= 0.
func (t *Kernels) HistCellNonZero(x []float32, idx []int32, vals []float32, base, ncells int32, tol, rel float32) (m, s int, lo, hi float32, ok bool) {
	if len(idx) < len(x)+HistSlack || len(vals) < len(x)+HistSlack {
		panic(fmt.Sprintf("floatk: HistCellNonZero of %d values into %d and %d", len(x), len(idx), len(vals)))
	}
	if ncells < 0 || !(tol > 0 && tol < 0.5) || !(rel >= 0 && rel < 1) {
		panic(fmt.Sprintf("floatk: HistCellNonZero of %d cells, tolerance %v + %v per cell", ncells, tol, rel))
	}
	if len(x) == 0 {
		return 0, 0, float32(math.Inf(1)), float32(math.Inf(-1)), true
	}
	v := t.vecLen(len(x), t.histCNZ != nil)
	klo, khi := int32(math.MaxInt32), int32(math.MinInt32)
	if v > 0 {
		m, s, klo, khi = t.histCNZ(v, &x[0], &idx[0], &vals[0], base, ncells, tol, rel)
	}
	m2, s2 := histCellNonZeroGo(x[v:], idx[m:], vals[s:], base, ncells, tol, rel)
	lo, hi, ok = keysRange(x[v:], klo, khi)
	return m + m2, s + s2, lo, hi, ok
}

func histCellNonZeroGo(x []float32, idx []int32, vals []float32, base, ncells int32, tol, rel float32) (m, s int) {
	for _, v := range x {
		if v == 0 {
			continue
		}
		c := v * HistCells
		f := float32(math.Floor(float64(c)))
		t := float32(rel*c) + tol // the conversion: no fused multiply-add
		fr := c - f
		if d := min(fr, 1-fr); d >= t && f > math.MinInt32 && f < math.MaxInt32 {
			if cell := uint32(int32(f) - base); cell < uint32(ncells) {
				idx[m] = int32(cell)
				m++
				continue
			}
		}
		vals[s] = v
		s++
	}
	return m, s
}

// Count8 adds one, modulo 256, to cc[i&(len(cc)-1)] for each i of idx (as
// a uint32), in order, and lists in wraps each such cell whose count wrapped
// to zero, returning how many: a histogram's cells a byte each (its hot
// cells stay in L1), each wrap worth 256 more. cc's length is a power of
// two; wraps holds len(idx) cells at least.
func (t *Kernels) Count8(idx []int32, cc []uint8, wraps []int32) int {
	if len(cc) == 0 || len(cc)&(len(cc)-1) != 0 || len(wraps) < len(idx) {
		panic(fmt.Sprintf("floatk: Count8 of %d cells into %d counts, room for %d wraps", len(idx), len(cc), len(wraps)))
	}
	if len(idx) == 0 {
		return 0
	}
	return t.count8(len(idx), &idx[0], &cc[0], len(cc)-1, &wraps[0])
}

func count8Go(n int, idx *int32, cc *uint8, mask int, wraps *int32) int {
	is, cs, ws := unsafeSlice(idx, n), unsafeSlice(cc, mask+1), unsafeSlice(wraps, n)
	w := 0
	for _, i := range is {
		j := int(uint32(i)) & mask
		cs[j]++
		if cs[j] == 0 {
			ws[w] = int32(j)
			w++
		}
	}
	return w
}

// DotsI16 sets out[j] to the int32 sum over i < k of a[i]*b[j*ldb+i], for
// j < len(out): the int8 interpreter's accumulators, exact (an int32 sum is
// the same in any order) for its operands, |q - z| <= 255 and |w| <= 127. k
// is a multiple of 16 (rows padded with zeros), ldb >= k.
func (t *Kernels) DotsI16(k int, a, b []int16, ldb int, out []int32) {
	if k%16 != 0 || len(a) < k || ldb < k || len(out) > 0 && len(b) < (len(out)-1)*ldb+k {
		panic(fmt.Sprintf("floatk: DotsI16 of k %d over %d and %d values, ldb %d, %d outputs", k, len(a), len(b), ldb, len(out)))
	}
	if k == 0 {
		clear(out)
		return
	}
	j := 0
	if t.dotsI16[0] != nil {
		for ; j+4 <= len(out); j += 4 {
			t.dotsI16[1](k, &a[0], &b[j*ldb], ldb, &out[j])
		}
		for ; j < len(out); j++ {
			t.dotsI16[0](k, &a[0], &b[j*ldb], ldb, &out[j])
		}
		return
	}
	a = a[:k]
	for ; j < len(out); j++ {
		var s0, s1, s2, s3 int32
		r := b[j*ldb : j*ldb+k]
		for i := 0; i < k; i += 4 {
			r, a := r[i:i+4:i+4], a[i:i+4:i+4]
			s0 += int32(a[0]) * int32(r[0])
			s1 += int32(a[1]) * int32(r[1])
			s2 += int32(a[2]) * int32(r[2])
			s3 += int32(a[3]) * int32(r[3])
		}
		out[j] = s0 + s1 + s2 + s3
	}
}

// Requantize sets y[i] = runtime.Requantize(acc[i], m, b, z, lo, hi) for i <
// len(acc), bit for bit (the int8 interpreter's outputs). len(y) >=
// len(acc).
func (t *Kernels) Requantize(acc []int32, m, b float32, z, lo, hi int32, y []uint8) {
	y = y[:len(acc)]
	v := 0
	if t.requant != nil && isFinite32(m) && isFinite32(b) && lo >= 0 && lo <= hi && hi <= 255 && z >= -255 && z <= 255 {
		v = len(acc) &^ 15
	}
	if v > 0 {
		t.requant(v, &acc[0], m, b, z, lo, hi, &y[0])
	}
	requantizeGo(acc[v:], m, b, z, lo, hi, y[v:])
}

// requantizeGo is Requantize in Go. Out of line, so that its loop keeps its
// values in registers.
//
//go:noinline
func requantizeGo(acc []int32, m, b float32, z, lo, hi int32, y []uint8) {
	y = y[:len(acc)]
	for i, a := range acc {
		y[i] = runtime.Requantize(a, m, b, z, lo, hi)
	}
}

func isFinite32(v float32) bool { return v-v == 0 }

// AddRow adds w*x[i*s] - wz to a[i] for i < len(a): a depthwise tap's
// int32 products along an output row. len(x) > (len(a)-1)*s.
func (t *Kernels) AddRow(a []int32, x []uint8, s int, w, wz int32) {
	if len(a) == 0 {
		return
	}
	_ = x[(len(a)-1)*s]
	v := 0
	if s == 1 && t.addRow != nil {
		v = len(a) &^ 7
	}
	if v > 0 {
		t.addRow(v, &a[0], &x[0], w, wz)
	}
	addRowGo(a[v:], x[v*s:], s, w, wz)
}

// addRowGo is AddRow in Go, out of line as requantizeGo.
//
//go:noinline
func addRowGo(a []int32, x []uint8, s int, w, wz int32) {
	if s == 1 {
		x = x[:len(a)]
		for i, q := range x {
			a[i] += w*int32(q) - wz
		}
		return
	}
	for i := range a {
		a[i] += w*int32(x[i*s]) - wz
	}
}

// Deinterleave sets even[i] = x[2i] and odd[i] = x[2i+1] for i < len(even)
// (len(odd) == len(even), len(x) >= 2*len(even)).
func (t *Kernels) Deinterleave(x, even, odd []float32) {
	n := len(even)
	if len(odd) != n || len(x) < 2*n {
		panic(fmt.Sprintf("floatk: Deinterleave of %d values into %d and %d", len(x), len(even), len(odd)))
	}
	v := 0
	if t.deint != nil {
		v = n / t.vw * t.vw
	}
	if v > 0 {
		t.deint(v, &x[0], &even[0], &odd[0])
	}
	for i := v; i < n; i++ {
		even[i], odd[i] = x[2*i], x[2*i+1]
	}
}

// SigmoidSlack bounds the relative distance between Sigmoids' float64
// values and the formula's as math.Exp computes it (both are within ~1e-15
// of the exact value): 2^-40.
const SigmoidSlack = 0x1p-40

// SigmoidMax bounds the inputs Sigmoids computes.
const SigmoidMax = 80

// Sigmoids sets y[i] to float32(num/(1+math.Exp(-float64(x[i])))), with num
// float64(x[i]) (silu: SiLU) or 1 (Sigmoid), wherever it is sure of that
// value, and to NaN elsewhere: for |x[i]| > SigmoidMax, NaN, and where its
// own float64 value v is so near a float32 rounding boundary that
// v*(1-SigmoidSlack) and v*(1+SigmoidSlack) round apart (a few in 10^5 of
// activations; denormal results). Any value between those two, the
// formula's included, rounds as they do. len(y) >= len(x).
func (t *Kernels) Sigmoids(x, y []float32, silu bool) {
	if len(y) < len(x) {
		panic(fmt.Sprintf("floatk: Sigmoids of %d values into %d", len(x), len(y)))
	}
	v := 0
	k := 0
	if silu {
		k = 1
	}
	if t.sig[k] != nil {
		v = len(x) &^ 3
	}
	if v > 0 {
		t.sig[k](v, &x[0], &y[0])
	}
	sigmoidsGo(x[v:], y[v:], silu)
}

// The constants of sigmoidsGo's exp (keep asm/sigmoid.go in sync).
const (
	expInvL    = 64 / math.Ln2
	expShifter = 0x1.8p52 // adding it rounds to an integer, in the low bits
	// ln2/64 in two parts; expL1 has 33 significant bits, so k*expL1 is exact.
	expL1 = 0x1.62e42fefp-7
	expL2 = math.Ln2/64 - expL1
)

// expTab[j] = 2^(j/64).
var expTab = func() (t [64]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 64)
	}
	return t
}()

// sigmoidsGo is Sigmoids. exp(t) = 2^m * 2^(j/64) * e^r for t =
// (64m+j)*ln2/64 + r, |r| <= ln2/128, e^r by its Taylor polynomial to r^5
// (truncation below 4e-17): within ~1e-15 of exp(t) in all (ir's
// TestSigmoidsExhaustive checks every float32 input against math.Exp's).
func sigmoidsGo(x, y []float32, silu bool) {
	nan := float32(math.NaN())
	for i, v := range x {
		xd := float64(v)
		if !(math.Abs(xd) <= SigmoidMax) {
			y[i] = nan
			continue
		}
		t := -xd
		kf := float64(t*expInvL) + expShifter
		n := int32(math.Float64bits(kf))
		k := kf - expShifter
		r := float64(t-float64(k*expL1)) - float64(k*expL2)
		p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120)))))
		e := float64(expTab[n&63]*p) * math.Float64frombits(uint64(n>>6+1023)<<52)
		num := 1.0
		if silu {
			num = xd
		}
		d := num / (1 + e)
		lo, hi := float32(d*(1-SigmoidSlack)), float32(d*(1+SigmoidSlack))
		if lo != hi {
			lo = nan
		}
		y[i] = lo
	}
}

// key maps a float32 to an int32 that orders as Go's min and max order
// non-NaN floats (negative floats: magnitude bits flipped; -0 < +0).
func key(v float32) int32 {
	b := int32(math.Float32bits(v))
	return b ^ int32(uint32(b>>31)>>1)
}

func unkey(k int32) float32 {
	return math.Float32frombits(uint32(k ^ int32(uint32(k>>31)>>1)))
}

// The portable kernels round each product explicitly (float32(w*x)) so
// that no compiler fuses it into the addition.

func gemmSeqGo(mr, k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int) {
	for p := range panels {
		gemmSeqPanel(mr, k, unsafeAdd(a, p*k*mr), b, ldb, unsafeAdd(c, p*mr*ldc), ldc, unsafeAdd(bias, p*mr), lo, hi)
	}
}

func gemmDotGo(mr, k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int, _ *float32) {
	for p := range panels {
		gemmDotPanel(mr, k, unsafeAdd(a, p*k*mr), b, ldb, unsafeAdd(c, p*mr*ldc), ldc, unsafeAdd(bias, p*mr), lo, hi, nil)
	}
}

func gemmDotPhasedGo(mr, k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int, _ *float32) {
	order := PhaseOrder(k)
	for p := range panels {
		gemmDotPanel(mr, k, unsafeAdd(a, p*k*mr), b, ldb, unsafeAdd(c, p*mr*ldc), ldc, unsafeAdd(bias, p*mr), lo, hi, order)
	}
}

// nr is the columns of a portable Go panel.
const nr = 16

// panelSlices are the slices a panel reads and writes: A (k steps of mr),
// B (k rows of nr, ldb apart), C (mr rows of nr, ldc apart) and the bias.
func panelSlices(mr, k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32) (as, bs, cs, bi []float32) {
	return unsafeSlice(a, k*mr), unsafeSlice(b, max(0, (k-1)*ldb+nr)), unsafeSlice(c, (mr-1)*ldc+nr), unsafeSlice(bias, mr)
}

func gemmSeqPanel(mr, k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32) {
	as, bs, cs, bi := panelSlices(mr, k, a, b, ldb, c, ldc, bias)
	for r := range mr {
		var acc [nr]float32
		for j := range acc {
			acc[j] = bi[r]
		}
		for i := range k {
			w := as[i*mr+r]
			row := bs[i*ldb : i*ldb+nr]
			for j := range acc {
				acc[j] += float32(w * row[j])
			}
		}
		out := cs[r*ldc : r*ldc+nr]
		for j, v := range acc {
			out[j] = clamp(v, lo, hi)
		}
	}
}

// gemmDotPanel is a panel of GemmDot, or of GemmDotPhased with A's steps
// in order.
func gemmDotPanel(mr, k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, order []int) {
	as, bs, cs, bi := panelSlices(mr, k, a, b, ldb, c, ldc, bias)
	for r := range mr {
		var acc [4][nr]float32
		for i := range k {
			row := i
			if order != nil {
				row = order[i]
			}
			p := row & 3
			if row >= k&^3 {
				p = 0
			}
			w := as[i*mr+r]
			br := bs[row*ldb : row*ldb+nr]
			for j := range nr {
				acc[p][j] += float32(w * br[j])
			}
		}
		out := cs[r*ldc : r*ldc+nr]
		for j := range out {
			out[j] = clamp((acc[0][j]+acc[1][j])+(acc[2][j]+acc[3][j])+bi[r], lo, hi)
		}
	}
}

func dwGo(n, taps int, w *float32, offs *int, x, y *float32, bias, lo, hi float32) {
	ws := unsafeSlice(w, taps)
	os := unsafeSlice(offs, taps)
	maxOff := 0
	for _, o := range os {
		maxOff = max(maxOff, o)
	}
	xs := unsafeSlice(x, maxOff+n)
	ys := unsafeSlice(y, n)
	const blk = 16
	for i := 0; i < n; i += blk {
		var acc [blk]float32
		for j := range acc {
			acc[j] = bias
		}
		for t, o := range os {
			src := xs[o+i : o+i+blk]
			for j := range acc {
				acc[j] += float32(ws[t] * src[j])
			}
		}
		for j, v := range acc {
			ys[i+j] = clamp(v, lo, hi)
		}
	}
}

// dw3Go is DW3's portable kernel of stride s; columns outside x count as
// zeros, as the assembly's masked loads read them.
func dw3Go(s int) dw3Func {
	return func(oh, ow, ih, iw, pad int, w *float32, x, y *float32, bias *float32, lo, hi float32, channels int) {
		ws := unsafeSlice(w, 9*channels)
		xs := unsafeSlice(x, channels*ih*iw)
		ys := unsafeSlice(y, channels*oh*ow)
		bs := unsafeSlice(bias, channels)
		for c, b := range bs {
			wc, xc := ws[9*c:9*c+9], xs[c*ih*iw:(c+1)*ih*iw]
			for oy := range oh {
				out := ys[(c*oh+oy)*ow : (c*oh+oy+1)*ow]
				for ox := range out {
					acc := b
					for ky := range 3 {
						iy := oy*s - pad + ky
						if iy < 0 || iy >= ih {
							continue
						}
						row := xc[iy*iw : (iy+1)*iw]
						for kx := range 3 {
							var v float32
							if ix := ox*s - pad + kx; ix >= 0 && ix < iw {
								v = row[ix]
							}
							acc += float32(wc[ky*3+kx] * v)
						}
					}
					out[ox] = clamp(acc, lo, hi)
				}
			}
		}
	}
}

// clamp is the assembly's VMAXPS then VMINPS with the value as second
// source: a NaN stays NaN.
func clamp(v, lo, hi float32) float32 {
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v
}

func addGo(a, b, c []float32) {
	for i := range c {
		c[i] = a[i] + b[i]
	}
}

func minmaxGo(x []float32) (lo, hi int32, nan bool) {
	lo, hi = math.MaxInt32, math.MinInt32
	for _, v := range x {
		if v != v {
			nan = true
			continue
		}
		k := key(v)
		lo, hi = min(lo, k), max(hi, k)
	}
	return lo, hi, nan
}
