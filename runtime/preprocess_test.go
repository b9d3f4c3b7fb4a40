package runtime

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/internal/testenv"
)

// ref is float32(p)/255, the output of the transform for pixel p with mean 0 and std 1.
func ref(p uint8) float32 { return float32(float32(p) / 255) }

func bitsEqual(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad < 5 {
				t.Errorf("%s: value %d = %v (0x%08x), want %v (0x%08x)", name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ", name, bad, len(got))
	}
}

func ones(n int, v float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestPILReference compares the 8-bit stages (channel conversion, bilinear resize,
// center crop, pad) with Pillow's output, recorded by testdata/data/gen_pil_reference.py.
func TestPILReference(t *testing.T) {
	var fixture struct {
		Cases []struct {
			Name      string
			H, W, C   int
			Transform struct{ Channels, Height, Width, Resize, Crop, Pad int }
			Src, Want []int
		}
	}
	testenv.ReadJSON(t, "../testdata/data/pil_reference.json", &fixture)
	if len(fixture.Cases) == 0 {
		t.Fatal("no cases in the fixture")
	}
	for _, tc := range fixture.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			tf := tc.Transform
			tr := Transform{Channels: tf.Channels, Height: tf.Height, Width: tf.Width, Resize: tf.Resize, Crop: tf.Crop, Pad: tf.Pad,
				Mean: ones(tf.Channels, 0), Std: ones(tf.Channels, 1)}
			want := make([]float32, len(tc.Want))
			for i, p := range tc.Want {
				want[i] = ref(uint8(p))
			}
			src := make([]uint8, len(tc.Src))
			for i, p := range tc.Src {
				src[i] = uint8(p)
			}
			// HWC
			got := make([]float32, tr.Len())
			if err := tr.Pixels(got, src, tc.H, tc.W, tc.C, true); err != nil {
				t.Fatal(err)
			}
			bitsEqual(t, "HWC", got, want)
			// CHW
			chw := make([]uint8, len(src))
			for y := range tc.H {
				for x := range tc.W {
					for c := range tc.C {
						chw[c*tc.H*tc.W+y*tc.W+x] = src[(y*tc.W+x)*tc.C+c]
					}
				}
			}
			got = make([]float32, tr.Len())
			if err := tr.Pixels(got, chw, tc.H, tc.W, tc.C, false); err != nil {
				t.Fatal(err)
			}
			bitsEqual(t, "CHW", got, want)
			// image.Image
			var img image.Image
			if tc.C == 1 {
				g := image.NewGray(image.Rect(0, 0, tc.W, tc.H))
				copy(g.Pix, src)
				img = g
			} else {
				m := image.NewNRGBA(image.Rect(0, 0, tc.W, tc.H))
				for i := range tc.H * tc.W {
					copy(m.Pix[4*i:4*i+3], src[3*i:3*i+3])
					m.Pix[4*i+3] = 255
				}
				img = m
			}
			got = make([]float32, tr.Len())
			if err := tr.Image(got, img); err != nil {
				t.Fatal(err)
			}
			bitsEqual(t, "Image", got, want)
		})
	}
}

// TestFashionMNISTPad is the Fashion-MNIST preprocessing of the MobileNetV2 models: a
// 28x28 gray image padded to 32x32 and replicated to 3 channels.
func TestFashionMNISTPad(t *testing.T) {
	tr := Transform{Channels: 3, Height: 32, Width: 32, Pad: 2, Mean: ones(3, 0.286), Std: ones(3, 0.353)}
	r := rand.New(rand.NewPCG(1, 2))
	pix := make([]uint8, 28*28)
	for i := range pix {
		pix[i] = uint8(r.IntN(256))
	}
	pix[0], pix[1], pix[2], pix[3], pix[4], pix[5] = 0, 1, 127, 128, 254, 255
	dst := make([]float32, 3*32*32)
	if err := tr.Pixels(dst, pix, 28, 28, 1, true); err != nil {
		t.Fatal(err)
	}
	// The channels are identical.
	if d := cmp.Diff(dst[:1024], dst[1024:2048]); d != "" {
		t.Errorf("channel 1 differs from channel 0 (-0 +1):\n%s", d)
	}
	if d := cmp.Diff(dst[:1024], dst[2048:]); d != "" {
		t.Errorf("channel 2 differs from channel 0 (-0 +2):\n%s", d)
	}
	zero := float32(float32(float32(0)-float32(0.286)) / float32(0.353))
	for _, i := range []int{0, 31, 31 * 32, 32*32 - 1, 2*32 + 1, 30*32 + 5} {
		if dst[i] != zero {
			t.Errorf("padding value %d = %v, want %v", i, dst[i], zero)
		}
	}
	// Values computed with numpy float32: (np.float32(p)/np.float32(255) - m) / s.
	want := map[uint8]uint32{0: 0xbf4f6929, 1: 0xbf4c911b, 127: 0x3f19c603, 128: 0x3f1c9e13, 254: 0x4000bd4c, 255: 0x4001734f}
	if math.Float32bits(zero) != want[0] {
		t.Errorf("padding value 0x%08x, numpy gives 0x%08x", math.Float32bits(zero), want[0])
	}
	for x := range 6 {
		got := math.Float32bits(dst[2*32+2+x])
		if w := want[pix[x]]; got != w {
			t.Errorf("pixel %d (value %d) = 0x%08x, numpy gives 0x%08x", x, pix[x], got, w)
		}
	}
	for y := range 28 {
		for x := range 28 {
			p := pix[y*28+x]
			w := float32(float32(ref(p)-float32(0.286)) / float32(0.353))
			if g := dst[(y+2)*32+x+2]; g != w {
				t.Fatalf("pixel (%d,%d) = %v, want %v", y, x, g, w)
			}
		}
	}
}

