package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // registers the JPEG decoder
	_ "image/png"  // registers the PNG decoder
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ptqc/ptqc/internal/safesize"
	"github.com/ptqc/ptqc/runtime"
)

// decodable are the image extensions (lower case) that are loaded.
var decodable = []string{".png", ".jpg", ".jpeg"}

// undecodable are the other extensions torchvision's ImageFolder accepts: rather than
// skip such a file, which would shift every later index away from torchvision's,
// Open reports it.
var undecodable = []string{".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}

// MaxImagePixels bounds the area of an image file, checked from its header before
// it is decoded (cmd/ptqc's -max-image-pixels sets it). 8192 x 8192 pixels decode
// to at most 512 MiB (16-bit RGBA); larger images are refused as decompression
// bombs would be.
var MaxImagePixels = DefaultMaxImagePixels

// DefaultMaxImagePixels is MaxImagePixels' default.
const DefaultMaxImagePixels = 1 << 26

// folderDataset is an ImageFolder: images decoded on demand.
type folderDataset struct {
	root    string
	t       runtime.Transform
	classes []string
	files   []string
	labels  []int
}

// openFolder lists an ImageFolder the way torchvision's datasets.ImageFolder does:
//
//   - the classes are the sub-directories of root (symbolic links to directories
//     included, hidden ones too), sorted by name; their indices are the labels;
//   - each class directory is walked recursively, following symbolic links (a directory
//     reached twice is walked once), the directories visited in the order of their
//     sorted path strings and the files of each in sorted name order;
//   - a file is a sample if its name ends, ignoring case, in .png, .jpg or .jpeg. The
//     other extensions torchvision accepts (.ppm .bmp .pgm .tif .tiff .webp) are errors,
//     since they cannot be decoded here; other files are ignored;
//   - a class without samples is an error;
//   - a directory without sub-directories is a flat folder of images
//     instead (openFlat): its images in name order, without labels.
//
// Images are decoded by content (PNG or JPEG, the latter with runtime.DecodeJPEG) when
// loaded, and preprocessed with t.Image.
func openFolder(root string, t runtime.Transform) (*folderDataset, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	ds := &folderDataset{root: root, t: t}
	for _, e := range entries {
		if isDir(filepath.Join(root, e.Name()), e) {
			ds.classes = append(ds.classes, e.Name())
		}
	}
	slices.Sort(ds.classes)
	if len(ds.classes) == 0 {
		return openFlat(root, t, entries)
	}
	var empty []string
	for label, class := range ds.classes {
		dirs, err := walk(filepath.Join(root, class))
		if err != nil {
			return nil, err
		}
		n := len(ds.files)
		for _, d := range dirs {
			for _, name := range d.files {
				path := filepath.Join(d.root, name)
				ext := strings.ToLower(filepath.Ext(name))
				if slices.Contains(undecodable, ext) {
					return nil, fmt.Errorf("%s: %s images are not supported (only PNG and JPEG)", path, ext)
				}
				if !slices.Contains(decodable, ext) {
					continue
				}
				ds.files = append(ds.files, path)
				ds.labels = append(ds.labels, label)
			}
		}
		if len(ds.files) == n {
			empty = append(empty, class)
		}
	}
	if len(empty) > 0 {
		return nil, fmt.Errorf("%s: no .png, .jpg or .jpeg files for the classes %s", root, strings.Join(empty, ", "))
	}
	return ds, nil
}

// openFlat is a directory of images without class folders: its .png, .jpg
// and .jpeg files in sorted name order, without labels (calibration data).
func openFlat(root string, t runtime.Transform, entries []os.DirEntry) (*folderDataset, error) {
	ds := &folderDataset{root: root, t: t}
	for _, e := range entries { // sorted by name
		ext := strings.ToLower(filepath.Ext(e.Name()))
		path := filepath.Join(root, e.Name())
		if slices.Contains(undecodable, ext) {
			return nil, fmt.Errorf("%s: %s images are not supported (only PNG and JPEG)", path, ext)
		}
		if slices.Contains(decodable, ext) {
			ds.files = append(ds.files, path)
			ds.labels = append(ds.labels, -1)
		}
	}
	if len(ds.files) == 0 {
		return nil, fmt.Errorf("%s: no class folders (an ImageFolder) and no .png, .jpg or .jpeg files in the directory", root)
	}
	return ds, nil
}

// isDir is Python's DirEntry.is_dir(): true for directories and symbolic links to them.
func isDir(path string, e os.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&os.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

type walkDir struct {
	root  string
	files []string // sorted names
}

// walk is sorted(os.walk(dir, followlinks=True)): every directory under dir with its
// non-directory entries, ordered by path string. Unlike os.walk, a directory that
// cannot be read is an error, and a directory reached again through a symbolic link is
// not walked twice.
func walk(dir string) ([]walkDir, error) {
	var out []walkDir
	seen := map[string]bool{}
	var rec func(d string) error
	rec = func(d string) error {
		real, err := filepath.EvalSymlinks(d)
		if err != nil {
			return err
		}
		if abs, err := filepath.Abs(real); err == nil {
			real = abs
		}
		if seen[real] {
			return nil
		}
		seen[real] = true
		entries, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		wd := walkDir{root: d}
		var subs []string
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			if isDir(p, e) {
				subs = append(subs, p)
			} else {
				wd.files = append(wd.files, e.Name())
			}
		}
		slices.Sort(wd.files)
		out = append(out, wd)
		for _, s := range subs {
			if err := rec(s); err != nil {
				return err
			}
		}
		return nil
	}
	if err := rec(dir); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b walkDir) int { return strings.Compare(a.root, b.root) })
	return out, nil
}

