package asmgen

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ptqc/ptqc/lower"
)

// A tile program is a GEMM layer (a pointwise conv, a linear layer, or a
// k x k conv as an implicit GEMM over its taps) as the AMX tile unit computes
// it: the pixels in tiles of up to 16 rows, read straight from the NHWC input
// (one pixel's channels are one tile row, the pixel stride is TILELOADD's
// stride; a k x k conv's tiles are runs of one output row, one A tile per
// tap, from the padded input buffer, stride Stride pixels); the weights as
// lower.PackDense packs them for every tier, whose units of 16 output
// channels are B tiles as they are (a row per quad of input channels, 16
// channels x 4 bytes, stride 64); the int32 products stored to the worker's
// scratch and requantized there with the float-bias epilogue. Partial pixel tiles and the tail of the reduction
// (input channels not a multiple of 64) get their shapes from the tile
// configuration, never from padding of the arena.
//
// The same program is encoded (amxdense.go) and executed by a Go emulator of
// the tile unit (emulate), which the tests run against the interpreter on any
// CPU: the packing, tile shapes, strides, loop bounds and the requantization
// are checked there, only the encodings need a CPU with AMX (and they are
// checked against GNU as).
//
// A column unit is 16 output channels (ColBlock): one accumulator tile of 16
// int32 columns, the tile unit's full width (a last unit of fewer channels
// computes the zero weights of the rest and stores only its own). Units go in
// pairs sharing each A tile (two accumulators, two B tiles), so that a
// reduction step loads three tiles for two TDPBUSD, not four. The kernel
// has the dense kernels' signature and work units (Dense.Units strips of
// DenseMR pixels, Dense.Cols column units), so the generated glue calls it as
// it calls them.

// The tile registers of a program.
const (
	tC0, tC1        = 0, 1 // the accumulators of a pair of units
	tA, tB0, tB1    = 2, 3, 4
	tAt, tB0t, tB1t = 5, 6, 7 // the same for the reduction's tail
)

// Tile shapes and the scratch they need.
const (
	tileRows    = 16 // pixels per tile
	tileQuads   = 16 // quads of input channels per reduction step (64 bytes)
	cfgBytes    = 64
	tileOutOff  = cfgBytes                            // where a block's int32 results go in the scratch
	tileOutRow  = 128                                 // bytes per pixel row of results (two units of 16 int32)
	AMXScratch  = cfgBytes + tileRows*tileOutRow + 64 // scratch bytes an AMX kernel call needs (results, spill)
	cfgPalette  = 0
	cfgColsbOff = 16 // 2 bytes per tile
	cfgRowsOff  = 48 // 1 byte per tile
)

// tileBase names the memory a step addresses: the pixel tile's first input
// row, the column unit's weights, the scratch, or the tile's gathered
// patches (an Im2col layer's, in the scratch after the call's own: patchOff).
type tileBase int

const (
	baseX tileBase = iota + 1
	baseW
	baseT
	baseP
)

// stepKind is what a step of a block does.
type stepKind int

const (
	stepZero    stepKind = iota + 1 // TILEZERO t
	stepLoad                        // TILELOADD t, [base + disp], stride
	stepDot                         // TDPBUSD t += a (u8) x b (s8)
	stepStore                       // TILESTORED [base + disp], stride, t
	stepRequant                     // requantize the stored rows, cols output channels
)

// tileStep is one step of a block (a pixel tile by a column unit).
type tileStep struct {
	kind         stepKind
	t, a, b      int
	base         tileBase
	disp, stride int
	cols         int
}

