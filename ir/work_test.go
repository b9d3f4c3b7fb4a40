package ir

import "testing"

// TestWorkOfRealModels checks that torchvision's largest models at 224x224
// stay far below the limits on descriptions (8x or more on each).
func TestWorkOfRealModels(t *testing.T) {
	resnet := func(layers []int, wpg int) *Description {
		return &Description{Arch: "resnet", Block: "bottleneck", Layers: layers, WidthPerGroup: wpg, Groups: 1,
			Widths: []int{64, 128, 256, 512}, NumClasses: 1000, Input: []int{3, 224, 224},
			Mean: []float32{0, 0, 0}, Std: []float32{1, 1, 1}, Weights: "w"}
	}
	for name, d := range map[string]*Description{
		"mobilenet_v2":    DefaultDescription(),
		"resnet152":       resnet([]int{3, 8, 36, 3}, 64),
		"wide_resnet50_2": resnet([]int{3, 4, 6, 3}, 128),
	} {
		g, err := Build(d)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w := g.Work()
		t.Logf("%s: %+v", name, w)
		if w.Nodes*8 > MaxNodes || w.MACs*8 > MaxMACs || w.MaxTensor*8 > MaxTensorElems || w.Activations*8 > MaxActivations {
			t.Errorf("%s: %+v is within 8x of a limit", name, w)
		}
	}
}
