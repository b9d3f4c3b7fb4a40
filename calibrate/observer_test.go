package calibrate

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/internal/testenv"
)

// Golden data written by tools/observer_golden.py with PyTorch 1.13.
const goldenDir = "../testdata/observers"

// goldenSpecs maps the config names of tools/observer_golden.py to Specs.
var goldenSpecs = map[string]Spec{
	"minmax_u8_affine_rr": {Kind: MinMax, DType: QUInt8, Scheme: Affine, ReduceRange: true},
	"minmax_u8_affine":    {Kind: MinMax, DType: QUInt8, Scheme: Affine},
	"minmax_s8_sym":       {Kind: MinMax, DType: QInt8, Scheme: Symmetric},
	"mavg_u8_affine":      {Kind: MovingAverageMinMax, DType: QUInt8, Scheme: Affine},
	"mavg_u8_affine_rr":   {Kind: MovingAverageMinMax, DType: QUInt8, Scheme: Affine, ReduceRange: true},
	"hist_u8_affine_rr":   {Kind: Histogram, DType: QUInt8, Scheme: Affine, ReduceRange: true},
	"hist_u8_affine":      {Kind: Histogram, DType: QUInt8, Scheme: Affine},
}

var goldenPerChannelSpecs = map[string]struct {
	dtype  DType
	scheme Scheme
}{
	"perchannel_s8_sym":    {QInt8, Symmetric},
	"perchannel_s8_affine": {QInt8, Affine},
}

type goldenFile struct {
	TorchVersion    string       `json:"torch_version"`
	ActivationCases []goldenCase `json:"activation_cases"`
	WeightCases     []goldenCase `json:"weight_cases"`
}

type goldenCase struct {
	Name    string                     `json:"name"`
	File    string                     `json:"file"`
	Shape   []int                      `json:"shape"`
	Results map[string]json.RawMessage `json:"results"`
}

type goldenTensor struct {
	Min       float64  `json:"min"`
	Max       float64  `json:"max"`
	Scale     float64  `json:"scale"`
	ZeroPoint int32    `json:"zero_point"`
	SearchMin *float64 `json:"search_min"`
	SearchMax *float64 `json:"search_max"`
	Histogram string   `json:"histogram"`
}

type goldenChannels struct {
	Min       []float64 `json:"min"`
	Max       []float64 `json:"max"`
	Scale     []float64 `json:"scale"`
	ZeroPoint []int32   `json:"zero_point"`
}

// observed is what the golden tests compare: min and max as float32 (PyTorch's
// float32 buffers, exactly representable in the JSON float64) and the qparams.
type observed struct {
	Min, Max float32
	QParams  QParams
}

func loadGolden(t *testing.T) goldenFile {
	t.Helper()
	var g goldenFile
	loadGoldenInto(t, &g)
	return g
}

func loadGoldenInto(t *testing.T, v any) {
	t.Helper()
	testenv.ReadJSON(t, filepath.Join(goldenDir, "golden.json"), v) // tools/observer_golden.py writes it
}

// readNpy reads a little-endian float32, C-order .npy file (test only).
func readNpy(t *testing.T, name string) (shape []int, data []float32) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	shape, data, err = parseNpy(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return shape, data
}

