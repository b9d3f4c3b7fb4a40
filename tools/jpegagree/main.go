// Command jpegagree measures how close ptqc's input for JPEG photos is to
// torchvision's: for each NAME.jpg (or .jpeg) in a directory written by
// tools/jpeg_goldens/jpeg_goldens.py --unseen, it compares Pillow's decode
// (NAME.pil.npy, H x W x 3) and torchvision's Resize(256) + CenterCrop(224) of it
// (NAME.tv.npy, 3 x 224 x 224, uint8) with
//
//   - ptqc: runtime.DecodeJPEG, then runtime.Transform;
//   - image/jpeg + fancy: image/jpeg's decode, then Transform.Image (libjpeg's
//     upsampling and colors on image/jpeg's IDCT);
//   - image/jpeg + Go colors: image/jpeg's decode converted by color.NRGBAModel (Go's
//     sample replication and color.YCbCrToRGB: what ptqc did before).
//
// Levels are compared before normalization, which maps equal levels to equal floats.
//
//	go run ./tools/jpegagree DIR
package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/internal/levels"
	"github.com/ptqc/ptqc/runtime"
)

// stats prints levels.Diff in the table's columns.
type stats struct{ levels.Diff }

func (s stats) String() string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("max %2d, exact %7.3f%%, <=1 %7.3f%%", s.Max, s.Percent(s.Exact), s.Percent(s.Within1))
}

// input224 is the 224x224 input as levels (3 x 224 x 224).
func input224(img image.Image) ([]uint8, error) {
	t := runtime.Transform{Channels: 3, Height: 224, Width: 224, Resize: 256, Crop: 224,
		Mean: []float32{0, 0, 0}, Std: []float32{1, 1, 1}}
	v := make([]float32, t.Len())
	if err := t.Image(v, img); err != nil {
		return nil, err
	}
	out := make([]uint8, len(v))
	for i, x := range v {
		out[i] = uint8(x*255 + 0.5)
	}
	return out, nil
}

// rgb returns an image's pixels as H x W x 3 through Transform's own reading of it,
// without resizing.
func rgb(img image.Image) ([]uint8, error) {
	b := img.Bounds()
	t := runtime.Transform{Channels: 3, Height: b.Dy(), Width: b.Dx(), Mean: []float32{0, 0, 0}, Std: []float32{1, 1, 1}}
	v := make([]float32, t.Len())
	if err := t.Image(v, img); err != nil {
		return nil, err
	}
	hw := b.Dx() * b.Dy()
	out := make([]uint8, 3*hw)
	for c := range 3 {
		for i := range hw {
			out[3*i+c] = uint8(v[c*hw+i]*255 + 0.5)
		}
	}
	return out, nil
}

// goColors is image/jpeg's image converted pixel by pixel by Go's color models.
func goColors(img image.Image) image.Image {
	b := img.Bounds()
	out := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.Set(x, y, color.NRGBAModel.Convert(img.At(x, y)))
		}
	}
	return out
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: jpegagree DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "jpegagree:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	var files []string
	for _, pat := range []string{"*.jpg", "*.jpeg"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	names := []string{"ptqc", "image/jpeg + fancy", "image/jpeg + Go colors"}
	var total [3]stats
	fmt.Printf("%-46s %-10s  %-34s %-34s %-34s\n", "file", "size", "ptqc 224 input vs torchvision", "image/jpeg + fancy", "image/jpeg + Go colors (before)")
	for _, f := range files {
		base := strings.TrimSuffix(f, filepath.Ext(f))
		tv, err := data.ReadNpy(base + ".tv.npy")
		if err != nil {
			continue // Pillow could not decode it
		}
		pil, err := data.ReadNpy(base + ".pil.npy")
		if err != nil {
			return err
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var imgs [3]image.Image
		if imgs[0], err = runtime.DecodeJPEG(bytes.NewReader(b)); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		var line [3]string
		var pix stats
		if got, err := rgb(imgs[0]); err == nil {
			pix.Add(got, pil.U8)
		}
		std, err := jpeg.Decode(bytes.NewReader(b))
		if err == nil {
			imgs[1], imgs[2] = std, goColors(std)
		}
		for i, img := range imgs {
			line[i] = "image/jpeg: refused"
			if img == nil {
				continue
			}
			got, err := input224(img)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", f, names[i], err)
			}
			var s stats
			s.Add(got, tv.U8)
			total[i].Merge(s.Diff)
			line[i] = s.String()
		}
		r := imgs[0].Bounds()
		fmt.Printf("%-46s %-10s  %-34s %-34s %-34s  (full-size RGB vs Pillow: %v)\n", filepath.Base(f), fmt.Sprintf("%dx%d", r.Dx(), r.Dy()), line[0], line[1], line[2], pix)
	}
	fmt.Printf("%-46s %-10s  %-34v %-34v %-34v\n", "all", "", total[0], total[1], total[2])
	return nil
}
