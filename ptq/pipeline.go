// Package ptq is the front half of ptqc's driver: post-training quantization
// of a float model into compiler's quantized one. QuantizeFloat runs the
// stages in order:
//
//	load       LoadModel: frontend (description + weights) or frontend/onnx
//	fold/fuse  ir.Fuse
//	equalize   ir.Equalize, ir.AbsorbHighBias (Options.Equalize), kept only
//	           if the int8 output comes closer to the float one
//	calibrate  calibrate.Calibrate on Options.Calib
//	convert    compiler.Convert
//	correct    compiler.BiasCorrect (Options.BiasCorrect)
//
// It also measures models on data (Evaluate, Report) and reads class-name
// files. It sits after compiler and before lower in the pipeline, so that the
// back end's tests (lower, asmgen, codegen) can quantize models; package build
// continues with lower -> asmgen -> codegen.
package ptq

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/frontend"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/runtime"
)

// Options says where a quantized model comes from: a description, its weights and
// calibration data, or a saved quantized-model file.
type Options struct {
	Model, Weights string
	QConfig        string
	Calib          string // calibration data (same forms as evaluation data)
	CalibLabels    string
	// CalibLimit is how many calibration samples to use: an error if the data
	// has fewer. 0 means the first 300, or all of them when there are fewer (a
	// PyTorch calibration loop ends with its data loader).
	CalibLimit int
	CalibBatch int // default 30, the tutorial's batch
	QModel     string
	// Classes is a file of class names, one a line (torchvision's ImageNet
	// categories file is one), overriding the description's "classes".
	Classes string
	// Equalize applies cross-layer equalization, keeping it only if the int8
	// output comes closer to the float model's on the calibration images.
	Equalize    bool
	BiasCorrect bool
	// Log receives one-line stage messages ("calibration done", ...); nil for silence.
	Log io.Writer
	// Progress hears the samples done of each pass over data: calibration,
	// -bias-correct's float pass, -equalize's check, named by pass; nil for none.
	Progress func(pass string, done, total int)
}

// DefaultCalibLimit is how many calibration samples are used when
// Options.CalibLimit is 0 and the data has more.
const DefaultCalibLimit = 300

// Transform is the description's input preprocessing.
func Transform(d *ir.Description) runtime.Transform {
	return runtime.Transform{
		Channels: d.Input[0], Height: d.Input[1], Width: d.Input[2],
		Resize: d.Preprocess.Resize, Crop: d.Preprocess.Crop, Pad: d.Preprocess.Pad,
		Mean: d.Mean, Std: d.Std,
	}
}

// LoadFloat reads the model (LoadModel) and returns the fused float graph.
func LoadFloat(model, weights string) (*ir.Description, *ir.Graph, error) {
	d, g, err := LoadModel(model, weights)
	if err != nil {
		return nil, nil, err
	}
	return d, ir.Fuse(g), nil
}

// LoadFloatData is LoadFloat and the samples at path (with the labels at
// labels, or none when it is empty), read for the model's input.
func LoadFloatData(model, weights, path, labels string) (*ir.Description, *ir.Graph, data.Dataset, error) {
	d, g, err := LoadFloat(model, weights)
	if err != nil {
		return nil, nil, nil, err
	}
	ds, err := data.Open(path, labels, Transform(d))
	if err != nil {
		return nil, nil, nil, err
	}
	return d, g, ds, nil
}

// Inputs are the files the options read: the description and its weights
// (the description's own when Weights is empty and it can be read), the
// calibration data and labels, the quantized-model file. Build outputs must
// not overwrite them.
func (o *Options) Inputs() []string {
	var in []string
	for _, p := range []string{o.Model, o.Weights, o.Calib, o.CalibLabels, o.QModel} {
		if p != "" {
			in = append(in, p)
		}
	}
	if o.Model != "" && o.Weights == "" {
		if d, err := frontend.ReadDescription(o.Model); err == nil && d.Weights != "" {
			in = append(in, d.WeightsPath())
		}
	}
	return append(in, onnxInputs(o.Model)...)
}

