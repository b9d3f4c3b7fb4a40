package codegen

import (
	"fmt"
	"strings"

	"github.com/dave/jennifer/jen"
	"github.com/ptqc/ptqc/lower"
)

// The portable kernels of tables, products, concatenation, channel moves,
// average pooling and dilated max pools: the generic tier's (every kind of
// these has assembly, lower.Kind.HasAsm). Their loop bodies are written as Go
// source in which $ stands for the layer's ID prefix ($XC is l07XC); the
// constants are the layer's, as for the other kernels. Each follows the
// interpreter's arithmetic (compiler/interp_ops.go) on NHWC bytes: integer
// sums in any order, the same runtime call for each rounding.

// src is Go source with $ replaced by l's ID; runtime is kernels.go's import
// of the runtime package (the Quantize layer always uses it).
func src(l *layer, format string, args ...any) jen.Code {
	return jen.Id(strings.TrimSpace(strings.ReplaceAll(fmt.Sprintf(format, args...), "$", l.ID)))
}

// byteParams is the layer signature with x2 and w used as asked, and rows.
func byteParams(x2, w bool) jen.Code {
	name := func(n string, used bool) *jen.Statement {
		if used {
			return id(n)
		}
		return id("_")
	}
	return jen.List(jen.List(id("y"), id("x"), name("x2", x2)).Index().Byte(), name("w", w).Index().Int8(), id("_").Index().Int32(), rows)
}

// rows are the last parameters of every kernel here: it computes output
// rows [s0, s1), so that the workers of a tier split the layer.
var rows = jen.List(id("s0"), id("s1")).Int()

func (l *layer) generic() *jen.Statement { return jen.Func().Id(l.ID + "Generic") }

// kTableGo looks each byte up in the layer's table (one per channel for an
// affine), held in the weight section.
func kTableGo(f *jen.File, l *layer) {
	body := []jen.Code{reslice("x", l.id("XLen")), reslice("y", l.id("XLen")), reslice("w", l.id("WLen"))}
	if len(l.W) == 256 {
		body = append(body, src(l, `t := (*[256]int8)(w)
			for i := s0 * $XW * $XC; i < s1*$XW*$XC; i++ {
				y[i] = byte(t[x[i]])
			}`))
	} else {
		body = append(body, src(l, `for p := s0 * $XW; p < s1*$XW; p++ {
				ys := y[p*$XC:][:$XC]
				for c, v := range x[p*$XC:][:$XC] {
					ys[c] = byte(w[c<<8|int(v)])
				}
			}`))
	}
	f.Add(l.generic().Params(byteParams(false, true)).Block(body...))
}

// kMulGo multiplies by an operand of the same shape, by one value per
// channel (x2 is [C,1,1]) or by one value per pixel (x2 is [1,H,W]).
func kMulGo(f *jen.File, l *layer) {
	body := []jen.Code{reslice("x", l.id("XLen")), reslice("x2", l.id("X2Len")), reslice("y", l.id("YLen"))}
	const q = "runtime.Requantize((int32(v)-$XZero)*(int32(x2[%s])-$X2Zero), $M, 0, $YZero, 0, 255)"
	switch {
	case l.PlaneMul():
		// One byte of x2 a pixel, for each of its channels.
		body = append(body, src(l, `for p := s0 * $XW; p < s1*$XW; p++ {
				ys := y[p*$XC:][:$XC]
				for c, v := range x[p*$XC:][:$XC] {
					ys[c] = `+q+`
				}
			}`, "p"))
	case l.X2.Elems() == l.X.Elems():
		body = append(body, src(l, "for i := s0 * $XW * $XC; i < s1*$XW*$XC; i++ {\nv := x[i]\ny[i] = "+q+"\n}", "i"))
	default:
		body = append(body, src(l, `for p := s0 * $XW; p < s1*$XW; p++ {
				ys := y[p*$XC:][:$XC]
				for c, v := range x[p*$XC:][:$XC] {
					ys[c] = `+q+`
				}
			}`, "c"))
	}
	f.Add(l.generic().Params(byteParams(true, false)).Block(body...))
}

