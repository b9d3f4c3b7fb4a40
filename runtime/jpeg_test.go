package runtime

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/internal/levels"
	"github.com/ptqc/ptqc/internal/testenv"
)

// jpegCase is one file of testdata/jpeg, written by tools/jpeg_goldens/jpeg_goldens.py.
type jpegCase struct {
	Name        string
	Layout      string
	Quality     int
	Progressive bool
	Width       int
	Height      int
	Mode        string
}

const jpegDir = "../testdata/jpeg"

func jpegCases(t testing.TB) []jpegCase {
	t.Helper()
	var g struct{ Cases []jpegCase }
	testenv.ReadJSON(t, filepath.Join(jpegDir, "goldens.json"), &g)
	if len(g.Cases) == 0 {
		t.Fatal("no cases in goldens.json")
	}
	return g.Cases
}

// pilPixels returns Pillow's decode of a case: HWC bytes, 1 (L) or 3 (RGB) channels.
func pilPixels(t testing.TB, c jpegCase) ([]uint8, int) {
	t.Helper()
	f, err := os.Open(filepath.Join(jpegDir, c.Name+".png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != image.Rect(0, 0, c.Width, c.Height) {
		t.Fatalf("%s: golden is %v, want %dx%d", c.Name, img.Bounds(), c.Width, c.Height)
	}
	pix, ch := imagePixels(img)
	if want := map[string]int{"L": 1, "RGB": 3}[c.Mode]; ch != want {
		t.Fatalf("%s: golden has %d channels, mode %s", c.Name, ch, c.Mode)
	}
	return pix, ch
}

// plane is one component as libjpeg-turbo's IDCT left it.
type plane struct {
	w, h int
	pix  []uint8
}

func libjpegPlanes(t testing.TB, c jpegCase) []plane {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(jpegDir, c.Name+".planes"))
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.LittleEndian.Uint32(b))
	b = b[4:]
	var ps []plane
	for range n {
		w, h := int(binary.LittleEndian.Uint32(b)), int(binary.LittleEndian.Uint32(b[4:]))
		ps = append(ps, plane{w, h, b[8 : 8+w*h]})
		b = b[8+w*h:]
	}
	if len(b) != 0 {
		t.Fatalf("%s.planes: %d trailing bytes", c.Name, len(b))
	}
	return ps
}

// jpegLayouts are the color space and the expansion factors (hs, vs) of each
// component of the golden layouts.
var jpegLayouts = map[string]struct {
	cs     int
	hs, vs []int
}{
	"444":     {colorYCbCr, []int{1, 1, 1}, []int{1, 1, 1}},
	"422":     {colorYCbCr, []int{1, 2, 2}, []int{1, 1, 1}},
	"420":     {colorYCbCr, []int{1, 2, 2}, []int{1, 2, 2}},
	"420rst":  {colorYCbCr, []int{1, 2, 2}, []int{1, 2, 2}},
	"440":     {colorYCbCr, []int{1, 1, 1}, []int{1, 2, 2}},
	"411":     {colorYCbCr, []int{1, 4, 4}, []int{1, 1, 1}},
	"410":     {colorYCbCr, []int{1, 4, 4}, []int{1, 2, 2}},
	"221212":  {colorYCbCr, []int{1, 2, 2}, []int{1, 1, 1}}, // Y 2x2, chroma 1x2
	"rgb444":  {colorRGB, []int{1, 1, 1}, []int{1, 1, 1}},
	"rgb420":  {colorRGB, []int{1, 2, 2}, []int{1, 2, 2}},
	"cmyk":    {colorCMYK, []int{1, 1, 1, 1}, []int{1, 1, 1, 1}},
	"ycck":    {colorYCCK, []int{1, 1, 1, 1}, []int{1, 1, 1, 1}},
	"ycck420": {colorYCCK, []int{1, 2, 2, 1}, []int{1, 2, 2, 1}},
	"gray":    {colorGray, []int{1}, []int{1}},
}

