package runtime

import (
	"errors"
	"fmt"
	"image"
	"io"
)

// DecodeJPEG decodes a JPEG file into the pixels that PIL (and so torchvision) gets
// from it with libjpeg-turbo's default decode, bit for bit: Image.open(f) for a
// grayscale file, Image.open(f).convert("RGB") for the others.
//
// It is a decoder of its own that follows libjpeg-turbo 2.1 and Pillow step by step:
//
//   - Huffman-coded baseline, extended and progressive files, 8-bit samples, 1, 3 or 4
//     components, any sampling factors with integral ratios; restart markers.
//   - The IDCT is libjpeg's default jpeg_idct_islow (jidctint.c), with its fixed-point
//     rounding and range limiting. (image/jpeg's IDCT rounds differently: about 2% of
//     the samples of a photo come out one level off, up to 3 levels in RGB.)
//   - Subsampled components are upsampled with libjpeg's "fancy" triangle filter:
//     2:1 horizontally (h2v1, 4:2:2), both ways (h2v2, 4:2:0) and vertically (h1v2,
//     4:4:0), 3/4 nearer + 1/4 farther sample with its alternating rounding biases,
//     the rows and columns past the edges repeating the edge samples. Components one
//     or two samples wide and other ratios (4:1:1, 4:1:0) are replicated, as libjpeg
//     does.
//   - The color space is guessed as libjpeg does (JFIF and Adobe markers, component
//     ids). YCbCr -> RGB is libjpeg's integer arithmetic: 16-bit fixed-point tables,
//     rounded, then clamped. CMYK and YCCK become Pillow's CMYK (read as CMYK;I, Adobe's
//     inverted convention), then RGB with Pillow's cmyk2rgb:
//     R = (255-K) - C*(255-K)/255, rounded as Pillow's MULDIV255.
//
// A grayscale file is returned as an *image.Gray (PIL's mode L; Transform replicates
// it for a 3-channel model, as convert("RGB") does), the others as an opaque
// *image.NRGBA. Not reproduced: libjpeg's block smoothing of progressive files whose
// scans leave coefficients unrefined (a complete file refines them all), and its
// recovery from corrupt data (an error here, as in Pillow, which refuses truncated
// files; a missing EOI marker is tolerated).
func DecodeJPEG(r io.Reader) (image.Image, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("jpeg: %w", err)
	}
	img, err := decodeJPEG(b, min(int64(maxPixels), maxJPEGPixelsPerByte*int64(len(b))+1<<20))
	if err != nil {
		return nil, fmt.Errorf("jpeg: %w", err)
	}
	return img, nil
}

// decodeJPEG is DecodeJPEG on the file's bytes, refusing images of more than limit
// pixels.
func decodeJPEG(b []byte, limit int64) (image.Image, error) {
	d, cs, err := decodeJPEGPlanes(b, limit)
	if err != nil {
		return nil, err
	}
	rect := image.Rect(0, 0, d.width, d.height)
	if cs == colorGray {
		c := &d.comps[0]
		return &image.Gray{Pix: c.pix, Stride: c.bstride * 8, Rect: rect}, nil
	}
	ups := make([]*upsampler, len(d.comps))
	for i := range d.comps {
		c := &d.comps[i]
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return nil, fmt.Errorf("unsupported sampling factors %dx%d of %dx%d", c.h, c.v, d.hmax, d.vmax)
		}
		ups[i] = newUpsampler(c.pix, c.bstride*8, rect, d.hmax/c.h, d.vmax/c.v)
	}
	out := image.NewNRGBA(rect)
	convertRows(out.Pix, out.Stride, 4, d.height, cs, ups)
	return out, nil
}

// maxJPEGPixelsPerByte bounds how far a JPEG may claim to expand, so that a small file
// claiming a huge image is rejected before its planes are allocated: a baseline
// block takes at least 2 bits (256 pixels a byte), a progressive one 1 bit in its
// DC scan.
const maxJPEGPixelsPerByte = 4096