// kConcatGo writes each input's channels of a pixel at their offset in the
// output pixel: copied, or requantized where the input's qparams differ.
func kConcatGo(f *jen.File, l *layer) {
	ps := []jen.Code{id("y")}
	if l.DirectAll() {
		f.Add(l.generic().Params(jen.List(ps...).Index().Byte(), rows).Block(jen.Comment("Every input was written in place.")))
		return
	}
	body := []jen.Code{reslice("y", l.id("YLen"))}
	var loop strings.Builder
	loop.WriteString("for p := s0 * $YW; p < s1*$YW; p++ {\nys := y[p*$YC:][:$YC]\n")
	for i := range l.Xs {
		if l.Direct[i] {
			continue // its producer wrote it in place
		}
		x := num("x", i)
		ps = append(ps, id(x))
		body = append(body, reslice(x, l.id(num("X", i)+"Len")))
		c := strings.ToUpper(x)
		stride := c + "C" // the input's pixel stride
		if l.XsStride[i] != l.XsC[i] {
			stride = c + "S"
		}
		if l.Node.Concat.M[i] == 0 {
			fmt.Fprintf(&loop, "copy(ys[$%[1]sAt:][:$%[1]sC], %[2]s[p*$%[3]s:][:$%[1]sC])\n", c, x, stride)
			continue
		}
		fmt.Fprintf(&loop, `{
			yi := ys[$%[1]sAt:][:$%[1]sC]
			for c, v := range %[2]s[p*$%[4]s:][:$%[1]sC] {
				yi[c] = runtime.Requantize(int32(v)-$%[1]sZero, $M%[3]d, 0, $YZero, 0, 255)
			}
		}
		`, c, x, i, stride)
	}
	loop.WriteString("}")
	body = append(body, src(l, "%s", loop.String()))
	f.Add(l.generic().Params(jen.List(ps...).Index().Byte(), rows).Block(body...))
}

// kSliceGo copies channels [Start, Start+YC) of each pixel; a View's
// readers read them in place.
func kSliceGo(f *jen.File, l *layer) {
	if l.View {
		f.Add(l.generic().Params(byteParams(false, false)).Block(jen.Comment("A view: its readers read the channels in place.")))
		return
	}
	f.Add(l.generic().Params(byteParams(false, false)).Block(
		reslice("x", l.id("XLen")), reslice("y", l.id("YLen")),
		src(l, `for p := s0 * $XW; p < s1*$XW; p++ {
				copy(y[p*$YC:][:$YC], x[p*$XC+$Start:][:$YC])
			}`),
	))
}

// kShuffleGo gathers the channels of each pixel by a table: a channel
// shuffle, or a slice whose channels are not contiguous in its input's
// physical order (lower/order.go); a View's readers read them in place.
func kShuffleGo(f *jen.File, l *layer) {
	if l.View {
		f.Add(l.generic().Params(byteParams(false, false)).Block(jen.Comment("A view: its readers read the channels in place.")))
		return
	}
	f.Add(l.generic().Params(byteParams(false, false)).Block(
		reslice("x", l.id("XLen")), reslice("y", l.id("YLen")),
		src(l, `for p := s0 * $XW; p < s1*$XW; p++ {
				xs, ys := x[p*$XC:][:$XC], y[p*$YC:][:$YC]
				for c, from := range &$Perm {
					ys[c] = xs[from]
				}
			}`),
	))
}

// kChannelMaxGo takes the largest code of each pixel's channels.
func kChannelMaxGo(f *jen.File, l *layer) {
	f.Add(l.generic().Params(byteParams(false, false)).Block(
		reslice("x", l.id("XLen")), reslice("y", l.id("YLen")),
		src(l, `for p := s0 * $XW; p < s1*$XW; p++ {
				m := byte(0)
				for _, v := range x[p*$XC:][:$XC] {
					m = max(m, v)
				}
				y[p] = m
			}`),
	))
}

