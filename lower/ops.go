package lower

import (
	"errors"
	"fmt"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
)

// The checks of the kinds that once had no assembly kernel: tables,
// products, channel moves, average pooling and the convs and max pools of
// any window.

// maxWin bounds a window's kernel, stride, dilation and padding, as checkConv
// does a square one's: a patch of KH*KW taps stays a stack array.
const maxWin = 64

// maxAvgWin bounds an average pool's kernel instead: its kernels keep no
// patch, and a window of 1024x1024 codes of 255 sums within int32. A global
// pool over a 112x112 map (EfficientNet's first squeeze-excitation at 224)
// is such a window.
const maxAvgWin = 1024

// MaxMeanPixels bounds the pixels of a Mean's assembly: sums of codes up to
// 255 stay exact in float32 (asmgen.Mean).
const MaxMeanPixels = 1 << 23 / 255

// checkWindow checks w's fields; pool also wants every pad below the
// dilated kernel (a pool window never lies wholly in the padding), avg the
// larger kernel bound.
func checkWindow(w *ir.Window, pool, avg bool) error {
	kmax := maxWin
	if avg {
		kmax = maxAvgWin
	}
	for _, v := range []int{w.KH, w.KW} {
		if v < 1 || v > kmax {
			return fmt.Errorf("window %+v: kernel must be in [1, %d]", *w, kmax)
		}
	}
	for _, v := range []int{w.SH, w.SW, w.DH, w.DW} {
		if v < 1 || v > maxWin {
			return fmt.Errorf("window %+v: stride and dilation must be in [1, %d]", *w, maxWin)
		}
	}
	for _, p := range []int{w.PadT, w.PadL, w.PadB, w.PadR} {
		if p < 0 || p > maxWin {
			return fmt.Errorf("window %+v: padding must be in [0, %d]", *w, maxWin)
		}
	}
	if pool && (w.PadT > (w.KH-1)*w.DH || w.PadB > (w.KH-1)*w.DH || w.PadL > (w.KW-1)*w.DW || w.PadR > (w.KW-1)*w.DW) {
		return fmt.Errorf("window %+v: a pool's padding must be below its kernel", *w)
	}
	return nil
}

