package runtime

import (
	"errors"
	"fmt"
)

// A JPEG decoder that reproduces libjpeg-turbo's default decode (the one Pillow uses)
// bit for bit: Huffman-coded baseline, extended and progressive files of 8-bit
// samples, decoded to coefficients, then libjpeg's jpeg_idct_islow (jidctint.c) with
// its range limiting, then jdsample.c's upsampling and jdcolor.c's color conversion
// (jpeg.go). Arithmetic-coded, lossless, hierarchical and 12-bit files are refused.

// zigzag maps the i-th coefficient of a scan to its position in a block.
var zigzag = [64 + 16]uint8{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
	// libjpeg's extra entries: a corrupt run past the end lands on 63
	63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
}

// huffLookBits is the width of the fast lookup table, as libjpeg's HUFF_LOOKAHEAD.
const huffLookBits = 9

type huffTable struct {
	defined bool
	// look[code of huffLookBits bits] = length<<8 | value, 0 if longer
	look    [1 << huffLookBits]uint16
	maxcode [17]int32 // largest code of each length, -1 if none
	valptr  [17]int32 // index in vals of the first code of each length
	mincode [17]int32
	vals    []uint8
}

// build makes the decoding tables from a DHT segment's counts and values (jdhuff.c
// jpeg_make_d_derived_tbl).
func (t *huffTable) build(counts [16]uint8, vals []uint8) error {
	*t = huffTable{defined: true, vals: vals}
	code, k := int32(0), 0
	for l := 1; l <= 16; l++ {
		n := int(counts[l-1])
		t.valptr[l] = int32(k)
		t.mincode[l] = code
		code += int32(n)
		k += n
		if n > 0 && code >= 1<<l { // jdhuff.c: the all-ones code is reserved
			return errors.New("bad Huffman table")
		}
		if n > 0 {
			t.maxcode[l] = code - 1
		} else {
			t.maxcode[l] = -1
		}
		if n > 0 && l <= huffLookBits {
			for c := code - int32(n); c < code; c++ {
				v := vals[t.valptr[l]+c-t.mincode[l]]
				shift := huffLookBits - l
				for j := c << shift; j < (c+1)<<shift; j++ {
					t.look[j] = uint16(l)<<8 | uint16(v)
				}
			}
		}
		code <<= 1
	}
	return nil
}

type jpegComp struct {
	id      uint8
	h, v    int
	tq      int
	w, ht   int // samples: ceil(width * h / hmax) x ceil(height * v / vmax)
	bw, bh  int // blocks covering the samples
	bstride int // blocks a row allocated (MCU padding included)
	coef    []int16
	qt      *[64]uint16 // latched at the component's first scan
	dc, ac  int
	dcPred  int32
	seen    bool
	pix     []uint8 // samples after the IDCT, bstride*8 a row
}

type jpegDecoder struct {
	b   []byte
	pos int

	width, height  int
	progressive    bool
	comps          []jpegComp
	hmax, vmax     int
	mcux, mcuy     int
	qt             [4][64]uint16
	qtDefined      [4]bool
	dcTabs, acTabs [4]huffTable
	restart        int
	jfif, adobe    bool
	adobeTransform uint8
	sof            bool

	// entropy decoding
	bits   uint64
	nbits  int
	marker bool // the bit reader reached a marker; zeros follow, as in libjpeg
	zeros  int  // zero bits supplied since
	eobrun int
}

func (d *jpegDecoder) u8() (uint8, error) {
	if d.pos >= len(d.b) {
		return 0, errors.New("unexpected end of file")
	}
	d.pos++
	return d.b[d.pos-1], nil
}

func (d *jpegDecoder) u16() (int, error) {
	if d.pos+2 > len(d.b) {
		return 0, errors.New("unexpected end of file")
	}
	d.pos += 2
	return int(d.b[d.pos-2])<<8 | int(d.b[d.pos-1]), nil
}

// segment returns the payload of a marker segment with a length field.
func (d *jpegDecoder) segment() ([]byte, error) {
	n, err := d.u16()
	if err != nil {
		return nil, err
	}
	if n < 2 || d.pos+n-2 > len(d.b) {
		return nil, errors.New("bad marker segment length")
	}
	s := d.b[d.pos : d.pos+n-2]
	d.pos += n - 2
	return s, nil
}

