package asmgen

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/runtime"
)

// BenchmarkByteKernels times the layers of a 56x56 inception block (a 204
// channel concat, hardswish, SE mul, per-channel affine) in a generated
// package with LayerTimes, one worker, on the portable kernels and on
// avx2, and reports each byte-wise layer's ns per output byte and the
// convs' ns per multiply-add, the cost to compare them with:
//
//	go test ./asmgen -run XXX -bench ByteKernels -v
//
// The concat of shared qparams has two inputs written in place by their
// convs (its ns/B still counts all output bytes); the other requantizes all
// four.
func BenchmarkByteKernels(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement")
	}
	const h, w, k = 56, 56, 4
	type layerInfo struct {
		kind  string
		bytes int
		macs  int
	}
	var pkgs []gentest.Pkg
	var infos [][]layerInfo
	for _, shared := range []bool{true, false} {
		m := gentest.InceptionSized(b, "fbgemm", shared, h, w, k)
		name := "own"
		if shared {
			name = "shared"
		}
		p, err := generatePkg(m, name, Generate)
		if err != nil {
			b.Fatal(err)
		}
		pkgs = append(pkgs, gentest.Pkg{Name: p.Name, Files: p.Files})
		var li []layerInfo
		for _, nd := range m.Nodes {
			y := m.Tensors[nd.Out]
			macs := 0
			if c := nd.Conv; c != nil {
				macs = y.Elems() * c.InC / c.Groups * c.Kernel * c.Kernel
			}
			li = append(li, layerInfo{nd.Kind.String(), y.Elems(), macs})
		}
		infos = append(infos, li)
	}
	res := layerTimes(b, pkgs)
	var tab strings.Builder
	fmt.Fprintf(&tab, "%-8s %-10s %9s %9s %9s %9s %s\n", "package", "kind", "generic", "avx2", "generic", "avx2", "unit")
	for pi, p := range pkgs {
		for i, li := range infos[pi] {
			g, a := res["generic"][pi][i], res["avx2"][pi][i]
			switch {
			case li.macs > 0:
				fmt.Fprintf(&tab, "%-8s %-10s %7.0fus %7.0fus %9.4f %9.4f ns/MAC\n", p.Name, li.kind, g/1e3, a/1e3, g/float64(li.macs), a/float64(li.macs))
			case li.kind == compiler.KTable.String() || li.kind == compiler.KMul.String() || li.kind == compiler.KConcat.String():
				fmt.Fprintf(&tab, "%-8s %-10s %7.0fus %7.0fus %9.4f %9.4f ns/B\n", p.Name, li.kind, g/1e3, a/1e3, g/float64(li.bytes), a/float64(li.bytes))
				b.ReportMetric(a/float64(li.bytes), fmt.Sprintf("%s-%s%d-avx2-ns/B", p.Name, li.kind, i))
				b.ReportMetric(g/float64(li.bytes), fmt.Sprintf("%s-%s%d-go-ns/B", p.Name, li.kind, i))
			}
		}
	}
	b.Logf("one worker, best of 3 x 10 runs:\n%s", tab.String())
}

