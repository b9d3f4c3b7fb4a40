package levels

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiff(t *testing.T) {
	var s Diff
	s.Add([]uint8{0, 10, 255, 7}, []uint8{0, 11, 250, 7, 99})
	var o Diff
	o.Add([]uint8{3}, []uint8{1})
	s.Merge(o)
	if diff := cmp.Diff(Diff{N: 5, Exact: 2, Within1: 3, Max: 5}, s); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got, want := s.String(), "max 5, exact 40.000%, within 1 60.000% of 5"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := (Diff{}).Percent(0); got != 0 {
		t.Errorf("empty Percent = %v, want 0", got)
	}
}