// nextMarker skips to the next marker (libjpeg skips garbage too) and returns it.
func (d *jpegDecoder) nextMarker() (uint8, error) {
	for {
		c, err := d.u8()
		if err != nil {
			return 0, err
		}
		if c != 0xff {
			continue
		}
		for c == 0xff {
			if c, err = d.u8(); err != nil {
				return 0, err
			}
		}
		if c != 0 {
			return c, nil
		}
	}
}

// decodePlanes reads a JPEG file up to its end and returns its components' samples
// and color space. limit bounds the pixels, checked from the frame header.
func decodeJPEGPlanes(b []byte, limit int64) (*jpegDecoder, int, error) {
	d := &jpegDecoder{b: b}
	if len(b) < 2 || b[0] != 0xff || b[1] != 0xd8 {
		return nil, 0, errors.New("not a JPEG file")
	}
	d.pos = 2
	for {
		m, err := d.nextMarker()
		if err != nil {
			if d.sof && d.pos >= len(d.b) && d.anyScan() {
				break // a missing EOI is tolerated, as by libjpeg
			}
			return nil, 0, err
		}
		switch {
		case m == 0xd9: // EOI
		case m == 0xc0 || m == 0xc1 || m == 0xc2: // SOF0, SOF1, SOF2
			if d.sof {
				return nil, 0, errors.New("more than one frame")
			}
			if err := d.readSOF(m == 0xc2, limit); err != nil {
				return nil, 0, err
			}
			continue
		case m >= 0xc3 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			return nil, 0, fmt.Errorf("unsupported JPEG process (SOF%d: lossless, hierarchical or arithmetic coding)", m-0xc0)
		case m == 0xc4:
			if err := d.readDHT(); err != nil {
				return nil, 0, err
			}
			continue
		case m == 0xdb:
			if err := d.readDQT(); err != nil {
				return nil, 0, err
			}
			continue
		case m == 0xdd:
			s, err := d.segment()
			if err != nil {
				return nil, 0, err
			}
			if len(s) < 2 {
				return nil, 0, errors.New("bad DRI segment")
			}
			d.restart = int(s[0])<<8 | int(s[1])
			continue
		case m == 0xda:
			if !d.sof {
				return nil, 0, errors.New("scan before frame header")
			}
			if err := d.readScan(); err != nil {
				return nil, 0, err
			}
			continue
		case m == 0xe0 || m == 0xee:
			s, err := d.segment()
			if err != nil {
				return nil, 0, err
			}
			// jdmarker.c examine_app0 / examine_app14
			if m == 0xe0 && len(s) >= 14 && string(s[:5]) == "JFIF\x00" {
				d.jfif = true
			}
			if m == 0xee && len(s) >= 12 && string(s[:5]) == "Adobe" {
				d.adobe, d.adobeTransform = true, s[11]
			}
			continue
		case m >= 0xd0 && m <= 0xd7, m == 0x01: // stray RST, TEM: no segment
			continue
		case m == 0xd8:
			return nil, 0, errors.New("second SOI marker")
		default:
			if _, err := d.segment(); err != nil {
				return nil, 0, err
			}
			continue
		}
		break // EOI
	}
	if !d.sof || !d.anyScan() {
		return nil, 0, errors.New("no image data")
	}
	cs, err := d.colorSpace()
	if err != nil {
		return nil, 0, err
	}
	for i := range d.comps {
		d.idct(&d.comps[i])
	}
	return d, cs, nil
}

func (d *jpegDecoder) anyScan() bool {
	for _, c := range d.comps {
		if c.seen {
			return true
		}
	}
	return false
}

// colorSpace is jdapimin.c's default_decompress_parms.
func (d *jpegDecoder) colorSpace() (int, error) {
	switch len(d.comps) {
	case 1:
		return colorGray, nil
	case 3:
		switch {
		case d.jfif:
			return colorYCbCr, nil
		case d.adobe:
			if d.adobeTransform == 0 {
				return colorRGB, nil
			}
			return colorYCbCr, nil
		case d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B':
			return colorRGB, nil
		}
		return colorYCbCr, nil
	case 4:
		if d.adobe && d.adobeTransform != 0 {
			return colorYCCK, nil
		}
		return colorCMYK, nil
	}
	return 0, fmt.Errorf("%d components", len(d.comps))
}

