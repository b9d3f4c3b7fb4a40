package runtime

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
)

// Transform is a model description's input preprocessing, applied like torchvision's
// Resize(shorter side) -> CenterCrop -> Pad(zeros) -> ToTensor (/255) -> Normalize(mean, std).
//
// Pixels and Image follow PIL and torchvision step by step on 8-bit pixels:
//
//   - Channels: an input with as many channels as the model is used as is. A gray input
//     for a 3-channel model is replicated (PIL's convert("RGB")); an RGB input for a
//     1-channel model becomes luma with PIL's convert("L") integer formula
//     L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16 (ITU-R 601-2). The conversion is
//     done first, on the raw pixels. Other channel counts are errors.
//   - Resize: the shorter side becomes Resize and the longer one
//     int(Resize * long / short), as torchvision computes it; an image that already has
//     that size is left alone. The resampling is a port of PIL's Image.resize with
//     BILINEAR (libImaging/Resample.c, 8 bits per channel): a separable triangle filter
//     whose support grows with the downscaling factor (antialiasing), coefficients
//     normalised per output pixel and rounded to 22-bit fixed point, a horizontal pass
//     rounded to uint8, then a vertical pass rounded to uint8. It reproduces PIL's
//     output bit for bit for 8-bit L and RGB images. Only the resized pixels that
//     survive the crop are computed, which gives the same values.
//   - CenterCrop: torchvision's offsets, round((size - Crop) / 2) with Python's
//     round-half-to-even; an axis shorter than Crop is first padded with zeros,
//     (Crop - size) / 2 before and the rest after, as torchvision does.
//   - Pad: Pad zero pixels on each of the four sides.
//   - ToTensor and Normalize in float32, one rounding per operation as PyTorch does:
//     v = float32(p) / 255, out = (v - Mean[c]) / Std[c]. Zero pixels from padding
//     are normalised like any other pixel.
//
// The size after these steps must be Height x Width.
type Transform struct {
	Channels, Height, Width int       // the model's input, C x H x W
	Resize                  int       // resize the shorter side to this (bilinear), 0 = none
	Crop                    int       // center crop to Crop x Crop, 0 = none
	Pad                     int       // zero pixels added on each side, 0 = none
	Mean, Std               []float32 // per channel, len Channels
}

// maxPixels bounds the area of an input image, so that a corrupt header or an absurd
// size cannot make preprocessing allocate without limit. (Resized images are only
// computed inside the output window, so their size costs nothing.)
const maxPixels = 1 << 28

// maxChannels bounds the channel count of inputs and models.
const maxChannels = 1 << 10

// Validate reports whether t is usable: positive model sizes, non-negative Resize, Crop
// and Pad, and finite Mean and Std with one value per channel, Std nonzero.
func (t *Transform) Validate() error {
	if t == nil {
		return errors.New("preprocess: nil transform")
	}
	if t.Channels <= 0 || t.Height <= 0 || t.Width <= 0 {
		return fmt.Errorf("preprocess: model input %dx%dx%d (CxHxW) must have positive sizes", t.Channels, t.Height, t.Width)
	}
	if t.Channels > maxChannels || t.Height > 1<<16 || t.Width > 1<<16 || int64(t.Height)*int64(t.Width) > maxPixels {
		return fmt.Errorf("preprocess: model input %dx%dx%d (CxHxW) is too large", t.Channels, t.Height, t.Width)
	}
	if t.Resize < 0 || t.Crop < 0 || t.Pad < 0 {
		return fmt.Errorf("preprocess: resize %d, crop %d, pad %d must not be negative", t.Resize, t.Crop, t.Pad)
	}
	if t.Resize > 1<<16 || t.Crop > 1<<16 || t.Pad > 1<<16 {
		return fmt.Errorf("preprocess: resize %d, crop %d, pad %d: too large", t.Resize, t.Crop, t.Pad)
	}
	if len(t.Mean) != t.Channels {
		return fmt.Errorf("preprocess: mean has %d values, want %d (one per channel)", len(t.Mean), t.Channels)
	}
	if len(t.Std) != t.Channels {
		return fmt.Errorf("preprocess: std has %d values, want %d (one per channel)", len(t.Std), t.Channels)
	}
	for c := range t.Channels {
		m, s := float64(t.Mean[c]), float64(t.Std[c])
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return fmt.Errorf("preprocess: mean[%d] = %v is not finite", c, t.Mean[c])
		}
		if math.IsNaN(s) || math.IsInf(s, 0) || s == 0 {
			return fmt.Errorf("preprocess: std[%d] = %v must be finite and nonzero", c, t.Std[c])
		}
	}
	return nil
}

