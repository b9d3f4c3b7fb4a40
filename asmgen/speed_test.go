package asmgen

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/runtime"
)

var speedFlag = flag.Bool("speed", false, "TestPointwiseSpeed: time MobileNetV2-224 pointwise kernels")

// TestPointwiseSpeed times the dense kernels of MobileNetV2-224's pointwise
// layers and of ResNet-50's 3x3 convs (implicit GEMM) and layer4 on every tier the CPU runs, on inputs below 128 (the avx2 tier's
// u8s8 path) and not (i16), and prints multiply-adds per cycle, the clock
// measured by a chain of dependent adds, and the time when the weights come
// from L3 (the L2 evicted before each call, as in a network):
//
//	go test ./asmgen -run PointwiseSpeed -speed -v
func TestPointwiseSpeed(t *testing.T) {
	if !*speedFlag {
		t.Skip("run with -speed")
	}
	layers := []speedLayer{{56, 56, 24, 144, 1, 1, false}, {14, 14, 96, 576, 1, 1, false}, {7, 7, 320, 1280, 1, 1, false}, {112, 112, 16, 96, 1, 1, false},
		{14, 14, 576, 96, 1, 1, false}, {112, 112, 32, 16, 1, 1, false}, {56, 56, 96, 24, 1, 1, false}, {28, 28, 144, 32, 1, 1, false},
		{28, 28, 32, 192, 1, 1, false}, {1, 1, 1280, 1000, 1, 1, false}, {7, 7, 512, 512, 3, 1, false}, {7, 7, 2048, 512, 1, 1, false}, {14, 14, 1024, 256, 1, 1, false},
		{56, 56, 64, 64, 3, 1, false}, {14, 14, 256, 256, 3, 1, false}, {14, 14, 512, 512, 3, 2, false}}
	out, _ := denseSpeed(t, append(layers, stemLayers()...))
	t.Logf("u8 x s8 pointwise kernels, one core (peak of the u8s8 path about 31 MAC/cycle on Zen 3: two multiply pipes, VPMADDUBSW + VPMADDWD per 32):\n%s", out)
}

// BenchmarkStem times the stems' dense kernels alone (one core, the input in
// cache) per tap as before and as im2col GEMMs (lower.Im2colConv), inputs
// below 128 (u8s8) and not (i16, an image's codes), in G multiply-adds/s:
//
//	go test ./asmgen -run '^$' -bench Stem -benchtime 1x -v
func BenchmarkStem(b *testing.B) {
	out, gmacs := denseSpeed(b, stemLayers())
	for _, m := range gmacs {
		b.ReportMetric(m.v, "GMAC/s:"+m.name)
	}
	b.Logf("\n%s", out)
}

// speedLayer is a dense layer of denseSpeed; k x k convs have padding k/2.
type speedLayer struct {
	h, w, cin, cout, k, s int
	im2col                bool
}

// stemLayers are the stems of ShuffleNetV2 (24 channels), MobileNetV2 (32),
// GoogLeNet and ResNet-50 (7x7, 64) and 1- and 4-channel ones, per tap and
// as im2col GEMMs.
func stemLayers() []speedLayer {
	var ls []speedLayer
	for _, im := range []bool{false, true} {
		ls = append(ls, speedLayer{224, 224, 3, 24, 3, 2, im}, speedLayer{224, 224, 3, 32, 3, 2, im}, speedLayer{224, 224, 3, 64, 7, 2, im},
			speedLayer{224, 224, 1, 32, 3, 2, im}, speedLayer{224, 224, 4, 32, 3, 2, im})
	}
	return ls
}

type metric struct {
	name string
	v    float64
}

