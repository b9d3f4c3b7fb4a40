package floatk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ptqc/ptqc/runtime"
)

// Every tier must compute the sums of ir's reference interpreter exactly:
// the same products, rounded, added in the same order. The tolerance is 0
// ulps; only the sign of a zero may differ (ReLU6 of -0).
func check(t *testing.T, what string, got, want float32) {
	t.Helper()
	if got != want && !(got != got && want != want) {
		t.Fatalf("%s = %v, want %v (%d ulps apart)", what, got, want, int64(math.Float32bits(got))-int64(math.Float32bits(want)))
	}
}

func clampRef(v, lo, hi float32) float32 { return min(max(v, lo), hi) }

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// aligned64 is n floats from a 64-byte boundary, as GemmDotStream's
// non-temporal stores need them.
func aligned64(n int) []float32 {
	buf := make([]float32, n+16)
	off := int(16-uintptr(unsafe.Pointer(&buf[0]))%64/4) % 16
	return buf[off : off+n]
}

func TestGemm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, kt := range Tiers() {
		tmp := make([]float32, (3*kt.MR+300)*kt.NR)
		for _, name := range []string{"GemmSeq", "GemmDot", "GemmDotStream", "GemmDotStream unaligned", "GemmDotPhased", "GemmDotPhasedHalf", "GemmDotPhasedCol"} {
			mrMax, nr := kt.MR, kt.NR
			switch name {
			case "GemmDot", "GemmDotStream", "GemmDotStream unaligned":
				mrMax = kt.MRDot
			case "GemmDotPhasedHalf":
				nr = kt.HalfNR()
				if nr == 0 {
					continue
				}
			case "GemmDotPhasedCol":
				nr = 1
				if !kt.HasCol() {
					continue
				}
			}
			for mr := 1; mr <= mrMax; mr++ {
				for _, k := range []int{0, 1, 3, 4, 7, 300} {
					for _, panels := range []int{1, 2, 3} {
						rows := panels * mr
						ldb, ldc := kt.NR+5, kt.NR+3
						if name == "GemmDotStream" {
							ldc = kt.NR + kt.NR/2 // rows a vector apart
						}
						a := randSlice(r, k*rows)
						b := randSlice(r, max(0, (k-1)*ldb+nr))
						bias := randSlice(r, rows)
						c := make([]float32, (rows-1)*ldc+nr)
						if name == "GemmDotStream" {
							c = aligned64((rows-1)*ldc + nr)
						}
						const untouched = 1234.5
						for i := range c {
							c[i] = untouched
						}
						lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
						if k == 7 {
							lo, hi = 0, 6
						}
						// Step p of A multiplies B row order[p].
						order := make([]int, k)
						for i := range order {
							order[i] = i
						}
						switch name {
						case "GemmSeq":
							kt.GemmSeq(panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi)
						case "GemmDot":
							kt.GemmDot(panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi, tmp)
						case "GemmDotStream", "GemmDotStream unaligned":
							if want := name == "GemmDotStream" && kt.dotNT != nil; kt.streams(c, ldc) != want {
								t.Fatalf("%s %s: streams %v, want %v", kt.Name, name, !want, want)
							}
							kt.GemmDotStream(panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi, tmp)
							kt.FenceStream()
						case "GemmDotPhased":
							kt.GemmDotPhased(panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi, tmp)
							order = PhaseOrder(k)
						case "GemmDotPhasedHalf":
							kt.GemmDotPhasedHalf(panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi, tmp)
							order = PhaseOrder(k)
						default:
							kt.GemmDotPhasedCol(panels, mr, k, a, b, ldb, c, ldc, bias, lo, hi)
							order = PhaseOrder(k)
						}
						for row := range rows {
							ap, i := a[row/mr*k*mr:], row%mr
							for j := range nr {
								var want float32
								if name == "GemmSeq" {
									want = bias[row]
									for p := range k {
										want += float32(ap[p*mr+i] * b[p*ldb+j])
									}
								} else {
									// ir's dot: four partial sums, then the bias.
									var s [4]float32
									for p, br := range order {
										l := br & 3
										if br >= k&^3 {
											l = 0
										}
										s[l] += float32(ap[p*mr+i] * b[br*ldb+j])
									}
									want = (s[0] + s[1]) + (s[2] + s[3]) + bias[row]
								}
								check(t, fmt.Sprintf("%s %s panels %d mr %d k %d [%d][%d]", kt.Name, name, panels, mr, k, row, j), c[row*ldc+j], clampRef(want, lo, hi))
							}
							for j := nr; j < ldc && row*ldc+j < len(c); j++ {
								check(t, fmt.Sprintf("%s %s panels %d mr %d k %d [%d][%d] (outside the tile)", kt.Name, name, panels, mr, k, row, j), c[row*ldc+j], untouched)
							}
						}
					}
				}
			}
		}
	}
}

