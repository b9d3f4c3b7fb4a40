// Command fuzzcorpus writes the committed seed corpora of ptqc's fuzz targets:
// small valid files of every format a parser reads, in go test's corpus format,
// under each package's testdata/fuzz/<Target>/. Run from the repository root:
//
//	go run ./tools/fuzzcorpus
package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/frontend"
	"github.com/ptqc/ptqc/ir"
)

func write(dir, target string, seeds ...[]byte) {
	d := filepath.Join(dir, "testdata", "fuzz", target)
	if err := os.MkdirAll(d, 0o755); err != nil {
		log.Fatal(err)
	}
	for _, b := range seeds {
		name := fmt.Sprintf("seed-%x", sha256.Sum256(b))[:21]
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	return b
}

func main() {
	// Description and a matching small state dict.
	desc := read("testdata/mobilenetv2_fmnist/model.json")
	write("frontend", "FuzzParseDescription", desc, []byte(`{"arch": "mobilenetv2"}`),
		read("testdata/resnet_bottleneck/model.json"), []byte(`{"arch": "resnet50", "num_classes": 10}`))
	d, err := frontend.ParseDescription([]byte(`{"arch": "mobilenetv2", "num_classes": 2, "width_mult": 0.1, "round_nearest": 4,
	  "inverted_residual_setting": [[1, 4, 1, 1]], "input": [1, 4, 4], "mean": [0], "std": [1], "preprocess": {}}`))
	if err != nil {
		log.Fatal(err)
	}
	g, err := ir.BuildRandom(d, 1)
	if err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "fuzzcorpus")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	st := filepath.Join(tmp, "w.safetensors")
	if err := frontend.WriteSafeTensors(st, frontend.StateDict(g), map[string]string{"format": "pt"}); err != nil {
		log.Fatal(err)
	}
	write("frontend", "FuzzParseSafeTensors", read(st))

	// torch.save files (tools/pth_fixtures.py), and the pickles of two of them
	// alone, which the fuzz target also wraps in an archive.
	var pth [][]byte
	for _, name := range []string{"views.pth", "proto4.pth", "module.pth", "legacy.pth", "double.pth"} {
		pth = append(pth, read(filepath.Join("frontend/testdata/pth", name)))
	}
	for _, name := range []string{"views.pth", "proto4.pth"} {
		zr, err := zip.OpenReader(filepath.Join("frontend/testdata/pth", name))
		if err != nil {
			log.Fatal(err)
		}
		rc, err := zr.Open(strings.TrimSuffix(name, ".pth") + "/data.pkl")
		if err != nil {
			log.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			log.Fatal(err)
		}
		pth = append(pth, b)
		zr.Close()
	}
	write("frontend", "FuzzParsePth", pth...)

	// .npy: the bundled labels, a slice of the bundled images, float32 samples.
	np := filepath.Join(tmp, "x.npy")
	if err := data.WriteNpyF32(np, []int{2, 1, 2, 2}, []float32{0, 1, -1, 0.5, 2, 3, 4, 5}); err != nil {
		log.Fatal(err)
	}
	img, err := data.ReadNpy("testdata/mobilenetv2_fmnist/test_images.npy")
	if err != nil {
		log.Fatal(err)
	}
	u8 := filepath.Join(tmp, "u8.npy")
	if err := data.WriteNpyU8(u8, []int{2, 28, 28}, img.U8[:2*28*28]); err != nil {
		log.Fatal(err)
	}
	write("calibrate/data", "FuzzParseNpy", read(np), read(u8), read("testdata/mobilenetv2_fmnist/calib_labels.npy"))

	// IDX: two 28x28 images and their labels, as Fashion-MNIST ships them (ungzipped).
	var idx bytes.Buffer
	idx.Write([]byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28})
	idx.Write(img.U8[:2*28*28])
	write("calibrate/data", "FuzzParseIDX", idx.Bytes(), []byte{0, 0, 8, 1, 0, 0, 0, 2, 9, 2})

	// PNG and JPEG of the first test image.
	gray := &image.Gray{Pix: img.U8[:28*28], Stride: 28, Rect: image.Rect(0, 0, 28, 28)}
	var p, j bytes.Buffer
	if err := png.Encode(&p, gray); err != nil {
		log.Fatal(err)
	}
	if err := jpeg.Encode(&j, gray, nil); err != nil {
		log.Fatal(err)
	}
	write("calibrate/data", "FuzzDecodeImage", p.Bytes(), j.Bytes())

	hostile()
}
