//go:build ptqc224

package generated

import (
	"flag"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ptqc/ptqc/generated/mobilenetv2_224"
	rt "github.com/ptqc/ptqc/runtime"
)

// The speed benchmark's model (see gen.go): ImageNet-shaped MobileNetV2 with
// synthetic weights, calibrated with fbgemm on synthetic inputs.

// mnv2Dir holds the inputs go generate built mobilenetv2_224 from.
const mnv2Dir = "../testdata/mobilenetv2_224"

var layersFlag = flag.Bool("layers", false, "TestLayerTimes224: print the per-layer time of mobilenetv2_224")

// TestBitExact224 compares the logits of a few images bit for bit on every
// tier this CPU runs, as a batch (images side by side) and one image at a time
// (each layer split across the workers), with 1 and 2 workers.
func TestBitExact224(t *testing.T) {
	const n = 3
	x, want := interpreted224(t, mnv2Dir, n)
	// Logits that vary with the input make bit-exactness mean something.
	nc := mobilenetv2_224.NumClasses
	if same := func() bool {
		for c := 0; c < nc; c++ {
			if want[c] != want[nc+c] {
				return false
			}
		}
		return true
	}(); same {
		t.Fatal("two inputs give the same logits: the model's activations do not depend on the input")
	}
	eachTier(t, []string{"1", "2"}, func(t *testing.T, tier, _ string) {
		g := mobilenetv2_224.New()
		if got, err := g.Tier(); err != nil || got != tier {
			t.Fatalf("tier %q (%v), want %s", got, err, tier)
		}
		batch := make([]float32, n*nc)
		if err := g.Forward(batch, x); err != nil {
			t.Fatal(err)
		}
		one := make([]float32, n*nc)
		in := len(x) / n
		for i := range n {
			if err := g.Forward(one[i*nc:(i+1)*nc], x[i*in:(i+1)*in]); err != nil {
				t.Fatal(err)
			}
		}
		sameLogits(t, "batch: ", batch, want, nc)
		sameLogits(t, "one at a time: ", one, want, nc)
	})
}

// TestLayerTimes224 prints where the time of one image goes, per layer and per
// kind (go test ./generated -run LayerTimes224 -layers [-cpu 1]).
func TestLayerTimes224(t *testing.T) {
	logLayerTimes(t, "mobilenetv2_224", func() layerTimer { return mobilenetv2_224.New() }, 1, 50, func(lt rt.LayerTime) string { return lt.Kind })
}

// layerTimer is a generated model's side that times its layers.
type layerTimer interface {
	Tier() (string, error)
	LayerTimes(in []float32, reps int) ([]rt.LayerTime, error)
}

// logLayerTimes, run with -layers, logs where the time of one image goes in
// the model newModel makes (layerTable): each layer's fastest of rounds
// calls of LayerTimes over reps runs.
func logLayerTimes(t *testing.T, name string, newModel func() layerTimer, rounds, reps int, kind func(rt.LayerTime) string) {
	if !*layersFlag {
		t.Skip("run with -layers")
	}
	m := newModel()
	tier, err := m.Tier()
	if err != nil {
		t.Fatal(err)
	}
	var ts []rt.LayerTime
	for range rounds {
		run, err := m.LayerTimes(images224(1), reps)
		if err != nil {
			t.Fatal(err)
		}
		if ts == nil {
			ts = run
		}
		for i := range ts {
			ts[i].Time = min(ts[i].Time, run[i].Time)
		}
	}
	t.Log(layerTable(name, tier, ts, kind))
}

// layerTable lists each layer's time and the times per kind (named by kind).
func layerTable(name, tier string, ts []rt.LayerTime, kind func(rt.LayerTime) string) string {
	var total time.Duration
	kinds := map[string]time.Duration{}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s, tier %s, %d workers:\n", name, tier, rt.Threads())
	for i, lt := range ts {
		total += lt.Time
		kinds[kind(lt)] += lt.Time
		fmt.Fprintf(&b, "%3d %-28s %-15s %8.1f us\n", i, lt.Layer, kind(lt), float64(lt.Time.Nanoseconds())/1e3)
	}
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return kinds[ks[i]] > kinds[ks[j]] })
	for _, k := range ks {
		fmt.Fprintf(&b, "    %-15s %8.1f us %5.1f%%\n", k, float64(kinds[k].Nanoseconds())/1e3, 100*float64(kinds[k])/float64(total))
	}
	fmt.Fprintf(&b, "    total           %8.3f ms\n", float64(total.Nanoseconds())/1e6)
	return b.String()
}

// BenchmarkBatch1_224 is the latency of one image (run it with -cpu 1 for one
// core: GOMAXPROCS workers split each layer).
func BenchmarkBatch1_224(b *testing.B) {
	benchModel(b, mobilenetv2_224.New(), 1, mobilenetv2_224.NumClasses)
}

// BenchmarkBatch16_224 is the throughput of batches of 16 images on every core.
func BenchmarkBatch16_224(b *testing.B) {
	benchModel(b, mobilenetv2_224.New(), 16, mobilenetv2_224.NumClasses)
}

// benchModel times m.Forward on batches of n images.
func benchModel(b *testing.B, m interface {
	Forward(out, x []float32) error
	Tier() (string, error)
}, n, classes int) {
	x := images224(n)
	out := make([]float32, n*classes)
	if err := m.Forward(out, x); err != nil {
		b.Fatal(err)
	}
	tier, err := m.Tier()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("tier: %s", tier) // tools/speed names ptqc's row with it
	var ts []time.Duration
	for b.Loop() {
		t := time.Now()
		if err := m.Forward(out, x); err != nil {
			b.Fatal(err)
		}
		ts = append(ts, time.Since(t))
	}
	s := b.Elapsed().Seconds() / float64(b.N*n)
	b.ReportMetric(s*1e3, "ms/image")
	b.ReportMetric(1/s, "images/s")
	reportCalls(b, ts, n)
}

// reportCalls reports the median and the fastest of the calls' times per
// image: on a shared machine they compare with the peers' (torch_speed.py
// and bench.js print both), where a mean takes in every slow spell.
func reportCalls(b *testing.B, ts []time.Duration, n int) {
	slices.Sort(ts)
	b.ReportMetric(ts[len(ts)/2].Seconds()*1e3/float64(n), "median-ms/image")
	b.ReportMetric(ts[0].Seconds()*1e3/float64(n), "min-ms/image")
}
