package calibrate

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMinMaxObserverRunningRange(t *testing.T) {
	o := NewMinMaxObserver(QUInt8, Affine, true)
	o.Observe([]float32{0.5, 1, 2})
	o.Observe([]float32{-1, 0})
	o.Observe(nil)
	o.Observe([]float32{3})
	mn, mx := o.MinMax()
	if mn != -1 || mx != 3 {
		t.Errorf("MinMax = %v, %v; want -1, 3", mn, mx)
	}
	if diff := cmp.Diff(QParams{f32(4.0 / 127), 32}, o.QParams()); diff != "" {
		t.Errorf("QParams (-want +got):\n%s", diff)
	}
}

func TestMovingAverageMinMaxObserver(t *testing.T) {
	o := NewMovingAverageMinMaxObserver(QUInt8, Affine, false)
	o.Observe([]float32{-1, 2}) // initialises
	o.Observe([]float32{-3, 4}) // min + 0.01*(cur - min), in float32
	c := float32(0.01)
	wantMin := float32(-1) + float32(c*float32(-3-(-1)))
	wantMax := float32(2) + float32(c*float32(4-2))
	mn, mx := o.MinMax()
	if mn != wantMin || mx != wantMax {
		t.Errorf("MinMax = %v, %v; want %v, %v", mn, mx, wantMin, wantMax)
	}
	var obs Observer = o
	if diff := cmp.Diff(CalculateQParams(wantMin, wantMax, QUInt8, Affine, false), obs.QParams()); diff != "" {
		t.Errorf("QParams (-want +got):\n%s", diff)
	}
}