// tileProgram is a GEMM layer's tile program.
type tileProgram struct {
	d      *Dense
	pixels int // output pixels
	// A k x k conv (not d.Pointwise()) runs its output rows (Dense.Units) in
	// tiles of rowTile pixels, the last one of a row maybe fewer; taps are the
	// byte offsets of the kernel's taps from an output pixel's first input
	// pixel, aStride the bytes between the input pixels of neighbouring outputs.
	rowTile, aStride int
	taps             []int
	// xStep is the input bytes between neighbouring outputs of a tile
	// (aStride but for an Im2col layer, whose A tiles are its patches).
	xStep int
	// band, if not 0, replaces row tiles for narrow outputs (bandWidth): the
	// call's rows are one run of band "virtual pixels" a row, aStride apart
	// across rows too (an output row's input is band*aStride bytes on), cut
	// into tiles of 16; virtual pixels OW..band-1 of a row (the padding's) are
	// computed and not stored.
	band int
	// Per tap: nq quads of input channels, in full steps of 16 and a tail of tailQ.
	nq, kq, full, tailQ int
	cfg                 [cfgBytes]byte
	rowTiles            []int // tiles whose rows are the pixel tile's rows (patched per tile)
	// The blocks: a pair of units of 16 columns, a pair whose second is the
	// last unit of Cout%16 != 0 columns, one unit, the last unit alone.
	pair, pairLast, unit, last []tileStep
	zf                         []int32   // accumulator starts -z_x*sum(w), 16 per unit
	mul, bias                  []float32 // M and B, 16 per unit, zero beyond Cout
	doCap, doLo, doHi          bool
}

// tileOK says whether the layer can run as a tile program: any pointwise
// layer, the k x k convs lower.Tileable admits (which also picks the
// pointwise layers that do), and stems (Im2col) over their patches.
func (d *Dense) tileOK() bool {
	return d.kind() == lower.Pointwise || d.Im2col || lower.Tileable(d.kind(), d.Cin)
}

// patchOff is where a tile's gathered patches start in the scratch of the
// emulator (after the call's own; the kernels put them after their tier's:
// amxPatchOff).
const patchOff = AMXScratch

// patchBytes is the scratch an Im2col layer's tile of patches takes (16
// rows of its patch stride, and the gather's last store overrunning by up
// to 16 bytes), 0 for other layers.
func (d *Dense) patchBytes() int {
	if !d.Im2col {
		return 0
	}
	return tileRows*d.im2colStride(false) + 64
}

// tileRowRun is how many pixels of an output row of ow pixels one tile holds:
// the rows split into equal runs of at most 16 (56 -> 4 x 14), so that most
// rows need no second tile shape.
func tileRowRun(ow int) int {
	n := (ow + tileRows - 1) / tileRows
	return (ow + n - 1) / n
}

// bandWidth is the virtual pixels a row of band tiles (tileProgram.band)
// for k x k conv d, or 0 where row tiles fill at least half a tile (OW of 9
// or more), a row's input is not a whole number of pixel strides, or over a
// quarter of a band would be padding. On ResNet-50's 7x7 maps (a 9-pixel
// padded row) a tile then holds 14 outputs, not 7: half the weight tiles
// loaded per output (its 3x3 convs 293 -> 239 us on Sapphire Rapids). A
// tile's TDPBUSD takes time by its rows, so padding costs: its 1x1 stride-2
// downsample as bands of 14 (7 outputs) took 281 us against 229 as rows.
func bandWidth(d *Dense) int {
	rb, ps := d.rowBytes(), d.pixBytes()
	if 2*d.OW > tileRows || d.OH < 2 || rb%ps != 0 {
		return 0
	}
	if v := rb / ps; v <= tileRows && 4*d.OW >= 3*v {
		return v
	}
	return 0
}

// outPixel is the output pixel of a tile row's pixel j (virtual for band
// tiles), ok false for a band's padding.
func (p *tileProgram) outPixel(j int) (px int, ok bool) {
	if p.band == 0 {
		return j, true
	}
	if c := j % p.band; c < p.d.OW {
		return j/p.band*p.d.OW + c, true
	}
	return 0, false
}

