package ir

import (
	"fmt"
	"testing"
)

// BenchmarkConvLayers is one 224-model layer of each kind the fast path
// generalises, on one image: fast (Program on the best tier) against
// Reference.
func BenchmarkConvLayers(b *testing.B) {
	rect := func(inC, outC, kh, kw int) Conv {
		return Conv{InC: inC, OutC: outC, Groups: 1, Window: Window{KH: kh, KW: kw, SH: 1, SW: 1,
			PadT: (kh - 1) / 2, PadB: (kh - 1) / 2, PadL: (kw - 1) / 2, PadR: (kw - 1) / 2, DH: 1, DW: 1}}
	}
	for _, l := range []struct {
		name string
		c    Conv
		hw   int
	}{
		// ResNeXt-50 32x4d, layer1's 3x3: 128 channels in 32 groups.
		{"grouped3x3_g32_128x56", Conv{InC: 128, OutC: 128, Groups: 32, Window: SquareWindow(3, 1, 1)}, 56},
		// its layer2's first, stride 2
		{"grouped3x3s2_g32_256x56", Conv{InC: 256, OutC: 256, Groups: 32, Window: SquareWindow(3, 2, 1)}, 56},
		// EfficientNet-B0's 5x5 depthwise: stage 3's first (stride 2) and stage 5's.
		{"dw5x5s2_144x56", Conv{InC: 144, OutC: 144, Groups: 144, Window: SquareWindow(5, 2, 2)}, 56},
		{"dw5x5_480x14", Conv{InC: 480, OutC: 480, Groups: 480, Window: SquareWindow(5, 1, 2)}, 14},
		// the same stride-2 layer with TensorFlow's "same" padding (timm's tf_ models)
		{"dw5x5s2_asym_144x56", Conv{InC: 144, OutC: 144, Groups: 144, Window: Window{KH: 5, KW: 5, SH: 2, SW: 2, PadT: 1, PadL: 1, PadB: 2, PadR: 2, DH: 1, DW: 1}}, 56},
		// a dilated 3x3 (DeepLab's backbones)
		{"conv3x3_d2_64x28", Conv{InC: 64, OutC: 64, Groups: 1, Window: Window{KH: 3, KW: 3, SH: 1, SW: 1, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DH: 2, DW: 2}}, 28},
		// Inception v3's Mixed_6b 1x7 and 7x1.
		{"conv1x7_128to128x17", rect(128, 128, 1, 7), 17},
		{"conv7x1_128to192x17", rect(128, 192, 7, 1), 17},
	} {
		g := convGraph(l.c, l.hw, l.hw, ActReLU, 1)
		x := randomInput(1, g.Tensors[g.Input].Shape, 2)
		p, err := Compile(g)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(l.name+"/fast", func(b *testing.B) {
			for b.Loop() {
				if _, err := p.Run(x, 1, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(l.name+"/reference", func(b *testing.B) {
			for b.Loop() {
				if _, err := Reference(g, x, 1, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// mbBlock is an inverted residual: expand ratio, kernel, stride, output
// channels, squeeze-excitation, hardswish/SiLU (else ReLU).
type mbBlock struct {
	exp         float64
	k, s, out   int
	se, swishes bool
}

// buildMBNet is a MobileNetV3-Large-like ("mnv3") or EfficientNet-B0-like
// ("effb0") graph at hw x hw, randomized, not fused.
// Squeeze-excitation is a global AvgPool, two 1x1 convs and a Mul.
func buildMBNet(arch string, hw int) *Graph {
	g := &Graph{Name: arch}
	g.Input = g.NewTensor([]int{3, hw, hw})
	x := g.Add(&Node{Op: OpQuant, Name: "quant"}, g.Input)
	h := hw // current plane size
	id := 0
	name := func() string { id++; return fmt.Sprintf("n%d", id) }
	act := func(x int, swish bool) int {
		switch {
		case !swish:
			return g.Add(&Node{Op: OpReLU, Name: name()}, x)
		case arch == "mnv3":
			return g.Add(&Node{Op: OpHardSwish, Name: name()}, x)
		}
		return g.Add(&Node{Op: OpSiLU, Name: name()}, x)
	}
	convBN := func(x, inC, outC, k, s, groups int) int {
		x = g.Add(&Node{Op: OpConv, Name: name(), Conv: &Conv{InC: inC, OutC: outC, Groups: groups, Window: SquareWindow(k, s, (k-1)/2)}}, x)
		return g.Add(&Node{Op: OpBatchNorm, Name: name(), BN: &BatchNorm{C: outC, Eps: 1e-5}}, x)
	}
	var blocks []mbBlock
	var stem, last, head int
	if arch == "mnv3" {
		stem, last, head = 16, 960, 1280
		// torchvision's mobilenet_v3_large: kernel, expanded, out, SE, HS, stride
		for _, r := range [][6]int{{3, 16, 16, 0, 0, 1}, {3, 64, 24, 0, 0, 2}, {3, 72, 24, 0, 0, 1}, {5, 72, 40, 1, 0, 2},
			{5, 120, 40, 1, 0, 1}, {5, 120, 40, 1, 0, 1}, {3, 240, 80, 0, 1, 2}, {3, 200, 80, 0, 1, 1}, {3, 184, 80, 0, 1, 1},
			{3, 184, 80, 0, 1, 1}, {3, 480, 112, 1, 1, 1}, {3, 672, 112, 1, 1, 1}, {5, 672, 160, 1, 1, 2}, {5, 960, 160, 1, 1, 1},
			{5, 960, 160, 1, 1, 1}} {
			blocks = append(blocks, mbBlock{exp: float64(r[1]), k: r[0], s: r[5], out: r[2], se: r[3] == 1, swishes: r[4] == 1})
		}
	} else {
		stem, last = 32, 1280
		// EfficientNet-B0: expand ratio, kernel, stride, out, repeats
		for _, r := range [][5]int{{1, 3, 1, 16, 1}, {6, 3, 2, 24, 2}, {6, 5, 2, 40, 2}, {6, 3, 2, 80, 3}, {6, 5, 1, 112, 3},
			{6, 5, 2, 192, 4}, {6, 3, 1, 320, 1}} {
			for i := range r[4] {
				s := r[2]
				if i > 0 {
					s = 1
				}
				blocks = append(blocks, mbBlock{exp: -float64(r[0]), k: r[1], s: s, out: r[3], se: true, swishes: true})
			}
		}
	}
	x = act(convBN(x, 3, stem, 3, 2, 1), true)
	h = (h + 1) / 2
	c := stem
	for _, bl := range blocks {
		in := x
		e := int(bl.exp)
		if bl.exp < 0 { // a ratio
			e = c * int(-bl.exp)
		}
		y := x
		if e != c {
			y = act(convBN(y, c, e, 1, 1, 1), bl.swishes)
		}
		y = act(convBN(y, e, e, bl.k, bl.s, e), bl.swishes)
		h = (h-1)/bl.s + 1
		if bl.se {
			sq := max(8, (e/4+4)/8*8)
			gate := Node{Op: OpHardSigmoid, Unary: &Unary{Alpha: 1. / 6, Beta: 0.5}}
			if arch != "mnv3" {
				sq, gate = max(1, c/4), Node{Op: OpSigmoid}
			}
			pool := &Pool{Window: Window{KH: h, KW: h, SH: h, SW: h, DH: 1, DW: 1}}
			z := g.Add(&Node{Op: OpAvgPool, Name: name(), Pool: pool}, y)
			z = g.Add(&Node{Op: OpConv, Name: name(), Conv: &Conv{InC: e, OutC: sq, Groups: 1, Window: SquareWindow(1, 1, 0), Bias: make([]float32, sq)}}, z)
			if arch == "mnv3" {
				z = g.Add(&Node{Op: OpReLU, Name: name()}, z)
			} else {
				z = g.Add(&Node{Op: OpSiLU, Name: name()}, z)
			}
			z = g.Add(&Node{Op: OpConv, Name: name(), Conv: &Conv{InC: sq, OutC: e, Groups: 1, Window: SquareWindow(1, 1, 0), Bias: make([]float32, e)}}, z)
			gate.Name = name()
			z = g.Add(&gate, z)
			y = g.Add(&Node{Op: OpMul, Name: name()}, y, z)
		}
		y = convBN(y, e, bl.out, 1, 1, 1)
		if bl.s == 1 && c == bl.out {
			y = g.Add(&Node{Op: OpAdd, Name: name()}, in, y)
		}
		x, c = y, bl.out
	}
	x = act(convBN(x, c, last, 1, 1, 1), true)
	x = g.Add(&Node{Op: OpMean, Name: name()}, x)
	if head > 0 {
		x = g.Add(&Node{Op: OpLinear, Name: name(), Linear: &Linear{In: last, Out: head}}, x)
		x = act(x, true)
		last = head
	}
	x = g.Add(&Node{Op: OpLinear, Name: name(), Linear: &Linear{In: last, Out: 1000}}, x)
	g.Output = g.Add(&Node{Op: OpDeQuant, Name: "dequant"}, x)
	if err := InferShapes(g); err != nil {
		panic(err)
	}
	Randomize(g, 7)
	return g
}

// BenchmarkCalibrateMB is the float side of calibrating a 224 MobileNetV3-
// Large-like and EfficientNet-B0-like graph on 300 images in batches of 30
// (RunImages with a hook on every node, scanning its output's range as a
// min/max observer does), and one image on Reference for scale.
func BenchmarkCalibrateMB(b *testing.B) {
	const images, batch = 300, 30
	for _, arch := range []string{"mnv3", "effb0"} {
		g := Fuse(buildMBNet(arch, 224))
		p, err := Compile(g)
		if err != nil {
			b.Fatal(err)
		}
		x := randomInput(batch, g.Tensors[g.Input].Shape, 3)
		hook := func(nd *Node, out []float32, _ int) error {
			p.k.MinMax(out)
			return nil
		}
		b.Run(arch+"/fast300", func(b *testing.B) {
			for b.Loop() {
				for range images / batch {
					if _, err := p.RunImages(x, batch, nil, hook, true); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(arch+"/reference1", func(b *testing.B) {
			for b.Loop() {
				if _, err := Reference(g, x[:len(x)/batch], 1, nil, hook); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPointwise224 is MobileNetV2-224's 1x1 convs with short sums
// (K under phasedMinK: GemmDot's, or GemmDotPhased's from the tier's
// PhasedMinM rows) and long ones (GemmDotPhased; at 14x14 and 7x7 the last
// columns of a plane take GemmDotPhasedHalf and GemmDotPhasedCol), one
// image on the best tier.
func BenchmarkPointwise224(b *testing.B) {
	for _, l := range []struct{ in, out, hw int }{
		{32, 16, 112}, {16, 96, 112}, {24, 144, 56}, {32, 192, 28}, {192, 32, 28}, {96, 576, 14}, {576, 96, 14}, {160, 960, 7}, {960, 160, 7}, {960, 320, 7}, {320, 1280, 7},
	} {
		g := convGraph(Conv{InC: l.in, OutC: l.out, Groups: 1, Window: SquareWindow(1, 1, 0)}, l.hw, l.hw, ActReLU, 1)
		x := randomInput(1, g.Tensors[g.Input].Shape, 2)
		p, err := Compile(g)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%dto%dx%d", l.in, l.out, l.hw), func(b *testing.B) {
			for b.Loop() {
				if _, err := p.Run(x, 1, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(l.in*l.out*l.hw*l.hw)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
