package calibrate

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPerChannelMinMaxObserver(t *testing.T) {
	o := NewPerChannelMinMaxObserver(QInt8, Symmetric, false)
	// 3 channels x 2 values, channel-major
	o.ObserveChannels([]float32{-1, 0.5, 0, 0, 2, 3}, 3)
	o.ObserveChannels([]float32{-2, 0, 0, 0, 1, 1}, 3)
	mn, mx := o.ChannelMinMax()
	if diff := cmp.Diff([]float32{-2, 0, 1}, mn); diff != "" {
		t.Errorf("min (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float32{0.5, 0, 3}, mx); diff != "" {
		t.Errorf("max (-want +got):\n%s", diff)
	}
	want := []QParams{{f32(2 / 127.5), 0}, {float64(Eps), 0}, {f32(3 / 127.5), 0}}
	if diff := cmp.Diff(want, o.ChannelQParams()); diff != "" {
		t.Errorf("ChannelQParams (-want +got):\n%s", diff)
	}
}

func TestPerChannelMinMaxObserverBadShape(t *testing.T) {
	for _, f := range []func(o *PerChannelMinMaxObserver){
		func(o *PerChannelMinMaxObserver) { o.ObserveChannels(make([]float32, 5), 2) },
		func(o *PerChannelMinMaxObserver) {
			o.ObserveChannels(make([]float32, 6), 2)
			o.ObserveChannels(make([]float32, 6), 3)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f(NewPerChannelMinMaxObserver(QInt8, Symmetric, false))
		}()
	}
}
