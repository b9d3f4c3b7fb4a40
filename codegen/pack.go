package codegen

import (
	"encoding/binary"

	"github.com/ptqc/ptqc/compiler"
)

// Weight packing: the order each layer kind's kernel reads its int8 weights in.
// Change a kind's order here (and its kernel) and nothing else moves.
//
// Every packer also returns the int32 biases with -z_x * sum(w[o]) folded in
// (wrapping, like the kernels' int32 accumulators), so that kernels compute
// sum(q_x * w) + bias' with padding taps reading z_x.

// packPointwise packs a 1x1 conv or a linear layer as OutC rows of InC weights.
func packPointwise(c *compiler.Conv, zx int32) ([]int8, []int32) {
	return append([]int8(nil), c.Weight...), foldBias(c, zx)
}

// packDepthwise packs a depthwise conv tap-major: K*K rows of C weights, so a
// kernel multiplies a pixel's C contiguous channels by one row.
func packDepthwise(c *compiler.Conv, zx int32) ([]int8, []int32) {
	kk := c.Kernel * c.Kernel
	w := make([]int8, kk*c.OutC)
	for o := 0; o < c.OutC; o++ {
		for t := 0; t < kk; t++ {
			w[t*c.OutC+o] = c.Weight[o*kk+t]
		}
	}
	return w, foldBias(c, zx)
}

// packConv packs a general conv as OutC x K x K x InC/Groups (OHWI), the order
// of the NHWC patch its kernel gathers.
func packConv(c *compiler.Conv, zx int32) ([]int8, []int32) {
	kk, icg := c.Kernel*c.Kernel, c.InC/c.Groups
	w := make([]int8, len(c.Weight))
	for o := 0; o < c.OutC; o++ {
		for i := 0; i < icg; i++ {
			for t := 0; t < kk; t++ {
				w[(o*kk+t)*icg+i] = c.Weight[(o*icg+i)*kk+t]
			}
		}
	}
	return w, foldBias(c, zx)
}

// foldBias is b[o] - z_x * sum(w[o]) in wrapping int32 arithmetic.
func foldBias(c *compiler.Conv, zx int32) []int32 {
	per := len(c.Weight) / c.OutC
	b := make([]int32, c.OutC)
	for o := range b {
		var s int32
		for _, v := range c.Weight[o*per : (o+1)*per] {
			s += int32(v)
		}
		b[o] = c.Bias[o] - zx*s
	}
	return b
}

// weightsFile is weights.bin: Header and a newline, zero-padded to align bytes,
// then the int8 weights of every conv and linear layer in node order, each layer
// starting at a multiple of align, then their int32 little-endian biases, each
// layer starting at a multiple of align/4.
type weightsFile struct {
	data         []byte
	wLen, bCount int // int8 weights (with padding) and int32 biases (with padding)
}

// headerLen is where weights.bin's data starts.
const headerLen = align

// pack packs every layer's parameters and assembles weights.bin.
func pack(ls []*layer) *weightsFile {
	f := &weightsFile{}
	for _, l := range ls {
		c := l.Node.Conv
		switch l.Kind {
		case kPointwise:
			l.W, l.B = packPointwise(c, l.X.Zero)
		case kDepthwise:
			l.W, l.B = packDepthwise(c, l.X.Zero)
		case kConv:
			l.W, l.B = packConv(c, l.X.Zero)
		default:
			continue
		}
		l.WOff = f.wLen
		f.wLen += roundUp(len(l.W), align)
		l.BOff = f.bCount
		f.bCount += roundUp(len(l.B), align/4)
	}
	f.data = make([]byte, headerLen+f.wLen+4*f.bCount)
	copy(f.data, Header+"\n")
	w := f.data[headerLen:]
	b := f.data[headerLen+f.wLen:]
	for _, l := range ls {
		for i, v := range l.W {
			w[l.WOff+i] = byte(v)
		}
		for i, v := range l.B {
			binary.LittleEndian.PutUint32(b[4*(l.BOff+i):], uint32(v))
		}
	}
	return f
}
