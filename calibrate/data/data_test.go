package data

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ptqc/ptqc/runtime"
)

func fill(n int, v float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// fmnistTransform is the Fashion-MNIST preprocessing of the MobileNetV2 models.
func fmnistTransform() runtime.Transform {
	return runtime.Transform{Channels: 3, Height: 32, Width: 32, Pad: 2, Mean: fill(3, 0.286), Std: fill(3, 0.353)}
}

// loadAll loads every sample of ds.
func loadAll(t *testing.T, ds Dataset) ([][]float32, []int) {
	t.Helper()
	c, h, w := ds.Shape()
	var xs [][]float32
	var labels []int
	for i := range ds.Len() {
		x := make([]float32, c*h*w)
		l, err := ds.Load(i, x)
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		xs = append(xs, x)
		labels = append(labels, l)
	}
	return xs, labels
}

// pixels preprocesses one raw image with tr, failing the test on error.
func pixels(t *testing.T, tr runtime.Transform, pix []uint8, h, w, c int, hwc bool) []float32 {
	t.Helper()
	x := make([]float32, tr.Len())
	if err := tr.Pixels(x, pix, h, w, c, hwc); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestOpenNpyFloat32(t *testing.T) {
	dir := t.TempDir()
	tr := runtime.Transform{Channels: 2, Height: 3, Width: 2, Mean: fill(2, 0.5), Std: fill(2, 2)}
	data := make([]float32, 4*2*3*2)
	for i := range data {
		data[i] = float32(i)*0.25 - 3
	}
	data[5] = float32(math.Inf(-1))
	images := filepath.Join(dir, "x.npy")
	if err := WriteNpyF32(images, []int{4, 2, 3, 2}, data); err != nil {
		t.Fatal(err)
	}
	labels := filepath.Join(dir, "y.npy")
	if err := WriteNpyI64(labels, []int{4}, []int64{3, 0, 1, 7}); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(images, labels, tr)
	if err != nil {
		t.Fatal(err)
	}
	if n := ds.Len(); n != 4 {
		t.Fatalf("Len %d, want 4", n)
	}
	if c, h, w := ds.Shape(); c != 2 || h != 3 || w != 2 {
		t.Fatalf("Shape %d, %d, %d", c, h, w)
	}
	xs, ls := loadAll(t, ds)
	for i, x := range xs {
		// Used as is, not normalised again.
		if d := cmp.Diff(data[i*12:(i+1)*12], x); d != "" {
			t.Errorf("sample %d (-want +got):\n%s", i, d)
		}
	}
	if d := cmp.Diff([]int{3, 0, 1, 7}, ls); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	// int32 labels, and no labels.
	l32 := filepath.Join(dir, "y32.npy")
	if err := WriteNpy(l32, &Npy{DType: Int32, Shape: []int{4}, I32: []int32{1, 1, 2, 2}}); err != nil {
		t.Fatal(err)
	}
	ds, err = Open(images, l32, tr)
	if err != nil {
		t.Fatal(err)
	}
	if _, ls = loadAll(t, ds); !cmp.Equal(ls, []int{1, 1, 2, 2}) {
		t.Errorf("int32 labels %v", ls)
	}
	ds, err = Open(images, "", tr)
	if err != nil {
		t.Fatal(err)
	}
	if _, ls = loadAll(t, ds); !cmp.Equal(ls, []int{-1, -1, -1, -1}) {
		t.Errorf("unlabeled: labels %v", ls)
	}
	// Range and buffer checks.
	if _, err := ds.Load(4, make([]float32, 12)); err == nil || !strings.Contains(err.Error(), "sample 4 out of range [0, 4)") {
		t.Errorf("Load(4): %v", err)
	}
	if _, err := ds.Load(-1, make([]float32, 12)); err == nil || !strings.Contains(err.Error(), "sample -1 out of range") {
		t.Errorf("Load(-1): %v", err)
	}
	if _, err := ds.Load(0, make([]float32, 11)); err == nil || !strings.Contains(err.Error(), "destination has 11 values, want 12") {
		t.Errorf("short dst: %v", err)
	}
}

// TestNpyReadByLoad: an uncompressed .npy is read sample by sample by Load
// (from several goroutines), and gives what the same file read whole
// gives; a file shortened after Open fails the Load of its missing samples.
func TestNpyReadByLoad(t *testing.T) {
	dir := t.TempDir()
	tr := runtime.Transform{Channels: 1, Height: 2, Width: 3, Mean: fill(1, 0.5), Std: fill(1, 2)}
	const n = 40
	data := make([]float32, n*6)
	for i := range data {
		data[i] = float32(i)*0.5 - 7
	}
	path := filepath.Join(dir, "x.npy")
	if err := WriteNpyF32(path, []int{n, 1, 2, 3}, data); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := openNpy(path, raw, len(raw), tr)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := loadAll(t, whole)
	ds, err := Open(path, "", tr)
	if err != nil {
		t.Fatal(err)
	}
	if ad, ok := ds.(*arrayDataset); !ok || ad.data != nil {
		t.Fatalf("%s was read whole", path)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			x := make([]float32, 6)
			for i := g; i < n; i += 4 {
				if _, err := ds.Load(i, x); err != nil {
					errs <- err
					return
				}
				if d := cmp.Diff(want[i], x); d != "" {
					errs <- fmt.Errorf("sample %d (-whole +by Load):\n%s", i, d)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := os.Truncate(path, int64(len(raw)-24)); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Load(n-2, make([]float32, 6)); err != nil {
		t.Errorf("sample %d, still in the file: %v", n-2, err)
	}
	if _, err := ds.Load(n-1, make([]float32, 6)); err == nil || !strings.Contains(err.Error(), "sample 39: the file is shorter than when it was opened") {
		t.Errorf("sample %d, cut off: %v", n-1, err)
	}
}

func TestOpenNpyUint8Layouts(t *testing.T) {
	dir := t.TempDir()
	const n, h, w = 3, 4, 5
	hwc := make([]uint8, n*h*w*3)
	for i := range hwc {
		hwc[i] = uint8(i * 7)
	}
	chw := make([]uint8, len(hwc))
	for s := range n {
		for y := range h {
			for x := range w {
				for c := range 3 {
					chw[s*60+c*20+y*5+x] = hwc[s*60+(y*5+x)*3+c]
				}
			}
		}
	}
	rgb := runtime.Transform{Channels: 3, Height: 6, Width: 7, Pad: 1, Mean: []float32{0.1, 0.2, 0.3}, Std: []float32{0.5, 0.6, 0.7}}
	gray := runtime.Transform{Channels: 1, Height: 4, Width: 5, Mean: []float32{0.4}, Std: []float32{0.2}}
	var wantRGB, wantGray [][]float32
	for s := range n {
		wantRGB = append(wantRGB, pixels(t, rgb, hwc[s*60:(s+1)*60], h, w, 3, true))
		wantGray = append(wantGray, pixels(t, gray, hwc[s*60:(s+1)*60], h, w, 3, true))
	}
	if err := WriteNpyU8(filepath.Join(dir, "hwc.npy"), []int{n, h, w, 3}, hwc); err != nil {
		t.Fatal(err)
	}
	if err := WriteNpyU8(filepath.Join(dir, "chw.npy"), []int{n, 3, h, w}, chw); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"hwc.npy", "chw.npy"} {
		for _, tc := range []struct {
			tr   runtime.Transform
			want [][]float32
		}{{rgb, wantRGB}, {gray, wantGray}} {
			ds, err := Open(filepath.Join(dir, file), "", tc.tr)
			if err != nil {
				t.Fatal(err)
			}
			xs, _ := loadAll(t, ds)
			if d := cmp.Diff(tc.want, xs); d != "" {
				t.Errorf("%s, %d channels (-want +got):\n%s", file, tc.tr.Channels, d)
			}
		}
	}
	// N x H x W gray pixels, replicated for a 3-channel model.
	g := hwc[:n*h*w]
	if err := WriteNpyU8(filepath.Join(dir, "nhw.npy"), []int{n, h, w}, g); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(filepath.Join(dir, "nhw.npy"), "", rgb)
	if err != nil {
		t.Fatal(err)
	}
	xs, _ := loadAll(t, ds)
	for s := range n {
		want := pixels(t, rgb, g[s*20:(s+1)*20], h, w, 1, true)
		if d := cmp.Diff(want, xs[s]); d != "" {
			t.Errorf("N x H x W sample %d (-want +got):\n%s", s, d)
		}
	}
}

func TestUint8Layout(t *testing.T) {
	tr := func(c, h, w int) runtime.Transform { return runtime.Transform{Channels: c, Height: h, Width: w} }
	tests := []struct {
		shape []int
		tr    runtime.Transform
		hwc   bool
		err   string
	}{
		{shape: []int{5, 28, 28, 3}, tr: tr(3, 28, 28), hwc: true},
		{shape: []int{5, 3, 28, 28}, tr: tr(3, 28, 28), hwc: false},
		{shape: []int{5, 28, 28, 1}, tr: tr(3, 32, 32), hwc: true},
		{shape: []int{5, 1, 28, 28}, tr: tr(1, 28, 28), hwc: false},
		// both possible: the channel count decides
		{shape: []int{5, 3, 28, 1}, tr: tr(1, 3, 28), hwc: true},
		{shape: []int{5, 3, 28, 1}, tr: tr(3, 28, 1), hwc: false},
		// same channel count: the spatial size decides
		{shape: []int{5, 3, 3, 3}, tr: tr(3, 3, 3), hwc: false},
		{shape: []int{5, 1, 7, 1}, tr: tr(1, 1, 7), hwc: true},
		{shape: []int{5, 1, 7, 1}, tr: tr(1, 7, 1), hwc: false},
		{shape: []int{5, 3, 2, 3}, tr: tr(3, 3, 2), hwc: true},
		// nothing decides: CHW
		{shape: []int{5, 3, 4, 3}, tr: tr(3, 8, 8), hwc: false},
		{shape: []int{5, 28, 28, 28}, tr: tr(3, 28, 28), err: "uint8 array of shape (5, 28, 28, 28): neither N x C x H x W nor N x H x W x C with 1 or 3 channels"},
		{shape: []int{5, 4, 28, 4}, tr: tr(3, 28, 28), err: "neither"},
	}
	for _, tc := range tests {
		hwc, err := uint8Layout(tc.shape, tc.tr)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.shape, err, tc.err)
			}
			continue
		}
		if err != nil || hwc != tc.hwc {
			t.Errorf("%v for %dx%dx%d: hwc %v, %v; want %v", tc.shape, tc.tr.Channels, tc.tr.Height, tc.tr.Width, hwc, err, tc.hwc)
		}
	}
}

// writeIDXSet writes images (and labels unless nil) as MNIST-named IDX files.
func writeIDXSet(t *testing.T, dir, prefix string, gz bool, n, h, w int, labels []byte) (string, []byte) {
	t.Helper()
	pix := make([]byte, n*h*w)
	for i := range pix {
		pix[i] = uint8(i*31 + i/7)
	}
	img := idxBytes(IDXImagesMagic, []uint32{uint32(n), uint32(h), uint32(w)}, pix)
	lab := idxBytes(IDXLabelsMagic, []uint32{uint32(len(labels))}, labels)
	suffix := ""
	if gz {
		img, lab = gzipBytes(t, img), gzipBytes(t, lab)
		suffix = ".gz"
	}
	path := writeFile(t, filepath.Join(dir, prefix+"-images-idx3-ubyte"+suffix), img)
	if labels != nil {
		writeFile(t, filepath.Join(dir, prefix+"-labels-idx1-ubyte"+suffix), lab)
	}
	return path, pix
}

func TestOpenIDX(t *testing.T) {
	tr := fmnistTransform()
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gz=%v", gz), func(t *testing.T) {
			dir := t.TempDir()
			path, pix := writeIDXSet(t, dir, "t10k", gz, 3, 28, 28, []byte{9, 2, 1})
			ds, err := Open(path, "", tr)
			if err != nil {
				t.Fatal(err)
			}
			xs, labels := loadAll(t, ds)
			if d := cmp.Diff([]int{9, 2, 1}, labels); d != "" {
				t.Errorf("sibling labels (-want +got):\n%s", d)
			}
			for s := range 3 {
				want := pixels(t, tr, pix[s*784:(s+1)*784], 28, 28, 1, true)
				if d := cmp.Diff(want, xs[s]); d != "" {
					t.Errorf("sample %d (-want +got):\n%s", s, d)
				}
			}
			// Explicit labels file (a .npy), overriding the sibling.
			lp := filepath.Join(dir, "labels.npy")
			if err := WriteNpyI64(lp, []int{3}, []int64{4, 5, 6}); err != nil {
				t.Fatal(err)
			}
			ds, err = Open(path, lp, tr)
			if err != nil {
				t.Fatal(err)
			}
			if _, labels = loadAll(t, ds); !cmp.Equal(labels, []int{4, 5, 6}) {
				t.Errorf("explicit labels %v", labels)
			}
			// No sibling: unlabeled.
			path2, _ := writeIDXSet(t, dir, "train", gz, 2, 28, 28, nil)
			ds, err = Open(path2, "", tr)
			if err != nil {
				t.Fatal(err)
			}
			if _, labels = loadAll(t, ds); !cmp.Equal(labels, []int{-1, -1}) {
				t.Errorf("no labels file: labels %v", labels)
			}
		})
	}
	// Recognised by magic, whatever the name.
	dir := t.TempDir()
	img, _ := writeIDXSet(t, dir, "x", true, 2, 28, 28, nil)
	renamed := filepath.Join(dir, "pictures.bin")
	if err := os.Rename(img, renamed); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(renamed, "", tr)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 2 {
		t.Errorf("Len %d, want 2", ds.Len())
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tr := fmnistTransform()
	p := func(name string) string { return filepath.Join(dir, name) }
	img3, _ := writeIDXSet(t, dir, "three", false, 3, 28, 28, []byte{1, 2})
	imgGz, _ := writeIDXSet(t, dir, "threegz", true, 3, 28, 28, []byte{1, 2, 3, 4})
	img30, _ := writeIDXSet(t, dir, "big", false, 1, 30, 30, nil)
	writeFile(t, p("labels-as-images"), idxBytes(IDXLabelsMagic, []uint32{2}, []byte{1, 2}))
	writeFile(t, p("bad-label-magic"), idxBytes(IDXImagesMagic, []uint32{3, 1, 1}, []byte{1, 2, 3}))
	writeFile(t, p("text.txt"), []byte("hello, world"))
	writeFile(t, p("empty"), nil)
	writeFile(t, p("trunc-images-idx3-ubyte"), idxBytes(IDXImagesMagic, []uint32{3, 28, 28}, make([]byte, 100)))
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(WriteNpyF32(p("f32-wrong.npy"), []int{2, 1, 32, 32}, make([]float32, 2048)))
	must(WriteNpyF32(p("f32-3d.npy"), []int{2, 32, 32}, make([]float32, 2048)))
	must(WriteNpyU8(p("u8-2d.npy"), []int{2, 784}, make([]uint8, 1568)))
	must(WriteNpyU8(p("u8-bad.npy"), []int{2, 5, 28, 28}, make([]uint8, 2*5*784)))
	must(WriteNpyU8(p("u8-ok.npy"), []int{3, 28, 28}, make([]uint8, 3*784)))
	must(WriteNpyI64(p("i64-images.npy"), []int{3, 28, 28}, make([]int64, 3*784)))
	must(WriteNpyI64(p("labels-2d.npy"), []int{3, 1}, []int64{1, 2, 3}))
	must(WriteNpyI64(p("labels-neg.npy"), []int{3}, []int64{1, -2, 3}))
	must(WriteNpyI64(p("labels-huge.npy"), []int{3}, []int64{1, 2, 1 << 40}))
	must(WriteNpyF32(p("labels-f32.npy"), []int{3}, []float32{1, 2, 3}))
	must(WriteNpyI64(p("labels-2.npy"), []int{2}, []int64{1, 2}))
	tests := []struct {
		name, path, labels string
		tr                 runtime.Transform
		want               string
	}{
		{"missing", p("nope.npy"), "", tr, "nope.npy: no such file or directory"},
		{"unknown format", p("text.txt"), "", tr, p("text.txt") + ": unrecognised format (first bytes 68 65 6c 6c 6f 2c 20 77): want a .npy file, an IDX file (gzipped or not) or an ImageFolder directory"},
		{"empty file", p("empty"), "", tr, p("empty") + ": unrecognised format"},
		{"bad transform", p("u8-ok.npy"), "", runtime.Transform{Channels: 3, Height: 32, Width: 32}, "open " + p("u8-ok.npy") + ": preprocess: mean has 0 values, want 3"},
		{"label count", img3, "", tr, filepath.Join(dir, "three-labels-idx1-ubyte") + " has 2 labels but " + img3 + " has 3 samples"},
		{"label count gz", imgGz, "", tr, filepath.Join(dir, "threegz-labels-idx1-ubyte.gz") + " has 4 labels but " + imgGz + " has 3 samples"},
		{"label count npy", p("u8-ok.npy"), p("labels-2.npy"), tr, p("labels-2.npy") + " has 2 labels but " + p("u8-ok.npy") + " has 3 samples"},
		{"size mismatch", img30, "", tr, img30 + ": sample 0: preprocess: a 30x30 input becomes 34x34 after resize 0, crop 0, pad 2, but the model input is 32x32"},
		{"labels as images", p("labels-as-images"), "", tr, p("labels-as-images") + ": IDX magic number 0x00000801 with dimensions [2]: want 0x00000803 (N x H x W images)"},
		{"truncated idx", p("trunc-images-idx3-ubyte"), "", tr, p("trunc-images-idx3-ubyte") + ": idx: truncated data: dimensions [3 28 28] need 2352 bytes, the file has 100"},
		{"bad label magic", p("u8-ok.npy"), p("bad-label-magic"), tr, p("bad-label-magic") + ": IDX magic number 0x00000803 with dimensions [3 1 1]: want 0x00000801 (labels)"},
		{"labels text", p("u8-ok.npy"), p("text.txt"), tr, p("text.txt") + ": unrecognised labels format"},
		{"labels missing", p("u8-ok.npy"), p("none.npy"), tr, "none.npy: no such file or directory"},
		{"labels 2d", p("u8-ok.npy"), p("labels-2d.npy"), tr, p("labels-2d.npy") + ": labels of shape (3, 1): want a 1-D array"},
		{"labels negative", p("u8-ok.npy"), p("labels-neg.npy"), tr, p("labels-neg.npy") + ": label of sample 1 is -2, want a class index >= 0"},
		{"labels huge", p("u8-ok.npy"), p("labels-huge.npy"), tr, p("labels-huge.npy") + ": label of sample 2 is 1099511627776"},
		{"labels float", p("u8-ok.npy"), p("labels-f32.npy"), tr, p("labels-f32.npy") + ": float32 labels: want int64, int32 or uint8"},
		{"f32 shape", p("f32-wrong.npy"), "", tr, p("f32-wrong.npy") + ": float32 array of shape (2, 1, 32, 32): want N x 3 x 32 x 32 (N x C x H x W, already preprocessed for the model)"},
		{"f32 3d", p("f32-3d.npy"), "", tr, p("f32-3d.npy") + ": float32 array of shape (2, 32, 32): want N x 3 x 32 x 32"},
		{"u8 2d", p("u8-2d.npy"), "", tr, p("u8-2d.npy") + ": uint8 array of shape (2, 784): want N x H x W, N x H x W x C or N x C x H x W pixels"},
		{"u8 5 channels", p("u8-bad.npy"), "", tr, p("u8-bad.npy") + ": uint8 array of shape (2, 5, 28, 28): neither N x C x H x W nor N x H x W x C with 1 or 3 channels"},
		{"int64 images", p("i64-images.npy"), "", tr, p("i64-images.npy") + ": int64 array: images must be float32 (preprocessed) or uint8 (pixels)"},
		{"folder with labels", dir, p("labels-2.npy"), tr, dir + ": an ImageFolder directory takes its labels from its class folders; a labels file (" + p("labels-2.npy") + ") cannot be given"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := Open(tc.path, tc.labels, tc.tr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant one containing %q", err, tc.want)
			}
			if ds != nil {
				t.Errorf("dataset %v with an error", ds)
			}
		})
	}
}

