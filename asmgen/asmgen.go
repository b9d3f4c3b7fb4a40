// Package asmgen generates x86-64 assembly for the layers of a quantized model
// with avo: one generator per layer kind, each specialised for its layer (trip
// counts, strides, offsets, multipliers and zero points are immediates or
// read-only data in the assembly, never arguments). Every kernel is bit-exact
// with the int8 reference interpreter (compiler.Run).
//
// Activations are NHWC uint8 with exactly C channels per pixel, as the arena
// of package lower's plan holds them. Kernels read whole vectors past a pixel's channels (into
// the next pixel, or past a tensor's end into slack the arena must provide:
// lower.ReadSlack bytes); those lanes meet zero weights or are never stored. Every
// store writes exactly the output's bytes, so workers can compute neighbouring
// parts of one tensor at once. The weight packing is lower's (PackDense,
// PackDepthwise), shared with the portable Go kernels: one weights.bin serves
// every tier.
package asmgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
	"github.com/mmcloughlin/avo/reg"
	"github.com/ptqc/ptqc/runtime"
)

// Target is what a kernel is generated for: a runtime tier's design.
// Production code generates native targets only; tests also generate
// emulations (the unexported emu), which replace the instructions a CPU may
// lack by exact AVX2 code, so that a tier's data flow (paths, tables, packing,
// loops) runs and is checked on CPUs without it.
type Target struct {
	*runtime.Tier
	emu emulation
}

// emulation is what of a target AVX2 code replaces.
type emulation int

const (
	native emulation = iota
	// emulAVX2 replaces VPDPBUSD, the opmask stores and the tile
	// instructions, on 8-lane ymm vectors: the target runs as the avx2 tier.
	emulAVX2
	// emulTiles replaces the tile instructions of an amx target only: it
	// runs as its base tier (avx512).
	emulTiles
)

func (t Target) String() string {
	return t.Name + map[emulation]string{emulAVX2: "-emulated", emulTiles: "-tiles-emulated"}[t.emu]
}

// emulated says whether VPDPBUSD, opmasks and tile instructions are replaced by AVX2 code.
func (t Target) emulated() bool { return t.emu == emulAVX2 }

// lanes is the number of int32 lanes of the target's vectors.
func (t Target) lanes() int {
	if t.emulated() {
		return 8
	}
	return t.Lanes
}

// base is the target whose kernels an amx target runs for the layers
// without a tile program (itself for the others).
func (t Target) base() Target {
	if t.Base == nil {
		return t
	}
	emu := t.emu
	if emu == emulTiles {
		emu = native
	}
	return Target{t.Base, emu}
}

// tier is the runtime tier whose CPUs run the code.
func (t Target) tier() string {
	switch t.emu {
	case emulAVX2:
		return runtime.AVX2.Name
	case emulTiles:
		return t.Base.Name
	}
	return t.Name
}

// ChanStride is c rounded up to a multiple of 8, the int32 lanes of a ymm
// register: the width of the widened input rows in a dense kernel's scratch
// and of the mean's chunks.
func ChanStride(c int) int { return (c + 7) &^ 7 }

// Program collects kernels into one assembly file and its Go stubs.
type Program struct {
	ctx    *build.Context
	pkg    string
	names  map[string]bool
	tables map[string]operand.Mem // table contents -> symbol
	keys   map[string]string      // symbol -> table contents, for absorb
	err    error
	// body is the assembly of the sections flushed so far, after a
	// predicted header of head bytes; printed counts those sections.
	body    []byte
	head    int
	printed int
}

// NewProgram starts an empty program for Go package pkg.
func NewProgram(pkg string) *Program {
	return &Program{ctx: build.NewContext(), pkg: pkg, names: map[string]bool{}, tables: map[string]operand.Mem{}, keys: map[string]string{}}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// function starts a new TEXT symbol; the name must be a fresh Go identifier.
func (p *Program) function(name, sig string, doc ...string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("asmgen: bad kernel name %q", name)
	}
	if p.names[name] {
		return fmt.Errorf("asmgen: duplicate kernel name %q", name)
	}
	p.names[name] = true
	p.ctx.Function(name)
	p.ctx.Attributes(attr.NOSPLIT)
	p.ctx.SignatureExpr(sig)
	p.ctx.Pragma("noescape")
	p.ctx.Doc(doc...)
	return nil
}

