package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/ptq"
)

func reportCmd(args []string, stdout, stderr io.Writer) error {
	fs, q := newQuantFlags("report")
	dataPath := fs.String("data", "", "compare on these samples instead of the calibration ones")
	labels := fs.String("labels", "", "labels `.npy` for -data")
	limit := fs.Int("limit", 100, "compare on at most `N` samples of -data")
	asJSON := fs.Bool("json", false, "print the report as a JSON array")
	if err := q.parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if q.Model == "" || q.QConfig == "" || q.Calib == "" {
		return fmt.Errorf("report: -model, -qconfig and -calib are required")
	}
	if q.QModel != "" {
		return fmt.Errorf("report: needs the float model, so -qmodel cannot be used")
	}
	heapPages()
	m, g, x, err := ptq.QuantizeFloat(q.withLog(stderr, stderr))
	if err != nil {
		return err
	}
	n := len(x) / g.Tensors[g.Input].Elems()
	if *dataPath != "" {
		ds, err := data.Open(*dataPath, *labels, ptq.Transform(m.Desc))
		if err != nil {
			return fmt.Errorf("evaluation data: %w", err)
		}
		x = x[:0]
		if err := data.Batches(ds, 64, *limit, func(_ int, b []float32, _ []int) error {
			x = append(x, b...)
			return nil
		}); err != nil {
			return err
		}
		n = len(x) / g.Tensors[g.Input].Elems()
	}
	reps, err := ptq.Report(m, g, x, n, progress(stderr, "report"))
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(reps, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	fmt.Fprintf(stdout, "per-layer quantization error, qconfig %s, %d samples, worst first\n", m.Meta.QConfig, n)
	return ptq.PrintReport(stdout, reps)
}
