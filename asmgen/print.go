package asmgen

import (
	"slices"
	"strconv"
	"strings"

	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// appendSections appends secs as avo's Go assembly printer prints them in a
// file (printer/goasm.go: function and global), without its fmt calls: a
// 224x224 model's 12 MB of assembly spent most of its printing in
// fmt.Fprintf and operand.Mem.Asm. Operands other than registers, memory
// references, labels and signed constants take their own Asm.
func appendSections(b []byte, secs []ir.Section) []byte {
	lines := 0
	for _, s := range secs {
		switch s := s.(type) {
		case *ir.Function:
			lines += len(s.Nodes)
		case *ir.Global:
			lines += len(s.Data)
		}
	}
	b = slices.Grow(b, lineBytes*lines)
	var block []*ir.Instruction
	for _, s := range secs {
		switch s := s.(type) {
		case *ir.Function:
			b, block = appendFunction(b, s, block[:0])
		case *ir.Global:
			b = appendGlobal(b, s)
		}
	}
	return b
}

// lineBytes is a little over the bytes of a line (MobileNetV2-224's
// assembly averages 32), to size the output once.
const lineBytes = 36

func appendFunction(b []byte, f *ir.Function, block []*ir.Instruction) ([]byte, []*ir.Instruction) {
	b = append(b, '\n')
	b = appendComment(b, f.Stub())
	if len(f.ISA) > 0 {
		b = appendComment(b, "Requires: "+strings.Join(f.ISA, ", "))
	}
	b = append(b, "TEXT \u00b7"...)
	b = append(b, f.Name...)
	b = append(b, "(SB)"...)
	if f.Attributes != 0 {
		b = append(b, ", "...)
		b = append(b, f.Attributes.Asm()...)
	}
	b = append(b, ", $"...)
	b = strconv.AppendInt(b, int64(f.FrameBytes()), 10)
	if n := f.ArgumentBytes(); n > 0 {
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(n), 10)
	}
	b = append(b, '\n')
	clean := true
	for _, node := range f.Nodes {
		switch n := node.(type) {
		case *ir.Instruction:
			block = append(block, n)
			clean = false
			if n.IsTerminal || n.IsUnconditionalBranch() {
				b, block = appendBlock(b, block), block[:0]
			}
		case ir.Label:
			b, block = appendBlock(b, block), block[:0]
			if !clean {
				b, clean = append(b, '\n'), true
			}
			b = append(b, n...)
			b = append(b, ":\n"...)
		case *ir.Comment:
			b, block = appendBlock(b, block), block[:0]
			if !clean {
				b, clean = append(b, '\n'), true
			}
			for _, line := range n.Lines {
				b = append(b, "\t// "...)
				b = append(b, line...)
				b = append(b, '\n')
			}
		}
	}
	return appendBlock(b, block), block[:0]
}

// appendComment is prnt.Generator.Comment of one line.
func appendComment(b []byte, line string) []byte {
	b = append(b, strings.TrimSpace("// "+line)...)
	return append(b, '\n')
}

// appendBlock is goasm.flush: the opcodes of instructions with operands
// padded to the longest one's width plus one.
func appendBlock(b []byte, block []*ir.Instruction) []byte {
	width := 0
	for _, i := range block {
		if n := opcodeLen(i); len(i.Operands) > 0 && n > width {
			width = n
		}
	}
	for _, i := range block {
		b = append(b, '\t')
		n := len(b)
		b = append(b, i.Opcode...)
		for _, s := range i.Suffixes {
			b = append(b, '.')
			b = append(b, s...)
		}
		if len(i.Operands) == 0 {
			b = append(b, '\n')
			continue
		}
		for len(b)-n < width+1 {
			b = append(b, ' ')
		}
		for k, op := range i.Operands {
			if k > 0 {
				b = append(b, ", "...)
			}
			b = appendOperand(b, op)
		}
		b = append(b, '\n')
	}
	return b
}

func opcodeLen(i *ir.Instruction) int {
	n := len(i.Opcode)
	for _, s := range i.Suffixes {
		n += 1 + len(s)
	}
	return n
}

