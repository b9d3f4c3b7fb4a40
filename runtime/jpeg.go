package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
)

// DecodeJPEG decodes a JPEG file into the pixels that PIL (and so torchvision) gets
// from it with libjpeg-turbo's default decode: Image.open(f) for a grayscale file,
// Image.open(f).convert("RGB") for the others.
//
// The entropy decoding and the IDCT are image/jpeg's; the rest follows libjpeg-turbo
// (2.1, jdsample.c and jdcolor.c) and Pillow:
//
//   - Subsampled chroma is upsampled with libjpeg's "fancy" triangle filter: 4:2:2
//     (h2v1) and 4:2:0 (h2v2) as 3/4 nearer + 1/4 farther sample with its alternating
//     rounding biases, 4:4:0 (h1v2) likewise vertically; the rows and columns past the
//     image edges repeat the edge samples. Chroma one or two samples wide, and the 4:1:1
//     and 4:1:0 layouts, are replicated (box filter), as libjpeg does.
//   - YCbCr -> RGB is libjpeg's integer arithmetic: 16-bit fixed-point tables,
//     rounded, then clamped to 0..255.
//   - A grayscale file is returned as an *image.Gray (PIL's mode L); Transform
//     replicates it for a 3-channel model, as convert("RGB") does.
//   - A CMYK file (Adobe, inverted) is converted with Pillow's cmyk2rgb:
//     R = (255-K) - (C*(255-K))/255, rounded as Pillow's MULDIV255.
//
// Everything else is returned as an opaque *image.NRGBA.
//
// The result equals Pillow's pixels exactly where image/jpeg's IDCT equals
// libjpeg-turbo's islow IDCT. The two are both exact to the JPEG standard's accuracy
// but round differently: on photos about 2% of the samples of each plane differ by one
// level, which moves an RGB value by at most 3 levels. Further differences: YCCK files
// (Adobe transform 2) go through image/jpeg's own YCbCr conversion, and subsampled RGB
// or CMYK files through its sample replication.
func DecodeJPEG(r io.Reader) (image.Image, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("jpeg: %w", err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("jpeg: %w", err)
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	if cfg.Width <= 0 || cfg.Height <= 0 || px > maxPixels || px > maxJPEGPixelsPerByte*int64(len(b))+1<<20 {
		return nil, fmt.Errorf("jpeg: image of %dx%d pixels in %d bytes: empty or too large", cfg.Width, cfg.Height, len(b))
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("jpeg: %w", err)
	}
	return jpegPixels(img)
}

// maxJPEGPixelsPerByte bounds how far a JPEG may claim to expand (an all-zero 8x8 block
// takes at least 2 bits), so that a small file claiming a huge image is rejected
// before image/jpeg allocates its planes.
const maxJPEGPixelsPerByte = 8300

// jpegPixels converts what image/jpeg decoded as DecodeJPEG says.
func jpegPixels(img image.Image) (image.Image, error) {
	switch m := img.(type) {
	case *image.Gray:
		return m, nil
	case *image.YCbCr:
		out := image.NewNRGBA(m.Rect)
		if err := ycbcrRGB(out.Pix, out.Stride, 4, m); err != nil {
			return nil, fmt.Errorf("jpeg: %w", err)
		}
		return out, nil
	case *image.CMYK:
		out := image.NewNRGBA(m.Rect)
		w := m.Rect.Dx()
		for y := range m.Rect.Dy() {
			src := m.Pix[y*m.Stride : y*m.Stride+4*w]
			dst := out.Pix[y*out.Stride : y*out.Stride+4*w]
			for x := 0; x < len(src); x += 4 {
				dst[x], dst[x+1], dst[x+2] = cmykRGB(src[x], src[x+1], src[x+2], src[x+3])
				dst[x+3] = 255
			}
		}
		return out, nil
	case *image.RGBA:
		// RGB files (Adobe transform 0): opaque, so the bytes are already NRGBA.
		return &image.NRGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}, nil
	}
	return nil, fmt.Errorf("jpeg: unexpected decoded image type %T", img)
}

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