// data adds a read-only symbol made of 32-bit words and returns it.
// Equal tables (the tiers' copies, splatted constants) share one symbol.
func (p *Program) data(name string, words []uint32) operand.Mem {
	kb := make([]byte, 4*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint32(kb[4*i:], w)
	}
	key := string(kb) // the words' bytes: equal keys, equal tables
	if m, ok := p.tables[key]; ok {
		return m
	}
	m := p.ctx.StaticGlobal(name)
	p.ctx.DataAttributes(attr.RODATA | attr.NOPTR)
	for i := 0; i < len(words); i += 2 {
		if i+1 < len(words) {
			p.ctx.AppendDatum(operand.U64(uint64(words[i]) | uint64(words[i+1])<<32))
		} else {
			p.ctx.AppendDatum(operand.U32(words[i]))
		}
	}
	p.tables[key] = m
	p.keys[m.Symbol.Name] = key
	return m
}

// flag adds a writable 8-byte variable, zero when the program starts.
func (p *Program) flag(name string) operand.Mem {
	m := p.ctx.StaticGlobal(name)
	p.ctx.DataAttributes(attr.NOPTR)
	p.ctx.AppendDatum(operand.U64(0))
	key := "flag " + name // never equal to a table's words
	p.tables[key] = m
	p.keys[m.Symbol.Name] = key
	return m
}

// absorb appends q's functions and tables to p, as if q's generators had
// run on p after p's: a table equal to one p has is dropped, and q's code
// refers to p's. So kernels generated side by side, each on its own
// Program, give the file one Program would.
func (p *Program) absorb(q *Program) error {
	if q.err != nil {
		return q.err
	}
	qf, err := q.ctx.Result()
	if err != nil {
		return err
	}
	pf, err := p.ctx.Result()
	if err != nil {
		return err
	}
	rename := map[string]operand.Symbol{}
	for _, s := range qf.Sections {
		switch s := s.(type) {
		case *ir.Function:
			if p.names[s.Name] {
				return fmt.Errorf("asmgen: duplicate kernel name %q", s.Name)
			}
			p.names[s.Name] = true
		case *ir.Global:
			key, ok := q.keys[s.Symbol.Name]
			if !ok {
				return fmt.Errorf("asmgen: data %s not made by data", s.Symbol.Name)
			}
			if m, ok := p.tables[key]; ok {
				rename[s.Symbol.Name] = m.Symbol
				continue
			}
			p.tables[key] = s.Base()
			p.keys[s.Symbol.Name] = key
		}
		pf.AddSection(s)
	}
	if len(rename) == 0 {
		return nil
	}
	for _, fn := range qf.Functions() {
		for _, n := range fn.Nodes {
			i, ok := n.(*ir.Instruction)
			if !ok {
				continue
			}
			for _, ops := range [][]operand.Op{i.Operands, i.Inputs, i.Outputs} {
				for k, op := range ops {
					if m, ok := op.(operand.Mem); ok {
						if sym, ok := rename[m.Symbol.Name]; ok {
							m.Symbol = sym
							ops[k] = m
						}
					}
				}
			}
		}
	}
	return nil
}

// Output compiles the program: the .s file and the Go stubs (both start with
// "// Code generated by ptqc. DO NOT EDIT."). A program flushed before
// compiles and prints only what was added since.
func (p *Program) Output() (asm, stubs []byte, err error) {
	if p.err != nil {
		return nil, nil, p.err
	}
	f, err := p.ctx.Result()
	if err != nil {
		return nil, nil, err
	}
	cfg := printer.Config{Name: "ptqc", Pkg: p.pkg}
	if p.printed > 0 {
		if err := p.flush(); err != nil {
			return nil, nil, err
		}
		if err := pass.IncludeTextFlagHeader(f); err != nil {
			return nil, nil, err
		}
		head, err := printHeader(cfg, f.Constraints, f.Includes)
		if err != nil {
			return nil, nil, err
		}
		if asm = p.body; !bytes.Equal(asm[:p.head], head) {
			asm = append(head, asm[p.head:]...)
		}
	} else {
		if err := compileFile(f); err != nil {
			return nil, nil, err
		}
		if asm, err = printFile(cfg, f); err != nil {
			return nil, nil, err
		}
	}
	if stubs, err = printer.NewStubs(cfg).Print(f); err != nil {
		return nil, nil, err
	}
	return asm, stubs, nil
}