// cmykRGB is Pillow's cmyk2rgb (libImaging/Convert.c) for one pixel.
func cmykRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	nk := 255 - int32(k)
	f := func(v uint8) uint8 {
		t := int32(v)*nk + 128
		return uint8(nk - ((t>>8)+t)>>8) // never negative: the product is at most nk
	}
	return f(c), f(m), f(y)
}

// libjpeg's YCbCr -> RGB tables (jdcolor.c build_ycc_rgb_table, SCALEBITS 16):
// R = Y + crR[Cr], G = Y + (cbG[Cb] + crG[Cr]) >> 16, B = Y + cbB[Cb], clamped.
var crR, cbB, crG, cbG = yccTables()

func yccTables() (crR, cbB, crG, cbG [256]int32) {
	const oneHalf = 1 << 15
	fix := func(x float64) int32 { return int32(x*(1<<16) + 0.5) }
	for i := range 256 {
		x := int32(i) - 128
		crR[i] = (fix(1.40200)*x + oneHalf) >> 16
		cbB[i] = (fix(1.77200)*x + oneHalf) >> 16
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + oneHalf
	}
	return
}

// yccRGB is libjpeg's YCbCr -> RGB for one pixel.
func yccRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := int32(y)
	return clamp255(yy + crR[cr]), clamp255(yy + (cbG[cb]+crG[cr])>>16), clamp255(yy + cbB[cb])
}

// clampTab[v+256] is v clamped to 0..255, for v in -256..767.
var clampTab = func() (t [1024]uint8) {
	for i := range t {
		t[i] = clamp255(int32(i) - 256)
	}
	return
}()