func TestPhaseOrder(t *testing.T) {
	for k, want := range map[int][]int{
		0: {}, 2: {0, 1}, 4: {0, 1, 2, 3}, 7: {0, 4, 5, 6, 1, 2, 3}, 9: {0, 4, 8, 1, 5, 2, 6, 3, 7},
	} {
		if got := PhaseOrder(k); !slices.Equal(got, want) {
			t.Errorf("PhaseOrder(%d) = %v, want %v", k, got, want)
		}
	}
}

func TestDW(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, kt := range Tiers() {
		n := 7 * kt.Block // 4-vector blocks and single vectors
		offs := []int{0, 1, 2, 9, 10, 11, 18, 19, 20}
		w := randSlice(r, len(offs))
		x := randSlice(r, 20+n)
		y := make([]float32, n)
		kt.DW(n, w, offs, x, y, 0.5, 0, float32(math.Inf(1)))
		for i := range n {
			want := float32(0.5)
			for j, o := range offs {
				want += float32(w[j] * x[o+i])
			}
			check(t, fmt.Sprintf("%s DW [%d]", kt.Name, i), y[i], max(want, 0))
		}
	}
}

func TestDW3(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, kt := range Tiers() {
		for _, s := range []int{1, 2} {
			if !kt.HasDW3(s) {
				continue
			}
			for _, pad := range []int{0, 1, 2} {
				for _, hw := range [][2]int{{1, 1}, {3, 3}, {2, 5}, {7, 7}, {5, 16}, {4, 33}, {9, 70}} {
					ih, iw := hw[0], hw[1]
					if ih+2*pad < 3 || iw+2*pad < 3 {
						continue
					}
					const ch = 3
					oh, ow := (ih+2*pad-3)/s+1, (iw+2*pad-3)/s+1
					w, x, bias := randSlice(r, 9*ch), randSlice(r, ch*ih*iw), randSlice(r, ch)
					for _, cold := range []bool{false, true} {
						name := fmt.Sprintf("%s DW3 stride %d pad %d %dx%d cold %v", kt.Name, s, pad, ih, iw, cold)
						y := randSlice(r, ch*oh*ow+1) // the last must stay
						last := y[ch*oh*ow]
						kt.DW3(s, pad, w, x, ih, iw, y[:ch*oh*ow], oh, ow, bias, 0, 6, cold)
						for c := range ch {
							for oy := range oh {
								for ox := range ow {
									// ir's direct convolution: taps outside x skipped.
									want := bias[c]
									for ky := range 3 {
										for kx := range 3 {
											iy, ix := oy*s-pad+ky, ox*s-pad+kx
											if iy >= 0 && iy < ih && ix >= 0 && ix < iw {
												want += float32(w[9*c+ky*3+kx] * x[(c*ih+iy)*iw+ix])
											}
										}
									}
									check(t, fmt.Sprintf("%s [%d][%d][%d]", name, c, oy, ox), y[(c*oh+oy)*ow+ox], clampRef(want, 0, 6))
								}
							}
						}
						check(t, name+": past the end", y[ch*oh*ow], last)
					}
				}
			}
		}
	}
}