// fakeDataset has n samples of shape 1x1x2 whose values encode the index.
type fakeDataset struct {
	n     int
	fail  int // Load fails for this index (if >= 0)
	loads []int
}

func (d *fakeDataset) Len() int             { return d.n }
func (d *fakeDataset) Shape() (c, h, w int) { return 1, 1, 2 }
func (d *fakeDataset) Load(i int, dst []float32) (int, error) {
	d.loads = append(d.loads, i)
	if i == d.fail {
		return 0, fmt.Errorf("fake: sample %d: broken", i)
	}
	dst[0], dst[1] = float32(i), float32(-i)
	return i % 3, nil
}

func TestBatches(t *testing.T) {
	type call struct {
		Start  int
		X      []float32
		Labels []int
	}
	run := func(n, batch, limit int) ([]call, error) {
		var calls []call
		var first []float32
		err := Batches(&fakeDataset{n: n, fail: -1}, batch, limit, func(start int, x []float32, labels []int) error {
			if first == nil {
				first = x
			} else if &x[0] != &first[0] {
				t.Errorf("batch at %d: buffer not reused", start)
			}
			calls = append(calls, call{start, append([]float32(nil), x...), append([]int(nil), labels...)})
			return nil
		})
		return calls, err
	}
	calls, err := run(7, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []call{
		{0, []float32{0, 0, 1, -1, 2, -2}, []int{0, 1, 2}},
		{3, []float32{3, -3, 4, -4, 5, -5}, []int{0, 1, 2}},
		{6, []float32{6, -6}, []int{0}},
	}
	if d := cmp.Diff(want, calls); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
	calls, err = run(7, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	want = []call{
		{0, []float32{0, 0, 1, -1}, []int{0, 1}},
		{2, []float32{2, -2}, []int{2}},
	}
	if d := cmp.Diff(want, calls); d != "" {
		t.Errorf("limit 3 (-want +got):\n%s", d)
	}
	calls, err = run(2, 100, 50)
	if err != nil || len(calls) != 1 || len(calls[0].Labels) != 2 {
		t.Errorf("batch larger than the dataset: %v, %v", calls, err)
	}
	calls, err = run(0, 4, 0)
	if err != nil || len(calls) != 0 {
		t.Errorf("empty dataset: %v, %v", calls, err)
	}

	// Errors.
	stop := errors.New("stop")
	n := 0
	err = Batches(&fakeDataset{n: 10, fail: -1}, 4, 0, func(int, []float32, []int) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("fn error: %v after %d calls", err, n)
	}
	fd := &fakeDataset{n: 10, fail: 5}
	err = Batches(fd, 4, 0, func(int, []float32, []int) error { return nil })
	if err == nil || err.Error() != "fake: sample 5: broken" {
		t.Errorf("Load error: %v", err)
	}
	for _, tc := range []struct {
		ds           Dataset
		batch, limit int
		want         string
	}{
		{nil, 1, 0, "batches: nil dataset"},
		{&fakeDataset{n: 3}, 0, 0, "batches: batch size 0 must be positive"},
		{&fakeDataset{n: 3}, 2, -1, "batches: limit -1 must not be negative"},
	} {
		err := Batches(tc.ds, tc.batch, tc.limit, func(int, []float32, []int) error { return nil })
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestConcurrentLoad(t *testing.T) {
	dir := t.TempDir()
	path, _ := writeIDXSet(t, dir, "c", true, 64, 28, 28, make([]byte, 64))
	ds, err := Open(path, "", fmnistTransform())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := loadAll(t, ds)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			x := make([]float32, 3*32*32)
			for i := g; i < 64; i += 4 {
				if _, err := ds.Load(i, x); err != nil {
					errs <- err
					return
				}
				if !cmp.Equal(x, want[i]) {
					errs <- fmt.Errorf("sample %d differs", i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSamples(t *testing.T) {
	d := &Samples{X: []float32{1, 2, 3, 4, 5, 6}, C: 1, H: 1, W: 3}
	dst := make([]float32, 3)
	if l, err := d.Load(1, dst); err != nil || l != -1 || dst[0] != 4 || dst[2] != 6 {
		t.Errorf("Load(1): %v, label %d, err %v", dst, l, err)
	}
	if _, err := d.Load(2, dst); err == nil {
		t.Error("Load(2) of 2 samples: no error")
	}
}
