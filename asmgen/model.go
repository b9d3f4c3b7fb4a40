package asmgen

import (
	"fmt"

	"github.com/ptqc/ptqc/codegen"
	"github.com/ptqc/ptqc/compiler"
)

// Tiers are the instruction-set tiers Generate writes, best last.
var Tiers = []ISA{AVX2, AVX512VNNI, AVX512, AMX}

// Generate writes the assembly of every layer of m that has a kernel, for
// every tier of Tiers; name gives the Go name of node i's kernel for a tier.
// It is codegen's Options.Asm (a codegen.AsmGenerator).
func Generate(m *compiler.Model, pkg string, name func(node int, tier string) string) (*codegen.Asm, error) {
	return GenerateTiers(m, pkg, Tiers, name)
}

// GenerateTiers is Generate for the given tiers.
func GenerateTiers(m *compiler.Model, pkg string, tiers []ISA, name func(node int, tier string) string) (*codegen.Asm, error) {
	p := NewProgram(pkg)
	out := &codegen.Asm{Layers: make([]codegen.AsmLayer, len(m.Nodes))}
	for _, t := range tiers {
		out.Tiers = append(out.Tiers, t.tier())
	}
	xmax := map[int]int32{} // largest code each tensor can hold
	consumers := map[int][]int{}
	for i, nd := range m.Nodes {
		for _, t := range nd.In {
			consumers[t] = append(consumers[t], i)
		}
	}
	tensor := func(id int) (*compiler.Tensor, error) {
		if id < 0 || id >= len(m.Tensors) || m.Tensors[id] == nil {
			return nil, fmt.Errorf("tensor %d out of range", id)
		}
		return m.Tensors[id], nil
	}
	chw := func(t *compiler.Tensor) (c, h, w int) {
		if len(t.Shape) == 3 {
			return t.Shape[0], t.Shape[1], t.Shape[2]
		}
		return t.Elems(), 1, 1
	}
	layers := make([]func(isa ISA, fn string) error, len(m.Nodes))
	tiles := make([]bool, len(m.Nodes)) // layers an amx tier runs as tile programs
	for i, nd := range m.Nodes {
		if len(nd.In) == 0 {
			return nil, fmt.Errorf("node %d (%s): no input", i, nd.Name)
		}
		x, err := tensor(nd.In[0])
		if err != nil {
			return nil, err
		}
		y, err := tensor(nd.Out)
		if err != nil {
			return nil, err
		}
		l := &out.Layers[i]
		l.Funcs = map[string]string{}
		xc, xh, xw := chw(x)
		yc, yh, yw := chw(y)
		xmax[nd.Out] = 255
		switch nd.Kind {
		case compiler.KQuantize:
			q := &Quantize{C: xc, H: xh, W: xw, Inv: float32(1 / y.Scale), Z: y.Zero, OutStride: xc}
			if cs := consumers[nd.Out]; len(cs) == 1 {
				if c := m.Nodes[cs[0]]; c.Conv != nil && c.Conv.Groups == 1 && !pointwise(c.Conv) {
					q.OutStride, q.Border = 4*codegen.Quads(xc), c.Conv.Pad
					l.In = &codegen.AsmPad{Stride: q.OutStride, Border: q.Border, Z: uint8(y.Zero)}
				}
			}
			l.Kind, l.Units = codegen.AsmQuantize, q.Units()
			layers[i] = func(isa ISA, fn string) error { return p.Quantize(fn, q, isa.base()) }
		case compiler.KConv, compiler.KLinear:
			c := nd.Conv
			if c == nil {
				return nil, fmt.Errorf("node %d (%s): no conv parameters", i, nd.Name)
			}
			xmax[nd.Out] = c.Hi
			rq := Requant{M: c.M, B: c.B, Z: y.Zero, Lo: c.Lo, Hi: c.Hi}
			switch {
			case c.Groups == 1:
				d := &Dense{Cin: c.InC, Cout: c.OutC, K: c.Kernel, Stride: c.Stride, Pad: c.Pad,
					H: xh, W: xw, OH: yh, OW: yw, InStride: xc, OutStride: yc,
					ZIn: x.Zero, XMax: xmax[nd.In[0]], Weight: c.Weight, Requant: rq}
				if !d.Pointwise() {
					d.InStride = 4 * codegen.Quads(xc)
					l.In = &codegen.AsmPad{Stride: d.InStride, Border: d.Pad, Z: uint8(x.Zero)}
				}
				if err := d.check(); err != nil {
					return nil, fmt.Errorf("node %d (%s): %w", i, nd.Name, err)
				}
				l.Kind, l.Units, l.Cols = codegen.AsmDense, d.Units(), d.Cols()
				for _, isa := range tiers {
					if isa.amx() && d.tileOK() {
						l.Scratch = max(l.Scratch, amxScratch(isa))
						continue
					}
					l.Scratch = max(l.Scratch, d.ScratchBytes(isa.base()))
				}
				tiles[i] = d.tileOK()
				layers[i] = func(isa ISA, fn string) error {
					if isa.amx() && d.tileOK() {
						return p.AMXDense(fn, d, isa)
					}
					return p.Dense(fn, d, isa.base())
				}
			case c.Groups == c.InC && c.Groups == c.OutC:
				d := &Depthwise{C: c.InC, K: c.Kernel, Stride: c.Stride, Pad: c.Pad, H: xh, W: xw, OH: yh, OW: yw,
					ZIn: x.Zero, XMax: xmax[nd.In[0]], Weight: c.Weight, Requant: rq}
				l.Kind, l.Units = codegen.AsmDepthwise, d.Units()
				layers[i] = func(isa ISA, fn string) error { return p.Depthwise(fn, d, isa.base()) }
			default:
				// Grouped convs other than depthwise keep the portable kernel.
				l.Kind = codegen.AsmNone
			}
		case compiler.KAdd:
			if len(nd.In) != 2 || nd.Add == nil {
				return nil, fmt.Errorf("node %d (%s): bad add", i, nd.Name)
			}
			b, err := tensor(nd.In[1])
			if err != nil {
				return nil, err
			}
			a := &Add{N: x.Elems(), ZA: x.Zero, ZB: b.Zero, MA: nd.Add.MA, MB: nd.Add.MB, Z: y.Zero, ReLU: nd.Add.ReLU}
			l.Kind, l.Units = codegen.AsmAdd, a.Units()
			layers[i] = func(isa ISA, fn string) error { return p.Add(fn, a, isa.base()) }
		case compiler.KMaxPool:
			if nd.Pool == nil {
				return nil, fmt.Errorf("node %d (%s): no pool parameters", i, nd.Name)
			}
			xmax[nd.Out] = xmax[nd.In[0]]
			mp := &MaxPool{C: xc, H: xh, W: xw, OH: yh, OW: yw, K: nd.Pool.Kernel, S: nd.Pool.Stride, P: nd.Pool.Pad}
			l.Kind, l.Units = codegen.AsmMaxPool, mp.Units()
			layers[i] = func(isa ISA, fn string) error { return p.MaxPool(fn, mp, isa.base()) }
		case compiler.KMean:
			xmax[nd.Out] = xmax[nd.In[0]]
			mn := &Mean{C: xc, HW: xh * xw, Z: x.Zero}
			l.Kind = codegen.AsmMean
			layers[i] = func(isa ISA, fn string) error { return p.Mean(fn, mn, isa.base()) }
		default:
			l.Kind = codegen.AsmNone
		}
	}
	made := map[ISA]bool{}
	for _, isa := range tiers {
		made[isa] = true
		for i, f := range layers {
			if f == nil || out.Layers[i].Kind == codegen.AsmNone {
				continue
			}
			if isa.amx() && !tiles[i] && made[isa.base()] {
				// The base tier's kernel, already written.
				out.Layers[i].Funcs[isa.tier()] = out.Layers[i].Funcs[isa.base().tier()]
				continue
			}
			fn := name(i, isa.tier())
			if err := f(isa, fn); err != nil {
				return nil, fmt.Errorf("node %d (%s): %w", i, m.Nodes[i].Name, err)
			}
			out.Layers[i].Funcs[isa.tier()] = fn
		}
	}
	asm, stubs, err := p.Output()
	if err != nil {
		return nil, err
	}
	out.Files = map[string][]byte{"kernels_amd64.s": asm, "kernels_amd64.go": stubs}
	return out, nil
}

func pointwise(c *compiler.Conv) bool { return c.Kernel == 1 && c.Stride == 1 && c.Pad == 0 }