// progress is o.Progress for one pass.
func (o *Options) progress(pass string) func(done, total int) {
	if o.Progress == nil {
		return nil
	}
	return func(done, total int) { o.Progress(pass, done, total) }
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Quantize produces the quantized model the options ask for: it loads -qmodel, or
// loads the float model, calibrates it with the qconfig and converts it.
func Quantize(o Options) (*compiler.Model, error) {
	if o.QModel != "" {
		m, err := compiler.ReadModel(o.QModel)
		if err != nil {
			return nil, err
		}
		if err := ApplyClasses(m.Desc, o.Classes); err != nil {
			return nil, err
		}
		return m, nil
	}
	m, _, _, err := o.quantizeFloat(false)
	return m, err
}

// QuantizeFloat is Quantize from a description, also returning the float graph
// that was quantized (fused, and equalized with -equalize) and the calibration
// samples it saw (n of them, NCHW), for reports.
func QuantizeFloat(o Options) (m *compiler.Model, g *ir.Graph, calib []float32, err error) {
	return o.quantizeFloat(true)
}

// quantizeFloat is QuantizeFloat; without wantCalib the calibration samples
// are read again only if bias correction or equalization needs them (calib
// is then nil unless they did).
func (o Options) quantizeFloat(wantCalib bool) (m *compiler.Model, g *ir.Graph, calib []float32, err error) {
	if o.QConfig == "" || o.Calib == "" {
		return nil, nil, nil, errors.New("quantization needs a qconfig and calibration data, or a quantized model")
	}
	if o.Model == "" {
		return nil, nil, nil, errors.New("quantization needs a model")
	}
	qc, err := calibrate.LookupQConfig(o.QConfig)
	if err != nil {
		return nil, nil, nil, err
	}
	d, g, st, err := loadState(o.Model, o.Weights)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := ApplyClasses(d, o.Classes); err != nil {
		return nil, nil, nil, err
	}
	g, wsum := ir.Fuse(g), weightsHash(st) // st is not kept: it may be hundreds of MB
	o.logf("%s", qc)
	ds, err := data.Open(o.Calib, o.CalibLabels, Transform(d))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("calibration data: %w", err)
	}
	plain := g
	if o.Equalize {
		g = plain.Clone()
		sweeps := ir.Equalize(g, 200, 1e-6)
		absorbed := ir.AbsorbHighBias(g)
		skipped := ""
		if why := ir.EqualizeUnpaired(g); len(why) > 0 {
			skipped = "; skipped " + unpaired(why)
		}
		o.logf("equalization done (%d pairs, %d sweeps, high bias absorbed in %d channels%s)", len(ir.EqualizePairs(g)), sweeps, absorbed, skipped)
	}
	m, calib, err = o.quantizeGraph(d, g, qc, ds, nil, wantCalib || o.Equalize, "")
	if err != nil {
		return nil, nil, nil, err
	}
	if o.Equalize {
		// Equalization balances weight ranges for per-tensor scales; with
		// per-channel ones it can cost more in the activations than it saves,
		// so the model closer to the float one on the calibration images wins.
		mp, _, err := o.quantizeGraph(d, plain, qc, ds, calib, true, " (without equalization, to compare)")
		if err != nil {
			return nil, nil, nil, err
		}
		// All of them: on fewer (128 of 300) the choice flipped on the bundled model.
		n := len(calib) / plain.Tensors[plain.Input].Elems()
		o.logf("comparing both with the float model on %d calibration images", n)
		p, err := ir.Compile(plain)
		if err != nil {
			return nil, nil, nil, err
		}
		want, err := p.RunBatches(calib, n, compiler.FloatBatch, nil, nil, true, o.progress("equalization check: float pass"))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("equalization: float pass: %w", err)
		}
		se, err := outputSQNR(m, calib, n, want, o.progress("equalization check: int8 pass"))
		if err != nil {
			return nil, nil, nil, err
		}
		sp, err := outputSQNR(mp, calib, n, want, o.progress("equalization check: int8 pass without"))
		if err != nil {
			return nil, nil, nil, err
		}
		verdict := "kept"
		if se < sp {
			m, g, verdict = mp, plain, "dropped"
		}
		m.Meta.Equalize = se >= sp
		m.Meta.EqualizeNote = fmt.Sprintf("%s: the int8 output's SQNR against the float model on %d calibration images is %.1f dB with it, %.1f dB without", verdict, n, se, sp)
		o.logf("equalization %s", m.Meta.EqualizeNote)
	}
	m.Meta.Version = compiler.Version
	if m.Meta.DescSHA256, err = descHash(d); err != nil {
		return nil, nil, nil, err
	}
	m.Meta.WeightsSHA256 = wsum
	return m, g, calib, nil
}

