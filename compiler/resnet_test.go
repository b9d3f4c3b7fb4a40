package compiler_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ptq"
)

var (
	bundled    = filepath.Join("..", "testdata", "mobilenetv2_fmnist")
	bottleneck = filepath.Join("..", "testdata", "resnet_bottleneck")
)

// TestResNetQuantized quantizes the bottleneck ResNet (random weights) end to
// end: max-pool and add_relu convert, the int8 interpreter follows the float
// model, and the converted module prints like PyTorch's.
func TestResNetQuantized(t *testing.T) {
	for _, qc := range []string{"fbgemm", "onednn"} {
		m, err := ptq.Quantize(ptq.Options{Model: filepath.Join(bottleneck, "model.json"), QConfig: qc,
			Calib: filepath.Join(bundled, "calib_images.npy"), CalibLimit: 60})
		if err != nil {
			t.Fatal(err)
		}
		// max-pool passes the stem's qparams through; add_relu clamps at z_y.
		mp, stem := m.Node("maxpool"), m.Node("conv1")
		if mp == nil || mp.Kind != compiler.KMaxPool || m.Tensors[mp.Out].Scale != m.Tensors[stem.Out].Scale || m.Tensors[mp.Out].Zero != m.Tensors[stem.Out].Zero {
			t.Fatalf("%s: maxpool %+v does not keep conv1's qparams", qc, mp)
		}
		adds := 0
		for _, n := range m.Nodes {
			if n.Kind == compiler.KAdd {
				adds++
				if !n.Add.ReLU || !strings.HasSuffix(n.Name, ".skip_add_relu") {
					t.Errorf("%s: %s is not an add_relu", qc, n.Name)
				}
			}
		}
		if adds != 5 {
			t.Errorf("%s: %d adds, want one per block (5)", qc, adds)
		}
		_, g, ds, err := ptq.LoadFloatData(filepath.Join(bottleneck, "model.json"), "", filepath.Join(bundled, "test_images.npy"), filepath.Join(bundled, "test_labels.npy"))
		if err != nil {
			t.Fatal(err)
		}
		_, want, err := ptq.Evaluate(ds, 10, 50, 50, func(x []float32, n int) ([]float32, error) { return ir.Run(g, x, n, nil) }, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := ptq.Evaluate(ds, 10, 50, 50, func(x []float32, n int) ([]float32, error) { return compiler.Run(m, x, n, nil) }, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		var sig, noise float64
		for i := range want {
			sig += float64(want[i]) * float64(want[i])
			noise += float64(want[i]-got[i]) * float64(want[i]-got[i])
		}
		s := 10 * math.Log10(sig/noise)
		t.Logf("%s: int8 logits SQNR %.1f dB against float", qc, s)
		if s < 15 {
			t.Errorf("%s: int8 logits SQNR %.1f dB against float, want >= 15", qc, s)
		}
		// The .ptqm file keeps max-pool and add_relu.
		back := compiler.RoundTrip(t, m)
		_, again, err := ptq.Evaluate(ds, 10, 50, 50, func(x []float32, n int) ([]float32, error) { return compiler.Run(back, x, n, nil) }, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Errorf("%s: decoded model's logits differ (-before +after):\n%s", qc, diff)
		}
		var b bytes.Buffer
		if err := compiler.Print(&b, m); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"QuantizableResNet(\n", "  (maxpool): MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)\n",
			"  (layer1): Sequential(\n    (0): QuantizableBottleneck(\n", "      (skip_add_relu): QFunctional(\n", "      (downsample): Sequential(\n        (0): QuantizedConv2d("} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s: printout lacks %q:\n%s", qc, want, b.String())
			}
		}
	}
}

// TestResNetPrintGolden: ptqc inspect's tree of the converted ResNets is
// PyTorch 1.13's print of torchvision's converted QuantizableResNet, line for
// line (tools/resnet_print.py wrote the goldens). The qparams in it are
// ptqc's own calibration, so they are held to what TestQParamsMatchPyTorch
// holds them to: under the default qconfig (min/max observers) every scale
// within 1e-5 relative and every zero point equal; under fbgemm (histogram
// observers, whose ranges can come out far apart) only the lines with the
// numbers left out.
func TestResNetPrintGolden(t *testing.T) {
	for _, c := range []struct {
		dir, qconfig string
		numbers      bool
	}{
		{"resnet_fmnist", "default", true}, {"resnet_fmnist", "fbgemm", false}, {"resnet_bottleneck", "default", true},
	} {
		dir := filepath.Join("..", "testdata", c.dir)
		golden := filepath.Join(dir, "pytorch_"+c.qconfig+"_print.txt")
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ptq.Quantize(ptq.Options{Model: filepath.Join(dir, "model.json"), QConfig: c.qconfig, Calib: filepath.Join(bundled, "calib_images.npy")})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := compiler.Print(&b, m); err != nil {
			t.Fatal(err)
		}
		tree, rest, ok := strings.Cut(b.String(), "\n)\n")
		if !ok || !strings.HasPrefix(rest, "# quantized, qconfig "+c.qconfig+"\nsize: ") {
			t.Errorf("%s: the tree is not followed by the qconfig and size:\n%s", golden, b.String())
		}
		wl, gl := strings.Split(string(want), "\n"), strings.Split(tree+"\n)\n", "\n")
		var wm, gm []string
		for _, l := range wl {
			wm = append(wm, qparamRe.ReplaceAllString(l, "${1}_"))
		}
		for _, l := range gl {
			gm = append(gm, qparamRe.ReplaceAllString(l, "${1}_"))
		}
		if diff := cmp.Diff(wm, gm); diff != "" {
			t.Errorf("%s, qparams left out (-PyTorch +ptqc):\n%s", golden, diff)
			continue
		}
		if !c.numbers {
			continue
		}
		for i := range wl {
			wn, gn := qparamRe.FindAllStringSubmatch(wl[i], -1), qparamRe.FindAllStringSubmatch(gl[i], -1)
			for j := range wn {
				w, g := wn[j][2], gn[j][2]
				if strings.HasPrefix(wn[j][1], "scale=") && !strings.HasSuffix(wn[j][1], "[") {
					wf, _ := strconv.ParseFloat(w, 64)
					gf, _ := strconv.ParseFloat(g, 64)
					if math.Abs(gf-wf) <= 1e-5*wf {
						continue
					}
				}
				if w != g {
					t.Errorf("%s line %d: %s%s, PyTorch %s%s", golden, i+1, gn[j][1], g, wn[j][1], w)
				}
			}
		}
	}
}

// qparamRe finds the qparams in a line of PyTorch's print: scale=F,
// zero_point=N, and ptq.Quantize's scale=tensor([F]), zero_point=tensor([N]).
var qparamRe = regexp.MustCompile(`((?:scale|zero_point)=(?:tensor\(\[)?)([-+0-9.e]+)`)