func TestNormalizePerChannel(t *testing.T) {
	tr := Transform{Channels: 3, Height: 1, Width: 2, Mean: []float32{0.5, 0, 0.25}, Std: []float32{0.25, 1, 2}}
	pix := []uint8{0, 3, 200, 255, 10, 20} // HWC: (0,3,200), (255,10,20)
	dst := make([]float32, 6)
	if err := tr.Pixels(dst, pix, 1, 2, 3, true); err != nil {
		t.Fatal(err)
	}
	n := func(p uint8, c int) float32 { return float32(float32(ref(p)-tr.Mean[c]) / tr.Std[c]) }
	want := []float32{n(0, 0), n(255, 0), n(3, 1), n(10, 1), n(200, 2), n(20, 2)}
	bitsEqual(t, "normalize", dst, want)
	if math.Float32bits(dst[0]) != 0xc0000000 {
		t.Errorf("(0/255 - 0.5)/0.25 = 0x%08x, numpy gives 0xc0000000", math.Float32bits(dst[0]))
	}
}

// TestLuma checks RGB -> gray against values from PIL's convert("L").
func TestLuma(t *testing.T) {
	tr := Transform{Channels: 1, Height: 1, Width: 4, Mean: []float32{0}, Std: []float32{1}}
	pix := []uint8{10, 200, 37, 255, 255, 0, 1, 2, 3, 128, 64, 250}
	dst := make([]float32, 4)
	if err := tr.Pixels(dst, pix, 1, 4, 3, true); err != nil {
		t.Fatal(err)
	}
	bitsEqual(t, "luma", dst, []float32{ref(125), ref(226), ref(2), ref(104)})
}