func (d *jpegDecoder) readSOF(progressive bool, limit int64) error {
	s, err := d.segment()
	if err != nil {
		return err
	}
	if len(s) < 6 {
		return errors.New("bad frame header")
	}
	if s[0] != 8 {
		return fmt.Errorf("unsupported sample precision %d", s[0])
	}
	d.progressive = progressive
	d.height = int(s[1])<<8 | int(s[2])
	d.width = int(s[3])<<8 | int(s[4])
	n := int(s[5])
	if d.width == 0 || d.height == 0 {
		return fmt.Errorf("image of %dx%d pixels", d.width, d.height)
	}
	if px := int64(d.width) * int64(d.height); px > limit {
		return fmt.Errorf("image of %dx%d pixels in %d bytes: too large", d.width, d.height, len(d.b))
	}
	if n != 1 && n != 3 && n != 4 {
		return fmt.Errorf("unsupported number of components %d", n)
	}
	if len(s) != 6+3*n {
		return errors.New("bad frame header length")
	}
	d.sof = true
	d.comps = make([]jpegComp, n)
	for i := range d.comps {
		c := &d.comps[i]
		c.id = s[6+3*i]
		c.h, c.v = int(s[7+3*i]>>4), int(s[7+3*i]&15)
		c.tq = int(s[8+3*i])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return errors.New("bad component in frame header")
		}
		d.hmax, d.vmax = max(d.hmax, c.h), max(d.vmax, c.v)
	}
	d.mcux = (d.width + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcuy = (d.height + 8*d.vmax - 1) / (8 * d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		c.w = (d.width*c.h + d.hmax - 1) / d.hmax
		c.ht = (d.height*c.v + d.vmax - 1) / d.vmax
		c.bw, c.bh = (c.w+7)/8, (c.ht+7)/8
		c.bstride = d.mcux * c.h
		c.coef = make([]int16, c.bstride*d.mcuy*c.v*64)
	}
	return nil
}

func (d *jpegDecoder) readDQT() error {
	return d.eachTable(func(s []byte) ([]byte, error) {
		pq, tq := s[0]>>4, int(s[0]&15)
		if tq > 3 || pq > 1 {
			return nil, errors.New("bad quantization table")
		}
		n := 64 << pq
		if len(s) < 1+n {
			return nil, errors.New("short quantization table")
		}
		for i := range 64 {
			v := uint16(s[1+i])
			if pq == 1 {
				v = uint16(s[1+2*i])<<8 | uint16(s[2+2*i])
			}
			d.qt[tq][zigzag[i]] = v
		}
		d.qtDefined[tq] = true
		return s[1+n:], nil
	})
}

// eachTable reads the tables of the next segment (DQT, DHT: one or more
// back to back) with read, which returns what follows its table.
func (d *jpegDecoder) eachTable(read func(s []byte) ([]byte, error)) error {
	s, err := d.segment()
	if err != nil {
		return err
	}
	for len(s) > 0 {
		if s, err = read(s); err != nil {
			return err
		}
	}
	return nil
}

func (d *jpegDecoder) readDHT() error {
	return d.eachTable(func(s []byte) ([]byte, error) {
		if len(s) < 17 {
			return nil, errors.New("short Huffman table")
		}
		tc, th := s[0]>>4, int(s[0]&15)
		if tc > 1 || th > 3 {
			return nil, errors.New("bad Huffman table class or index")
		}
		var counts [16]uint8
		copy(counts[:], s[1:17])
		total := 0
		for _, c := range counts {
			total += int(c)
		}
		if total > 256 || len(s) < 17+total {
			return nil, errors.New("bad Huffman table")
		}
		vals := append([]uint8(nil), s[17:17+total]...)
		t := &d.dcTabs[th]
		if tc == 1 {
			t = &d.acTabs[th]
		}
		if err := t.build(counts, vals); err != nil {
			return nil, err
		}
		return s[17+total:], nil
	})
}

// Bit reading (jdhuff.c's fill_bit_buffer): 0xFF 0x00 is a 0xFF byte; at a marker
// the reader stops and supplies zero bits, leaving the marker to be read.

func (d *jpegDecoder) fill() {
	for d.nbits <= 56 {
		if d.marker || d.pos >= len(d.b) {
			d.marker = true
			d.bits <<= 8
			d.nbits += 8
			d.zeros += 8
			continue
		}
		c := d.b[d.pos]
		if c == 0xff {
			j := d.pos + 1
			for j < len(d.b) && d.b[j] == 0xff {
				j++
			}
			if j >= len(d.b) || d.b[j] != 0 {
				d.marker = true
				d.pos = j - 1 // the last 0xFF before the marker code
				continue
			}
			d.pos = j + 1
		} else {
			d.pos++
		}
		d.bits = d.bits<<8 | uint64(c)
		d.nbits += 8
	}
}

