package asmgen

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/mmcloughlin/avo/buildtags"
	"github.com/mmcloughlin/avo/gotypes"
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
// allocation avo's allocator would return and the rest of avo's passes in
// two walks (compilePhysical); the functions, independent of each other,
// are compiled side by side. The passes and their order per function are
// pass.Compile's.
func compile(f *ir.File) error {
	fns := f.Functions()
	for _, fn := range fns {
		if err := verifyFunc(fn); err != nil {
			return err
		}
	}
	errs := make([]error, len(fns))
	each(len(fns), func(i int) { errs[i] = compileFunc(fns[i]) })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Reads only the attributes, which the function passes do not change.
	return pass.IncludeTextFlagHeader(f)
}

// verifyFunc is pass.Verify on fn, without its list of fn's instructions.
func verifyFunc(fn *ir.Function) error {
	for _, n := range fn.Nodes {
		if i, ok := n.(*ir.Instruction); ok {
			if err := pass.VerifyMemOperands(i); err != nil {
				return err
			}
		}
	}
	return nil
}

func compileFunc(fn *ir.Function) error {
	if !hasVirtual(fn) {
		return compilePhysical(fn)
	}
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
		pass.Liveness,
		pass.AllocateRegisters,
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

// compilePhysical is compileFunc's passes for a function without virtual
// registers, in two walks over its nodes, leaving what avo's leave: there
// the allocation is empty and binding it changes nothing, and the CFG
// (which PruneSelfMoves clears) only checks the branches' labels. avo's
// passes each built a fresh list of the instructions (fn.Instructions) and
// a label for every branch (TargetLabel): a fifth of the back end's
// allocations, all of them new pages (it runs without collections).
func compilePhysical(fn *ir.Function) error {
	// PruneJumpToFollowingLabel: a jump whose next node is its label goes
	// (after a removed jump the next node is the one it had). Then the
	// branches' references, for PruneDanglingLabels.
	refs := map[ir.Label]int{}
	nodes := fn.Nodes[:0]
	for k, n := range fn.Nodes {
		if i, ok := n.(*ir.Instruction); ok && i.IsBranch {
			lbl, ok := target(i)
			if !ok {
				return errors.New("no label for branch instruction")
			}
			if !i.IsConditional && k+1 < len(fn.Nodes) && fn.Nodes[k+1] == ir.Node(lbl) {
				continue
			}
			refs[lbl]++
		}
		nodes = append(nodes, n)
	}
	clear(fn.Nodes[len(nodes):])
	// PruneDanglingLabels, LabelTarget's and CFG's checks,
	// ZeroExtend32BitOutputs, EnsureBasePointerCalleeSaved's test,
	// PruneSelfMoves (which, having removed a move, never looks at the node
	// after it) and RequiredISAExtensions.
	seen := make(map[ir.Label]bool, len(refs))
	pending, skip, clobbered := false, false, false
	var isa []string
	kept := nodes[:0]
	for _, n := range nodes {
		switch n := n.(type) {
		case ir.Label:
			if refs[n] == 0 {
				continue
			}
			if seen[n] {
				return fmt.Errorf("duplicate label \"%s\"", n)
			}
			seen[n], pending = true, true
		case *ir.Instruction:
			pending = false
			if err := pass.ZeroExtend32BitOutputs(n); err != nil {
				return err
			}
			for _, op := range n.Outputs {
				if r, ok := op.(reg.Register); ok {
					if p := reg.ToPhysical(r); p != nil && p.Info()&reg.BasePointer != 0 {
						clobbered = true
					}
				}
			}
			if !skip && selfMove(n) {
				skip = true
				continue
			}
			for _, e := range n.ISA {
				if !slices.Contains(isa, e) {
					isa = append(isa, e)
				}
			}
		}
		skip = false
		kept = append(kept, n)
	}
	clear(nodes[len(kept):])
	fn.Nodes = kept
	if pending {
		return errors.New("function ends with label")
	}
	if len(seen) < len(refs) {
		// The first branch, in order, to a label the function lacks (as CFG).
		for _, n := range kept {
			if i, ok := n.(*ir.Instruction); ok && i.IsBranch {
				if lbl, _ := target(i); !seen[lbl] {
					return fmt.Errorf("unknown label %q", lbl)
				}
			}
		}
	}
	fn.Allocation = reg.NewEmptyAllocation()
	// EnsureBasePointerCalleeSaved: the frame the assembler saves BP in.
	if clobbered {
		if fn.Attributes.NOFRAME() {
			return errors.New("NOFRAME function clobbers base pointer register")
		}
		if fn.LocalSize == 0 {
			fn.AllocLocal(int(gotypes.PointerSize))
		}
	}
	if len(isa) > 0 {
		slices.Sort(isa)
		fn.ISA = append(fn.ISA, isa...)
	}
	return nil
}

// target is i's label, as TargetLabel gives it, without allocating one.
func target(i *ir.Instruction) (ir.Label, bool) {
	if len(i.Operands) == 0 {
		return "", false
	}
	ref, ok := i.Operands[0].(operand.LabelRef)
	return ir.Label(ref), ok
}

// selfMove is PruneSelfMoves' test: a move from a register to itself.
func selfMove(i *ir.Instruction) bool {
	switch i.Opcode {
	case "MOVB", "MOVW", "MOVL", "MOVQ":
		return operand.IsRegister(i.Operands[0]) && operand.IsRegister(i.Operands[1]) && i.Operands[0] == i.Operands[1]
	}
	return false
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
	head, err := printHeader(cfg, f.Constraints, f.Includes)
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

// textflag is the header pass.IncludeTextFlagHeader includes.
const textflag = "textflag.h"

// printHeader is what avo's printer prints of a file before its sections.
func printHeader(cfg printer.Config, c buildtags.Constraints, includes []string) ([]byte, error) {
	return printer.NewGoAsm(cfg).Print(&ir.File{Constraints: c, Includes: includes})
}