func TestAddMinMax(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	nan := float32(math.NaN())
	negz := float32(math.Copysign(0, -1))
	for _, kt := range Tiers() {
		for _, n := range []int{1, 7, 16, 33, 100} {
			a, b, c := randSlice(r, n), randSlice(r, n), make([]float32, n)
			kt.Add(a, b, c)
			for i := range c {
				if c[i] != a[i]+b[i] {
					t.Fatalf("%s Add: c[%d] = %v, want %v", kt.Name, i, c[i], a[i]+b[i])
				}
			}
			lo, hi, ok := kt.MinMax(a)
			wl, wh := a[0], a[0]
			for _, v := range a {
				wl, wh = min(wl, v), max(wh, v)
			}
			if !ok || lo != wl || hi != wh {
				t.Fatalf("%s MinMax(%d values) = %v, %v, %v; want %v, %v, true", kt.Name, n, lo, hi, ok, wl, wh)
			}
			for _, i := range []int{0, n - 1, n / 2} {
				old := a[i]
				a[i] = nan
				if _, _, ok := kt.MinMax(a); ok {
					t.Fatalf("%s MinMax missed a NaN at %d of %d", kt.Name, i, n)
				}
				a[i] = old
			}
		}
		// Signed zeros order as Go's min and max order them.
		z := make([]float32, 40)
		z[17] = negz
		lo, hi, ok := kt.MinMax(z)
		if !ok || math.Float32bits(lo) != math.Float32bits(negz) || math.Float32bits(hi) != 0 {
			t.Fatalf("%s MinMax of zeros and one -0 = %v (bits %x), %v, %v", kt.Name, lo, math.Float32bits(lo), hi, ok)
		}
		z[17], z[3] = float32(math.Inf(1)), float32(math.Inf(-1))
		if lo, hi, ok := kt.MinMax(z); !ok || !math.IsInf(float64(lo), -1) || !math.IsInf(float64(hi), 1) {
			t.Fatalf("%s MinMax with infinities = %v, %v, %v", kt.Name, lo, hi, ok)
		}
	}
}

func TestHistIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x := randSlice(r, 1000)
	x[3], x[500] = -2.5, 2.5 // the edges
	x[7] = float32(math.NaN())
	for _, kt := range Tiers() {
		for _, c := range []struct{ left, right float32 }{{-2.5, 2.5}, {0, 1}, {-1, 0}, {-0.3, 0.7}} {
			got, want := make([]int32, len(x)), make([]int32, len(x))
			nb := float32(2048)
			width := c.right - c.left
			kt.HistIndex(x, got, c.left, c.right, nb, width, 2047)
			for i, v := range x {
				want[i] = 2048
				if v >= c.left && v <= c.right {
					want[i] = min(int32(float32(float32(v-c.left)*nb)/width), 2047)
				}
			}
			for i := range x {
				if got[i] != want[i] {
					t.Fatalf("%s HistIndex(%v) in [%v, %v]: %d, want %d", kt.Name, x[i], c.left, c.right, got[i], want[i])
				}
			}
		}
	}
}