// quantizeGraph calibrates g on ds, converts it and, with BiasCorrect, corrects
// its biases on the calibration samples, which it also returns if wanted or
// read for bias correction: calib if they were loaded already, else read
// from ds. note tells the log which of two models this is.
func (o *Options) quantizeGraph(d *ir.Description, g *ir.Graph, qc calibrate.QConfig, ds data.Dataset, calib []float32, want bool, note string) (*compiler.Model, []float32, error) {
	limit, batch := o.CalibLimit, o.CalibBatch
	if limit == 0 {
		limit = DefaultCalibLimit
		if n := ds.Len(); n < limit && n > 0 {
			limit = n
			if calib == nil { // say it once, not again for the comparison model
				o.logf("the calibration data has %d samples, fewer than the default %d: calibrating on all %d", n, DefaultCalibLimit, n)
			}
		}
	}
	if batch == 0 {
		batch = 30
	}
	cal, err := calibrate.Calibrate(g, ds, qc, limit, batch, o.progress("calibrating"+note))
	if err != nil {
		return nil, nil, err
	}
	o.logf("calibration done (%d samples)%s", cal.Samples, note)
	m, err := compiler.Convert(d, g, cal)
	if err != nil {
		return nil, nil, err
	}
	o.logf("convert done%s", note)
	if calib == nil && (want || o.BiasCorrect) {
		if calib, err = loadAll(ds, cal.Samples); err != nil {
			return nil, nil, err
		}
	}
	if o.BiasCorrect {
		if err := compiler.BiasCorrect(m, g, calib, cal.Samples, o.progress("bias correction: float pass"+note)); err != nil {
			return nil, nil, err
		}
		o.logf("bias correction done%s", note)
	}
	return m, calib, nil
}

// outputSQNR is the SQNR in dB of m's dequantized output on n samples x against
// the float output want, run in batches that report to progress (if not nil).
func outputSQNR(m *compiler.Model, x []float32, n int, want []float32, progress func(done, total int)) (float64, error) {
	elems, classes := len(x)/n, len(want)/n
	var sig, noise float64
	for s := 0; s < n; s += compiler.FloatBatch {
		k := min(compiler.FloatBatch, n-s)
		got, err := compiler.Run(m, x[s*elems:(s+k)*elems], k, nil)
		if err != nil {
			return 0, err
		}
		for i, w := range want[s*classes : (s+k)*classes] {
			e := float64(got[i]) - float64(w)
			sig += float64(w) * float64(w)
			noise += e * e
		}
		if progress != nil {
			progress(s+k, n)
		}
	}
	return sqnr(sig, noise), nil
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

// descHash identifies a description by its fields (defaults filled, aliases
// expanded), not its file: the weights path is left out, the weights being
// identified by weightsHash, so the same model gives the same hash wherever its
// files are and whatever format its weights are in.
func descHash(d *ir.Description) (string, error) {
	c := *d
	c.Weights = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("model description %s: %w", d.Path, err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// weightsHash identifies a state_dict by its content, not its file: every
// tensor in name order, with its dtype, shape and little-endian data. A .pth
// and a safetensors file of the same tensors give the same hash.
func weightsHash(st *frontend.SafeTensors) string {
	names := make([]string, 0, len(st.Tensors))
	for k := range st.Tensors {
		names = append(names, k)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, k := range names {
		t := st.Tensors[k]
		fmt.Fprintf(h, "%q %s %v %d\n", k, t.DType, t.Shape, len(t.Data))
		h.Write(t.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// unpaired says which convs equalization left alone and why, the most common reason first.
func unpaired(why map[string]int) string {
	reasons := make([]string, 0, len(why))
	total := 0
	for r, n := range why {
		reasons = append(reasons, r)
		total += n
	}
	sort.Slice(reasons, func(i, j int) bool {
		if why[reasons[i]] != why[reasons[j]] {
			return why[reasons[i]] > why[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d %s", why[r], r)
	}
	return fmt.Sprintf("%d convs: %s", total, strings.Join(parts, ", "))
}
