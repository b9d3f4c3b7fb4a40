package codegen

import (
	"fmt"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
)

// TestShuffleMatchesInterpreter runs graphs whose channel shuffles lower
// folds into weights, concat runs and slice ranges (or keeps as gathers)
// through generated packages on the portable kernels, bit for bit against
// compiler.Run (the harness also checks 0 allocations per Forward).
func TestShuffleMatchesInterpreter(t *testing.T) {
	testenv.SkipShort(t, "builds generated packages with the go command")
	var ms []*compiler.Model
	var names []string
	for _, seed := range []uint64{0, 1, 2, 3, 4, 5, 8} {
		ms, names = append(ms, gentest.ShuffleModel(t, seed, "fbgemm")), append(names, fmt.Sprint("shuffle", seed))
	}
	ms, names = append(ms, gentest.ShuffleNetV2(t, 32, "qnnpack")), append(names, "shufflenet")
	matchRandomInputs(t, ms, names, 7, 3)
}
