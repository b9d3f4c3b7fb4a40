package asmgen

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/zoo"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/lower"
)

// groupedShape is a grouped conv: groups of icg -> ocg channels.
type groupedShape struct {
	groups, icg, ocg, k, s, p, h, w int
	act                             string
	smallW                          bool       // weights that let the avx2 tier take the u8s8 path
	win                             *ir.Window // any other window (k, s, p unused)
}

// groupedCase is a random grouped conv, its kernel's layer and its input codes.
type groupedCase struct {
	c    *compiler.Conv
	d    *Dense
	gc   lower.GroupCols
	x    []uint8
	high bool // codes of 128 and up: the u8s8|i16 path takes i16 somewhere
}

func randGrouped(r *rand.Rand, sh groupedShape) *groupedCase {
	cin, cout := sh.groups*sh.icg, sh.groups*sh.ocg
	c := &compiler.Conv{InC: cin, OutC: cout, Kernel: sh.k, Stride: sh.s, Pad: sh.p, Groups: sh.groups}
	if sh.win != nil {
		w := *sh.win
		c.Kernel, c.Stride, c.Pad, c.Geom = 0, 0, 0, &w
	}
	win := c.Window()
	c.Weight = make([]int8, cout*sh.icg*win.Taps())
	for i := range c.Weight {
		c.Weight[i] = int8(r.IntN(256) - 128)
		if sh.smallW {
			c.Weight[i] = int8(r.IntN(129) - 64)
		}
	}
	high := r.IntN(2) == 0
	xmax := int32(127)
	if high {
		xmax = 255
	}
	rq := randRequant(r, cout, -4, 10, false, sh.act)
	c.M, c.B, c.Lo, c.Hi = rq.M, rq.B, rq.Lo, rq.Hi
	oh, ow := win.OutSize(sh.h, sh.w, false)
	in := cin
	if sh.win != nil || sh.k != 1 || sh.s != 1 || sh.p != 0 {
		in = 4 * lower.Quads(cin)
	}
	zin := edgeZero(r, xmax)
	d := GroupedDense(c, sh.h, sh.w, oh, ow, in, zin, 255, rq)
	x := make([]uint8, sh.h*sh.w*cin)
	for i := range x {
		x[i] = uint8(r.IntN(int(xmax) + 1))
	}
	if high {
		// Mostly 7-bit codes, so that rows or strips take both paths.
		for i := range x {
			if r.IntN(40) != 0 {
				x[i] &= 127
			}
		}
	}
	return &groupedCase{c: c, d: d, gc: lower.GroupColsOf(cin, cout, sh.groups), x: x, high: high}
}

// input lays the codes out as the kernel reads them (padded, or in place),
// junk in the padding channels and in the bytes a kernel may read past the
// buffer (Overread; the harness's canary stands for lower.ReadSlack).
func (gc *groupedCase) input(r *rand.Rand) []byte {
	d, cin, bd := gc.d, gc.c.InC, gc.d.border()
	hp, wp := d.H+2*bd, d.W+2*bd
	b := make([]byte, hp*wp*d.InStride+gc.gc.Overread())
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	for y := 0; y < hp; y++ {
		for x := 0; x < wp; x++ {
			for ch := 0; ch < cin; ch++ {
				v := uint8(d.ZIn)
				if iy, ix := y-bd, x-bd; iy >= 0 && iy < d.H && ix >= 0 && ix < d.W {
					v = gc.x[(iy*d.W+ix)*cin+ch]
				}
				b[(y*wp+x)*d.InStride+ch] = v
			}
		}
	}
	return b
}

// want is the interpreter's arithmetic: sum((q_x - z_x) * w) over the
// group's input channels, then Requantize.
func (gc *groupedCase) want() []uint8 {
	c, d := gc.c, gc.d
	icg, ocg, w := c.InC/c.Groups, c.OutC/c.Groups, c.Window()
	out := make([]uint8, d.OH*d.OW*c.OutC)
	for oy := 0; oy < d.OH; oy++ {
		for ox := 0; ox < d.OW; ox++ {
			for o := 0; o < c.OutC; o++ {
				var acc int32
				for i := 0; i < icg; i++ {
					ci := o/ocg*icg + i
					forTaps(w, d.H, d.W, oy, ox, func(ky, kx, px int) {
						acc += (int32(gc.x[px*c.InC+ci]) - d.ZIn) * int32(c.Weight[(o*icg+i)*w.Taps()+ky*w.KW+kx])
					})
				}
				out[(oy*d.OW+ox)*c.OutC+o] = d.epi(compiler.Requantize(acc, c.M[o], c.B[o], d.Z, d.Lo, d.Hi))
			}
		}
	}
	return out
}

