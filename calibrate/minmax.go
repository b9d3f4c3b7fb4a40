package calibrate

import "math"

// MinMaxObserver is torch.ao.quantization.MinMaxObserver: it records the
// running min and max of everything observed.
type MinMaxObserver struct {
	dtype       DType
	scheme      Scheme
	reduceRange bool
	min, max    float32
	parts       partRange // see partObserver
}

// NewMinMaxObserver returns a MinMaxObserver. It panics on quint8 symmetric
// with reduceRange, which PyTorch refuses.
func NewMinMaxObserver(dtype DType, scheme Scheme, reduceRange bool) *MinMaxObserver {
	checkSpec(dtype, scheme, reduceRange)
	return &MinMaxObserver{
		dtype: dtype, scheme: scheme, reduceRange: reduceRange,
		min: float32(math.Inf(1)), max: float32(math.Inf(-1)),
	}
}

// Observe updates the running min and max with x.
func (o *MinMaxObserver) Observe(x []float32) {
	if len(x) == 0 {
		return
	}
	lo, hi := aminmax(x)
	o.min = minimum(lo, o.min)
	o.max = maximum(hi, o.max)
}

// QParams computes the scale and zero point from the running min and max.
func (o *MinMaxObserver) QParams() QParams {
	return CalculateQParams(o.min, o.max, o.dtype, o.scheme, o.reduceRange)
}

// MinMax returns the running min and max.
func (o *MinMaxObserver) MinMax() (min, max float32) { return o.min, o.max }

// MovingAverageMinMaxObserver is torch.ao.quantization.MovingAverageMinMaxObserver
// with averaging_constant 0.01: the first call sets min and max, later calls
// move them by 0.01 of the distance to the call's min and max.
type MovingAverageMinMaxObserver struct {
	MinMaxObserver
}

// averagingConstant is float32(0.01), the value PyTorch multiplies by after
// casting the Python scalar to the tensor's dtype.
const averagingConstant = float32(0.01)

// NewMovingAverageMinMaxObserver returns a MovingAverageMinMaxObserver. It
// panics on quint8 symmetric with reduceRange, which PyTorch refuses.
func NewMovingAverageMinMaxObserver(dtype DType, scheme Scheme, reduceRange bool) *MovingAverageMinMaxObserver {
	return &MovingAverageMinMaxObserver{*NewMinMaxObserver(dtype, scheme, reduceRange)}
}

// Observe updates the moving averages with x's min and max.
func (o *MovingAverageMinMaxObserver) Observe(x []float32) {
	if len(x) == 0 {
		return
	}
	o.observeRange(aminmax(x))
}

// observeRange is Observe of a tensor of min lo and max hi.
func (o *MovingAverageMinMaxObserver) observeRange(lo, hi float32) {
	if math.IsInf(float64(o.min), 1) && math.IsInf(float64(o.max), -1) {
		o.min, o.max = lo, hi
		return
	}
	// min + c*(cur - min), each step rounded to float32 (no FMA).
	o.min = o.min + float32(averagingConstant*(lo-o.min))
	o.max = o.max + float32(averagingConstant*(hi-o.max))
}
