// Package data loads calibration and evaluation datasets: ImageFolder directories,
// .npy arrays and IDX (MNIST) files, preprocessed with a model's runtime.Transform.
package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/ptqc/ptqc/internal/safesize"
	"github.com/ptqc/ptqc/runtime"
)

// Dataset is random access to preprocessed samples.
type Dataset interface {
	Len() int
	Shape() (c, h, w int)
	// Load writes sample i (C*H*W float32, preprocessed) into dst and returns its label, or -1 if the dataset has no labels.
	// Calibration calls it from several goroutines at once: it must be safe for concurrent use.
	Load(i int, dst []float32) (label int, err error)
}

// Open opens the dataset at path, preprocessed with t. The form of path decides:
//
//   - a directory: an ImageFolder as torchvision reads it (see openFolder); labels are
//     the class folders, so labelsPath must be empty. A directory of images without
//     class folders has no labels (calibration data).
//   - a .npy file (recognised by its magic): float32 N x C x H x W, already
//     preprocessed, whose C, H, W must be t's; or uint8 raw pixels, N x H x W (one
//     channel), N x H x W x C or N x C x H x W (see uint8Layout), preprocessed with
//     t.Pixels.
//   - an IDX images file (magic 0x00000803, N x H x W unsigned bytes, as MNIST),
//     gzipped or not, preprocessed as one-channel images with t.Pixels. Without
//     labelsPath, the labels are read from the sibling file named with "images-idx3"
//     replaced by "labels-idx1", if there is one.
//
// labelsPath, if not empty, names a file of one label per sample: a 1-D .npy of int64,
// int32 or uint8, or an IDX labels file (magic 0x00000801), gzipped or not. Without
// labels, Load returns -1.
//
// An uncompressed .npy file is checked by Open (header, size) and each Load reads its
// sample from the file; other files are read whole into memory (a gzipped one
// decompressed); ImageFolder images are decoded by each Load. Errors name the file, and the sample for errors of Load.
// The datasets Open returns are safe for concurrent use by multiple goroutines. A
// directory's dataset also has a method Classes() []string, the class names by label.
func Open(path, labelsPath string, t runtime.Transform) (Dataset, error) {
	t.Mean = append([]float32(nil), t.Mean...)
	t.Std = append([]float32(nil), t.Std...)
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		if labelsPath != "" {
			return nil, fmt.Errorf("%s: an ImageFolder directory takes its labels from its class folders; a labels file (%s) cannot be given", path, labelsPath)
		}
		ds, err := openFolder(path, t)
		if err != nil {
			return nil, err
		}
		if err := checkFirst(ds, t); err != nil {
			return nil, err
		}
		return ds, nil
	}
	ds, err := openNpyFile(path, t)
	if err != nil {
		return nil, err
	}
	if ds == nil {
		b, err := readMaybeGzip(path)
		var fe *formatError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%s: %v: want a .npy file, an IDX file (gzipped or not) or an ImageFolder directory", path, fe)
		}
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(b, []byte(npyMagic)) {
			ds, err = openNpy(path, b, len(b), t)
		} else {
			ds, err = openIDX(path, b, t)
			if err == nil && labelsPath == "" {
				labelsPath = idxSiblingLabels(path)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if labelsPath != "" {
		labels, err := readLabels(labelsPath)
		if err != nil {
			return nil, fmt.Errorf("labels: %w", err)
		}
		if len(labels) != ds.n {
			return nil, fmt.Errorf("%s has %d labels but %s has %d samples", labelsPath, len(labels), path, ds.n)
		}
		ds.labels = labels
	}
	if err := checkFirst(ds, t); err != nil {
		return nil, err
	}
	return ds, nil
}

// checkFirst loads the first sample, so that a transform that does not fit the data
// is reported by Open rather than by the first Load.
func checkFirst(ds Dataset, t runtime.Transform) error {
	if ds.Len() == 0 {
		return nil
	}
	_, err := ds.Load(0, make([]float32, t.Len()))
	return err
}

// idxSiblingLabels returns the labels file next to an IDX images file, or "" if its
// name has no "images-idx3" or there is no such file.
func idxSiblingLabels(path string) string {
	dir, base := filepath.Split(path)
	if !strings.Contains(base, "images-idx3") {
		return ""
	}
	p := filepath.Join(dir, strings.Replace(base, "images-idx3", "labels-idx1", 1))
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		return ""
	}
	return p
}