func clamp255(v int32) uint8 {
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

// subsampling is each ratio's chroma factors, horizontal and vertical.
var subsampling = map[image.YCbCrSubsampleRatio][2]int{
	image.YCbCrSubsampleRatio444: {1, 1}, image.YCbCrSubsampleRatio422: {2, 1},
	image.YCbCrSubsampleRatio420: {2, 2}, image.YCbCrSubsampleRatio440: {1, 2},
	image.YCbCrSubsampleRatio411: {4, 1}, image.YCbCrSubsampleRatio410: {4, 2},
}

// ycbcrRGB writes m's pixels as libjpeg-turbo's decoder outputs them (fancy
// upsampling, then integer YCbCr -> RGB) into dst: image row y at dst[y*stride:], n
// bytes a pixel (3, or 4 with the 4th set to 255). The edges of the upsampling are
// those of m's rectangle, which are the image's for an image from image/jpeg.
func ycbcrRGB(dst []uint8, stride, n int, m *image.YCbCr) error {
	f, ok := subsampling[m.SubsampleRatio]
	if !ok {
		return errors.New("unknown YCbCr subsampling ratio")
	}
	hs, vs := f[0], f[1]
	r := m.Rect
	if r.Dx() <= 0 || r.Dy() <= 0 {
		return nil
	}
	if r.Min.X < 0 || r.Min.Y < 0 {
		return errors.New("YCbCr image with a negative origin")
	}
	y := newUpsampler(m.Y[m.YOffset(r.Min.X, r.Min.Y):], m.YStride, r, 1, 1)
	// Chroma planes start at the sample covering Min, as image.YCbCr.COffset says.
	ci := m.COffset(r.Min.X, r.Min.Y)
	cb := newUpsampler(m.Cb[ci:], m.CStride, r, hs, vs)
	cr := newUpsampler(m.Cr[ci:], m.CStride, r, hs, vs)
	if !y.fits(len(m.Y)-m.YOffset(r.Min.X, r.Min.Y)) || !cb.fits(len(m.Cb)-ci) || !cr.fits(len(m.Cr)-ci) {
		return errors.New("YCbCr image with planes too small for its rectangle")
	}
	convertRows(dst, stride, n, r.Dy(), colorYCbCr, []*upsampler{y, cb, cr})
	return nil
}

// Color spaces of decoded planes, converted to RGB as libjpeg-turbo and Pillow do.
const (
	colorGray  = iota
	colorYCbCr // libjpeg's ycc_rgb_convert
	colorRGB
	colorCMYK // Adobe CMYK, stored inverted; Pillow reads it as CMYK;I, then cmyk2rgb
	colorYCCK // libjpeg's ycck_cmyk_convert, then as colorCMYK
)

// convertRows writes h rows of pixels from the planes (one per component, upsampled)
// converted from the color space cs into dst: row y at dst[y*stride:], n bytes a pixel
// (3, or 4 with the 4th set to 255; 1 for gray).
func convertRows(dst []uint8, stride, n, h, cs int, planes []*upsampler) {
	rows := make([][]uint8, len(planes))
	for y := range h {
		for i, p := range planes {
			rows[i] = p.row(y)
		}
		w := len(rows[0])
		out := dst[y*stride : y*stride+n*w]
		switch cs {
		case colorGray:
			copy(out, rows[0])
		case colorYCbCr:
			// yccRGB written out: the hottest loop of a decode
			yr, cb, cr := rows[0], rows[1][:w], rows[2][:w]
			lim := &clampTab
			for x, yv := range yr {
				o := out[n*x : n*x+3]
				yy, b, r := int32(yv)+256, cb[x], cr[x]
				o[0] = lim[(yy+crR[r])&1023]
				o[1] = lim[(yy+(cbG[b]+crG[r])>>16)&1023]
				o[2] = lim[(yy+cbB[b])&1023]
			}
			if n == 4 {
				for x := range w {
					out[4*x+3] = 255
				}
			}
		default:
			c0, c1, c2 := rows[0], rows[1][:w], rows[2][:w]
			for x := range w {
				o := out[n*x : n*x+n]
				a, b, c := c0[x], c1[x], c2[x]
				switch cs {
				case colorCMYK:
					k := rows[3][x]
					o[0], o[1], o[2] = cmykRGB(255-a, 255-b, 255-c, 255-k)
				case colorYCCK:
					// ycck_cmyk_convert gives C = 255 - R, ..., K as stored; the
					// inversion of CMYK;I undoes the first.
					k := rows[3][x]
					r, g, bb := yccRGB(a, b, c)
					o[0], o[1], o[2] = cmykRGB(r, g, bb, 255-k)
				default:
					o[0], o[1], o[2] = a, b, c
				}
				if n == 4 {
					o[3] = 255
				}
			}
		}
	}
}

// upsampler gives the rows of one component at full resolution as libjpeg-turbo's
// jdsample.c makes them, for an image covering the rectangle r: pix holds the
// samples from the one covering r.Min, hs x vs pixels each.
type upsampler struct {
	pix            []uint8
	stride         int
	hs, vs         int
	w              int // pixels a row
	odd            int // pixels of the first sample left of r.Min.X
	oddY           int // likewise rows above r.Min.Y
	ncols, nrows   int // samples covering r
	fancyH, fancyV bool
	buf            []uint8
	sum            []int32
}

func newUpsampler(pix []uint8, stride int, r image.Rectangle, hs, vs int) *upsampler {
	u := &upsampler{pix: pix, stride: stride, hs: hs, vs: vs, w: r.Dx()}
	u.odd, u.oddY = r.Min.X%hs, r.Min.Y%vs
	u.ncols = (r.Max.X-1)/hs - r.Min.X/hs + 1
	u.nrows = (r.Max.Y-1)/vs - r.Min.Y/vs + 1
	// libjpeg interpolates 2:1 horizontally only when there are more than 2 samples
	// a row, and always 2:1 vertically when only vertically (h1v2); other ratios
	// are replicated.
	u.fancyH = hs == 2 && (vs == 1 || vs == 2) && u.ncols > 2
	u.fancyV = vs == 2 && (hs == 1 || u.fancyH)
	if hs != 1 || vs != 1 {
		u.buf = make([]uint8, hs*u.ncols)
	}
	if u.fancyH && u.fancyV {
		u.sum = make([]int32, u.ncols)
	}
	return u
}

// fits reports whether a plane of n bytes holds every sample the rows read.
func (u *upsampler) fits(n int) bool {
	return u.stride >= u.ncols && (u.nrows-1)*u.stride+u.ncols <= n
}

func (u *upsampler) srow(i int) []uint8 {
	return u.pix[i*u.stride : i*u.stride+u.ncols]
}

// row returns the w pixels of row y (counted from r.Min.Y).
func (u *upsampler) row(y int) []uint8 {
	p := y + u.oddY
	i := p / u.vs
	near := u.srow(i)
	if u.hs == 1 && u.vs == 1 {
		return near[:u.w]
	}
	var far []uint8
	var bias int32
	if u.fancyV {
		// the upper pixel row of a sample row leans up, the lower one down; the
		// rows past the edges repeat the edge rows
		if p&1 == 0 {
			far, bias = u.srow(max(i-1, 0)), 1
		} else {
			far, bias = u.srow(min(i+1, u.nrows-1)), 2
		}
	}
	switch {
	case u.fancyH && u.fancyV:
		colSums(u.sum, near, far)
		h2v2(u.buf, u.sum)
	case u.fancyH:
		h2v1(u.buf, near)
	case u.fancyV: // h1v2
		h1v2(u.buf, near, far, bias)
	default: // box filter
		for x := range u.buf {
			u.buf[x] = near[x/u.hs]
		}
	}
	return u.buf[u.odd : u.odd+u.w]
}

// colSums is the vertical half of h2v2_fancy_upsample: 3 * nearer row + farther row.
func colSums(dst []int32, near, far []uint8) {
	far = far[:len(near)]
	dst = dst[:len(near)]
	for i, v := range near {
		dst[i] = 3*int32(v) + int32(far[i])
	}
}

// h2v2 is the horizontal half of h2v2_fancy_upsample on the column sums s: the left
// pixel of each pair is (3*s[i] + s[i-1] + 8) >> 4, the right one
// (3*s[i] + s[i+1] + 7) >> 4, the edge sums standing in for the missing neighbours.
// dst gets 2*len(s) pixels.
func h2v2(dst []uint8, s []int32) {
	n := len(s)
	dst = dst[:2*n]
	dst[0] = uint8((4*s[0] + 8) >> 4)
	for i := 0; i+1 < n; i++ {
		a, b := s[i], s[i+1]
		d := dst[2*i+1 : 2*i+3 : 2*i+3]
		d[0] = uint8((3*a + b + 7) >> 4)
		d[1] = uint8((3*b + a + 8) >> 4)
	}
	dst[2*n-1] = uint8((4*s[n-1] + 7) >> 4)
}

// h2v1 is h2v1_fancy_upsample: (3*c[i] + c[i-1] + 1) >> 2 on the left of each pair,
// (3*c[i] + c[i+1] + 2) >> 2 on the right. dst gets 2*len(c) pixels.
func h2v1(dst []uint8, c []uint8) {
	n := len(c)
	dst = dst[:2*n]
	dst[0] = c[0]
	for i := 0; i+1 < n; i++ {
		a, b := int32(c[i]), int32(c[i+1])
		d := dst[2*i+1 : 2*i+3 : 2*i+3]
		d[0] = uint8((3*a + b + 2) >> 2)
		d[1] = uint8((3*b + a + 1) >> 2)
	}
	dst[2*n-1] = c[n-1]
}

// h1v2 is h1v2_fancy_upsample: (3*near + far + bias) >> 2, bias 1 on the upper pixel
// row of a chroma row and 2 on the lower one.
func h1v2(dst []uint8, near, far []uint8, bias int32) {
	far = far[:len(near)]
	for i, v := range near {
		dst[i] = uint8((3*int32(v) + int32(far[i]) + bias) >> 2)
	}
}
