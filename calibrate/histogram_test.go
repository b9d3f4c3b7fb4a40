package calibrate

import (
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/internal/testenv"
)

type goldenKernels struct {
	Sum struct {
		File    string    `json:"file"`
		Lengths []int     `json:"lengths"`
		Results []float64 `json:"results"`
	} `json:"sum"`
	Cumsum struct {
		File string `json:"file"`
	} `json:"cumsum"`
	FloorDiv struct {
		File string `json:"file"`
	} `json:"floordiv"`
	Histc struct {
		X      string       `json:"x"`
		Hist   string       `json:"hist"`
		Ranges [][2]float64 `json:"ranges"`
	} `json:"histc"`
	Search struct {
		File    string       `json:"file"`
		Ranges  [][2]float64 `json:"ranges"`
		Results []struct {
			SearchMin float64 `json:"search_min"`
			SearchMax float64 `json:"search_max"`
			Scale     float64 `json:"scale"`
			ZeroPoint int32   `json:"zero_point"`
			// [next_start_bin, next_end_bin, _compute_quantization_error]
			Errors [][3]float64 `json:"errors"`
		} `json:"results"`
	} `json:"search"`
}

func loadKernels(t *testing.T) goldenKernels {
	t.Helper()
	var g struct {
		Kernels goldenKernels `json:"kernels"`
	}
	loadGoldenInto(t, &g)
	return g.Kernels
}

func TestGoldenCascadeSum(t *testing.T) {
	k := loadKernels(t)
	_, flat := readNpy(t, k.Sum.File)
	if len(k.Sum.Lengths) == 0 {
		t.Fatal("no sum cases")
	}
	off := 0
	for i, n := range k.Sum.Lengths {
		got := cascadeSum(flat[off : off+n])
		off += n
		if want := float32(k.Sum.Results[i]); got != want {
			t.Errorf("sum #%d (len %d) = %v, torch.sum = %v", i, n, got, want)
		}
	}
}

func TestGoldenCumsum(t *testing.T) {
	k := loadKernels(t)
	shape, data := readNpy(t, k.Cumsum.File)
	n := shape[1]
	got := cumsum32(make([]float32, n), data[:n])
	if bad := diffFloats(data[n:], got); bad != "" {
		t.Errorf("cumsum differs from torch.cumsum: %s", bad)
	}
}

func TestGoldenFloorDiv(t *testing.T) {
	k := loadKernels(t)
	shape, data := readNpy(t, k.FloorDiv.File)
	n := shape[1]
	a, b, want := data[:n], data[n:2*n], data[2*n:]
	got := make([]float32, n)
	for i := range got {
		got[i] = floorDiv32(a[i], b[i])
	}
	if bad := diffFloats(want, got); bad != "" {
		t.Errorf("floor division differs from torch.div(rounding_mode='floor'): %s", bad)
	}
}

func TestGoldenHistc(t *testing.T) {
	k := loadKernels(t)
	xs, xd := readNpy(t, k.Histc.X)
	_, hd := readNpy(t, k.Histc.Hist)
	o := NewHistogramObserver(QUInt8, Affine, false)
	n := xs[1]
	for i, r := range k.Histc.Ranges {
		x := xd[i*n : (i+1)*n]
		lo, hi := aminmax(x)
		left, right, _ := histcEdges(r[0], r[1], lo, hi)
		o.histc(x, left, right)
		got := make([]float32, o.bins)
		for j := range got {
			got[j] = float32(o.counts[j] + o.counts[o.bins+1+j])
		}
		if bad := diffFloats(hd[i*o.bins:(i+1)*o.bins], got); bad != "" {
			t.Errorf("histc range %v differs: %s", r, bad)
		}
	}
}

