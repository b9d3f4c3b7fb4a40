// Package levels counts how far two runs of 8-bit levels (pixels, planes)
// are apart: the JPEG decoder's tests and tools/jpegagree measure agreement
// with libjpeg-turbo and Pillow with it. It imports nothing of ptqc, so
// runtime's tests can use it.
package levels

import "fmt"

// Diff counts compared levels: N of them, Exact equal, Within1 at most one
// level apart, Max the largest distance.
type Diff struct{ N, Exact, Within1, Max int }

// Add compares a with b, element by element (b at least as long as a).
func (s *Diff) Add(a, b []uint8) {
	for i := range a {
		d := int(a[i]) - int(b[i])
		d = max(d, -d)
		s.N++
		if d == 0 {
			s.Exact++
		}
		if d <= 1 {
			s.Within1++
		}
		s.Max = max(s.Max, d)
	}
}

// Merge adds o's counts to s.
func (s *Diff) Merge(o Diff) {
	s.N, s.Exact, s.Within1, s.Max = s.N+o.N, s.Exact+o.Exact, s.Within1+o.Within1, max(s.Max, o.Max)
}

// Percent is 100*k/N (0 when nothing was compared).
func (s Diff) Percent(k int) float64 {
	if s.N == 0 {
		return 0
	}
	return 100 * float64(k) / float64(s.N)
}

func (s Diff) String() string {
	return fmt.Sprintf("max %d, exact %.3f%%, within 1 %.3f%% of %d", s.Max, s.Percent(s.Exact), s.Percent(s.Within1), s.N)
}
