package onnx

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ptqc/ptqc/frontend/onnx/onnxpb"
)

// attrs reads a node's attributes; done fails on any that was not read, so an
// attribute the import does not understand is an error, never ignored.
type attrs struct {
	m    map[string]*onnxpb.AttributeProto
	used map[string]bool
}

func newAttrs(n *onnxpb.NodeProto) (*attrs, error) {
	a := &attrs{m: map[string]*onnxpb.AttributeProto{}, used: map[string]bool{}}
	for _, p := range n.GetAttribute() {
		if p.GetRefAttrName() != "" {
			return nil, fmt.Errorf("attribute %q refers to a function attribute", p.GetName())
		}
		if _, dup := a.m[p.GetName()]; dup {
			return nil, fmt.Errorf("attribute %q given twice", p.GetName())
		}
		a.m[p.GetName()] = p
	}
	return a, nil
}

// get returns the attribute name if present, checking its type.
func (a *attrs) get(name string, want onnxpb.AttributeProto_AttributeType) (*onnxpb.AttributeProto, error) {
	p, ok := a.m[name]
	if !ok {
		return nil, nil
	}
	a.used[name] = true
	if p.GetType() != want {
		return nil, fmt.Errorf("attribute %q has type %s, want %s", name, p.GetType(), want)
	}
	return p, nil
}

func (a *attrs) has(name string) bool { _, ok := a.m[name]; return ok }

func (a *attrs) int(name string, def int64) (int64, error) {
	p, err := a.get(name, onnxpb.AttributeProto_INT)
	if p == nil || err != nil {
		return def, err
	}
	return p.GetI(), nil
}

func (a *attrs) float(name string, def float32) (float32, error) {
	p, err := a.get(name, onnxpb.AttributeProto_FLOAT)
	if p == nil || err != nil {
		return def, err
	}
	return p.GetF(), nil
}

func (a *attrs) ints(name string, def []int64) ([]int64, error) {
	p, err := a.get(name, onnxpb.AttributeProto_INTS)
	if p == nil || err != nil {
		return def, err
	}
	return p.GetInts(), nil
}

func (a *attrs) str(name, def string) (string, error) {
	p, err := a.get(name, onnxpb.AttributeProto_STRING)
	if p == nil || err != nil {
		return def, err
	}
	return string(p.GetS()), nil
}

// alphaBeta reads the attributes alpha and beta (defaults alpha0, beta0),
// which must be finite.
func (a *attrs) alphaBeta(alpha0, beta0 float32) (alpha, beta float32, err error) {
	if alpha, err = a.float("alpha", alpha0); err != nil {
		return 0, 0, err
	}
	if beta, err = a.float("beta", beta0); err != nil {
		return 0, 0, err
	}
	if !isFinite(alpha) || !isFinite(beta) {
		return 0, 0, fmt.Errorf("alpha %v, beta %v", alpha, beta)
	}
	return alpha, beta, nil
}

// bool01 reads an integer attribute that must be 0 (its default) or 1.
func (a *attrs) bool01(name string) (bool, error) {
	v, err := a.int(name, 0)
	if err != nil {
		return false, err
	}
	if v != 0 && v != 1 {
		return false, fmt.Errorf("%s is %d, want 0 or 1", name, v)
	}
	return v == 1, nil
}

// done fails if an attribute was not read.
func (a *attrs) done() error {
	var left []string
	for k := range a.m {
		if !a.used[k] {
			left = append(left, k)
		}
	}
	if len(left) > 0 {
		sort.Strings(left)
		return fmt.Errorf("attribute %s not supported", strings.Join(left, ", "))
	}
	return nil
}
