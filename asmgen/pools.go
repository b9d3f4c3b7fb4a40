package asmgen

import (
	"fmt"
	"math"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/ir"
)

// The kernels of the pools without a MaxPool kernel, average pools of any
// window and max pools of a dilated one, and of a Slice that is copied. Like
// bytes.go's they are AVX2 code every tier calls: memory-bound passes over
// bytes. A pool walks each output pixel's window clipped to the input: a
// table per output row and per output column (read-only data) gives the
// first valid tap's byte offset, the bytes the valid taps span along the
// axis and, for an average pool, a class of the axis's divisor; the pair of
// classes picks the window's float32(1/count) and count*z. So the kernel
// divides nothing and the arithmetic is the interpreter's (AvgPoolQ).

// Pool is an average pool (Avg, with CountPad: PyTorch's
// count_include_pad) or a max pool over Win of an NHWC uint8 image of C
// channels, H x W, into OH x OW (Ceil: PyTorch's ceil_mode), the qparams
// passed through (Z, the zero point). Every window holds an input pixel.
type Pool struct {
	C, H, W, OH, OW int
	Win             ir.Window
	Ceil            bool
	Avg, CountPad   bool
	Z               int32
}

// Units is the kernel's work count (output rows).
func (m *Pool) Units() int { return m.OH }

const poolSig = "func(x, y *byte, s0, s1 int)"

// poolAxis is one output coordinate's window along an axis: the first valid
// tap, the number of valid taps and the count the average divides by.
type poolAxis struct{ first, n, div int }

// poolAxes is the windows of the n outputs along an axis of in elements (kernel
// k, stride s, pads lo and hi, dilation d); ok is false where one holds no
// input element.
func poolAxes(n, in, k, s, lo, hi, d int, countPad bool) ([]poolAxis, bool) {
	as := make([]poolAxis, n)
	for o := range as {
		start := o*s - lo
		a := poolAxis{first: -1}
		for t := range k {
			if i := start + t*d; i >= 0 && i < in {
				if a.first < 0 {
					a.first = i
				}
				a.n++
			}
		}
		if a.n == 0 {
			return nil, false
		}
		a.div = a.n
		if countPad {
			a.div = min(start+k, in+hi) - start // AvgPoolQ's count (no dilation)
		}
		as[o] = a
	}
	return as, true
}

func (m *Pool) check() error {
	w := &m.Win
	ok := m.C >= 1 && m.H >= 1 && m.W >= 1 && m.H*m.W*m.C <= 1<<30 && m.Z >= 0 && m.Z <= 255 &&
		min(w.KH, w.KW, w.SH, w.SW, w.DH, w.DW) >= 1 && min(w.PadT, w.PadL, w.PadB, w.PadR) >= 0 &&
		(!m.Avg || w.DH == 1 && w.DW == 1 && w.KH*w.KW <= 1<<20)
	if oh, ow := w.OutSize(m.H, m.W, m.Ceil); !ok || oh != m.OH || ow != m.OW || oh < 1 || ow < 1 {
		return fmt.Errorf("asmgen: pool %s of %d channels, %dx%d to %dx%d", windowText(w), m.C, m.H, m.W, m.OH, m.OW)
	}
	return nil
}

// sums16 says whether an average's sums fit uint16 lanes: at most 257
// taps of codes up to 255.
func (m *Pool) sums16() bool { return m.Avg && m.Win.KH*m.Win.KW <= 257 }

// group is the channels one pass over a window keeps in registers: 8 ymm of
// bytes for a max, 4 of uint16 sums or of int32 sums for an average.
func (m *Pool) group() int {
	switch {
	case m.sums16():
		return 64
	case m.Avg:
		return 32
	}
	return 8 * 32
}

