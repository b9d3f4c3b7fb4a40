package compiler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/runtime"
)

// Version is ptqc's version, recorded in quantized models and generated packages.
const Version = "0.1.0"

// Options says where a quantized model comes from: a description, its weights and
// calibration data, or a saved quantized-model file.
type Options struct {
	Model, Weights string
	QConfig        string
	Calib          string // calibration data (same forms as evaluation data)
	CalibLabels    string
	CalibLimit     int // default 300
	CalibBatch     int // default 30, the tutorial's batch
	QModel         string
	Equalize       bool
	BiasCorrect    bool
	// Log receives one-line stage messages ("calibration done", ...); nil for silence.
	Log io.Writer
	// Progress reports calibration progress; nil for none.
	Progress func(done, total int)
}

// Transform is the description's input preprocessing.
func Transform(d *ir.Description) runtime.Transform {
	return runtime.Transform{
		Channels: d.Input[0], Height: d.Input[1], Width: d.Input[2],
		Resize: d.Preprocess.Resize, Crop: d.Preprocess.Crop, Pad: d.Preprocess.Pad,
		Mean: d.Mean, Std: d.Std,
	}
}

// LoadFloat reads a description and its weights and returns the fused float graph.
func LoadFloat(model, weights string) (*ir.Description, *ir.Graph, error) {
	d, g, err := ir.Load(model, weights)
	if err != nil {
		return nil, nil, err
	}
	return d, ir.Fuse(g), nil
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Quantize produces the quantized model the options ask for: it loads -qmodel, or
// loads the float model, calibrates it with the qconfig and converts it.
func Quantize(o Options) (*Model, error) {
	if o.QModel != "" {
		return ReadModel(o.QModel)
	}
	m, _, _, err := QuantizeFloat(o)
	return m, err
}

// QuantizeFloat is Quantize from a description, also returning the float graph
// that was quantized (fused, and equalized with -equalize) and the calibration
// samples it saw (n of them, NCHW), for reports.
func QuantizeFloat(o Options) (m *Model, g *ir.Graph, calib []float32, err error) {
	if o.QConfig == "" || o.Calib == "" {
		return nil, nil, nil, fmt.Errorf("quantization needs -qconfig and -calib (or -qmodel)")
	}
	if o.Model == "" {
		return nil, nil, nil, fmt.Errorf("quantization needs -model")
	}
	qc, err := calibrate.LookupQConfig(o.QConfig)
	if err != nil {
		return nil, nil, nil, err
	}
	d, g, err := LoadFloat(o.Model, o.Weights)
	if err != nil {
		return nil, nil, nil, err
	}
	o.logf("%s", qc)
	if o.Equalize {
		sweeps := ir.Equalize(g, 200, 1e-6)
		absorbed := ir.AbsorbHighBias(g)
		o.logf("equalization done (%d pairs, %d sweeps, high bias absorbed in %d channels)", len(ir.EqualizePairs(g)), sweeps, absorbed)
	}
	ds, err := data.Open(o.Calib, o.CalibLabels, Transform(d))
	if err != nil {
		return nil, nil, nil, err
	}
	limit, batch := o.CalibLimit, o.CalibBatch
	if limit == 0 {
		limit = 300
	}
	if batch == 0 {
		batch = 30
	}
	cal, err := calibrate.Calibrate(g, ds, qc, limit, batch, o.Progress)
	if err != nil {
		return nil, nil, nil, err
	}
	o.logf("calibration done (%d samples)", cal.Samples)
	if m, err = Convert(d, g, cal); err != nil {
		return nil, nil, nil, err
	}
	m.Meta.Version = Version
	m.Meta.Equalize = o.Equalize
	if m.Meta.DescSHA256, err = fileHash(d.Path); err != nil {
		return nil, nil, nil, err
	}
	wp := o.Weights
	if wp == "" {
		wp = d.WeightsPath()
	}
	if m.Meta.WeightsSHA256, err = fileHash(wp); err != nil {
		return nil, nil, nil, err
	}
	o.logf("convert done")
	calib, err = loadAll(ds, cal.Samples)
	if err != nil {
		return nil, nil, nil, err
	}
	if o.BiasCorrect {
		if err := BiasCorrect(m, g, calib, cal.Samples); err != nil {
			return nil, nil, nil, err
		}
		o.logf("bias correction done")
	}
	return m, g, calib, nil
}

// loadAll reads the first n samples of ds into one NCHW slice.
func loadAll(ds data.Dataset, n int) ([]float32, error) {
	var all []float32
	err := data.Batches(ds, 64, n, func(_ int, x []float32, _ []int) error {
		all = append(all, x...)
		return nil
	})
	return all, err
}

func fileHash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}