func newTileProgram(d *Dense) (*tileProgram, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if !d.tileOK() {
		return nil, fmt.Errorf("asmgen: %s conv is not a tile GEMM", d.geomText())
	}
	if d.MaxAbsProd == nil {
		d.MaxAbsProd = prodBounds(d.Weight, d.M, d.B, d.Cin*d.taps(), d.ZIn, max(d.XMax, d.ZIn))
	}
	p := &tileProgram{d: d, pixels: d.OH * d.OW, nq: lower.Quads(d.Cin), taps: []int{0}, aStride: d.InStride}
	if !d.Pointwise() {
		p.taps = d.tapOffsets()
		p.rowTile, p.aStride = tileRowRun(d.OW), d.pixBytes()
		switch {
		case d.Im2col:
			// A tiles from each tile's gathered patches (gather): a GEMM of
			// one tap over K = taps*Cin bytes.
			p.taps, p.nq, p.aStride = []int{0}, lower.Quads(d.gemmK()), d.im2colStride(false)
		default:
			if p.band = bandWidth(d); p.band > 0 {
				p.rowTile = 0
			}
		}
	}
	p.xStep = d.InStride
	if !d.Pointwise() {
		p.xStep = d.pixBytes()
	}
	p.kq = p.nq * len(p.taps)
	p.full, p.tailQ = p.nq/tileQuads, p.nq%tileQuads
	p.doCap, p.doLo, p.doHi = needsCap(d.MaxAbsProd), d.Lo > 0, d.Hi < 255
	n := d.Cols() * ColBlock
	p.zf, p.mul, p.bias = make([]int32, n), make([]float32, n), make([]float32, n)
	copy(p.zf, lower.ZeroFold(d.Weight, d.Cout, d.ZIn))
	copy(p.mul, d.M)
	copy(p.bias, d.B)

	p.cfg[cfgPalette] = 1
	shape := func(t, rows, colsb int) {
		p.cfg[cfgRowsOff+t] = byte(rows)
		binary.LittleEndian.PutUint16(p.cfg[cfgColsbOff+2*t:], uint16(colsb))
	}
	rows := tileRows
	if p.rowTile > 0 {
		rows = p.rowTile
	}
	p.rowTiles = []int{tC0, tC1}
	shape(tC0, rows, 64)
	shape(tC1, rows, 64)
	if p.full > 0 {
		shape(tA, rows, 4*tileQuads)
		shape(tB0, tileQuads, 64)
		shape(tB1, tileQuads, 64)
		p.rowTiles = append(p.rowTiles, tA)
	}
	if p.tailQ > 0 {
		shape(tAt, rows, 4*p.tailQ)
		shape(tB0t, p.tailQ, 64)
		shape(tB1t, p.tailQ, 64)
		p.rowTiles = append(p.rowTiles, tAt)
	}
	p.pair, p.unit = p.steps(ColBlock, ColBlock), p.steps(ColBlock)
	if r := d.Cout % ColBlock; r != 0 {
		p.pairLast, p.last = p.steps(ColBlock, r), p.steps(r)
	}
	return p, nil
}

// steps is the block of one or two column units of cols (1..16) output
// channels each; a stepRequant's t is the unit in the block.
func (p *tileProgram) steps(cols ...int) []tileStep {
	cs, as, bs := []int{tC0, tC1}[:len(cols)], []int{tB0, tB1}, []int{tB0t, tB1t}
	var s []tileStep
	for _, c := range cs {
		s = append(s, tileStep{kind: stepZero, t: c})
	}
	for t, off := range p.taps {
		for c := 0; c < p.full+min(p.tailQ, 1); c++ {
			a, b := tA, as
			if c == p.full {
				a, b = tAt, bs
			}
			ab := baseX
			if p.d.Im2col {
				ab = baseP
			}
			s = append(s, tileStep{kind: stepLoad, t: a, base: ab, disp: off + 4*tileQuads*c, stride: p.aStride})
			for k := range cs {
				// The tap's quads follow each other in a unit.
				s = append(s, tileStep{kind: stepLoad, t: b[k], base: baseW, disp: k*p.unitBytes() + 64*(t*p.nq+tileQuads*c), stride: 64})
			}
			for k, ct := range cs {
				s = append(s, tileStep{kind: stepDot, t: ct, a: a, b: b[k]})
			}
		}
	}
	for k, ct := range cs {
		s = append(s, tileStep{kind: stepStore, t: ct, base: baseT, disp: tileOutOff + 64*k, stride: tileOutRow})
	}
	for k, n := range cols {
		s = append(s, tileStep{kind: stepRequant, t: k, cols: n})
	}
	return s
}