func (d *jpegDecoder) getBits(n int) int32 {
	if n == 0 {
		return 0
	}
	if d.nbits < n {
		d.fill()
	}
	d.nbits -= n
	return int32(d.bits>>uint(d.nbits)) & (1<<n - 1)
}

func (d *jpegDecoder) getBit() int32 { return d.getBits(1) }

// extend is the JPEG EXTEND of an n-bit value.
func extend(v int32, n int) int32 {
	if n == 0 {
		return 0
	}
	if v < 1<<(n-1) {
		return v - 1<<n + 1
	}
	return v
}

func (d *jpegDecoder) decodeHuff(t *huffTable) (uint8, error) {
	if d.nbits < 16 {
		d.fill()
	}
	peek := int32(d.bits>>uint(d.nbits-16)) & 0xffff
	if e := t.look[peek>>(16-huffLookBits)]; e != 0 {
		d.nbits -= int(e >> 8)
		return uint8(e), nil
	}
	for l := huffLookBits + 1; l <= 16; l++ {
		if code := peek >> uint(16-l); code <= t.maxcode[l] {
			d.nbits -= l
			i := t.valptr[l] + code - t.mincode[l]
			if i < 0 || int(i) >= len(t.vals) {
				break
			}
			return t.vals[i], nil
		}
	}
	return 0, errors.New("corrupt JPEG data: bad Huffman code")
}

// readScan decodes one scan into the coefficients.
func (d *jpegDecoder) readScan() error {
	s, err := d.segment()
	if err != nil {
		return err
	}
	if len(s) < 1 {
		return errors.New("bad scan header")
	}
	ns := int(s[0])
	if ns < 1 || ns > 4 || len(s) != 4+2*ns {
		return errors.New("bad scan header")
	}
	var comps [4]*jpegComp
	blocks := 0
	for i := range ns {
		id := s[1+2*i]
		var c *jpegComp
		for j := range d.comps {
			if d.comps[j].id == id {
				c = &d.comps[j]
			}
		}
		if c == nil {
			return fmt.Errorf("scan names unknown component %d", id)
		}
		for _, p := range comps[:i] {
			if p == c {
				return errors.New("component twice in a scan")
			}
		}
		c.dc, c.ac = int(s[2+2*i]>>4), int(s[2+2*i]&15)
		if c.dc > 3 || c.ac > 3 {
			return errors.New("bad Huffman table index in scan header")
		}
		comps[i] = c
		blocks += c.h * c.v
	}
	if ns > 1 && blocks > 10 {
		return errors.New("too many blocks in an MCU")
	}
	ss, se := int(s[1+2*ns]), int(s[2+2*ns])
	ah, al := int(s[3+2*ns]>>4), int(s[3+2*ns]&15)
	if d.progressive {
		if ss > se || se > 63 || (ss == 0) != (se == 0) || (ss > 0 && ns != 1) || ah > 13 || al > 13 {
			return errors.New("bad progressive scan parameters")
		}
	} else {
		ss, se, ah, al = 0, 63, 0, 0
	}
	for _, c := range comps[:ns] {
		if !c.seen {
			// latch the quantization table, as libjpeg does at a component's first scan
			if !d.qtDefined[c.tq] {
				return fmt.Errorf("component %d: quantization table %d not defined", c.id, c.tq)
			}
			q := d.qt[c.tq]
			c.qt = &q
			c.seen = true
		}
		c.dcPred = 0
		if ss == 0 && ah == 0 && !d.dcTabs[c.dc].defined {
			return errors.New("DC Huffman table not defined")
		}
		if se > 0 && (ah == 0 || !d.progressive) && !d.acTabs[c.ac].defined {
			return errors.New("AC Huffman table not defined")
		}
	}
	d.bits, d.nbits, d.marker, d.zeros, d.eobrun = 0, 0, false, 0, 0

	// MCUs: interleaved scans go through MCUs of h x v blocks of each component,
	// a single-component scan through that component's blocks one by one.
	mcux, mcuy := d.mcux, d.mcuy
	if ns == 1 {
		mcux, mcuy = comps[0].bw, comps[0].bh
	}
	n := 0
	for my := range mcuy {
		for mx := range mcux {
			if d.restart > 0 && n > 0 && n%d.restart == 0 {
				if err := d.restartMarker(comps[:ns]); err != nil {
					return err
				}
			}
			n++
			// Decoding far past the scan's data would be decoding nothing: a truncated
			// or corrupt file, which Pillow refuses too.
			if d.zeros-d.nbits > 64 {
				return errors.New("corrupt JPEG data: premature end of data segment")
			}
			for _, c := range comps[:ns] {
				bh, bv := 1, 1
				if ns > 1 {
					bh, bv = c.h, c.v
				}
				for by := range bv {
					for bx := range bh {
						x, y := mx*bh+bx, my*bv+by
						blk := (*[64]int16)(c.coef[(y*c.bstride+x)*64:])
						var err error
						switch {
						case !d.progressive:
							err = d.decodeBaseline(blk, c)
						case ss == 0 && ah == 0:
							err = d.decodeDCFirst(blk, c, al)
						case ss == 0:
							d.decodeDCRefine(blk, al)
						case ah == 0:
							err = d.decodeACFirst(blk, c, ss, se, al)
						default:
							err = d.decodeACRefine(blk, c, ss, se, al)
						}
						if err != nil {
							return err
						}
					}
				}
			}
		}
	}
	if d.zeros-d.nbits > 64 {
		return errors.New("corrupt JPEG data: premature end of data segment")
	}
	// The next marker is found from d.pos: at the marker if the reader reached it,
	// else in the padding bytes before it.
	d.bits, d.nbits, d.marker, d.zeros = 0, 0, false, 0
	return nil
}

