package lower

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/ir"
)

func TestFirstFit(t *testing.T) {
	for _, c := range []struct {
		name     string
		ts       []interval
		want     []int
		wantPeak int
	}{
		{"one", []interval{{0, 1, 64}}, []int{0}, 64},
		{"chain reuses dead bytes", []interval{{0, 1, 64}, {1, 2, 64}, {2, 3, 64}}, []int{0, 64, 0}, 128},
		{"an input is alive while its reader writes", []interval{{0, 1, 128}, {1, 2, 64}}, []int{0, 128}, 192},
		// x -> expand e -> depthwise d -> add(x, d): x stays alive across the block,
		// the add's output goes where e was.
		{"residual block", []interval{{0, 3, 64}, {1, 2, 384}, {2, 3, 384}, {3, 4, 64}}, []int{0, 64, 448, 64}, 832},
		{"unread output", []interval{{0, 0, 64}, {1, 2, 64}}, []int{0, 0}, 64},
		{"first gap that fits", []interval{{0, 3, 64}, {1, 2, 64}, {2, 4, 64}, {3, 4, 128}, {4, 5, 64}}, []int{0, 64, 128, 192, 0}, 320},
	} {
		offs, peak := firstFit(c.ts)
		if diff := cmp.Diff(c.want, offs); diff != "" || peak != c.wantPeak {
			t.Errorf("%s: peak %d (want %d), offsets (-want +got):\n%s", c.name, peak, c.wantPeak, diff)
		}
	}
}

// TestPlanNoOverlap checks on random models that no tensor shares bytes with
// one alive at the same time.
func TestPlanNoOverlap(t *testing.T) {
	for seed := range uint64(8) {
		m := gentest.RandomModel(t, seed)
		ls, err := layers(m)
		if err != nil {
			t.Fatal(err)
		}
		ls = fuseTables(ls)
		peak, err := plan(ls)
		if err != nil {
			t.Fatal(err)
		}
		last := map[int]int{}
		for i, l := range ls {
			for _, id := range l.Node.In {
				last[id] = i
			}
		}
		type span struct{ def, last, off, end int }
		var ss []span
		for i, l := range ls[:len(ls)-1] {
			ss = append(ss, span{i, max(i, last[l.Y.ID]), l.YOff, l.YOff + l.YD.Elems()})
			if l.YOff%Align != 0 || l.YOff+l.YD.Elems() > peak {
				t.Errorf("model %d layer %d: offset %d size %d in an arena of %d", seed, i, l.YOff, l.YD.Elems(), peak)
			}
		}
		for i, a := range ss {
			for _, b := range ss[i+1:] {
				if a.def <= b.last && b.def <= a.last && a.off < b.end && b.off < a.end {
					t.Errorf("model %d: tensors of layers %d and %d overlap while both alive", seed, a.def, b.def)
				}
			}
		}
	}
}

