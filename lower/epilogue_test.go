package lower

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ptq"
)

// TestEfficientNetTables: every table of the trained EfficientNet-B0
// (testdata/fmnist_zoo), a SiLU after each conv and a sigmoid after each
// squeeze-excitation's second conv, is applied in its conv's epilogue, and
// the layers reading a table's output read the conv's.
func TestEfficientNetTables(t *testing.T) {
	m, err := ptq.Quantize(ptq.Options{Model: filepath.Join("..", "testdata", "fmnist_zoo", "efficientnet_b0", "model_onnx.json"),
		QConfig: "default", Calib: filepath.Join("..", "testdata", "mobilenetv2_fmnist", "calib_images.npy"), CalibLimit: 8})
	if err != nil {
		t.Fatal(err)
	}
	want := map[ir.Op]int{}
	for _, nd := range m.Nodes {
		if nd.Kind == compiler.KTable {
			want[nd.Table.Op]++
		}
	}
	if want[ir.OpSiLU] == 0 || want[ir.OpSigmoid] == 0 {
		t.Fatalf("tables %v: want SiLUs and sigmoids", want)
	}
	lm, err := Lower(m)
	if err != nil {
		t.Fatal(err)
	}
	got := map[ir.Op]int{}
	written := map[int]bool{m.Input: true}
	for _, l := range lm.Layers {
		if l.Kind == Table {
			t.Errorf("%s: %v table left as a layer", l.Node.Name, l.Node.Table.Op)
		}
		if l.Epi != nil {
			got[l.Epi.Node.Table.Op]++
			if l.Y.ID != l.Epi.Node.Out || l.ReqY().ID != l.Node.Out || !epiKind(l.Kind) {
				t.Errorf("%s (%s): writes tensor %d, requantizes to %d", l.Node.Name, l.Kind, l.Y.ID, l.ReqY().ID)
			}
		}
		for _, id := range l.Node.In {
			if !written[id] {
				t.Errorf("%s reads tensor %d, which no layer before it writes", l.Node.Name, id)
			}
		}
		written[l.Y.ID] = true
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tables fused (-in the model +in epilogues):\n%s", diff)
	}
}