// TestHistIndexNonZero: the non-zero values in order, with HistIndex's
// bins, over lengths that end vectors anywhere and runs of zeros of both
// signs; and MinMax's results (a NaN put anywhere: only ok then).
func TestHistIndexNonZero(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	negz := float32(math.Copysign(0, -1))
	for _, kt := range Tiers() {
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 47, 100, 1003} {
			x := randSlice(r, n)
			for i := range x {
				switch r.IntN(3) {
				case 0:
					x[i] = 0
				case 1:
					if r.IntN(4) == 0 {
						x[i] = negz
					}
				}
			}
			for ci, c := range []struct{ left, right float32 }{{-2.5, 2.5}, {0, 1}, {-0.3, 0.7}} {
				nb, width := float32(2048), c.right-c.left
				if n > 0 && ci == 2 { // a NaN: MinMax's ok is false
					x = append([]float32(nil), x...)
					nan := uint32(0x7fc00000) | uint32(r.IntN(2))<<31 // either sign
					x[r.IntN(n)] = math.Float32frombits(nan)
				}
				idx, vals := make([]int32, n+HistSlack), make([]float32, n+HistSlack)
				m, lo, hi, ok := kt.HistIndexNonZero(x, idx, vals, c.left, c.right, nb, width, 2047)
				if n == 0 {
					if m != 0 || !ok || !math.IsInf(float64(lo), 1) || !math.IsInf(float64(hi), -1) {
						t.Fatalf("%s HistIndexNonZero of nothing: %d, %v, %v, %v", kt.Name, m, lo, hi, ok)
					}
					continue
				}
				wlo, whi, wok := Generic.MinMax(x)
				if ok != wok || ok && (math.Float32bits(lo) != math.Float32bits(wlo) || math.Float32bits(hi) != math.Float32bits(whi)) {
					t.Fatalf("%s HistIndexNonZero(%d values): min, max %v, %v, %v, want MinMax's %v, %v, %v", kt.Name, n, lo, hi, ok, wlo, whi, wok)
				}
				var wantV []float32
				for _, v := range x {
					if v != 0 {
						wantV = append(wantV, v)
					}
				}
				wantI := make([]int32, len(wantV))
				kt.HistIndex(wantV, wantI, c.left, c.right, nb, width, 2047)
				if diff := cmp.Diff(wantV, vals[:m], cmpopts.EquateEmpty(), cmpopts.EquateNaNs()); diff != "" {
					t.Fatalf("%s HistIndexNonZero(%d values) in [%v, %v]: values (-want +got):\n%s", kt.Name, n, c.left, c.right, diff)
				}
				if diff := cmp.Diff(wantI, idx[:m], cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("%s HistIndexNonZero(%d values) in [%v, %v]: bins (-want +got):\n%s", kt.Name, n, c.left, c.right, diff)
				}
			}
		}
	}
}

// TestHistCellNonZero checks each tier's cells against float64 arithmetic on
// values at and around cell boundaries and the tolerance, of both signs, far
// outside the cells and not finite.
func TestHistCellNonZero(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 11))
	const tol = 1.0 / 64
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 6, 1.0 / 2048, -1.0 / 2048, 3 + tol/2048, 3 + (1-tol)/2048,
		3 + 0.5/2048, 1e-40, -1e-40, 1e30, -1e30, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 4095, 4097, -4097}
	for _, kt := range Tiers() {
		for _, n := range []int{0, 1, 15, 16, 17, 100, 1003} {
			x := randSlice(r, n)
			for i := range x {
				switch r.IntN(4) {
				case 0:
					x[i] = special[r.IntN(len(special))]
				case 1: // on a cell boundary or next to one
					b := float32(r.IntN(40000)-20000) / 2048
					x[i] = []float32{b, math.Nextafter32(b, 100), math.Nextafter32(b, -100)}[r.IntN(3)]
				case 2:
					x[i] *= 8
				}
			}
			for _, c := range []struct {
				base, ncells int32
				tol, rel     float32
			}{{0, 8 * 2048, tol, 0}, {-4 * 2048, 12 * 2048, tol, 0}, {2048, 3, tol, 0}, {0, 0, tol, 0}, {0, 8 * 2048, 0x1p-24, 0x1p-22}, {0, 3000 * 2048, 0x1p-24, 1.0 / 4096}} {
				idx, vals := make([]int32, n+HistSlack), make([]float32, n+HistSlack)
				m, sp, lo, hi, ok := kt.HistCellNonZero(x, idx, vals, c.base, c.ncells, c.tol, c.rel)
				wlo, whi, wok := float32(math.Inf(1)), float32(math.Inf(-1)), true
				if n > 0 {
					wlo, whi, wok = Generic.MinMax(x)
				}
				if ok != wok || ok && (math.Float32bits(lo) != math.Float32bits(wlo) || math.Float32bits(hi) != math.Float32bits(whi)) {
					t.Fatalf("%s HistCellNonZero(%d values): min, max %v, %v, %v, want MinMax's %v, %v, %v", kt.Name, n, lo, hi, ok, wlo, whi, wok)
				}
				var wantV []float32
				var wantI []int32
				for _, v := range x {
					if v == 0 {
						continue
					}
					cf := float64(v) * HistCells
					f := math.Floor(cf)
					cell := f - float64(c.base)
					tc := float64(float32(float64(c.rel)*cf) + c.tol) // t, rounded as float32 arithmetic rounds it
					if fr := cf - f; min(fr, 1-fr) >= tc && cell >= 0 && cell < float64(c.ncells) {
						wantI = append(wantI, int32(cell))
					} else {
						wantV = append(wantV, v)
					}
				}
				if diff := cmp.Diff(wantV, vals[:sp], cmpopts.EquateEmpty(), cmpopts.EquateNaNs()); diff != "" {
					t.Fatalf("%s HistCellNonZero(%d values): values (-want +got):\n%s", kt.Name, n, diff)
				}
				if diff := cmp.Diff(wantI, idx[:m], cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("%s HistCellNonZero(%d values) base %d, %d cells: cells (-want +got):\n%s", kt.Name, n, c.base, c.ncells, diff)
				}
			}
		}
	}
}

