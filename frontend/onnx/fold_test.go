package onnx

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// TestFoldOps: the constant folds of the shape subgraphs torch writes
// (F.pad's is ConstantOfShape, Concat, Reshape, Slice with step -1,
// Transpose, Reshape), on constants, and their errors.
func TestFoldOps(t *testing.T) {
	ints := func(dims []int, v ...int64) *tensor {
		return &tensor{dtype: onnxpb.TensorProto_INT64, dims: dims, i: v}
	}
	scalar := func(v int64) *tensor { return ints([]int{}, v) }
	for _, c := range []struct {
		name    string
		op      string
		in      []*tensor
		at      []*onnxpb.AttributeProto
		want    *tensor
		wantErr string
	}{
		{"Range", "Range", []*tensor{scalar(1), scalar(8), scalar(3)}, nil, ints([]int{3}, 1, 4, 7), ""},
		{"Range down", "Range", []*tensor{scalar(5), scalar(1), scalar(-2)}, nil, ints([]int{2}, 5, 3), ""},
		{"Range empty", "Range", []*tensor{scalar(5), scalar(1), scalar(2)}, nil, &tensor{dtype: onnxpb.TensorProto_INT64, dims: []int{0}, i: []int64{}}, ""},
		{"Range delta 0", "Range", []*tensor{scalar(0), scalar(1), scalar(0)}, nil, nil, "delta 0"},
		{"Range huge", "Range", []*tensor{scalar(0), scalar(1 << 40), scalar(1)}, nil, nil, "elements"},
		{"ConstantOfShape", "ConstantOfShape", []*tensor{ints([]int{2}, 2, 3)}, []*onnxpb.AttributeProto{aTensor("value", i64("", 7))},
			ints([]int{2, 3}, 7, 7, 7, 7, 7, 7), ""},
		{"ConstantOfShape huge", "ConstantOfShape", []*tensor{ints([]int{2}, 1<<16, 1<<16)}, nil, nil, "elements"},
		{"Slice step -1", "Slice", []*tensor{ints([]int{4, 2}, 0, 1, 2, 3, 4, 5, 6, 7), ints([]int{1}, -1), ints([]int{1}, -1<<62), ints([]int{1}, 0), ints([]int{1}, -1)}, nil,
			ints([]int{4, 2}, 6, 7, 4, 5, 2, 3, 0, 1), ""},
		{"Slice step 2", "Slice", []*tensor{ints([]int{5}, 0, 1, 2, 3, 4), ints([]int{1}, 1), ints([]int{1}, 100), nil, ints([]int{1}, 2)}, nil,
			ints([]int{2}, 1, 3), ""},
		{"Slice step 0", "Slice", []*tensor{ints([]int{2}, 0, 1), ints([]int{1}, 0), ints([]int{1}, 2), nil, ints([]int{1}, 0)}, nil, nil, "step 0"},
		{"Concat past the limit", "Concat", []*tensor{ints([]int{40000}, make([]int64, 40000)...), ints([]int{40000}, make([]int64, 40000)...)}, nil, nil, "more than 65536 elements"},
		{"Transpose", "Transpose", []*tensor{ints([]int{2, 3}, 0, 1, 2, 3, 4, 5)}, nil, ints([]int{3, 2}, 0, 3, 1, 4, 2, 5), ""},
		{"Transpose perm", "Transpose", []*tensor{ints([]int{2, 3}, 0, 1, 2, 3, 4, 5)}, []*onnxpb.AttributeProto{aInts("perm", 0, 0)}, nil, "perm [0 0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			im := &importer{opset: 17, vals: map[string]*value{}}
			n := &onnxpb.NodeProto{OpType: proto.String(c.op), Attribute: c.at, Output: []string{"out"}}
			for k, v := range c.in {
				name := ""
				if v != nil {
					name = string(rune('a' + k))
					im.vals[name] = &value{c: v}
				}
				n.Input = append(n.Input, name)
			}
			a, err := newAttrs(n)
			if err != nil {
				t.Fatal(err)
			}
			got, err := foldOps[c.op](im, n, a)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(tensor{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
