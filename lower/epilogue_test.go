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

// TestFuseTables: a per-tensor table fuses into the conv that alone feeds
// it; not a per-channel one, not after a conv whose output has another
// reader, not after a layer without a conv epilogue, and at most one per conv.
func TestFuseTables(t *testing.T) {
	ts := make([]*compiler.Tensor, 12)
	for i := range ts {
		ts[i] = &compiler.Tensor{ID: i}
	}
	layer := func(name string, k Kind, in []int, out int) *Layer {
		nd := &compiler.Node{Name: name, In: in, Out: out}
		if k == Table {
			nd.Table = &compiler.Table{T: make([]uint8, 256)}
		}
		return &Layer{Node: nd, Kind: k, X: ts[in[0]], Y: ts[out]}
	}
	perChan := layer("affine", Table, []int{5}, 6)
	perChan.Node.Table.T = make([]uint8, 256*4)
	ls := []*Layer{
		layer("pw", Pointwise, []int{0}, 1),
		layer("silu", Table, []int{1}, 2), // fuses into pw
		layer("dw", Depthwise, []int{2}, 3),
		layer("hs", Table, []int{3}, 4),  // fuses into dw
		layer("hs2", Table, []int{4}, 5), // dw has one already: stays
		layer("conv", Dense, []int{5}, 11),
		perChan,                           // per channel: stays
		layer("add", Add, []int{6, 6}, 7), // no epilogue
		layer("sig", Table, []int{7}, 8),  // after an add: stays
		layer("pw2", Pointwise, []int{8}, 9),
		layer("lrelu", Table, []int{9}, 10), // pw2's output is read twice: stays
		layer("mul", Mul, []int{9, 10}, 0),
	}
	var got []string
	for _, l := range fuseTables(ls) {
		s := l.Node.Name
		if l.Epi != nil {
			s += "+" + l.Epi.Node.Name
			if l.Y != ts[l.Epi.Node.Out] || l.ReqY() != ts[l.Node.Out] {
				t.Errorf("%s: writes tensor %d, requantizes to %d", s, l.Y.ID, l.ReqY().ID)
			}
		}
		got = append(got, s)
	}
	want := []string{"pw+silu", "dw+hs", "hs2", "conv", "affine", "add", "sig", "pw2", "lrelu", "mul"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
}
