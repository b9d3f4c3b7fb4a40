package asmgen

import (
	"testing"

	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/lower"
)

// TestCompileMatchesAvo: compile and printAsm give avo's pass.Compile's and
// printer's assembly byte for byte, on random models for every tier and the emulations (their code has
// other register pressure and loops).
func TestCompileMatchesAvo(t *testing.T) {
	targets := [][]Target{nil, {vnniEmulated}, {zmmEmulated}, {amxEmulated}}
	for seed := range uint64(4) {
		m := gentest.RandomModel(t, seed)
		lm, err := lower.Lower(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range targets {
			gen := func() *lower.Asm {
				t.Helper()
				a, err := Generate(lm, "net")
				if ts != nil {
					a, err = generate(lm, "net", ts)
				}
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			got := gen()
			compileFile = pass.Compile.Execute
			printFile = func(cfg printer.Config, f *ir.File) ([]byte, error) { return printer.NewGoAsm(cfg).Print(f) }
			want := gen()
			compileFile, printFile = compile, printAsm
			for name, b := range want.Files {
				if string(got.Files[name]) != string(b) {
					t.Errorf("model %d, targets %v: %s differs from avo's", seed, ts, name)
				}
			}
		}
	}
}
