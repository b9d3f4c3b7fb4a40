package compiler

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ptqc/ptqc/frontend/onnx"
	"github.com/ptqc/ptqc/ir"
)

// Repr prints a quantized node the way PyTorch prints the converted module.
func (m *Model) Repr(n *Node) string {
	out := m.Tensors[n.Out]
	qp := fmt.Sprintf(", scale=%s, zero_point=%d", pyFloat(out.Scale), out.Zero)
	switch n.Kind {
	case KQuantize:
		return fmt.Sprintf("Quantize(scale=tensor([%s]), zero_point=tensor([%d]), dtype=torch.quint8)", torchScalar(out.Scale), out.Zero)
	case KDequantize:
		switch n.Softmax {
		case "softmax":
			return "DeQuantize()  # then Softmax(dim=1) in float"
		case "log_softmax":
			return "DeQuantize()  # then LogSoftmax(dim=1) in float"
		}
		return "DeQuantize()"
	case KConv:
		c := n.Conv
		name := "QuantizedConv2d"
		switch c.Act {
		case ir.ActReLU:
			name = "QuantizedConvReLU2d"
		case ir.ActReLU6:
			name = "QuantizedConvReLU62d"
		}
		return name + "(" + ir.ConvArgs(&ir.Conv{InC: c.InC, OutC: c.OutC, Window: c.Window(), Groups: c.Groups}, qp) + ")"
	case KLinear:
		scheme := "torch.per_tensor_affine"
		if n.Conv.PerChannel {
			scheme = "torch.per_channel_affine"
		}
		return fmt.Sprintf("QuantizedLinear(in_features=%d, out_features=%d%s, qscheme=%s)", n.Conv.InC, n.Conv.OutC, qp, scheme)
	case KAdd:
		if n.Add.ReLU {
			return fmt.Sprintf("QFunctional(scale=%s, zero_point=%d)  # add_relu", pyFloat(out.Scale), out.Zero)
		}
		return fmt.Sprintf("QFunctional(scale=%s, zero_point=%d)", pyFloat(out.Scale), out.Zero)
	case KMaxPool, KAvgPool:
		op := ir.OpMaxPool
		if n.Kind == KAvgPool {
			op = ir.OpAvgPool
		}
		p := n.Pool.Spec()
		return ir.Repr(&ir.Node{Op: op, Pool: &p})
	case KTable:
		return fmt.Sprintf("Quantized%s(%s)  # lookup table", n.Table.Op, qp[2:])
	case KMul:
		return fmt.Sprintf("QFunctional(scale=%s, zero_point=%d)  # mul", pyFloat(out.Scale), out.Zero)
	case KConcat:
		return fmt.Sprintf("QFunctional(scale=%s, zero_point=%d)  # cat", pyFloat(out.Scale), out.Zero)
	case KSlice:
		return fmt.Sprintf("Slice(channels=[%d:%d])", n.Slice.Start, n.Slice.End)
	case KShuffle:
		return "ChannelShuffle()"
	case KChannelMax:
		return "amax(dim=1, keepdim=True)"
	case KMean:
		return fmt.Sprintf("mean(dim=[2, 3])  # keeps scale=%s, zero_point=%d", pyFloat(out.Scale), out.Zero)
	}
	return n.Kind.String()
}

// pyFloat is Python's repr of a float32 scale, as a converted module holds it
// (float(tensor)): the shortest digits that give the double back, exponent
// notation below 1e-4 and from 1e16.
func pyFloat(v float64) string {
	v = float64(float32(v))
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(v, 'e', -1, 64) // -d.ddde±XX
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mant, exp, _ := strings.Cut(s, "e")
	e, _ := strconv.Atoi(exp)
	digits := strings.Replace(mant, ".", "", 1)
	switch {
	case e < -4 || e >= 16:
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if e < 0 {
			es, e = "-", -e
		}
		return fmt.Sprintf("%s%se%s%02d", sign, m, es, e)
	case e < 0:
		return sign + "0." + strings.Repeat("0", -e-1) + digits
	case len(digits) <= e+1:
		return sign + digits + strings.Repeat("0", e+1-len(digits)) + ".0"
	}
	return sign + digits[:e+1] + "." + digits[e+1:]
}

// torchScalar is how PyTorch prints the one value of a float32 tensor
// (precision 4): 4 decimals, or exponent notation below 1e-4 or above 1e8,
// or an integer with a dot.
func torchScalar(v float64) string {
	v = float64(float32(v))
	a := math.Abs(v)
	switch {
	case math.IsInf(v, 0) || math.IsNaN(v):
		return pyFloat(v)
	case v == math.Ceil(v):
		if a > 1e8 {
			return fmt.Sprintf("%.4e", v)
		}
		return fmt.Sprintf("%.0f.", v)
	case a < 1e-4 || a > 1e8:
		return fmt.Sprintf("%.4e", v)
	}
	return fmt.Sprintf("%.4f", v)
}

