package asmgen

import (
	"fmt"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/ir"
)

// MaxPool is a max pool over K x K windows (stride S, padding P) of an NHWC
// uint8 image of C channels, H x W, into OH x OW: per output pixel the
// channelwise max of the window's pixels inside the image (padding never
// wins), the qparams passed through. Ceil is PyTorch's ceil_mode: the
// output size rounds up, the last windows clipped like the others.
type MaxPool struct {
	C, H, W, OH, OW int
	K, S, P         int
	Ceil            bool

	// Win is any other window without dilation (KH x KW, per-axis strides,
	// per-side pads); nil for the square one of K, S and P.
	Win *ir.Window
}

// Units is the kernel's work count (output rows).
func (m *MaxPool) Units() int { return m.OH }

const maxPoolSig = "func(x, y *byte, s0, s1 int)"

// maxPoolGroup is the channels one pass over a window keeps in registers.
const maxPoolGroup = 8 * 32

// MaxPool adds a max-pool kernel. Loads read up to 31 bytes past a pixel's
// channels (the arena has slack after every tensor); stores write exactly C
// bytes per pixel.
func (p *Program) MaxPool(name string, m *MaxPool, isa Target) error {
	ceil := ""
	if m.Ceil {
		ceil = " (ceil mode)"
	}
	geom := fmt.Sprintf("%dx%d stride %d padding %d", m.K, m.K, m.S, m.P)
	if m.Win != nil {
		if err := m.checkWin(); err != nil {
			return err
		}
		geom = windowText(m.Win)
	} else if m.C < 1 || m.H < 1 || m.W < 1 || m.K < 1 || m.S < 1 || m.P < 0 || 2*m.P > m.K ||
		m.OH != ir.WindowOut(m.H, m.K, m.S, m.P, m.P, 1, m.Ceil) || m.OW != ir.WindowOut(m.W, m.K, m.S, m.P, m.P, 1, m.Ceil) || m.OH < 1 || m.OW < 1 ||
		m.H*m.W*m.C > 1<<30 {
		return fmt.Errorf("asmgen: max pool %+v", *m)
	}
	if err := p.function(name, maxPoolSig, fmt.Sprintf("%s: max pool %s%s of %d channels, %dx%d to %dx%d.",
		name, geom, ceil, m.C, m.H, m.W, m.OH, m.OW)); err != nil {
		return err
	}
	w := m.geom()
	c := p.ctx
	px, py, oy, s1 := reg.RAX, reg.RCX, reg.RSI, reg.RDI
	y0, y1, x0, x1 := reg.R8, reg.R9, reg.R10, reg.R11
	iy, ix, rp, prow, ox, t := reg.R12, reg.R13, reg.RDX, reg.RBX, reg.R14, reg.R15
	loadArgs(c, "x y s0 s1", px, py, oy, s1)
	// lohi sets lo = max(o*S-P, 0) and hi = min(o*S-P+K, n) for output
	// coordinate o (K, S, P the axis's kernel, stride and leading pad).
	lohi := func(o, lo, hi reg.GPPhysical, n, k, s, pad int) {
		c.IMUL3Q(i32(s), o, lo)
		c.SUBQ(i32(pad), lo)
		c.LEAQ(operand.Mem{Base: lo, Disp: k}, hi)
		c.XORQ(t, t)
		c.CMPQ(lo, t)
		c.CMOVQLT(t, lo)
		c.MOVQ(i32(n), t)
		c.CMPQ(hi, t)
		c.CMOVQGT(t, hi)
	}
	row, col, tap, done := name+"_row", name+"_col", name+"_y", name+"_done"
	c.Label(row)
	c.CMPQ(oy, s1)
	c.JGE(operand.LabelRef(done))
	lohi(oy, y0, y1, m.H, w.KH, w.SH, w.PadT)
	c.IMUL3Q(i32(m.OW*m.C), oy, prow)
	c.ADDQ(py, prow)
	c.XORQ(ox, ox)
	c.Label(col)
	lohi(ox, x0, x1, m.W, w.KW, w.SW, w.PadL)
	for g := 0; g < m.C; g += maxPoolGroup {
		n := min(maxPoolGroup, m.C-g)
		v := (n + 31) / 32
		// The window's top-left pixel starts the max.
		c.IMUL3Q(i32(m.W), y0, rp)
		c.ADDQ(x0, rp)
		c.IMUL3Q(i32(m.C), rp, rp)
		c.ADDQ(px, rp)
		for i := 0; i < v; i++ {
			c.VMOVDQU(mem(rp, g+32*i), ymm[i])
		}
		c.MOVQ(y0, iy)
		lpy, lpx := fmt.Sprintf("%s_%d", tap, g), fmt.Sprintf("%s_x%d", tap, g)
		c.Label(lpy)
		c.IMUL3Q(i32(m.W), iy, rp)
		c.ADDQ(x0, rp)
		c.IMUL3Q(i32(m.C), rp, rp)
		c.ADDQ(px, rp)
		c.MOVQ(x0, ix)
		c.Label(lpx)
		for i := 0; i < v; i++ {
			c.VPMAXUB(mem(rp, g+32*i), ymm[i], ymm[i])
		}
		c.ADDQ(i32(m.C), rp)
		c.INCQ(ix)
		c.CMPQ(ix, x1)
		c.JLT(operand.LabelRef(lpx))
		c.INCQ(iy)
		c.CMPQ(iy, y1)
		c.JLT(operand.LabelRef(lpy))
		for i := 0; i < v; i++ {
			w := min(32, n-32*i)
			dst := mem(prow, g+32*i)
			switch {
			case w == 32:
				c.VMOVDQU(ymm[i], dst)
			case w > 16:
				c.VMOVDQU(ymm[i].AsX(), dst)
				c.VEXTRACTI128(operand.U8(1), ymm[i], reg.X15)
				storeN(c, reg.X15, w-16, dst.Offset(16), t)
			default:
				storeN(c, ymm[i].AsX(), w, dst, t)
			}
		}
	}
	poolTail(c, prow, ox, oy, m.C, m.OW, col, row, done)
	return nil
}
