package asmgen

import (
	"testing"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// TestAppendOperand: each operand kind appendOperand formats itself as
// avo's Asm does.
func TestAppendOperand(t *testing.T) {
	sym := operand.Symbol{Name: "tbl"}
	static := operand.Symbol{Name: "tbl", Static: true}
	ops := []operand.Op{
		reg.RAX, reg.X3, reg.Y15, reg.Z31, reg.K1, reg.AL,
		operand.Mem{Base: reg.RSI},
		operand.Mem{Base: reg.RSI, Disp: 64},
		operand.Mem{Base: reg.RSI, Disp: -8, Index: reg.RCX, Scale: 4},
		operand.Mem{Base: reg.RSI, Index: reg.RCX},
		operand.Mem{Index: reg.RCX, Scale: 8, Disp: 3},
		operand.Mem{Symbol: sym, Base: reg.StaticBase},
		operand.Mem{Symbol: static, Base: reg.StaticBase, Disp: 128},
		operand.Mem{Symbol: static, Base: reg.StaticBase, Disp: -4},
		operand.NewDataAddr(static, 0),
		operand.NewDataAddr(sym, 40),
		operand.LabelRef("loop"),
		operand.I8(0), operand.I8(-128), operand.I8(127),
		operand.I16(-300), operand.I32(0), operand.I32(-1 << 31), operand.I32(65536), operand.I64(-1 << 63), operand.I64(1<<63 - 1),
		operand.U8(0), operand.U8(5), operand.U8(255),
		operand.U16(0x1234), operand.U16(0xffff),
		operand.U32(0), operand.U32(0xab), operand.U32(0xffffffff),
		operand.U64(0), operand.U64(0xdeadbeef), operand.U64(1<<64 - 1),
		operand.F32(1.5), operand.F64(-0.25), operand.String("ab"), operand.Rel(-3),
	}
	for _, op := range ops {
		if got, want := string(appendOperand([]byte("x"), op)), "x"+op.Asm(); got != want {
			t.Errorf("%#v: %q, want %q", op, got, want)
		}
	}
}