func TestImageTypes(t *testing.T) {
	rect := image.Rect(3, 5, 7, 8) // 4 wide, 3 high, offset origin
	rgb := Transform{Channels: 3, Height: 3, Width: 4, Mean: ones(3, 0), Std: ones(3, 1)}
	gray := Transform{Channels: 1, Height: 3, Width: 4, Mean: ones(1, 0), Std: ones(1, 1)}
	colorAt := func(x, y int) color.NRGBA {
		return color.NRGBA{uint8(10*x + y), uint8(100 + x*y), uint8(255 - 7*y), uint8(40 * x)}
	}
	wantRGB := make([]float32, 3*12)
	wantGray := make([]float32, 12)
	for y := range 3 {
		for x := range 4 {
			c := colorAt(x+3, y+5)
			wantRGB[y*4+x], wantRGB[12+y*4+x], wantRGB[24+y*4+x] = ref(c.R), ref(c.G), ref(c.B)
			wantGray[y*4+x] = ref(luma(c.R, c.G, c.B))
		}
	}
	nrgba := image.NewNRGBA(rect)
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			nrgba.Set(x, y, colorAt(x, y))
		}
	}
	// Alpha is dropped, not composited: the generic path must agree with the NRGBA one.
	nrgba64 := image.NewNRGBA64(rect)
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			nrgba64.Set(x, y, colorAt(x, y))
		}
	}
	big := image.NewNRGBA(image.Rect(0, 0, 20, 20))
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			big.Set(x, y, colorAt(x, y))
		}
	}
	sub := big.SubImage(rect)
	for name, img := range map[string]image.Image{"NRGBA": nrgba, "NRGBA64": nrgba64, "SubImage": sub} {
		got := make([]float32, 36)
		if err := rgb.Image(got, img); err != nil {
			t.Fatal(err)
		}
		bitsEqual(t, name+" rgb", got, wantRGB)
		got = make([]float32, 12)
		if err := gray.Image(got, img); err != nil {
			t.Fatal(err)
		}
		bitsEqual(t, name+" gray", got, wantGray)
	}

	// Gray images are replicated for 3-channel models.
	g := image.NewGray(rect)
	for i := range g.Pix {
		g.Pix[i] = uint8(17 * i)
	}
	got := make([]float32, 36)
	if err := rgb.Image(got, g); err != nil {
		t.Fatal(err)
	}
	for c := range 3 {
		for i := range 12 {
			if got[c*12+i] != ref(uint8(17*i)) {
				t.Fatalf("gray->rgb channel %d value %d = %v, want %v", c, i, got[c*12+i], ref(uint8(17*i)))
			}
		}
	}
	g16 := image.NewGray16(rect)
	for i := range 12 {
		g16.SetGray16(rect.Min.X+i%4, rect.Min.Y+i/4, color.Gray16{Y: uint16(17*i)<<8 | 0xff})
	}
	got = make([]float32, 12)
	if err := gray.Image(got, g16); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if got[i] != ref(uint8(17*i)) {
			t.Fatalf("gray16 value %d = %v, want %v", i, got[i], ref(uint8(17*i)))
		}
	}

	// YCbCr (JPEG) is upsampled and converted as libjpeg does (jpeg_test.go checks how).
	yc := image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
	for i := range yc.Y {
		yc.Y[i] = uint8(20 * i)
	}
	for i := range yc.Cb {
		yc.Cb[i], yc.Cr[i] = uint8(90+30*i), uint8(200-25*i)
	}
	got = make([]float32, 36)
	if err := rgb.Image(got, yc); err != nil {
		t.Fatal(err)
	}
	rgbPix := make([]uint8, 36)
	if err := ycbcrRGB(rgbPix, 12, 3, yc); err != nil {
		t.Fatal(err)
	}
	for y := range 3 {
		for x := range 4 {
			for ch := range 3 {
				if g, w := got[ch*12+y*4+x], ref(rgbPix[y*12+x*3+ch]); g != w {
					t.Fatalf("YCbCr (%d,%d) channel %d = %v, want %v", y, x, ch, g, w)
				}
			}
		}
	}

	// Paletted images use their palette's colors.
	pal := image.NewPaletted(rect, color.Palette{color.NRGBA{1, 2, 3, 255}, color.NRGBA{200, 100, 50, 0}})
	pal.Pix[5] = 1
	got = make([]float32, 36)
	if err := rgb.Image(got, pal); err != nil {
		t.Fatal(err)
	}
	if got[5] != ref(200) || got[12+5] != ref(100) || got[24+5] != ref(50) || got[0] != ref(1) || got[12] != ref(2) {
		t.Errorf("paletted image: got %v", got)
	}
}

func TestErrors(t *testing.T) {
	ok := func() Transform {
		return Transform{Channels: 3, Height: 4, Width: 4, Mean: ones(3, 0.5), Std: ones(3, 0.25)}
	}
	pix := make([]uint8, 4*4*3)
	tests := []struct {
		name   string
		modify func(*Transform)
		pix    []uint8
		h, w   int
		c      int
		dst    int
		want   string
	}{
		{name: "zero channels", modify: func(t *Transform) { t.Channels = 0 }, want: "model input 0x4x4 (CxHxW) must have positive sizes"},
		{name: "negative height", modify: func(t *Transform) { t.Height = -1 }, want: "model input 3x-1x4 (CxHxW) must have positive sizes"},
		{name: "negative pad", modify: func(t *Transform) { t.Pad = -2 }, want: "resize 0, crop 0, pad -2 must not be negative"},
		{name: "mean length", modify: func(t *Transform) { t.Mean = t.Mean[:2] }, want: "mean has 2 values, want 3 (one per channel)"},
		{name: "std length", modify: func(t *Transform) { t.Std = nil }, want: "std has 0 values, want 3 (one per channel)"},
		{name: "zero std", modify: func(t *Transform) { t.Std[1] = 0 }, want: "std[1] = 0 must be finite and nonzero"},
		{name: "nan mean", modify: func(t *Transform) { t.Mean[2] = float32(math.NaN()) }, want: "mean[2] = NaN is not finite"},
		{name: "pixel count", pix: pix[:47], want: "47 pixel bytes for a 4x4x3 (HxWxC) input, want 48"},
		{name: "zero size", h: -1, want: "input -1x4x3 (HxWxC) must have positive sizes"},
		{name: "channels", c: 2, pix: pix[:32], want: "input has 2 channels, model wants 3 (only 1 -> 3 and 3 -> 1 are converted)"},
		{name: "rgba", c: 4, pix: make([]uint8, 64), want: "input has 4 channels, model wants 3"},
		{name: "size", h: 5, pix: make([]uint8, 60), want: "a 5x4 input becomes 5x4 after resize 0, crop 0, pad 0, but the model input is 4x4"},
		{name: "size after pad", modify: func(t *Transform) { t.Pad = 1 }, want: "a 4x4 input becomes 6x6 after resize 0, crop 0, pad 1, but the model input is 4x4"},
		{name: "dst", dst: 47, want: "destination has 47 values, want 48 (3x4x4)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := ok()
			if tc.modify != nil {
				tc.modify(&tr)
			}
			p, h, w, c, n := pix, 4, 4, 3, 48
			if tc.pix != nil {
				p = tc.pix
			}
			if tc.h != 0 {
				h = tc.h
			}
			if tc.w != 0 {
				w = tc.w
			}
			if tc.c != 0 {
				c = tc.c
			}
			if tc.dst != 0 {
				n = tc.dst
			}
			err := tr.Pixels(make([]float32, n), p, h, w, c, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "preprocess: ") {
				t.Errorf("error %q does not start with \"preprocess: \"", err)
			}
		})
	}
	tr := ok()
	if err := tr.Image(make([]float32, 48), nil); err == nil {
		t.Error("nil image: no error")
	}
	if err := tr.Image(make([]float32, 48), image.NewGray(image.Rect(0, 0, 0, 3))); err == nil || !strings.Contains(err.Error(), "empty image") {
		t.Errorf("empty image: error %v", err)
	}
	var nilT *Transform
	if err := nilT.Validate(); err == nil {
		t.Error("nil transform: no error")
	}
}

