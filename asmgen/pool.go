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
// channels, 63 on zmm (within ReadSlack); stores write exactly C bytes per
// pixel.
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
	// On zmm tiers the passes take 64 channels a vector (a pixel's last
	// under K1's mask), and the windows inside the image a fast path; on
	// ymm the fast path ran no faster than the loops.
	zmmOK := isa.lanes() == 16
	vw, vecs, group := 32, ymm, maxPoolGroup // a vector's bytes, a pass's channels
	if zmmOK {
		vw, vecs, group = 64, zmm, 8*64
		if tw := m.C % 64; tw != 0 {
			setMask(c, reg.K1, tw, t)
		}
	}
	row, done := name+"_row", name+"_done"
	// load and store move the i-th vector of a pass over the channels.
	load := func(src operand.Mem, i int) {
		if zmmOK {
			c.VMOVDQU64(src, vecs[i])
		} else {
			c.VMOVDQU(src, vecs[i])
		}
	}
	store := func(i, w int, dst operand.Mem) {
		switch {
		case !zmmOK:
			storeBytes(c, vecs[i], w, dst, t) // vecs[i] is loaded again before its next use
		case w == vw:
			c.VMOVDQU8(vecs[i], dst)
		default:
			c.VMOVDQU8(vecs[i], reg.K1, dst)
		}
	}
	// generic runs the pixels from ox to end (> ox) of the current row:
	// each window clipped to the image by lohi, its taps in loops.
	generic := func(col string, end int) {
		c.Label(col)
		lohi(ox, x0, x1, m.W, w.KW, w.SW, w.PadL)
		for g := 0; g < m.C; g += group {
			n := min(group, m.C-g)
			v := (n + vw - 1) / vw
			// The window's top-left pixel starts the max.
			c.IMUL3Q(i32(m.W), y0, rp)
			c.ADDQ(x0, rp)
			c.IMUL3Q(i32(m.C), rp, rp)
			c.ADDQ(px, rp)
			for i := range v {
				load(mem(rp, g+vw*i), i)
			}
			c.MOVQ(y0, iy)
			lpy, lpx := fmt.Sprintf("%s_y%d", col, g), fmt.Sprintf("%s_x%d", col, g)
			c.Label(lpy)
			c.IMUL3Q(i32(m.W), iy, rp)
			c.ADDQ(x0, rp)
			c.IMUL3Q(i32(m.C), rp, rp)
			c.ADDQ(px, rp)
			c.MOVQ(x0, ix)
			c.Label(lpx)
			for i := range v {
				c.VPMAXUB(mem(rp, g+vw*i), vecs[i], vecs[i])
			}
			c.ADDQ(i32(m.C), rp)
			c.INCQ(ix)
			c.CMPQ(ix, x1)
			c.JLT(operand.LabelRef(lpx))
			c.INCQ(iy)
			c.CMPQ(iy, y1)
			c.JLT(operand.LabelRef(lpy))
			for i := range v {
				store(i, min(vw, n-vw*i), mem(prow, g+vw*i))
			}
		}
		nextPixel(c, prow, ox, m.C, end, col)
	}
	// The windows inside the image (rows where lohi clips nothing, columns
	// oxLo to oxHi) take the fast path: every tap at a fixed offset,
	// unrolled, on the widest vectors. Border windows run generic.
	oxLo := (w.PadL + w.SW - 1) / w.SW
	oxHi := min(m.OW, (m.W-w.KW+w.PadL)/w.SW+1)
	if m.W-w.KW+w.PadL < 0 {
		oxHi = 0
	}
	fast := zmmOK && oxLo < oxHi && w.KH*w.KW <= maxPoolFastTaps
	c.Label(row)
	c.CMPQ(oy, s1)
	c.JGE(operand.LabelRef(done))
	lohi(oy, y0, y1, m.H, w.KH, w.SH, w.PadT)
	c.IMUL3Q(i32(m.OW*m.C), oy, prow)
	c.ADDQ(py, prow)
	c.XORQ(ox, ox)
	border := name + "_border"
	if fast {
		c.MOVQ(y1, t)
		c.SUBQ(y0, t)
		c.CMPQ(t, i32(w.KH))
		c.JNE(operand.LabelRef(border))
		if oxLo > 0 {
			generic(name+"_left", oxLo)
		}
		in, loop := x0, name+"_fast"
		c.IMUL3Q(i32(m.W), y0, in)
		c.ADDQ(i32(oxLo*w.SW-w.PadL), in)
		c.IMUL3Q(i32(m.C), in, in)
		c.ADDQ(px, in)
		c.Label(loop)
		for g := 0; g < m.C; g += group {
			n := min(group, m.C-g)
			v := (n + vw - 1) / vw
			for ky := range w.KH {
				for kx := range w.KW {
					for i := range v {
						src := mem(in, ky*m.W*m.C+kx*m.C+g+vw*i)
						if ky > 0 || kx > 0 {
							c.VPMAXUB(src, vecs[i], vecs[i])
						} else {
							load(src, i)
						}
					}
				}
			}
			for i := range v {
				store(i, min(vw, n-vw*i), mem(prow, g+vw*i))
			}
		}
		c.ADDQ(i32(w.SW*m.C), in)
		nextPixel(c, prow, ox, m.C, oxHi, loop)
		if oxHi < m.OW {
			generic(name+"_right", m.OW)
		}
		c.INCQ(oy)
		c.JMP(operand.LabelRef(row))
		c.Label(border)
	}
	generic(name+"_col", m.OW)
	nextRow(c, oy, row, done)
	return nil
}

// maxPoolFastTaps is the largest window MaxPool's fast path unrolls.
const maxPoolFastTaps = 25
