package ir

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResNetGraph(t *testing.T) {
	d := &Description{Arch: "resnet", Block: "basic", Layers: []int{2, 1, 1, 1}, Widths: []int{4, 8, 8, 16}, WidthPerGroup: 64, Groups: 1,
		NumClasses: 3, Input: []int{3, 32, 32}, Mean: []float32{0, 0, 0}, Std: []float32{1, 1, 1}, Weights: "model.safetensors"}
	g := randomGraph(t, d, 5)
	var b bytes.Buffer
	if err := Print(&b, Fuse(g)); err != nil {
		t.Fatal(err)
	}
	// Compared with runs of spaces as one: the name column's width varies.
	printHas(t, strings.Join(strings.Fields(b.String()), " "),
		"(conv1): ConvReLU2d(3, 4, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=True) -> [4 16 16]",
		"(maxpool): MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False) -> [4 8 8]",
		"(layer1.1.add_relu): FloatFunctional(add_relu) -> [4 8 8]",
		"(layer2.0.downsample.0): Conv2d(4, 8, kernel_size=(1, 1), stride=(2, 2), bias=True) -> [8 4 4]",
		"(layer4.0.add_relu): FloatFunctional(add_relu) -> [16 1 1]",
		"(fc): Linear(in_features=16, out_features=3, bias=True) -> [3]",
	)
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
	MaxPool(&Window{KH: 3, KW: 3, SH: 2, SW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, DH: 1, DW: 1}, 4, 5, in, 2, 3, out)
	if diff := cmp.Diff([]float32{-1, -2, -4, -6, -7, -9}, out); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