// TestGeometry checks torchvision's resize sizes and crop offsets.
func TestGeometry(t *testing.T) {
	tests := []struct {
		h, w, resize, crop, pad int
		want                    geometry
		oh, ow                  int
	}{
		{h: 28, w: 28, pad: 2, want: geometry{rh: 28, rw: 28, top: -2, left: -2, y1: 28, x1: 28}, oh: 32, ow: 32},
		{h: 375, w: 500, resize: 256, crop: 224, want: geometry{rh: 256, rw: 341, top: 16, left: 58, y0: 16, y1: 240, x0: 58, x1: 282}, oh: 224, ow: 224},
		{h: 500, w: 375, resize: 256, crop: 224, want: geometry{rh: 341, rw: 256, top: 58, left: 16, y0: 58, y1: 282, x0: 16, x1: 240}, oh: 224, ow: 224},
		// round((21-10)/2) = round(5.5) = 6, round((19-10)/2) = round(4.5) = 4 (half to even)
		{h: 21, w: 19, crop: 10, want: geometry{rh: 21, rw: 19, top: 6, left: 4, y0: 6, y1: 16, x0: 4, x1: 14}, oh: 10, ow: 10},
		// crop larger: pad (13-11)//2 = 1 on top, (13-8)//2 = 2 on the left
		{h: 11, w: 8, crop: 13, pad: 1, want: geometry{rh: 11, rw: 8, top: -2, left: -3, y0: 0, y1: 11, x0: 0, x1: 8}, oh: 15, ow: 15},
	}
	for _, tc := range tests {
		tr := Transform{Resize: tc.resize, Crop: tc.crop, Pad: tc.pad}
		g, oh, ow, err := tr.geometry(tc.h, tc.w)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tc.want, g, cmp.AllowUnexported(geometry{})); d != "" || oh != tc.oh || ow != tc.ow {
			t.Errorf("%dx%d resize %d crop %d pad %d: size %dx%d (want %dx%d), geometry diff (-want +got):\n%s",
				tc.h, tc.w, tc.resize, tc.crop, tc.pad, oh, ow, tc.oh, tc.ow, d)
		}
	}
}

// TestResizeExtremeAspect makes sure a huge resized size is not allocated: only the
// cropped window is computed.
func TestResizeExtremeAspect(t *testing.T) {
	tr := Transform{Channels: 1, Height: 8, Width: 8, Resize: 8, Crop: 8, Mean: ones(1, 0), Std: ones(1, 1)}
	pix := make([]uint8, 1*100000)
	for i := range pix {
		pix[i] = uint8(i)
	}
	dst := make([]float32, 64)
	// 1 x 100000 -> 8 x 800000, cropped to 8 x 8.
	if err := tr.Pixels(dst, pix, 1, 100000, 1, true); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(3, func() {
		if err := tr.Pixels(dst, pix, 1, 100000, 1, true); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 20 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestNoResizeNoAlloc(t *testing.T) {
	tr := Transform{Channels: 3, Height: 32, Width: 32, Pad: 2, Mean: ones(3, 0.286), Std: ones(3, 0.353)}
	pix := make([]uint8, 28*28)
	dst := make([]float32, 3*32*32)
	if a := testing.AllocsPerRun(10, func() { _ = tr.Pixels(dst, pix, 28, 28, 1, true) }); a != 0 {
		t.Errorf("Pixels without resize allocates %v times", a)
	}
}