// Len is the number of float32 values of one preprocessed image, C*H*W.
func (t *Transform) Len() int { return t.Channels * t.Height * t.Width }

// geometry says where output pixels come from: output (y, x) shows pixel
// (y+top, x+left) of the resized rh x rw image if that is inside the rows y0..y1-1 and
// columns x0..x1-1 kept by the crop (and the image), else a zero pixel.
type geometry struct {
	rh, rw    int // size after resizing
	top, left int
	y0, y1    int
	x0, x1    int
}

// geometry returns where the output pixels of an h x w input come from, and the size
// the input has after resize, crop and pad (before the check against Height x Width).
func (t *Transform) geometry(h, w int) (geometry, int, int, error) {
	g := geometry{rh: h, rw: w}
	if t.Resize > 0 {
		// torchvision's _compute_resized_output_size for an int size.
		short, long := h, w
		if w <= h {
			short, long = w, h
		}
		newShort := t.Resize
		newLong := int(float64(int64(t.Resize)*int64(long)) / float64(short))
		if w <= h {
			g.rw, g.rh = newShort, newLong
		} else {
			g.rh, g.rw = newShort, newLong
		}
		if g.rh <= 0 || g.rw <= 0 || g.rh > 1<<24 || g.rw > 1<<24 {
			return g, 0, 0, fmt.Errorf("preprocess: resizing %dx%d to shorter side %d gives %dx%d", h, w, t.Resize, g.rh, g.rw)
		}
	}
	oh, ow := g.rh, g.rw
	g.y0, g.y1, g.x0, g.x1 = 0, g.rh, 0, g.rw
	if t.Crop > 0 {
		g.top = cropStart(oh, t.Crop)
		g.left = cropStart(ow, t.Crop)
		g.y0, g.y1 = clampRange(g.top, g.top+t.Crop, g.rh)
		g.x0, g.x1 = clampRange(g.left, g.left+t.Crop, g.rw)
		oh, ow = t.Crop, t.Crop
	}
	g.top -= t.Pad
	g.left -= t.Pad
	oh += 2 * t.Pad
	ow += 2 * t.Pad
	return g, oh, ow, nil
}

// cropStart is torchvision's center_crop offset along one axis of the given size.
func cropStart(size, crop int) int {
	if crop > size {
		// pad (crop-size)//2 before, then crop at 0
		return -((crop - size) / 2)
	}
	return int(math.RoundToEven(float64(size-crop) / 2))
}

// SizeError is a preprocessing whose output is not the model's input size.
type SizeError struct {
	H, W, OH, OW      int // the image, and what preprocessing made of it
	Resize, Crop, Pad int
	Height, Width     int // the model input
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("preprocess: a %dx%d input becomes %dx%d after resize %d, crop %d, pad %d, but the model input is %dx%d",
		e.H, e.W, e.OH, e.OW, e.Resize, e.Crop, e.Pad, e.Height, e.Width)
}

func (t *Transform) sizeError(h, w, oh, ow int) error {
	return &SizeError{H: h, W: w, OH: oh, OW: ow, Resize: t.Resize, Crop: t.Crop, Pad: t.Pad, Height: t.Height, Width: t.Width}
}