// TestCount8 checks each tier's byte counts and wraps against int counts:
// runs of one cell long enough to wrap several times (a constant region's
// values), cells repeated within a turn of the unrolled loop, indices past
// the counts and negative ones (taken modulo the counts' length), and
// lengths that leave a tail.
func TestCount8(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	for _, kt := range Tiers() {
		for _, n := range []int{0, 1, 3, 4, 5, 255, 256, 257, 1000, 4099} {
			for _, size := range []int{1, 2, 64, 4096} {
				idx := make([]int32, n)
				for i := range idx {
					switch r.IntN(4) {
					case 0: // a run
						for j := i; j < n && j < i+300; j++ {
							idx[j] = 3
						}
					case 1:
						idx[i] = int32(r.IntN(3)) - 1
					default:
						idx[i] = int32(r.IntN(2 * size))
					}
				}
				start := make([]uint8, size)
				for i := range start {
					start[i] = uint8(r.IntN(256))
				}
				want := make([]int, size)
				var wantW []int32
				for i, c := range start {
					want[i] = int(c)
				}
				for _, i := range idx {
					j := int(uint32(i)) % size
					if want[j]++; want[j]%256 == 0 {
						wantW = append(wantW, int32(j))
					}
				}
				cc, wraps := slices.Clone(start), make([]int32, n)
				w := kt.Count8(idx, cc, wraps)
				got := make([]int, size)
				for i, c := range cc {
					got[i] = int(c)
				}
				for i := range want {
					want[i] %= 256
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("%s Count8(%d cells into %d): counts (-want +got):\n%s", kt.Name, n, size, diff)
				}
				if diff := cmp.Diff(wantW, wraps[:w], cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("%s Count8(%d cells into %d): wraps (-want +got):\n%s", kt.Name, n, size, diff)
				}
			}
		}
	}
}

func TestDeinterleave(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, kt := range Tiers() {
		for _, n := range []int{0, 1, 7, 16, 37, 64} {
			x := randSlice(r, 2*n+1)
			even, odd := make([]float32, n), make([]float32, n)
			kt.Deinterleave(x, even, odd)
			for i := range n {
				if even[i] != x[2*i] || odd[i] != x[2*i+1] {
					t.Fatalf("%s Deinterleave(%d): [%d] = %v, %v; want %v, %v", kt.Name, n, i, even[i], odd[i], x[2*i], x[2*i+1])
				}
			}
		}
	}
}

