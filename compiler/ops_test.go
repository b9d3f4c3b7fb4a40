package compiler

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/internal/zoo"
	"github.com/ptqc/ptqc/ir"
)

// zooModel is zoo.Graph calibrated (fbgemm, zoo.Calibrated) and converted;
// it returns the model, the float graph and 16 samples.
func zooModel(tb testing.TB) (*Model, *ir.Graph, []float32) {
	tb.Helper()
	g, d, cal, x, err := zoo.Calibrated("fbgemm")
	if err != nil {
		tb.Fatal(err)
	}
	m, err := Convert(d, g, cal)
	if err != nil {
		tb.Fatal(err)
	}
	return m, g, x
}

func TestInt8OfZooOps(t *testing.T) {
	m, g, x := zooModel(t)
	if diff := cmp.Diff([]int{6}, g.Tensors[g.Output].Shape); diff != "" {
		t.Fatalf("output shape (-want +got):\n%s", diff)
	}
	for name, want := range map[string]Kind{"hs": KTable, "se.pool": KAvgPool, "se.hsig": KTable, "se.mul": KMul, "a.silu": KTable,
		"b": KSlice, "cat": KConcat, "shuffle": KShuffle, "bn": KTable, "maxpool": KMaxPool, "avgpool": KAvgPool,
		"pool.relu6": KTable, "head": KConv, "a.softplus": KTable, "a.mish": KTable, "b.prelu": KTable, "d.tanh": KTable,
		"d.elu": KTable, "e.clip": KTable, "sa.max": KChannelMax, "sa.mul": KMul} { // a linear layer on a 12x2x3 map: the 2x3 conv
		if got := m.Node(name).Kind; got != want {
			t.Errorf("%s: kind %s, want %s", name, got, want)
		}
	}
	if hs := m.Tensors[m.Node("se.hsig").Out]; hs.Scale != 1.0/256 || hs.Zero != 0 {
		t.Errorf("hardsigmoid qparams %v/%d, want PyTorch's fixed 1/256, 0", hs.Scale, hs.Zero)
	}
	if r, p := m.Tensors[m.Node("sa.max").Out], m.Tensors[m.Node("se.mul").Out]; r.Scale != p.Scale || r.Zero != p.Zero {
		t.Errorf("channel max qparams %v/%d, want its input's %v/%d", r.Scale, r.Zero, p.Scale, p.Zero)
	}
	if th := m.Tensors[m.Node("d.tanh").Out]; th.Scale != 2.0/256 || th.Zero != 128 {
		t.Errorf("tanh qparams %v/%d, want PyTorch's fixed 2/256, 128", th.Scale, th.Zero)
	}
	if n := len(m.Node("b.prelu").Table.T); n != 4*256 {
		t.Errorf("prelu: a table of %d bytes, want one per channel", n)
	}
	if r, p := m.Tensors[m.Node("e.clip").Out], m.Tensors[m.Node("cat2").Out]; r.Scale != p.Scale || r.Zero != p.Zero {
		t.Errorf("clip qparams %v/%d, want its input's %v/%d", r.Scale, r.Zero, p.Scale, p.Zero)
	}
	if r, p := m.Tensors[m.Node("pool.relu6").Out], m.Tensors[m.Node("maxpool").Out]; r.Scale != p.Scale || r.Zero != p.Zero {
		t.Errorf("standalone relu6 qparams %v/%d, want its input's %v/%d", r.Scale, r.Zero, p.Scale, p.Zero)
	}
	f, err := ir.Reference(g, x, 16, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Run(m, x, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The int8 logits follow the float ones within a few output steps.
	step := m.Tensors[m.Node("head").Out].Scale
	var worst float64
	for i := range f {
		worst = max(worst, math.Abs(float64(q[i]-f[i]))/step)
	}
	t.Logf("largest int8 - float difference: %.2f output steps", worst)
	if worst > 8 {
		t.Errorf("int8 logits %.1f steps from float (want <= 8)", worst)
	}
	// The zoo ends in a LogSoftmax, which the Dequantize applies.
	if sm := m.Nodes[len(m.Nodes)-1].Softmax; sm != "log_softmax" {
		t.Errorf("dequantize's softmax %q, want log_softmax", sm)
	}
	for s := range 16 {
		var sum float64
		for _, v := range q[6*s : 6*s+6] {
			sum += math.Exp(float64(v))
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("sample %d: probabilities sum to %v", s, sum)
		}
	}
	// The .ptqm round trip keeps every parameter.
	q2, err := Run(roundTrip(t, m), x, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(q, q2); diff != "" {
		t.Errorf("decoded model differs (-before +after):\n%s", diff)
	}
}

// TestTableAffineFile: an affine's table keeps its arithmetic through a
// .ptqm, the arithmetic gives the table, and a file whose arithmetic does not
// (kernels compute the one, the portable Go looks up the other) is refused.
func TestTableAffineFile(t *testing.T) {
	m, _, _ := zooModel(t)
	bn := m.Node("bn").Table
	if bn.Affine == nil || bn.Affine.Act != ir.ActReLU {
		t.Fatalf("bn's table: affine %+v, want one with its ReLU", bn.Affine)
	}
	back := roundTrip(t, m).Node("bn").Table
	if diff := cmp.Diff(bn, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	bn.Affine.Shift[5] += 0.5 / bn.Affine.Inv // half an output step: some byte moves
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeModel(b); err == nil || !strings.Contains(err.Error(), "affine channel 5") {
		t.Errorf("a table its affine does not give: error %v", err)
	}
}

// TestZooEqualizeBiasCorrect: equalization and bias correction run on a
// graph with grouped and rectangular convs, SE, concat and tables; what
// they change keeps the float function and the int8 model within a step.
func TestZooEqualizeBiasCorrect(t *testing.T) {
	m, g, x := zooModel(t)
	e := g.Clone()
	n := ir.Equalize(e, 10, 1e-4)
	t.Logf("equalized %d pairs", n)
	want, err := ir.Reference(g, x, 16, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ir.Reference(e, x, 16, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("equalized output %d: %v, want %v", i, got[i], want[i])
		}
	}
	before, err := Run(m, x, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := BiasCorrect(m, g, x, 16, nil); err != nil {
		t.Fatal(err)
	}
	after, err := Run(m, x, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	var de, db float64
	for i := range want {
		de += math.Abs(float64(after[i] - want[i]))
		db += math.Abs(float64(before[i] - want[i]))
	}
	t.Logf("mean |int8 - float| before bias correction %.4f, after %.4f", db/float64(len(want)), de/float64(len(want)))
	if de > 1.5*db {
		t.Errorf("bias correction moved the int8 outputs away from float: %.4f -> %.4f", db, de)
	}
}

// TestConvertSoftmaxOnlyAtOutput: a softmax is applied in float by the
// Dequantize, so no int8 op may read it.
func TestConvertSoftmaxOnlyAtOutput(t *testing.T) {
	g, d, cal, _, err := zoo.Calibrated("fbgemm")
	if err != nil {
		t.Fatal(err)
	}
	g.Nodes[len(g.Nodes)-1].Op = ir.OpReLU
	_, err = Convert(d, g, cal)
	if want := "dequant (ReLU) reads the log_softmax's output"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want it to contain %q", err, want)
	}
}
