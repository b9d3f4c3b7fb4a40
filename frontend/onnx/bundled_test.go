package onnx

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/frontend"
	"github.com/ptqc/ptqc/ir"
)

const testdata = "../../testdata"

// readNpy reads a little-endian float32 or uint8 .npy file as float32s.
func readNpy(t *testing.T, path string) ([]int, []float32) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || string(b[1:6]) != "NUMPY" || b[6] != 1 {
		t.Fatalf("%s: not a version 1 .npy", path)
	}
	hl := int(binary.LittleEndian.Uint16(b[8:]))
	h, data := string(b[10:10+hl]), b[10+hl:]
	m := regexp.MustCompile(`'shape': \(([0-9, ]*)\)`).FindStringSubmatch(h)
	if m == nil || strings.Contains(h, "'fortran_order': True") {
		t.Fatalf("%s: header %q", path, h)
	}
	var shape []int
	for _, s := range strings.Split(m[1], ",") {
		if s = strings.TrimSpace(s); s != "" {
			d, _ := strconv.Atoi(s)
			shape = append(shape, d)
		}
	}
	var v []float32
	switch {
	case strings.Contains(h, "'<f4'"):
		for i := 0; i+4 <= len(data); i += 4 {
			v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(data[i:])))
		}
	case strings.Contains(h, "'|u1'"):
		for _, c := range data {
			v = append(v, float32(c))
		}
	default:
		t.Fatalf("%s: dtype in %q", path, h)
	}
	return shape, v
}

// fmnistImages is the first n bundled test images as the description
// preprocesses them: zero pad 2, /255, (x - 0.286) / 0.353, three channels.
func fmnistImages(t *testing.T, n int) []float32 {
	shape, u8 := readNpy(t, filepath.Join(testdata, "mobilenetv2_fmnist", "test_images.npy"))
	if shape[0] < n || shape[1] != 28 || shape[2] != 28 {
		t.Fatalf("test images %v", shape)
	}
	x := make([]float32, 0, n*3*32*32)
	for s := 0; s < n; s++ {
		plane := make([]float32, 32*32)
		for y := 0; y < 32; y++ {
			for xx := 0; xx < 32; xx++ {
				var p float32
				if y >= 2 && y < 30 && xx >= 2 && xx < 30 {
					p = u8[s*784+(y-2)*28+xx-2]
				}
				plane[y*32+xx] = (p/255 - float32(0.286)) / float32(0.353)
			}
		}
		for c := 0; c < 3; c++ {
			x = append(x, plane...)
		}
	}
	return x
}

// closeLogits fails unless got and want agree within tol relative to each
// sample's largest logit.
func closeLogits(t *testing.T, what string, got, want []float32, classes int, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d logits, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for s := 0; s < len(want)/classes; s++ {
		scale := 1.0
		for _, v := range want[s*classes : (s+1)*classes] {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		for i := s * classes; i < (s+1)*classes; i++ {
			worst = math.Max(worst, math.Abs(float64(got[i])-float64(want[i]))/scale)
		}
	}
	if worst > tol {
		t.Errorf("%s: logits differ by %.3g relative, more than %g", what, worst, tol)
	}
	t.Logf("%s: largest relative difference %.3g", what, worst)
}

// TestBundledMatchesDescription: the bundled models exported by
// tools/onnx_export.py give the description + weights' float logits, and
// PyTorch's, within 1e-5, unfused (reference interpreter) and fused (the
// fast kernels eval runs).
func TestBundledMatchesDescription(t *testing.T) {
	const n = 100
	x := fmnistImages(t, n)
	for _, dir := range []string{"mobilenetv2_fmnist", "resnet_fmnist"} {
		t.Run(dir, func(t *testing.T) {
			_, want, err := frontend.Load(filepath.Join(testdata, dir, "model.json"), "")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(testdata, dir, "model.onnx")
			if dir == "mobilenetv2_fmnist" {
				requirePinned(t, path)
			}
			d, got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if d.NumClasses != 10 || !ir.EqualShape(d.Input, []int{3, 32, 32}) {
				t.Fatalf("description: %d classes, input %v", d.NumClasses, d.Input)
			}
			ref, err := ir.Reference(want, x, n, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, fast, err := runBoth(got, x, n)
			if err != nil {
				t.Fatal(err)
			}
			closeLogits(t, "onnx vs description, reference interpreter", out, ref, 10, 1e-5)
			closeLogits(t, "onnx fused and compiled vs description", fast, ref, 10, 1e-5)
			_, torch := readNpy(t, filepath.Join(testdata, dir, "golden_float_logits.npy"))
			closeLogits(t, "onnx vs PyTorch", out, torch[:n*10], 10, 1e-5)
		})
	}
}

// runBoth runs n samples x through g on both float paths: unfused on the
// reference interpreter, and fused on the compiled program.
func runBoth(g *ir.Graph, x []float32, n int) (ref, fast []float32, err error) {
	if ref, err = ir.Reference(g, x, n, nil, nil); err != nil {
		return nil, nil, fmt.Errorf("reference: %w", err)
	}
	p, err := ir.Compile(ir.Fuse(g))
	if err != nil {
		return nil, nil, fmt.Errorf("compile: %w", err)
	}
	if fast, err = p.Run(x, n, nil, nil); err != nil {
		return nil, nil, fmt.Errorf("program: %w", err)
	}
	return ref, fast, nil
}

// closeBoth checks g's logits on both float paths (runBoth) against want.
func closeBoth(t *testing.T, g *ir.Graph, x []float32, n int, want []float32, classes int, tol float64) {
	t.Helper()
	ref, fast, err := runBoth(g, x, n)
	if err != nil {
		t.Fatal(err)
	}
	closeLogits(t, "reference interpreter", ref, want, classes, tol)
	closeLogits(t, "fused and compiled", fast, want, classes, tol)
}

// readOpset reads the ONNX file at path, which must import opset.
func readOpset(t *testing.T, path string, opset int) *Model {
	t.Helper()
	m, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Opset != opset {
		t.Fatalf("opset %d, want %d", m.Opset, opset)
	}
	return m
}

// TestSmallMatchesPyTorch: the forms torch writes for the other supported
// ops (shape subgraph, Clip, BatchNormalization, MatMul + Add, Gemm, MaxPool,
// ReduceMean), at opsets 11, 13 and 17, against PyTorch's logits.
func TestSmallMatchesPyTorch(t *testing.T) {
	shape, x := readNpy(t, filepath.Join(testdata, "onnx_small", "input.npy"))
	_, want := readNpy(t, filepath.Join(testdata, "onnx_small", "logits.npy"))
	for _, opset := range []int{11, 13, 17} {
		t.Run(fmt.Sprint("opset", opset), func(t *testing.T) {
			g, err := Import(readOpset(t, filepath.Join(testdata, "onnx_small", fmt.Sprintf("small_opset%d.onnx", opset)), opset))
			if err != nil {
				t.Fatal(err)
			}
			closeBoth(t, g, x, shape[0], want, 5, 1e-5)
		})
	}
}

// requirePinned skips when the export at path, not checked in (8.9 MB), is
// absent, and fails when it is not the one its .sha256 file pins (what
// tools/onnx_export.py writes).
func requirePinned(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("%v: tools/onnx_export.py makes it", err)
	}
	pin, err := os.ReadFile(path + ".sha256")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if want, _, _ := strings.Cut(string(pin), " "); hex.EncodeToString(sum[:]) != want {
		t.Fatalf("%s: sha256 %x, pinned %s", path, sum, want)
	}
}