func TestGoldenSearch(t *testing.T) {
	k := loadKernels(t)
	_, hd := readNpy(t, k.Search.File)
	if len(k.Search.Ranges) == 0 {
		t.Fatal("no search cases")
	}
	for i, r := range k.Search.Ranges {
		o := NewHistogramObserver(QUInt8, Affine, true)
		copy(o.hist, hd[i*o.bins:(i+1)*o.bins])
		o.min, o.max = float32(r[0]), float32(r[1])
		mn, mx := o.MinMax()
		want := k.Search.Results[i]
		type res struct {
			Min, Max float32
			QParams  QParams
		}
		exp := res{float32(want.SearchMin), float32(want.SearchMax), QParams{want.Scale, want.ZeroPoint}}
		got := res{mn, mx, o.QParams()}
		if diff := cmp.Diff(exp, got); diff != "" {
			t.Errorf("search #%d (%d iterations) (-pytorch +go):\n%s", i, o.searchIterations, diff)
		}
		if len(want.Errors) == 0 {
			t.Fatal("no quantization error cases")
		}
		for _, e := range want.Errors {
			if got := o.quantizationError(int(e[0]), int(e[1])); got != e[2] {
				t.Errorf("search #%d: quantization error bins [%v, %v] = %v, PyTorch %v", i, e[0], e[1], got, e[2])
			}
		}
	}
}

// mnv2Golden is testdata/observers/mnv2_f3c00.json (tools/histogram_model_golden.py).
type mnv2Golden struct {
	Layer         string  `json:"layer"`
	CallsPerBatch int     `json:"observer_calls_per_batch"`
	MaxAbsDiff    float64 `json:"max_abs_diff_of_sources"`
	State         string  `json:"state"`
	Hist          string  `json:"hist"`
	Last          string  `json:"last"`
	Cases         []struct {
		Name      string       `json:"name"`
		StateMin  float64      `json:"state_min"` // before the last batch
		StateMax  float64      `json:"state_max"`
		Min       float64      `json:"min"` // after it
		Max       float64      `json:"max"`
		SearchMin float64      `json:"search_min"`
		SearchMax float64      `json:"search_max"`
		Total     float64      `json:"total"`
		Errors    [][3]float64 `json:"errors"` // [next_start_bin, next_end_bin, error]
		// reduce_range True (fbgemm) and False (qnnpack, onednn)
		ReduceRange goldenQParams `json:"reduce_range"`
		FullRange   goldenQParams `json:"full_range"`
	} `json:"cases"`
}

type goldenQParams struct {
	Scale     float64 `json:"scale"`
	ZeroPoint int32   `json:"zero_point"`
}

