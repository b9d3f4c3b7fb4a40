package onnx

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Before opsets 10 and 11 some ops took as attributes the constants that
// later opsets take as inputs. upgrade rewrites such nodes into their later
// form, each attribute becoming a constant input, so that one reader serves
// every opset (the ONNX Model Zoo's classic CNNs are opsets 7 to 9).
var legacyInputs = map[string]struct {
	until int      // the first opset taking inputs
	attrs []string // the attributes, in input order from input 1
	ints  bool     // INTS attributes (else FLOAT)
}{
	"Clip":  {11, []string{"min", "max"}, false},
	"Pad":   {11, []string{"pads", "value"}, true}, // value: FLOAT
	"Slice": {10, []string{"starts", "ends", "axes"}, true},
}

// upgrade returns nodes with every legacy form rewritten (copies; the model
// is not changed), adding the constants it makes to im.vals. An absent
// attribute becomes an absent input: Clip-6's defaults (the float32 range)
// and a missing bound clip the same finite values.
func (im *importer) upgrade(nodes []*onnxpb.NodeProto) ([]*onnxpb.NodeProto, error) {
	taken := map[string]bool{}
	for name := range im.vals {
		taken[name] = true
	}
	for _, n := range nodes {
		for _, name := range n.GetInput() {
			taken[name] = true
		}
		for _, name := range n.GetOutput() {
			taken[name] = true
		}
	}
	var out []*onnxpb.NodeProto
	for i, n := range nodes {
		l, ok := legacyInputs[n.GetOpType()]
		if !ok || im.opset >= l.until || n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
			continue
		}
		if out == nil {
			out = append([]*onnxpb.NodeProto(nil), nodes...)
		}
		if len(n.GetOutput()) == 0 || n.GetOutput()[0] == "" {
			return nil, fmt.Errorf("node %q (%s): no output", displayName(n), n.GetOpType())
		}
		if len(n.GetInput()) != 1 {
			return nil, fmt.Errorf("node %q (%s): %d inputs; at opset %d it takes one, with %v as attributes", displayName(n), n.GetOpType(), len(n.GetInput()), im.opset, l.attrs)
		}
		u := proto.Clone(n).(*onnxpb.NodeProto)
		u.Attribute = nil
		moved := map[string]*onnxpb.AttributeProto{}
		for _, p := range n.GetAttribute() {
			if slices.Contains(l.attrs, p.GetName()) {
				moved[p.GetName()] = p
			} else {
				u.Attribute = append(u.Attribute, p)
			}
		}
		var ins []string
		for _, name := range l.attrs {
			p := moved[name]
			if p == nil {
				ins = append(ins, "")
				continue
			}
			t, err := legacyTensor(p, l.ints && name != "value")
			if err != nil {
				return nil, fmt.Errorf("node %q (%s): attribute %q: %w", displayName(n), n.GetOpType(), name, err)
			}
			c := n.GetOutput()[0] + "/" + name
			for k := 2; taken[c]; k++ {
				c = n.GetOutput()[0] + "/" + name + "#" + strconv.Itoa(k)
			}
			taken[c] = true
			im.vals[c] = &value{c: t}
			ins = append(ins, c)
		}
		for len(ins) > 0 && ins[len(ins)-1] == "" {
			ins = ins[:len(ins)-1]
		}
		u.Input = append(u.Input, ins...)
		out[i] = u
	}
	if out == nil {
		return nodes, nil
	}
	return out, nil
}

// legacyTensor is attribute p as the input that replaced it: INTS as an
// int64 vector, a FLOAT as a float32 scalar.
func legacyTensor(p *onnxpb.AttributeProto, ints bool) (*tensor, error) {
	want := onnxpb.AttributeProto_FLOAT
	if ints {
		want = onnxpb.AttributeProto_INTS
	}
	if p.GetType() != want {
		return nil, fmt.Errorf("type %s, want %s", p.GetType(), want)
	}
	if ints {
		v := append([]int64{}, p.GetInts()...)
		return &tensor{dtype: onnxpb.TensorProto_INT64, dims: []int{len(v)}, i: v}, nil
	}
	return &tensor{dtype: onnxpb.TensorProto_FLOAT, dims: []int{}, f: []float32{p.GetF()}}, nil
}
