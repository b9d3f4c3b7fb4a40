package lower

import (
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
)

// Convs of any other window than a square one (compiler.Conv.Geom:
// rectangular, per-axis strides, per-side pads, dilation) run the Dense or
// Depthwise kernels where those take the window (Kind Dense or Depthwise
// with Geom set, Windowed), and WindowConv's portable kernel otherwise.

// windowKind is the kind of a conv with a window c.Geom.
func windowKind(c *compiler.Conv) Kind {
	switch c.Class() {
	case ir.ConvDense:
		return Dense
	case ir.ConvDepthwise:
		return Depthwise
	}
	return WindowConv
}

// Windowed says whether l is a conv whose window is not the square one of
// Kernel, Stride and Pad, or a MaxPool whose window is not square with pads
// at most half the kernel: its geometry is l.Geom.Window.
func (l *Layer) Windowed() bool {
	if l.Kind == MaxPool {
		k, _, p, ok := l.Geom.Square()
		return !ok || 2*p > k
	}
	return l.Node.Conv != nil && l.Node.Conv.Geom != nil
}

// border is the zero-point border of a Dense layer's padded input: the
// largest pad of its window, on every side (a window's kernel starts its
// taps where its own top and left pads start).
func border(c *compiler.Conv) int {
	w := c.Window()
	return w.MaxPad()
}