func TestPack(t *testing.T) {
	// 2 output channels, 3x3, 2 input channels (per group), weights numbered by
	// their OIHW index.
	w := make([]int8, 2*2*9)
	for i := range w {
		w[i] = int8(i)
	}
	conv := &compiler.Conv{InC: 2, OutC: 2, Kernel: 3, Groups: 1, Weight: w}
	gotW, gotB := packConv(conv, 3)
	// Quads (PackDense): one unit of 16 output channels, per tap one quad of
	// 16 x 4 bytes: channel o's inputs 0, 1 at o*4, zero elsewhere.
	wantW := make([]int8, 9*64)
	for tap := range 9 {
		for o := range 2 {
			for i := range 2 {
				wantW[tap*64+o*4+i] = int8((o*2+i)*9 + tap)
			}
		}
	}
	s0, s1 := int32(0), int32(0)
	for i := range 18 {
		s0 += int32(i)
		s1 += int32(18 + i)
	}
	wantB := []int32{-3 * s0, -3 * s1}
	if diff := cmp.Diff(wantW, gotW); diff != "" {
		t.Errorf("packConv weights (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantB, gotB); diff != "" {
		t.Errorf("packConv biases (-want +got):\n%s", diff)
	}
	// A grouped conv (2 groups of 3 -> 2 channels, 1x1) is the dense layer of
	// its span: output channel o's group at 3*(o/2) of 6 channels, zero
	// elsewhere, in quads.
	gw := []int8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	grouped := &compiler.Conv{InC: 6, OutC: 4, Kernel: 1, Groups: 2, Weight: gw}
	gotW, gotB = packGrouped(grouped, 2)
	wantW = make([]int8, 2*64)
	for o := range 4 {
		for i := range 3 {
			s := 3*(o/2) + i
			wantW[s/4*64+o*4+s%4] = gw[o*3+i]
		}
	}
	if diff := cmp.Diff(wantW, gotW); diff != "" {
		t.Errorf("packGrouped (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int32{-2 * 6, -2 * 15, -2 * 24, -2 * 33}, gotB); diff != "" {
		t.Errorf("packGrouped biases (-want +got):\n%s", diff)
	}

	dw := &compiler.Conv{InC: 2, OutC: 2, Kernel: 3, Groups: 2, Weight: w[:18]}
	gotW, _ = packDepthwise(dw, 0)
	wantW = nil
	for tap := range 9 {
		for c := range 2 {
			wantW = append(wantW, int8(c*9+tap))
		}
	}
	if diff := cmp.Diff(wantW, gotW); diff != "" {
		t.Errorf("packDepthwise (-want +got):\n%s", diff)
	}

	pw := &compiler.Conv{InC: 3, OutC: 2, Kernel: 1, Groups: 1, Weight: []int8{1, -2, 3, -128, 127, 0}}
	gotW, gotB = packPointwise(pw, 255)
	wantPW := make([]int8, 64) // one unit of 16, one quad: channel o at o*4
	copy(wantPW, []int8{1, -2, 3, 0, -128, 127, 0, 0})
	if diff := cmp.Diff(wantPW, gotW); diff != "" {
		t.Errorf("packPointwise (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int32{-255 * 2, -255 * (-1)}, gotB); diff != "" {
		t.Errorf("packPointwise biases (-want +got):\n%s", diff)
	}
}

func TestGroupCols(t *testing.T) {
	for _, c := range []struct {
		name              string
		inC, outC, groups int
		want              GroupCols
		narrow            bool
	}{
		{"resnext 32x4d stage 1", 128, 128, 32, GroupCols{Groups: 4, Span: 16, Units: 1, Blocks: 8}, true},
		{"resnext 32x4d stage 2", 256, 256, 32, GroupCols{Groups: 2, Span: 16, Units: 1, Blocks: 16}, false},
		{"resnext 32x4d stage 3", 512, 512, 32, GroupCols{Groups: 1, Span: 16, Units: 1, Blocks: 32}, false},
		{"resnext 32x4d stage 4", 1024, 1024, 32, GroupCols{Groups: 1, Span: 32, Units: 2, Blocks: 32}, false},
		{"regnet width 24", 120, 120, 5, GroupCols{Groups: 2, Span: 48, Units: 3, Blocks: 3}, false},
		{"fewer groups than a unit holds", 6, 4, 2, GroupCols{Groups: 2, Span: 6, Units: 1, Blocks: 1}, false},
		{"channel halving", 128, 64, 64, GroupCols{Groups: 16, Span: 32, Units: 1, Blocks: 4}, false},
		{"last block partial", 120, 120, 12, GroupCols{Groups: 8, Span: 80, Units: 5, Blocks: 2}, false},
		{"8 -> 4 per group", 64, 32, 8, GroupCols{Groups: 4, Span: 32, Units: 1, Blocks: 2}, false},
		{"4 per group, last block of two groups", 24, 24, 6, GroupCols{Groups: 4, Span: 16, Units: 1, Blocks: 2}, false},
		{"12 -> 4 per group", 96, 32, 8, GroupCols{Groups: 4, Span: 48, Units: 1, Blocks: 2}, false},
	} {
		if diff := cmp.Diff(c.want, GroupColsOf(c.inC, c.outC, c.groups)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
		if got := NarrowGroups(c.inC, c.outC, c.groups); got != c.narrow {
			t.Errorf("%s: NarrowGroups %v, want %v", c.name, got, c.narrow)
		}
	}
}

// TestPackNarrow checks PackNarrow against the dense packing of
// ExpandGrouped: the same weight for every output channel, tap and input.
func TestPackNarrow(t *testing.T) {
	const inC, outC, groups, k = 32, 32, 8, 3
	w := make([]int8, outC*4*k*k)
	for i := range w {
		w[i] = int8(i*37 + 11)
	}
	gc := GroupColsOf(inC, outC, groups)
	dense := PackDense(ExpandGrouped(w, inC, outC, groups, k*k), gc.Span, outC, k)
	narrow := PackNarrow(w, outC, k*k)
	if len(narrow) != len(w) {
		t.Fatalf("%d bytes, want %d", len(narrow), len(w))
	}
	sq := Quads(gc.Span)
	for o := range outC {
		u, at := o/16, NarrowCol(o%16) // NarrowCol is its own inverse
		for tap := range k * k {
			for i := range 4 {
				got := narrow[((u*k*k+tap)*16+at)*4+i]
				want := dense[((u*k*k*sq+tap*sq+o/4%4)*16+o%16)*4+i]
				if got != want {
					t.Fatalf("channel %d tap %d input %d: %d, want %d", o, tap, i, got, want)
				}
			}
		}
	}
}

// TestOddGraphKinds makes sure the hand-built graph reaches the general kernels.
func TestOddGraphKinds(t *testing.T) {
	ls, err := layers(gentest.RandomModel(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, l := range ls {
		kinds = append(kinds, l.Kind.String())
	}
	want := []string{"quantize", "conv", "conv", "conv", "conv", "conv", "add", "conv", "dequantize"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
}

// TestPads lowers a hand-made chain and checks the padded layouts: the stem
// conv's input written padded by the quantize, a 1x1 stride-2 conv reading
// the arena in place (channels already at a multiple of 4) or from a copy.
func TestPads(t *testing.T) {
	shapes := [][]int{{3, 8, 8}, {3, 8, 8}, {8, 8, 8}, {8, 4, 4}, {6, 4, 4}, {6, 2, 2}, {6, 2, 2}}
	conv := func(in, out, k, s, p int) *compiler.Conv {
		return &compiler.Conv{InC: in, OutC: out, Kernel: k, Stride: s, Pad: p, Groups: 1, Hi: 255,
			Weight: make([]int8, out*in*k*k), M: make([]float32, out), B: make([]float32, out)}
	}
	m := chainModel(shapes, func(i int) int32 { return int32(10 + i) },
		&compiler.Node{Kind: compiler.KQuantize, Name: "q"},
		&compiler.Node{Kind: compiler.KConv, Name: "stem", Conv: conv(3, 8, 3, 1, 1)},
		&compiler.Node{Kind: compiler.KConv, Name: "down", Conv: conv(8, 8, 1, 2, 0)},
		&compiler.Node{Kind: compiler.KConv, Name: "pw", Conv: conv(8, 6, 1, 1, 0)},
		&compiler.Node{Kind: compiler.KConv, Name: "down6", Conv: conv(6, 6, 1, 2, 0)},
		&compiler.Node{Kind: compiler.KDequantize, Name: "dq"},
	)
	lm, err := Lower(m)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Kind           Kind
		Pad            *Pad
		PadIn, PadCopy bool
		Tile           bool
	}
	var gs []got
	for _, l := range lm.Layers {
		gs = append(gs, got{l.Kind, l.Pad, l.PadIn, l.PadCopy, l.Tile})
	}
	want := []got{
		{Quantize, &Pad{Stride: 4, Border: 1, Z: 11}, false, false, false},
		{Dense, &Pad{Stride: 4, Border: 1, Z: 11}, true, false, false},
		{Dense, &Pad{Stride: 8, Border: 0, Z: 12}, false, false, false},
		{Pointwise, nil, false, false, false}, // 8 channels: not a tile program (Tileable)
		{Dense, &Pad{Stride: 8, Border: 0, Z: 14}, true, true, false},
		{Dequantize, nil, false, false, false},
	}
	if diff := cmp.Diff(want, gs); diff != "" {
		t.Errorf("layouts (-want +got):\n%s", diff)
	}
	if lm.PadBytes != 10*10*4 {
		t.Errorf("PadBytes %d, want %d", lm.PadBytes, 10*10*4)
	}
}

// TestZooKinds lowers every op kind of the imported families (internal/
// gentest's zoo) and checks the kinds they get and a concat's inputs.
func TestZooKinds(t *testing.T) {
	lm, err := Lower(gentest.ZooModel(t, "fbgemm"))
	if err != nil {
		t.Fatal(err)
	}
	got, epi := map[string]Kind{}, map[string]string{}
	for _, l := range lm.Layers {
		got[l.Node.Name] = l.Kind
		if l.Epi != nil {
			epi[l.Node.Name] = l.Epi.Node.Name
		}
		if l.Kind == Concat {
			if len(l.Xs) != len(l.Node.In) || len(l.XsOff) != len(l.Xs) || l.Xs[0] != l.X {
				t.Errorf("concat: %d inputs, %d offsets", len(l.Xs), len(l.XsOff))
			}
		}
		if l.Node.Name == "stem" {
			// A 1x3 stride 1x2 window with pads 1 left and right: the dense
			// kernels' padded input, a border of 1 written by the Quantize.
			if !l.Windowed() || l.Pad == nil || l.Pad.Border != 1 || !l.PadIn || l.PadCopy || len(l.W) != 16*3*4 {
				t.Errorf("stem: windowed %v, pad %+v (in %v, copy %v), %d weight bytes", l.Windowed(), l.Pad, l.PadIn, l.PadCopy, len(l.W))
			}
		}
		if l.Kind == Table && len(l.W) != len(l.Node.Table.T) {
			t.Errorf("%s: %d table bytes packed, want %d", l.Node.Name, len(l.W), len(l.Node.Table.T))
		}
	}
	// The tables after a conv read by nothing else are its epilogues, and
	// so is a subtraction from its output.
	want := map[string]Kind{"quant": Quantize, "stem": Dense, "grouped": Grouped, "se.pool": Mean,
		"se.fc1": Pointwise, "e": Slice, "cat2": Concat, "se.fc2": Pointwise, "se.mul": Mul, "sa.max": ChannelMax, "sa.mean": Pointwise, "sa.cat": Concat, "sa": Dense, "sa.mul": Mul, "a": Depthwise, "b": Slice,
		"b.lrelu": Table, "b.prelu": Table, "c": Table, "d": Mul, "d.tanh": Table, "d.elu": Table, "d.sub": Add, "d.abs": Table, "d.erf": Table, "d.gelu": Table, "b.selu": Table, "b.celu": Table, "b.softsign": Table, "e.clip": Table, "a.silu": Table, "a.mish": Table, "cat": Concat, "shuffle": Shuffle, "bn": Table, "maxpool": MaxPool, "pool.relu6": Table, "rectpool": MaxPool,
		"avgpool": AvgPool, "dilated": Grouped, "widen": Pointwise, "sub.conv": Pointwise, "regnet": Grouped, "resnext": Grouped, "head": Dense, "dequant": Dequantize}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"grouped": "hs", "se.fc2": "se.hsig", "a": "a.softplus", "sa": "sa.sig", "sub.conv": "sub"}, epi); diff != "" {
		t.Errorf("epilogue tables (-want +got):\n%s", diff)
	}
}

// TestRefused: malformed nodes of the new kinds are refused by name, not
// lowered wrongly.
func TestRefused(t *testing.T) {
	geom := ir.Window{KH: 1, KW: 3, SH: 1, SW: 1, PadL: 1, PadR: 1, DH: 1, DW: 1}
	conv := func(w ir.Window, n int) *compiler.Conv {
		return &compiler.Conv{InC: 3, OutC: 3, Groups: 1, Geom: &w, Hi: 255, Weight: make([]int8, n), M: make([]float32, 3), B: make([]float32, 3)}
	}
	for _, c := range []struct {
		node *compiler.Node
		out  []int
		want string
	}{
		{&compiler.Node{Kind: compiler.KTable, Table: &compiler.Table{T: make([]uint8, 255)}}, nil, "table of 255 entries"},
		{&compiler.Node{Kind: compiler.KTable}, nil, "table missing"},
		{&compiler.Node{Kind: compiler.KConv, Conv: conv(geom, 26)}, nil, "26 weights"},
		{&compiler.Node{Kind: compiler.KConv, Conv: conv(geom, 27)}, []int{3, 4, 3}, "does not map"},
		{&compiler.Node{Kind: compiler.KConv, Conv: conv(ir.Window{KH: 1, KW: 65, SH: 1, SW: 1, DH: 1, DW: 1}, 3*3*65)}, nil, "must be in [1, 64]"},
		{&compiler.Node{Kind: compiler.KMaxPool, Pool: &compiler.Pool{Geom: &ir.Pool{Window: ir.SquareWindow(3, 2, 0), Ceil: true}}}, []int{3, 1, 1}, "pool"},
		{&compiler.Node{Kind: compiler.KAvgPool, Pool: &compiler.Pool{Geom: &ir.Pool{Window: ir.Window{KH: 2, KW: 2, SH: 1, SW: 1, DH: 2, DW: 1}}}}, []int{3, 2, 3}, "average pool with dilation"},
		{&compiler.Node{Kind: compiler.KAvgPool, Pool: &compiler.Pool{Geom: &ir.Pool{Window: ir.Window{KH: 1025, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1}}}}, nil, "kernel must be in [1, 1024]"},
		{&compiler.Node{Kind: compiler.KSlice, Slice: &ir.Slice{Start: 2, End: 4}}, []int{2, 4, 4}, "slice"},
		{&compiler.Node{Kind: compiler.KShuffle, Perm: []int{0, 1, 1}}, nil, "not a permutation"},
		{&compiler.Node{Kind: compiler.KConcat, Concat: &compiler.Concat{M: []float32{0}}}, []int{4, 4, 4}, "concat of 3 channels"},
		{&compiler.Node{Kind: compiler.KConcat, Concat: &compiler.Concat{}}, nil, "multiplier per input"},
	} {
		m := &compiler.Model{Desc: ir.DefaultDescription(), Input: 0, Output: 3}
		m.Desc.Input = []int{3, 4, 4}
		for i := range 4 {
			m.Tensors = append(m.Tensors, &compiler.Tensor{ID: i, Shape: []int{3, 4, 4}, Scale: 0.1, Zero: 10})
		}
		if c.out != nil {
			m.Tensors[2].Shape, m.Tensors[3].Shape = c.out, c.out
		}
		c.node.Name, c.node.In, c.node.Out = "x", []int{1}, 2
		m.Nodes = []*compiler.Node{
			{Kind: compiler.KQuantize, Name: "q", In: []int{0}, Out: 1},
			c.node,
			{Kind: compiler.KDequantize, Name: "dq", In: []int{2}, Out: 3},
		}
		_, err := Lower(m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.node.Kind, err, c.want)
		}
	}
}

func TestPackGroupedWindow(t *testing.T) {
	// 4 output channels in 2 groups, 2 input channels per group, a 1x2
	// window: one unit of 16 columns, a quad of the 4 span channels per tap,
	// weights numbered by their OIHW index, zero outside a channel's group.
	w := make([]int8, 4*2*2)
	for i := range w {
		w[i] = int8(i + 1)
	}
	geom := ir.Window{KH: 1, KW: 2, SH: 1, SW: 1, DH: 1, DW: 1}
	gotW, gotB := packGrouped(&compiler.Conv{InC: 4, OutC: 4, Groups: 2, Geom: &geom, Weight: w}, 2)
	wantW := make([]int8, 2*64)
	for o := range 4 {
		for tap := range 2 {
			for i := range 2 {
				wantW[tap*64+o*4+o/2*2+i] = int8((o*2+i)*2 + tap + 1)
			}
		}
	}
	if diff := cmp.Diff(wantW, gotW); diff != "" {
		t.Errorf("packGrouped (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int32{-2 * 10, -2 * 26, -2 * 42, -2 * 58}, gotB); diff != "" {
		t.Errorf("packGrouped biases (-want +got):\n%s", diff)
	}
}

// TestHasAsm: every kind but the final dequantize has assembly; average
// pools, dilated max pools, slices and channel gathers no longer run
// portable Go on the assembly tiers.
func TestHasAsm(t *testing.T) {
	got := map[Kind]bool{}
	for k := Quantize; k <= WindowPool; k++ {
		if !k.HasAsm() {
			got[k] = true
		}
	}
	if diff := cmp.Diff(map[Kind]bool{Dequantize: true}, got); diff != "" {
		t.Errorf("kinds without assembly (-want +got):\n%s", diff)
	}
}

func TestTileable(t *testing.T) {
	for _, c := range []struct {
		k    Kind
		cin  int
		want bool
	}{
		{Pointwise, 16, false}, {Pointwise, 32, false}, {Pointwise, 33, true}, {Pointwise, 64, true},
		{Dense, 3, false}, {Dense, 28, false}, {Dense, 29, true}, {Dense, 32, true},
		{Depthwise, 64, false}, {Grouped, 128, false},
	} {
		if got := Tileable(c.k, c.cin); got != c.want {
			t.Errorf("Tileable(%s, %d) = %t, want %t", c.k, c.cin, got, c.want)
		}
	}
}

// TestStemTiles checks which stems (Im2col layers) Lower makes tile
// programs: those whose patch fills more than half a tile row.
func TestStemTiles(t *testing.T) {
	for _, c := range []struct {
		cin, k int
		want   bool
	}{{3, 7, true}, {3, 5, true}, {3, 3, false}, {4, 3, true}, {1, 5, false}, {2, 5, true}} {
		shapes := [][]int{{c.cin, 16, 16}, {c.cin, 16, 16}, {8, 8, 8}, {8, 8, 8}}
		m := chainModel(shapes, func(int) int32 { return 3 },
			&compiler.Node{Kind: compiler.KQuantize, Name: "q"},
			&compiler.Node{Kind: compiler.KConv, Name: "stem", Conv: &compiler.Conv{InC: c.cin, OutC: 8, Kernel: c.k, Stride: 2, Pad: (c.k - 1) / 2,
				Groups: 1, Hi: 255, Weight: make([]int8, 8*c.cin*c.k*c.k), M: make([]float32, 8), B: make([]float32, 8)}},
			&compiler.Node{Kind: compiler.KDequantize, Name: "dq"},
		)
		lm, err := Lower(m)
		if err != nil {
			t.Fatal(err)
		}
		if l := lm.Layers[1]; !l.Im2col || l.Tile != c.want {
			t.Errorf("%d channels %dx%d: im2col %v, tile %v, want tile %v", c.cin, c.k, c.k, l.Im2col, l.Tile, c.want)
		}
	}
}

// chainModel is a model of nodes in a chain, node i reading tensor i and
// writing tensor i+1, of the shapes given (scale 0.1, zero point zero(i)).
func chainModel(shapes [][]int, zero func(i int) int32, nodes ...*compiler.Node) *compiler.Model {
	m := &compiler.Model{Desc: ir.DefaultDescription(), Input: 0, Output: len(shapes) - 1, Nodes: nodes}
	m.Desc.Input = shapes[0]
	for i, s := range shapes {
		m.Tensors = append(m.Tensors, &compiler.Tensor{ID: i, Shape: s, Scale: 0.1, Zero: zero(i)})
	}
	for i, nd := range nodes {
		nd.In, nd.Out = []int{i}, i+1
	}
	return m
}