func (d *folderDataset) Len() int { return len(d.files) }

func (d *folderDataset) Shape() (c, h, w int) { return d.t.Channels, d.t.Height, d.t.Width }

// Classes returns the class names, indexed by label.
func (d *folderDataset) Classes() []string { return d.classes }

func (d *folderDataset) Load(i int, dst []float32) (int, error) {
	if i < 0 || i >= len(d.files) {
		return 0, fmt.Errorf("%s: sample %d out of range [0, %d)", d.root, i, len(d.files))
	}
	path := d.files[i]
	img, err := decodeImage(path)
	if err != nil {
		return 0, fmt.Errorf("%s: sample %d: %w", path, i, err)
	}
	if err := d.t.Image(dst, img); err != nil {
		return 0, fmt.Errorf("%s: sample %d: %w", path, i, err)
	}
	return d.labels[i], nil
}

// decodeImage decodes a PNG or JPEG file, checking its size before decoding it.
func decodeImage(path string) (image.Image, error) {
	b, err := safesize.ReadFile(path, 0, 8, func(head []byte, _ int64) error {
		if !bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")) && !bytes.HasPrefix(head, []byte("\xff\xd8")) {
			return errors.New("not a PNG or JPEG image")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return decodeImageBytes(b)
}

// maxPixelsPerByte bounds how far an image may claim to expand: no valid PNG
// (deflate's 1032:1 at 8 pixels a byte) or JPEG gets near it, so a small file
// claiming a huge image is rejected before its pixels are allocated.
const maxPixelsPerByte = 8300

// decodeImageBytes decodes PNG or JPEG bytes.
func decodeImageBytes(b []byte) (image.Image, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, errors.New("not a PNG or JPEG image")
		}
		return nil, fmt.Errorf("decode: %w", err)
	}
	px, ok := safesize.Mul(cfg.Width, cfg.Height)
	if !ok || px == 0 || px > maxPixelsPerByte*len(b)+1<<20 {
		return nil, fmt.Errorf("%s image of %dx%d pixels: empty or too large", format, cfg.Width, cfg.Height)
	}
	if px > MaxImagePixels {
		return nil, fmt.Errorf("%s image of %dx%d pixels: more than the limit of %d pixels (-max-image-pixels raises it)", format, cfg.Width, cfg.Height, MaxImagePixels)
	}
	if format == "jpeg" {
		// decoded as PIL decodes it for torchvision: libjpeg-turbo's upsampling and colors
		return runtime.DecodeJPEG(bytes.NewReader(b))
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", format, err)
	}
	return img, nil
}