// TestHistogramMobileNetV2Layer replays the last calibration batch of the
// bundled model's features.3.conv.0.0 on PyTorch's observer state after the
// first nine, once with PyTorch's activations and once with ptqc's (a few
// ulps apart), and compares every step with PyTorch 1.13 bit for bit: the
// histogram (histc over the integer-truncated range, the 7.01 -> 8.66 rebin
// with its float32 shifted integral), torch.sum, each quantization error of the
// search and the chosen range. PyTorch itself picks ranges 14% apart for the
// two inputs; ptqc must do the same.
func TestHistogramMobileNetV2Layer(t *testing.T) {
	var g mnv2Golden
	testenv.ReadJSON(t, filepath.Join(goldenDir, "mnv2_f3c00.json"), &g)
	_, state := readNpy(t, g.State)
	_, hist := readNpy(t, g.Hist)
	lastShape, last := readNpyGz(t, g.Last)
	if len(g.Cases) != 2 || lastShape[0] != 2 || len(state) != 2*histogramBins || len(hist) != 2*histogramBins {
		t.Fatalf("%d cases, last batches %v, %d state and %d histogram values", len(g.Cases), lastShape, len(state), len(hist))
	}
	n := lastShape[1]
	var scales [2]float64
	for i, c := range g.Cases {
		x := last[i*n : (i+1)*n]
		// PyTorch observes a fused ConvReLU2d's output twice per forward (see
		// the script): its histograms are then exactly twice the stored ones
		// and its qparams the same.
		for _, calls := range []int{1, g.CallsPerBatch} {
			for _, rr := range []bool{true, false} {
				o := NewHistogramObserver(QUInt8, Affine, rr)
				for k, v := range state[i*histogramBins : (i+1)*histogramBins] {
					o.hist[k] = float32(calls) * v
				}
				o.min, o.max = float32(c.StateMin), float32(c.StateMax)
				for range calls {
					o.Observe(x)
				}
				name := fmt.Sprintf("%s (%d calls, reduce_range %v)", c.Name, calls, rr)
				if lo, hi := o.ObservedRange(); lo != float32(c.Min) || hi != float32(c.Max) {
					t.Errorf("%s: range after the last batch [%v, %v], PyTorch [%v, %v]", name, lo, hi, float32(c.Min), float32(c.Max))
				}
				want := make([]float32, histogramBins)
				for k, v := range hist[i*histogramBins : (i+1)*histogramBins] {
					want[k] = float32(calls) * v
				}
				if bad := diffFloats(want, o.hist); bad != "" {
					t.Errorf("%s: histogram after the last batch differs: %s", name, bad)
				}
				if calls == 1 {
					if got := cascadeSum(o.hist); got != float32(c.Total) {
						t.Errorf("%s: torch.sum of the histogram %v, PyTorch %v", name, got, c.Total)
					}
					for _, e := range c.Errors {
						if got := o.quantizationError(int(e[0]), int(e[1])); got != e[2] {
							t.Errorf("%s: quantization error bins [%v, %v] = %v, PyTorch %v", name, e[0], e[1], got, e[2])
						}
					}
				}
				if lo, hi := o.MinMax(); lo != float32(c.SearchMin) || hi != float32(c.SearchMax) {
					t.Errorf("%s: search range [%v, %v], PyTorch [%v, %v]", name, lo, hi, float32(c.SearchMin), float32(c.SearchMax))
				}
				wantQ := QParams(c.FullRange)
				if rr {
					wantQ = QParams(c.ReduceRange)
					scales[i] = o.QParams().Scale
				}
				if diff := cmp.Diff(wantQ, o.QParams()); diff != "" {
					t.Errorf("%s: qparams (-pytorch +go):\n%s", name, diff)
				}
			}
		}
	}
	t.Logf("%s: inputs at most %.2g apart, scales %v (%s) and %v (%s): %+.1f%%", g.Layer, g.MaxAbsDiff,
		scales[0], g.Cases[0].Name, scales[1], g.Cases[1].Name, 100*(scales[1]/scales[0]-1))
}

// readNpyGz is readNpy of a gzip-compressed .npy file.
func readNpyGz(t *testing.T, name string) (shape []int, data []float32) {
	t.Helper()
	f, err := os.Open(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	shape, data, err = parseNpy(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return shape, data
}

func TestFmod32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	special := []float32{0, 1, -1, 0.1, -0.1, 3, 1e-30, 1e30, 16777216, 16777217, 1e-3, 7.5}
	check := func(a, b float32) {
		want := float32(math.Mod(float64(a), float64(b)))
		got := fmod32(a, b)
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("fmod32(%v, %v) = %v, want %v", a, b, got, want)
		}
	}
	for _, a := range special {
		for _, b := range special {
			check(a, b)
			check(-a, b)
			check(a, -b)
		}
	}
	for range 200000 {
		b := float32(math.Exp(r.NormFloat64()*3)) * float32(1-2*r.IntN(2))
		var a float32
		if r.IntN(2) == 0 {
			a = float32(float64(r.IntN(1<<20)-1<<19) * float64(b)) // near multiples
			a = math.Float32frombits(math.Float32bits(a) + uint32(r.IntN(3)) - 1)
		} else {
			a = float32(r.NormFloat64() * math.Exp(r.NormFloat64()*4))
		}
		check(a, b)
	}
}

