package calibrate

import (
	"fmt"
	"sort"
	"strings"
)

// QConfig is a named pair of observers, like PyTorch's: one for activations,
// one for weights (per tensor or per output channel).
type QConfig struct {
	Name       string
	Act        Spec
	Weight     Spec // per-tensor weight observer; ignored when PerChannel
	PerChannel bool
}

var (
	actMinMaxReduce = Spec{Kind: MinMax, DType: QUInt8, Scheme: Affine, ReduceRange: true}
	actHistReduce   = Spec{Kind: Histogram, DType: QUInt8, Scheme: Affine, ReduceRange: true}
	actHist         = Spec{Kind: Histogram, DType: QUInt8, Scheme: Affine}
	weightTensor    = Spec{Kind: MinMax, DType: QInt8, Scheme: Symmetric}
)

// qconfigs are PyTorch 1.13's presets.
var qconfigs = map[string]QConfig{
	"default": {Name: "default", Act: actMinMaxReduce, Weight: weightTensor},
	"fbgemm":  {Name: "fbgemm", Act: actHistReduce, PerChannel: true},
	"x86":     {Name: "x86", Act: actHistReduce, PerChannel: true},
	"qnnpack": {Name: "qnnpack", Act: actHist, Weight: weightTensor},
	"onednn":  {Name: "onednn", Act: actHist, PerChannel: true},
}

// QConfigNames lists the valid -qconfig names.
func QConfigNames() []string {
	var n []string
	for k := range qconfigs {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// LookupQConfig returns the named preset.
func LookupQConfig(name string) (QConfig, error) {
	q, ok := qconfigs[name]
	if !ok {
		return QConfig{}, fmt.Errorf("unknown qconfig %q (valid: %s)", name, strings.Join(QConfigNames(), ", "))
	}
	return q, nil
}

// String prints the qconfig the way PyTorch's tutorial shows it.
func (q QConfig) String() string {
	act := "HistogramObserver"
	if q.Act.Kind == MinMax {
		act = "MinMaxObserver"
	} else if q.Act.Kind == MovingAverageMinMax {
		act = "MovingAverageMinMaxObserver"
	}
	w := "MinMaxObserver'>, dtype=torch.qint8, qscheme=torch.per_tensor_symmetric"
	if q.PerChannel {
		w = "PerChannelMinMaxObserver'>, dtype=torch.qint8, qscheme=torch.per_channel_symmetric"
	}
	rr := "False"
	if q.Act.ReduceRange {
		rr = "True"
	}
	return fmt.Sprintf("QConfig(activation=functools.partial(<class 'torch.ao.quantization.observer.%s'>, reduce_range=%s){}, weight=functools.partial(<class 'torch.ao.quantization.observer.%s){})", act, rr, w)
}

// WeightQParams observes a weight tensor (outC channels, channel-major) and returns
// its qparams: one per channel when PerChannel, else one.
func (q QConfig) WeightQParams(w []float32, outC int) ([]QParams, error) {
	if outC < 1 || len(w)%outC != 0 {
		return nil, fmt.Errorf("weight of %d values does not split into %d channels", len(w), outC)
	}
	if q.PerChannel {
		o := NewPerChannelMinMaxObserver(QInt8, Symmetric, false)
		o.ObserveChannels(w, outC)
		return o.ChannelQParams(), nil
	}
	o := NewObserver(q.Weight)
	o.Observe(w)
	return []QParams{o.QParams()}, nil
}