// TestJPEGUpsampleExact feeds libjpeg-turbo's own IDCT output through the upsampling
// and color conversion: the result must be Pillow's pixels bit for bit, for every
// chroma layout and color space, and the tiny sizes where libjpeg falls back to
// replicating samples.
func TestJPEGUpsampleExact(t *testing.T) {
	for _, c := range jpegCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			want, ch := pilPixels(t, c)
			ps := libjpegPlanes(t, c)
			l, ok := jpegLayouts[c.Layout]
			if !ok || len(l.hs) != len(ps) {
				t.Fatalf("layout %q: %d planes", c.Layout, len(ps))
			}
			rect := image.Rect(0, 0, c.Width, c.Height)
			var ups []*upsampler
			for i, p := range ps {
				ups = append(ups, newUpsampler(p.pix, p.w, rect, l.hs[i], l.vs[i]))
			}
			got := make([]uint8, ch*c.Width*c.Height)
			convertRows(got, ch*c.Width, ch, c.Height, l.cs, ups)
			if d := diffPixels(got, want, c.Width, ch); d != "" {
				t.Error(d)
			}
		})
	}
}

// diffPixels describes the first difference of two HWC images, "" if none.
func diffPixels(got, want []uint8, w, ch int) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d bytes, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			p := i / ch
			return fmt.Sprintf("pixel (%d,%d) channel %d = %d, Pillow %d", p/w, p%w, i%ch, got[i], want[i])
		}
	}
	return ""
}

