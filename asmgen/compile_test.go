package asmgen

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/compiler"
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
			// The whole file compiled and printed by avo, against the
			// kernels compiled and printed one by one as they come.
			streamKernels = false
			compileFile = pass.Compile.Execute
			printFile = func(cfg printer.Config, f *ir.File) ([]byte, error) { return printer.NewGoAsm(cfg).Print(f) }
			want := gen()
			compileFile, printFile, streamKernels = compile, printAsm, true
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
	if diff := printedDiff(t, cfg, got, want); diff != "" {
		t.Errorf("compile differs from avo's pass.Compile (-avo +compile):\n%s", diff)
	}
}

// printedDiff is the diff of want's assembly (avo's printer) against got's
// (printAsm).
func printedDiff(t *testing.T, cfg printer.Config, got, want *ir.File) string {
	t.Helper()
	g, err := printAsm(cfg, got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := printer.NewGoAsm(cfg).Print(want)
	if err != nil {
		t.Fatal(err)
	}
	return cmp.Diff(string(w), string(g))
}

// TestCompilePhysicalMatchesAvo: compilePhysical leaves what avo's passes
// leave, or fails where they fail, on the cases its two walks reorder:
// jumps to the next label, labels no branch names, self-moves one after the
// other (PruneSelfMoves skips the node after one it removes), a removed
// self-move of BP (EnsureBasePointerCalleeSaved saw it), the label checks.
func TestCompilePhysicalMatchesAvo(t *testing.T) {
	type op func(c *build.Context)
	jmp := func(l string) op { return func(c *build.Context) { c.JMP(operand.LabelRef(l)) } }
	jnz := func(l string) op { return func(c *build.Context) { c.JNZ(operand.LabelRef(l)) } }
	label := func(l string) op { return func(c *build.Context) { c.Label(l) } }
	self := func(r reg.GPPhysical) op { return func(c *build.Context) { c.MOVQ(r, r) } }
	selfL := func(c *build.Context) { c.MOVL(reg.ECX, reg.ECX) }
	dec := func(c *build.Context) { c.DECQ(reg.RCX) }
	vec := func(c *build.Context) { c.VPADDD(reg.Z1, reg.Z2, reg.Z3) }
	ret := func(c *build.Context) { c.RET() }
	cases := []struct {
		name string
		body []op
		err  bool
	}{
		{"jump to next label", []op{dec, jmp("a"), label("a"), dec, jnz("a"), ret}, false},
		{"jump to next label, label kept", []op{jmp("a"), label("a"), label("b"), dec, jnz("b"), ret}, false},
		{"conditional jump to next label", []op{dec, jnz("a"), label("a"), dec, ret}, false},
		{"dangling labels", []op{label("x"), dec, label("y"), vec, label("z"), dec, jnz("y"), ret}, false},
		{"self-moves in a row", []op{self(reg.RAX), self(reg.RBX), self(reg.RCX), dec, self(reg.RDX), ret}, false},
		{"self-moves across a dropped label", []op{self(reg.RAX), label("gone"), self(reg.RBX), vec, ret}, false},
		{"self-move across a kept label", []op{label("top"), self(reg.RAX), label("l"), self(reg.RBX), dec, jnz("l"), jnz("top"), ret}, false},
		{"32-bit self-move", []op{selfL, selfL, ret}, false},
		{"removed self-move of BP", []op{self(reg.RBP), dec, ret}, false},
		{"BP written", []op{func(c *build.Context) { c.MOVQ(reg.RAX, reg.RBP) }, ret}, false},
		{"ISA", []op{vec, func(c *build.Context) { c.VPERMI2B(reg.Z1, reg.Z2, reg.Z3) }, dec, ret}, false},
		{"unknown label", []op{dec, jnz("nowhere"), ret}, true},
		{"unknown labels, the first reported", []op{label("a"), dec, jnz("b"), jnz("a"), jnz("c"), ret}, true},
		{"duplicate label", []op{label("a"), dec, label("a"), dec, jnz("a"), ret}, true},
		{"ends with label", []op{dec, jnz("end"), ret, label("end")}, true},
	}
	for _, tc := range cases {
		file := func() *ir.File {
			c := build.NewContext()
			c.Function("f")
			c.Signature(gotypes.NewSignatureVoid())
			for _, o := range tc.body {
				o(c)
			}
			f, err := c.Result()
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		got, want := file(), file()
		gerr := compile(got)
		werr := pass.Compile.Execute(want)
		if (gerr != nil) != tc.err || (werr != nil) != tc.err {
			t.Errorf("%s: compile %v, avo %v; want an error: %v", tc.name, gerr, werr, tc.err)
			continue
		}
		if tc.err {
			if gerr.Error() != werr.Error() {
				t.Errorf("%s: compile %q, avo %q", tc.name, gerr, werr)
			}
			continue
		}
		if diff := printedDiff(t, printer.Config{Name: "ptqc", Pkg: "net"}, got, want); diff != "" {
			t.Errorf("%s: compile differs from avo's pass.Compile (-avo +compile):\n%s", tc.name, diff)
		}
		gf, wf := got.Functions()[0], want.Functions()[0]
		if diff := cmp.Diff(wf.ISA, gf.ISA); diff != "" {
			t.Errorf("%s: ISA (-avo +compile):\n%s", tc.name, diff)
		}
		if gf.LocalSize != wf.LocalSize {
			t.Errorf("%s: frame %d, avo %d", tc.name, gf.LocalSize, wf.LocalSize)
		}
	}
}

// TestFlushMatchesOutput: a program flushed section by section gives the
// file and stubs Output gives without flushes, whether the header it
// predicts at the first flush (textflag.h, as for every kernel) holds or
// not (functions without flags), with jumps and data to compile and print.
func TestFlushMatchesOutput(t *testing.T) {
	for _, nosplit := range []bool{true, false} {
		gen := func(flush bool) (asm, stubs []byte) {
			t.Helper()
			p := NewProgram("net")
			for k := range 3 {
				if nosplit {
					if err := p.function(fmt.Sprintf("f%d", k), "func(x *uint64)", "f doubles *x."); err != nil {
						t.Fatal(err)
					}
				} else {
					p.ctx.Function(fmt.Sprintf("f%d", k))
					p.ctx.SignatureExpr("func(x *uint64)")
				}
				p.ctx.MOVQ(operand.NewParamAddr("x", 0), reg.RAX)
				p.ctx.JMP(operand.LabelRef("next"))
				p.ctx.Label("next")
				p.ctx.MOVQ(reg.RBX, reg.RBX)
				p.ctx.SHLQ(operand.U8(1), operand.Mem{Base: reg.RAX})
				if nosplit {
					p.ctx.ADDQ(p.data(fmt.Sprintf("t%d", k), []uint32{uint32(k), 1}), reg.RBX)
				}
				p.ctx.RET()
				if flush {
					if err := p.flush(); err != nil {
						t.Fatal(err)
					}
				}
			}
			asm, stubs, err := p.Output()
			if err != nil {
				t.Fatal(err)
			}
			return asm, stubs
		}
		asm, stubs := gen(false)
		fasm, fstubs := gen(true)
		if d := cmp.Diff(string(asm), string(fasm)); d != "" {
			t.Errorf("nosplit %v: flushed assembly differs (-whole +flushed):\n%s", nosplit, d)
		}
		if d := cmp.Diff(string(stubs), string(fstubs)); d != "" {
			t.Errorf("nosplit %v: flushed stubs differ (-whole +flushed):\n%s", nosplit, d)
		}
	}
}

// TestWriteKernelsStreamed: kernels written as they are absorbed give the
// file written whole, with more jobs than may run ahead of the absorbed
// one; a failing job's error names its layer and stops the rest (no job
// left waiting for room).
func TestWriteKernelsStreamed(t *testing.T) {
	const n = 40
	m := &lower.Model{}
	for i := range n {
		m.Layers = append(m.Layers, &lower.Layer{ID: fmt.Sprintf("l%02d", i), Node: &compiler.Node{Name: fmt.Sprintf("layer%d", i)}})
	}
	var fail atomic.Int64
	fail.Store(-1)
	var jobs []kernelJob
	for i := range n {
		fn := m.Layers[i].ID + "_k"
		mk := func(p *Program) error {
			if int64(i) == fail.Load() {
				return errors.New("generator failed")
			}
			if err := p.function(fn, "func(x *uint64)", fn+" shifts *x."); err != nil {
				return err
			}
			p.ctx.MOVQ(operand.NewParamAddr("x", 0), reg.RAX)
			p.ctx.JMP(operand.LabelRef("next"))
			p.ctx.Label("next")
			p.ctx.SHLQ(operand.U8(uint8(i%4+1)), operand.Mem{Base: reg.RAX})
			p.ctx.ADDQ(p.data(fmt.Sprintf("t%s", fn), []uint32{uint32(i % 3), 1}), reg.RBX)
			p.ctx.RET()
			return nil
		}
		jobs = append(jobs, kernelJob{i: i, fn: fn, make: mk})
	}
	streamed, err := writeKernels(jobs, "net", m)
	if err != nil {
		t.Fatal(err)
	}
	streamKernels = false
	whole, err := writeKernels(jobs, "net", m)
	streamKernels = true
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range whole {
		if d := cmp.Diff(string(b), string(streamed[name])); d != "" {
			t.Errorf("%s differs (-whole +streamed):\n%s", name, d)
		}
	}
	base := goruntime.NumGoroutine()
	for _, k := range []int64{0, 7, n - 1} {
		fail.Store(k)
		_, err := writeKernels(jobs, "net", m)
		if want := fmt.Sprintf("node %d (layer%d): generator failed", k, k); err == nil || err.Error() != want {
			t.Errorf("job %d fails: got error %v, want %q", k, err, want)
		}
		// The workers finish the jobs they hold and skip the rest.
		for end := time.Now().Add(10 * time.Second); goruntime.NumGoroutine() > base && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
		if g := goruntime.NumGoroutine(); g > base {
			t.Fatalf("job %d fails: %d goroutines left, %d before", k, g, base)
		}
	}
}