// Pool adds a pool kernel. Loads read up to 31 bytes past a pixel's
// channels (the arena has slack after every tensor); stores write exactly C
// bytes per pixel.
func (p *Program) Pool(name string, m *Pool) error {
	if err := m.check(); err != nil {
		return err
	}
	w := &m.Win
	rows, okr := poolAxes(m.OH, m.H, w.KH, w.SH, w.PadT, w.PadB, w.DH, m.CountPad)
	cols, okc := poolAxes(m.OW, m.W, w.KW, w.SW, w.PadL, w.PadR, w.DW, m.CountPad)
	if !okr || !okc {
		return fmt.Errorf("asmgen: pool %s over %dx%d has a window of padding only", windowText(w), m.H, m.W)
	}
	what, mode := "max", ""
	if m.Avg {
		what = "average"
		if m.CountPad {
			mode = " (padding counted)"
		}
	}
	if m.Ceil {
		mode += " (ceil mode)"
	}
	if err := p.function(name, poolSig, fmt.Sprintf("%s: %s pool %s%s of %d channels, %dx%d to %dx%d.",
		name, what, windowText(w), mode, m.C, m.H, m.W, m.OH, m.OW)); err != nil {
		return err
	}
	// The table: per output row {first row's offset, rows' span, class *
	// column classes}, per output column {offset, span, class}, then per
	// pair of classes {count*z, float32(1/count)} (average pools).
	rowStep, colStep := w.DH*m.W*m.C, w.DW*m.C
	rowClass, colClass := classes(rows), classes(cols)
	nrc, ncc := 0, 0
	for _, c := range rowClass {
		nrc = max(nrc, c+1)
	}
	for _, c := range colClass {
		ncc = max(ncc, c+1)
	}
	var words []uint32
	for i, a := range rows {
		words = append(words, uint32(a.first*m.W*m.C), uint32(a.n*rowStep), uint32(rowClass[i]*ncc))
	}
	for i, a := range cols {
		words = append(words, uint32(a.first*m.C), uint32(a.n*colStep), uint32(colClass[i]))
	}
	clsOff := 4 * len(words)
	if m.Avg {
		rowOf, colOf := make([]poolAxis, nrc), make([]poolAxis, ncc)
		for i, a := range rows {
			rowOf[rowClass[i]] = a
		}
		for i, a := range cols {
			colOf[colClass[i]] = a
		}
		for _, r := range rowOf {
			for _, c := range colOf {
				words = append(words, uint32(int32(r.n*c.n)*m.Z), math.Float32bits(float32(1/float64(r.div*c.div))))
			}
		}
	}
	tbl := p.data(name+"_win", words)

	c := p.ctx
	px, py, oy, s1 := reg.RAX, reg.RCX, reg.RSI, reg.RDI
	ox, tb, base, nh, nw := reg.R8, reg.R12, reg.R9, reg.R10, reg.RDX
	rp, rq, rowEnd, colEnd, t := reg.R13, reg.R14, reg.R11, reg.RBX, reg.R15
	loadArgs(c, "x y s0 s1", px, py, oy, s1)
	c.LEAQ(tbl, tb)
	var rq8 *requantizer
	if m.Avg {
		k := newConsts(p, name, avx2Design)
		rq8 = newRequantizer(p, k, 1, m.Z, 256) // |sum/count| <= 255: no cap
	}
	row, col, done := name+"_row", name+"_col", name+"_done"
	c.IMUL3Q(i32(m.OW*m.C), oy, t)
	c.ADDQ(t, py)
	c.Label(row)
	c.CMPQ(oy, s1)
	c.JGE(operand.LabelRef(done))
	c.XORQ(ox, ox)
	c.Label(col)
	// The window's first tap, the bytes its rows and columns span, and its
	// class pair's constants.
	c.LEAQ(operand.Mem{Base: oy, Index: oy, Scale: 2}, t)
	c.MOVL(operand.Mem{Base: tb, Index: t, Scale: 4}, base.As32())
	c.MOVL(operand.Mem{Base: tb, Index: t, Scale: 4, Disp: 4}, nh.As32())
	if m.Avg {
		c.MOVL(operand.Mem{Base: tb, Index: t, Scale: 4, Disp: 8}, rowEnd.As32())
	}
	c.LEAQ(operand.Mem{Base: ox, Index: ox, Scale: 2}, t)
	c.MOVL(operand.Mem{Base: tb, Index: t, Scale: 4, Disp: 12 * m.OH}, colEnd.As32())
	c.ADDQ(colEnd, base)
	c.ADDQ(px, base)
	c.MOVL(operand.Mem{Base: tb, Index: t, Scale: 4, Disp: 12*m.OH + 4}, nw.As32())
	if m.Avg {
		c.ADDL(operand.Mem{Base: tb, Index: t, Scale: 4, Disp: 12*m.OH + 8}, rowEnd.As32())
		c.VPBROADCASTD(operand.Mem{Base: tb, Index: rowEnd, Scale: 8, Disp: clsOff}, reg.Y12)
		c.VBROADCASTSS(operand.Mem{Base: tb, Index: rowEnd, Scale: 8, Disp: clsOff + 4}, reg.Y13)
	}
	// The sums' registers: int32 lanes in Y0..Y3, uint16 ones in Y5..Y8
	// (widened into Y0..Y3 per 32 channels), codes in Y0..Y7.
	acc, lanes := ymm[0:], 32
	switch {
	case m.sums16():
		acc, lanes = ymm[5:], 16
	case m.Avg:
		lanes = 8
	}
	tmp := []reg.VecPhysical{reg.Y9, reg.Y10, reg.Y11, reg.Y14}
	for g := 0; g < m.C; g += m.group() {
		n := min(m.group(), m.C-g)
		v := (n + lanes - 1) / lanes
		for i := range v {
			c.VPXOR(acc[i], acc[i], acc[i])
		}
		lpy, lpx := fmt.Sprintf("%s_y%d", name, g), fmt.Sprintf("%s_x%d", name, g)
		c.MOVQ(base, rp)
		c.LEAQ(operand.Mem{Base: base, Index: nh, Scale: 1}, rowEnd)
		c.Label(lpy)
		c.MOVQ(rp, rq)
		c.LEAQ(operand.Mem{Base: rp, Index: nw, Scale: 1}, colEnd)
		c.Label(lpx)
		for i := range v {
			switch {
			case m.sums16():
				c.VPMOVZXBW(mem(rq, g+16*i), tmp[i%4])
				c.VPADDW(tmp[i%4], acc[i], acc[i])
			case m.Avg:
				c.VPMOVZXBD(mem(rq, g+8*i), tmp[i%4])
				c.VPADDD(tmp[i%4], acc[i], acc[i])
			default:
				// The max from 0: codes are >= 0, padding never wins.
				c.VPMAXUB(mem(rq, g+32*i), acc[i], acc[i])
			}
		}
		c.ADDQ(i32(colStep), rq)
		c.CMPQ(rq, colEnd)
		c.JLT(operand.LabelRef(lpx))
		c.ADDQ(i32(rowStep), rp)
		c.CMPQ(rp, rowEnd)
		c.JLT(operand.LabelRef(lpy))
		if m.Avg {
			// Per 32 channels: sum(q - z) = sum(q) - count*z, times
			// float32(1/count).
			for h := 0; h < n; h += 32 {
				nh := min(32, n-h)
				for j := range (nh + 7) / 8 {
					if m.sums16() {
						a := acc[(h+8*j)/16]
						if j%2 == 0 {
							c.VPMOVZXWD(a.AsX(), ymm[j])
						} else {
							c.VEXTRACTI128(operand.U8(1), a, ymm[j].AsX())
							c.VPMOVZXWD(ymm[j].AsX(), ymm[j])
						}
					}
					c.VPSUBD(reg.Y12, ymm[j], ymm[j])
					rq8.pk.scale(ymm[j], reg.Y13, nil)
				}
				rq8.store(nh, mem(py, g+h), t)
			}
			continue
		}
		for i := range v {
			storeBytes(c, acc[i], min(32, n-32*i), mem(py, g+32*i), t)
		}
	}
	poolTail(c, py, ox, oy, m.C, m.OW, col, row, done)
	return nil
}

