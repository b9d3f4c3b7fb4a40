package onnx

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/ir"
)

// familyManifest is testdata/families/families.json, which
// tools/families/export.py writes with the fixtures it describes.
type familyManifest struct {
	Models     []familyModel `json:"models"`
	OutOfScope []familyModel `json:"out_of_scope"`
}

// familyModel is one fixture: a small instance of a torchvision family.
type familyModel struct {
	Name         string                    `json:"name"`
	Dir          string                    `json:"dir"`
	Family       string                    `json:"family"`
	Input        []int                     `json:"input"` // N, C, H, W of input.npy
	NumClasses   int                       `json:"num_classes"`
	Opsets       []int                     `json:"opsets"`
	DynamicBatch bool                      `json:"dynamic_batch"`
	Ops          map[string]map[string]int `json:"ops"` // opset -> op type -> nodes
}

func readFamilies(t *testing.T) *familyManifest {
	t.Helper()
	var m familyManifest
	testenv.ReadJSON(t, filepath.Join(testdata, "families", "families.json"), &m)
	if len(m.Models) == 0 || len(m.OutOfScope) == 0 {
		t.Fatalf("families.json: %d models, %d out of scope", len(m.Models), len(m.OutOfScope))
	}
	return &m
}

// TestFamilies: every torchvision family's fixture, at every opset it was
// exported at, imports and gives PyTorch's logits within 1e-4, through the
// reference interpreter (unfused) and the fused, compiled fast path.
// Relative is per sample: max |got - want| / max(1, max |want|).
func TestFamilies(t *testing.T) {
	for _, f := range readFamilies(t).Models {
		dir := filepath.Join(testdata, "families", f.Dir)
		shape, x := readNpy(t, filepath.Join(dir, "input.npy"))
		_, want := readNpy(t, filepath.Join(dir, "logits.npy"))
		if !ir.EqualShape(shape, f.Input) || len(want) != f.Input[0]*f.NumClasses {
			t.Fatalf("%s: input %v, %d logits; the manifest says %v and %d classes", f.Name, shape, len(want), f.Input, f.NumClasses)
		}
		n := f.Input[0]
		for _, opset := range f.Opsets {
			t.Run(fmt.Sprintf("%s/opset%d", f.Name, opset), func(t *testing.T) {
				path := filepath.Join(dir, fmt.Sprintf("model_op%d.onnx", opset))
				readOpset(t, path, opset)
				d, g, err := Load(path)
				if err != nil {
					t.Fatal(err)
				}
				if !ir.EqualShape(d.Input, f.Input[1:]) || d.NumClasses != f.NumClasses {
					t.Fatalf("input %v and %d classes, want %v and %d", d.Input, d.NumClasses, f.Input[1:], f.NumClasses)
				}
				closeBoth(t, g, x, n, want, f.NumClasses, 1e-4)
			})
		}
	}
}

// TestFamiliesOutOfScope: the families issue 24 leaves out (ConvNeXt, ViT)
// are refused, with an error that names the family, says it is out of
// scope, or names a node of the model by its op type ("(Transpose)").
func TestFamiliesOutOfScope(t *testing.T) {
	for _, f := range readFamilies(t).OutOfScope {
		for _, opset := range f.Opsets {
			t.Run(fmt.Sprintf("%s/opset%d", f.Name, opset), func(t *testing.T) {
				path := filepath.Join(testdata, "families", f.Dir, fmt.Sprintf("model_op%d.onnx", opset))
				_, _, err := Load(path)
				if err == nil {
					t.Fatalf("%s (%s) imported; want a refusal", f.Name, f.Family)
				}
				msg := err.Error()
				ok := strings.Contains(msg, f.Family) || strings.Contains(msg, "out of scope")
				for op := range f.Ops[strconv.Itoa(opset)] {
					ok = ok || strings.Contains(msg, "("+op+")")
				}
				if !ok {
					t.Errorf("error %q names neither %s, \"out of scope\" nor an op of the model", msg, f.Family)
				}
				t.Logf("refused: %v", err)
			})
		}
	}
}
