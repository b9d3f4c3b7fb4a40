package lower

import "github.com/ptqc/ptqc/compiler"

// A grouped conv (groups > 1, not depthwise) runs as the dense u8 x s8 GEMM of
// PackDense, one call per column block: a column block is the fewest whole
// groups that fill whole 16-channel units of output channels (lcm(16, OutC/G)
// output channels, the last block maybe fewer), and it reads only the input
// channels of its groups, Span contiguous channels from Block*Span. Its
// weights are its groups' laid side by side over the span, zero where an
// output channel meets another group's input channel: a dense layer of Span
// input channels whose input pointer moves by Span channels per block.
// The zeros cost multiply-adds only where a unit holds several groups
// (OutC/G below 16 or not a multiple of 16) and the kernel cannot skip them
// (NarrowGroups), never memory traffic beyond the span.

// GroupCols is how the kernels of a grouped conv cut its output channels.
type GroupCols struct {
	Groups int // groups per column block
	Span   int // input channels a block reads: Groups * InC/G
	Units  int // 16-channel units per block
	Blocks int // column blocks
}

// GroupColsOf is the column blocks of a conv of inC -> outC channels in groups.
func GroupColsOf(inC, outC, groups int) GroupCols {
	icg, ocg := inC/groups, outC/groups
	l := ocg
	for l%16 != 0 {
		l += ocg
	}
	per := min(l/ocg, groups)
	return GroupCols{Groups: per, Span: per * icg, Units: (per*ocg + 15) / 16, Blocks: (groups + per - 1) / per}
}

// Overread is how many bytes past the end of its input buffer the kernel of
// a grouped conv may read beyond ReadSlack: a block's rows are read from its
// span's start on, in whole vectors.
func (g GroupCols) Overread() int { return max(0, (g.Blocks-1)*g.Span+32-ReadSlack) }

// ExpandGrouped lays a grouped conv's weights (OutC x InC/G x taps) out as a
// dense layer's over the span of each output channel's column block
// (OutC x Span x taps), zero outside the channel's own group.
func ExpandGrouped(w []int8, inC, outC, groups, taps int) []int8 {
	gc := GroupColsOf(inC, outC, groups)
	icg, ocg := inC/groups, outC/groups
	e := make([]int8, outC*gc.Span*taps)
	for o := 0; o < outC; o++ {
		at := (o / ocg % gc.Groups) * icg // the group's first channel in the span
		for i := 0; i < icg; i++ {
			copy(e[(o*gc.Span+at+i)*taps:][:taps], w[(o*icg+i)*taps:][:taps])
		}
	}
	return e
}

// NarrowGroups says whether a grouped conv's weights are packed by
// PackNarrow, for kernels that multiply no zeros: 4 input and 4 output
// channels per group (ResNeXt 32x4d's first stage), groups in fours (every
// column block is 4 groups, one whole unit). In ExpandGrouped's packing three
// quarters of each quad they read are zeros; wider groups of whole 8-column
// halves (8, 16, ... output channels) multiply none in the dense kernel
// already (asmgen's Dense.SkipZeros).
func NarrowGroups(inC, outC, groups int) bool {
	return groups%4 == 0 && inC/groups == 4 && outC/groups == 4
}

// NarrowCol is the output channel PackNarrow puts at position p of a unit:
// a kernel multiplies position p by dword p%4 of the block's 16 input bytes,
// so it holds a column of group p%4 (a 4 x 4 transpose, its own inverse).
func NarrowCol(p int) int { return 4*(p%4) + p/4 }

// PackNarrow packs the weights of a NarrowGroups conv (OutC x 4 x taps):
// per unit of 16 output channels and tap, one 64-byte quad whose position p
// holds output channel NarrowCol(p)'s 4 weights, W[u][t][p][i] =
// w[16u+NarrowCol(p)][i][t]: no zeros.
func PackNarrow(w []int8, outC, taps int) []int8 {
	out := make([]int8, outC*4*taps)
	for u := range outC / 16 {
		for t := range taps {
			for p := range 16 {
				o := 16*u + NarrowCol(p)
				for i := range 4 {
					out[((u*taps+t)*16+p)*4+i] = w[(o*4+i)*taps+t]
				}
			}
		}
	}
	return out
}

// PackGrouped packs a grouped conv's weights, of a square window or any
// other, as its kernels read them: PackNarrow's for NarrowGroups, else the
// dense layer of ExpandGrouped over the window's taps.
func PackGrouped(c *compiler.Conv) []int8 {
	w := c.Window()
	taps := w.Taps()
	if NarrowGroups(c.InC, c.OutC, c.Groups) {
		return PackNarrow(c.Weight, c.OutC, taps)
	}
	gc := GroupColsOf(c.InC, c.OutC, c.Groups)
	return PackDenseTaps(ExpandGrouped(c.Weight, c.InC, c.OutC, c.Groups, taps), gc.Span, c.OutC, taps)
}

// packGrouped packs a grouped conv's weights and accumulator starts.
func packGrouped(c *compiler.Conv, zx int32) ([]int8, []int32) {
	return PackGrouped(c), foldBias(c, zx)
}

// groupedPointwise says whether a grouped conv reads its input in place (1x1,
// stride 1, no padding), as a pointwise layer does; one with a window
// (Geom) always reads the padded copy.
func groupedPointwise(c *compiler.Conv) bool { return c.Kernel == 1 && c.Stride == 1 && c.Pad == 0 }

// overread is how far past ReadSlack a layer's kernel reads its input.
func overread(l *Layer) int {
	if l.Kind != Grouped {
		return 0
	}
	c := l.Node.Conv
	return GroupColsOf(c.InC, c.OutC, c.Groups).Overread()
}