// poolTail ends a pool kernel's loops: the output pointer p steps over a
// pixel's c channels to the next of ow columns, then the next row; done
// returns.
func poolTail(c *build.Context, p, ox, oy reg.GPPhysical, ch, ow int, col, row, done string) {
	nextPixel(c, p, ox, ch, ow, col)
	nextRow(c, oy, row, done)
}

// nextRow loops to row for the next output row; done returns.
func nextRow(c *build.Context, oy reg.GPPhysical, row, done string) {
	c.INCQ(oy)
	c.JMP(operand.LabelRef(row))
	c.Label(done)
	c.VZEROUPPER()
	c.RET()
}

// nextPixel steps the output pointer p over a pixel's ch channels and loops
// to col while ox is below end.
func nextPixel(c *build.Context, p, ox reg.GPPhysical, ch, end int, col string) {
	c.ADDQ(i32(ch), p)
	c.INCQ(ox)
	c.CMPQ(ox, i32(end))
	c.JLT(operand.LabelRef(col))
}

// classes numbers the distinct (valid taps, count) pairs of an axis's
// windows in order of appearance.
func classes(as []poolAxis) []int {
	ids := map[[2]int]int{}
	out := make([]int, len(as))
	for i, a := range as {
		k := [2]int{a.n, a.div}
		id, ok := ids[k]
		if !ok {
			id = len(ids)
			ids[k] = id
		}
		out[i] = id
	}
	return out
}

