package asmgen

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/runtime"
)

// groupedBench is a 3x3 pad-1 stride-1 conv of the grouped-conv benchmark.
type groupedBench struct {
	name          string
	hw, c, co, gs int // plane, channels in and out, groups
	// expanded runs a narrow layer (lower.NarrowGroups) on the dense
	// kernel over ExpandGrouped's zeros, as all grouped convs once did.
	expanded bool
	// design on a zmm tier: "" GroupedKernel's, "blocks" one call per column
	// block on the 256-bit design (before Dense.BlockSpan), "all" the blocks
	// in one call on zmm, not paired (Dense.Paired).
	design string
}

func (c groupedBench) macs() int { return c.hw * c.hw * c.co * c.c / c.gs * 9 }

// The ResNeXt-50 32x4d 3x3 convs, dense 3x3 convs of the same multiply-adds
// (16 -> 32 at 56x56) and ResNet-50's 3x3 convs at the same planes.
var groupedBenches = []groupedBench{
	{"resnext_56x56_128_g32", 56, 128, 128, 32, false, ""},
	{"resnext_56x56_128_g32_expanded", 56, 128, 128, 32, true, ""},
	{"resnext_56x56_128_g32_blocks", 56, 128, 128, 32, false, "blocks"},
	{"resnext_28x28_256_g32", 28, 256, 256, 32, false, ""},
	{"resnext_28x28_256_g32_blocks", 28, 256, 256, 32, false, "blocks"},
	{"resnext_28x28_256_g32_all", 28, 256, 256, 32, false, "all"},
	{"resnext_14x14_512_g32", 14, 512, 512, 32, false, ""},
	{"resnext_14x14_512_g32_blocks", 14, 512, 512, 32, false, "blocks"},
	{"resnext_7x7_1024_g32", 7, 1024, 1024, 32, false, ""},
	{"dense_56x56_16to32", 56, 16, 32, 1, false, ""},
	{"dense_56x56_64", 56, 64, 64, 1, false, ""},
	{"dense_28x28_128", 28, 128, 128, 1, false, ""},
	{"dense_14x14_256", 14, 256, 256, 1, false, ""},
	{"dense_7x7_512", 7, 512, 512, 1, false, ""},
	// GoogLeNet's conv3 and inception3b.branch2.1.
	{"dense_56x56_64to192", 56, 64, 192, 1, false, ""},
	{"dense_28x28_128to192", 28, 128, 192, 1, false, ""},
}

// benchTarget is the tier the benchmark's kernels are generated for: avx512
// where the CPU has it (PTQC_ISA=avx2 keeps AVX2), else avx2.
func benchTarget() Target {
	if os.Getenv("PTQC_ISA") != "avx2" && runtime.AVX512.Supported() {
		return avx512
	}
	return avx2
}

var benchBuild struct {
	once sync.Once
	bin  string
	err  error
}

// BenchmarkGroupedConv times the kernels of ResNeXt's grouped 3x3 convs
// against dense 3x3 convs, one core, on benchTarget's tier (each layer in
// the design the tier gives it: GroupedKernel, Dense.tierDesign): on the
// u8s8 path (inputs known to be below 128: fbgemm), on the u8s8|i16 path
// with inputs below 128 (each row checked) and not (i16), which on the
// VNNI tiers all run VPDPBUSD; the first layer (4 channels per group: narrow)
// also on the dense kernel over ExpandGrouped's zeros it ran before
// (_expanded), and as the portable Go kernel over that packing (the generic
// tier's for grouped layers that are not narrow); in ns per multiply-add of
// the layer and G multiply-adds per second:
//
//	go test ./asmgen -run '^$' -bench GroupedConv [PTQC_ISA=avx2]
func BenchmarkGroupedConv(b *testing.B) {
	if !avx2.Supported() {
		b.Skip("CPU without AVX2")
	}
	benchBuild.once.Do(func() { benchBuild.bin, benchBuild.err = buildGroupedBench() })
	if benchBuild.err != nil {
		b.Fatal(benchBuild.err)
	}
	for i, c := range groupedBenches {
		for _, v := range []struct {
			path  string
			layer int
			high  bool
		}{{"u8s8", 2*i + 1, false}, {"mixed_low", 2 * i, false}, {"i16", 2 * i, true}} {
			b.Run(c.name+"_"+v.path, func(b *testing.B) { runBench(b, fmt.Sprint(v.layer), v.high, c.macs()) })
		}
	}
	c := groupedBenches[0]
	b.Run(c.name+"_go_packed", func(b *testing.B) { runBench(b, "go", true, c.macs()) })
}

