package asmgen

import (
	"bytes"
	"errors"
	"runtime"
	"sync"

	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
	"github.com/mmcloughlin/avo/reg"
)

// compileFile and printFile compile and print a program's file: compile
// and printAsm (tests compare them with avo's pass.Compile and printer).
var (
	compileFile = compile
	printFile   = printAsm
)

// compile is avo's pass.Compile, giving the same assembly byte for byte, in a
// fraction of its time. The generators name physical registers only, so
// there is nothing to allocate, but avo's Liveness still computed every
// instruction's live registers on maps: 70% of a 224x224 build's code
// generation. Here a function without virtual registers gets the empty
// allocation avo's allocator would return; the functions, independent of
// each other, are compiled side by side. The passes and their order per
// function are pass.Compile's.
func compile(f *ir.File) error {
	if err := pass.Verify.Execute(f); err != nil {
		return err
	}
	fns := f.Functions()
	errs := make([]error, len(fns))
	each(len(fns), func(i int) { errs[i] = compileFunc(fns[i]) })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Reads only the attributes, which the function passes do not change.
	return pass.IncludeTextFlagHeader(f)
}

func compileFunc(fn *ir.Function) error {
	for _, p := range []func(*ir.Function) error{
		pass.PruneJumpToFollowingLabel,
		pass.PruneDanglingLabels,
		pass.LabelTarget,
		pass.CFG,
		func(fn *ir.Function) error {
			for _, i := range fn.Instructions() {
				if err := pass.ZeroExtend32BitOutputs(i); err != nil {
					return err
				}
			}
			return nil
		},
		allocate,
		pass.EnsureBasePointerCalleeSaved,
		pass.PruneSelfMoves,
		pass.RequiredISAExtensions,
	} {
		if err := p(fn); err != nil {
			return err
		}
	}
	return nil
}

// allocate is avo's Liveness, AllocateRegisters, BindRegisters and
// VerifyAllocation where fn has virtual registers. Without them the
// allocation is empty and binding it changes no operand: both passes are
// skipped (a fifth of the asm stage's CPU).
func allocate(fn *ir.Function) error {
	if !hasVirtual(fn) {
		fn.Allocation = reg.NewEmptyAllocation()
		return nil
	}
	for _, p := range []func(*ir.Function) error{pass.Liveness, pass.AllocateRegisters, pass.BindRegisters, pass.VerifyAllocation} {
		if err := p(fn); err != nil {
			return err
		}
	}
	return nil
}

// hasVirtual reports whether an operand of fn names a virtual register
// (avo's Instruction.Registers, without building its lists).
func hasVirtual(fn *ir.Function) bool {
	virtual := func(r reg.Register) bool { return r != nil && r.ID().IsVirtual() }
	for _, n := range fn.Nodes {
		i, ok := n.(*ir.Instruction)
		if !ok {
			continue
		}
		for _, op := range i.Operands {
			switch op := op.(type) {
			case reg.Register:
				if virtual(op) {
					return true
				}
			case operand.Mem:
				if virtual(op.Base) || virtual(op.Index) {
					return true
				}
			}
		}
	}
	return false
}

// each runs fn(0), ..., fn(n-1) on GOMAXPROCS goroutines.
func each(n int, fn func(i int)) {
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// printAsm is avo's Go assembly printer on f: its header from avo, the
// sections from appendSections, side by side in runs (avo prints each
// section on its own: a function starts from a clean state and ends
// flushed, so the runs concatenate to the same bytes).
func printAsm(cfg printer.Config, f *ir.File) ([]byte, error) {
	const runs = 16
	head, err := printer.NewGoAsm(cfg).Print(&ir.File{Constraints: f.Constraints, Includes: f.Includes})
	if err != nil {
		return nil, err
	}
	out := make([][]byte, runs)
	per := (len(f.Sections) + runs - 1) / runs
	each(runs, func(i int) {
		out[i] = appendSections(nil, f.Sections[min(len(f.Sections), i*per):min(len(f.Sections), (i+1)*per)])
	})
	return bytes.Join(append([][]byte{head}, out...), nil), nil
}