// block is the steps of the block that starts at column unit un of a call
// over units up to n1, and the number of units it computes.
func (p *tileProgram) block(un, n1 int) ([]tileStep, int) {
	lastUnit := p.last != nil && un+1 == p.d.Cols()-1
	switch {
	case un+1 < n1 && lastUnit:
		return p.pairLast, 2
	case un+1 < n1:
		return p.pair, 2
	case p.last != nil && un == p.d.Cols()-1:
		return p.last, 1
	}
	return p.unit, 1
}

// rowBytes is the input bytes between a k x k conv's output rows.
func (p *tileProgram) rowBytes() int { return p.d.rowBytes() }

// unitBytes is the weight bytes of a column unit.
func (p *tileProgram) unitBytes() int { return p.kq * 64 }

// The emulator.

// tileUnit is the tile unit's state: the configuration in force and the tiles.
type tileUnit struct {
	configured  bool
	rows, colsb [8]int
	tiles       [8][tileRows][64]byte
}

// ldtilecfg loads a configuration as LDTILECFG does (palette 1 only), zeroing the tiles.
func (u *tileUnit) ldtilecfg(c []byte) error {
	if len(c) < cfgBytes {
		return fmt.Errorf("ldtilecfg: %d bytes", len(c))
	}
	if c[cfgPalette] != 1 || c[1] != 0 {
		return fmt.Errorf("ldtilecfg: palette %d start row %d", c[cfgPalette], c[1])
	}
	*u = tileUnit{configured: true}
	for t := 0; t < 8; t++ {
		u.rows[t] = int(c[cfgRowsOff+t])
		u.colsb[t] = int(binary.LittleEndian.Uint16(c[cfgColsbOff+2*t:]))
		if u.rows[t] > tileRows || u.colsb[t] > 64 || (u.rows[t] == 0) != (u.colsb[t] == 0) {
			return fmt.Errorf("ldtilecfg: tile %d is %d rows x %d bytes", t, u.rows[t], u.colsb[t])
		}
	}
	return nil
}

func (u *tileUnit) valid(t int) error {
	if !u.configured {
		return fmt.Errorf("tile %d used before ldtilecfg", t)
	}
	if u.rows[t] == 0 {
		return fmt.Errorf("tile %d is not configured", t)
	}
	return nil
}

// span checks that rows rows of colsb bytes at stride from off lie in a buffer of n bytes.
func span(n, off, rows, colsb, stride int) error {
	if rows == 0 {
		return nil
	}
	if stride < 0 {
		return fmt.Errorf("stride %d", stride)
	}
	if hi := off + (rows-1)*stride + colsb; off < 0 || hi > n {
		return fmt.Errorf("bytes [%d, %d) outside a buffer of %d", off, hi, n)
	}
	return nil
}

// access checks that op (tileloadd, tilestored) on tile t may touch m's
// rows from off at stride.
func (u *tileUnit) access(op string, t int, m []byte, off, stride int) error {
	if err := u.valid(t); err != nil {
		return err
	}
	if err := span(len(m), off, u.rows[t], u.colsb[t], stride); err != nil {
		return fmt.Errorf("%s tmm%d: %w", op, t, err)
	}
	return nil
}

func (u *tileUnit) load(t int, m []byte, off, stride int) error {
	if err := u.access("tileloadd", t, m, off, stride); err != nil {
		return err
	}
	u.tiles[t] = [tileRows][64]byte{} // rows and bytes beyond the shape read as zero
	for r := 0; r < u.rows[t]; r++ {
		copy(u.tiles[t][r][:u.colsb[t]], m[off+r*stride:])
	}
	return nil
}

func (u *tileUnit) store(t int, m []byte, off, stride int) error {
	if err := u.access("tilestored", t, m, off, stride); err != nil {
		return err
	}
	for r := 0; r < u.rows[t]; r++ {
		copy(m[off+r*stride:off+r*stride+u.colsb[t]], u.tiles[t][r][:u.colsb[t]])
	}
	return nil
}

