package frontend

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/ir"
)

func TestDescriptionDefaults(t *testing.T) {
	d, err := ParseDescription([]byte(`{"arch": "mobilenetv2"}`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ir.DefaultDescription(), d); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	d, err = ParseDescription([]byte(`{"arch": "mobilenetv2", "num_classes": 10, "input": [3, 32, 32], "mean": [0.286, 0.286, 0.286], "std": [0.353, 0.353, 0.353], "preprocess": {"pad": 2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Preprocess != (ir.Preprocess{Pad: 2}) || d.NumClasses != 10 {
		t.Errorf("got %+v", d)
	}
}

func TestDescriptionErrors(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`[1]`, "not a JSON object"},
		{`{}`, `missing "arch"`},
		{`{"arch": "resnext50_32x4d"}`, `want "mobilenetv2", "resnet"`},
		{`{"arch": "mobilenetv2", "num_clases": 3}`, `unknown field "num_clases"`},
		{`{"arch": "mobilenetv2", "inverted_residual_setting": []}`, "should be non-empty"},
		{`{"arch": "mobilenetv2", "inverted_residual_setting": [[1, 16, 1]]}`, "4-element list"},
		{`{"arch": "mobilenetv2", "inverted_residual_setting": [[1, 16, 1, 3]]}`, "stride s = 3 must be 1 or 2"},
		{`{"arch": "mobilenetv2", "inverted_residual_setting": [[1, 0, 1, 1]]}`, "c = 0 must be a positive integer"},
		{`{"arch": "mobilenetv2", "inverted_residual_setting": [[6, 16, -1, 1]]}`, "n = -1"},
		{`{"arch": "mobilenetv2", "width_mult": 0}`, "width_mult 0"},
		{`{"arch": "mobilenetv2", "num_classes": 0}`, "num_classes 0"},
		{`{"arch": "mobilenetv2", "input": [3, 32]}`, "want [channels, height, width]"},
		{`{"arch": "mobilenetv2", "input": [1, 32, 32]}`, "one value per input channel"},
		{`{"arch": "mobilenetv2", "std": [0, 1, 1]}`, "std must be positive"},
		{`{"arch": "mobilenetv2", "preprocess": {"resize": 256, "crop": 200}}`, "crop 200"},
	} {
		_, err := ParseDescription([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.json, err, c.want)
		}
	}
}

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
		g, err := ir.Build(d)
		if err != nil {
			t.Fatalf("%s: %v", c.arch, err)
		}
		if got := g.ParamCount(); got != c.params {
			t.Errorf("%s: %d parameters, torchvision has %d", c.arch, got, c.params)
		}
		keys := 0
		for _, n := range g.Nodes {
			keys += map[ir.Op]int{ir.OpConv: 1, ir.OpBatchNorm: 5, ir.OpLinear: 2}[n.Op]
		}
		if got := keys; got != c.keys {
			t.Errorf("%s: %d state_dict keys, torchvision has %d", c.arch, got, c.keys)
		}
		if s := g.Tensors[g.Output].Shape; !ir.EqualShape(s, []int{1000}) {
			t.Errorf("%s: output shape %v", c.arch, s)
		}
	}
	d, err := ParseDescription([]byte(`{"arch": "resnet152", "num_classes": 10, "groups": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &ir.Description{Arch: "resnet", Block: "bottleneck", Layers: []int{3, 8, 36, 3}, WidthPerGroup: 64, Groups: 1,
		Widths: []int{64, 128, 256, 512}, NumClasses: 10, Input: []int{3, 224, 224},
		Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225},
		Preprocess: ir.Preprocess{Resize: 256, Crop: 224}, Weights: "model.safetensors"}
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

// hostileDescriptions are issue 23's class 6: small descriptions that ask for
// unbounded work (rows, widths, classes, inputs).
func hostileDescriptions() map[string]string {
	rows := strings.TrimSuffix(strings.Repeat("[1, 16, 1048576, 1], ", 70), ", ")
	return map[string]string{
		"rows":    `{"arch": "mobilenetv2", "inverted_residual_setting": [` + rows + `]}`,
		"input":   `{"arch": "mobilenetv2", "input": [3, 16384, 16384], "preprocess": {}}`,
		"widths":  `{"arch": "mobilenetv2", "width_mult": 100, "inverted_residual_setting": [[1000, 1048576, 1, 1]]}`,
		"classes": `{"arch": "mobilenetv2", "num_classes": 1000000000000000}`,
		"resnet":  `{"arch": "resnet", "block": "basic", "layers": [1000, 1000, 1000, 1000]}`,
		"planes":  `{"arch": "resnet", "block": "bottleneck", "layers": [3, 4, 6, 3], "widths": [16384, 16384, 16384, 16384], "width_per_group": 4096}`,
	}
}

// TestDescriptionHostileSizes checks that each of hostileDescriptions is
// refused, saying the numbers, before its graph's size is allocated.
func TestDescriptionHostileSizes(t *testing.T) {
	want := map[string]string{
		"rows":    "inverted_residual_setting asks for 73400320 blocks in all, more than the limit of 1364 (16384 layers)",
		"input":   "the input [3 16384 16384] has 8.05e+08 elements per sample, more than the limit of 6.71e+07",
		"widths":  "the output of features.1.conv.0.0 has 4.01e+10 elements per sample, more than the limit of 6.71e+07",
		"classes": "the output of classifier.1 has 1e+15 elements per sample",
		"resnet":  "layers asks for 4000 blocks in all, more than the limit of 1364",
		"planes":  "more than the limit of",
	}
	for name, desc := range hostileDescriptions() {
		var err error
		n := allocated(func() {
			var d *ir.Description
			if d, err = ParseDescription([]byte(desc)); err == nil {
				_, err = ir.Build(d)
			}
		})
		if err == nil || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, want[name])
		}
		if n > 16<<20 {
			t.Errorf("%s: refusing a %d-byte description allocated %d bytes", name, len(desc), n)
		}
	}
}