// restartMarker discards the bits left before a restart marker, reads it and resets
// the predictions (jdhuff.c process_restart).
func (d *jpegDecoder) restartMarker(comps []*jpegComp) error {
	d.bits, d.nbits, d.marker, d.zeros = 0, 0, false, 0
	m, err := d.nextMarker()
	if err != nil {
		return err
	}
	if m < 0xd0 || m > 0xd7 {
		return errors.New("corrupt JPEG data: missing restart marker")
	}
	for _, c := range comps {
		c.dcPred = 0
	}
	d.eobrun = 0
	return nil
}

// decodeDC adds the next DC difference to c's prediction.
func (d *jpegDecoder) decodeDC(c *jpegComp) error {
	t, err := d.decodeHuff(&d.dcTabs[c.dc])
	if err != nil {
		return err
	}
	if t > 16 {
		return errors.New("corrupt JPEG data: bad DC difference")
	}
	c.dcPred += extend(d.getBits(int(t)), int(t))
	return nil
}

func (d *jpegDecoder) decodeBaseline(blk *[64]int16, c *jpegComp) error {
	if err := d.decodeDC(c); err != nil {
		return err
	}
	blk[0] = int16(c.dcPred)
	ac := &d.acTabs[c.ac]
	for k := 1; k < 64; k++ {
		rs, err := d.decodeHuff(ac)
		if err != nil {
			return err
		}
		r, s := int(rs>>4), int(rs&15)
		if s == 0 {
			if r != 15 {
				break
			}
			k += 15
			continue
		}
		k += r
		blk[zigzag[k]] = int16(extend(d.getBits(s), s))
	}
	return nil
}

// The progressive decoders are jdphuff.c's.

func (d *jpegDecoder) decodeDCFirst(blk *[64]int16, c *jpegComp, al int) error {
	if err := d.decodeDC(c); err != nil {
		return err
	}
	blk[0] = int16(uint32(c.dcPred) << uint(al))
	return nil
}

func (d *jpegDecoder) decodeDCRefine(blk *[64]int16, al int) {
	if d.getBit() != 0 {
		blk[0] |= 1 << uint(al)
	}
}

func (d *jpegDecoder) decodeACFirst(blk *[64]int16, c *jpegComp, ss, se, al int) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	ac := &d.acTabs[c.ac]
	for k := ss; k <= se; k++ {
		rs, err := d.decodeHuff(ac)
		if err != nil {
			return err
		}
		r, s := int(rs>>4), int(rs&15)
		if s != 0 {
			k += r
			v := extend(d.getBits(s), s)
			blk[zigzag[k]] = int16(uint32(v) << uint(al))
			continue
		}
		if r != 15 {
			d.eobrun = 1 << uint(r)
			if r != 0 {
				d.eobrun += int(d.getBits(r))
			}
			d.eobrun--
			break
		}
		k += 15
	}
	return nil
}