func TestCeilLog2(t *testing.T) {
	for _, c := range []struct{ x, want int }{{0, 1}, {1, 1}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {64, 6}, {65, 7}} {
		if got := ceilLog2(c.x); got != c.want {
			t.Errorf("ceilLog2(%d) = %d, want %d", c.x, got, c.want)
		}
	}
}

// A constant tensor: PyTorch re-initialises on every call while min == max,
// and the search collapses to [v, v].
func TestHistogramConstant(t *testing.T) {
	o := NewHistogramObserver(QUInt8, Affine, true)
	x := make([]float32, 100)
	for i := range x {
		x[i] = 2.5
	}
	o.Observe(x)
	o.Observe(x)
	lo, hi := o.MinMax()
	if lo != 2.5 || hi != 2.5 {
		t.Errorf("MinMax = %v, %v; want 2.5, 2.5", lo, hi)
	}
	want := CalculateQParams(2.5, 2.5, QUInt8, Affine, true)
	if diff := cmp.Diff(want, o.QParams()); diff != "" {
		t.Errorf("QParams (-want +got):\n%s", diff)
	}
	if o.hist[1024] != 100 || cascadeSum(o.hist) != 100 {
		t.Errorf("histogram of a constant: bin 1024 = %v, total %v; want all 100 in bin 1024", o.hist[1024], cascadeSum(o.hist))
	}
}

// Observe must not allocate and must stay linear: the rebinning of a wide
// range must not materialise PyTorch's bins*downsample_rate array.
func TestHistogramObserveAllocs(t *testing.T) {
	x := make([]float32, 4096)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	o := NewHistogramObserver(QUInt8, Affine, true)
	o.Observe(x)
	scale := float32(1)
	allocs := testing.AllocsPerRun(20, func() {
		scale *= 1.5 // grows the range every call: combine path
		for i := range x {
			x[i] *= 1.5
		}
		o.Observe(x)
	})
	if allocs != 0 {
		t.Errorf("Observe allocates %v times per call", allocs)
	}
	// A range jump of 1e6 makes PyTorch allocate 2048*~1.3e8 floats; we must not.
	big := []float32{-1e6, 1e6}
	o2 := NewHistogramObserver(QUInt8, Affine, true)
	o2.Observe([]float32{0, 1e-2})
	o2.Observe(big)
	if lo, hi := o2.ObservedRange(); lo != -1e6 || hi < 1e6 {
		t.Errorf("ObservedRange = %v, %v", lo, hi)
	}
}

func benchmarkInput(n int) []float32 {
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, n)
	for i := range x {
		x[i] = max(0, float32(r.NormFloat64()*2+0.3))
	}
	return x
}

// One MobileNetV2-sized activation: 30 images x 96 channels x 16 x 16.
const benchN = 30 * 96 * 16 * 16

