package calibrate

import (
	"fmt"
	"math"
)

// DType is the quantized data type an observer computes parameters for.
type DType int

const (
	// QUInt8 is torch.quint8: 0..255 (0..127 with reduce_range).
	QUInt8 DType = iota
	// QInt8 is torch.qint8: -128..127 (-64..63 with reduce_range).
	QInt8
)

func (d DType) String() string { return enumName([]string{"quint8", "qint8"}, int(d), "DType") }

// enumName is names[v], or typ(v) for a value without a name.
func enumName(names []string, v int, typ string) string {
	if v >= 0 && v < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, v)
}

// Scheme is the quantization scheme. For per-channel observers Affine means
// torch.per_channel_affine and Symmetric torch.per_channel_symmetric.
type Scheme int

const (
	// Affine is torch.per_tensor_affine.
	Affine Scheme = iota
	// Symmetric is torch.per_tensor_symmetric.
	Symmetric
)

func (s Scheme) String() string { return enumName([]string{"affine", "symmetric"}, int(s), "Scheme") }

// QParams are a scale and zero point as PyTorch computes them. Scale holds the
// float32 value PyTorch computes, widened to float64 (so float32(Scale) is exact).
type QParams struct {
	Scale     float64
	ZeroPoint int32
}

// Eps is torch.finfo(torch.float32).eps, the floor PyTorch's observers put
// under every scale.
const Eps float32 = 1.0 / (1 << 23)

// QuantRange returns quant_min and quant_max for dtype as PyTorch 1.13's
// calculate_qmin_qmax does without a customized range: quint8 0..255 (0..127
// with reduceRange), qint8 -128..127 (-64..63 with reduceRange).
func QuantRange(dtype DType, reduceRange bool) (qmin, qmax int32) {
	switch dtype {
	case QUInt8:
		if reduceRange {
			return 0, 127
		}
		return 0, 255
	case QInt8:
		if reduceRange {
			return -64, 63
		}
		return -128, 127
	}
	panic(fmt.Sprintf("calibrate: unsupported dtype %v", dtype))
}

// CalculateQParams reproduces UniformQuantizationObserverBase._calculate_qparams
// of PyTorch 1.13 for one (per-tensor or per-channel) min/max pair, in float32
// with PyTorch's operation order:
//
//   - min = +Inf and max = -Inf (never observed) gives scale 1, zero point 0;
//   - min > max or a NaN panics (PyTorch asserts);
//   - the range is widened to include zero;
//   - Symmetric: scale = max(-min_neg, max_pos) / ((qmax-qmin)/2), floored at
//     Eps; zero point 0 for qint8 and 128 for quint8 (also with reduceRange,
//     as PyTorch does, although PyTorch's observers refuse that combination);
//   - Affine: scale = (max_pos - min_neg) / (qmax-qmin), floored at Eps;
//     zero point = qmin - round_half_even(min_neg / scale), clamped to
//     [qmin, qmax].
//
// min == max is not special: for example (2.5, 2.5) affine quint8 gives
// scale 2.5/255 and zero point 0, and (0, 0) gives scale Eps.
func CalculateQParams(minVal, maxVal float32, dtype DType, scheme Scheme, reduceRange bool) QParams {
	if math.IsInf(float64(minVal), 1) && math.IsInf(float64(maxVal), -1) {
		return QParams{Scale: 1, ZeroPoint: 0}
	}
	if !(minVal <= maxVal) {
		panic(fmt.Sprintf("calibrate: min %v should be less than max %v", minVal, maxVal))
	}
	qmin, qmax := QuantRange(dtype, reduceRange)
	minNeg := min(minVal, 0)
	maxPos := max(maxVal, 0)
	switch scheme {
	case Symmetric:
		m := max(-minNeg, maxPos)
		scale := m / float32(float64(qmax-qmin)/2)
		scale = max(scale, Eps)
		var zp int32
		if dtype == QUInt8 {
			zp = 128
		}
		return QParams{Scale: float64(scale), ZeroPoint: zp}
	case Affine:
		scale := (maxPos - minNeg) / float32(qmax-qmin)
		scale = max(scale, Eps)
		zp := qmin - int32(roundEven32(minNeg/scale))
		zp = min(max(zp, qmin), qmax)
		return QParams{Scale: float64(scale), ZeroPoint: zp}
	}
	panic(fmt.Sprintf("calibrate: unsupported scheme %v", scheme))
}

// roundEven32 is torch.round on a float32: round half to even.
func roundEven32(x float32) float32 {
	return float32(math.RoundToEven(float64(x)))
}

// checkSpec panics on the combination PyTorch's observers refuse.
func checkSpec(dtype DType, scheme Scheme, reduceRange bool) {
	QuantRange(dtype, reduceRange) // validates dtype
	switch scheme {
	case Affine:
	case Symmetric:
		if reduceRange && dtype == QUInt8 {
			panic("calibrate: cannot reduce range for symmetric quantization for quint8")
		}
	default:
		panic(fmt.Sprintf("calibrate: unsupported scheme %v", scheme))
	}
}
