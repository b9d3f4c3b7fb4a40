package compiler

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeOldVersion: a version-01 file (int32 biases) is refused with both
// versions named, as a FormatVersionError (the command adds the way out).
func TestDecodeOldVersion(t *testing.T) {
	b, err := tinyModel().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:8]) != "PTQCQM02" {
		t.Fatalf("magic %q, want PTQCQM02", b[:8])
	}
	copy(b[6:8], "01")
	_, err = DecodeModel(b)
	var fv *FormatVersionError
	if !errors.As(err, &fv) {
		t.Fatalf("a version 01 file: error %v, want a FormatVersionError", err)
	}
	for _, want := range []string{`"01"`, `"02"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// hostileModels are issue 23's class 5: .ptqm files whose graph the code
// generator would refuse (or that once made eval -qmodel panic), each with
// what the error says.
func hostileModels() map[string]struct {
	m    *Model
	want string
} {
	out := map[string]struct {
		m    *Model
		want string
	}{}
	add := func(name, want string, edit func(m *Model)) {
		m := tinyModel()
		edit(m)
		out[name] = struct {
			m    *Model
			want string
		}{m, want}
	}
	add("out of order", "layer 1 (mean): reads tensor 2 before any layer computes it", func(m *Model) {
		m.Nodes[1], m.Nodes[2] = m.Nodes[2], m.Nodes[1]
	})
	add("unknown activation", "unknown activation code 7", func(m *Model) { m.Nodes[1].Conv.Act = 7 })
	add("no producer", "reads tensor 3 before any layer computes it", func(m *Model) { m.Nodes[2].In = []int{3} })
	add("reads the float input", "reads tensor 0 before any layer computes it", func(m *Model) { m.Nodes[1].In = []int{0} })
	add("written twice", "tensor 2 is computed twice", func(m *Model) { m.Nodes[2].Out = 2 })
	add("no dequantize", "the last the only Dequantize", func(m *Model) { m.Nodes = m.Nodes[:3] })
	add("conv params on a mean", "Mean with parameters of another kind", func(m *Model) {
		m.Nodes[2].Conv = &Conv{Groups: 0}
	})
	add("long name", "...(5242880 bytes)", func(m *Model) {
		m.Nodes = append(m.Nodes[:2], m.Nodes[1:]...)
		m.Nodes[1] = &Node{Kind: KMean, Name: strings.Repeat("n", 5<<20), In: []int{9}, Out: 9}
	})
	add("softmax on the quantize", "Quantize with softmax \"softmax\"", func(m *Model) { m.Nodes[0].Softmax = "softmax" })
	add("unknown softmax", "Dequantize with softmax \"sparsemax\"", func(m *Model) { m.Nodes[3].Softmax = "sparsemax" })
	add("softmax of a map", "Dequantize with softmax \"softmax\" on shape [1 3 3]", func(m *Model) {
		m.Nodes = append(m.Nodes[:2], &Node{Kind: KDequantize, Name: "dequant", In: []int{2}, Out: 4, Softmax: "softmax"})
		m.Tensors[4].Shape = []int{1, 3, 3}
	})
	add("channel max to a map", "channel max from [1 3 3] to [1 3 3]", func(m *Model) { m.Nodes[1] = &Node{Kind: KChannelMax, Name: "max", In: []int{1}, Out: 2} })
	add("huge tensor", "has more than the limit of 67108864 elements", func(m *Model) {
		m.Tensors[2].Shape = []int{1 << 16, 1 << 16, 1}
	})
	return out
}

func TestDecodeModelHostile(t *testing.T) {
	for name, c := range hostileModels() {
		b, err := c.m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecodeModel(b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, c.want)
		}
		if err != nil && len(err.Error()) > 500 {
			t.Errorf("%s: a %d-byte error", name, len(err.Error()))
		}
	}
}