// covers reports whether each of the n outputs along an axis of a window
// (kernel k, stride s, leading pad p, dilation d) over in elements has a tap
// inside the input: a max pool's window never is all padding.
func covers(n, k, s, p, d, in int) bool {
	for o := range n {
		ok := false
		for t := range k {
			if i := o*s - p + t*d; i >= 0 && i < in {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// describePool describes a max pool of any window (kind WindowPool) or an
// average pool: qparams passed through, every window covering some input.
func (l *Layer) describePool(kind Kind) error {
	p := l.Node.Pool
	if p == nil || len(l.X.Shape) != 3 {
		return errors.New("pool without a window or on a flat input")
	}
	l.Geom = p.Spec()
	w := &l.Geom.Window
	if err := checkWindow(w, true, kind == AvgPool); err != nil {
		return err
	}
	if kind == AvgPool && (w.DH != 1 || w.DW != 1) {
		return errors.New("average pool with dilation")
	}
	oh, ow := w.OutSize(l.XD.H, l.XD.W, l.Geom.Ceil)
	if l.X.Zero != l.Y.Zero || l.X.Scale != l.Y.Scale || oh < 1 || ow < 1 || l.YD != (Dims{l.XD.C, oh, ow}) ||
		!covers(oh, w.KH, w.SH, w.PadT, w.DH, l.XD.H) || !covers(ow, w.KW, w.SW, w.PadL, w.DW, l.XD.W) {
		return fmt.Errorf("pool %+v from %v to %v", l.Geom, l.X.Shape, l.Y.Shape)
	}
	l.Kind = kind
	if kind == AvgPool && oh == 1 && ow == 1 && w.KH == l.XD.H && w.KW == l.XD.W && w.PadT == 0 && w.PadL == 0 &&
		l.XD.H*l.XD.W <= MaxMeanPixels {
		// A global pool (squeeze-excitation's) is a Mean: one window of H*W
		// pixels, sum - H*W*z times float32(1/(H*W)), as AvgPoolQ computes it,
		// on the mean's assembly.
		l.Kind = Mean
	}
	return nil
}

// checkWindowConv checks a conv of any window and group count.
func checkWindowConv(c *compiler.Conv, x, y Dims) error {
	if c.Groups < 1 || c.InC < 1 || c.OutC < 1 || c.InC%c.Groups != 0 || c.OutC%c.Groups != 0 {
		return fmt.Errorf("bad geometry: %d -> %d channels, groups %d", c.InC, c.OutC, c.Groups)
	}
	w := c.Geom
	if err := checkWindow(w, false, false); err != nil {
		return err
	}
	oh, ow := w.OutSize(x.H, x.W, false)
	if x.C != c.InC || oh < 1 || ow < 1 || y != (Dims{c.OutC, oh, ow}) {
		return fmt.Errorf("conv %d -> %d, window %+v does not map %v to %v", c.InC, c.OutC, *w, x, y)
	}
	return checkParams(c, c.OutC*c.InC/c.Groups*w.Taps())
}

// describeTable: one table, or one per channel.
func (l *Layer) describeTable() error {
	t := l.Node.Table
	if t == nil {
		return errors.New("table missing")
	}
	if len(t.T) != 256 && len(t.T) != 256*l.XD.C || l.XD != l.YD {
		return fmt.Errorf("table of %d entries from %v to %v", len(t.T), l.X.Shape, l.Y.Shape)
	}
	l.Kind = Table
	return nil
}

// PlaneMul reports a Mul whose X2 is one plane [1,H,W] that multiplies each
// of X's channels (spatial attention).
func (l *Layer) PlaneMul() bool { return l.X2 != nil && ir.PlaneMul(l.X.Shape, l.X2.Shape) }

// describeMul: X2 has X's shape or is [C,1,1] (squeeze-excitation) or
// [1,H,W] (spatial attention).
func (l *Layer) describeMul(tensor func(int) (*compiler.Tensor, error), checkQ func(*compiler.Tensor) error) error {
	x2, err := l.second(tensor, checkQ)
	if err != nil {
		return err
	}
	if m := l.Node.Mul; m == nil || !finite32(m.M) || l.YD != l.XD || x2 != l.XD && x2 != (Dims{l.XD.C, 1, 1}) && !l.PlaneMul() {
		return fmt.Errorf("mul of %v and %v to %v", l.X.Shape, l.X2.Shape, l.Y.Shape)
	}
	l.Kind = Mul
	return nil
}

// describeConcat: inputs of Y's plane whose channels add up to Y's.
func (l *Layer) describeConcat(tensor func(int) (*compiler.Tensor, error), checkQ func(*compiler.Tensor) error) error {
	c := l.Node.Concat
	if c == nil || len(c.M) != len(l.Node.In) {
		return errors.New("concat without a multiplier per input")
	}
	ch := 0
	for i, id := range l.Node.In {
		x, err := tensor(id)
		if err != nil {
			return err
		}
		if err := checkQ(x); err != nil {
			return err
		}
		d, err := tensorDims(x)
		if err != nil {
			return err
		}
		// A [C,1,1] input of a [C'] concat (a global max pool flattened,
		// an alias) holds its bytes as a [C] one does.
		flat := d.H == 1 && d.W == 1
		if d.H != l.YD.H || d.W != l.YD.W || len(x.Shape) != len(l.Y.Shape) && !flat || !finite32(c.M[i]) || c.M[i] < 0 {
			return fmt.Errorf("concat input %d: %v (multiplier %v) into %v", i, x.Shape, c.M[i], l.Y.Shape)
		}
		ch += d.C
		l.Xs = append(l.Xs, x)
	}
	if ch != l.YD.C {
		return fmt.Errorf("concat of %d channels into %v", ch, l.Y.Shape)
	}
	l.Kind = Concat
	return nil
}

// describeMove: a slice or a shuffle, qparams passed through.
func (l *Layer) describeMove() error {
	nd := l.Node
	if l.X.Zero != l.Y.Zero || l.X.Scale != l.Y.Scale {
		return errors.New("a channel move changes the qparams")
	}
	if nd.Kind == compiler.KSlice {
		s := nd.Slice
		if s == nil || s.Start < 0 || s.Start >= s.End || s.End > l.XD.C || l.YD != (Dims{s.End - s.Start, l.XD.H, l.XD.W}) {
			return fmt.Errorf("slice %+v from %v to %v", s, l.X.Shape, l.Y.Shape)
		}
		l.Kind = Slice
		return nil
	}
	seen := make([]bool, l.XD.C)
	for _, p := range nd.Perm {
		if p < 0 || p >= len(seen) || seen[p] {
			return fmt.Errorf("shuffle %v is not a permutation of %d channels", nd.Perm, l.XD.C)
		}
		seen[p] = true
	}
	if len(nd.Perm) != l.XD.C || l.YD != l.XD {
		return fmt.Errorf("shuffle of %d channels from %v to %v", len(nd.Perm), l.X.Shape, l.Y.Shape)
	}
	l.Kind = Shuffle
	return nil
}

// second reads the layer's second input (X2) and its dims.
func (l *Layer) second(tensor func(int) (*compiler.Tensor, error), checkQ func(*compiler.Tensor) error) (Dims, error) {
	var err error
	if l.X2, err = tensor(l.Node.In[1]); err != nil {
		return Dims{}, err
	}
	if err := checkQ(l.X2); err != nil {
		return Dims{}, err
	}
	return tensorDims(l.X2)
}