func (d *jpegDecoder) decodeACRefine(blk *[64]int16, c *jpegComp, ss, se, al int) error {
	p1 := int16(1) << uint(al)
	m1 := int16(-1) << uint(al)
	k := ss
	if d.eobrun == 0 {
		ac := &d.acTabs[c.ac]
		for ; k <= se; k++ {
			rs, err := d.decodeHuff(ac)
			if err != nil {
				return err
			}
			r, s := int(rs>>4), int(rs&15)
			var v int16
			if s != 0 {
				// s must be 1 (libjpeg warns and goes on otherwise)
				if d.getBit() != 0 {
					v = p1
				} else {
					v = m1
				}
			} else if r != 15 {
				d.eobrun = 1 << uint(r)
				if r != 0 {
					d.eobrun += int(d.getBits(r))
				}
				break
			}
			// Skip r zero-history coefficients, refining the nonzero ones passed.
			for k <= se {
				z := &blk[zigzag[k]]
				if *z != 0 {
					d.refine(z, p1, m1)
				} else {
					if r == 0 {
						break
					}
					r--
				}
				k++
			}
			if v != 0 {
				blk[zigzag[k]] = v // k is at most se+1 < len(zigzag), as in libjpeg
			}
		}
	}
	if d.eobrun > 0 {
		// the rest of this band: refine the nonzero coefficients only
		for ; k <= se; k++ {
			z := &blk[zigzag[k]]
			if *z != 0 {
				d.refine(z, p1, m1)
			}
		}
		d.eobrun--
	}
	return nil
}

// refine adds a correction bit to a coefficient with a nonzero history, unless that
// bit is already set.
func (d *jpegDecoder) refine(z *int16, p1, m1 int16) {
	if d.getBit() != 0 && *z&p1 == 0 {
		if *z >= 0 {
			*z += p1
		} else {
			*z += m1
		}
	}
}

// idctLimit is libjpeg's post-IDCT range limit table, indexed by (x+128) & 1023 in
// effect: x + 128 clamped to 0..255, wrapping as libjpeg's RANGE_MASK does.
var idctLimit = func() (t [1024]uint8) {
	for i := range 1024 {
		switch {
		case i < 128:
			t[i] = uint8(i + 128)
		case i < 512:
			t[i] = 255
		case i < 896:
			t[i] = 0
		default:
			t[i] = uint8(i - 896)
		}
	}
	return
}()

// idct turns a component's coefficients into samples with libjpeg's islow IDCT.
func (d *jpegDecoder) idct(c *jpegComp) {
	stride := c.bstride * 8
	rows := d.mcuy * c.v * 8
	c.pix = make([]uint8, stride*rows)
	if c.qt == nil {
		// never scanned: libjpeg outputs zero coefficients, mid-gray
		for i := range c.pix {
			c.pix[i] = 128
		}
		return
	}
	for by := range c.bh {
		for bx := range c.bw {
			blk := (*[64]int16)(c.coef[(by*c.bstride+bx)*64:])
			idctIslow(c.pix[by*8*stride+bx*8:], stride, blk, c.qt)
		}
	}
}

// The constants of jidctint.c (CONST_BITS 13).
const (
	fix0298631336 = 2446
	fix0390180644 = 3196
	fix0541196100 = 4433
	fix0765366865 = 6270
	fix0899976223 = 7373
	fix1175875602 = 9633
	fix1501321110 = 12299
	fix1847759065 = 15137
	fix1961570560 = 16069
	fix2053119869 = 16819
	fix2562915447 = 20995
	fix3072711026 = 25172
	constBits     = 13
	pass1Bits     = 2
)

