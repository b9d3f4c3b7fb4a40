package asmgen

import (
	"fmt"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The AMX instructions a tile program uses. Neither Go's assembler nor avo
// knows them, so they are encoded here (VEX, map 0F38, W0, L0) and emitted as
// BYTE directives, each group preceded by a comment holding the GNU syntax
// that assembles to the same bytes (amx_test.go checks this against `as`).

// amxKind is one AMX instruction.
type amxKind int

const (
	amxLdtilecfg   amxKind = iota + 1 // LDTILECFG m512
	amxTileloadd                      // TILELOADD tmm, [base + index*1 + disp]
	amxTilestored                     // TILESTORED [base + index*1 + disp], tmm
	amxTilezero                       // TILEZERO tmm
	amxTdpbusd                        // TDPBUSD tmm, tmm(u8), tmm(s8)
	amxTilerelease                    // TILERELEASE
)

// amxOp is one AMX instruction with its operands: T the destination (or the
// stored) tile, A and B TDPBUSD's u8 and s8 sources; Base, Index and Disp the
// memory operand (Index: the row stride, always scale 1; LDTILECFG has none).
type amxOp struct {
	Kind        amxKind
	T, A, B     int
	Base, Index reg.GPPhysical
	Disp        int32
}

// vex3 is a three-byte VEX prefix for map 0F38, W0, L0: r, x, b are the high
// bits of ModRM.reg, SIB.index and the base; vvvv the extra register; pp 0 (NP),
// 1 (66), 2 (F3), 3 (F2).
func vex3(r, x, b, vvvv, pp byte) []byte {
	return []byte{0xC4, (^r&1)<<7 | (^x&1)<<6 | (^b&1)<<5 | 0x02, (^vvvv&15)<<3 | pp}
}

func gpNum(r reg.GPPhysical) byte { return byte(r.PhysicalIndex()) }

func checkTile(t int) error {
	if t < 0 || t > 7 {
		return fmt.Errorf("asmgen: tile register %d (tmm0-tmm7)", t)
	}
	return nil
}

// modrmMem is ModRM (+SIB) (+disp) for reg field rf and [base + index + disp];
// index nil: no index.
func modrmMem(rf byte, base, index reg.GPPhysical, disp int32) []byte {
	b := gpNum(base)
	var mod byte
	switch {
	case disp == 0 && b&7 != 5: // [rbp]/[r13] need a displacement
		mod = 0
	case disp >= -128 && disp <= 127:
		mod = 1
	default:
		mod = 2
	}
	var out []byte
	if index == nil && b&7 != 4 {
		out = append(out, mod<<6|(rf&7)<<3|b&7)
	} else {
		x := byte(4) // no index
		if index != nil {
			x = gpNum(index)
		}
		out = append(out, mod<<6|(rf&7)<<3|4, (x&7)<<3|b&7)
	}
	switch mod {
	case 1:
		out = append(out, byte(int8(disp)))
	case 2:
		out = append(out, byte(disp), byte(disp>>8), byte(disp>>16), byte(disp>>24))
	}
	return out
}

// encode returns the instruction's bytes.
func (o amxOp) encode() ([]byte, error) {
	for _, t := range []int{o.T, o.A, o.B} {
		if err := checkTile(t); err != nil {
			return nil, err
		}
	}
	memOp := func(pp, opcode byte, rf int, index reg.GPPhysical) ([]byte, error) {
		if o.Base == nil {
			return nil, fmt.Errorf("asmgen: AMX memory operand without a base")
		}
		var x byte
		if index != nil {
			if gpNum(index) == 4 {
				return nil, fmt.Errorf("asmgen: %s cannot be an index", index.Asm())
			}
			x = gpNum(index) >> 3
		}
		out := vex3(0, x, gpNum(o.Base)>>3, 0, pp)
		out = append(out, opcode)
		return append(out, modrmMem(byte(rf), o.Base, index, o.Disp)...), nil
	}
	switch o.Kind {
	case amxLdtilecfg:
		return memOp(0, 0x49, 0, nil)
	case amxTileloadd, amxTilestored:
		if o.Index == nil {
			return nil, fmt.Errorf("asmgen: tile load/store without a stride register")
		}
		pp := byte(3) // F2: TILELOADD
		if o.Kind == amxTilestored {
			pp = 2 // F3
		}
		return memOp(pp, 0x4B, o.T, o.Index)
	case amxTilezero:
		return append(vex3(0, 0, 0, 0, 3), 0x49, 0xC0|byte(o.T)<<3), nil
	case amxTdpbusd:
		if o.T == o.A || o.T == o.B || o.A == o.B {
			return nil, fmt.Errorf("asmgen: tdpbusd needs three distinct tiles, not %d, %d, %d", o.T, o.A, o.B)
		}
		return append(vex3(0, 0, 0, byte(o.B), 1), 0x5E, 0xC0|byte(o.T)<<3|byte(o.A)), nil
	case amxTilerelease:
		return append(vex3(0, 0, 0, 0, 0), 0x49, 0xC0), nil
	}
	return nil, fmt.Errorf("asmgen: AMX instruction kind %d", o.Kind)
}

// gnu is the instruction in GNU (AT&T) syntax.
func (o amxOp) gnu() string {
	m := func() string {
		r := "%" + gnuGP[gpNum(o.Base)]
		if o.Index != nil {
			r += ",%" + gnuGP[gpNum(o.Index)] + ",1"
		}
		if o.Disp != 0 {
			return fmt.Sprintf("%d(%s)", o.Disp, r)
		}
		return "(" + r + ")"
	}
	switch o.Kind {
	case amxLdtilecfg:
		return "ldtilecfg " + m()
	case amxTileloadd:
		return fmt.Sprintf("tileloadd %s, %%tmm%d", m(), o.T)
	case amxTilestored:
		return fmt.Sprintf("tilestored %%tmm%d, %s", o.T, m())
	case amxTilezero:
		return fmt.Sprintf("tilezero %%tmm%d", o.T)
	case amxTdpbusd:
		return fmt.Sprintf("tdpbusd %%tmm%d, %%tmm%d, %%tmm%d", o.B, o.A, o.T)
	case amxTilerelease:
		return "tilerelease"
	}
	return fmt.Sprintf("amx(%d)", o.Kind)
}

// gnuGP are the GNU names of the 64-bit registers by number.
var gnuGP = [16]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

// emitAMX writes o into the function being built: its GNU text as a comment,
// then its bytes.
func emitAMX(c *build.Context, o amxOp) error {
	b, err := o.encode()
	if err != nil {
		return err
	}
	c.Comment(o.gnu())
	for _, x := range b {
		c.Instruction(&ir.Instruction{Opcode: "BYTE", Operands: []operand.Op{operand.U8(x)}})
	}
	return nil
}
