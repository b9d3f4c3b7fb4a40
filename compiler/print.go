package compiler

import (
	"fmt"
	"io"

	"github.com/ptqc/ptqc/ir"
)

// Repr prints a quantized node the way PyTorch prints the converted module.
func (m *Model) Repr(n *Node) string {
	out := m.Tensors[n.Out]
	qp := fmt.Sprintf(", scale=%v, zero_point=%d", float32(out.Scale), out.Zero)
	switch n.Kind {
	case KQuantize:
		return fmt.Sprintf("Quantize(scale=tensor([%v]), zero_point=tensor([%d]), dtype=torch.quint8)", float32(out.Scale), out.Zero)
	case KDequantize:
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
		return name + "(" + ir.ConvArgs(&ir.Conv{InC: c.InC, OutC: c.OutC, Kernel: c.Kernel, Stride: c.Stride, Pad: c.Pad, Groups: c.Groups}, qp) + ")"
	case KLinear:
		scheme := "torch.per_tensor_affine"
		if n.Conv.PerChannel {
			scheme = "torch.per_channel_affine"
		}
		return fmt.Sprintf("QuantizedLinear(in_features=%d, out_features=%d%s, qscheme=%s)", n.Conv.InC, n.Conv.OutC, qp, scheme)
	case KAdd:
		if n.Add.ReLU {
			return fmt.Sprintf("QFunctional(scale=%v, zero_point=%d)  # add_relu", float32(out.Scale), out.Zero)
		}
		return fmt.Sprintf("QFunctional(scale=%v, zero_point=%d)", float32(out.Scale), out.Zero)
	case KMaxPool:
		p := n.Pool
		return fmt.Sprintf("MaxPool2d(kernel_size=%d, stride=%d, padding=%d, dilation=1, ceil_mode=False)", p.Kernel, p.Stride, p.Pad)
	case KMean:
		return fmt.Sprintf("mean(dim=[2, 3])  # keeps scale=%v, zero_point=%d", float32(out.Scale), out.Zero)
	}
	return n.Kind.String()
}

// Print writes the quantized model one layer a line, then its size.
func Print(w io.Writer, m *Model) error {
	width := 0
	for _, n := range m.Nodes {
		width = max(width, len(n.Name))
	}
	name := "MobileNetV2"
	if m.Desc.Arch == "resnet" {
		name = "QuantizableResNet"
	}
	fmt.Fprintf(w, "%s(  # quantized, qconfig %s\n", name, m.Meta.QConfig)
	for _, n := range m.Nodes {
		if _, err := fmt.Fprintf(w, "  (%s): %-*s %s\n", n.Name, width-len(n.Name), "", m.Repr(n)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, ")\nsize: %.2f MB (float %.2f MB)\n", float64(m.Bytes())/1e6, float64(m.Meta.FloatBytes)/1e6)
	return err
}
