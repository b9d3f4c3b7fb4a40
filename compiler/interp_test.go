package compiler

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/ir"
)

func TestScalarOps(t *testing.T) {
	for _, c := range []struct {
		name string
		got  uint8
		want uint8
	}{
		{"quantize", QuantizeValue(0.5, 10, 3), 8},
		{"quantize half to even down", QuantizeValue(0.25, 10, 0), 2}, // 2.5 -> 2
		{"quantize half to even up", QuantizeValue(0.35, 10, 0), 4},   // 3.5 -> 4 (float32 0.35*10 = 3.5)
		{"quantize saturates at 255", QuantizeValue(100, 10, 128), 255},
		{"quantize saturates at 0", QuantizeValue(-100, 10, 128), 0},
		{"quantize nan", QuantizeValue(float32(math.NaN()), 10, 128), 0},
		{"quantize +inf", QuantizeValue(float32(math.Inf(1)), 10, 128), 255},
		{"requantize", Requantize(1000, 0.01, 0, 5, 0, 255), 15},
		{"requantize negative acc", Requantize(-1000, 0.01, 0, 20, 0, 255), 10},
		{"requantize half even", Requantize(25, 0.1, 0, 0, 0, 255), 2}, // float32(25*0.1)=2.5 -> 2
		{"requantize clamps to relu lo", Requantize(-1000, 0.01, 0, 7, 7, 255), 7},
		{"requantize saturates 255", Requantize(1<<30, 1, 0, 0, 0, 255), 255},
		{"requantize huge negative", Requantize(-1<<30, 1, 0, 255, 0, 255), 0},
		{"requantize zero point 255", Requantize(-3, 1, 0, 255, 0, 255), 252},
		{"requantize float bias", Requantize(10, 0.25, 0.75, 0, 0, 255), 3},                 // 2.5 + 0.75 = 3.25
		{"requantize bias after rounding the product", Requantize(1, 0.5, 2, 0, 0, 255), 2}, // 0.5 + 2 = 2.5 -> 2
		{"requantize negative bias", Requantize(4, 1, -9.5, 10, 0, 255), 4},                 // -5.5 -> -6, + 10
		{"add", AddQ(10, 20, 0, 0, 0.5, 0.25, 3), 13},
		{"add negative operands", AddQ(0, 0, 100, 50, 0.5, 1, 128), 28},
		{"add saturates", AddQ(255, 255, 0, 0, 1, 1, 0), 255},
		{"add saturates low", AddQ(0, 0, 255, 255, 1, 1, 10), 0},
		{"mean", MeanQ(-30, float32(1.0/4), 64), 56}, // -7.5 -> -8
		{"mean half even", MeanQ(10, float32(1.0/4), 0), 2},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	if got := Dequantize(3, 0.5, 7); got != -2 {
		t.Errorf("Dequantize(3, 0.5, 7) = %v, want -2", got)
	}
}

// tinyModel is quantize -> 3x3 conv (pad 1, stride 1, ReLU) -> mean -> dequantize on a 1x3x3 input.
func tinyModel() *Model {
	d := ir.DefaultDescription()
	d.Input, d.Mean, d.Std, d.Preprocess = []int{1, 3, 3}, []float32{0.5}, []float32{0.25}, ir.Preprocess{}
	m := &Model{
		Desc: d,
		Tensors: []*Tensor{
			{ID: 0, Shape: []int{1, 3, 3}},
			{ID: 1, Shape: []int{1, 3, 3}, Scale: 0.5, Zero: 2},
			{ID: 2, Shape: []int{1, 3, 3}, Scale: 1, Zero: 3},
			{ID: 3, Shape: []int{1}, Scale: 1, Zero: 3},
			{ID: 4, Shape: []int{1}},
		},
		Nodes: []*Node{
			{Kind: KQuantize, Name: "quant", In: []int{0}, Out: 1},
			{Kind: KConv, Name: "conv", In: []int{1}, Out: 2, Conv: &Conv{
				InC: 1, OutC: 1, Kernel: 3, Stride: 1, Pad: 1, Groups: 1, Act: ir.ActReLU,
				Weight: []int8{0, 1, 0, 1, -2, 1, 0, 1, 0}, WScale: []float64{1}, M: []float32{0.5}, B: []float32{2},
				Lo: 3, Hi: 255,
			}},
			{Kind: KMean, Name: "mean", In: []int{2}, Out: 3},
			{Kind: KDequantize, Name: "dequant", In: []int{3}, Out: 4},
		},
		Input: 0, Output: 4,
	}
	return m
}

func TestTinyModelByHand(t *testing.T) {
	m := tinyModel()
	// x / 0.5 + 2: q = [2 4 6; 8 10 12; 14 16 18], q - z = [0 2 4; 6 8 10; 12 14 16]
	x := []float32{0, 1, 2, 3, 4, 5, 6, 7, 8}
	var convOut []uint8
	got, err := Run(m, x, 1, func(n *Node, out []uint8, _ int) error {
		if n.Name == "conv" {
			convOut = append([]uint8(nil), out...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Laplacian with zero padding of (q - z), + bias 4, * 0.5, + 3, clamp at 3:
	// acc = [2+6-0+4, 0+4+8-4+4, 2+10-8+4; ...]
	d := [][]int32{{0, 2, 4}, {6, 8, 10}, {12, 14, 16}}
	at := func(y, x int) int32 {
		if y < 0 || y > 2 || x < 0 || x > 2 {
			return 0
		}
		return d[y][x]
	}
	var want []uint8
	var sum int32
	for y := 0; y < 3; y++ {
		for x := 0; x < 3; x++ {
			acc := at(y-1, x) + at(y+1, x) + at(y, x-1) + at(y, x+1) - 2*at(y, x) + 4
			q := int32(math.RoundToEven(float64(float32(acc)*0.5))) + 3
			q = max(q, 3)
			want = append(want, uint8(q))
			sum += q - 3
		}
	}
	if diff := cmp.Diff(want, convOut); diff != "" {
		t.Errorf("conv output (-want +got):\n%s", diff)
	}
	mean := int32(math.RoundToEven(float64(float32(sum)*float32(1.0/9)))) + 3
	if w := float32(mean - 3); got[0] != w {
		t.Errorf("output %v, want %v", got[0], w)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	if _, err := Run(tinyModel(), make([]float32, 8), 1, nil); err == nil {
		t.Error("8 values for a 9-value input: no error")
	}
}

// roundTrip encodes m as a .ptqm file and decodes that.
func roundTrip(tb testing.TB, m *Model) *Model {
	tb.Helper()
	b, err := m.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	back, err := DecodeModel(b)
	if err != nil {
		tb.Fatalf("decoding its own file: %v", err)
	}
	return back
}

func TestModelFileRoundTrip(t *testing.T) {
	m := tinyModel()
	if diff := cmp.Diff(m, roundTrip(t, m)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"magic", append([]byte("NOTQCQM1"), b[8:]...)},
		{"truncated blob", b[:len(b)-1]},
		{"trailing", append(append([]byte(nil), b...), 0)},
		{"truncated header", b[:40]},
	} {
		if _, err := DecodeModel(c.b); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func TestAddReLUClamp(t *testing.T) {
	// One add_relu on two 1-element tensors; the sum -0.6 would be 128-6 = 122
	// without the ReLU, clamped to z_y = 128 with it.
	m := &Model{
		Tensors: []*Tensor{
			{ID: 0, Shape: []int{1, 1, 1}, Scale: 0.1, Zero: 128},
			{ID: 1, Shape: []int{1, 1, 1}, Scale: 0.1, Zero: 128},
			{ID: 2, Shape: []int{1, 1, 1}, Scale: 0.1, Zero: 128},
			{ID: 3, Shape: []int{1, 1, 1}},
		},
		Nodes: []*Node{
			{Kind: KQuantize, Name: "quant", In: []int{0}, Out: 1},
			{Kind: KAdd, Name: "add_relu", In: []int{1, 1}, Out: 2, Add: &Add{MA: 1, MB: 1, ReLU: true}},
			{Kind: KDequantize, Name: "dequant", In: []int{2}, Out: 3},
		},
		Input: 0, Output: 3,
	}
	for _, c := range []struct {
		relu bool
		x    float32
		want float32
	}{{true, -0.3, 0}, {false, -0.3, -0.6}, {true, 0.3, 0.6}} {
		m.Nodes[1].Add.ReLU = c.relu
		got, err := Run(m, []float32{c.x}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != c.want {
			t.Errorf("relu %v: %v + %v gave %v, want %v", c.relu, c.x, c.x, got[0], c.want)
		}
	}
}
