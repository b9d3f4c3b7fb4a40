package lower

import "github.com/ptqc/ptqc/compiler"

// Convs of any other window than a square one (compiler.Conv.Geom:
// rectangular, per-axis strides, per-side pads, dilation) run the Dense,
// Depthwise or Grouped kernels, which take the window (their kind with Geom
// set, Windowed).

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