// source is 8-bit pixels: channel c, row y, column x at c*cs + y*ys + x*xs. With luma
// set, the three channels at 0, cs, 2*cs are turned into one gray channel.
type source struct {
	pix        []uint8
	cs, ys, xs int
	luma       bool
}

func (s *source) at(c, y, x int) uint8 {
	i := y*s.ys + x*s.xs
	if s.luma {
		return luma(s.pix[i], s.pix[i+s.cs], s.pix[i+2*s.cs])
	}
	return s.pix[i+c*s.cs]
}

// luma is PIL's convert("L") for one RGB pixel (L24 in libImaging/Convert.c).
func luma(r, g, b uint8) uint8 {
	return uint8((uint32(r)*19595 + uint32(g)*38470 + uint32(b)*7471 + 0x8000) >> 16)
}

// Pixels preprocesses one image of raw 8-bit pixels, h x w with c channels, laid out
// HWC (interleaved, as decoded images are) if hwc, else CHW (planar), into the first
// C*H*W values of dst, in CHW order.
func (t *Transform) Pixels(dst []float32, pix []uint8, h, w, c int, hwc bool) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if h <= 0 || w <= 0 || c <= 0 {
		return fmt.Errorf("preprocess: input %dx%dx%d (HxWxC) must have positive sizes", h, w, c)
	}
	if int64(h)*int64(w) > maxPixels || c > maxChannels {
		return fmt.Errorf("preprocess: input %dx%dx%d (HxWxC) is too large", h, w, c)
	}
	if want := int64(h) * int64(w) * int64(c); int64(len(pix)) != want {
		return fmt.Errorf("preprocess: %d pixel bytes for a %dx%dx%d (HxWxC) input, want %d", len(pix), h, w, c, want)
	}
	s := source{pix: pix, cs: h * w, ys: w, xs: 1}
	if hwc {
		s = source{pix: pix, cs: 1, ys: w * c, xs: c}
	}
	return t.run(dst, &s, h, w, c)
}

// run converts channels, resizes, crops, pads and normalises s (h x w, c channels).
func (t *Transform) run(dst []float32, s *source, h, w, c int) error {
	if n := t.Len(); len(dst) < n {
		return fmt.Errorf("preprocess: destination has %d values, want %d (%dx%dx%d)", len(dst), n, t.Channels, t.Height, t.Width)
	}
	// nc is the number of channels carried through resize/crop/pad.
	nc := c
	switch {
	case c == t.Channels:
	case c == 1 && t.Channels == 3:
		// replicated when normalising
	case c == 3 && t.Channels == 1:
		s.luma = true
		nc = 1
	default:
		return fmt.Errorf("preprocess: input has %d channels, model wants %d (only 1 -> 3 and 3 -> 1 are converted)", c, t.Channels)
	}
	g, oh, ow, err := t.geometry(h, w)
	if err != nil {
		return err
	}
	if oh != t.Height || ow != t.Width {
		return t.sizeError(h, w, oh, ow)
	}
	// Resample only the window of the resized image that the output shows.
	if (g.rh != h || g.rw != w) && g.y0 < g.y1 && g.x0 < g.x1 {
		win := resample(s, nc, h, w, g.rh, g.rw, g.y0, g.y1, g.x0, g.x1)
		wh, ww := g.y1-g.y0, g.x1-g.x0
		s = &source{pix: win, cs: wh * ww, ys: ww, xs: 1}
		g.top -= g.y0
		g.left -= g.x0
		g.y0, g.y1, g.x0, g.x1 = 0, wh, 0, ww
	}
	hw := oh * ow
	for oc := range t.Channels {
		sc := oc
		if nc != t.Channels {
			sc = 0
		}
		mean, std := t.Mean[oc], t.Std[oc]
		zero := normalize(0, mean, std)
		out := dst[oc*hw : (oc+1)*hw]
		for y := range oh {
			row := out[y*ow : (y+1)*ow]
			ry := y + g.top
			if ry < g.y0 || ry >= g.y1 {
				for x := range row {
					row[x] = zero
				}
				continue
			}
			for x := range row {
				rx := x + g.left
				if rx < g.x0 || rx >= g.x1 {
					row[x] = zero
					continue
				}
				row[x] = normalize(s.at(sc, ry, rx), mean, std)
			}
		}
	}
	return nil
}