// arrayDataset is a .npy or IDX dataset, held in memory or read sample by
// sample from its file.
type arrayDataset struct {
	path   string
	t      runtime.Transform
	n      int
	f32    bool   // float32 N x C x H x W, little-endian; else uint8 pixels, N samples of h x w x c
	data   []byte // the samples; nil: Load reads them from path at off
	off    int64
	h, w   int
	c      int
	hwc    bool
	labels []int     // nil: unlabeled
	bufs   sync.Pool // *[]byte, a sample read from the file
}

func (d *arrayDataset) Len() int { return d.n }

func (d *arrayDataset) Shape() (c, h, w int) { return d.t.Channels, d.t.Height, d.t.Width }

func (d *arrayDataset) Load(i int, dst []float32) (int, error) {
	if i < 0 || i >= d.n {
		return 0, fmt.Errorf("%s: sample %d out of range [0, %d)", d.path, i, d.n)
	}
	chw := d.t.Len()
	if len(dst) < chw {
		return 0, fmt.Errorf("%s: sample %d: destination has %d values, want %d", d.path, i, len(dst), chw)
	}
	sz := d.h * d.w * d.c
	if d.f32 {
		sz = chw * 4
		if d.data == nil && nativeLittle && sz > 0 {
			// The file's bytes are dst's: read them in place.
			if err := d.readAt(i, unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), sz)); err != nil {
				return 0, err
			}
			return d.label(i), nil
		}
	}
	src, done, err := d.sample(i, sz)
	if err != nil {
		return 0, err
	}
	defer done()
	if d.f32 {
		for j := range chw {
			dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*j:]))
		}
	} else if err := d.t.Pixels(dst, src, d.h, d.w, d.c, d.hwc); err != nil {
		return 0, fmt.Errorf("%s: sample %d: %w", d.path, i, err)
	}
	return d.label(i), nil
}

// nativeLittle is whether float32s are stored little-endian here, as the
// .npy files Load reads in place hold them.
var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// label is sample i's label, -1 if the set has none.
func (d *arrayDataset) label(i int) int {
	if d.labels == nil {
		return -1
	}
	return d.labels[i]
}

// sample returns the sz bytes of sample i, and what to call when they are
// no longer needed.
func (d *arrayDataset) sample(i, sz int) ([]byte, func(), error) {
	if d.data != nil {
		return d.data[i*sz : (i+1)*sz], func() {}, nil
	}
	bp, _ := d.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if len(*bp) != sz {
		*bp = make([]byte, sz)
	}
	if err := d.readAt(i, *bp); err != nil {
		d.bufs.Put(bp)
		return nil, nil, err
	}
	return *bp, func() { d.bufs.Put(bp) }, nil
}

// readAt reads sample i, len(b) bytes, from the file.
func (d *arrayDataset) readAt(i int, b []byte) error {
	// Opened for each sample: the dataset has no Close.
	f, err := os.Open(d.path)
	if err == nil {
		_, err = f.ReadAt(b, d.off+int64(i)*int64(len(b)))
		f.Close()
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the file is shorter than when it was opened")
		}
		return fmt.Errorf("%s: sample %d: %w", d.path, i, err)
	}
	return nil
}

// openNpyFile opens an uncompressed .npy file, reading only its header: Load
// reads the samples. It returns nil and no error if path is not such a
// file (or its header is unusually large): Open then reads it whole.
func openNpyFile(path string, t runtime.Transform) (*arrayDataset, error) {
	f, size, err := safesize.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, npyPrefix)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !bytes.HasPrefix(head[:n], []byte(npyMagic)) {
		return nil, nil
	}
	hl, err := npyHeadLen(head[:n])
	if err != nil || int64(hl) > size || hl > maxNpyHead {
		return nil, nil
	}
	head = make([]byte, hl)
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("%s: %d bytes is too large", path, size)
	}
	return openNpy(path, head, int(size), t)
}

// maxNpyHead bounds the header openNpyFile reads (NumPy writes 128 bytes or
// a few more).
const maxNpyHead = 1 << 20