func parseNpy(b []byte) (shape []int, data []float32, err error) {
	if len(b) < 10 || !bytes.Equal(b[:6], []byte("\x93NUMPY")) {
		return nil, nil, fmt.Errorf("not an npy file")
	}
	var hlen, off int
	switch b[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, nil, fmt.Errorf("short npy header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, nil, fmt.Errorf("npy version %d", b[6])
	}
	if len(b) < off+hlen {
		return nil, nil, fmt.Errorf("short npy header")
	}
	header := string(b[off : off+hlen])
	if !strings.Contains(header, "'descr': '<f4'") {
		return nil, nil, fmt.Errorf("dtype is not <f4: %s", header)
	}
	if !strings.Contains(header, "'fortran_order': False") {
		return nil, nil, fmt.Errorf("fortran order: %s", header)
	}
	i := strings.Index(header, "'shape': (")
	if i < 0 {
		return nil, nil, fmt.Errorf("no shape: %s", header)
	}
	rest := header[i+len("'shape': ("):]
	j := strings.Index(rest, ")")
	if j < 0 {
		return nil, nil, fmt.Errorf("bad shape: %s", header)
	}
	n := 1
	for _, f := range strings.Split(rest[:j], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil {
			return nil, nil, fmt.Errorf("bad shape: %s", header)
		}
		shape = append(shape, d)
		n *= d
	}
	body := b[off+hlen:]
	if len(body) != 4*n {
		return nil, nil, fmt.Errorf("have %d bytes for %d floats", len(body), n)
	}
	data = make([]float32, n)
	for k := range data {
		data[k] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*k:]))
	}
	return shape, data, nil
}

// batches splits data of shape [B, ...] into its B batches.
func batches(shape []int, data []float32) [][]float32 {
	n := len(data) / shape[0]
	out := make([][]float32, shape[0])
	for b := range out {
		out[b] = data[b*n : (b+1)*n]
	}
	return out
}

// eachGolden runs check as a subtest per case and qconfig of cases (what
// names them in the error when there are none), with the case's data read
// and its shape checked.
func eachGolden(t *testing.T, cases []goldenCase, what string, check func(t *testing.T, cfg string, raw json.RawMessage, shape []int, data []float32)) {
	if len(cases) == 0 {
		t.Fatalf("no %s cases", what)
	}
	for _, c := range cases {
		shape, data := readNpy(t, c.File)
		if !cmp.Equal(shape, c.Shape) {
			t.Fatalf("%s: shape %v, golden says %v", c.File, shape, c.Shape)
		}
		for cfg, raw := range c.Results {
			t.Run(c.Name+"/"+cfg, func(t *testing.T) { check(t, cfg, raw, shape, data) })
		}
	}
}

// checkPerTensor runs spec's observer over the batches of data and compares
// its range (for Histogram the histogram's) and qparams with PyTorch's, raw.
func checkPerTensor(t *testing.T, spec Spec, raw json.RawMessage, shape []int, data []float32) (Observer, goldenTensor) {
	t.Helper()
	var want goldenTensor
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	obs := NewObserver(spec)
	for _, b := range batches(shape, data) {
		obs.Observe(b)
	}
	// PyTorch's min_val/max_val; for Histogram the histogram's range.
	var gotMin, gotMax float32
	if h, ok := obs.(*HistogramObserver); ok {
		gotMin, gotMax = h.ObservedRange()
	} else {
		gotMin, gotMax = obs.MinMax()
	}
	got := observed{Min: gotMin, Max: gotMax, QParams: obs.QParams()}
	exp := observed{
		Min: float32(want.Min), Max: float32(want.Max),
		QParams: QParams{Scale: want.Scale, ZeroPoint: want.ZeroPoint},
	}
	if diff := cmp.Diff(exp, got); diff != "" {
		t.Errorf("mismatch (-pytorch +go):\n%s", diff)
	}
	return obs, want
}

func TestGoldenActivationObservers(t *testing.T) {
	eachGolden(t, loadGolden(t).ActivationCases, "activation", func(t *testing.T, cfg string, raw json.RawMessage, shape []int, data []float32) {
		spec, ok := goldenSpecs[cfg]
		if !ok {
			t.Fatalf("unknown golden config %q", cfg)
		}
		obs, want := checkPerTensor(t, spec, raw, shape, data)
		h, ok := obs.(*HistogramObserver)
		if !ok {
			return
		}
		if want.SearchMin == nil || want.SearchMax == nil || want.Histogram == "" {
			t.Fatal("golden histogram result lacks search range or histogram")
		}
		_, wantHist := readNpy(t, want.Histogram)
		if bad := diffFloats(wantHist, h.hist); bad != "" {
			t.Errorf("histogram differs: %s", bad)
		}
		sMin, sMax := h.MinMax()
		if diff := cmp.Diff([2]float32{float32(*want.SearchMin), float32(*want.SearchMax)}, [2]float32{sMin, sMax}); diff != "" {
			t.Errorf("search range mismatch (-pytorch +go):\n%s", diff)
		}
	})
}