// flush compiles and prints the sections added since the last flush and
// drops their instructions: the kernels of a build, most of the back end's
// heap, are garbage once printed, so that the collector can give their
// pages to the next ones instead of the build faulting in new pages. The
// file is the same byte for byte as Output gives without flushes (each
// function compiles on its own and prints from a clean state; the header,
// which depends on every section's attributes, is predicted and checked by
// Output).
func (p *Program) flush() error {
	if p.err != nil {
		return p.err
	}
	f, err := p.ctx.Result()
	if err != nil {
		return err
	}
	secs := f.Sections[p.printed:]
	for _, s := range secs {
		if fn, ok := s.(*ir.Function); ok {
			if err := verifyFunc(fn); err != nil {
				return fmt.Errorf("%s: %w", fn.Name, err)
			}
			if err := compileFunc(fn); err != nil {
				return fmt.Errorf("%s: %w", fn.Name, err)
			}
		}
	}
	if p.body == nil {
		// Every kernel is NOSPLIT: the header includes textflag.h.
		includes := f.Includes
		if !slices.Contains(includes, textflag) {
			includes = append(slices.Clip(includes), textflag)
		}
		if p.body, err = printHeader(printer.Config{Name: "ptqc", Pkg: p.pkg}, f.Constraints, includes); err != nil {
			return err
		}
		p.head = len(p.body)
	}
	p.body = appendSections(p.body, secs)
	for _, s := range secs {
		if fn, ok := s.(*ir.Function); ok {
			fn.Nodes = nil
		}
	}
	p.printed = len(f.Sections)
	return nil
}

// Requant holds an output's requantization:
// q = clamp(rne(float32(float32(acc)*M[c]) + B[c]) + Z, Lo, Hi).
type Requant struct {
	M, B       []float32 // B: the float bias in output units (nil: none)
	Z, Lo, Hi  int32
	MaxAbsProd []float64 // per channel, bound on |float32(acc)*M + B| (decides the overflow guard)
	// Table, when not nil, is a 256-entry table every output byte q is
	// looked up in (T[q]) before the kernel returns: an epilogue table
	// (lower.Epilogue, lutRows and lutFlat).
	Table []uint8
	// Add, when not nil, is a residual add applied the same way (EpiAdd);
	// a kernel has a table or an add, not both.
	Add *EpiAdd
}

func (r *Requant) check(n int) error {
	if len(r.M) != n || (r.B != nil && len(r.B) != n) {
		return fmt.Errorf("asmgen: %d multipliers and %d biases for %d channels", len(r.M), len(r.B), n)
	}
	for c, m := range r.M {
		if math.IsNaN(float64(m)) || math.IsInf(float64(m), 0) {
			return fmt.Errorf("asmgen: channel %d: multiplier %v is not finite", c, m)
		}
	}
	for c, b := range r.B {
		if math.IsNaN(float64(b)) || math.IsInf(float64(b), 0) {
			return fmt.Errorf("asmgen: channel %d: bias %v is not finite", c, b)
		}
	}
	if r.Table != nil && len(r.Table) != 256 {
		return fmt.Errorf("asmgen: epilogue table of %d entries, want 256", len(r.Table))
	}
	if r.Add != nil {
		if r.Table != nil {
			return fmt.Errorf("asmgen: an epilogue table and add")
		}
		if err := r.Add.check(); err != nil {
			return err
		}
	}
	if r.Z < 0 || r.Z > 255 || r.Lo < 0 || r.Hi > 255 || r.Lo > r.Hi {
		return fmt.Errorf("asmgen: zero point %d or clamp [%d, %d] outside 0..255", r.Z, r.Lo, r.Hi)
	}
	return nil
}

// needsCap says whether a rounded product can overflow VCVTPS2DQ's int32 (which
// then gives 0x80000000, the wrong side for a large positive value).
func needsCap(bound []float64) bool {
	for _, b := range bound {
		if !(b < 1<<30) {
			return true
		}
	}
	return false
}