// normalize is ToTensor then Normalize for one pixel, rounding each float32 operation
// (the explicit conversions keep the compiler from fusing anything).
func normalize(p uint8, mean, std float32) float32 {
	v := float32(float32(p) / 255)
	return float32(float32(v-mean) / std)
}

// clampRange intersects [a, b) with [0, n).
func clampRange(a, b, n int) (int, int) {
	a = max(a, 0)
	b = min(b, n)
	if a > b {
		a = b
	}
	return a, b
}

// Image preprocesses any image.Image into the first C*H*W values of dst. Gray images
// (image.Gray, image.Gray16 or a gray color model; 16-bit gray keeps its high byte) are
// one channel; everything else is read as non-premultiplied RGB with the alpha channel
// dropped, as PIL's convert("RGB") does (CMYK with Pillow's formula). Channels are then
// converted as in Pixels. An *image.YCbCr, as image/jpeg returns, is upsampled and
// converted to RGB as libjpeg-turbo does in PIL (see DecodeJPEG).
func (t *Transform) Image(dst []float32, img image.Image) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if img == nil {
		return errors.New("preprocess: nil image")
	}
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	if h <= 0 || w <= 0 {
		return fmt.Errorf("preprocess: empty image (%dx%d)", h, w)
	}
	if int64(h)*int64(w) > maxPixels {
		return fmt.Errorf("preprocess: image %dx%d is too large", h, w)
	}
	pix, c := imagePixels(img)
	s := source{pix: pix, cs: 1, ys: w * c, xs: c}
	return t.run(dst, &s, h, w, c)
}

// imagePixels returns img's pixels as HWC uint8 with 1 (gray) or 3 (RGB) channels.
func imagePixels(img image.Image) ([]uint8, int) {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	switch m := img.(type) {
	case *image.Gray:
		pix := make([]uint8, h*w)
		for y := range h {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			copy(pix[y*w:(y+1)*w], m.Pix[i:i+w])
		}
		return pix, 1
	case *image.NRGBA:
		pix := make([]uint8, h*w*3)
		for y := range h {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			src := m.Pix[i : i+4*w]
			row := pix[y*w*3 : (y+1)*w*3]
			for x := range w {
				row[3*x], row[3*x+1], row[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
			}
		}
		return pix, 3
	case *image.YCbCr:
		pix := make([]uint8, h*w*3)
		if ycbcrRGB(pix, w*3, 3, m) == nil {
			return pix, 3
		}
		// A negative origin: no upsampling, libjpeg's color conversion all the same.
		for y := range h {
			row := pix[y*w*3 : (y+1)*w*3]
			for x := range w {
				c := m.YCbCrAt(b.Min.X+x, b.Min.Y+y)
				row[3*x], row[3*x+1], row[3*x+2] = yccRGB(c.Y, c.Cb, c.Cr)
			}
		}
		return pix, 3
	case *image.CMYK:
		pix := make([]uint8, h*w*3)
		for y := range h {
			row := pix[y*w*3 : (y+1)*w*3]
			for x := range w {
				i := m.PixOffset(b.Min.X+x, b.Min.Y+y)
				row[3*x], row[3*x+1], row[3*x+2] = cmykRGB(m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3])
			}
		}
		return pix, 3
	}
	cm := img.ColorModel()
	if _, ok := img.(*image.Gray16); ok || cm == color.GrayModel || cm == color.Gray16Model {
		pix := make([]uint8, h*w)
		for y := range h {
			for x := range w {
				pix[y*w+x] = color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
			}
		}
		return pix, 1
	}
	pix := make([]uint8, h*w*3)
	for y := range h {
		row := pix[y*w*3 : (y+1)*w*3]
		for x := range w {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			row[3*x], row[3*x+1], row[3*x+2] = c.R, c.G, c.B
		}
	}
	return pix, 3
}

