package codegen

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
)

// TestZooMatchesInterpreter runs every op kind of the imported families
// (internal/gentest's zoo: tables, SE mul, concat, slice, shuffle, average
// and ceil-mode pools, convs of any window and group count) through a
// generated package on the portable kernels, bit for bit against
// compiler.Run, under two qconfigs (the harness also checks 0 allocations
// per Forward). asmgen's TestGeneratedZoo runs the assembly tiers.
func TestZooMatchesInterpreter(t *testing.T) {
	if testing.Short() {
		t.Skip("builds generated packages with the go command")
	}
	const images = 5
	var pkgs []*Package
	var ms []*compiler.Model
	var inputs [][]float32
	var inLens, outs []int
	for i, qc := range []string{"fbgemm", "qnnpack", "default"} {
		m := gentest.ZooModel(t, qc)
		p, err := generate(m, Options{Package: "zoo" + qc})
		if err != nil {
			t.Fatalf("%s: %v", qc, err)
		}
		inLen := m.Tensors[m.Input].Elems()
		pkgs, ms = append(pkgs, p), append(ms, m)
		inputs = append(inputs, randomInputs(rand.New(rand.NewPCG(uint64(i), 5)), inLen, images, true))
		inLens, outs = append(inLens, inLen), append(outs, m.NumClasses())
	}
	got := runHarness(t, pkgs, inputs, inLens, outs)
	for i, m := range ms {
		want, err := compiler.Run(m, inputs[i], images, nil)
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for j := range want {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[j]) {
				if bad < 3 {
					t.Errorf("%s: output %d = %v, interpreter %v", pkgs[i].Name, j, got[i][j], want[j])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d outputs differ", pkgs[i].Name, bad, len(want))
		}
	}
}
