package codegen

import "github.com/dave/jennifer/jen"

// The portable kernels of Dense and Depthwise layers with any other window
// than a square one (lower.Layer.Windowed) loop over its KH x KW taps with
// per-axis strides, the top and left pads and dilation; the square ones keep
// the K, S, P code they always had.

// windowTapsLoop is taps for a windowed layer.
func windowTapsLoop(l *layer, body ...jen.Code) jen.Code {
	return rangeInt("ky", l.id("KH"),
		id("iy").Op(":=").Id("oy").Op("*").Add(l.id("SH")).Op("-").Add(l.id("PT")).Op("+").Id("ky").Op("*").Add(l.id("DH")),
		rangeInt("kx", l.id("KW"), append([]jen.Code{
			id("ix").Op(":=").Id("ox").Op("*").Add(l.id("SW")).Op("-").Add(l.id("PL")).Op("+").Id("kx").Op("*").Add(l.id("DW")),
		}, body...)...),
	)
}

// tapIndex is the row-major index of tap (ky, kx).
func tapIndex(l *layer) *jen.Statement {
	if l.Windowed() {
		return id("ky").Op("*").Add(l.id("KW")).Op("+").Id("kx")
	}
	return id("ky").Op("*").Add(l.id("K")).Op("+").Id("kx")
}

// tapCount is the number of taps.
func tapCount(l *layer) *jen.Statement {
	if l.Windowed() {
		return l.id("KH").Op("*").Add(l.id("KW"))
	}
	return l.id("K").Op("*").Add(l.id("K"))
}