func groupedShapes() []groupedShape {
	return []groupedShape{
		// ResNeXt 32x4d's stages (4, 8, 16, 32 channels per group), small planes
		{groups: 32, icg: 4, ocg: 4, k: 3, s: 1, p: 1, h: 5, w: 7, act: "relu"},
		{groups: 32, icg: 8, ocg: 8, k: 3, s: 2, p: 1, h: 6, w: 5, act: "relu"},
		{groups: 32, icg: 16, ocg: 16, k: 3, s: 1, p: 1, h: 3, w: 4},
		{groups: 8, icg: 32, ocg: 32, k: 3, s: 2, p: 1, h: 5, w: 5, act: "relu"},
		// RegNet group widths that are not a multiple of 16
		{groups: 5, icg: 24, ocg: 24, k: 3, s: 1, p: 1, h: 4, w: 3, act: "relu"},
		{groups: 3, icg: 56, ocg: 56, k: 3, s: 2, p: 1, h: 5, w: 4},
		{groups: 2, icg: 48, ocg: 48, k: 3, s: 1, p: 1, h: 3, w: 3, smallW: true},
		// grouped 1x1 (in place, and strided through the padded layout)
		{groups: 4, icg: 16, ocg: 16, k: 1, s: 1, h: 5, w: 7},
		{groups: 8, icg: 3, ocg: 5, k: 1, s: 1, h: 3, w: 5, act: "relu6"},
		{groups: 2, icg: 64, ocg: 64, k: 1, s: 1, h: 2, w: 3, act: "relu"},
		{groups: 6, icg: 10, ocg: 12, k: 1, s: 2, h: 5, w: 5},
		// odd group sizes, channel multipliers, many groups
		{groups: 64, icg: 1, ocg: 2, k: 3, s: 1, p: 1, h: 3, w: 5},
		{groups: 64, icg: 2, ocg: 1, k: 3, s: 2, p: 0, h: 5, w: 7, act: "relu"},
		{groups: 7, icg: 5, ocg: 3, k: 3, s: 1, p: 0, h: 5, w: 6, smallW: true},
		{groups: 3, icg: 7, ocg: 9, k: 3, s: 1, p: 1, h: 7, w: 9, act: "relu"},
		{groups: 2, icg: 1, ocg: 33, k: 3, s: 2, p: 1, h: 4, w: 4},
		{groups: 12, icg: 20, ocg: 6, k: 1, s: 1, h: 4, w: 4},
		{groups: 16, icg: 17, ocg: 17, k: 3, s: 1, p: 1, h: 2, w: 14},
		{groups: 4, icg: 40, ocg: 20, k: 1, s: 2, p: 1, h: 6, w: 5, act: "relu"},
		// other windows: Inception-style 1x3 / 3x1, uneven pads, strides per axis, dilation
		{groups: 32, icg: 4, ocg: 4, h: 5, w: 7, act: "relu", win: &ir.Window{KH: 1, KW: 3, SH: 1, SW: 1, PadL: 1, PadR: 1, DH: 1, DW: 1}},
		{groups: 8, icg: 16, ocg: 16, h: 7, w: 4, win: &ir.Window{KH: 3, KW: 1, SH: 1, SW: 1, PadT: 1, PadB: 1, DH: 1, DW: 1}},
		{groups: 3, icg: 24, ocg: 24, h: 6, w: 7, act: "relu6", win: &ir.Window{KH: 3, KW: 3, SH: 2, SW: 1, PadT: 0, PadL: 1, PadB: 1, PadR: 2, DH: 1, DW: 1}},
		{groups: 16, icg: 8, ocg: 8, h: 7, w: 7, act: "relu", win: &ir.Window{KH: 3, KW: 3, SH: 1, SW: 1, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DH: 2, DW: 2}},
		{groups: 5, icg: 3, ocg: 7, h: 5, w: 9, smallW: true, win: &ir.Window{KH: 2, KW: 5, SH: 1, SW: 3, PadT: 1, PadL: 0, PadB: 0, PadR: 3, DH: 1, DW: 2}},
		// narrow groups (lower.NarrowGroups) in place (the i16 path's
		// widened rows), strided, 5x5; 8 -> 4 is not narrow
		{groups: 8, icg: 8, ocg: 4, k: 3, s: 1, p: 1, h: 4, w: 5},
		{groups: 16, icg: 4, ocg: 4, k: 1, s: 1, h: 3, w: 7, act: "relu"},
		{groups: 12, icg: 4, ocg: 4, k: 1, s: 1, h: 5, w: 3, smallW: true},
		{groups: 4, icg: 4, ocg: 4, k: 5, s: 2, p: 2, h: 7, w: 6, act: "relu6"},
		{groups: 32, icg: 4, ocg: 4, k: 3, s: 2, p: 1, h: 7, w: 7, smallW: true},
		{groups: 20, icg: 4, ocg: 4, k: 3, s: 2, p: 0, h: 6, w: 9},
		{groups: 6, icg: 4, ocg: 4, k: 3, s: 1, p: 1, h: 4, w: 4},
	}
}

