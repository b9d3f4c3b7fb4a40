package data

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ptqc/ptqc/runtime"
)

// testImage is a w x h image with a pattern depending on seed; gray if asked.
func testImage(w, h, seed int, gray bool) image.Image {
	if gray {
		m := image.NewGray(image.Rect(0, 0, w, h))
		for i := range m.Pix {
			m.Pix[i] = uint8(i*seed + 3)
		}
		return m
	}
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * seed), uint8(y * 9), uint8(x*y + seed), 255})
		}
	}
	return m
}

func writeImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var err error
	if img == nil { // a file that is not an image
		writeFile(t, path, []byte("not an image"))
		return
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		err = png.Encode(&buf, img)
	case ".jpg", ".jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	default:
		buf.WriteString("not an image")
	}
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.Bytes())
}

func TestImageFolder(t *testing.T) {
	root := t.TempDir()
	files := map[string]image.Image{
		"cat/b.png":              testImage(40, 30, 1, false),
		"cat/A.PNG":              testImage(20, 20, 2, true),
		"cat/sub/z.jpg":          testImage(17, 33, 3, false),
		"cat/sub-x/y.JPEG":       testImage(25, 16, 4, false),
		"cat/sub/deep/a.png":     testImage(16, 16, 5, true),
		"dog/x.jpeg":             testImage(64, 48, 6, false),
		"dog/0.png":              testImage(16, 30, 7, false),
		"elk/only.png":           testImage(18, 18, 8, false),
		"cat/notes.txt":          nil,
		"cat/sub/image.png.orig": nil,
		"dog/README":             nil,
		"elk/.DS_Store":          nil,
		"stray-file-in-root.png": testImage(16, 16, 9, false),
	}
	for name, img := range files {
		writeImage(t, filepath.Join(root, name), img)
	}
	// A symbolic link to a directory is walked like a directory, and a link to a
	// class directory is a class.
	if err := os.Symlink(filepath.Join(root, "dog"), filepath.Join(root, "cat", "sub", "dogs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "elk"), filepath.Join(root, "moose")); err != nil {
		t.Fatal(err)
	}
	// A link back up must not loop.
	if err := os.Symlink(filepath.Join(root, "cat"), filepath.Join(root, "cat", "sub", "deep", "up")); err != nil {
		t.Fatal(err)
	}
	tr := runtime.Transform{Channels: 3, Height: 16, Width: 16, Resize: 16, Crop: 16, Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}}
	dsi, err := Open(root, "", tr)
	if err != nil {
		t.Fatal(err)
	}
	ds := dsi.(*folderDataset)
	if d := cmp.Diff([]string{"cat", "dog", "elk", "moose"}, ds.Classes()); d != "" {
		t.Errorf("classes (-want +got):\n%s", d)
	}
	// torchvision order: sorted(os.walk(class dir)) by path string, then sorted names.
	wantFiles := []string{
		"cat/A.PNG", "cat/b.png", "cat/sub/z.jpg", "cat/sub-x/y.JPEG", "cat/sub/deep/a.png",
		"cat/sub/dogs/0.png", "cat/sub/dogs/x.jpeg",
		"dog/0.png", "dog/x.jpeg",
		"elk/only.png",
		"moose/only.png",
	}
	var gotFiles []string
	for _, f := range ds.files {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		gotFiles = append(gotFiles, rel)
	}
	if d := cmp.Diff(wantFiles, gotFiles); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	xs, labels := loadAll(t, ds)
	if d := cmp.Diff([]int{0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3}, labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	for i, rel := range wantFiles {
		f, err := os.Open(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		var img image.Image
		if ext := strings.ToLower(filepath.Ext(rel)); ext == ".jpg" || ext == ".jpeg" {
			img, err = runtime.DecodeJPEG(f) // as PIL decodes it
		} else {
			img, _, err = image.Decode(f)
		}
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, tr.Len())
		if err := tr.Image(want, img); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if d := cmp.Diff(want, xs[i]); d != "" {
			t.Errorf("%s (-want +got):\n%s", rel, d)
		}
	}
}

// TestFlatFolder: a directory of images without class folders is the
// images in name order (other files skipped), without labels.
func TestFlatFolder(t *testing.T) {
	tr := runtime.Transform{Channels: 1, Height: 8, Width: 8, Mean: []float32{0.5}, Std: []float32{0.5}}
	root := t.TempDir()
	imgs := []image.Image{testImage(8, 8, 1, true), testImage(8, 8, 1, false), testImage(8, 8, 3, true)}
	for i, name := range []string{"b.png", "a.PNG", "c.jpg"} {
		writeImage(t, filepath.Join(root, name), imgs[i])
	}
	writeFile(t, filepath.Join(root, "notes.txt"), []byte("calibration images"))
	ds, err := Open(root, "", tr)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 3 {
		t.Fatalf("%d samples, want 3", ds.Len())
	}
	for i, want := range []string{"a.PNG", "b.png", "c.jpg"} {
		x := make([]float32, 64)
		l, err := ds.Load(i, x)
		if err != nil || l != -1 {
			t.Fatalf("sample %d: label %d, %v", i, l, err)
		}
		img, err := decodeImage(filepath.Join(root, want))
		if err != nil {
			t.Fatal(err)
		}
		ref := make([]float32, 64)
		if err := tr.Image(ref, img); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(ref, x); d != "" {
			t.Errorf("sample %d is not %s (-want +got):\n%s", i, want, d)
		}
	}
}

func TestImageFolderErrors(t *testing.T) {
	tr := runtime.Transform{Channels: 1, Height: 8, Width: 8, Mean: []float32{0.5}, Std: []float32{0.5}}
	mk := func(t *testing.T, files map[string]image.Image, extra ...string) string {
		root := t.TempDir()
		for name, img := range files {
			writeImage(t, filepath.Join(root, name), img)
		}
		for _, d := range extra {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return root
	}
	ok := testImage(8, 8, 1, true)
	tests := []struct {
		name  string
		files map[string]image.Image
		dirs  []string
		want  string // after the root
	}{
		{"no classes, no images", map[string]image.Image{"a.txt": nil}, nil, ": no class folders (an ImageFolder) and no .png, .jpg or .jpeg files in the directory"},
		{"flat, a bmp", map[string]image.Image{"a.png": ok, "b.bmp": nil}, nil, "/b.bmp: .bmp images are not supported (only PNG and JPEG)"},
		{"empty classes", map[string]image.Image{"b/x.png": ok}, []string{"a", ".ipynb_checkpoints"}, ": no .png, .jpg or .jpeg files for the classes .ipynb_checkpoints, a"},
		{"bmp", map[string]image.Image{"a/x.png": ok, "a/y.BMP": nil}, nil, "/a/y.BMP: .bmp images are not supported (only PNG and JPEG)"},
		{"size", map[string]image.Image{"a/x.png": testImage(9, 8, 1, true)}, nil, "/a/x.png: sample 0: preprocess: a 8x9 input becomes 8x9 after resize 0, crop 0, pad 0, but the model input is 8x8"},
		{"not an image", map[string]image.Image{"a/x.png": nil}, nil, "/a/x.png: sample 0: not a PNG or JPEG image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := mk(t, tc.files, tc.dirs...)
			ds, err := Open(root, "", tr)
			if err == nil || err.Error() != root+tc.want {
				t.Fatalf("error %v\nwant %q", err, root+tc.want)
			}
			if ds != nil {
				t.Errorf("dataset with an error")
			}
		})
	}
	// A broken image after the first is reported by Load, naming file and sample.
	root := mk(t, map[string]image.Image{"a/1.png": ok, "a/2.png": ok, "b/3.jpg": ok})
	var buf bytes.Buffer
	if err := png.Encode(&buf, ok); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "a", "2.png"), buf.Bytes()[:buf.Len()/2])
	ds, err := Open(root, "", tr)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 64)
	if _, err := ds.Load(1, x); err == nil || !strings.HasPrefix(err.Error(), filepath.Join(root, "a", "2.png")+": sample 1: decode png: ") {
		t.Errorf("truncated PNG: error %v", err)
	}
	if l, err := ds.Load(2, x); err != nil || l != 1 {
		t.Errorf("JPEG sample: label %d, %v", l, err)
	}
	if _, err := ds.Load(3, x); err == nil || !strings.Contains(err.Error(), "sample 3 out of range [0, 3)") {
		t.Errorf("Load(3): %v", err)
	}
	// Huge dimensions in a PNG header are refused before decoding.
	hdr := buf.Bytes()
	big := append([]byte(nil), hdr...)
	// IHDR width and height are at bytes 16..23, its CRC at 29..32.
	copy(big[16:24], []byte{0, 1, 0, 0, 0, 1, 0, 0})
	binary.BigEndian.PutUint32(big[29:33], crc32.ChecksumIEEE(big[12:29]))
	writeFile(t, filepath.Join(root, "a", "2.png"), big)
	if _, err := ds.Load(1, x); err == nil || !strings.HasSuffix(err.Error(), "sample 1: png image of 65536x65536 pixels: empty or too large") {
		t.Errorf("huge PNG: error %v", err)
	}
}

