package asmgen

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
	"github.com/mmcloughlin/avo/reg"
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
			alignTables = false
			got := gen()
			alignTables = true
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

// TestCompileVirtualRegisters: a function with virtual registers still gets
// avo's allocation (and its binding), one without them the empty one.
func TestCompileVirtualRegisters(t *testing.T) {
	file := func() *ir.File {
		c := build.NewContext()
		c.Package("net")
		c.Function("addone")
		c.SignatureExpr("func(x uint64) uint64")
		x := c.Load(c.Param("x"), c.GP64())
		y := c.GP64()
		c.MOVQ(x, y)
		c.ADDQ(operand.Imm(1), y)
		c.Store(y, c.ReturnIndex(0))
		c.RET()
		c.Function("two")
		c.SignatureExpr("func() uint64")
		c.MOVQ(operand.U32(2), reg.RAX)
		c.Store(reg.RAX, c.ReturnIndex(0))
		c.RET()
		f, err := c.Result()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	cfg := printer.Config{Name: "ptqc", Pkg: "net"}
	got, want := file(), file()
	if !hasVirtual(got.Functions()[0]) || hasVirtual(got.Functions()[1]) {
		t.Fatal("hasVirtual: want true for addone, false for two")
	}
	if err := compile(got); err != nil {
		t.Fatal(err)
	}
	if err := pass.Compile.Execute(want); err != nil {
		t.Fatal(err)
	}
	g, err := printAsm(cfg, got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := printer.NewGoAsm(cfg).Print(want)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(w), string(g)); diff != "" {
		t.Errorf("compile differs from avo's pass.Compile (-avo +compile):\n%s", diff)
	}
}
