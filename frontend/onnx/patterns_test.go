package onnx

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestPatterns: the forms torchvision's families take in ONNX
// (tools/onnx_patterns.py: channel shuffle, chunk, squeeze-excitation,
// hardswish, SiLU, rectangular, grouped, dilated and padded convs, pools in
// ceil mode, arithmetic by constants), exported with a dynamic batch at
// opsets 13 and 17, give PyTorch's logits within 1e-5 relative, unfused on
// the reference interpreter and fused on the compiled program.
func TestPatterns(t *testing.T) {
	dir := filepath.Join(testdata, "onnx_patterns")
	shape, x := readNpy(t, filepath.Join(dir, "input.npy"))
	for _, name := range []string{"shuffle", "mobilev3", "efficient", "geometry", "logsoftmax", "softmax", "acts", "spatial", "selinear", "cbam"} {
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
