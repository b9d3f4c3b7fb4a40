package lower

import "github.com/ptqc/ptqc/compiler"

// Weight packing: the order each layer kind's kernel reads its int8 weights in.
// Change a kind's order here (and its kernel) and nothing else moves.
//
// Every packer also returns the int32 accumulator starts -z_x * sum(w[o])
// (ZeroFold; wrapping, like the kernels' int32 accumulators), so that kernels
// compute sum(q_x * w) + start with padding taps reading z_x.

// Quads is the number of 4-channel groups a dense layer's packing has per tap.
func Quads(cin int) int { return (cin + 3) / 4 }

// PackDense packs the weights of a dense layer (groups = 1: pointwise, k x k,
// linear; OutC x InC x k x k as compiler.Conv holds them) for the u8 x s8
// GEMM every tier computes: units of 16 output channels, each a run of quads,
// W[u][q][c][i] = w[16u+c][4q+i], where the reduction index runs over the
// taps (ky, kx), then the input channels padded to 4*Quads(InC). Zero where
// 16u+c or the channel is padding. A quad of a unit is 64 contiguous bytes:
// one zmm load against 4 broadcast input bytes, two ymm loads of 8 channels
// (its halves), one row of an AMX B tile of 16 columns.
func PackDense(w []int8, cin, cout, k int) []int8 { return PackDenseTaps(w, cin, cout, k*k) }

// PackDenseTaps is PackDense for a window of any taps (KH*KW, row-major as
// compiler.Conv holds them).
func PackDenseTaps(w []int8, cin, cout, taps int) []int8 {
	nq := Quads(cin)
	kq := taps * nq // quads per output channel
	p := make([]int8, (cout+15)/16*16*kq*4)
	for o := 0; o < cout; o++ {
		u, c := o/16, o%16
		for t := 0; t < taps; t++ {
			for ci := 0; ci < cin; ci++ {
				p[(u*kq+t*nq+ci/4)*64+c*4+ci%4] = w[(o*cin+ci)*taps+t]
			}
		}
	}
	return p
}

// packPointwise packs a 1x1 conv or a linear layer (PackDense).
func packPointwise(c *compiler.Conv, zx int32) ([]int8, []int32) {
	return PackDense(c.Weight, c.InC, c.OutC, 1), foldBias(c, zx)
}

// PackDepthwise packs a depthwise conv's weights (C x 1 x k x k) tap-major:
// k*k rows of C weights, so a kernel multiplies a pixel's C contiguous
// channels by one row.
func PackDepthwise(w []int8, c, k int) []int8 { return PackDepthwiseTaps(w, c, k*k) }

// PackDepthwiseTaps is PackDepthwise for a window of any taps (KH*KW).
func PackDepthwiseTaps(w []int8, c, kk int) []int8 {
	p := make([]int8, kk*c)
	for o := 0; o < c; o++ {
		for t := 0; t < kk; t++ {
			p[t*c+o] = w[o*kk+t]
		}
	}
	return p
}

func packDepthwise(c *compiler.Conv, zx int32) ([]int8, []int32) {
	w := c.Window()
	return PackDepthwiseTaps(c.Weight, c.OutC, w.Taps()), foldBias(c, zx)
}

// packConv packs a conv with one group, of a square window or any other,
// like a pointwise one (PackDense).
func packConv(c *compiler.Conv, zx int32) ([]int8, []int32) {
	w := c.Window()
	return PackDenseTaps(c.Weight, c.InC, c.OutC, w.Taps()), foldBias(c, zx)
}

// packTable puts a Table layer's 256-entry tables (one, or one per channel,
// each 256 bytes) in the weight section as they are, bytes read as int8: a
// kernel loads one byte per input byte and needs no other section.
func packTable(t *compiler.Table) []int8 {
	w := make([]int8, len(t.T))
	for i, v := range t.T {
		w[i] = int8(v)
	}
	return w
}

// foldBias is ZeroFold of a conv's weights.
func foldBias(c *compiler.Conv, zx int32) []int32 { return ZeroFold(c.Weight, c.OutC, zx) }

// ZeroFold is -zx * sum(w[o]) for each of the n equal rows of w (in any order
// within a row), in wrapping int32 arithmetic: the exact integer part of
// sum((q_x - z_x) * w[o]) that a kernel's accumulators start from, so that they
// multiply raw q_x. The float bias is added after scaling, never here.
func ZeroFold(w []int8, n int, zx int32) []int32 {
	per := len(w) / n
	b := make([]int32, n)
	for o := range b {
		var s int32
		for _, v := range w[o*per : (o+1)*per] {
			s += int32(v)
		}
		b[o] = -zx * s
	}
	return b
}

// pack packs every layer's parameters, places them in the weight and bias
// sections (each layer's at a multiple of Align bytes) and returns the
// sections' lengths: int8 weights and int32 accumulator starts.
func pack(ls []*Layer) (wLen, bCount int) {
	for _, l := range ls {
		c := l.Node.Conv
		switch l.Kind {
		case Pointwise:
			l.W, l.B = packPointwise(c, l.X.Zero)
		case Depthwise:
			l.W, l.B = packDepthwise(c, l.X.Zero)
		case Dense:
			if l.Im2col {
				w := c.Window()
				l.W, l.B = PackIm2col(c.Weight, c.InC, c.OutC, w.Taps()), foldBias(c, l.X.Zero)
			} else {
				l.W, l.B = packConv(c, l.X.Zero)
			}
		case Grouped:
			l.W, l.B = packGrouped(c, l.X.Zero)
		case Table:
			l.W = packTable(l.Node.Table)
		default:
			continue
		}
		l.WOff = wLen
		wLen += roundUp(len(l.W), Align)
		l.BOff = bCount
		bCount += roundUp(len(l.B), Align/4)
	}
	return wLen, bCount
}