// Bilinear resampling, ported from PIL's libImaging/Resample.c (8 bits per channel).

const precisionBits = 32 - 8 - 2

// coeffs holds, for each output position, the first input index, the number of inputs
// and the fixed-point weights (ksize per position).
type coeffs struct {
	start, n []int
	k        []int32
	ksize    int
}

// precompute is PIL's precompute_coeffs + normalize_coeffs_8bpc with the BILINEAR
// filter (support 1) for outputs from..to-1 of an inSize -> outSize resize.
func precompute(inSize, outSize, from, to int) coeffs {
	scale := float64(float32(inSize)) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := 1.0 * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	n := to - from
	cf := coeffs{start: make([]int, n), n: make([]int, n), k: make([]int32, n*ksize), ksize: ksize}
	w := make([]float64, ksize)
	for i := range n {
		xx := from + i
		center := (float64(xx) + 0.5) * scale
		ss := 1.0 / filterscale
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := range xmax {
			f := triangle((float64(x+xmin) - center + 0.5) * ss)
			w[x] = f
			ww += f
		}
		k := cf.k[i*ksize : (i+1)*ksize]
		for x := range xmax {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				k[x] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				k[x] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		cf.start[i], cf.n[i] = xmin, xmax
	}
	return cf
}

func triangle(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resample resizes s (h x w, nc channels) to rh x rw and returns the window of rows
// y0..y1-1 and columns x0..x1-1 as planar uint8, nc planes. As in PIL, the horizontal
// pass comes first (when the width changes) and is rounded to uint8, then the vertical
// pass (when the height changes).
func resample(s *source, nc, h, w, rh, rw, y0, y1, x0, x1 int) []uint8 {
	wh, ww := y1-y0, x1-x0
	// Rows of the input that the vertical pass reads.
	var vc coeffs
	r0, r1 := y0, y1
	if rh != h {
		vc = precompute(h, rh, y0, y1)
		r0 = vc.start[0]
		r1 = vc.start[wh-1] + vc.n[wh-1]
	}
	nr := r1 - r0
	out := make([]uint8, nc*wh*ww)
	tmp := make([]uint8, nr*ww)
	var hc coeffs
	if rw != w {
		hc = precompute(w, rw, x0, x1)
	}
	for c := range nc {
		// horizontal pass: input rows r0..r1-1, output columns x0..x1-1
		for r := range nr {
			y := r0 + r
			row := tmp[r*ww : (r+1)*ww]
			if rw == w {
				for x := range ww {
					row[x] = s.at(c, y, x0+x)
				}
				continue
			}
			for x := range ww {
				k := hc.k[x*hc.ksize : x*hc.ksize+hc.n[x]]
				xmin := hc.start[x]
				acc := int32(1 << (precisionBits - 1))
				for j, kj := range k {
					acc += int32(s.at(c, y, xmin+j)) * kj
				}
				row[x] = clip8(acc)
			}
		}
		plane := out[c*wh*ww : (c+1)*wh*ww]
		if rh == h {
			copy(plane, tmp)
			continue
		}
		for yy := range wh {
			k := vc.k[yy*vc.ksize : yy*vc.ksize+vc.n[yy]]
			ymin := vc.start[yy] - r0
			prow := plane[yy*ww : (yy+1)*ww]
			for x := range ww {
				acc := int32(1 << (precisionBits - 1))
				for j, kj := range k {
					acc += int32(tmp[(ymin+j)*ww+x]) * kj
				}
				prow[x] = clip8(acc)
			}
		}
	}
	return out
}