// consts builds a function's constant vectors in read-only data.
type consts struct {
	p     *Program
	name  string
	n     int
	lanes int  // 32-bit words of a splatted constant (a vector's width)
	zmm   bool // the avx512 tier's design (packer.narrow)
}

func newConsts(p *Program, name string, isa Target) *consts {
	return &consts{p: p, name: name, lanes: isa.lanes(), zmm: isa.ZMM}
}

func (k *consts) vec(words ...uint32) operand.Mem {
	k.n++
	return k.p.data(fmt.Sprintf("%s_k%d", k.name, k.n), words)
}

func splat32(v uint32, n int) []uint32 {
	w := make([]uint32, n)
	for i := range w {
		w[i] = v
	}
	return w
}

func (k *consts) i16(v int32) operand.Mem {
	return k.vec(splat32(uint32(uint16(v))|uint32(uint16(v))<<16, k.lanes)...)
}

func (k *consts) u8(v int32) operand.Mem {
	b := uint32(uint8(v))
	return k.vec(splat32(b|b<<8|b<<16|b<<24, k.lanes)...)
}

func (k *consts) f32(v float32) operand.Mem { return k.vec(splat32(math.Float32bits(v), k.lanes)...) }

func (k *consts) i32(v int32) operand.Mem { return k.vec(splat32(uint32(v), k.lanes)...) }

func (k *consts) floats(v []float32) operand.Mem { return k.vec(floatBits(v)...) }

func floatBits(v []float32) []uint32 {
	w := make([]uint32, len(v))
	for i, f := range v {
		w[i] = math.Float32bits(f)
	}
	return w
}

// packer emits the tail of every requantization: int32 lanes (already
// rne(float32(acc)*M + B)) -> + Z -> uint8 clamped to [Lo, Hi]. Saturating packs
// then a saturating add of Z are exact: any value outside int16 is far outside
// 0..255 on the same side.
type packer struct {
	c      *build.Context
	z      operand.Mem // Z as int16 lanes (none for a Z of 0: addZ)
	zero   bool        // Z is 0 (a ReLU's output, mostly): no addition
	lo, hi operand.Mem // bytes
	doLo   bool
	doHi   bool
	capv   operand.Mem // float lanes of 2^30, when needed
	doCap  bool
	// On zmm the clamp is done on int32 lanes and VPMOVUSDB narrows them:
	// Z, Lo and Hi as int32 lanes.
	z32, lo32, hi32 operand.Mem
	// lut is the epilogue table (Requant.Table), nil when none; add the
	// epilogue add (Requant.Add).
	lut *lut
	add *addEpi
	// vbmi is the kernel's flag (vbmiFlag) when its table lookups have the
	// VBMI way too (askVBMI); vbmiName and vbmiN make its labels.
	vbmi     operand.Mem
	vbmiName string
	vbmiN    int
}

func newPacker(p *Program, k *consts, r *Requant) *packer {
	pk := &packer{c: p.ctx, zero: r.Z == 0, doLo: r.Lo > 0, doHi: r.Hi < 255, doCap: needsCap(r.MaxAbsProd)}
	if !pk.zero {
		pk.z = k.i16(r.Z)
	}
	if pk.doLo {
		pk.lo = k.u8(r.Lo)
	}
	if pk.doHi {
		pk.hi = k.u8(r.Hi)
	}
	if pk.doCap {
		pk.capv = k.f32(1 << 30)
	}
	if r.Table != nil {
		rows := p.data(k.name+"_lut", bytesWords(r.Table))
		pk.lut = &lut{c: p.ctx, t: r.Table, tab: rows, row: func(j int) operand.Mem { return rows.Offset(16 * j) },
			nib: k.u8(0x0F), top: k.u8(0x80), konst: func(v uint8) operand.Mem { return k.u8(int32(v)) }}
	}
	if r.Add != nil {
		pk.add = newAddEpi(p, k, r.Add, r)
	}
	if k.zmm {
		pk.lo32 = k.i32(r.Lo)
		if !pk.zero {
			pk.z32 = k.i32(r.Z)
		}
		if pk.doHi {
			pk.hi32 = k.i32(r.Hi)
		}
	}
	return pk
}