// denseSpeed builds and runs a program timing the dense kernels of layers
// on every tier the CPU runs; it returns the table and G multiply-adds/s per
// layer and path.
func denseSpeed(tb testing.TB, layers []speedLayer) (string, []metric) {
	tb.Helper()
	needISA(tb, avx2)
	p := NewProgram("main")
	r := rand.New(rand.NewPCG(6, 6))
	var table strings.Builder
	isas := []Target{avx2}
	if runtime.AVX512.Supported() {
		isas = append(isas, avx512vnni, avx512)
	}
	for _, isa := range isas {
		for i, l := range layers {
			pad := l.k / 2
			o := (l.h+2*pad-l.k)/l.s + 1
			d := &Dense{Cin: l.cin, Cout: l.cout, K: l.k, Stride: l.s, Pad: pad, H: l.h, W: l.w, OH: o, OW: o,
				InStride: l.cin, OutStride: l.cout, ZIn: 3, XMax: 255, Requant: Requant{Z: 0, Lo: 0, Hi: 255}, Im2col: l.im2col}
			xlen := l.h * l.w * l.cin
			if !d.Pointwise() {
				d.InStride = 4 * lower.Quads(l.cin)
				xlen = (l.h + 2*pad) * (l.w + 2*pad) * d.InStride
			}
			d.Weight = make([]int8, l.cin*l.cout*l.k*l.k)
			for j := range d.Weight {
				d.Weight[j] = int8(r.IntN(256) - 128)
			}
			d.B = make([]float32, l.cout)
			d.M = make([]float32, l.cout)
			for j := range d.M {
				d.M[j] = 0.001
			}
			name := fmt.Sprintf("pw%d_%s", i, isa.tier())
			if l.im2col {
				name += "_im2col"
			}
			if err := p.Dense(name, d, isa); err != nil {
				tb.Fatal(err)
			}
			how := ""
			if l.im2col {
				how = "im2col"
			}
			fmt.Fprintf(&table, "\t{%q, %q, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %s},\n", isa.tier(), how, l.h, l.w, l.cin, l.cout, l.k, l.s,
				xlen, len(d.Weight), (l.cout+15)/16*16*max(l.k*l.k*lower.Quads(l.cin), lower.Quads(l.k*l.k*l.cin))*4, o*o*l.cout, d.Units(), d.Cols(), d.ScratchBytes(isa), name)
		}
	}
	// spin(n): n x 12 dependent adds, 12 cycles per iteration at any clock.
	c := p.ctx
	c.Function("spin")
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(n int)")
	c.Load(c.Param("n"), reg.RCX)
	c.Label("spin_loop")
	for range 12 {
		c.ADDQ(operand.Imm(1), reg.RAX)
	}
	c.DECQ(reg.RCX)
	c.JNZ(operand.LabelRef("spin_loop"))
	c.RET()
	asm, stubs, err := p.Output()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	main := `package main

import (
	"fmt"
	"time"
)

type layer struct {
	tier, how                                              string
	h, w, cin, cout, k, s, xlen, wlen, packed, ylen, units, cols, scratch int
	fn                                                     func(x, w, y, t *byte, s0, s1, n0, n1 int)
}

var layers = []layer{
` + table.String() + `}

func best(reps int, f func()) float64 {
	b := 1e9
	for range reps {
		t := time.Now()
		f()
		b = min(b, time.Since(t).Seconds())
	}
	return b
}

// evict touches a buffer of twice the L2 (Zen 4: 1 MB, Sapphire Rapids: 2
// MB), so that a layer's weights come from L3, as they do in a network.
var sink byte

func evict() {
	for i := 0; i < len(flush); i += 64 {
		flush[i]++
	}
	sink += flush[len(flush)/2]
}

var flush = make([]byte, 4<<20)

func cold(reps int, f func()) float64 {
	b := 1e9
	for range reps {
		evict()
		t := time.Now()
		f()
		b = min(b, time.Since(t).Seconds())
	}
	return b
}

func main() {
	ghz := 12 * 200000 / best(100, func() { spin(200000) }) / 1e9
	fmt.Printf("clock %.2f GHz (dependent adds)\n", ghz)
	for _, l := range layers {
		for _, high := range []bool{false, true} {
			x := make([]byte, l.xlen+64)
			for i := range x {
				x[i] = byte(i * 7 % 128)
				if high {
					x[i] |= 128
				}
			}
			// Weights written, not fresh zeroed pages: those all map the
			// kernel's zero page, which stays in L1 whatever their size.
			w := make([]byte, l.packed+64)
			for i := range w {
				w[i] = byte(i*13 + i>>9)
			}
			y := make([]byte, l.ylen+64)
			t := make([]byte, l.scratch+64)
			s := best(200, func() { l.fn(&x[0], &w[0], &y[0], &t[0], 0, l.units, 0, l.cols) })
			sc := cold(50, func() { l.fn(&x[0], &w[0], &y[0], &t[0], 0, l.units, 0, l.cols) })
			path := "u8s8"
			if high {
				path = "i16"
			}
			if l.tier != "avx2" {
				if high {
					continue
				}
				path = "vnni"
			}
			macs := float64(l.ylen * l.wlen / l.cout)
			fmt.Printf("metric %s_%s_%dx%dx%d_%d_%s %.2f\n", l.tier, map[string]string{"": "taps"}[l.how]+l.how, l.k, l.k, l.cin, l.cout, path, macs/s/1e9)
			fmt.Printf("%-10s %-6s %3dx%-3d x %4d -> %4d %dx%d/%d %-4s %8.1f us %6.1f GMAC/s %5.1f MAC/cycle, weights from L3 %8.1f us\n", l.tier, l.how, l.h, l.w, l.cin, l.cout, l.k, l.k, l.s, path, s*1e6, macs/s/1e9, macs/s/1e9/ghz, sc*1e6)
		}
	}
}
`
	for name, b := range map[string][]byte{"go.mod": []byte("module speed\n\ngo 1.26\n"), "k_amd64.s": asm, "k_amd64.go": stubs, "main.go": []byte(main)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOMAXPROCS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("%v\n%s", err, out)
	}
	var res strings.Builder
	var ms []metric
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var name string
		var v float64
		if _, err := fmt.Sscanf(line, "metric %s %g", &name, &v); err == nil {
			ms = append(ms, metric{name, v})
			continue
		}
		res.WriteString(line + "\n")
	}
	return res.String(), ms
}
