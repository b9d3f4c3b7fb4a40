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
	const images = 3
	var pkgs []*Package
	var ms []*compiler.Model
	var inputs [][]float32
	var inLens, outs []int
	for i, m := range []*compiler.Model{gentest.InceptionModel(t, "fbgemm", true), gentest.InceptionModel(t, "fbgemm", false), gentest.PairModel(t)} {
		p, err := generate(m, Options{Package: []string{"shared", "own", "pair"}[i]})
		if err != nil {
			t.Fatal(err)
		}
		inLen := m.Tensors[m.Input].Elems()
		pkgs, ms = append(pkgs, p), append(ms, m)
		inputs = append(inputs, randomInputs(rand.New(rand.NewPCG(uint64(i), 6)), inLen, images, true))
		inLens, outs = append(inLens, inLen), append(outs, m.NumClasses())
	}
	matchInterpreter(t, pkgs, ms, inputs, runHarness(t, pkgs, inputs, inLens, outs), images)
}