// runBench runs layer which of the benchmark binary b.N times and reports
// the binary's own timing of the calls (CPU time).
func runBench(b *testing.B, which string, high bool, macs int) {
	cmd := exec.Command(benchBuild.bin, which, strconv.FormatBool(high), strconv.Itoa(b.N))
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("%q: %v", out, err)
	}
	b.ReportMetric(ns/float64(b.N), "ns/op")
	b.ReportMetric(ns/float64(b.N)/float64(macs), "ns/MAC")
	b.ReportMetric(float64(macs)*float64(b.N)/ns, "GMAC/s")
}

func buildGroupedBench() (string, error) {
	p := NewProgram("main")
	r := rand.New(rand.NewPCG(25, 25))
	var table strings.Builder
	for i, c := range groupedBenches {
		cv := &compiler.Conv{InC: c.c, OutC: c.co, Kernel: 3, Stride: 1, Pad: 1, Groups: c.gs}
		cv.Weight = make([]int8, c.co*c.c/c.gs*9)
		for j := range cv.Weight {
			cv.Weight[j] = int8(r.IntN(256) - 128)
		}
		rq := Requant{M: make([]float32, c.co), B: make([]float32, c.co), Lo: 0, Hi: 255}
		for j := range rq.M {
			rq.M[j] = 0.001
		}
		in := 4 * lower.Quads(c.c)
		// Inputs up to 255 (the u8s8|i16 path, decided per row) and up to
		// 127 (fbgemm's reduce_range: the u8s8 path, no run-time check).
		for _, xmax := range []int32{255, 127} {
			d := GroupedDense(cv, c.hw, c.hw, c.hw, c.hw, in, 3, xmax, rq)
			if c.expanded {
				d.Narrow = false
			}
			if c.gs == 1 {
				d = &Dense{Cin: c.c, Cout: c.co, K: 3, Stride: 1, Pad: 1, H: c.hw, W: c.hw, OH: c.hw, OW: c.hw,
					InStride: in, OutStride: c.co, ZIn: 3, XMax: xmax, Weight: cv.Weight, Requant: rq}
			}
			name := fmt.Sprintf("conv%d_%d", i, xmax)
			isa := benchTarget()
			gc := lower.GroupColsOf(c.c, c.co, c.gs)
			if c.gs > 1 {
				d, isa = GroupedKernel(d, gc, isa)
				switch {
				case !isa.ZMM:
				case c.design == "blocks":
					d.BlockSpan, d.Paired, isa = 0, false, avx512vnni
				case c.design == "all":
					d.BlockSpan, d.Paired, isa = gc.Span, false, benchTarget()
				}
			}
			if err := p.Dense(name, d, isa); err != nil {
				return "", err
			}
			fmt.Fprintf(&table, "\t{%d, %d, %d, %d, %d, %d, %d, %d, %d, %t, %s},\n",
				(c.hw+2)*(c.hw+2)*in+gc.Overread()+64, (c.co+15)/16*d.K*d.K*lower.Quads(d.Cin)*64+64, c.hw*c.hw*c.co+64,
				d.ScratchBytes(benchTarget())+64, d.Units(), gc.Blocks, gc.Span, gc.Units, d.Cols(), d.BlockSpan > 0, name)
		}
	}
	asm, stubs, err := p.Output()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "ptqc-groupedbench")
	if err != nil {
		return "", err
	}
	main := `package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"syscall"
)

type layer struct {
	xlen, wlen, ylen, scratch, units, blocks, span, gu, cols int
	all                                                      bool
	fn                                                       func(x, w, y, t *byte, s0, s1, n0, n1 int)
}

var layers = []layer{
` + table.String() + `}

// The first layer's shape for the Go kernels: 56x56, 128 channels, 32 groups
// of 4, 3x3 pad 1.
const (
	H, W, C, G, K, P = 56, 56, 128, 32, 3, 1
	ICG, OCG          = C / G, C / G
	GPB, SQ           = 4, 4 // lower.GroupCols: 4 groups per block, 16 channels (4 quads) per tap
	KQ                = K * K * SQ
)

func requant(acc int32, m, b float32) uint8 {
	v := math.RoundToEven(float64(float32(float32(acc)*m) + b))
	return uint8(min(max(v, 0), 255))
}

// PT is a tap's bytes in the patch: (blocks-1)*span + 4*SQ = C.
const PT = C

// gather copies output pixel (oy, ox)'s K x K input patch, z_x = 3 in the
// padding taps.
func gather(patch *[K * K * PT]byte, x []byte, oy, ox int) {
	for ky := range K {
		iy := oy - P + ky
		for kx := range K {
			ix := ox - P + kx
			ps := patch[(ky*K+kx)*PT:][:C]
			if iy < 0 || iy >= H || ix < 0 || ix >= W {
				for i := range ps {
					ps[i] = 3
				}
				continue
			}
			copy(ps, x[(iy*W+ix)*C:][:C])
		}
	}
}

// goPacked is the portable kernel: gather the patch, then per output channel
// the weights of lower.ExpandGrouped's packing, ICG/4 quads of 4
// multiply-adds per tap. (The OHWI kernel grouped convs ran before, on every
// tier, measured 1.06 ns per multiply-add here against this one's 1.29.)
func goPacked(y, x []byte, w []int8, b []int32, m []float32) {
	x, y, b = x[:H*W*C], y[:H*W*C], b[:C]
	var patch [K * K * PT]byte
	for oy := range H {
		for ox := range W {
			gather(&patch, x, oy, ox)
			ys := y[(oy*W+ox)*C:][:C]
			for o := range C {
				g := o / OCG
				at := g % GPB * ICG
				pb := g / GPB * GPB * ICG
				ws := w[o/16*KQ*64+o%16*4:]
				a := b[o]
				for t := range K * K {
					ps := patch[t*PT+pb+at/4*4:][:ICG]
					wt := ws[t*SQ*64+at/4*64:][:(ICG/4-1)*64+4]
					for q := range ICG / 4 {
						p4 := ps[q*4:][:4]
						w4 := wt[q*64:][:4]
						a += int32(p4[0])*int32(w4[0]) + int32(p4[1])*int32(w4[1]) + int32(p4[2])*int32(w4[2]) + int32(p4[3])*int32(w4[3])
					}
				}
				ys[o] = requant(a, m[o], 0)
			}
		}
	}
}

func main() {
	high, _ := strconv.ParseBool(os.Args[2])
	n, _ := strconv.Atoi(os.Args[3])
	fill := func(x []byte) {
		for i := range x {
			x[i] = byte(i * 7 % 128)
			if high {
				x[i] |= 128
			}
		}
	}
	var run func()
	switch os.Args[1] {
	case "go":
		x, y := make([]byte, H*W*C), make([]byte, H*W*C)
		fill(x)
		w := make([]int8, C*KQ*64)
		for i := range w {
			w[i] = int8(i * 13)
		}
		b, m := make([]int32, C), make([]float32, C)
		for i := range m {
			m[i] = 0.001
		}
		run = func() { goPacked(y, x, w, b, m) }
	default:
		i, _ := strconv.Atoi(os.Args[1])
		l := layers[i]
		x, w, y, t := make([]byte, l.xlen), make([]byte, l.wlen), make([]byte, l.ylen), make([]byte, l.scratch)
		fill(x)
		for i := range w {
			w[i] = byte(i * 13)
		}
		run = func() {
			if l.all {
				l.fn(&x[0], &w[0], &y[0], &t[0], 0, l.units, 0, l.cols)
				return
			}
			for b := range l.blocks {
				l.fn(&x[b*l.span], &w[0], &y[0], &t[0], 0, l.units, b*l.gu, min((b+1)*l.gu, l.cols))
			}
		}
	}
	run()
	start := cpu()
	for range n {
		run()
	}
	fmt.Println(cpu() - start)
}

// cpu is the process's CPU time in ns: on a shared machine steadier than the
// wall clock (GOMAXPROCS=1: the calls' own).
func cpu() int64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		panic(err)
	}
	return u.Utime.Nano() + u.Stime.Nano()
}
`
	for name, b := range map[string][]byte{"go.mod": []byte("module groupedbench\n\ngo 1.26\n"), "k_amd64.s": asm, "k_amd64.go": stubs, "main.go": []byte(main)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", err
		}
	}
	bin := filepath.Join(dir, "bench")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, out)
	}
	return bin, nil
}
