package codegen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/testenv"
)

// TestGeneratedMatchesInterpreter generates packages for many small random
// graphs and checks, bit for bit, that they compute what compiler.Run does.
// All packages build in one go run.
func TestGeneratedMatchesInterpreter(t *testing.T) {
	testenv.SkipShort(t, "builds generated packages with the go command")
	const models, images = 24, 4
	var pkgs []*Package
	var ms []*compiler.Model
	var inputs [][]float32
	var inLens, outs []int
	for i := range models {
		m := randomModel(t, uint64(i))
		p, err := generate(m, Options{Package: fmt.Sprintf("p%02d", i)})
		if err != nil {
			t.Fatalf("model %d: %v", i, err)
		}
		r := rand.New(rand.NewPCG(uint64(i), 99))
		inLen := m.Tensors[m.Input].Elems()
		pkgs, ms = append(pkgs, p), append(ms, m)
		inputs = append(inputs, randomInputs(r, inLen, images, true))
		inLens, outs = append(inLens, inLen), append(outs, m.Tensors[m.Nodes[len(m.Nodes)-1].In[0]].Elems())
	}
	got := runHarness(t, pkgs, inputs, inLens, outs)
	for i, m := range ms {
		want, err := compiler.Run(m, inputs[i], images, nil)
		if err != nil {
			t.Fatalf("model %d: interpreter: %v", i, err)
		}
		if len(got[i]) != len(want) {
			t.Errorf("model %d: %d outputs, want %d", i, len(got[i]), len(want))
			continue
		}
		bad := 0
		for j := range want {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[j]) {
				if bad < 3 {
					t.Errorf("model %d (%s, %d nodes): output %d = %v, interpreter %v", i, m.Meta.QConfig, len(m.Nodes), j, got[i][j], want[j])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("model %d: %d of %d outputs differ", i, bad, len(want))
		}
	}
}
