package ir

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResNetAliases(t *testing.T) {
	// Float state_dict sizes of torchvision's models (parameters plus BatchNorm
	// running statistics) and state_dict key counts, from PyTorch.
	for _, c := range []struct {
		arch         string
		params, keys int
	}{
		{"resnet18", 11699112, 122},
		{"resnet50", 25610152, 320},
		{"wide_resnet50_2", 68951464, 320},
		{"resnet101", 44654504, 626},
	} {
		d, err := ParseDescription([]byte(`{"arch": "` + c.arch + `"}`))
		if err != nil {
			t.Fatalf("%s: %v", c.arch, err)
		}
		g, err := Build(d)
		if err != nil {
			t.Fatalf("%s: %v", c.arch, err)
		}
		if got := g.ParamCount(); got != c.params {
			t.Errorf("%s: %d parameters, torchvision has %d", c.arch, got, c.params)
		}
		keys := 0
		for _, n := range g.Nodes {
			keys += map[Op]int{OpConv: 1, OpBatchNorm: 5, OpLinear: 2}[n.Op]
		}
		if got := keys; got != c.keys {
			t.Errorf("%s: %d state_dict keys, torchvision has %d", c.arch, got, c.keys)
		}
		if s := g.Tensors[g.Output].Shape; !EqualShape(s, []int{1000}) {
			t.Errorf("%s: output shape %v", c.arch, s)
		}
	}
	d, err := ParseDescription([]byte(`{"arch": "resnet152", "num_classes": 10, "groups": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Description{Arch: "resnet", Block: "bottleneck", Layers: []int{3, 8, 36, 3}, WidthPerGroup: 64, Groups: 1,
		Widths: []int{64, 128, 256, 512}, NumClasses: 10, Input: []int{3, 224, 224},
		Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225},
		Preprocess: Preprocess{Resize: 256, Crop: 224}, Weights: "model.safetensors"}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("resnet152 (-want +got):\n%s", diff)
	}
}

func TestResNetDescriptionErrors(t *testing.T) {
	for _, c := range []struct{ desc, want string }{
		{`{"arch": "resnet50", "groups": 32}`, "groups 32: only groups=1 is supported"},
		{`{"arch": "resnet", "block": "basic", "layers": [1,1,1,1], "groups": 2}`, "groups 2: only groups=1"},
		{`{"arch": "resnet18", "layers": [1,1,1,1]}`, `arch "resnet18" sets "layers" itself`},
		{`{"arch": "resnet", "layers": [1,1,1,1]}`, `block "": want "basic" or "bottleneck"`},
		{`{"arch": "resnet", "block": "basic", "layers": [1,1,1]}`, "layers [1 1 1]: want 4 block counts"},
		{`{"arch": "resnet", "block": "basic", "layers": [1,0,1,1]}`, "block counts must be positive"},
		{`{"arch": "resnet", "block": "basic", "layers": [1,1,1,1], "width_per_group": 128}`, "basic blocks only support 64"},
		{`{"arch": "resnet", "block": "bottleneck", "layers": [1,1,1,1], "widths": [1,2,3,4], "width_per_group": 8}`, "gets no bottleneck channels"},
		{`{"arch": "resnet34", "width_mult": 1.0}`, `"width_mult" is not an argument of arch "resnet34"`},
		{`{"arch": "mobilenetv2", "block": "basic"}`, `"block" is not an argument of arch "mobilenetv2"`},
		{`{"arch": "resnext50_32x4d"}`, `arch "resnext50_32x4d": want "mobilenetv2", "resnet"`},
	} {
		_, err := ParseDescription([]byte(c.desc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.desc, err, c.want)
		}
	}
}

func TestResNetGraph(t *testing.T) {
	d, err := ParseDescription([]byte(`{"arch": "resnet", "block": "basic", "layers": [2, 1, 1, 1], "widths": [4, 8, 8, 16],
	  "num_classes": 3, "input": [3, 32, 32], "mean": [0, 0, 0], "std": [1, 1, 1], "preprocess": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	g, err := Build(d)
	if err != nil {
		t.Fatal(err)
	}
	Randomize(g, 5)
	var b bytes.Buffer
	if err := Print(&b, Fuse(g)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"(conv1):                ConvReLU2d(3, 4, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=True) -> [4 16 16]",
		"(maxpool):              MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False) -> [4 8 8]",
		"(layer1.1.add_relu):    FloatFunctional(add_relu) -> [4 8 8]",
		"(layer2.0.downsample.0): Conv2d(4, 8, kernel_size=(1, 1), stride=(2, 2), bias=True) -> [8 4 4]",
		"(layer4.0.add_relu):    FloatFunctional(add_relu) -> [16 1 1]",
		"(fc):                   Linear(in_features=16, out_features=3, bias=True) -> [3]",
	} {
		if !strings.Contains(strings.Join(strings.Fields(b.String()), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("fused graph lacks %q:\n%s", want, b.String())
		}
	}
	// Fusion keeps the function: BN folded, ReLUs fused, the adds' ReLUs kept.
	x := randomInput(2, d.Input, 7)
	want, err := Run(g, x, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Run(Fuse(g), x, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := relDiff(want, got); r > 1e-5 {
		t.Errorf("fused graph differs by %g relative", r)
	}
}

func TestMaxPool(t *testing.T) {
	// 3x3 windows, stride 2, padding 1 on a 4x5 plane: padding never wins,
	// even where every value in the plane is negative.
	in := []float32{
		-1, -2, -3, -4, -5,
		-6, -7, -8, -9, -10,
		-11, -12, -13, -14, -15,
		-16, -17, -18, -19, -20,
	}
	out := make([]float32, 2*3)
	MaxPool(&Pool{Kernel: 3, Stride: 2, Pad: 1}, 4, 5, in, 2, 3, out)
	if diff := cmp.Diff([]float32{-1, -2, -4, -6, -7, -9}, out); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
