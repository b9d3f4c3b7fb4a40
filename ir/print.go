package ir

import (
	"fmt"
	"io"
	"strings"
)

// fixedRepr prints the nodes that have no parameters to show.
var fixedRepr = map[Op]string{
	OpQuant: "QuantStub()", OpDeQuant: "DeQuantStub()", OpReLU: "ReLU()", OpReLU6: "ReLU6()",
	OpMean: "mean(dim=[2, 3])", OpFlatten: "Flatten()", OpDropout: "Dropout(p=0.2, inplace=False)", OpIdentity: "Identity()",
	OpSoftmax: "Softmax(dim=1)", OpLogSoftmax: "LogSoftmax(dim=1)", OpChannelMax: "amax(dim=1, keepdim=True)",
}

// Repr is a node in the spirit of PyTorch's module printout.
func Repr(n *Node) string {
	if s, ok := fixedRepr[n.Op]; ok {
		return s
	}
	switch n.Op {
	case OpConv:
		name := "Conv2d"
		switch n.Act {
		case ActReLU:
			name = "ConvReLU2d"
		case ActReLU6:
			name = "ConvReLU62d"
		}
		return name + "(" + ConvArgs(n.Conv, "") + fmt.Sprintf(", bias=%s)", pyBool(n.Conv.Bias != nil))
	case OpBatchNorm:
		return fmt.Sprintf("BatchNorm2d(%d, eps=%g, momentum=0.1, affine=True, track_running_stats=True)", n.BN.C, n.BN.Eps)
	case OpAdd:
		if n.Act == ActReLU {
			return "FloatFunctional(add_relu)"
		}
		return "FloatFunctional(add)"
	case OpSub:
		if n.Act == ActReLU {
			return "sub_relu"
		}
		return "sub"
	case OpMaxPool:
		p := n.Pool
		return fmt.Sprintf("MaxPool2d(kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s)", num(p.KH, p.KW), num(p.SH, p.SW), poolPads(&p.Window), num(p.DH, p.DW), pyBool(p.Ceil))
	case OpAvgPool:
		p := n.Pool
		return fmt.Sprintf("AvgPool2d(kernel_size=%s, stride=%s, padding=%s, ceil_mode=%s, count_include_pad=%s)", num(p.KH, p.KW), num(p.SH, p.SW), poolPads(&p.Window), pyBool(p.Ceil), pyBool(p.CountPad))
	case OpHardSigmoid:
		return fmt.Sprintf("Hardsigmoid(alpha=%g, beta=%g)", n.Unary.Alpha, n.Unary.Beta)
	case OpLeakyReLU:
		return fmt.Sprintf("LeakyReLU(negative_slope=%g)", n.Unary.Alpha)
	case OpELU:
		return fmt.Sprintf("ELU(alpha=%g)", n.Unary.Alpha)
	case OpSELU:
		return fmt.Sprintf("SELU(alpha=%g, scale=%g)", n.Unary.Alpha, n.Unary.Beta)
	case OpCELU:
		return fmt.Sprintf("CELU(alpha=%g)", n.Unary.Alpha)
	case OpClip:
		return fmt.Sprintf("Hardtanh(min_val=%g, max_val=%g)", n.Unary.Alpha, n.Unary.Beta)
	case OpPReLU:
		return fmt.Sprintf("PReLU(num_parameters=%d)", len(n.Slope))
	case OpAffine:
		return fmt.Sprintf("Affine%s(%d)", map[Act]string{ActReLU: "ReLU", ActReLU6: "ReLU6"}[n.Act], n.Affine.C)
	case OpSlice:
		return fmt.Sprintf("Slice(channels=[%d:%d])", n.Slice.Start, n.Slice.End)
	case OpLinear:
		name := "Linear"
		if n.Act == ActReLU {
			name = "LinearReLU"
		}
		return fmt.Sprintf("%s(in_features=%d, out_features=%d, bias=%s)", name, n.Linear.In, n.Linear.Out, pyBool(n.Linear.Bias != nil))
	}
	return n.Op.String() + "()"
}

// ConvArgs formats a conv's arguments like PyTorch: in, out, kernel_size,
// stride, then extra (e.g. scale and zero point), then padding and groups.
func ConvArgs(c *Conv, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d, %d, kernel_size=%s, stride=%s", c.InC, c.OutC, pair(c.KH, c.KW), pair(c.SH, c.SW))
	b.WriteString(extra)
	if c.PadT != 0 || c.PadL != 0 || c.PadB != 0 || c.PadR != 0 {
		b.WriteString(", padding=" + pads(&c.Window))
	}
	if c.DH != 1 || c.DW != 1 {
		b.WriteString(", dilation=" + pair(c.DH, c.DW))
	}
	if c.Groups != 1 {
		fmt.Fprintf(&b, ", groups=%d", c.Groups)
	}
	return b.String()
}

func pair(a, b int) string { return fmt.Sprintf("(%d, %d)", a, b) }

// pads is PyTorch's (top, left) padding, or all four sides when they differ.
func pads(w *Window) string {
	if w.PadT == w.PadB && w.PadL == w.PadR {
		return pair(w.PadT, w.PadL)
	}
	return fmt.Sprintf("(%d, %d, %d, %d)", w.PadT, w.PadL, w.PadB, w.PadR)
}

// num is a pooling argument as PyTorch prints it: one int when both agree.
func num(a, b int) string {
	if a == b {
		return fmt.Sprint(a)
	}
	return pair(a, b)
}

func poolPads(w *Window) string {
	if w.PadT == w.PadB && w.PadL == w.PadR {
		return num(w.PadT, w.PadL)
	}
	return pads(w)
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// Print writes the graph one module a line, with its output shape, then the
// parameter count and float size.
func Print(w io.Writer, g *Graph) error { return print(w, g, false) }

// PrintMACs is Print with each conv's and linear's multiply-accumulates per
// sample, and their total.
func PrintMACs(w io.Writer, g *Graph) error { return print(w, g, true) }

func print(w io.Writer, g *Graph, macs bool) error {
	width := 0
	for _, n := range g.Nodes {
		width = max(width, len(n.Name))
	}
	if _, err := fmt.Fprintf(w, "%s(\n", g.Name); err != nil {
		return err
	}
	total := 0.0
	for _, n := range g.Nodes {
		line := fmt.Sprintf("  (%s): %-*s %s -> %v", n.Name, width-len(n.Name), "", Repr(n), g.Tensors[n.Out].Shape)
		if m := g.MACs(n); macs && m > 0 {
			total += m
			line += "  MACs " + count(m)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(w, ")\nparameters: %d, float size: %.2f MB", g.ParamCount(), float64(g.FloatBytes())/1e6); err != nil {
		return err
	}
	if macs {
		if _, err := fmt.Fprintf(w, ", MACs per sample: %s", count(total)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

// count is n with a k/M/G suffix.
func count(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}
