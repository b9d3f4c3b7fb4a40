package ptq

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/testenv"
)

// TestQParamsGolden pins, by hash, every qparam, multiplier and bias the
// bundled models quantize to (histogram and min/max observers, a batch size
// that does not divide the samples, bias correction, equalization) and a
// report: the float path may change how it computes (image by image, on
// several cores) but never what the observers, bias correction and report
// see. The hashes were taken from the layer-by-layer float path (commit
// 9820613) before it changed; a change to the file format or the converter
// changes them too, for a reason the diff will show.
func TestQParamsGolden(t *testing.T) {
	testenv.SkipShort(t, "quantizes the bundled models 15 times")
	calib := filepath.Join(bundled, "calib_images.npy")
	cases := []struct {
		name string
		o    Options
	}{
		{"fbgemm", Options{QConfig: "fbgemm"}},
		{"default", Options{QConfig: "default"}},
		{"qnnpack-b7", Options{QConfig: "qnnpack", CalibBatch: 7, CalibLimit: 100}},
		{"x86-bc", Options{QConfig: "x86", BiasCorrect: true}},
		{"fbgemm-eq-bc", Options{QConfig: "fbgemm", Equalize: true, BiasCorrect: true}},
	}
	got := map[string]string{}
	for _, dir := range []string{bundled, alt, resnetFMNIST} {
		for _, c := range cases {
			o := c.o
			o.Model, o.Calib = filepath.Join(dir, "model.json"), calib
			m, g, x, err := QuantizeFloat(o)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(dir) + "/" + c.name
			got[name] = hashJSON(t, struct {
				Tensors []*compiler.Tensor
				Nodes   []*compiler.Node
			}{m.Tensors, m.Nodes})
			if c.name == "fbgemm" {
				reps, err := Report(m, g, x, len(x)/g.Tensors[g.Input].Elems(), nil)
				if err != nil {
					t.Fatal(err)
				}
				got[name+"/report"] = hashJSON(t, reps)
			}
		}
	}
	if diff := cmp.Diff(qparamsGolden, got); diff != "" {
		t.Errorf("hashes (-want +got):\n%s", diff)
	}
}

func hashJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

var qparamsGolden = map[string]string{
	"mobilenetv2_fmnist/default":           "da291f35a769d316f7e9cd5b6571d417b1c2a4b161658d30c4594070b0736896",
	"mobilenetv2_fmnist/fbgemm":            "19eccf1f0abc2ea3e7af72b8d6828bb3742cb1cd0a361f0450778e8bf32659e1",
	"mobilenetv2_fmnist/fbgemm-eq-bc":      "2f500b5790100869ea268bcf0f08a93857bf7b4aa9d6500114747d5d380a726b",
	"mobilenetv2_fmnist/fbgemm/report":     "12f2b2d4fbd79647856449ab77b2d0c18ad69d1d32b890ef9f2bbeeda084b3fd",
	"mobilenetv2_fmnist/qnnpack-b7":        "f3785e7d11300c4a005454a303fb61cb9f283c5f8abdaafdedd801747b199061",
	"mobilenetv2_fmnist/x86-bc":            "2f500b5790100869ea268bcf0f08a93857bf7b4aa9d6500114747d5d380a726b",
	"mobilenetv2_fmnist_alt/default":       "1b9d84d34024f552b0b949930e45aa36cbe61c1ff10777b7df22090be6778b5f",
	"mobilenetv2_fmnist_alt/fbgemm":        "51b4ea731683ada0f25cebf550d6624f34d4a66b40de14cb547303ce9306e941",
	"mobilenetv2_fmnist_alt/fbgemm-eq-bc":  "ef728a422da3a50bfe0d5e88d1318695a90bf24c21d4169212b9de5f0480102e",
	"mobilenetv2_fmnist_alt/fbgemm/report": "a7402a269775173180ec284d795138af4152ffcfd0331b1bc2cf490fdbc84b60",
	"mobilenetv2_fmnist_alt/qnnpack-b7":    "a3519fc835aeb67b65c87536bfb186f529a1c1c4dc666d91628925d81464f3a4",
	"mobilenetv2_fmnist_alt/x86-bc":        "ef728a422da3a50bfe0d5e88d1318695a90bf24c21d4169212b9de5f0480102e",
	"resnet_fmnist/default":                "9c747872219d1dc478859129e66f16577f149045cbde5dbfd5ae9df5cc01357d",
	"resnet_fmnist/fbgemm":                 "e8213f113c7098f0c346843c135febccf8fd6018dc33882441abe3dc074b2ba4",
	"resnet_fmnist/fbgemm-eq-bc":           "8e8bdf2bde4136c75111d38b513c26b452c7eeba7fc592795eda344ab8cf6dc1",
	"resnet_fmnist/fbgemm/report":          "bad8e67175d484b665cf8978a4da20f0ff90852d00d94b2373c7c5f001751835",
	"resnet_fmnist/qnnpack-b7":             "65e2d3e5b7e978ff8456a4a44426e4865b57505aef0f2ea1e8df6359297ffc63",
	"resnet_fmnist/x86-bc":                 "a683ae49ca49e8e7d739059775e12533e5c24d3e156df926ec3b0ee3bae159be",
}
