package data

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestHostileDataFiles is issue 23's class 7 for data sets: a 20 GB sparse
// file was read whole before its magic was looked at. It is refused from its
// first bytes, allocating next to nothing.
func TestHostileDataFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sparse.npy")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(20 << 30); err != nil {
		t.Skipf("no sparse file: %v", err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = Open(path, "", fmnistTransform())
	_, err2 := readLabels(path)
	_, err3 := ReadNpy(path)
	runtime.ReadMemStats(&after)
	for _, c := range []struct {
		err  error
		want string
	}{{err, "unrecognised format (first bytes 00 00 00 00 00 00 00 00)"}, {err2, "unrecognised labels format"}, {err3, "not a .npy file (bad magic)"}} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", c.err, c.want)
		}
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing a 20 GB sparse file allocated %d bytes", n)
	}
}

// TestImagePixelLimit: an image larger than MaxImagePixels is refused from
// its header, before it is decoded.
func TestImagePixelLimit(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 5, 3))); err != nil {
		t.Fatal(err)
	}
	defer func(v int) { MaxImagePixels = v }(MaxImagePixels)
	MaxImagePixels = 14
	if _, err := decodeImageBytes(b.Bytes()); err == nil || !strings.Contains(err.Error(), "png image of 5x3 pixels: more than the limit of 14 pixels (-max-image-pixels raises it)") {
		t.Errorf("error %v", err)
	}
	MaxImagePixels = 15
	if _, err := decodeImageBytes(b.Bytes()); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	path := filepath.Join(t.TempDir(), "x.png")
	if err := os.WriteFile(path, []byte("GIF89a not png"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeImage(path); err == nil || err.Error() != "not a PNG or JPEG image" {
		t.Errorf("a GIF named .png: %v", err)
	}
}