// openNpy opens a .npy file of size bytes whose first bytes are b: the whole
// file, or its header only (the samples are then read by Load).
func openNpy(path string, b []byte, size int, t runtime.Transform) (*arrayDataset, error) {
	h, err := parseNpyHead(b, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var data []byte
	if len(b) == size {
		data = b[h.off:]
	}
	ds := &arrayDataset{path: path, t: t, data: data, off: int64(h.off)}
	shape := h.shape
	switch h.dtype {
	case Float32:
		if len(shape) != 4 || shape[1] != t.Channels || shape[2] != t.Height || shape[3] != t.Width {
			return nil, fmt.Errorf("%s: float32 array of shape %s: want N x %d x %d x %d (N x C x H x W, already preprocessed for the model)",
				path, shapeString(shape), t.Channels, t.Height, t.Width)
		}
		ds.n, ds.f32 = shape[0], true
	case Uint8:
		if len(shape) == 0 {
			return nil, fmt.Errorf("%s: uint8 array of shape (): want N x H x W, N x H x W x C or N x C x H x W pixels", path)
		}
		ds.n = shape[0]
		switch len(shape) {
		case 3:
			ds.h, ds.w, ds.c, ds.hwc = shape[1], shape[2], 1, true
		case 4:
			hwc, err := uint8Layout(shape, t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			ds.hwc = hwc
			if hwc {
				ds.h, ds.w, ds.c = shape[1], shape[2], shape[3]
			} else {
				ds.c, ds.h, ds.w = shape[1], shape[2], shape[3]
			}
		default:
			return nil, fmt.Errorf("%s: uint8 array of shape %s: want N x H x W, N x H x W x C or N x C x H x W pixels", path, shapeString(shape))
		}
		if ds.n > 0 && (ds.h == 0 || ds.w == 0) {
			return nil, fmt.Errorf("%s: uint8 array of shape %s has empty images", path, shapeString(shape))
		}
	default:
		return nil, fmt.Errorf("%s: %s array: images must be float32 (preprocessed) or uint8 (pixels)", path, h.dtype)
	}
	return ds, nil
}

// uint8Layout decides whether a uint8 N x A x B x D array is HWC (N x H x W x C) or
// CHW (N x C x H x W). The rule:
//
//  1. A layout is possible if its channel axis (D for HWC, A for CHW) is 1 or 3.
//  2. If only one is possible, it is used; if neither, it is an error.
//  3. If both are (e.g. N x 3 x 32 x 3, N x 1 x 28 x 1), prefer the one whose channel
//     count equals the model's, then the one whose spatial size equals the model's
//     input (Height x Width), then CHW, PyTorch's layout.
func uint8Layout(shape []int, t runtime.Transform) (hwc bool, err error) {
	a, b, d := shape[1], shape[2], shape[3]
	chwOK := a == 1 || a == 3
	hwcOK := d == 1 || d == 3
	switch {
	case !chwOK && !hwcOK:
		return false, fmt.Errorf("uint8 array of shape %s: neither N x C x H x W nor N x H x W x C with 1 or 3 channels", shapeString(shape))
	case chwOK && !hwcOK:
		return false, nil
	case hwcOK && !chwOK:
		return true, nil
	}
	if (a == t.Channels) != (d == t.Channels) {
		return d == t.Channels, nil
	}
	chwSize := b == t.Height && d == t.Width
	hwcSize := a == t.Height && b == t.Width
	if chwSize != hwcSize {
		return hwcSize, nil
	}
	return false, nil
}

func openIDX(path string, b []byte, t runtime.Transform) (*arrayDataset, error) {
	x, err := ParseIDX(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if x.Magic != IDXImagesMagic {
		return nil, fmt.Errorf("%s: IDX magic number 0x%08x with dimensions %v: want 0x%08x (N x H x W images)", path, x.Magic, x.Dims, IDXImagesMagic)
	}
	n, h, w := x.Dims[0], x.Dims[1], x.Dims[2]
	if n > 0 && (h == 0 || w == 0) {
		return nil, fmt.Errorf("%s: IDX images of size %dx%d", path, h, w)
	}
	return &arrayDataset{path: path, t: t, n: n, data: x.Data, h: h, w: w, c: 1, hwc: true}, nil
}

// maxLabel bounds label values (class indices).
const maxLabel = 1<<31 - 1

// readLabels reads a labels file: a 1-D .npy of int64, int32 or uint8, or an IDX
// labels file, gzipped or not.
func readLabels(path string) ([]int, error) {
	b, err := readMaybeGzip(path)
	var fe *formatError
	if errors.As(err, &fe) {
		return nil, fmt.Errorf("%s: unrecognised labels format (first bytes % x): want a 1-D .npy or an IDX labels file", path, fe.head)
	}
	if err != nil {
		return nil, err
	}
	var labels []int
	switch {
	case bytes.HasPrefix(b, []byte(npyMagic)):
		a, err := ParseNpy(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(a.Shape) != 1 {
			return nil, fmt.Errorf("%s: labels of shape %s: want a 1-D array", path, shapeString(a.Shape))
		}
		labels = make([]int, a.Shape[0])
		for i := range labels {
			var v int64
			switch a.DType {
			case Int64:
				v = a.I64[i]
			case Int32:
				v = int64(a.I32[i])
			case Uint8:
				v = int64(a.U8[i])
			default:
				return nil, fmt.Errorf("%s: %s labels: want int64, int32 or uint8", path, a.DType)
			}
			if v < 0 || v > maxLabel {
				return nil, fmt.Errorf("%s: label of sample %d is %d, want a class index >= 0", path, i, v)
			}
			labels[i] = int(v)
		}
	case len(b) >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0x08:
		x, err := ParseIDX(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if x.Magic != IDXLabelsMagic {
			return nil, fmt.Errorf("%s: IDX magic number 0x%08x with dimensions %v: want 0x%08x (labels)", path, x.Magic, x.Dims, IDXLabelsMagic)
		}
		labels = make([]int, len(x.Data))
		for i, v := range x.Data {
			labels[i] = int(v)
		}
	default:
		return nil, fmt.Errorf("%s: unrecognised labels format (first bytes % x): want a 1-D .npy or an IDX labels file", path, b[:min(len(b), 8)])
	}
	return labels, nil
}

// BatchPlan checks the arguments of Batches and returns how many samples it
// runs (at most limit, 0: all of ds) and a sample's elements (C*H*W; 0 when
// it runs none), for a caller that loads the batches itself.
func BatchPlan(ds Dataset, batch, limit int) (n, chw int, err error) {
	if ds == nil {
		return 0, 0, errors.New("batches: nil dataset")
	}
	if batch <= 0 {
		return 0, 0, fmt.Errorf("batches: batch size %d must be positive", batch)
	}
	if limit < 0 {
		return 0, 0, fmt.Errorf("batches: limit %d must not be negative", limit)
	}
	n = ds.Len()
	if limit > 0 && limit < n {
		n = limit
	}
	if n <= 0 {
		return 0, 0, nil
	}
	c, h, w := ds.Shape()
	chw = c * h * w
	if c <= 0 || h <= 0 || w <= 0 || chw > math.MaxInt32 {
		return 0, 0, fmt.Errorf("batches: dataset sample shape %dx%dx%d", c, h, w)
	}
	return n, chw, nil
}

// Batches calls fn on consecutive batches of up to batch samples of ds, at most limit
// samples in all (0: all of them). start is the index of the batch's first sample, x
// holds n samples (n*C*H*W values) and labels their n labels. The buffers are reused
// from one call to the next, so fn must not keep them. An error from Load or fn stops
// the iteration and is returned.
func Batches(ds Dataset, batch, limit int, fn func(start int, x []float32, labels []int) error) error {
	n, chw, err := BatchPlan(ds, batch, limit)
	if err != nil || n == 0 {
		return err
	}
	bs := min(batch, n)
	x := make([]float32, bs*chw)
	labels := make([]int, bs)
	for start := 0; start < n; start += bs {
		k := min(bs, n-start)
		for j := range k {
			l, err := ds.Load(start+j, x[j*chw:(j+1)*chw])
			if err != nil {
				return err
			}
			labels[j] = l
		}
		if err := fn(start, x[:k*chw], labels[:k]); err != nil {
			return err
		}
	}
	return nil
}

// Samples is a dataset of preprocessed samples held in memory: X holds them
// back to back, C x H x W float32 each; it has no labels.
type Samples struct {
	X       []float32
	C, H, W int
}

// Len is the number of samples.
func (d *Samples) Len() int { return len(d.X) / (d.C * d.H * d.W) }

// Shape is a sample's shape.
func (d *Samples) Shape() (c, h, w int) { return d.C, d.H, d.W }

// Load copies sample i into dst.
func (d *Samples) Load(i int, dst []float32) (int, error) {
	e := d.C * d.H * d.W
	if i < 0 || i >= d.Len() || len(dst) != e {
		return 0, fmt.Errorf("sample %d of %d (%d values into %d)", i, d.Len(), e, len(dst))
	}
	copy(dst, d.X[i*e:(i+1)*e])
	return -1, nil
}