// TestDecodeJPEG checks the whole decode against Pillow's, bit for bit, and the
// planes after the IDCT against libjpeg-turbo's.
func TestDecodeJPEG(t *testing.T) {
	for _, c := range jpegCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(jpegDir, c.Name+".jpg"))
			if err != nil {
				t.Fatal(err)
			}
			d, _, err := decodeJPEGPlanes(b, maxPixels)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range libjpegPlanes(t, c) {
				comp := d.comps[i]
				for y := range p.h {
					got, want := comp.pix[y*comp.bstride*8:][:p.w], p.pix[y*p.w:(y+1)*p.w]
					if !bytes.Equal(got, want) {
						t.Fatalf("component %d row %d after the IDCT differs from libjpeg-turbo's:\n%v\n%v", i, y, got, want)
					}
				}
			}
			img, err := DecodeJPEG(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if img.Bounds() != image.Rect(0, 0, c.Width, c.Height) {
				t.Fatalf("bounds %v, want %dx%d", img.Bounds(), c.Width, c.Height)
			}
			wantType := "*image.NRGBA"
			if c.Layout == "gray" {
				wantType = "*image.Gray"
			}
			if got := fmt.Sprintf("%T", img); got != wantType {
				t.Fatalf("decoded a %s, want %s", got, wantType)
			}
			want, ch := pilPixels(t, c)
			got, _ := imagePixels(img)
			if d := diffPixels(got, want, c.Width, ch); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestImageJPEGIDCT measures how far image/jpeg's IDCT is from libjpeg-turbo's islow
// IDCT (both within the standard's accuracy, rounded differently): one level at
// most, on about 2% of the samples. Transform.Image of an *image.YCbCr from
// image/jpeg is that far from Pillow; DecodeJPEG is not.
func TestImageJPEGIDCT(t *testing.T) {
	var all levels.Diff
	for _, c := range jpegCases(t) {
		if c.Layout != "gray" && jpegLayouts[c.Layout].cs != colorYCbCr {
			continue
		}
		b, err := os.ReadFile(filepath.Join(jpegDir, c.Name+".jpg"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			// image/jpeg refuses 420rst_q85_prog_90x66 (a progressive file with
			// restart markers, written by libjpeg-turbo and decoded by Pillow).
			t.Logf("%s: image/jpeg: %v", c.Name, err)
			continue
		}
		var s levels.Diff
		ps := libjpegPlanes(t, c)
		switch m := img.(type) {
		case *image.Gray:
			for y := range c.Height {
				s.Add(m.Pix[y*m.Stride:y*m.Stride+c.Width], ps[0].pix[y*c.Width:(y+1)*c.Width])
			}
		case *image.YCbCr:
			for i, p := range [][]uint8{m.Y, m.Cb, m.Cr} {
				stride := m.YStride
				if i > 0 {
					stride = m.CStride
				}
				for y := range ps[i].h {
					s.Add(p[y*stride:y*stride+ps[i].w], ps[i].pix[y*ps[i].w:(y+1)*ps[i].w])
				}
			}
		default:
			t.Fatalf("%s: image/jpeg decoded a %T", c.Name, img)
		}
		all.Merge(s)
	}
	t.Logf("image/jpeg's planes vs libjpeg-turbo's: %v", all)
	if all.Max > 1 || float64(all.Exact) < 0.95*float64(all.N) {
		t.Errorf("image/jpeg's planes vs libjpeg-turbo's: %v, want at most one level off, on at most 5%%", all)
	}
}

// TestJPEGPreprocess runs the whole input chain (decode, resize, crop, normalize) on
// the golden files against the same Transform on Pillow's decode, which is
// torchvision's input bit for bit (TestPILReference): they must be equal.
func TestJPEGPreprocess(t *testing.T) {
	for _, c := range jpegCases(t) {
		if c.Width < 40 || c.Height < 40 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(jpegDir, c.Name+".jpg"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := DecodeJPEG(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		want, ch := pilPixels(t, c)
		tr := Transform{Channels: 3, Height: 32, Width: 32, Resize: 37, Crop: 32, Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}}
		got, ref := make([]float32, tr.Len()), make([]float32, tr.Len())
		if err := tr.Image(got, img); err != nil {
			t.Fatal(err)
		}
		if err := tr.Pixels(ref, want, c.Height, c.Width, ch, true); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(ref, got); d != "" {
			t.Errorf("%s: preprocessed input differs from Pillow's (-Pillow +ptqc):\n%s", c.Name, d)
		}
	}
}

// TestJPEGSubImage checks that an *image.YCbCr sub-image upsamples with its own
// rectangle's edges, as a file of that size would, whatever its offset.
func TestJPEGSubImage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio440} {
		full := image.NewYCbCr(image.Rect(0, 0, 40, 30), ratio)
		for _, p := range [][]uint8{full.Y, full.Cb, full.Cr} {
			for i := range p {
				p[i] = uint8(rng.IntN(256))
			}
		}
		// An even offset keeps the chroma grid: the sub-image is a smaller image.
		r := image.Rect(6, 4, 31, 23)
		sub := full.SubImage(r).(*image.YCbCr)
		small := image.NewYCbCr(image.Rect(0, 0, r.Dx(), r.Dy()), ratio)
		for y := range r.Dy() {
			for x := range r.Dx() {
				small.Y[small.YOffset(x, y)] = full.Y[full.YOffset(r.Min.X+x, r.Min.Y+y)]
				ci := small.COffset(x, y)
				small.Cb[ci], small.Cr[ci] = full.Cb[full.COffset(r.Min.X+x, r.Min.Y+y)], full.Cr[full.COffset(r.Min.X+x, r.Min.Y+y)]
			}
		}
		a, b := make([]uint8, 3*r.Dx()*r.Dy()), make([]uint8, 3*r.Dx()*r.Dy())
		if err := ycbcrRGB(a, 3*r.Dx(), 3, sub); err != nil {
			t.Fatal(err)
		}
		if err := ycbcrRGB(b, 3*r.Dx(), 3, small); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(b, a); d != "" {
			t.Errorf("%v: sub-image differs from the same pixels as an image (-image +sub):\n%s", ratio, d)
		}
		// An odd offset starts on the right half of a chroma sample: no panic, and
		// the 4:4:4 and negative-origin paths still work.
		odd := full.SubImage(image.Rect(7, 5, 40, 30)).(*image.YCbCr)
		if err := ycbcrRGB(make([]uint8, 4*33*25), 4*33, 4, odd); err != nil {
			t.Fatal(err)
		}
	}
	neg := image.NewYCbCr(image.Rect(-3, -3, 5, 4), image.YCbCrSubsampleRatio420)
	tr := Transform{Channels: 3, Height: 7, Width: 8, Mean: ones(3, 0), Std: ones(3, 1)}
	if err := tr.Image(make([]float32, tr.Len()), neg); err != nil {
		t.Fatal(err)
	}
}

// TestYCCTables checks libjpeg's conversion against its floating-point definition.
func TestYCCTables(t *testing.T) {
	for y := 0; y < 256; y += 5 {
		for cb := range 256 {
			for cr := 0; cr < 256; cr += 3 {
				r, g, b := yccRGB(uint8(y), uint8(cb), uint8(cr))
				fr := float64(y) + 1.402*float64(cr-128)
				fg := float64(y) - 0.34414*float64(cb-128) - 0.71414*float64(cr-128)
				fb := float64(y) + 1.772*float64(cb-128)
				for i, v := range []struct {
					got uint8
					f   float64
				}{{r, fr}, {g, fg}, {b, fb}} {
					if d := float64(v.got) - min(max(v.f, 0), 255); d > 1 || d < -1 {
						t.Fatalf("Y %d Cb %d Cr %d: channel %d = %d, float %v", y, cb, cr, i, v.got, v.f)
					}
				}
			}
		}
	}
}

func TestCMYKImage(t *testing.T) {
	m := image.NewCMYK(image.Rect(0, 0, 2, 1))
	copy(m.Pix, []uint8{0, 0, 0, 0, 200, 100, 50, 30})
	tr := Transform{Channels: 3, Height: 1, Width: 2, Mean: ones(3, 0), Std: ones(3, 1)}
	got := make([]float32, 6)
	if err := tr.Image(got, m); err != nil {
		t.Fatal(err)
	}
	// Pillow 9.4: Image.new("CMYK", (1, 1), (200, 100, 50, 30)).convert("RGB") is (49, 137, 181).
	want := []float32{ref(255), ref(49), ref(255), ref(137), ref(255), ref(181)}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("CMYK (-want +got):\n%s", d)
	}
}

