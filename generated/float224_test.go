package generated

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/ptqc/ptqc/asmgen"
	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/codegen"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ir/floatk"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/ptq"
)

// BenchmarkFloat224 is the float model's latency on one image on ir's fast
// path (run it with -cpu 1 for one core), per kernel tier, and the reference
// interpreter's for the ratio; BenchmarkBatch1_224 is the int8 package's.
// Besides the mean it reports the median and the fastest run, as the ONNX
// Runtime peer does: on a shared machine the mean mostly measures the others.
func BenchmarkFloat224(b *testing.B) {
	dir := ensure224(b)
	_, g, err := ptq.LoadFloat(dir+"/model.json", "")
	if err != nil {
		b.Fatal(err)
	}
	x := images224(1)
	for _, kt := range floatk.Tiers() {
		b.Run(kt.Name, func(b *testing.B) {
			p, err := ir.CompileWith(g, kt)
			if err != nil {
				b.Fatal(err)
			}
			timeRuns(b, func() error {
				_, err := p.Run(x, 1, nil, nil)
				return err
			})
		})
	}
	b.Run("reference", func(b *testing.B) {
		timeRuns(b, func() error {
			_, err := ir.Reference(g, x, 1, nil, nil)
			return err
		})
	})
}

func timeRuns(b *testing.B, run func() error) {
	var ts []time.Duration
	for b.Loop() {
		t := time.Now()
		if err := run(); err != nil {
			b.Fatal(err)
		}
		ts = append(ts, time.Since(t))
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms/image")
	b.ReportMetric(ts[len(ts)/2].Seconds()*1e3, "median-ms")
	b.ReportMetric(ts[0].Seconds()*1e3, "min-ms")
}

// BenchmarkCalibrate224 is calibration itself (fbgemm's histogram observers,
// 300 images in batches of 30, as ptqc build's default) on the float model,
// the images read from a float32 .npy: next to BenchmarkFloat224's one image, the
// cost of the calibration pass per image (run it with -cpu 1 and -cpu 2).
// Its inputs are made by tools/mnv2_224 in the user's cache directory.
func BenchmarkCalibrate224(b *testing.B) {
	dir := calib224(b, 300)
	d, g, err := ptq.LoadFloat(dir+"/model.json", "")
	if err != nil {
		b.Fatal(err)
	}
	ds, err := data.Open(dir+"/calib.npy", "", ptq.Transform(d))
	if err != nil {
		b.Fatal(err)
	}
	qc, err := calibrate.LookupQConfig("fbgemm")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := calibrate.Calibrate(g, ds, qc, 300, 30, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3/300, "ms/image")
}

// BenchmarkFloat224Batch is the float forward's time per image in a batch
// of 1, 16 and 64 (eval -float's default batch of 100 on 64 images), on ir's
// best tier.
func BenchmarkFloat224Batch(b *testing.B) {
	dir := ensure224(b)
	_, g, err := ptq.LoadFloat(dir+"/model.json", "")
	if err != nil {
		b.Fatal(err)
	}
	p, err := ir.Compile(g)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 16, 64} {
		x := images224(n)
		b.Run(fmt.Sprint("batch", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := p.Run(x, n, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N*n)*1e3, "ms/image")
		})
	}
}

// calib224 is a directory of MobileNetV2-224 (synthetic weights) with n
// calibration images, made once by tools/mnv2_224 in the test cache.
func calib224(b *testing.B, n int) string {
	b.Helper()
	return gentest.Synthetic(b, fmt.Sprintf("mobilenetv2_224_calib%d", n), "-calib", fmt.Sprint(n))
}

// BenchmarkBuild224Stages is ptqc build of MobileNetV2-224 (fbgemm, 300
// calibration images) stage by stage, each stage a sub-benchmark run on the
// previous one's result (so run them all, in order: -bench Build224Stages
// -benchtime 1x); ptqc build -v prints the same stages of a real build.
func BenchmarkBuild224Stages(b *testing.B) {
	dir := calib224(b, 300)
	var (
		d   *ir.Description
		g   *ir.Graph
		cal *calibrate.Result
		m   *compiler.Model
		lm  *lower.Model
		a   *lower.Asm
	)
	stage := func(name string, run func() error) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	stage("load", func() (err error) {
		d, g, err = ptq.LoadFloat(dir+"/model.json", "")
		return err
	})
	stage("calibrate", func() error {
		ds, err := data.Open(dir+"/calib.npy", "", ptq.Transform(d))
		if err != nil {
			return err
		}
		qc, err := calibrate.LookupQConfig("fbgemm")
		if err != nil {
			return err
		}
		cal, err = calibrate.Calibrate(g, ds, qc, 300, 30, nil)
		return err
	})
	stage("convert", func() (err error) {
		m, err = compiler.Convert(d, g, cal)
		return err
	})
	stage("lower", func() (err error) {
		lm, err = lower.Lower(m)
		return err
	})
	stage("asm", func() (err error) {
		a, err = asmgen.Generate(lm, "m224")
		return err
	})
	stage("codegen", func() error {
		_, err := codegen.Generate(lm, codegen.Options{Package: "m224", Command: "ptqc build", Asm: a})
		return err
	})
}
