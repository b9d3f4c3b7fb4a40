package asmgen

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/ptq"
)

// tileModel runs every GEMM layer of m that has a tile program on the
// emulated tile unit, on the inputs the interpreter gives it for images, and
// compares the bytes with the interpreter's outputs. It returns the layers checked.
func tileModel(t *testing.T, name string, m *compiler.Model, images []float32, n int) int {
	t.Helper()
	vals := map[int][]uint8{}
	hook := func(nd *compiler.Node, out []uint8, _ int) error {
		vals[nd.Out] = out
		return nil
	}
	// The quantize node's output is seen by the hook too, so every input is there.
	if _, err := compiler.Run(m, images, n, hook); err != nil {
		t.Fatalf("%s: interpreter: %v", name, err)
	}
	checked := 0
	for i, nd := range m.Nodes {
		if (nd.Kind != compiler.KConv && nd.Kind != compiler.KLinear) || nd.Conv == nil || nd.Conv.Groups != 1 {
			continue
		}
		c := nd.Conv
		x, y := m.Tensors[nd.In[0]], m.Tensors[nd.Out]
		h, w, oh, ow := 1, 1, 1, 1
		if len(x.Shape) == 3 {
			h, w, oh, ow = x.Shape[1], x.Shape[2], y.Shape[1], y.Shape[2]
		}
		d := &Dense{Cin: c.InC, Cout: c.OutC, K: c.Kernel, Stride: c.Stride, Pad: c.Pad, H: h, W: w, OH: oh, OW: ow,
			InStride: c.InC, OutStride: c.OutC, ZIn: x.Zero, XMax: 255, Weight: c.Weight,
			Requant: Requant{M: c.M, B: c.B, Z: y.Zero, Lo: c.Lo, Hi: c.Hi}}
		if !d.Pointwise() {
			d.InStride = 4 * lower.Quads(c.InC)
		}
		if !d.tileOK() {
			continue
		}
		p, err := newTileProgram(d)
		if err != nil {
			t.Fatalf("%s node %d (%s): %v", name, i, nd.Name, err)
		}
		wb := convert[byte](lower.PackDense(c.Weight, c.InC, c.OutC, c.Kernel))
		wp, hp := w+2*d.Pad, h+2*d.Pad
		px, ie, oe := oh*ow, x.Elems(), y.Elems()
		for s := 0; s < n; s++ {
			// CHW (the interpreter) -> HWC (the arena, padded with the zero
			// point for a k x k conv), slack after it.
			xb := make([]byte, hp*wp*d.InStride+lower.ReadSlack)
			for q := 0; q < hp*wp; q++ {
				for ch := 0; ch < c.InC; ch++ {
					xb[q*d.InStride+ch] = byte(x.Zero)
				}
			}
			for ch := 0; ch < c.InC; ch++ {
				for q := 0; q < h*w; q++ {
					xb[((q/w+d.Pad)*wp+q%w+d.Pad)*d.InStride+ch] = vals[nd.In[0]][s*ie+ch*h*w+q]
				}
			}
			yb := make([]byte, px*c.OutC)
			if err := p.emulate(xb, wb, yb, make([]byte, AMXScratch+d.patchBytes()), 0, d.Units(), 0, d.Cols()); err != nil {
				t.Fatalf("%s node %d (%s): %v", name, i, nd.Name, err)
			}
			bad := 0
			for ch := 0; ch < c.OutC; ch++ {
				for q := 0; q < px; q++ {
					if g, want := yb[q*c.OutC+ch], vals[nd.Out][s*oe+ch*px+q]; g != want {
						if bad < 3 {
							t.Errorf("%s node %d (%s) image %d: pixel %d channel %d: tile program %d, interpreter %d", name, i, nd.Name, s, q, ch, g, want)
						}
						bad++
					}
				}
			}
			if bad > 0 {
				t.Errorf("%s node %d (%s) image %d: %d of %d bytes differ", name, i, nd.Name, s, bad, oe)
			}
		}
		checked++
	}
	return checked
}

// TestTileRandomModels checks the emulated tile programs of the random graphs'
// GEMM layers against the interpreter.
func TestTileRandomModels(t *testing.T) {
	layers := 0
	for seed := range uint64(16) {
		m := gentest.RandomModel(t, seed)
		r := rand.New(rand.NewPCG(seed, 16))
		const n = 2
		layers += tileModel(t, fmt.Sprintf("random model %d", seed), m, gentest.RandomInputs(r, m.Tensors[m.Input].Elems(), n, true), n)
	}
	t.Logf("%d GEMM layers bit-exact on the emulated tile unit", layers)
}

// TestTileTrainedModels does the same for the trained models on test images,
// and for the synthetic ImageNet-shaped one on a random image.
func TestTileTrainedModels(t *testing.T) {
	testenv.SkipUnlessLong(t, "calibrates the trained models")
	root := gentest.RepoRoot(t) + "/testdata/"
	for _, c := range []struct{ dir, qconfig string }{
		{"mobilenetv2_fmnist", "fbgemm"},
		{"mobilenetv2_fmnist", "qnnpack"},
		{"mobilenetv2_fmnist_alt", "onednn"},
		{"resnet_fmnist", "fbgemm"},
	} {
		m := quantizeTestdata(t, root, c.dir, c.qconfig)
		const n = 4
		layers := tileModel(t, c.dir+"/"+c.qconfig, m, gentest.TestImages(t, m, n), n)
		t.Logf("%s %s: %d GEMM layers bit-exact on the emulated tile unit, %d images", c.dir, c.qconfig, layers, n)
	}
	// The speed benchmark's ImageNet-shaped model, where go generate has made
	// its calibration inputs (they are not checked in).
	dir := root + "mobilenetv2_224/"
	if _, err := os.Stat(dir + "calib.npy"); err != nil {
		t.Logf("mobilenetv2_224 not checked: %v (go generate ./generated makes it)", err)
		return
	}
	m, err := ptq.Quantize(ptq.Options{Model: dir + "model.json", QConfig: "fbgemm", Calib: dir + "calib.npy", CalibLimit: 16})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(224, 16))
	layers := tileModel(t, "mobilenetv2_224", m, gentest.RandomInputs(r, m.Tensors[m.Input].Elems(), 1, false), 1)
	t.Logf("mobilenetv2_224 fbgemm: %d GEMM layers bit-exact on the emulated tile unit, 1 image", layers)
}
