package codegen

import (
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
)

// TestInceptionMatchesInterpreter runs an inception block whose concat has
// inputs written in place by their convs (shared qparams) and requantized
// ones, on the portable kernels, bit for bit against compiler.Run.
func TestInceptionMatchesInterpreter(t *testing.T) {
	testenv.SkipShort(t, "builds generated packages with the go command")
	ms := []*compiler.Model{gentest.InceptionModel(t, "fbgemm", true), gentest.InceptionModel(t, "fbgemm", false), gentest.PairModel(t)}
	matchRandomInputs(t, ms, []string{"shared", "own", "pair"}, 6, 3)
}

// matchRandomInputs generates package names[i] of each of ms and checks it
// against the interpreter bit for bit (matchInterpreter) on images random
// inputs drawn from PCG(i, seed).
func matchRandomInputs(t *testing.T, ms []*compiler.Model, names []string, seed uint64, images int) {
	t.Helper()
	var pkgs []*Package
	var inputs [][]float32
	var inLens, outs []int
	for i, m := range ms {
		p, err := generate(m, Options{Package: names[i]})
		if err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
		inLen := m.Tensors[m.Input].Elems()
		pkgs = append(pkgs, p)
		inputs = append(inputs, randomInputs(rand.New(rand.NewPCG(uint64(i), seed)), inLen, images, true))
		inLens, outs = append(inLens, inLen), append(outs, m.NumClasses())
	}
	matchInterpreter(t, pkgs, ms, inputs, runHarness(t, pkgs, inputs, inLens, outs), images)
}
