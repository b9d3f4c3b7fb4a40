package codegen

import (
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
// per Forward), its LogSoftmax or a Softmax on the outputs. asmgen's
// TestGeneratedZoo runs the assembly tiers.
func TestZooMatchesInterpreter(t *testing.T) {
	testenv.SkipShort(t, "builds generated packages with the go command")
	var ms []*compiler.Model
	var names []string
	for _, qc := range []string{"fbgemm", "qnnpack", "default"} {
		ms, names = append(ms, gentest.ZooModel(t, qc)), append(names, "zoo"+qc)
	}
	// The zoo ends in a LogSoftmax; this one in a Softmax.
	soft := gentest.ZooModel(t, "fbgemm")
	soft.Nodes[len(soft.Nodes)-1].Softmax = "softmax"
	ms, names = append(ms, soft), append(names, "zoosoftmax")
	matchRandomInputs(t, ms, names, 5, 5)
}