// narrow stores the 16 int32 lanes of zmm v (already scaled) as bytes at dst:
// + Z, clamped to [Lo, Hi] as int32 (exact: the cap keeps |v| below 2^30),
// then VPMOVUSDB; mask, when not nil, is the opmask of the bytes to write.
func (pk *packer) narrow(v reg.VecPhysical, dst operand.Mem, mask reg.Register) {
	c := pk.c
	if !pk.zero {
		c.VPADDD(pk.z32, v, v)
	}
	c.VPMAXSD(pk.lo32, v, v)
	if pk.doHi {
		c.VPMINSD(pk.hi32, v, v)
	}
	if mask != nil {
		c.VPMOVUSDB(v, mask, dst)
		return
	}
	c.VPMOVUSDB(v, dst)
}

// setTail sets opmask K1 for the last vector of n bytes narrowed from int32
// lanes, when it is partial on zmm; gp is a scratch.
func (pk *packer) setTail(lanes, n int, gp reg.GPPhysical) {
	if lanes == 16 && n%16 != 0 {
		setMask(pk.c, reg.K1, n%16, gp)
	}
}

// narrowTail narrows v and stores its first n bytes: narrow (under K1, set
// by setTail, when n < 16) on zmm, narrow8 on ymm; t and gp are scratch.
func (pk *packer) narrowTail(v, t reg.VecPhysical, dst operand.Mem, n int, gp reg.GPPhysical) {
	switch {
	case v.Size() == 32:
		pk.narrow8(v, t, dst, n, gp)
	case n < 16:
		pk.narrow(v, dst, reg.K1)
	default:
		pk.narrow(v, dst, nil)
	}
}

// narrow8 is narrow on the 8 lanes of ymm v with AVX2 only (zmmEmulated):
// the same clamp, then packs and a store of the first n bytes, the bytes
// an opmask of n bits would store; t and gp are scratch.
func (pk *packer) narrow8(v, t reg.VecPhysical, dst operand.Mem, n int, gp reg.GPPhysical) {
	c := pk.c
	if !pk.zero {
		c.VPADDD(pk.z32, v, v)
	}
	c.VPMAXSD(pk.lo32, v, v)
	if pk.doHi {
		c.VPMINSD(pk.hi32, v, v)
	}
	xv, xt := v.AsX(), t.AsX()
	c.VEXTRACTI128(operand.U8(1), v, xt)
	c.VPACKSSDW(xt, xv, xv)
	c.VPACKUSWB(xv, xv, xv)
	storeN(c, xv, n, dst, gp)
}

// loadArgs loads the kernel's arguments named in names (space-separated)
// into regs, in order.
func loadArgs(c *build.Context, names string, regs ...reg.Register) {
	for i, name := range strings.Fields(names) {
		c.Load(c.Param(name), regs[i])
	}
}

// pack4 packs the int32 lanes of a, b, e, f into a's bytes, plus Z,
// saturated to uint8 and not yet clamped: per 128-bit lane a's four, b's,
// e's, f's (two VPACKSSDW, the zero point in int16, one VPACKUSWB).
func (pk *packer) pack4(a, b, e, f reg.VecPhysical) {
	c := pk.c
	c.VPACKSSDW(b, a, a)
	c.VPACKSSDW(f, e, e)
	pk.addZ(a)
	pk.addZ(e)
	c.VPACKUSWB(e, a, a)
}

// addZ adds Z to the int16 lanes of v, saturating: nothing for a Z of 0.
func (pk *packer) addZ(v reg.Register) {
	if !pk.zero {
		pk.c.VPADDSW(pk.z, v, v)
	}
}

// setMask loads opmask k with the low n (1..64) bits set; gp is a scratch.
func setMask(c *build.Context, k reg.Register, n int, gp reg.GPPhysical) {
	if n == 64 {
		c.MOVQ(operand.I32(-1), gp)
	} else {
		c.MOVQ(operand.U64(uint64(1)<<n-1), gp)
	}
	c.KMOVQ(gp, k)
}