func TestDecodeJPEGErrors(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(jpegDir, "420_q90_161x97.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	// the frame header of the file, with another SOF marker or precision
	sof := bytes.Index(good, []byte{0xff, 0xc0})
	withByte := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "jpeg: not a JPEG file"},
		{"not jpeg", []byte("\x89PNG\r\n\x1a\n"), "jpeg: not a JPEG file"},
		{"huge", hugeJPEGHeader(60000, 60000), "jpeg: image of 60000x60000 pixels in 15 bytes: too large"},
		{"truncated", good[:len(good)/2], "jpeg: corrupt JPEG data: premature end of data segment"},
		{"arithmetic", withByte(sof+1, 0xc9), "jpeg: unsupported JPEG process (SOF9: lossless, hierarchical or arithmetic coding)"},
		{"12-bit", withByte(sof+4, 12), "jpeg: unsupported sample precision 12"},
		{"header only", good[:sof], "jpeg: unexpected end of file"},
	} {
		_, err := DecodeJPEG(bytes.NewReader(tc.b))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// FuzzDecodeJPEG feeds damaged files to DecodeJPEG: errors are fine, panics and
// runaway allocations are not.
func FuzzDecodeJPEG(f *testing.F) {
	names, err := filepath.Glob(filepath.Join(jpegDir, "*.jpg"))
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 8000 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Small images only: a mutated header claiming millions of pixels is slow
		// to decode, not wrong.
		const limit = 1 << 16
		img, err := decodeJPEG(b, limit)
		if err != nil {
			return
		}
		if r := img.Bounds(); r.Empty() || r.Dx()*r.Dy() > limit {
			t.Fatalf("decoded %v", r)
		}
	})
}

// hugeJPEGHeader is the start of a baseline JPEG claiming w x h gray pixels.
func hugeJPEGHeader(w, h int) []byte {
	return []byte{0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 1, 1, 0x11, 0}
}

// photoLike draws a w x h image with gradients, hard and soft edges and noise.
func photoLike(w, h int) *image.NRGBA {
	rng := rand.New(rand.NewPCG(7, 8))
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	type disc struct {
		x, y, r2 float64
		c        color.NRGBA
	}
	var ds []disc
	for range 20 {
		r := 0.02*float64(w) + rng.Float64()*0.2*float64(w)
		ds = append(ds, disc{rng.Float64() * float64(w), rng.Float64() * float64(h), r * r,
			color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}})
	}
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			c := [3]float64{60 + 150*fx, 200 - 120*fy, 90 + 80*fx*fy}
			for _, d := range ds {
				if (float64(x)-d.x)*(float64(x)-d.x)+(float64(y)-d.y)*(float64(y)-d.y) < d.r2 {
					c = [3]float64{float64(d.c.R), float64(d.c.G), float64(d.c.B)}
				}
			}
			i := m.PixOffset(x, y)
			for k := range 3 {
				m.Pix[i+k] = uint8(min(max(c[k]+rng.NormFloat64()*6, 0), 255))
			}
			m.Pix[i+3] = 255
		}
	}
	return m
}

func benchJPEG(b *testing.B) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, photoLike(1000, 750), &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkDecodeJPEG decodes a 1000x750 4:2:0 photo-like JPEG into RGB pixels;
// BenchmarkImageJPEG is image/jpeg alone on the same file (its planes, no RGB).
func BenchmarkDecodeJPEG(b *testing.B) {
	data := benchJPEG(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeJPEG(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkImageJPEG(b *testing.B) {
	data := benchJPEG(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