// diffFloats reports how many elements of got differ from want (bit for bit)
// and the first few of them.
func diffFloats(want, got []float32) string {
	if len(want) != len(got) {
		return fmt.Sprintf("length %d, want %d", len(got), len(want))
	}
	var sb strings.Builder
	n := 0
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			if n < 5 {
				fmt.Fprintf(&sb, " [%d] got %v want %v;", i, got[i], want[i])
			}
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d bins:%s", n, len(want), sb.String())
}

func TestGoldenWeightObservers(t *testing.T) {
	eachGolden(t, loadGolden(t).WeightCases, "weight", func(t *testing.T, cfg string, raw json.RawMessage, shape []int, data []float32) {
		if spec, ok := goldenSpecs[cfg]; ok {
			checkPerTensor(t, spec, raw, shape, data)
			return
		}
		pc, ok := goldenPerChannelSpecs[cfg]
		if !ok {
			t.Fatalf("unknown golden config %q", cfg)
		}
		var want goldenChannels
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		obs := NewPerChannelMinMaxObserver(pc.dtype, pc.scheme, false)
		var po PerChannelObserver = obs
		channels := shape[1]
		for _, b := range batches(shape, data) {
			po.ObserveChannels(b, channels)
		}
		gotMin, gotMax := po.ChannelMinMax()
		gotQP := po.ChannelQParams()
		var got, exp []observed
		for ch := range channels {
			got = append(got, observed{Min: gotMin[ch], Max: gotMax[ch], QParams: gotQP[ch]})
			exp = append(exp, observed{
				Min: float32(want.Min[ch]), Max: float32(want.Max[ch]),
				QParams: QParams{Scale: want.Scale[ch], ZeroPoint: want.ZeroPoint[ch]},
			})
		}
		if diff := cmp.Diff(exp, got); diff != "" {
			t.Errorf("mismatch (-pytorch +go):\n%s", diff)
		}
	})
}

func TestObserverBeforeObserve(t *testing.T) {
	for _, k := range []Kind{MinMax, MovingAverageMinMax, Histogram} {
		obs := NewObserver(Spec{Kind: k, DType: QUInt8, Scheme: Affine, ReduceRange: true})
		obs.Observe(nil) // ignored, as PyTorch ignores empty tensors
		if diff := cmp.Diff(QParams{Scale: 1}, obs.QParams()); diff != "" {
			t.Errorf("%v: QParams before observing (-want +got):\n%s", k, diff)
		}
		mn, mx := obs.MinMax()
		if !math.IsInf(float64(mn), 1) || !math.IsInf(float64(mx), -1) {
			t.Errorf("%v: MinMax before observing = %v, %v; want +Inf, -Inf", k, mn, mx)
		}
	}
	pc := NewPerChannelMinMaxObserver(QInt8, Symmetric, false)
	if qp := pc.ChannelQParams(); qp != nil {
		t.Errorf("ChannelQParams before observing = %v, want nil", qp)
	}
}

func TestNewObserverRejectsSymmetricReducedQUInt8(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewObserver(quint8, symmetric, reduce_range) did not panic")
		}
	}()
	NewObserver(Spec{Kind: MinMax, DType: QUInt8, Scheme: Symmetric, ReduceRange: true})
}

func TestParseNpy(t *testing.T) {
	// Header as numpy 1.x writes it for np.zeros((2, 3), np.float32).
	header := "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	for i := range 6 {
		binary.Write(&b, binary.LittleEndian, float32(i)+0.5)
	}
	shape, data, err := parseNpy(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{2, 3}, shape); diff != "" {
		t.Errorf("shape (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float32{0.5, 1.5, 2.5, 3.5, 4.5, 5.5}, data); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
}
