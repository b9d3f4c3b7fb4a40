package asmgen

import (
	"errors"
	"runtime"
	"sync"

	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/reg"
)

// compileFile compiles a program's file: compile (tests compare it with
// avo's pass.Compile).
var compileFile = compile

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
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(fns)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(fns) {
					return
				}
				errs[i] = compileFunc(fns[i])
			}
		}()
	}
	wg.Wait()
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
		pass.BindRegisters,
		pass.VerifyAllocation,
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

// allocate is avo's Liveness and AllocateRegisters where fn has virtual
// registers, else the empty allocation they would give.
func allocate(fn *ir.Function) error {
	for _, i := range fn.Instructions() {
		for _, r := range i.Registers() {
			if r.ID().IsVirtual() {
				if err := pass.Liveness(fn); err != nil {
					return err
				}
				return pass.AllocateRegisters(fn)
			}
		}
	}
	fn.Allocation = reg.NewEmptyAllocation()
	return nil
}
