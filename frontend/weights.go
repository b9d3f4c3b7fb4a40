package frontend

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ptqc/ptqc/internal/safesize"
	"github.com/ptqc/ptqc/ir"
)

// LoadWeights binds a PyTorch state_dict (torchvision key names) to the graph's
// Conv, BatchNorm and Linear nodes. Every expected key must be present with the
// expected shape and finite values, and no key may be left over.
func LoadWeights(g *ir.Graph, st *SafeTensors) error {
	used := map[string]bool{}
	get := func(key string, shape []int, optional bool) ([]float32, error) {
		t, ok := st.Tensors[key]
		if !ok {
			if optional {
				return nil, nil
			}
			return nil, fmt.Errorf("weights %s: missing key %q (expected shape %v)", st.Path, key, shape)
		}
		used[key] = true
		if !ir.EqualShape(t.Shape, shape) {
			return nil, fmt.Errorf("weights %s: key %q: expected shape %v, found %v", st.Path, key, shape, t.Shape)
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("weights %s: key %q: %w", st.Path, key, err)
		}
		for i, f := range v {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return nil, fmt.Errorf("weights %s: key %q: element %d is %v", st.Path, key, i, f)
			}
		}
		return v, nil
	}
	for _, n := range g.Nodes {
		var err error
		switch n.Op {
		case ir.OpConv:
			c := n.Conv
			if c.Weight, err = get(n.Name+".weight", c.WeightShape(), false); err != nil {
				return err
			}
			if c.Bias, err = get(n.Name+".bias", []int{c.OutC}, true); err != nil {
				return err
			}
		case ir.OpBatchNorm:
			b := n.BN
			shape := []int{b.C}
			for _, p := range []struct {
				key string
				dst *[]float32
			}{{"weight", &b.Weight}, {"bias", &b.Bias}, {"running_mean", &b.Mean}, {"running_var", &b.Var}} {
				if *p.dst, err = get(n.Name+"."+p.key, shape, false); err != nil {
					return err
				}
			}
			for i, v := range b.Var {
				if v < 0 {
					return fmt.Errorf("weights %s: key %q: channel %d has negative variance %v", st.Path, n.Name+".running_var", i, v)
				}
			}
			if _, ok := st.Tensors[n.Name+".num_batches_tracked"]; ok {
				used[n.Name+".num_batches_tracked"] = true
			}
		case ir.OpLinear:
			l := n.Linear
			if l.Weight, err = get(n.Name+".weight", []int{l.Out, l.In}, false); err != nil {
				return err
			}
			if l.Bias, err = get(n.Name+".bias", []int{l.Out}, true); err != nil {
				return err
			}
		}
	}
	var extra []string
	for k := range st.Tensors {
		if !used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		more := ""
		if len(extra) > 5 {
			more = fmt.Sprintf(" and %d more", len(extra)-5)
			extra = extra[:5]
		}
		return fmt.Errorf("weights %s: unexpected key %s%s (shape %v): the description does not match these weights", st.Path, strings.Join(quoteAll(extra), ", "), more, st.Tensors[extra[0]].Shape)
	}
	return nil
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", safesize.Name(v))
	}
	return q
}

// ReadWeights reads a state_dict from a torch.save file (.pth, .pt, or any
// file that starts like a zip archive or an old torch.save pickle) or else
// from a safetensors file.
func ReadWeights(path string) (*SafeTensors, error) {
	return readTensors("weights", path, pthHeadLen, true, ParseWeights)
}

// pthFormat reports whether the file name or its first bytes say torch.save.
func pthFormat(name string, b []byte) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".pth", ".pt":
		return true
	}
	return bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, pthLegacyMagic)
}

// ParseWeights is ReadWeights on the bytes of the file named name.
func ParseWeights(name string, b []byte) (*SafeTensors, error) {
	if pthFormat(name, b) {
		return ParsePth(name, b)
	}
	return ParseSafeTensors(name, b)
}

// Load reads a description and its weights (weightsPath overrides the
// description's) and returns the unfused float graph.
func Load(descPath, weightsPath string) (*ir.Description, *ir.Graph, error) {
	d, g, _, err := LoadState(descPath, weightsPath)
	return d, g, err
}

// LoadState is Load that also returns the state_dict the weights came from.
func LoadState(descPath, weightsPath string) (*ir.Description, *ir.Graph, *SafeTensors, error) {
	d, err := ReadDescription(descPath)
	if err != nil {
		return nil, nil, nil, err
	}
	g, err := ir.Build(d)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("model description %s: %w", descPath, err)
	}
	if weightsPath == "" {
		weightsPath = d.WeightsPath()
	}
	st, err := ReadWeights(weightsPath)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := LoadWeights(g, st); err != nil {
		return nil, nil, nil, err
	}
	return d, g, st, nil
}