// kAvgPoolGo sums each window's input pixels channelwise, subtracts
// count*z and divides by the count ir.AvgPool uses, as runtime.MeanQ does:
// the interpreter's AvgPoolQ per window.
func kAvgPoolGo(f *jen.File, l *layer) {
	count := "n"
	if l.Geom.CountPad {
		count = "(min(y0+$KH, $XH+$PB) - y0) * (min(x0+$KW, $XW+$PR) - x0)"
	}
	f.Add(l.generic().Params(byteParams(false, false)).Block(
		reslice("x", l.id("XLen")), reslice("y", l.id("YLen")),
		src(l, `var acc [$XC]int32
			for oy := s0; oy < s1; oy++ {
				y0 := oy*$SH - $PT
				ya, yb := max(y0, 0), min(y0+$KH, $XH)
				for ox := range $YW {
					x0 := ox*$SW - $PL
					xa, xb := max(x0, 0), min(x0+$KW, $XW)
					acc = [$XC]int32{}
					for iy := ya; iy < yb; iy++ {
						for ix := xa; ix < xb; ix++ {
							for c, v := range x[(iy*$XW+ix)*$XC:][:$XC] {
								acc[c] += int32(v)
							}
						}
					}
					n := (yb - ya) * (xb - xa)
					inv := float32(1 / float64(%s))
					sub := int32(n) * $XZero
					ys := y[(oy*$YW+ox)*$YC:][:$YC]
					for c, s := range acc {
						ys[c] = runtime.MeanQ(s-sub, inv, $XZero)
					}
				}
			}`, count),
	))
}

// windowTaps is the loop over the window's taps of output pixel (oy, ox)
// that lie inside the input, with the input pixel's channels in xs; outside
// runs for the others.
const windowTaps = `for ky := range $KH {
		iy := oy*$SH - $PT + ky*$DH
		for kx := range $KW {
			ix := ox*$SW - $PL + kx*$DW
			if iy < 0 || iy >= $XH || ix < 0 || ix >= $XW {
				%s
				continue
			}
			xs := x[(iy*$XW+ix)*$XC:][:$XC]
			%s
		}
	}`

// kWindowPoolGo is the channelwise max over each window's taps inside the
// input (lower checks that every window has one; codes are >= 0).
func kWindowPoolGo(f *jen.File, l *layer) {
	f.Add(l.generic().Params(byteParams(false, false)).Block(
		reslice("x", l.id("XLen")), reslice("y", l.id("YLen")),
		src(l, "%s", `for oy := s0; oy < s1; oy++ {
				for ox := range $YW {
					ys := y[(oy*$YW+ox)*$YC:][:$YC]
					clear(ys)
					`+fmt.Sprintf(windowTaps, "", `for c, v := range xs {
						ys[c] = max(ys[c], v)
					}`)+`
				}
			}`),
	))
}

// opKernels are the kernels of this file by kind: each computes output rows
// [s0, s1).
var opKernels = map[lower.Kind]func(*jen.File, *layer){
	lower.Table: kTableGo, lower.Mul: kMulGo, lower.Concat: kConcatGo, lower.Slice: kSliceGo,
	lower.Shuffle: kShuffleGo, lower.AvgPool: kAvgPoolGo, lower.WindowPool: kWindowPoolGo, lower.ChannelMax: kChannelMaxGo,
}

// hasRows says whether the portable kernel of kind k takes output rows:
// those of opKernels and the grouped conv's (kinds that once had no
// assembly, their rows split across a tier's workers; forwardGeneric gives
// them all rows).
func hasRows(k lower.Kind) bool {
	_, ok := opKernels[k]
	return ok || k == lower.Grouped
}

// opKernel writes the portable kernel of a kind of opKernels.
func opKernel(f *jen.File, l *layer) {
	if k, ok := opKernels[l.Kind]; ok {
		k(f, l)
	}
}

// ystride is the pixel stride of layer l's output: YC, or YS for a conv
// writing its channels in place into a concat's output (lower.Layer.Direct).
func (l *layer) ystride() *jen.Statement {
	if l.YStride != l.YD.C {
		return l.id("YS")
	}
	return l.id("YC")
}
