package frontend

import (
	"testing"

	"github.com/ptqc/ptqc/ir"
)

func FuzzParseDescription(f *testing.F) {
	f.Add([]byte(`{"arch": "mobilenetv2"}`))
	f.Add([]byte(`{"arch": "mobilenetv2", "num_classes": 10, "width_mult": 1.0, "round_nearest": 8,
	 "inverted_residual_setting": [[1,16,1,1],[6,24,2,2],[6,32,3,2],[6,64,4,2],[6,96,3,1],[6,160,3,2],[6,320,1,1]],
	 "input": [3, 32, 32], "mean": [0.286, 0.286, 0.286], "std": [0.353, 0.353, 0.353],
	 "preprocess": {"resize": 0, "crop": 0, "pad": 2}, "weights": "model.safetensors"}`))
	f.Add([]byte(`{"arch": "mobilenetv2", "width_mult": 0.35, "inverted_residual_setting": [[0.5, 8, 1, 2]], "input": [1, 9, 9], "mean": [0], "std": [1], "preprocess": {}}`))
	f.Add([]byte(`{"arch": "resnet", "block": "bottleneck", "layers": [1, 2, 1, 1], "widths": [8, 16, 16, 32], "width_per_group": 32, "input": [3, 32, 32], "mean": [0, 0, 0], "std": [1, 1, 1], "preprocess": {}}`))
	f.Add([]byte(`{"arch": "wide_resnet50_2", "num_classes": 10}`))
	for _, b := range hostileDescriptions() {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDescription(b)
		if err != nil {
			return
		}
		// A valid description builds or fails cleanly: building costs its node
		// count only, which validation bounds, and the graph's work is checked
		// before anything of its size is allocated.
		g, err := ir.Build(d)
		if err != nil {
			return
		}
		if err := g.Work().Check(); err != nil {
			t.Fatalf("Build accepted a graph past the limits: %v", err)
		}
	})
}

// FuzzParsePth reads each input as a file and, so that the unpickler is
// fuzzed past the zip checksums, as the data.pkl of an archive with one
// 6-float storage "0". The seeds are in testdata/fuzz (tools/fuzzcorpus).
func FuzzParsePth(f *testing.F) {
	f.Add([]byte(pthTensorPickle(6, 1, 3, 2)))
	storage := string(stF32Bytes(0, 1, 2, 3, 4, 5))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, pthZip(t, [][2]string{{"data.pkl", string(b)}, {"data/0", storage}, {"version", "3\n"}}, false)} {
			st, err := ParsePth("fuzz.pth", in)
			if err != nil {
				continue
			}
			for k, v := range st.Tensors {
				if _, err := v.stCheck(); err != nil {
					t.Fatalf("tensor %q is inconsistent: %v", k, err)
				}
			}
		}
	})
}