// idctIslow is libjpeg's jpeg_idct_islow: dequantize, columns, then rows, with the
// same fixed-point rounding, writing 8x8 samples at dst with the given stride.
func idctIslow(dst []uint8, stride int, blk *[64]int16, q *[64]uint16) {
	var ws [64]int32
	for col := range 8 {
		in := func(r int) int64 { return int64(blk[r*8+col]) * int64(q[r*8+col]) }
		if blk[8+col] == 0 && blk[16+col] == 0 && blk[24+col] == 0 && blk[32+col] == 0 &&
			blk[40+col] == 0 && blk[48+col] == 0 && blk[56+col] == 0 {
			dc := int32(in(0) << pass1Bits)
			for r := range 8 {
				ws[r*8+col] = dc
			}
			continue
		}
		z2, z3 := in(2), in(6)
		z1 := (z2 + z3) * fix0541196100
		tmp2 := z1 + z3*-fix1847759065
		tmp3 := z1 + z2*fix0765366865
		z2, z3 = in(0), in(4)
		tmp0 := (z2 + z3) << constBits
		tmp1 := (z2 - z3) << constBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2

		tmp0, tmp1, tmp2, tmp3 = in(7), in(5), in(3), in(1)
		o0, o1, o2, o3 := islowOdd(tmp0, tmp1, tmp2, tmp3)

		const sh = constBits - pass1Bits
		ws[0*8+col] = int32((tmp10 + o3 + 1<<(sh-1)) >> sh)
		ws[7*8+col] = int32((tmp10 - o3 + 1<<(sh-1)) >> sh)
		ws[1*8+col] = int32((tmp11 + o2 + 1<<(sh-1)) >> sh)
		ws[6*8+col] = int32((tmp11 - o2 + 1<<(sh-1)) >> sh)
		ws[2*8+col] = int32((tmp12 + o1 + 1<<(sh-1)) >> sh)
		ws[5*8+col] = int32((tmp12 - o1 + 1<<(sh-1)) >> sh)
		ws[3*8+col] = int32((tmp13 + o0 + 1<<(sh-1)) >> sh)
		ws[4*8+col] = int32((tmp13 - o0 + 1<<(sh-1)) >> sh)
	}
	const sh = constBits + pass1Bits + 3
	for r := range 8 {
		w := ws[r*8 : r*8+8 : r*8+8]
		out := dst[r*stride : r*stride+8 : r*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := idctLimit[((int64(w[0])+1<<(pass1Bits+2))>>(pass1Bits+3))&1023]
			for i := range out {
				out[i] = v
			}
			continue
		}
		z2, z3 := int64(w[2]), int64(w[6])
		z1 := (z2 + z3) * fix0541196100
		tmp2 := z1 + z3*-fix1847759065
		tmp3 := z1 + z2*fix0765366865
		tmp0 := (int64(w[0]) + int64(w[4])) << constBits
		tmp1 := (int64(w[0]) - int64(w[4])) << constBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
		o0, o1, o2, o3 := islowOdd(int64(w[7]), int64(w[5]), int64(w[3]), int64(w[1]))
		out[0] = idctLimit[((tmp10+o3+1<<(sh-1))>>sh)&1023]
		out[7] = idctLimit[((tmp10-o3+1<<(sh-1))>>sh)&1023]
		out[1] = idctLimit[((tmp11+o2+1<<(sh-1))>>sh)&1023]
		out[6] = idctLimit[((tmp11-o2+1<<(sh-1))>>sh)&1023]
		out[2] = idctLimit[((tmp12+o1+1<<(sh-1))>>sh)&1023]
		out[5] = idctLimit[((tmp12-o1+1<<(sh-1))>>sh)&1023]
		out[3] = idctLimit[((tmp13+o0+1<<(sh-1))>>sh)&1023]
		out[4] = idctLimit[((tmp13-o0+1<<(sh-1))>>sh)&1023]
	}
}

// islowOdd is the odd part of jpeg_idct_islow (y7, y5, y3, y1 in).
func islowOdd(tmp0, tmp1, tmp2, tmp3 int64) (int64, int64, int64, int64) {
	z1 := tmp0 + tmp3
	z2 := tmp1 + tmp2
	z3 := tmp0 + tmp2
	z4 := tmp1 + tmp3
	z5 := (z3 + z4) * fix1175875602
	tmp0 *= fix0298631336
	tmp1 *= fix2053119869
	tmp2 *= fix3072711026
	tmp3 *= fix1501321110
	z1 *= -fix0899976223
	z2 *= -fix2562915447
	z3 *= -fix1961570560
	z4 *= -fix0390180644
	z3 += z5
	z4 += z5
	tmp0 += z1 + z3
	tmp1 += z2 + z4
	tmp2 += z2 + z3
	tmp3 += z1 + z4
	return tmp0, tmp1, tmp2, tmp3
}
