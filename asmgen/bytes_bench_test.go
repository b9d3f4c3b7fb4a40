package asmgen

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
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
	res := map[string][][]float64{} // tier -> package -> layer ns
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
