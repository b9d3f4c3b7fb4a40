package lower

import "github.com/ptqc/ptqc/ir"

// A dense conv over few input channels (a network's stem over the image's 3)
// spends most of each tap's quad on padding channels and runs one short
// reduction step per tap. In NHWC the taps of one kernel row of one output
// pixel are contiguous, so such a layer (Layer.Im2col) runs as a GEMM over
// each output pixel's patch gathered densely, KH*KW*InC bytes in tap-major
// order padded to whole quads: its weights are packed as a pointwise layer of
// that many input channels (PackIm2col). Its padded input is the usual one.

// Im2colConv is the rule: at most 4 input channels (one quad per tap in the
// padded input), more than one tap, kernel rows without horizontal dilation
// (contiguous in the input). Measured on Zen 3 (asmgen's BenchmarkStem) it is
// faster for every such stem, 4 channels included.
func Im2colConv(cin int, w ir.Window) bool { return cin <= 4 && w.KH*w.KW > 1 && w.DW == 1 }

// Im2colTileable says whether a stem runs as a tile program on the amx tier,
// over each tile's gathered patches: where its patch (taps*cin bytes) is a
// reduction Tileable takes as pointwise. On Sapphire Rapids ResNet-50's 7x7
// stem (147 bytes) ran 424 -> 245 us so, MobileNetV2's 3x3 (27) 96 -> 112.
func Im2colTileable(cin int, w ir.Window) bool { return Tileable(Pointwise, cin*w.Taps()) }

// Im2colWeights reorders OutC x InC x taps weights (compiler.Conv's order)
// into OutC rows of the patch order: index t*cin + ci.
func Im2colWeights(w []int8, cin, cout, taps int) []int8 {
	k := taps * cin
	r := make([]int8, cout*k)
	for o := range cout {
		for ci := range cin {
			for t := range taps {
				r[o*k+t*cin+ci] = w[(o*cin+ci)*taps+t]
			}
		}
	}
	return r
}

// PackIm2col packs an Im2col layer's weights (OutC x InC x taps) as PackDense
// packs a pointwise layer of taps*cin input channels.
func PackIm2col(w []int8, cin, cout, taps int) []int8 {
	return PackDenseTaps(Im2colWeights(w, cin, cout, taps), taps*cin, cout, 1)
}