func BenchmarkHistogramObserve(b *testing.B) {
	x := benchmarkInput(benchN)
	o := NewHistogramObserver(QUInt8, Affine, true)
	o.Observe(x)
	b.SetBytes(int64(4 * len(x)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x[i%len(x)] = float32(i%7) * 1.01 // perturb the range now and then
		o.Observe(x)
	}
}

func BenchmarkMinMaxObserve(b *testing.B) {
	x := benchmarkInput(benchN)
	o := NewMinMaxObserver(QUInt8, Affine, true)
	b.SetBytes(int64(4 * len(x)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o.Observe(x)
	}
}

func BenchmarkHistogramQParams(b *testing.B) {
	x := benchmarkInput(benchN)
	o := NewHistogramObserver(QUInt8, Affine, true)
	for i := 0; i < 5; i++ {
		x[i] = float32(i) * 3
		o.Observe(x)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o.searched = false
		o.QParams()
	}
}

// TestHistogramSplitCounts checks that histc and the min/max scan split
// across workers (long inputs) give the single worker's histogram and
// qparams exactly.
func TestHistogramSplitCounts(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	batches := make([][]float32, 3)
	for b := range batches {
		x := make([]float32, 5*parallelHistc+17)
		for i := range x {
			if v := float32(r.NormFloat64()) * float32(b+1); v > 0 { // ReLU: many zeros
				x[i] = v
			}
		}
		batches[b] = x
	}
	observe := func(procs int) *HistogramObserver {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		o := NewHistogramObserver(QUInt8, Affine, true)
		for _, x := range batches {
			o.Observe(x)
		}
		return o
	}
	one, four := observe(1), observe(4)
	if diff := cmp.Diff(one.hist, four.hist); diff != "" {
		t.Errorf("histogram split 4 ways differs (-1 worker +4):\n%s", diff)
	}
	if one.QParams() != four.QParams() || one.min != four.min || one.max != four.max {
		t.Errorf("split 4 ways: %v [%v, %v], one worker: %v [%v, %v]", four.QParams(), four.min, four.max, one.QParams(), one.min, one.max)
	}
}

// TestHistogramHostileFinite is issue 23's class 3: large finite
// activations made the observer panic (int64 overflow, rebinning past 2^40
// bins, bin indices from an overflowed float32). Every finite sequence is
// observed without a panic; a range past float32 gives a non-finite MinMax,
// which Calibrate turns into an error.
func TestHistogramHostileFinite(t *testing.T) {
	const big = math.MaxFloat32
	fill := func(n int, vs ...float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = vs[i%len(vs)]
		}
		return x
	}
	for _, c := range []struct {
		name    string
		batches [][]float32
		finite  bool // MinMax finite
	}{
		{"1e30s", [][]float32{fill(100, 1e30), fill(100, 1e30, 2e30)}, true},
		{"-1e30..1e30", [][]float32{fill(100, -1e30, 1e30)}, true},
		{"past int64", [][]float32{fill(100, 1e19, 3e19)}, true},
		{"full float32", [][]float32{fill(1000, -big, big, 0)}, false},
		{"full float32 then small", [][]float32{fill(1000, -big, big), fill(10, 0, 1)}, false},
		{"tiny then huge", [][]float32{fill(100, 0, 1e-30), fill(100, 1e30)}, true},
		{"small then max", [][]float32{fill(100, 0, 1), fill(100, big)}, true},
		{"max then -max", [][]float32{fill(100, big), fill(100, -big)}, true}, // min == max restarts, as in PyTorch
		{"constant max", [][]float32{fill(100, big), fill(100, big)}, true},
		{"large parallel", [][]float32{fill(1<<17, -3e37, 3e37), fill(1<<17, 1e38)}, true},
	} {
		for _, spec := range []Spec{actHist, actHistReduce} {
			o := NewObserver(spec)
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s: panic: %v", c.name, r)
					}
				}()
				for _, b := range c.batches {
					o.Observe(b)
				}
				lo, hi := o.MinMax()
				finite := lo <= hi && !math.IsInf(float64(lo), 0) && !math.IsInf(float64(hi), 0)
				if finite != c.finite {
					t.Errorf("%s: MinMax [%v, %v], want finite %v", c.name, lo, hi, c.finite)
				}
				if finite {
					o.QParams()
				}
			}()
		}
	}
}

// BenchmarkHistogramParts is a batch taken in parts on guessed edges (the
// calibration hook's work for a later batch whose range stays): bin, copy,
// count. The range and the zeros (~half) are a ReLU's.
func BenchmarkHistogramParts(b *testing.B) {
	x := benchmarkInput(benchN)
	o := NewHistogramObserver(QUInt8, Affine, true)
	o.Observe(x)
	const parts = 30
	per := len(x) / parts
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		o.begin(len(x))
		for p := range parts {
			o.part(x[p*per : (p+1)*per])
		}
		if !o.p.guess {
			b.Fatal("no guessed edges")
		}
		o.p.r.reset() // end would combine: keep the histogram as it is
	}
}
