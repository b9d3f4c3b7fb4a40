// Package calibrate holds PyTorch-compatible observers, qconfig presets and the
// calibration run.
//
// The observers reproduce torch.ao.quantization.observer of PyTorch 1.13
// (MinMaxObserver, MovingAverageMinMaxObserver, HistogramObserver and
// PerChannelMinMaxObserver), including its float32 arithmetic, so that the
// scales and zero points match PyTorch's bit for bit. Observers are not safe for
// concurrent use.
package calibrate

import (
	"fmt"
	"math"
	"runtime"

	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ir/floatk"
)

// Kind selects the observer algorithm.
type Kind int

const (
	// MinMax is torch.ao.quantization.MinMaxObserver: the running min and max.
	MinMax Kind = iota
	// MovingAverageMinMax is MovingAverageMinMaxObserver with
	// averaging_constant 0.01; the first call initialises min and max.
	MovingAverageMinMax
	// Histogram is HistogramObserver (2048 bins, upsample_rate 128) with the
	// L2 non-linear parameter search.
	Histogram
)

func (k Kind) String() string {
	return enumName([]string{"minmax", "moving_average_minmax", "histogram"}, int(k), "Kind")
}

// Spec describes a per-tensor observer.
type Spec struct {
	Kind        Kind
	DType       DType
	Scheme      Scheme
	ReduceRange bool
}

// DefaultWeightSpec is PyTorch's default_weight_observer: per-tensor MinMax,
// qint8, symmetric.
var DefaultWeightSpec = Spec{Kind: MinMax, DType: QInt8, Scheme: Symmetric}

// Observer accumulates statistics of one tensor over forward calls.
type Observer interface {
	// Observe records one forward call's tensor (all its elements, any layout).
	// An empty x is ignored, as in PyTorch.
	Observe(x []float32)
	// QParams computes the scale and zero point from what has been observed
	// (scale 1, zero point 0 before any call).
	QParams() QParams
	// MinMax is the range QParams is computed from: the running (or moving
	// average) min and max, or for Histogram the range chosen by the search.
	// Before any call it is (+Inf, -Inf).
	MinMax() (min, max float32)
}

// PerChannelObserver observes a weight tensor per output channel.
type PerChannelObserver interface {
	// ObserveChannels records x laid out channel-major (axis 0 = channel):
	// channel c is x[c*len(x)/channels : (c+1)*len(x)/channels].
	ObserveChannels(x []float32, channels int)
	// ChannelQParams returns one QParams per channel (nil before any call).
	ChannelQParams() []QParams
	// ChannelMinMax returns the running per-channel min and max (nil before
	// any call).
	ChannelMinMax() (min, max []float32)
}

// NewObserver returns a new observer for spec. It panics on an invalid spec,
// including quint8 symmetric with ReduceRange, which PyTorch refuses.
func NewObserver(spec Spec) Observer {
	switch spec.Kind {
	case MinMax:
		return NewMinMaxObserver(spec.DType, spec.Scheme, spec.ReduceRange)
	case MovingAverageMinMax:
		return NewMovingAverageMinMaxObserver(spec.DType, spec.Scheme, spec.ReduceRange)
	case Histogram:
		return NewHistogramObserver(spec.DType, spec.Scheme, spec.ReduceRange)
	}
	panic(fmt.Sprintf("calibrate: unknown observer kind %v", spec.Kind))
}

// aminmax is torch.aminmax over all of x (len(x) > 0): NaN propagates into
// both results (as the builtin min and max do).
func aminmax(x []float32) (lo, hi float32) {
	lo, hi, ok := scanMinMax(x)
	if !ok {
		nan := float32(math.NaN())
		return nan, nan
	}
	return lo, hi
}

// scanMinMax is floatk's MinMax, split across GOMAXPROCS goroutines on long
// inputs (min and max are exact in any order).
func scanMinMax(x []float32) (lo, hi float32, ok bool) {
	w := min(runtime.GOMAXPROCS(0), len(x)/parallelHistc)
	if w <= 1 {
		return floatk.Best.MinMax(x)
	}
	type part struct {
		lo, hi float32
		ok     bool
	}
	parts := make([]part, w)
	per := (len(x) + w - 1) / w
	ir.Parallel(w, func(k int) {
		p := &parts[k]
		p.lo, p.hi, p.ok = floatk.Best.MinMax(x[k*per : min(len(x), (k+1)*per)])
	})
	lo, hi, ok = parts[0].lo, parts[0].hi, parts[0].ok
	for _, p := range parts[1:] {
		lo, hi, ok = min(lo, p.lo), max(hi, p.hi), ok && p.ok
	}
	return lo, hi, ok
}

// minimum and maximum are torch.min / torch.max of two tensors: NaN propagates.
func minimum(a, b float32) float32 { return min(a, b) }

func maximum(a, b float32) float32 { return max(a, b) }
