package generated

import (
	"sort"
	"testing"
	"time"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ir/floatk"
)

// BenchmarkFloat224 is the float model's latency on one image on ir's fast
// path (run it with -cpu 1 for one core), per kernel tier, and the reference
// interpreter's for the ratio; BenchmarkBatch1_224 is the int8 package's.
// Besides the mean it reports the median and the fastest run, as the ONNX
// Runtime peer does: on a shared machine the mean mostly measures the others.
func BenchmarkFloat224(b *testing.B) {
	dir := ensure224(b)
	_, g, err := compiler.LoadFloat(dir+"/model.json", "")
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