// The tiers' kernels of grouped convs, bit for bit against the interpreter's
// arithmetic, on random shapes: each column block called with its span, the
// rows and blocks split as workers split them. The amx tier runs its base
// tier's kernel (no tile program for grouped convs).
func TestGrouped(t *testing.T) {
	for i, isa := range []Target{avx2, avx512vnni, vnniEmulated, avx512, zmmEmulated, amx, amxEmulated} {
		t.Run(isa.String(), func(t *testing.T) {
			r, h := kernelTest(t, isa, 25, uint64(i+1))
			var checks []kernelCall[*groupedCase, uint8]
			paths, allBlocks := map[Path]int{}, 0
			shapes := groupedShapes()
			for range 4 {
				k := 1 + 2*r.IntN(2)
				shapes = append(shapes, groupedShape{groups: 4 * (1 + r.IntN(16)), icg: 4, ocg: 4, k: k,
					s: 1 + r.IntN(2), p: r.IntN(2), h: k + r.IntN(5), w: k + r.IntN(8), smallW: r.IntN(2) == 0})
			}
			for range 6 {
				icg, ocg := 1+r.IntN(64), 1+r.IntN(64)
				k := 1 + 2*r.IntN(2)
				shapes = append(shapes, groupedShape{groups: 2 + r.IntN(min(63, 512/max(icg, ocg))), icg: icg, ocg: ocg, k: k,
					s: 1 + r.IntN(2), p: r.IntN(2), h: k + r.IntN(5), w: k + r.IntN(8)})
			}
			for range 4 {
				icg, ocg := 1+r.IntN(32), 1+r.IntN(32)
				w, hh, ww := randWindow(r)
				shapes = append(shapes, groupedShape{groups: 2 + r.IntN(min(31, 256/max(icg, ocg))), icg: icg, ocg: ocg, h: hh, w: ww, win: &w,
					act: []string{"", "relu"}[r.IntN(2)]})
			}
			for j, sh := range shapes {
				c := randGrouped(r, sh)
				name := fmt.Sprintf("grouped%d", j)
				kd, design := GroupedKernel(c.d, c.gc, isa.base())
				if err := h.prog.Dense(name, kd, design); err != nil {
					t.Fatalf("%+v: %v", sh, err)
				}
				paths[c.d.Path(design)]++
				if kd.BlockSpan > 0 {
					allBlocks++
				}
				packed := lower.PackGrouped(c.c)
				x, w := h.buf(c.input(r)), h.buf(convert[byte](packed))
				y := h.buf(make([]byte, c.d.OH*c.d.OW*c.c.OutC))
				s := h.buf(make([]byte, max(1, c.d.ScratchBytes(isa.base()))))
				// The later rows and blocks first, so that a stray write
				// past an earlier part would show.
				u, nb := c.d.Units(), c.gc.Blocks
				mid := r.IntN(u + 1)
				for _, sr := range [][2]int{{mid, u}, {0, mid}} {
					if kd.BlockSpan > 0 {
						// Any range of blocks in one call, x at channel 0.
						bm := r.IntN(nb + 1)
						for _, br := range [][2]int{{bm, nb}, {0, bm}} {
							h.call(name, lit(fmt.Sprintf("&b[%d][0]", x)), w, y, s, ilit(sr[0]), ilit(sr[1]), ilit(br[0]), ilit(br[1]))
						}
						continue
					}
					for b := nb - 1; b >= 0; b-- {
						xb := lit(fmt.Sprintf("&b[%d][%d]", x, b*c.gc.Span))
						n0, n1 := b*c.gc.Units, min((b+1)*c.gc.Units, c.d.Cols())
						h.call(name, xb, w, y, s, ilit(sr[0]), ilit(sr[1]), ilit(n0), ilit(n1))
					}
				}
				checks = append(checks, kernelCall[*groupedCase, uint8]{name: fmt.Sprintf("%s %+v", name, sh), layer: c, out: y})
			}
			t.Logf("paths: %v, %d layers' blocks in one call", paths, allBlocks)
			res := h.run(t)
			for _, ck := range checks {
				sameBytes(t, ck.name, res[ck.out], ck.layer.want(), ck.layer.c.OutC, ck.layer.c.OutC)
			}
		})
	}
}

