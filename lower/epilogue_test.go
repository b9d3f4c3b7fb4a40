package lower

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ir"
	"github.com/ptqc/ptqc/ptq"
)

// TestEfficientNetTables: every table of the trained EfficientNet-B0
// (testdata/fmnist_zoo), a SiLU after each conv and a sigmoid after each
// squeeze-excitation's second conv, is applied in its conv's epilogue (not
// on the amx tier's tiles), and the layers reading a table's output read the
// conv's.
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
		if l.Epi != nil && l.Epi.T != nil {
			got[l.Epi.Node.Table.Op]++
			if l.Y.ID != l.Epi.Node.Out || l.ReqY().ID != l.Node.Out || !epiKind(l.Kind) {
				t.Errorf("%s (%s): writes tensor %d, requantizes to %d", l.Node.Name, l.Kind, l.Y.ID, l.ReqY().ID)
			}
			if l.Tile {
				t.Errorf("%s: a tile program with an epilogue table", l.Node.Name)
			}
		}
		for _, id := range l.reads() {
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

// TestFuseAdds: an add fuses into the later producer of its inputs where
// that is a pointwise or dense conv whose output nothing else reads and
// which has no table; the conv's own operand keeps its multiplier.
func TestFuseAdds(t *testing.T) {
	ts := make([]*compiler.Tensor, 18)
	for i := range ts {
		ts[i] = &compiler.Tensor{ID: i}
	}
	layer := func(name string, k Kind, in []int, out int) *Layer {
		nd := &compiler.Node{Name: name, In: in, Out: out}
		l := &Layer{Node: nd, Kind: k, X: ts[in[0]], Y: ts[out]}
		if k == Add {
			nd.Add = &compiler.Add{MA: 1, MB: 2}
			l.X2 = ts[in[1]]
		}
		if k == Table {
			nd.Table = &compiler.Table{T: make([]uint8, 256)}
		}
		return l
	}
	ls := []*Layer{
		layer("q", Quantize, []int{15}, 0),
		layer("pw", Pointwise, []int{0}, 1),
		layer("conv", Dense, []int{1}, 2),
		layer("add", Add, []int{2, 0}, 3), // into conv (its first input)
		layer("down", Pointwise, []int{3}, 4),
		layer("pw2", Pointwise, []int{3}, 5),
		layer("add2", Add, []int{4, 5}, 6), // into pw2, the later (second input)
		layer("dw", Depthwise, []int{6}, 7),
		layer("add3", Add, []int{7, 6}, 8), // depthwise: stays
		layer("pw3", Pointwise, []int{8}, 9),
		layer("add4", Add, []int{9, 9}, 10), // pw3's output read twice: stays
		layer("pw4", Pointwise, []int{10}, 11),
		layer("silu", Table, []int{11}, 12),   // into pw4
		layer("add5", Add, []int{12, 10}, 13), // pw4 has a table: stays
		layer("sl", Slice, []int{13}, 14),
		layer("pw5", Pointwise, []int{13}, 16),
		layer("add6", Add, []int{16, 14}, 17), // the other input may become a view: stays
	}
	var got []string
	for _, l := range fuseAdds(fuseTables(ls)) {
		s := l.Node.Name
		if e := l.Epi; e != nil {
			s += "+" + e.Node.Name
			if e.T == nil {
				s += fmt.Sprintf("(res %d, %v %v)", e.Res.ID, e.MA, e.MB)
			}
			if l.Y != ts[e.Node.Out] || l.ReqY() != ts[l.Node.Out] {
				t.Errorf("%s: writes tensor %d, requantizes to %d", s, l.Y.ID, l.ReqY().ID)
			}
		}
		got = append(got, s)
	}
	want := []string{"q", "pw", "conv+add(res 0, 1 2)", "down", "pw2+add2(res 4, 2 1)", "dw", "add3", "pw3", "add4",
		"pw4+silu", "add5", "sl", "pw5", "add6"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
}

// TestAddEpilogues: every add of the trained ResNet and MobileNetV2 whose
// later input is a conv's is in that conv's epilogue, and the memory plan
// keeps the other input's bytes from its producer through the conv.
func TestAddEpilogues(t *testing.T) {
	for _, name := range []string{"resnet_fmnist", "mobilenetv2_fmnist"} {
		m, err := ptq.Quantize(ptq.Options{Model: filepath.Join("..", "testdata", name, "model.json"),
			QConfig: "fbgemm", Calib: filepath.Join("..", "testdata", "mobilenetv2_fmnist", "calib_images.npy"), CalibLimit: 8})
		if err != nil {
			t.Fatal(err)
		}
		adds := 0
		for _, nd := range m.Nodes {
			if nd.Kind == compiler.KAdd {
				adds++
			}
		}
		lm, err := Lower(m)
		if err != nil {
			t.Fatal(err)
		}
		fused := 0
		def := map[int]int{}
		for i, l := range lm.Layers {
			if l.Kind == Add {
				t.Errorf("%s: %s left as a layer", name, l.Node.Name)
			}
			def[l.Y.ID] = i
			e := l.Epi
			if e == nil || e.Res == nil {
				continue
			}
			fused++
			n := l.YD.Elems()
			if e.Res.Elems() != n {
				t.Fatalf("%s: %s adds %d bytes to %d", name, l.Node.Name, e.Res.Elems(), n)
			}
			overlaps := func(off int) bool { return off < e.ResOff+n && e.ResOff < off+n }
			if overlaps(l.YOff) {
				t.Errorf("%s: %s writes [%d, +%d) over its add's operand at %d", name, l.Node.Name, l.YOff, n, e.ResOff)
			}
			for _, w := range lm.Layers[def[e.Res.ID]+1 : i] {
				if w.Kind != Dequantize && overlaps(w.YOff) && w.YD.Elems() > 0 {
					t.Errorf("%s: %s writes [%d, +%d) before %s reads its add's operand there", name, w.Node.Name, w.YOff, w.YD.Elems(), l.Node.Name)
				}
			}
		}
		if fused == 0 || fused != adds {
			t.Errorf("%s: %d of %d adds in an epilogue", name, fused, adds)
		}
	}
}