// Slice copies channels [Start, Start+C) of each pixel of XC channels, Rows
// rows of RW pixels.
type Slice struct {
	XC, Start, C int
	Rows, RW     int
}

// Units is the kernel's work count (rows).
func (s *Slice) Units() int { return s.Rows }

const sliceSig = "func(x, y *byte, s0, s1 int)"

// Slice adds a channel-slice kernel: 32 bytes at a time per pixel, the last
// piece stored byte-exact (loads read up to 31 bytes past a pixel's slice).
func (p *Program) Slice(name string, s *Slice) error {
	if s.XC < 1 || s.C < 1 || s.Start < 0 || s.Start+s.C > s.XC || s.Rows < 1 || s.RW < 1 || s.Rows*s.RW*s.XC > 1<<30 {
		return fmt.Errorf("asmgen: slice of %d channels from %d of %d, %d rows of %d", s.C, s.Start, s.XC, s.Rows, s.RW)
	}
	if err := p.function(name, sliceSig, fmt.Sprintf("%s: channels %d to %d of %d.", name, s.Start, s.Start+s.C, s.XC)); err != nil {
		return err
	}
	c := p.ctx
	px, py, s0, s1 := reg.RAX, reg.RCX, reg.RSI, reg.RDI
	loadArgs(c, "x y s0 s1", px, py, s0, s1)
	if s.Start > 0 {
		c.ADDQ(i32(s.Start), px)
	}
	pixelLoop(c, name, s.RW, s0, s1, []reg.Register{px, py}, []int{s.XC, s.C}, func() {
		chunks(c, name+"_c", s.C, ByteBlock, []reg.GPPhysical{px, py}, func(k int) {
			c.VMOVDQU(mem(reg.R10, 0), reg.Y0)
			storeBytes(c, reg.Y0, k, mem(reg.R11, 0), reg.RDX)
		})
	})
	c.VZEROUPPER()
	c.RET()
	return nil
}

// ChannelMax is the max over each pixel's C channels, Rows rows of RW
// pixels: one byte a pixel (the input's qparams kept).
type ChannelMax struct {
	C, Rows, RW int
}

// Units is the kernel's work count (rows).
func (m *ChannelMax) Units() int { return m.Rows }

// ChannelMax adds a channel-max kernel: per pixel, VPMAXUB over its
// channels 32 at a time (the last piece masked to its bytes: loads read up
// to 31 bytes past a pixel), then over the 32 lanes.
func (p *Program) ChannelMax(name string, m *ChannelMax) error {
	if m.C < 1 || m.Rows < 1 || m.RW < 1 || m.Rows*m.RW*m.C > 1<<30 {
		return fmt.Errorf("asmgen: channel max of %d channels, %d rows of %d", m.C, m.Rows, m.RW)
	}
	if err := p.function(name, sliceSig, fmt.Sprintf("%s: max over %d channels.", name, m.C)); err != nil {
		return err
	}
	c := p.ctx
	px, py, s0, s1 := reg.RAX, reg.RCX, reg.RSI, reg.RDI
	loadArgs(c, "x y s0 s1", px, py, s0, s1)
	full, tail := m.C/32, m.C%32
	if tail > 0 {
		w := make([]uint32, 8)
		for i := range tail {
			w[i/4] |= 0xFF << (8 * (i % 4))
		}
		c.VMOVDQU(newConsts(p, name, avx2Design).vec(w...), reg.Y2)
	}
	x0, x1 := reg.Y0.AsX(), reg.Y1.AsX()
	pixelLoop(c, name, m.RW, s0, s1, []reg.Register{px, py}, []int{m.C, 1}, func() {
		c.VPXOR(reg.Y0, reg.Y0, reg.Y0)
		for i := range full {
			c.VPMAXUB(mem(px, 32*i), reg.Y0, reg.Y0)
		}
		if tail > 0 {
			c.VPAND(mem(px, 32*full), reg.Y2, reg.Y1)
			c.VPMAXUB(reg.Y1, reg.Y0, reg.Y0)
		}
		c.VEXTRACTI128(operand.U8(1), reg.Y0, x1)
		c.VPMAXUB(x1, x0, x0)
		for _, sh := range []uint8{8, 4, 2, 1} {
			c.VPSRLDQ(operand.U8(sh), x0, x1)
			c.VPMAXUB(x1, x0, x0)
		}
		c.VPEXTRB(operand.U8(0), x0, mem(py, 0))
	})
	c.VZEROUPPER()
	c.RET()
	return nil
}
