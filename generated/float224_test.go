package generated

import (
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ir/floatk"
)

// BenchmarkFloat224 is the float model's latency on one image on ir's fast
// path (run it with -cpu 1 for one core), per kernel tier, and the reference
// interpreter's for the ratio; BenchmarkBatch1_224 is the int8 package's.
func BenchmarkFloat224(b *testing.B) {
	ensure224(b)
	_, g, err := compiler.LoadFloat(mnv2Dir+"/model.json", "")
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
			for b.Loop() {
				if _, err := p.Run(x, 1, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms/image")
		})
	}
	b.Run("reference", func(b *testing.B) {
		for b.Loop() {
			if _, err := ir.Reference(g, x, 1, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms/image")
	})
}
