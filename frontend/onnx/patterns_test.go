package onnx

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/ir"
)

// TestPatterns: the forms torchvision's families take in ONNX
// (tools/onnx_patterns.py: channel shuffle, chunk, squeeze-excitation,
// hardswish, SiLU, rectangular, grouped, dilated and padded convs, pools in
// ceil mode, arithmetic by constants, the activations of hand-written CNNs),
// exported with a dynamic batch at
// opsets 13 and 17, give PyTorch's logits within 1e-5 relative, unfused on
// the reference interpreter and fused on the compiled program.
func TestPatterns(t *testing.T) {
	dir := filepath.Join(testdata, "onnx_patterns")
	shape, x := readNpy(t, filepath.Join(dir, "input.npy"))
	for _, name := range []string{"shuffle", "mobilev3", "efficient", "geometry", "logsoftmax", "softmax", "acts", "spatial", "selinear", "cbam", "acts2", "eca"} {
		ws, want := readNpy(t, filepath.Join(dir, name+"_logits.npy"))
		for _, opset := range []int{13, 17} {
			t.Run(fmt.Sprintf("%s/opset%d", name, opset), func(t *testing.T) {
				g, err := Import(readOpset(t, filepath.Join(dir, fmt.Sprintf("%s_op%d.onnx", name, opset)), opset))
				if err != nil {
					t.Fatal(err)
				}
				closeBoth(t, g, x, shape[0], want, ws[1], 1e-5)
			})
		}
	}
}

// TestPatternOps: the spelled-out forms import as one op each (acts2: both
// GELUs, Softsign's x/(1+|x|), the difference and its ReLU), and an Erf
// outside them stays an Erf.
func TestPatternOps(t *testing.T) {
	dir := filepath.Join(testdata, "onnx_patterns")
	for _, opset := range []int{13, 17} {
		g, err := Import(readOpset(t, filepath.Join(dir, fmt.Sprintf("acts2_op%d.onnx", opset)), opset))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, n := range g.Nodes {
			name := n.Op.String()
			if n.Act != ir.ActNone {
				name += "+act"
			}
			got[name]++
		}
		want := map[string]int{"Quant": 1, "Conv2d": 4, "SELU": 1, "CELU": 1, "Add": 1, "GELU": 2, "Softsign": 1,
			"Abs": 1, "Affine": 1, "Sub": 1, "Sub+act": 1, "Erf": 1, "Mean": 1, "Linear": 1, "DeQuant": 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("opset %d: ops (-want +got):\n%s", opset, diff)
		}
	}
}