// TestDotsI16: every tier's DotsI16 is the plain sum of products, for the
// int8 interpreter's operand ranges (the extremes too), row counts around
// the four-row kernel's and strides past k.
func TestDotsI16(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, kt := range Tiers() {
		for _, k := range []int{0, 16, 32, 48, 160, 4608} {
			for _, rows := range []int{0, 1, 3, 4, 5, 9} {
				ldb := k + 16*r.IntN(3)
				a, b := make([]int16, k), make([]int16, max(rows*ldb, 1))
				for i := range a {
					a[i] = int16(r.IntN(255) - 127)
				}
				for i := range b {
					b[i] = int16(r.IntN(511) - 255)
				}
				if k == 4608 && rows == 9 { // the largest magnitude a sum can have
					for i := range a {
						a[i], b[i] = -127, 255
					}
				}
				want := make([]int32, rows)
				for j := range want {
					for i := range k {
						want[j] += int32(a[i]) * int32(b[j*ldb+i])
					}
				}
				got := make([]int32, rows)
				for j := range got {
					got[j] = 12345 // overwritten
				}
				kt.DotsI16(k, a, b, ldb, got)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: k %d, %d rows, ldb %d (-want +got):\n%s", kt.Name, k, rows, ldb, diff)
				}
			}
		}
	}
}

// TestRequantize: every tier's Requantize is runtime.Requantize, bit for
// bit, over accumulators at the int32 extremes, ties of the rounding,
// multipliers that overflow float32 or vanish, and every clamp; lengths
// around the kernel's 16.
func TestRequantize(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	ms := []float32{1e-3, 0.5, 1, 3.7e-5, 1e30, -1e30, 1e-40, 0, float32(math.Inf(1)), float32(math.NaN())}
	bs := []float32{0, 0.5, -0.5, 1.5, -2.5, 1e9, -1e9, float32(math.NaN())}
	for _, kt := range Tiers() {
		for _, n := range []int{0, 1, 15, 16, 17, 48, 100} {
			acc := make([]int32, n)
			for i := range acc {
				switch r.IntN(4) {
				case 0:
					acc[i] = int32(r.Uint32())
				case 1:
					acc[i] = []int32{math.MaxInt32, math.MinInt32, 0, 1, -1}[r.IntN(5)]
				default:
					acc[i] = int32(r.IntN(2001) - 1000)
				}
			}
			for _, m := range ms {
				for _, b := range bs {
					for _, zl := range [][3]int32{{0, 0, 255}, {128, 0, 255}, {3, 3, 255}, {255, 0, 6}, {-7, 10, 200}} {
						z, lo, hi := zl[0], zl[1], zl[2]
						got := make([]uint8, n)
						kt.Requantize(acc, m, b, z, lo, hi, got)
						for i, a := range acc {
							if want := runtime.Requantize(a, m, b, z, lo, hi); got[i] != want {
								t.Fatalf("%s: n %d: Requantize(%d, m %v, b %v, z %d, [%d, %d]) = %d, want %d", kt.Name, n, a, m, b, z, lo, hi, got[i], want)
							}
						}
					}
				}
			}
		}
		// Ties: m 0.5 makes every odd accumulator a half.
		acc := make([]int32, 64)
		for i := range acc {
			acc[i] = int32(i - 32)
		}
		got := make([]uint8, len(acc))
		kt.Requantize(acc, 0.5, 0, 100, 0, 255, got)
		for i, a := range acc {
			if want := runtime.Requantize(a, 0.5, 0, 100, 0, 255); got[i] != want {
				t.Fatalf("%s: tie %d: %d, want %d", kt.Name, a, got[i], want)
			}
		}
	}
}

// TestAddRow: every tier's AddRow is the Go loop, strides 1 and 2, lengths
// around the kernel's 8.
func TestAddRow(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, kt := range Tiers() {
		for _, s := range []int{1, 2, 3} {
			for _, n := range []int{1, 7, 8, 9, 56, 57} {
				x := make([]uint8, (n-1)*s+1)
				for i := range x {
					x[i] = uint8(r.IntN(256))
				}
				a := make([]int32, n)
				for i := range a {
					a[i] = int32(r.IntN(1 << 20))
				}
				want := slices.Clone(a)
				w, z := int32(r.IntN(255)-127), int32(r.IntN(256))
				for i := range want {
					want[i] += w*int32(x[i*s]) - w*z
				}
				kt.AddRow(a, x, s, w, w*z)
				if diff := cmp.Diff(want, a); diff != "" {
					t.Errorf("%s: stride %d, n %d (-want +got):\n%s", kt.Name, s, n, diff)
				}
			}
		}
	}
}