func clamp255(v int32) uint8 {
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

// ycbcrRGB writes m's pixels as libjpeg-turbo's decoder outputs them (fancy
// upsampling, then integer YCbCr -> RGB) into dst: image row y at dst[y*stride:], n
// bytes a pixel (3, or 4 with the 4th set to 255). The edges of the upsampling are
// those of m's rectangle, which are the image's for an image from image/jpeg.
func ycbcrRGB(dst []uint8, stride, n int, m *image.YCbCr) error {
	var hs, vs int
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		hs, vs = 1, 2
	case image.YCbCrSubsampleRatio411:
		hs, vs = 4, 1
	case image.YCbCrSubsampleRatio410:
		hs, vs = 4, 2
	default:
		return errors.New("unknown YCbCr subsampling ratio")
	}
	r := m.Rect
	w := r.Dx()
	if w <= 0 || r.Dy() <= 0 {
		return nil
	}
	if r.Min.X < 0 || r.Min.Y < 0 {
		return errors.New("YCbCr image with a negative origin")
	}
	// The chroma samples covering the rectangle, indexed as image.YCbCr.COffset does.
	cx0, cy0 := r.Min.X/hs, r.Min.Y/vs
	ncols := (r.Max.X-1)/hs - cx0 + 1
	nrows := (r.Max.Y-1)/vs - cy0 + 1
	if m.YStride < w || m.CStride < ncols || len(m.Y) < m.YOffset(r.Max.X-1, r.Max.Y-1)+1 ||
		len(m.Cb) < (nrows-1)*m.CStride+ncols || len(m.Cr) < (nrows-1)*m.CStride+ncols {
		return errors.New("YCbCr image with planes too small for its rectangle")
	}
	crow := func(plane []uint8, cy int) []uint8 {
		i := (cy - cy0) * m.CStride
		return plane[i : i+ncols]
	}
	// libjpeg interpolates 2:1 horizontally only when the chroma is more than 2
	// samples wide, and always 2:1 vertically when only vertical (4:4:0).
	fancyH := hs == 2 && ncols > 2
	fancyV := vs == 2 && (hs == 1 || fancyH)
	var cbUp, crUp []uint8
	var cbSum, crSum []int32
	if hs != 1 || vs != 1 {
		// room for every pixel of the chroma columns, the first one's left half too
		cbUp, crUp = make([]uint8, hs*ncols), make([]uint8, hs*ncols)
	}
	if fancyH && fancyV {
		cbSum, crSum = make([]int32, ncols), make([]int32, ncols)
	}
	odd := r.Min.X & 1 // the first pixel is the right half of its chroma sample
	for y := r.Min.Y; y < r.Max.Y; y++ {
		cy := y / vs
		far := cy
		bias := int32(0)
		if fancyV {
			// the upper pixel row of a chroma row leans up, the lower one down
			if y&1 == 0 {
				far, bias = max(cy-1, cy0), 1
			} else {
				far, bias = min(cy+1, cy0+nrows-1), 2
			}
		}
		cb, cr := crow(m.Cb, cy), crow(m.Cr, cy)
		switch {
		case hs == 1 && vs == 1:
			// full-size chroma
		case fancyH && fancyV:
			colSums(cbSum, cb, crow(m.Cb, far))
			colSums(crSum, cr, crow(m.Cr, far))
			h2v2(cbUp, cbSum)
			h2v2(crUp, crSum)
			cb, cr = cbUp[odd:], crUp[odd:]
		case fancyH:
			h2v1(cbUp, cb)
			h2v1(crUp, cr)
			cb, cr = cbUp[odd:], crUp[odd:]
		case fancyV: // h1v2
			h1v2(cbUp, cb, crow(m.Cb, far), bias)
			h1v2(crUp, cr, crow(m.Cr, far), bias)
			cb, cr = cbUp, crUp
		default: // box filter
			first := r.Min.X - cx0*hs // pixels of the first chroma column already left of Min.X
			for x := range w {
				i := (x + first) / hs
				cbUp[x], crUp[x] = cb[i], cr[i]
			}
			cb, cr = cbUp, crUp
		}
		yi := m.YOffset(r.Min.X, y)
		yrow := m.Y[yi : yi+w]
		out := dst[(y-r.Min.Y)*stride:]
		out = out[:n*w]
		cb, cr = cb[:w], cr[:w]
		if n == 4 {
			for x, yv := range yrow {
				o := out[4*x : 4*x+4 : 4*x+4]
				yy, b, rr := int32(yv), cb[x], cr[x]
				o[0] = clamp255(yy + crR[rr])
				o[1] = clamp255(yy + (cbG[b]+crG[rr])>>16)
				o[2] = clamp255(yy + cbB[b])
				o[3] = 255
			}
			continue
		}
		for x, yv := range yrow {
			o := out[3*x : 3*x+3 : 3*x+3]
			yy, b, rr := int32(yv), cb[x], cr[x]
			o[0] = clamp255(yy + crR[rr])
			o[1] = clamp255(yy + (cbG[b]+crG[rr])>>16)
			o[2] = clamp255(yy + cbB[b])
		}
	}
	return nil
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