// Print writes the quantized model, then its size: a ResNet as PyTorch prints
// the converted QuantizableResNet (its module tree, line for line), other
// models one layer a line.
func Print(w io.Writer, m *Model) error {
	size := fmt.Sprintf("size: %.2f MB (float %.2f MB)\n", float64(m.Bytes())/1e6, float64(m.Meta.FloatBytes)/1e6)
	if m.Desc != nil && m.Desc.Arch == "resnet" {
		tree, err := resnetTree(m)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s# quantized, qconfig %s\n%s", tree, m.Meta.QConfig, size)
		return err
	}
	width := 0
	for _, n := range m.Nodes {
		width = max(width, len(n.Name))
	}
	// The description archs print as their PyTorch class; an ONNX graph has none.
	name := "MobileNetV2"
	if m.Desc != nil && m.Desc.Arch == onnx.Arch {
		name = "Model"
	}
	fmt.Fprintf(w, "%s(  # quantized, qconfig %s\n", name, m.Meta.QConfig)
	for _, n := range m.Nodes {
		if _, err := fmt.Fprintf(w, "  (%s): %-*s %s\n", n.Name, width-len(n.Name), "", m.Repr(n)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, ")\n%s", size)
	return err
}

// resnetTree is PyTorch's print of torchvision's converted QuantizableResNet:
// its modules in the order they were registered, the fused-away BatchNorms
// and ReLUs as Identity(), the bottleneck's unused ReLU as it was.
func resnetTree(m *Model) (string, error) {
	byName := map[string]*Node{}
	for _, n := range m.Nodes {
		byName[n.Name] = n
	}
	var b strings.Builder
	var err error
	line := func(depth int, s string) {
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString(s)
		b.WriteByte('\n')
	}
	// node writes (key): the module of node name, or records that it is missing.
	node := func(depth int, key, name string) {
		n, ok := byName[name]
		if !ok {
			if err == nil {
				err = fmt.Errorf("print: the ResNet has no node %q", name)
			}
			return
		}
		if n.Kind == KAdd {
			// QFunctional prints its qparams, then its Identity observer.
			out := m.Tensors[n.Out]
			line(depth, "("+key+"): QFunctional(")
			line(depth+1, fmt.Sprintf("scale=%s, zero_point=%d", pyFloat(out.Scale), out.Zero))
			line(depth+1, "(activation_post_process): Identity()")
			line(depth, ")")
			return
		}
		line(depth, "("+key+"): "+m.Repr(n))
	}
	identity := func(depth int, keys ...string) {
		for _, k := range keys {
			line(depth, "("+k+"): Identity()")
		}
	}
	bottleneck := m.Desc.Block == "bottleneck"
	line(0, "QuantizableResNet(")
	node(1, "conv1", "conv1")
	identity(1, "bn1", "relu")
	node(1, "maxpool", "maxpool")
	for i, blocks := range m.Desc.Layers {
		layer := fmt.Sprintf("layer%d", i+1)
		line(1, "("+layer+"): Sequential(")
		for j := range blocks {
			p := fmt.Sprintf("%s.%d.", layer, j)
			if bottleneck {
				line(2, fmt.Sprintf("(%d): QuantizableBottleneck(", j))
				node(3, "conv1", p+"conv1")
				identity(3, "bn1")
				node(3, "conv2", p+"conv2")
				identity(3, "bn2")
				node(3, "conv3", p+"conv3")
				identity(3, "bn3")
				line(3, "(relu): ReLU(inplace=True)")
			} else {
				line(2, fmt.Sprintf("(%d): QuantizableBasicBlock(", j))
				node(3, "conv1", p+"conv1")
				identity(3, "bn1", "relu")
				node(3, "conv2", p+"conv2")
				identity(3, "bn2")
			}
			if _, ok := byName[p+"downsample.0"]; ok {
				line(3, "(downsample): Sequential(")
				node(4, "0", p+"downsample.0")
				identity(4, "1")
				line(3, ")")
			}
			if bottleneck {
				node(3, "skip_add_relu", p+"skip_add_relu")
				identity(3, "relu1", "relu2")
			} else {
				node(3, "add_relu", p+"add_relu")
			}
			line(2, ")")
		}
		line(1, ")")
	}
	line(1, "(avgpool): AdaptiveAvgPool2d(output_size=(1, 1))")
	node(1, "fc", "fc")
	node(1, "quant", "quant")
	node(1, "dequant", "dequant")
	line(0, ")")
	return b.String(), err
}
