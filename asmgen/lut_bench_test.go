package asmgen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/ir"
)

// BenchmarkEpilogueTable times EfficientNet-B0-224 convs followed by a SiLU
// on avx2, one core: the conv alone, the conv with the table in its
// epilogue, and the conv then the separate Table kernel, in microseconds
// per call (best of 200):
//
//	go test ./asmgen -run '^$' -bench EpilogueTable -v
func BenchmarkEpilogueTable(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement")
	}
	silu := unaryTable(ir.OpSiLU)
	rq := func(n int, t []uint8) Requant {
		q := Requant{M: make([]float32, n), B: make([]float32, n), Z: 100, Lo: 0, Hi: 255, Table: t}
		for i := range q.M {
			q.M[i], q.B[i] = 1.0/4096, float32(i%7)
		}
		return q
	}
	type conv struct {
		name  string
		bytes int
		gen   func(fn string, t []uint8) error
		call  string
	}
	p := NewProgram("main")
	pw := func(h, cin, cout int) conv {
		return conv{fmt.Sprintf("pointwise_%dx%d_%dto%d", h, h, cin, cout), h * h * cout, func(fn string, t []uint8) error {
			d := &Dense{Cin: cin, Cout: cout, K: 1, Stride: 1, H: h, W: h, OH: h, OW: h, InStride: cin, OutStride: cout,
				XMax: 255, ZIn: 3, Weight: make([]int8, cin*cout), Requant: rq(cout, t)}
			for i := range d.Weight {
				d.Weight[i] = int8(i*37%255 - 127)
			}
			return p.Dense(fn, d, avx2)
		}, fmt.Sprintf("%%s(&x[0], &w[0], &y[0], &s[0], 0, %d, 0, %d)", (&Dense{H: h, W: h, Cout: cout, K: 1, Stride: 1, OH: h, OW: h, Cin: cin}).Units(), (cout+15)/16)}
	}
	dw := func(h, c, s int) conv {
		o := (h+2-3)/s + 1
		return conv{fmt.Sprintf("depthwise_%dx%d_%d_s%d", h, h, c, s), o * o * c, func(fn string, t []uint8) error {
			d := &Depthwise{C: c, K: 3, Stride: s, Pad: 1, H: h, W: h, OH: o, OW: o, XMax: 255, ZIn: 3, Weight: make([]int8, 9*c), Requant: rq(c, t)}
			for i := range d.Weight {
				d.Weight[i] = int8(i*37%255 - 127)
			}
			return p.Depthwise(fn, d, avx2)
		}, fmt.Sprintf("%%s(&x[0], &w[0], &y[0], 0, %d)", o)}
	}
	convs := []conv{pw(112, 16, 96), pw(56, 24, 144), pw(14, 80, 480), pw(7, 320, 1280), dw(112, 96, 2), dw(56, 144, 1), dw(14, 480, 1)}
	var list strings.Builder
	for i, c := range convs {
		plain, fused, tab := fmt.Sprintf("plain%d", i), fmt.Sprintf("fused%d", i), fmt.Sprintf("table%d", i)
		if err := c.gen(plain, nil); err != nil {
			b.Fatal(err)
		}
		if err := c.gen(fused, silu); err != nil {
			b.Fatal(err)
		}
		if err := p.Table(tab, &Table{N: c.bytes, C: 1, T: silu}); err != nil {
			b.Fatal(err)
		}
		callTab := fmt.Sprintf("%s(&y[0], &t[0], &z[0], 0, %d)", tab, flatUnits(c.bytes))
		fmt.Fprintf(&list, "\t{%q, func() { "+c.call+" }, func() { "+c.call+" }, func() { "+c.call+"; %s }},\n",
			c.name, plain, fused, plain, callTab)
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

var x, w, y, z, s = make([]byte, 4<<20), make([]byte, 4<<20), make([]byte, 4<<20), make([]byte, 4<<20), make([]byte, 1<<20)
var t = make([]byte, 256)

var convs = []struct {
	name               string
	plain, fused, both func()
}{
` + list.String() + `}

func best(f func()) float64 {
	b := 1e9
	for range 200 {
		t := time.Now()
		f()
		b = min(b, time.Since(t).Seconds())
	}
	return b * 1e6
}

func main() {
	for i := range x {
		x[i], w[i] = byte(i*7), byte(i*13)
	}
	fmt.Printf("%-28s %10s %10s %14s\n", "us per call", "conv", "fused", "conv+table")
	for _, c := range convs {
		fmt.Printf("%-28s %10.1f %10.1f %14.1f\n", c.name, best(c.plain), best(c.fused), best(c.both))
	}
}
`
	dir := b.TempDir()
	for name, data := range map[string][]byte{"go.mod": []byte("module epi\n\ngo 1.26\n"), "k_amd64.s": asm, "k_amd64.go": stubs, "main.go": []byte(main)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	out := gentest.GoCmdEnv(b, dir, []string{"GOMAXPROCS=1"}, "run", ".")
	b.Logf("avx2 kernels, one core, best of 200:\n%s", out)
}
