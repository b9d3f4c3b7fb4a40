package asmgen

import (
	"fmt"

	"github.com/ptqc/ptqc/ir"
)

// The geometry of a dense layer's window. The square one (K, Stride, Pad)
// gives the numbers it always had; any other (Dense.Win: KH x KW taps,
// per-axis strides, per-side pads, dilation) reads the same padded input,
// whose border on every side is the largest pad (lower's Pad.Border): the
// taps of output pixel (0, 0) start at padded pixel (B-PadT, B-PadL).

// geom is the layer's window.
func (d *Dense) geom() ir.Window {
	if d.Win != nil {
		return *d.Win
	}
	return ir.SquareWindow(d.K, d.Stride, d.Pad)
}

// taps is the number of kernel positions.
func (d *Dense) taps() int {
	w := d.geom()
	return w.Taps()
}

// border is the zero-point border of the padded input.
func (d *Dense) border() int {
	w := d.geom()
	return w.MaxPad()
}

// padW is the padded input's width in pixels.
func (d *Dense) padW() int { return d.W + 2*d.border() }

// origin is the byte offset, from padded pixel (SH*oy, SW*ox), of the first
// tap of output pixel (oy, ox).
func (d *Dense) origin() int {
	w, b := d.geom(), d.border()
	return ((b-w.PadT)*d.padW() + b - w.PadL) * d.InStride
}

// tapOffsets is the byte offset of each tap (row-major) from padded pixel
// (SH*oy, SW*ox).
func (d *Dense) tapOffsets() []int {
	w, wp, px := d.geom(), d.padW(), d.InStride
	var offs []int
	for ky := 0; ky < w.KH; ky++ {
		for kx := 0; kx < w.KW; kx++ {
			offs = append(offs, d.origin()+(ky*w.DH*wp+kx*w.DW)*px)
		}
	}
	return offs
}

// rowBytes is the input bytes between neighbouring output rows, pixBytes
// between neighbouring output pixels of a row.
func (d *Dense) rowBytes() int { return d.geom().SH * d.padW() * d.InStride }
func (d *Dense) pixBytes() int { return d.geom().SW * d.InStride }

// spanBytes is the bytes from an output row's padded pixel (SH*oy, 0) to the
// end of the last input row its taps read.
func (d *Dense) spanBytes() int {
	w := d.geom()
	return d.origin() + ((w.KH-1)*w.DH+1)*d.padW()*d.InStride
}

// geomText describes the window in the kernels' comments.
func (d *Dense) geomText() string {
	if d.Win == nil {
		return fmt.Sprintf("%dx%d stride %d pad %d", d.K, d.K, d.Stride, d.Pad)
	}
	return windowText(d.Win)
}

func windowText(w *ir.Window) string {
	s := fmt.Sprintf("%dx%d stride %dx%d pads %d,%d,%d,%d", w.KH, w.KW, w.SH, w.SW, w.PadT, w.PadL, w.PadB, w.PadR)
	if w.DH != 1 || w.DW != 1 {
		s += fmt.Sprintf(" dilation %dx%d", w.DH, w.DW)
	}
	return s
}

// checkWin checks a window layer's geometry: its output is the window's.
func (d *Dense) checkWin() error {
	w := d.Win
	if w == nil {
		return nil
	}
	for _, v := range []int{w.KH, w.KW, w.SH, w.SW, w.DH, w.DW} {
		if v < 1 {
			return fmt.Errorf("asmgen: dense window %s", windowText(w))
		}
	}
	if min(w.PadT, w.PadL, w.PadB, w.PadR) < 0 {
		return fmt.Errorf("asmgen: dense window %s", windowText(w))
	}
	if oh, ow := w.OutSize(d.H, d.W, false); oh != d.OH || ow != d.OW || oh < 1 || ow < 1 {
		return fmt.Errorf("asmgen: dense window %s maps %dx%d to %dx%d, not %dx%d", windowText(w), d.H, d.W, oh, ow, d.OH, d.OW)
	}
	return nil
}

// A depthwise layer reads its input unpadded: any window only changes which
// taps are valid per output row and column (runs, with dilation) and their
// offsets.

// geom is the layer's window.
func (d *Depthwise) geom() ir.Window {
	if d.Win != nil {
		return *d.Win
	}
	return ir.SquareWindow(d.K, d.Stride, d.Pad)
}

// geomText describes the window in the kernels' comments.
func (d *Depthwise) geomText() string {
	if d.Win == nil {
		return fmt.Sprintf("%dx%d stride %d pad %d", d.K, d.K, d.Stride, d.Pad)
	}
	return windowText(d.Win)
}

// checkWin checks a window layer's geometry.
func (d *Depthwise) checkWin() error {
	w := d.Win
	oh, ow := w.OutSize(d.H, d.W, false)
	if d.C < 1 || d.H < 1 || d.W < 1 || min(w.KH, w.KW, w.SH, w.SW, w.DH, w.DW) < 1 || min(w.PadT, w.PadL, w.PadB, w.PadR) < 0 ||
		oh != d.OH || ow != d.OW || oh < 1 || ow < 1 {
		return fmt.Errorf("asmgen: depthwise C%d %s maps %dx%d to %dx%d, not %dx%d", d.C, windowText(w), d.H, d.W, oh, ow, d.OH, d.OW)
	}
	return nil
}

// slides says whether the quad path may keep packed kernel columns in
// registers along a row: one register set per column (at most 4 fit), and
// column kx+SW of one pixel is column kx of the next only without dilation.
func (g *dwGen) slides() bool { return g.w.KW <= 4 && g.w.DW == 1 }

// A max pool of a window without dilation clips each window to the input
// per axis with its own kernel, stride and leading pad.

// geom is the pool's window.
func (m *MaxPool) geom() ir.Window {
	if m.Win != nil {
		return *m.Win
	}
	return ir.SquareWindow(m.K, m.S, m.P)
}

// checkWin checks a window pool: no dilation, its output size, and every
// window holding an input pixel (the kernel starts the max from one).
func (m *MaxPool) checkWin() error {
	w := m.Win
	ok := m.C >= 1 && m.H >= 1 && m.W >= 1 && m.H*m.W*m.C <= 1<<30 && w.DH == 1 && w.DW == 1 &&
		min(w.KH, w.KW, w.SH, w.SW) >= 1 && min(w.PadT, w.PadL, w.PadB, w.PadR) >= 0
	if oh, ow := w.OutSize(m.H, m.W, m.Ceil); !ok || oh != m.OH || ow != m.OW || oh < 1 || ow < 1 {
		return fmt.Errorf("asmgen: max pool %s of %d channels, %dx%d to %dx%d", windowText(w), m.C, m.H, m.W, m.OH, m.OW)
	}
	covered := func(n, k, s, p, size int) bool {
		for o := range n {
			if lo, hi := max(o*s-p, 0), min(o*s-p+k, size); lo >= hi {
				return false
			}
		}
		return true
	}
	if !covered(m.OH, w.KH, w.SH, w.PadT, m.H) || !covered(m.OW, w.KW, w.SW, w.PadL, m.W) {
		return fmt.Errorf("asmgen: max pool %s over %dx%d has a window of padding only", windowText(w), m.H, m.W)
	}
	return nil
}
