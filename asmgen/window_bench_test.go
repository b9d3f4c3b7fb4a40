package asmgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/calibrate"
	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/codegen"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/runtime"
)

// benchConv is one conv layer of BenchmarkWindowConv.
type benchConv struct {
	name              string
	c, h, w, out, grp int // input channels and plane, output channels, groups
	win               ir.Window
}

func (l benchConv) macs() int {
	oh, ow := l.win.OutSize(l.h, l.w, false)
	return oh * ow * l.out * l.c / l.grp * l.win.Taps()
}

// convModel is Quantize -> l -> Dequantize (l nil: Quantize -> Dequantize),
// calibrated on N(0,1) samples with fbgemm.
func convModel(tb testing.TB, c, h, w int, l *benchConv) *compiler.Model {
	tb.Helper()
	r := rand.New(rand.NewPCG(5, 5))
	g := &ir.Graph{Name: "bench"}
	g.Input = g.NewTensor([]int{c, h, w})
	x := g.Add(&ir.Node{Op: ir.OpQuant, Name: "quant"}, g.Input)
	if l != nil {
		cv := &ir.Conv{InC: l.c, OutC: l.out, Groups: l.grp, Window: l.win, Bias: make([]float32, l.out)}
		cv.Weight = make([]float32, l.out*l.c/l.grp*l.win.Taps())
		sd := 1 / math.Sqrt(float64(l.c/l.grp*l.win.Taps()))
		for i := range cv.Weight {
			cv.Weight[i] = float32(r.NormFloat64() * sd)
		}
		x = g.Add(&ir.Node{Op: ir.OpConv, Name: l.name, Conv: cv}, x)
	}
	g.Output = g.Add(&ir.Node{Op: ir.OpDeQuant, Name: "dequant"}, x)
	if err := ir.InferShapes(g); err != nil {
		tb.Fatal(err)
	}
	ds := &data.Samples{C: c, H: h, W: w, X: make([]float32, 4*c*h*w)}
	for i := range ds.X {
		ds.X[i] = float32(r.NormFloat64())
	}
	qc, _ := calibrate.LookupQConfig("fbgemm")
	cal, err := calibrate.Calibrate(g, ds, qc, 0, 4, nil)
	if err != nil {
		tb.Fatal(err)
	}
	d := ir.DefaultDescription()
	d.Input, d.Mean, d.Std, d.Preprocess, d.NumClasses = []int{c, h, w}, []float32{0, 0, 0}, []float32{1, 1, 1}, ir.Preprocess{}, ir.Elems(g.Tensors[g.Output].Shape)
	m, err := compiler.Convert(d, g, cal)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkWindowConv times, on one core, Forward of one-layer packages:
// Inception-v3's 1x7 and 7x1 (17x17, 128 -> 128), a square 3x3 dense
// conv of the same shape, grouped convs of the same shape with a 1x3 window
// (32 groups of 4 channels, ResNeXt's first stage, and 8 groups of 16) and
// a dilated 3x3 one, EfficientNet's 5x5 depthwise (14x14, 480 channels)
// square and with TF-style uneven pads; on the avx2 tier and on the
// portable kernels (generic). A package of only the Quantize and
// Dequantize of the same shape gives the time subtracted. Reported as ns
// per multiply-add (of the conv's own products, not the zeros a grouped
// conv's column blocks multiply):
//
//	go test ./asmgen -run '^$' -bench WindowConv -benchtime 1x
func BenchmarkWindowConv(b *testing.B) {
	if !runtime.AVX2.Supported() {
		b.Skip("CPU without AVX2")
	}
	win := func(kh, kw, pt, pl, pb, pr int) ir.Window {
		return ir.Window{KH: kh, KW: kw, SH: 1, SW: 1, PadT: pt, PadL: pl, PadB: pb, PadR: pr, DH: 1, DW: 1}
	}
	layers := []benchConv{
		{"dense1x7", 128, 17, 17, 128, 1, win(1, 7, 0, 3, 0, 3)},
		{"dense7x1", 128, 17, 17, 128, 1, win(7, 1, 3, 0, 3, 0)},
		{"dense3x3", 128, 17, 17, 128, 1, ir.SquareWindow(3, 1, 1)},
		{"g32x4_1x3", 128, 17, 17, 128, 32, win(1, 3, 0, 1, 0, 1)},
		{"g8x16_1x3", 128, 17, 17, 128, 8, win(1, 3, 0, 1, 0, 1)},
		{"g32x4_3x3d2", 128, 17, 17, 128, 32, ir.Window{KH: 3, KW: 3, SH: 1, SW: 1, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DH: 2, DW: 2}},
		{"dw5x5", 480, 14, 14, 480, 480, ir.SquareWindow(5, 1, 2)},
		{"dw5x5uneven", 480, 14, 14, 480, 480, win(5, 5, 1, 1, 3, 3)},
	}
	dir := gentest.TempModule(b, "windowbench")
	type pkg struct {
		name string
		c    int
	}
	var pkgs []pkg
	write := func(name string, lm *lower.Model) {
		a, err := Generate(lm, name)
		if err != nil {
			b.Fatal(err)
		}
		p, err := codegen.Generate(lm, codegen.Options{Package: name, Asm: a})
		if err != nil {
			b.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			b.Fatal(err)
		}
		for f, src := range p.Files {
			if err := os.WriteFile(filepath.Join(dir, name, f), src, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, c := range []int{128, 480} {
		h := map[int]int{128: 17, 480: 14}[c]
		name := fmt.Sprintf("id%d", c)
		lm, err := lower.Lower(convModel(b, c, h, h, nil))
		if err != nil {
			b.Fatal(err)
		}
		write(name, lm)
		pkgs = append(pkgs, pkg{name, c})
	}
	for i := range layers {
		l := &layers[i]
		m := convModel(b, l.c, l.h, l.w, l)
		lm, err := lower.Lower(m)
		if err != nil {
			b.Fatal(err)
		}
		write(l.name, lm)
		pkgs = append(pkgs, pkg{l.name, l.c})
	}
	var imports, entries strings.Builder
	for _, p := range pkgs {
		h := map[int]int{128: 17, 480: 14}[p.c]
		fmt.Fprintf(&imports, "\t%q\n", "windowbench/"+p.name)
		fmt.Fprintf(&entries, "\t{%q, func() model { return %s.New() }, %d},\n", p.name, p.name, p.c*h*h)
	}
	main := `package main

import (
	"fmt"
	"os"
	"time"

` + imports.String() + `)

type model interface{ Forward(out, in []float32) error }

var pkgs = []struct {
	name string
	new  func() model
	n    int
}{
` + entries.String() + `}

func main() {
	for _, p := range pkgs {
		m := p.new()
		in, out := make([]float32, p.n), make([]float32, 1<<17)
		for i := range in {
			in[i] = float32(i%17)/8 - 1
		}
		best := time.Hour
		start := time.Now()
		for reps := 0; reps < 3 || reps < 300 && time.Since(start) < 400*time.Millisecond; reps++ {
			t := time.Now()
			if err := m.Forward(out[:p.n], in); err != nil { // every layer keeps its input's shape
				fmt.Fprintln(os.Stderr, p.name, err)
				os.Exit(1)
			}
			best = min(best, time.Since(t))
		}
		fmt.Println(p.name, best.Nanoseconds())
	}
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644); err != nil {
		b.Fatal(err)
	}
	gentest.GoCmd(b, dir, "build", "-o", "bench", ".")
	ns := map[string]map[string]float64{}
	for _, tier := range []string{"avx2", "generic"} {
		cmd := exec.Command(filepath.Join(dir, "bench"))
		cmd.Env = append(os.Environ(), "PTQC_ISA="+tier, "PTQC_THREADS=1", "GOMAXPROCS=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("%s: %v\n%s", tier, err, out)
		}
		ns[tier] = map[string]float64{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				b.Fatal(err)
			}
			ns[tier][f[0]] = v
		}
	}
	// One line per layer (go test shows at most 10 lines of a benchmark's log):
	// ns per MAC on avx2 and on the portable kernels.
	table := []string{"layer        MACs      avx2 ns/MAC  generic ns/MAC  (Forward minus its Quantize+Dequantize, one core)"}
	for _, l := range layers {
		per := map[string]float64{}
		for _, tier := range []string{"avx2", "generic"} {
			per[tier] = (ns[tier][l.name] - ns[tier][fmt.Sprintf("id%d", l.c)]) / float64(l.macs())
			b.ReportMetric(per[tier], "ns/MAC:"+l.name+":"+tier)
		}
		table = append(table, fmt.Sprintf("%-12s %8d  %11.4f  %14.3f", l.name, l.macs(), per["avx2"], per["generic"]))
	}
	b.Logf("\n%s", strings.Join(table, "\n"))
}