// appendOperand appends op.Asm().
func appendOperand(b []byte, op operand.Op) []byte {
	switch op := op.(type) {
	case reg.Register:
		return append(b, op.Asm()...)
	case operand.Mem:
		return appendMem(b, op)
	case operand.LabelRef:
		return append(b, op...)
	case operand.I8:
		return appendSigned(b, int64(op))
	case operand.I16:
		return appendSigned(b, int64(op))
	case operand.I32:
		return appendSigned(b, int64(op))
	case operand.I64:
		return appendSigned(b, int64(op))
	case operand.U8:
		return appendHex(b, uint64(op), 2)
	case operand.U16:
		return appendHex(b, uint64(op), 4)
	case operand.U32:
		return appendHex(b, uint64(op), 8)
	case operand.U64:
		return appendHex(b, uint64(op), 16)
	}
	return append(b, op.Asm()...)
}

// appendSigned is "$%+d".
func appendSigned(b []byte, v int64) []byte {
	b = append(b, '$')
	if v >= 0 {
		b = append(b, '+')
	}
	return strconv.AppendInt(b, v, 10)
}

// appendHex is "$%#0<digits>x".
func appendHex(b []byte, v uint64, digits int) []byte {
	b = append(b, "$0x"...)
	for d := digits - 1; d >= 0; d-- {
		b = append(b, "0123456789abcdef"[v>>(4*d)&15])
	}
	return b
}

// appendMem is operand.Mem.Asm.
func appendMem(b []byte, m operand.Mem) []byte {
	if m.Symbol.Name != "" || m.Symbol.Static {
		b = append(b, m.Symbol.Name...)
		if m.Symbol.Static {
			b = append(b, "<>"...)
		}
		if m.Disp >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(m.Disp), 10)
	} else if m.Disp != 0 {
		b = strconv.AppendInt(b, int64(m.Disp), 10)
	}
	if m.Base != nil {
		b = append(b, '(')
		b = append(b, m.Base.Asm()...)
		b = append(b, ')')
	}
	if m.Index != nil && m.Scale != 0 {
		b = append(b, '(')
		b = append(b, m.Index.Asm()...)
		b = append(b, '*')
		b = strconv.AppendInt(b, int64(m.Scale), 10)
		b = append(b, ')')
	}
	return b
}

// alignTables makes appendGlobal print tables as code (TestCompileMatchesAvo
// turns it off to compare the rest with avo's printer).
var alignTables = true

// appendGlobal is goasm.global, or with alignTables a table of 64 bytes or
// more as a static TEXT symbol of its words behind a PCALIGN $64. The linker
// aligns a data symbol to 32 bytes at most, and a zmm operand at 32 mod 64
// straddles two cache lines: on Sapphire Rapids MobileNetV2-224's forward
// (avx512 tier) ran 8% faster or slower by where its depthwise tables fell,
// from one build of the same code to the next. PCALIGN aligns the function
// that holds it.
func appendGlobal(b []byte, g *ir.Global) []byte {
	if alignTables && g.Size >= 64 && contiguous(g) {
		b = append(b, "\nTEXT "...)
		b = append(b, g.Symbol.String()...)
		b = append(b, "(SB), NOSPLIT|NOFRAME, $0-0\n\tPCALIGN $64\n"...)
		for _, d := range g.Data {
			if d.Value.Bytes() == 8 {
				b = append(b, "\tQUAD "...)
			} else {
				b = append(b, "\tLONG "...)
			}
			b = appendOperand(b, d.Value)
			b = append(b, '\n')
		}
		return b
	}
	b = append(b, '\n')
	for _, d := range g.Data {
		b = append(b, "DATA "...)
		b = appendMem(b, operand.NewDataAddr(g.Symbol, d.Offset))
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(d.Value.Bytes()), 10)
		b = append(b, ", "...)
		b = appendOperand(b, d.Value)
		b = append(b, '\n')
	}
	b = append(b, "GLOBL "...)
	b = append(b, g.Symbol.String()...)
	b = append(b, "(SB), "...)
	b = append(b, g.Attributes.Asm()...)
	b = append(b, ", $"...)
	b = strconv.AppendInt(b, int64(g.Size), 10)
	return append(b, '\n')
}

// contiguous reports whether g's data are 4- and 8-byte words one after the
// other from offset 0 to its size, as code can hold them.
func contiguous(g *ir.Global) bool {
	off := 0
	for _, d := range g.Data {
		n := d.Value.Bytes()
		if d.Offset != off || n != 4 && n != 8 {
			return false
		}
		off += n
	}
	return off == g.Size
}
