package codegen

import (
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/lower"
)

// The random models and the harness live in internal/gentest, shared with
// asmgen's tests of the assembly tiers.

var (
	randomModel  = gentest.RandomModel
	randomInputs = gentest.RandomInputs
)

// runHarness runs pkgs on their inputs (gentest.RunHarness) once, as the
// environment is, and returns each package's outputs.
func runHarness(t testing.TB, pkgs []*Package, inputs [][]float32, inLens, outs []int) [][]float32 {
	t.Helper()
	return gentest.RunHarness(t, asPkgs(pkgs), inputs, inLens, outs)[0]
}

func asPkgs(pkgs []*Package) []gentest.Pkg {
	ps := make([]gentest.Pkg, len(pkgs))
	for i, p := range pkgs {
		ps[i] = gentest.Pkg{Name: p.Name, Files: p.Files}
	}
	return ps
}

// generate lowers m and writes its package (the driver's steps without the
// assembly).
func generate(m *compiler.Model, opts Options) (*Package, error) {
	lm, err := lower.Lower(m)
	if err != nil {
		return nil, err
	}
	return Generate(lm, opts)
}
