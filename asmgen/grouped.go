package asmgen

import (
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/lower"
)

// GroupedDense is the dense layer a grouped conv (groups > 1, not depthwise)
// runs as on every tier (lower.GroupCols): Span input channels, all OutC
// output channels, the weights of lower.ExpandGrouped. Its kernel is called
// once per column block b with the input at channel b*Span and the block's
// column units, [b*Units, min((b+1)*Units, Cols())). The zeros between groups
// make it exact with the same paths as any dense layer: Path and the
// overflow bound see the expanded weights the kernel multiplies.
//
// in is the input's pixel stride (the padded stride when the conv has a
// window or stride, the channel count when it reads in place); xmax the
// largest input code.
func GroupedDense(c *compiler.Conv, h, w, oh, ow, in int, zIn, xmax int32, rq Requant) *Dense {
	gc := lower.GroupColsOf(c.InC, c.OutC, c.Groups)
	return &Dense{Cin: gc.Span, Cout: c.OutC, K: c.Kernel, Stride: c.Stride, Pad: c.Pad,
		H: h, W: w, OH: oh, OW: ow, InStride: in, OutStride: c.OutC, ZIn: zIn, XMax: xmax,
		Weight: lower.ExpandGrouped(c.Weight, c.InC, c.OutC, c.Groups, c.Kernel), Requant: rq}
}
