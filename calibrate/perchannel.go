package calibrate

import "fmt"

// PerChannelMinMaxObserver is torch.ao.quantization.PerChannelMinMaxObserver
// with ch_axis 0: the running min and max of each output channel. PyTorch's
// weight observer for the x86 qconfigs is qint8, Symmetric.
type PerChannelMinMaxObserver struct {
	dtype       DType
	scheme      Scheme
	reduceRange bool
	min, max    []float32
}

// NewPerChannelMinMaxObserver returns a per-channel observer (Symmetric means
// per_channel_symmetric, Affine per_channel_affine). It panics on quint8
// symmetric with reduceRange, which PyTorch refuses.
func NewPerChannelMinMaxObserver(dtype DType, scheme Scheme, reduceRange bool) *PerChannelMinMaxObserver {
	checkSpec(dtype, scheme, reduceRange)
	return &PerChannelMinMaxObserver{dtype: dtype, scheme: scheme, reduceRange: reduceRange}
}

// ObserveChannels updates the per-channel running min and max with x, laid out
// channel-major. It panics if len(x) is not a multiple of channels or the
// channel count changes between calls.
func (o *PerChannelMinMaxObserver) ObserveChannels(x []float32, channels int) {
	if len(x) == 0 {
		return
	}
	if channels <= 0 || len(x)%channels != 0 {
		panic(fmt.Sprintf("calibrate: %d values do not split into %d channels", len(x), channels))
	}
	if o.min != nil && len(o.min) != channels {
		panic(fmt.Sprintf("calibrate: observed %d channels, now %d", len(o.min), channels))
	}
	first := o.min == nil
	if first {
		o.min = make([]float32, channels)
		o.max = make([]float32, channels)
	}
	n := len(x) / channels
	for c := range channels {
		lo, hi := aminmax(x[c*n : (c+1)*n])
		if first {
			o.min[c], o.max[c] = lo, hi
		} else {
			o.min[c] = minimum(lo, o.min[c])
			o.max[c] = maximum(hi, o.max[c])
		}
	}
}

// ChannelQParams returns the scale and zero point of every channel, nil before
// any observation.
func (o *PerChannelMinMaxObserver) ChannelQParams() []QParams {
	if o.min == nil {
		return nil
	}
	for c := range o.min {
		if !(o.min[c] <= o.max[c]) {
			panic(fmt.Sprintf("calibrate: channel %d: min %v should be less than max %v", c, o.min[c], o.max[c]))
		}
	}
	qp := make([]QParams, len(o.min))
	for c := range o.min {
		qp[c] = CalculateQParams(o.min[c], o.max[c], o.dtype, o.scheme, o.reduceRange)
	}
	return qp
}

// ChannelMinMax returns copies of the per-channel running min and max.
func (o *PerChannelMinMaxObserver) ChannelMinMax() (min, max []float32) {
	if o.min == nil {
		return nil, nil
	}
	return append([]float32(nil), o.min...), append([]float32(nil), o.max...)
}