// groupedGraph is a ResNeXt/RegNet-like float graph with random weights,
// 3x12x12 in: 4 channels per group (32 groups), 4 -> 8 strided, grouped 1x1
// convs read in place (16 per group; 16 -> 15 per group) and 24 channels per
// group, then mean and a classifier.
func groupedGraph(r *rand.Rand) *ir.Graph {
	b := zoo.NewBuilder("grouped", r, 3, 12, 12)
	conv := func(name string, x, inC, outC, groups, k, s, p int) int {
		return b.Conv(name, x, inC, outC, groups, ir.SquareWindow(k, s, p), ir.ActReLU)
	}
	x := b.Op(ir.OpQuant, "quant", nil, b.G.Input)
	x = conv("stem", x, 3, 128, 1, 3, 1, 1)
	x = conv("g32x4", x, 128, 128, 32, 3, 1, 1)
	x = conv("g32x4to8", x, 128, 256, 32, 3, 2, 1) // 6x6
	x = conv("g16_1x1", x, 256, 256, 16, 1, 1, 0)
	x = conv("g16to15_1x1", x, 256, 240, 16, 1, 1, 0) // one block of all the groups
	x = conv("g10x24", x, 240, 240, 10, 3, 1, 1)
	x = b.Op(ir.OpMean, "mean", nil, x)
	lin := &ir.Linear{In: 240, Out: 10, Weight: make([]float32, 2400), Bias: make([]float32, 10)}
	for i := range lin.Weight {
		lin.Weight[i] = float32(r.NormFloat64() / 16)
	}
	x = b.Op(ir.OpLinear, "fc", &ir.Node{Linear: lin}, x)
	b.G.Output = b.Op(ir.OpDeQuant, "dequant", nil, x)
	return b.G
}

// groupedModel calibrates groupedGraph on N(0,1) samples with qconfig and
// converts it.
func groupedModel(t *testing.T, qconfig string) *compiler.Model {
	t.Helper()
	r := rand.New(rand.NewPCG(25, 1))
	return gentest.Convert(t, groupedGraph(r), qconfig, r)
}

// TestGroupedModels runs ResNeXt-like grouped convs through generated
// packages on every tier this CPU runs and on the emulations (fbgemm: the
// u8s8 path; qnnpack: u8s8|i16), 1 to 3 workers, against the interpreter
// bit for bit.
func TestGroupedModels(t *testing.T) {
	if testing.Short() {
		t.Skip("builds generated packages with the go command")
	}
	testModelEveryTier(t, []*compiler.Model{groupedModel(t, "fbgemm"), groupedModel(t, "qnnpack")}, []uint64{0, 1})
}

func TestGroupedKernel(t *testing.T) {
	for _, c := range []struct {
		c, groups, k int
		isa, want    Target
		all          bool // Dense.BlockSpan set
	}{
		{128, 32, 3, avx512, avx512, true},             // 4 per group: narrow, blocks of one unit
		{256, 32, 3, avx512, avx512, true},             // 8 per group: paired
		{256, 32, 3, zmmEmulated, vnniEmulated, false}, // halves of zeros skipped
		{64, 32, 3, avx512, avx512vnni, false},         // 2 per group: halves of zeros skipped
		{512, 32, 3, avx512, avx512, true},             // 16 per group: blocks of one unit
		{1024, 32, 3, avx512, avx512, false},           // 32 per group: two units, no zeros
		{240, 10, 3, zmmEmulated, zmmEmulated, false},  // 24 per group: units differ, no half zero in all
		{64, 16, 3, zmmEmulated, vnniEmulated, false},
		{128, 32, 3, zmmEmulated, vnniEmulated, false},
		{512, 32, 3, zmmEmulated, vnniEmulated, false},
		{128, 32, 3, avx512vnni, avx512vnni, false},
		{128, 32, 3, avx2, avx2, false},
	} {
		cv := &compiler.Conv{InC: c.c, OutC: c.c, Kernel: c.k, Stride: 1, Pad: 1, Groups: c.groups, Weight: make([]int8, c.c*c.c/c.groups*c.k*c.k)}
		for i := range cv.Weight {
			cv.Weight[i] = 1
		}
		d := GroupedDense(cv, 4, 4, 4, 4, 4*lower.Quads(c.c), 0, 255, Requant{})
		gc := lower.GroupColsOf(c.c, c.c, c.groups)
		kd, got := GroupedKernel(d, gc, c.isa)
		if got != c.want || (kd.BlockSpan > 0) != c.all {
			t.Errorf("%d channels in %d groups on %s: %s, block span %d, want %s, all blocks %t", c.c, c.groups, c.isa, got, kd.BlockSpan, c.want, c.all)
		}
		if c.all && kd.BlockSpan != gc.Span {
			t.Errorf("%d channels in %d groups: block span %d, want %d", c.c, c.groups, kd.BlockSpan, gc.Span)
		}
	}
}
