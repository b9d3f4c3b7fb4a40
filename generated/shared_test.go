package generated

import (
	"math"
	"runtime"
	"sync"
	"testing"

	"github.com/ptqc/ptqc/generated/mobilenetv2_fmnist"
	rt "github.com/ptqc/ptqc/runtime"
)

// sameBits reports whether a and b hold the same float32 bit patterns.
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// sameLogits wants got bit for bit the interpreter's logits want (nc a
// sample), naming the first that differ; what prefixes the messages.
func sameLogits(t *testing.T, what string, got, want []float32, nc int) {
	t.Helper()
	bad := 0
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad < 5 {
				t.Errorf("%simage %d, class %d: logit %v, interpreter %v", what, i/nc, i%nc, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s%d of %d logits differ from the interpreter's", what, bad, len(want))
	}
}

// eachTier runs fn in a subtest per tier and worker count (threads; none
// leaves PTQC_THREADS alone) with PTQC_ISA and PTQC_THREADS set, and with two
// workers PTQC_WIDE=1 (the zmm tiers' wide kernels), else 0; a tier this CPU
// cannot run is skipped as UNVERIFIED here.
func eachTier(t *testing.T, threads []string, fn func(t *testing.T, tier, threads string)) {
	for _, tier := range rt.TierNames() {
		for _, th := range append([]string(nil), threads...) {
			t.Run(tier+"/threads"+th, func(t *testing.T) { onTier(t, tier, th, fn) })
		}
		if len(threads) == 0 {
			t.Run(tier, func(t *testing.T) { onTier(t, tier, "", fn) })
		}
	}
}

func onTier(t *testing.T, tier, threads string, fn func(t *testing.T, tier, threads string)) {
	if !rt.TierNamed(tier).Supported() {
		t.Skipf("this CPU cannot run %s: that tier is UNVERIFIED here", tier)
	}
	t.Setenv("PTQC_ISA", tier)
	if threads != "" {
		t.Setenv("PTQC_THREADS", threads)
		wide := "0"
		if threads == "2" {
			wide = "1"
		}
		t.Setenv("PTQC_WIDE", wide)
	}
	fn(t, tier, threads)
}

// TestModelShared runs one Model from 8 goroutines at once, 1,000 Forward calls
// each (100 with -short), batches of 1 to 3 images (one image splits its layers
// across the workers, more run side by side): every result is bit-identical to
// a lone call, and once the Model has a runner per goroutine, calls allocate
// nothing. Run with -race.
func TestModelShared(t *testing.T) {
	const goroutines = 8
	calls := 1000
	if testing.Short() {
		calls = 100
	}
	const inLen, nc = mobilenetv2_fmnist.InputChannels * mobilenetv2_fmnist.InputHeight * mobilenetv2_fmnist.InputWidth, mobilenetv2_fmnist.NumClasses
	x, _ := loadImages(t, fmnistDir+"/test_images.npy", "", 3*goroutines)
	in := func(g int) []float32 { return x[g*3*inLen:][:(g%3+1)*inLen] }
	want := make([][]float32, goroutines)
	for g := range want {
		want[g] = make([]float32, (g%3+1)*nc)
		if err := mobilenetv2_fmnist.New().Forward(want[g], in(g)); err != nil {
			t.Fatal(err)
		}
	}
	m := mobilenetv2_fmnist.New()
	// round runs n calls per goroutine and returns the heap allocations made.
	round := func(n int) uint64 {
		var start, done sync.WaitGroup
		ready := make(chan struct{})
		start.Add(goroutines)
		done.Add(goroutines)
		bad := make([]int, goroutines)
		for g := range goroutines {
			go func() {
				defer done.Done()
				out := make([]float32, len(want[g]))
				start.Done()
				<-ready
				for range n {
					if err := m.Forward(out, in(g)); err != nil {
						t.Error(err)
						return
					}
					if !sameBits(out, want[g]) {
						bad[g]++
					}
				}
			}()
		}
		start.Wait()
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		close(ready)
		done.Wait()
		runtime.ReadMemStats(&b)
		for g, n := range bad {
			if n > 0 {
				t.Errorf("goroutine %d: %d of its results differ from a lone call's", g, n)
			}
		}
		return b.Mallocs - a.Mallocs
	}
	round(20) // warm-up: the pool grows to the calls that overlap
	// The pool stops growing at 8 runners, so rounds that allocate (more
	// calls overlapping than before) end. The Go runtime may still allocate
	// the odd wait-queue entry (sudog) for a goroutine that blocks after a GC
	// emptied its caches (seen under -race: a handful per round), hence the
	// count per call as testing.AllocsPerRun takes it, the integer mean.
	var allocs []uint64
	for range 3 {
		allocs = append(allocs, round(calls))
		if allocs[len(allocs)-1] == 0 || t.Failed() {
			break
		}
	}
	t.Logf("%d goroutines x %d calls: heap allocations in successive rounds %v", goroutines, calls, allocs)
	if perCall := allocs[len(allocs)-1] / uint64(goroutines*calls); perCall != 0 {
		t.Errorf("%d allocations per call", perCall)
	}
}

// BenchmarkForwardShared is one Model used by parallel goroutines (-cpu sets
// how many), one image per call; allocs/op is 0 in steady state.
func BenchmarkForwardShared(b *testing.B) {
	x := benchImages(b, 1)
	m := mobilenetv2_fmnist.New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		out := make([]float32, mobilenetv2_fmnist.NumClasses)
		for pb.Next() {
			if err := m.Forward(out, x); err != nil {
				b.Error(err)
				return
			}
		}
	})
	report(b, 1)
}