// layerTimes runs the packages' LayerTimes with one worker on the generic
// and avx2 tiers (best of 3 x 10 runs of one image) and returns each
// layer's ns: tier -> package -> layer.
func layerTimes(b *testing.B, pkgs []gentest.Pkg) map[string][][]float64 {
	dir := gentest.TempModule(b, "bench")
	var imports, calls strings.Builder
	for _, p := range pkgs {
		sub := filepath.Join(dir, p.Name)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for f, data := range p.Files {
			if err := os.WriteFile(filepath.Join(sub, f), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		fmt.Fprintf(&imports, "\t%q\n", "bench/"+p.Name)
		fmt.Fprintf(&calls, "\trun(%s.New().LayerTimes, %s.InputChannels*%[2]s.InputHeight*%[2]s.InputWidth)\n", p.Name, p.Name)
	}
	main := `package main

import (
	"fmt"
	"time"

	"github.com/ptqc/ptqc/runtime"
` + imports.String() + `)

func run(times func([]float32, int) ([]runtime.LayerTime, error), n int) {
	in := make([]float32, n)
	for i := range in {
		in[i] = float32(i%97)/30 - 1.5
	}
	best := map[int]time.Duration{}
	for range 3 {
		ts, err := times(in, 10)
		if err != nil {
			panic(err)
		}
		for i, t := range ts {
			if b, ok := best[i]; !ok || t.Time < b {
				best[i] = t.Time
			}
		}
	}
	for i := range len(best) {
		fmt.Println(i, best[i].Nanoseconds())
	}
	fmt.Println("end")
}

func main() {
` + calls.String() + `}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644); err != nil {
		b.Fatal(err)
	}
	res := map[string][][]float64{}
	for _, tier := range []string{"generic", "avx2"} {
		out := gentest.GoCmdEnv(b, dir, []string{"PTQC_ISA=" + tier, "PTQC_THREADS=1", "GOMAXPROCS=1"}, "run", ".")
		var cur []float64
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "end" {
				res[tier] = append(res[tier], cur)
				cur = nil
				continue
			}
			f := strings.Fields(line)
			if len(f) != 2 {
				b.Fatalf("bad line %q", line)
			}
			ns, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				b.Fatal(err)
			}
			cur = append(cur, ns)
		}
	}
	return res
}

// unaryTable is op's table from codes of scale 20/255 and zero point 128
// (inputs in [-10, 10]) to the range of op over them.
func unaryTable(op ir.Op) []uint8 {
	f := ir.UnaryFunc(&ir.Node{Op: op})
	sx, zx := 20.0/255, int32(128)
	lo, hi := float32(0), float32(0)
	for q := range 256 {
		v := f(compiler.Dequantize(uint8(q), sx, zx))
		lo, hi = min(lo, v), max(hi, v)
	}
	sy := float64(hi-lo) / 255
	zy := int32(math.Round(-float64(lo) / sy))
	t := make([]uint8, 256)
	for q := range t {
		t[q] = compiler.QuantizeValue(f(compiler.Dequantize(uint8(q), sx, zx)), float32(1/sy), zy)
	}
	return t
}

// BenchmarkBytePass times the byte-wise kernels alone on a buffer that
// stays in L1 (16 KB) and on one of a 56x56x204 layer (640 KB, past Zen 3's
// L2): the difference is what a pass over memory costs, the most fusing a
// kernel into its neighbour's epilogue could save.
//
//	go test ./asmgen -run XXX -bench BytePass -v
func BenchmarkBytePass(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement")
	}
	sizes := []int{16 << 10, 56 * 56 * 204}
	p := NewProgram("main")
	var list strings.Builder
	for _, n := range sizes {
		kernels := []struct {
			name string
			gen  func(string) error
			call string
		}{
			{"table", func(fn string) error { return p.Table(fn, &Table{N: n, C: 1}) }, "%s(&x[0], &w[0], &y[0], 0, %d)"},
			// Known tables: rows of one value are constants (lut).
			{"table-silu", func(fn string) error { return p.Table(fn, &Table{N: n, C: 1, T: unaryTable(ir.OpSiLU)}) }, "%s(&x[0], &w[0], &y[0], 0, %d)"},
			{"table-hardswish", func(fn string) error { return p.Table(fn, &Table{N: n, C: 1, T: unaryTable(ir.OpHardSwish)}) }, "%s(&x[0], &w[0], &y[0], 0, %d)"},
			{"table-per-channel", func(fn string) error {
				return p.Table(fn, &Table{N: n / 204 * 204, C: 204, PerChan: true, Rows: n / 204, RW: 1})
			}, "%s(&x[0], &w[0], &y[0], 0, %d)"},
			{"mul", func(fn string) error { return p.Mul(fn, &Mul{N: n, C: 1, ZA: 3, ZB: 5, M: 0.01, Z: 7}, avx2Design) }, "%s(&x[0], &w[0], &y[0], 0, %d)"},
			{"mul-se", func(fn string) error {
				return p.Mul(fn, &Mul{N: n / 204 * 204, C: 204, Bcast: true, Rows: n / 204, ZA: 3, ZB: 5, M: 0.01, Z: 7}, avx2Design)
			}, "%s(&x[0], &w[0], &y[0], 0, %d)"},
			{"mul-se-zmm", func(fn string) error {
				return p.Mul(fn, &Mul{N: n / 204 * 204, C: 204, Bcast: true, Rows: n / 204, ZA: 3, ZB: 5, M: 0.01, Z: 7}, avx512)
			}, "%s(&x[0], &w[0], &y[0], 0, %d)"},
			{"concat-requant", func(fn string) error {
				return p.Concat(fn, &Concat{C: 204, Off: 0, Rows: n / 204, RW: 1, Z: 4, Ins: []ConcatIn{{C: 102, Off: 1 << 20, Z: 3, M: 0.7}, {C: 102, Off: 2 << 20, Z: 3, M: 1.3}}, At: []int{0, 102}}, avx2Design)
			}, "%s(&x[0], 0, %d)"},
			// On avx512: the VBMI table lookups (where the CPU has VBMI), and
			// the arithmetic on zmm.
			{"concat-requant-zmm", func(fn string) error {
				return p.Concat(fn, &Concat{C: 204, Off: 0, Rows: n / 204, RW: 1, Z: 4, Ins: []ConcatIn{{C: 102, Off: 1 << 20, Z: 3, M: 0.7}, {C: 102, Off: 2 << 20, Z: 3, M: 1.3}}, At: []int{0, 102}}, avx512)
			}, "%s(&x[0], 0, %d)"},
			{"concat-requant-zmm-arith", func(fn string) error {
				return p.concat(fn, &Concat{C: 204, Off: 0, Rows: n / 204, RW: 1, Z: 4, Ins: []ConcatIn{{C: 102, Off: 1 << 20, Z: 3, M: 0.7}, {C: 102, Off: 2 << 20, Z: 3, M: 1.3}}, At: []int{0, 102}}, avx512, false)
			}, "%s(&x[0], 0, %d)"},
			{"concat-copy", func(fn string) error {
				return p.Concat(fn, &Concat{C: 204, Off: 0, Rows: n / 204, RW: 1, Z: 4, Ins: []ConcatIn{{C: 102, Off: 1 << 20}, {C: 102, Off: 2 << 20}}, At: []int{0, 102}}, avx2Design)
			}, "%s(&x[0], 0, %d)"},
		}
		for _, k := range kernels {
			if strings.Contains(k.name, "-zmm") && !runtime.AVX512.Supported() {
				continue
			}
			fn := fmt.Sprintf("%s_%d", strings.ReplaceAll(k.name, "-", "_"), n)
			if err := k.gen(fn); err != nil {
				b.Fatal(err)
			}
			units := flatUnits(n)
			if strings.HasSuffix(k.name, "-per-channel") || strings.HasPrefix(k.name, "mul-se") || strings.HasPrefix(k.name, "concat") {
				units = n / 204
			}
			fmt.Fprintf(&list, "\t{%q, %d, func() { "+k.call+" }},\n", k.name, n, fn, units)
		}
	}
	asm, stubs, err := p.Output()
	if err != nil {
		b.Fatal(err)
	}
	main := `package main

import (
	"fmt"
	"time"
)

var x = make([]byte, 3<<20+64)
var w = make([]byte, 3<<20+64)
var y = make([]byte, 3<<20+64)

var kernels = []struct {
	name string
	n    int
	f    func()
}{
` + list.String() + `}

func main() {
	for i := range x {
		x[i], w[i] = byte(i*7), byte(i*13)
	}
	for _, k := range kernels {
		best := 1e9
		for range 200 {
			t := time.Now()
			k.f()
			best = min(best, time.Since(t).Seconds())
		}
		fmt.Printf("%-18s %7d bytes %7.4f ns/B\n", k.name, k.n, best*1e9/float64(k.n))
	}
}
`
	dir := b.TempDir()
	for name, data := range map[string][]byte{"go.mod": []byte("module pass\n\ngo 1.26\n"), "k_amd64.s": asm, "k_amd64.go": stubs, "main.go": []byte(main)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	out := gentest.GoCmdEnv(b, dir, []string{"GOMAXPROCS=1"}, "run", ".")
	b.Logf("avx2 kernels, one core, best of 200:\n%s", out)
}
