package ir

import "fmt"

// BuildResNet builds the unfused float graph of torchvision's ResNet for d (arch
// "resnet"), without weights. Node names are the module paths of torchvision's
// QuantizableResNet: each block's residual add and the ReLU after it are one Add
// node with a fused ReLU, named after its FloatFunctional (add_relu in basic
// blocks, skip_add_relu in bottlenecks).
func BuildResNet(d *Description) (*Graph, error) {
	g, x, err := archGraph(d, "resnet", "a resnet", "ResNet")
	if err != nil {
		return nil, err
	}

	conv := func(name string, in, inC, outC, k, stride int) int {
		return g.Add(&Node{Op: OpConv, Name: name, Conv: &Conv{
			InC: inC, OutC: outC, Window: SquareWindow(k, stride, k/2), Groups: 1,
		}}, in)
	}
	bn := func(name string, in, c int) int {
		return g.Add(&Node{Op: OpBatchNorm, Name: name, BN: &BatchNorm{C: c, Eps: 1e-5}}, in)
	}
	relu := func(name string, in int) int { return g.Add(&Node{Op: OpReLU, Name: name}, in) }

	inplanes := d.Widths[0]
	x = conv("conv1", x, d.Input[0], inplanes, 7, 2)
	x = relu("relu", bn("bn1", x, inplanes))
	x = g.Add(&Node{Op: OpMaxPool, Name: "maxpool", Pool: &Pool{Window: SquareWindow(3, 2, 1)}}, x)
	expansion := 1
	if d.Block == "bottleneck" {
		expansion = 4
	}
	for stage, blocks := range d.Layers {
		planes := d.Widths[stage]
		for i := 0; i < blocks; i++ {
			stride := 1
			if stage > 0 && i == 0 {
				stride = 2
			}
			p := fmt.Sprintf("layer%d.%d.", stage+1, i)
			var h int
			add := p + "add_relu"
			if d.Block == "basic" {
				h = relu(p+"relu", bn(p+"bn1", conv(p+"conv1", x, inplanes, planes, 3, stride), planes))
				h = bn(p+"bn2", conv(p+"conv2", h, planes, planes, 3, 1), planes)
			} else {
				width := planes * d.WidthPerGroup / 64 * d.Groups
				h = relu(p+"relu1", bn(p+"bn1", conv(p+"conv1", x, inplanes, width, 1, 1), width))
				h = relu(p+"relu2", bn(p+"bn2", conv(p+"conv2", h, width, width, 3, stride), width))
				h = bn(p+"bn3", conv(p+"conv3", h, width, planes*expansion, 1, 1), planes*expansion)
				add = p + "skip_add_relu"
			}
			identity := x
			if stride != 1 || inplanes != planes*expansion {
				identity = bn(p+"downsample.1", conv(p+"downsample.0", x, inplanes, planes*expansion, 1, stride), planes*expansion)
			}
			x = g.Add(&Node{Op: OpAdd, Name: add, Act: ActReLU}, h, identity)
			inplanes = planes * expansion
		}
	}
	x = g.Add(&Node{Op: OpMean, Name: "avgpool"}, x)
	x = g.Add(&Node{Op: OpLinear, Name: "fc", Linear: &Linear{In: inplanes, Out: d.NumClasses}}, x)
	return finish(g, x)
}

// Build builds the unfused float graph of d's architecture, without weights.
func Build(d *Description) (*Graph, error) {
	if d.Arch == "resnet" {
		return BuildResNet(d)
	}
	return BuildMobileNetV2(d)
}

// finish ends a built float graph with the DeQuantStub after x, infers its
// shapes and checks its work bounds.
func finish(g *Graph, x int) (*Graph, error) {
	g.Output = g.Add(&Node{Op: OpDeQuant, Name: "dequant"}, x)
	if err := InferShapes(g); err != nil {
		return nil, err
	}
	if err := g.Work().Check(); err != nil {
		return nil, err
	}
	return g, nil
}

// archGraph validates d, checks that it describes arch (want, in the error)
// and starts its graph, called name: the input and its quant node, whose
// output it returns.
func archGraph(d *Description, arch, want, name string) (*Graph, int, error) {
	if err := d.Validate(); err != nil {
		return nil, 0, err
	}
	if d.Arch != arch {
		return nil, 0, fmt.Errorf("arch %q is not %s", d.Arch, want)
	}
	g := &Graph{Name: name}
	g.Input = g.NewTensor(d.Input)
	return g, g.Add(&Node{Op: OpQuant, Name: "quant"}, g.Input), nil
}