// tdpbusd is TDPBUSD c, a, b: c[m][n] += sum over k of u8 a[m][4k+i] * s8 b[k][4n+i], in int32.
func (u *tileUnit) tdpbusd(c, a, b int) error {
	for _, t := range []int{c, a, b} {
		if err := u.valid(t); err != nil {
			return err
		}
	}
	if c == a || c == b || a == b {
		return fmt.Errorf("tdpbusd tmm%d, tmm%d, tmm%d: tiles not distinct", c, a, b)
	}
	m, k, n := u.rows[c], u.colsb[a]/4, u.colsb[c]/4
	if u.rows[a] != m || u.rows[b] != k || u.colsb[b] != u.colsb[c] || u.colsb[a]%4 != 0 || u.colsb[c]%4 != 0 {
		return fmt.Errorf("tdpbusd tmm%d (%dx%d), tmm%d (%dx%d), tmm%d (%dx%d): shapes do not match",
			c, u.rows[c], u.colsb[c], a, u.rows[a], u.colsb[a], b, u.rows[b], u.colsb[b])
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			acc := int32(binary.LittleEndian.Uint32(u.tiles[c][i][4*j:]))
			for q := 0; q < k; q++ {
				for e := 0; e < 4; e++ {
					acc += int32(u.tiles[a][i][4*q+e]) * int32(int8(u.tiles[b][q][4*j+e]))
				}
			}
			binary.LittleEndian.PutUint32(u.tiles[c][i][4*j:], uint32(acc))
		}
	}
	return nil
}

// emulate runs a kernel call (the units [s0, s1) and column units [n0, n1))
// on the emulated tile unit, as the encoded kernel does: x the input (with the
// arena's lower.ReadSlack), w the packed weights, y the output, t the scratch.
func (p *tileProgram) emulate(x, w, y, t []byte, s0, s1, n0, n1 int) error {
	d := p.d
	if len(t) < AMXScratch+d.patchBytes() {
		return fmt.Errorf("scratch of %d bytes, want %d", len(t), AMXScratch+d.patchBytes())
	}
	var u tileUnit
	copy(t, p.cfg[:])
	configured := 0
	return p.tiles(s0, s1, func(xoff, px, rows int) error {
		if rows != configured {
			for _, ti := range p.rowTiles {
				t[cfgRowsOff+ti] = byte(rows)
			}
			if err := u.ldtilecfg(t); err != nil {
				return err
			}
			configured = rows
		}
		if d.Im2col {
			p.gather(x, t[patchOff:], xoff, rows)
		}
		for un := n0; un < n1; {
			steps, n := p.block(un, n1)
			woff := un * p.unitBytes()
			for _, s := range steps {
				var err error
				switch s.kind {
				case stepZero:
					if err = u.valid(s.t); err == nil {
						u.tiles[s.t] = [tileRows][64]byte{}
					}
				case stepLoad:
					switch s.base {
					case baseX:
						err = u.load(s.t, x, xoff+s.disp, s.stride)
					case baseW:
						err = u.load(s.t, w, woff+s.disp, s.stride)
					case baseP:
						err = u.load(s.t, t, patchOff+s.disp, s.stride)
					default:
						err = fmt.Errorf("load from base %d", s.base)
					}
				case stepDot:
					err = u.tdpbusd(s.t, s.a, s.b)
				case stepStore:
					if s.base != baseT {
						err = fmt.Errorf("store to base %d", s.base)
						break
					}
					err = u.store(s.t, t, s.disp, s.stride)
				case stepRequant:
					want := ColBlock
					if un+s.t == d.Cols()-1 && d.Cout%ColBlock != 0 {
						want = d.Cout % ColBlock
					}
					if s.cols != want {
						err = fmt.Errorf("%d columns requantized, want %d", s.cols, want)
						break
					}
					err = p.requant(t, y, px, rows, un+s.t, s.t, s.cols)
				}
				if err != nil {
					return fmt.Errorf("pixels %d+%d unit %d: %w", px, rows, un, err)
				}
			}
			un += n
		}
		return nil
	})
}

