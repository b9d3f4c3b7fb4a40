package ir

import (
	"fmt"
	"math"
)

// BuildMobileNetV2 builds the unfused float graph of the tutorial's MobileNetV2 for d,
// without weights. Node names are the PyTorch module paths.
func BuildMobileNetV2(d *Description) (*Graph, error) {
	g, x, err := archGraph(d, "mobilenetv2", "mobilenetv2", "MobileNetV2")
	if err != nil {
		return nil, err
	}

	convBN := func(prefix string, in, inC, outC, k, stride, groups int, relu bool) int {
		x := g.Add(&Node{Op: OpConv, Name: prefix + ".0", Conv: &Conv{
			InC: inC, OutC: outC, Window: SquareWindow(k, stride, (k-1)/2), Groups: groups,
		}}, in)
		x = g.Add(&Node{Op: OpBatchNorm, Name: prefix + ".1", BN: &BatchNorm{C: outC, Eps: 1e-5}}, x)
		if relu {
			x = g.Add(&Node{Op: OpReLU, Name: prefix + ".2"}, x)
		}
		return x
	}

	inputChannel := MakeDivisible(32*d.WidthMult, d.RoundNearest, 0)
	lastChannel := MakeDivisible(1280*math.Max(1.0, d.WidthMult), d.RoundNearest, 0)
	x = convBN("features.0", x, d.Input[0], inputChannel, 3, 2, 1, true)
	idx := 1
	for _, row := range d.Setting {
		t, c, n, s := row[0], int(row[1]), int(row[2]), int(row[3])
		outputChannel := MakeDivisible(float64(c)*d.WidthMult, d.RoundNearest, 0)
		for i := 0; i < n; i++ {
			stride := 1
			if i == 0 {
				stride = s
			}
			hidden := int(math.RoundToEven(float64(inputChannel) * t))
			if hidden < 1 {
				return nil, fmt.Errorf("features.%d: expand ratio %v gives %d hidden channels", idx, t, hidden)
			}
			prefix := fmt.Sprintf("features.%d", idx)
			block := x
			k := 0
			h := block
			if t != 1 {
				h = convBN(fmt.Sprintf("%s.conv.%d", prefix, k), h, inputChannel, hidden, 1, 1, 1, true)
				k++
			}
			h = convBN(fmt.Sprintf("%s.conv.%d", prefix, k), h, hidden, hidden, 3, stride, hidden, true)
			k++
			h = g.Add(&Node{Op: OpConv, Name: fmt.Sprintf("%s.conv.%d", prefix, k), Conv: &Conv{
				InC: hidden, OutC: outputChannel, Window: SquareWindow(1, 1, 0), Groups: 1,
			}}, h)
			h = g.Add(&Node{Op: OpBatchNorm, Name: fmt.Sprintf("%s.conv.%d", prefix, k+1), BN: &BatchNorm{C: outputChannel, Eps: 1e-5}}, h)
			if stride == 1 && inputChannel == outputChannel {
				h = g.Add(&Node{Op: OpAdd, Name: prefix + ".skip_add"}, block, h)
			}
			x = h
			inputChannel = outputChannel
			idx++
		}
	}
	x = convBN(fmt.Sprintf("features.%d", idx), x, inputChannel, lastChannel, 1, 1, 1, true)
	x = g.Add(&Node{Op: OpMean, Name: "mean"}, x)
	x = g.Add(&Node{Op: OpDropout, Name: "classifier.0"}, x)
	x = g.Add(&Node{Op: OpLinear, Name: "classifier.1", Linear: &Linear{In: lastChannel, Out: d.NumClasses}}, x)
	return finish(g, x)
}