// TestImageFolderJPEG checks that JPEG samples are decoded as PIL decodes them
// (runtime.DecodeJPEG, checked against Pillow in the runtime package), not with
// image/jpeg's sample replication and colors.
func TestImageFolderJPEG(t *testing.T) {
	b, err := os.ReadFile("../../testdata/jpeg/420_q90_161x97.jpg")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "a", "x.jpg"), b)
	tr := runtime.Transform{Channels: 3, Height: 56, Width: 56, Resize: 64, Crop: 56, Mean: []float32{0.5, 0.4, 0.3}, Std: []float32{0.2, 0.25, 0.3}}
	ds, err := Open(root, "", tr)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, tr.Len())
	if _, err := ds.Load(0, got); err != nil {
		t.Fatal(err)
	}
	img, err := runtime.DecodeJPEG(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, tr.Len())
	if err := tr.Image(want, img); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("JPEG sample differs from runtime.DecodeJPEG's (-want +got):\n%s", d)
	}
}

func FuzzDecodeImage(f *testing.F) {
	var pngb, jpg bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 5, 3))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	if err := png.Encode(&pngb, img); err != nil {
		f.Fatal(err)
	}
	if err := jpeg.Encode(&jpg, img, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(pngb.Bytes())
	f.Add(jpg.Bytes())
	f.Add(pngb.Bytes()[:20])
	t := runtime.Transform{Channels: 3, Height: 4, Width: 4, Resize: 4, Crop: 4, Mean: []float32{0, 0, 0}, Std: []float32{1, 1, 1}}
	dst := make([]float32, t.Len())
	f.Fuzz(func(t2 *testing.T, b []byte) {
		im, err := decodeImageBytes(b)
		if err != nil {
			return
		}
		// Resizing a legitimately huge image is slow, not wrong: keep the fuzzer fast.
		if r := im.Bounds(); r.Dx()*r.Dy() <= 1<<20 {
			_ = t.Image(dst, im)
		}
	})
}