// gather writes the patches of a tile of rows pixels from x at xoff into
// pt, a row of aStride bytes each: the taps' Cin channels in the patch order
// (lower.Im2colWeights), zeros after K (the kernels leave other bytes
// there, which meet zero weights).
func (p *tileProgram) gather(x, pt []byte, xoff, rows int) {
	d := p.d
	for r := range rows {
		row := pt[r*p.aStride : (r+1)*p.aStride]
		clear(row)
		for t, off := range d.tapOffsets() {
			copy(row[t*d.Cin:(t+1)*d.Cin], x[xoff+r*p.xStep+off:])
		}
	}
}

// tiles calls f for each pixel tile of the units [s0, s1) in the order the
// kernel runs them: the byte offset in the input of its first pixel's first
// tap, its first pixel (virtual for band tiles: see outPixel), its rows.
func (p *tileProgram) tiles(s0, s1 int, f func(xoff, px, rows int) error) error {
	d := p.d
	if d.Pointwise() {
		p0, p1 := s0*DenseMR, min(s1*DenseMR, p.pixels)
		for px := p0; px < p1; px += tileRows {
			if err := f(px*d.InStride, px, min(tileRows, p1-px)); err != nil {
				return err
			}
		}
		return nil
	}
	if p.band > 0 {
		// Virtual pixels from row s0's first to row s1-1's last output.
		s1 = min(s1, d.OH)
		if s0 >= s1 {
			return nil
		}
		j1 := (s1-1)*p.band + d.OW
		for j := s0 * p.band; j < j1; j += tileRows {
			if err := f(j*p.xStep, j, min(tileRows, j1-j)); err != nil {
				return err
			}
		}
		return nil
	}
	rowBytes := p.rowBytes()
	for s := s0; s < min(s1, d.OH); s++ {
		for ox := 0; ox < d.OW; ox += p.rowTile {
			if err := f(s*rowBytes+ox*p.xStep, s*d.OW+ox, min(p.rowTile, d.OW-ox)); err != nil {
				return err
			}
		}
	}
	return nil
}

// requant turns rows stored int32 rows of unit un (k of its block) into bytes of y, lane by
// lane as the vector epilogue does (packer): the start added, scaled, biased,
// capped, converted as VCVTPS2DQ converts, packed with saturation to int16,
// the zero point added with saturation, packed to uint8 and clamped.
func (p *tileProgram) requant(t, y []byte, px, rows, un, k, cols int) error {
	d := p.d
	for r := 0; r < rows; r++ {
		o, ok := p.outPixel(px + r)
		if !ok {
			continue
		}
		off := o*d.OutStride + un*ColBlock
		if off+cols > len(y) {
			return fmt.Errorf("requant: output bytes [%d, %d) outside %d", off, off+cols, len(y))
		}
		for c := 0; c < cols; c++ {
			ch := un*ColBlock + c
			acc := int32(binary.LittleEndian.Uint32(t[tileOutOff+r*tileOutRow+64*k+4*c:])) + p.zf[ch]
			v := float32(float32(acc) * p.mul[ch])
			v = float32(v + p.bias[ch])
			if p.doCap {
				v = min(v, 1<<30)
			}
			q := sat16(int64(cvtps2dq(v)))
			q = sat16(int64(q) + int64(d.Z))
			b := max(min(q, 255), 0)
			if p.doLo {
				b = max(b, d.Lo)
			}
			if p.doHi {
				b = min(b, d.Hi)
			}
			if d.Table != nil {
				b = int32(d.Table[b])
			}
			y[off+c] = byte(b)
		}
	}
	return nil
}

// cvtps2dq is VCVTPS2DQ under the default MXCSR: round half to even, and the
// integer indefinite 0x80000000 for NaN and values outside int32.
func cvtps2dq(v float32) int32 {
	r := math.RoundToEven(float64(v))
	if r != r || r < math.MinInt32 || r > math.MaxInt32 {
		return math.MinInt32
	}
	return int32(r)
}

func sat16(v int64) int32 { return int32(max(min(v, math.MaxInt16), math.MinInt16)) }
