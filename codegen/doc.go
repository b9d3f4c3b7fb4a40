package codegen

import (
	"fmt"
	"strings"

	"github.com/dave/jennifer/jen"
)

// doc writes doc.go: the package comment with the model and its provenance.
func (g *gen) doc() ([]byte, error) {
	m, meta := g.m, g.m.Meta
	in, out := g.layers[0].XD, g.layers[len(g.layers)-1].XD
	arch := m.Desc.Arch
	switch arch {
	case "mobilenetv2":
		arch = "MobileNetV2"
	case "resnet":
		arch = fmt.Sprintf("ResNet (%s blocks %v)", m.Desc.Block, m.Desc.Layers)
	case "onnx":
		arch = "network read from ONNX"
	}
	qc := meta.QConfig
	if qc == "" {
		qc = "(not recorded)"
	}
	or := func(s string) string {
		if s == "" {
			return "(not recorded)"
		}
		return s
	}
	ls := []string{
		fmt.Sprintf("Package %s is a %s (input %v, %d classes) quantized to int8 by ptqc:", g.opts.Package, arch, in, out.Elems()),
		"a standalone package that runs it with integer arithmetic, bit for bit as ptqc's",
		"int8 reference interpreter does.",
		"",
		"	m := " + g.opts.Package + ".New() // safe for concurrent use",
		"	err := m.Forward(logits, images) // N images NCHW, normalized -> N x NumClasses",
		"	top, err := m.Classify(img, 5)   // an image.Image, preprocessed with Transform: class, name, probability",
		"",
		"Provenance:",
		"",
		"	ptqc version              " + or(meta.Version),
		"	qconfig                   " + qc,
	}
	if meta.QConfigRepr != "" {
		ls = append(ls, "	                          "+meta.QConfigRepr)
	}
	ls = append(ls,
		// Both by content, not by file (see compiler.Meta): the same model
		// gives the same doc.go from a .pth or a safetensors file.
		"	description fields sha256 "+or(meta.DescSHA256),
		"	weights tensors sha256    "+or(meta.WeightsSHA256),
		fmt.Sprintf("	calibration samples       %d", meta.CalibSamples),
		fmt.Sprintf("	cross-layer equalization  %v", meta.Equalize),
	)
	if meta.EqualizeNote != "" {
		ls = append(ls, "	                          "+meta.EqualizeNote)
	}
	ls = append(ls,
		fmt.Sprintf("	bias correction           %v", meta.BiasCorrect),
		fmt.Sprintf("	weights.bin               %d bytes (float model %d bytes)", len(g.weights), meta.FloatBytes),
		fmt.Sprintf("	activation arena          %d bytes per worker", g.lm.ArenaBytes),
		"	kernel tiers              "+strings.Join(g.tiers(), ", ")+" (New picks one; PTQC_ISA forces it)",
	)
	if g.opts.Command != "" {
		ls = append(ls, "", "Regenerate it from this directory with:", "", "	"+strings.TrimSpace(g.opts.Command))
	}
	f := jen.NewFile(g.opts.Package)
	f.HeaderComment(Header)
	f.PackageComment(lines(ls...))
	buildConst(f, "docBuild", "docBuild is the build this file comes from (see buildID).")
	return render(f)
}
