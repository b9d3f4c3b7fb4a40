package codegen

import (
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
)

// TestZooMatchesInterpreter runs every op kind of the imported families
// (internal/gentest's zoo: tables, SE mul, concat, slice, shuffle, average
// and ceil-mode pools, convs of any window and group count) through a
// generated package on the portable kernels, bit for bit against
// compiler.Run, under two qconfigs (the harness also checks 0 allocations
// per Forward). asmgen's TestGeneratedZoo runs the assembly tiers.
func TestZooMatchesInterpreter(t *testing.T) {
	testenv.SkipShort(t, "builds generated packages with the go command")
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
	matchInterpreter(t, pkgs, ms, inputs, runHarness(t, pkgs, inputs, inLens, outs), images)
}
