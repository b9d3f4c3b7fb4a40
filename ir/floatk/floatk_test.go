package floatk

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Every kernel result must be within tolUlps ulps, at the magnitude of the
// sum of |terms| (bias included), of the exact (float64) result: the error
// bound of any summation order with or without fused multiply-adds is
// (terms-1) units of roundoff at that magnitude, and our sums have at most
// 300 terms here, so 512 half-ulps would be the worst case; in practice the
// error is a few ulps.
const tolUlps = 256

func ulp(x float64) float64 {
	x = math.Abs(x)
	if x < math.SmallestNonzeroFloat32 {
		return math.SmallestNonzeroFloat32
	}
	b := math.Float32bits(float32(x))
	return float64(math.Float32frombits(b+1)) - float64(math.Float32frombits(b))
}

func check(t *testing.T, what string, got float32, exact, mag float64, lo, hi float32) {
	t.Helper()
	want := min(max(exact, float64(lo)), float64(hi))
	if d := math.Abs(float64(got) - want); d > tolUlps*ulp(mag) {
		t.Fatalf("%s = %v, want %v (exact, clamped to [%v, %v]): off by %.1f ulps of %v", what, got, want, lo, hi, d/ulp(mag), mag)
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func TestGemm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, kt := range Tiers() {
		for mr := 1; mr <= kt.MR; mr++ {
			for _, k := range []int{0, 1, 7, 300} {
				ldb, ldc := kt.NR+5, kt.NR+3
				a := randSlice(r, k*mr)
				b := randSlice(r, max(0, (k-1)*ldb+kt.NR))
				bias := randSlice(r, mr)
				c := make([]float32, (mr-1)*ldc+kt.NR)
				lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
				if k == 7 {
					lo, hi = 0, 6
				}
				kt.Gemm(mr, k, a, b, ldb, c, ldc, bias, lo, hi)
				for i := range mr {
					for j := range kt.NR {
						exact, mag := float64(bias[i]), math.Abs(float64(bias[i]))
						for p := range k {
							v := float64(a[p*mr+i]) * float64(b[p*ldb+j])
							exact += v
							mag += math.Abs(v)
						}
						check(t, kt.Name+" gemm", c[i*ldc+j], exact, mag, lo, hi)
					}
				}
			}
		}
	}
}

func TestDW(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, kt := range Tiers() {
		n := 3 * kt.Block
		offs := []int{0, 1, 2, 9, 10, 11, 18, 19, 20}
		w := randSlice(r, len(offs))
		x := randSlice(r, 20+n)
		y := make([]float32, n)
		kt.DW(n, w, offs, x, y, 0.5, 0, float32(math.Inf(1)))
		for i := range n {
			exact, mag := 0.5, 0.5
			for j, o := range offs {
				v := float64(w[j]) * float64(x[o+i])
				exact += v
				mag += math.Abs(v)
			}
			check(t, kt.Name+" dw", y[i], exact, mag, 0, float32(math.Inf(1)))
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