// scale turns int32 lanes v into rne(float32(float32(v) * m) + b) in place;
// b is nil for requantizations without a bias. Two roundings, as the
// definition has: VMULPS then VADDPS, never an FMA.
func (pk *packer) scale(v reg.Register, m, b operand.Op) {
	c := pk.c
	c.VCVTDQ2PS(v, v)
	c.VMULPS(m, v, v)
	if b != nil {
		c.VADDPS(b, v, v)
	}
	if pk.doCap {
		// The product is finite (M is), so VMINPS never sees a NaN.
		c.VMINPS(pk.capv, v, v)
	}
	c.VCVTPS2DQ(v, v)
}

// clamp applies Lo and Hi to packed bytes.
func (pk *packer) clamp(x reg.Register) {
	if pk.doLo {
		pk.c.VPMAXUB(pk.lo, x, x)
	}
	if pk.doHi {
		pk.c.VPMINUB(pk.hi, x, x)
	}
}

// pack8 packs the 8 int32 lanes of v (natural order) into the low 8 bytes of
// v's xmm, clamped; t is a scratch.
func (pk *packer) pack8(v reg.VecPhysical, t reg.VecPhysical) reg.Register {
	c := pk.c
	xv, xt := v.AsX(), t.AsX()
	c.VEXTRACTI128(operand.U8(1), v, xt)
	c.VPACKSSDW(xt, xv, xv)
	pk.addZ(xv)
	c.VPACKUSWB(xv, xv, xv)
	pk.clamp(xv)
	return xv
}

// pack16 packs a (lanes 0..7) and b (lanes 8..15) into a's xmm, clamped; a is
// clobbered, b is kept.
func (pk *packer) pack16(a, b reg.VecPhysical, t reg.VecPhysical) reg.Register {
	c := pk.c
	c.VPACKSSDW(b, a, a) // a0..3 b0..3 | a4..7 b4..7
	c.VPERMQ(operand.U8(0xD8), a, a)
	pk.addZ(a)
	xa, xt := a.AsX(), t.AsX()
	c.VEXTRACTI128(operand.U8(1), a, xt)
	c.VPACKUSWB(xt, xa, xa)
	pk.clamp(xa)
	return xa
}

// store8 packs v's 8 lanes and stores n (1..8) bytes at dst.
func (pk *packer) store8(v, t reg.VecPhysical, dst operand.Mem, n int, gp reg.GPPhysical) {
	storeN(pk.c, pk.pack8(v, t), n, dst, gp)
}

// store16 packs a and b and stores n (1..16) bytes at dst.
func (pk *packer) store16(a, b, t reg.VecPhysical, dst operand.Mem, n int, gp reg.GPPhysical) {
	storeN(pk.c, pk.pack16(a, b, t), n, dst, gp)
}

// storeN stores the low n (1..16) bytes of xmm x at dst, touching no other
// byte (neighbouring pixels may belong to another worker); gp is a scratch.
func storeN(c *build.Context, x reg.Register, n int, dst operand.Mem, gp reg.GPPhysical) {
	switch {
	case n == 16:
		c.VMOVDQU(x, dst)
		return
	case n == 8:
		c.MOVQ(x, dst)
		return
	case n > 8:
		c.MOVQ(x, dst)
		c.VPEXTRQ(operand.U8(1), x, gp)
		dst = dst.Offset(8)
		n -= 8
	default:
		c.MOVQ(x, gp)
	}
	for _, w := range []int{4, 2, 1} {
		if n < w {
			continue
		}
		switch w {
		case 4:
			c.MOVL(gp.As32(), dst)
		case 2:
			c.MOVW(gp.As16(), dst)
		case 1:
			c.MOVB(gp.As8(), dst)
		}
		n -= w
		if n > 0 {
			c.SHRQ(operand.U8(8*w), gp)
		}
		dst = dst.Offset(w)
	}
}

func mem(base reg.Register, disp int) operand.Mem { return operand.Mem{Base: base, Disp: disp} }

var ymm = []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
	reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}

var zmm = []reg.VecPhysical{reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7,
	reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15,
	reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20, reg.Z21, reg.Z22, reg.Z23,
	reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31}

// i32 is a 32-bit immediate for general-purpose instructions.
func i32(x int) operand.I32 {
	if x != int(int32(x)) {
		panic(fmt.Sprintf("asmgen: immediate %d does not fit 32 bits", x))
	}
	return operand.I32(x)
}
