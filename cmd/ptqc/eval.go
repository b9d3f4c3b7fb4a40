package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ptq"
)

func qconfigNames() []string { return calibrate.QConfigNames() }

func evalCmd(args []string, stdout, stderr io.Writer) error {
	fs, q := newQuantFlags("eval")
	dataPath := fs.String("data", "", "evaluation `data`: ImageFolder directory, .npy, or IDX images file")
	labels := fs.String("labels", "", "labels `.npy` for -data")
	limit := fs.Int("limit", 0, "evaluate at most `N` samples (0: all)")
	batch := fs.Int("batch", 100, "batch `size`")
	float := fs.Bool("float", false, "evaluate the float model")
	asJSON := fs.Bool("json", false, `print one JSON object {"top1","top5","n","size_mb",...} on stdout and nothing else`)
	saveLogits := fs.String("save-logits", "", "write the logits as float32 N x classes `.npy`")
	saveQ := fs.String("save-qmodel", "", "save the quantized model to `file`")
	perClass := fs.Bool("per-class", false, "also print each class's top-1, named by the description's classes or -classes")
	if err := q.parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *dataPath == "" {
		return fmt.Errorf("eval: -data is required")
	}
	if *float == q.quantized() {
		return fmt.Errorf("eval: give either -float or a quantized model (-qconfig NAME -calib DATA, or -qmodel FILE)")
	}
	log := stdout
	if *asJSON {
		log = stderr
	}
	heapPages()
	res := map[string]any{}
	var d *ir.Description
	var fwd ptq.Forward
	var lfwd ptq.LoadForward // the float path: no batch held whole
	var classes int
	if *float {
		if q.Model == "" {
			return fmt.Errorf("eval: -model is required")
		}
		var g *ir.Graph
		var err error
		d, g, err = ptq.LoadFloat(q.Model, q.Weights)
		if err != nil {
			return err
		}
		if err := ptq.ApplyClasses(d, q.Classes); err != nil {
			return err
		}
		classes = g.Tensors[g.Output].Elems()
		res["size_mb"] = float64(g.FloatBytes()) / 1e6
		p, err := ir.Compile(g)
		if err != nil {
			return err
		}
		lfwd = p.RunLoaded
	} else {
		if q.Model == "" && q.QModel == "" {
			return fmt.Errorf("eval: -model is required")
		}
		m, err := ptq.Quantize(q.withLog(log, stderr))
		if err != nil {
			return err
		}
		if *saveQ != "" {
			if err := compiler.WriteModel(*saveQ, m); err != nil {
				return err
			}
		}
		d = m.Desc
		classes = m.NumClasses()
		res["qconfig"] = m.Meta.QConfig
		res["size_mb"] = float64(m.Bytes()) / 1e6
		res["float_size_mb"] = float64(m.Meta.FloatBytes) / 1e6
		fwd = func(x []float32, n int) ([]float32, error) { return compiler.Run(m, x, n, nil) }
	}
	ds, err := data.Open(*dataPath, *labels, ptq.Transform(d))
	if err != nil {
		return fmt.Errorf("evaluation data: %w", err)
	}
	if f, ok := ds.(interface{ Classes() []string }); ok && f.Classes() == nil {
		return fmt.Errorf("evaluation data: %s: images without class folders have no labels; evaluation takes an ImageFolder, a sub-directory of images a class", *dataPath)
	}
	var acc ptq.Accuracy
	var logits []float32
	if lfwd != nil {
		acc, logits, err = ptq.EvaluateLoaded(ds, classes, *batch, *limit, lfwd, *saveLogits != "", progress(stderr, "evaluating"))
	} else {
		acc, logits, err = ptq.Evaluate(ds, classes, *batch, *limit, fwd, *saveLogits != "", progress(stderr, "evaluating"))
	}
	if err != nil {
		return err
	}
	if *saveLogits != "" {
		if err := data.WriteNpyF32(*saveLogits, []int{acc.N, classes}, logits); err != nil {
			return err
		}
	}
	res["top1"], res["top5"], res["n"] = acc.Top1, acc.Top5, acc.N
	type classAcc struct {
		Class int     `json:"class"`
		Name  string  `json:"name,omitempty"`
		N     int     `json:"n"`
		Top1  float64 `json:"top1"`
	}
	var per []classAcc
	if *perClass {
		for c, k := range acc.PerClass {
			ca := classAcc{Class: c, N: k.N}
			if c < len(d.Classes) {
				ca.Name = d.Classes[c]
			}
			if k.N > 0 {
				ca.Top1 = 100 * float64(k.Top1) / float64(k.N)
			}
			per = append(per, ca)
		}
		res["per_class"] = per
	}
	// Logits that went NaN or infinite (absurd weights overflowing float32)
	// score nothing, and the run says so and fails.
	var nonFinite error
	if acc.NonFinite > 0 {
		res["nonfinite_logits"] = acc.NonFinite
		nonFinite = fmt.Errorf("eval: the logits of %d of %d samples are NaN or infinite (the weights or data overflow float32); they count as wrong", acc.NonFinite, acc.N)
	}
	if *asJSON {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		if _, err = fmt.Fprintf(stdout, "%s\n", b); err != nil {
			return err
		}
		return nonFinite
	}
	fmt.Fprintf(stdout, "Acc@1 %.2f Acc@5 %.2f on %d images\n", acc.Top1, acc.Top5, acc.N)
	for _, ca := range per {
		name := ca.Name
		if name == "" {
			name = fmt.Sprintf("class %d", ca.Class)
		}
		fmt.Fprintf(stdout, "  %-24s Acc@1 %6.2f on %d images\n", name, ca.Top1, ca.N)
	}
	if fs, ok := res["float_size_mb"]; ok {
		fmt.Fprintf(stdout, "Size (MB): %.2f (float %.2f)\n", res["size_mb"], fs)
	} else {
		fmt.Fprintf(stdout, "Size (MB): %.2f\n", res["size_mb"])
	}
	return nonFinite
}
