package frontend

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ptqc/ptqc/internal/safesize"
	"github.com/ptqc/ptqc/ir"
)

// resnetAliases are torchvision's constructors, as block and layers.
var resnetAliases = map[string]struct {
	block         string
	layers        []int
	widthPerGroup int
}{
	"resnet18":        {"basic", []int{2, 2, 2, 2}, 64},
	"resnet34":        {"basic", []int{3, 4, 6, 3}, 64},
	"resnet50":        {"bottleneck", []int{3, 4, 6, 3}, 64},
	"resnet101":       {"bottleneck", []int{3, 4, 23, 3}, 64},
	"resnet152":       {"bottleneck", []int{3, 8, 36, 3}, 64},
	"wide_resnet50_2": {"bottleneck", []int{3, 4, 6, 3}, 128},
}

// mobilenetFields and resnetFields are the constructor arguments of each arch.
var (
	mobilenetFields = []string{"width_mult", "round_nearest", "inverted_residual_setting"}
	resnetFields    = []string{"block", "layers", "width_per_group", "groups", "widths"}
)

// maxDescription bounds a description file; real ones are under 1 KB.
const maxDescription = 1 << 20

// ReadDescription reads and validates a description file.
func ReadDescription(path string) (*ir.Description, error) {
	b, err := safesize.ReadFile(path, maxDescription, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("model description: %w", err)
	}
	d, err := ParseDescription(b)
	if err != nil {
		return nil, fmt.Errorf("model description %s: %w", path, err)
	}
	d.Path = path
	return d, nil
}

// ParseDescription decodes a description, fills defaults and validates it.
func ParseDescription(b []byte) (*ir.Description, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	d := ir.DefaultDescription()
	// A present "preprocess" replaces the default transform as a whole.
	if _, ok := raw["preprocess"]; ok {
		d.Preprocess = ir.Preprocess{}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(d); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if _, ok := raw["arch"]; !ok {
		return nil, errors.New(`missing "arch" (want "mobilenetv2", "resnet" or one of torchvision's resnet names)`)
	}
	other := resnetFields
	if d.Arch != "mobilenetv2" {
		other = mobilenetFields
	}
	for _, f := range other {
		if _, ok := raw[f]; ok {
			return nil, fmt.Errorf("%q is not an argument of arch %q", f, d.Arch)
		}
	}
	if a, ok := resnetAliases[d.Arch]; ok {
		// An alias is torchvision's constructor: it fixes block, layers and
		// width_per_group, so giving them too is an error.
		for _, f := range []string{"block", "layers", "width_per_group"} {
			if _, ok := raw[f]; ok {
				return nil, fmt.Errorf("arch %q sets %q itself; use arch \"resnet\" to choose it", d.Arch, f)
			}
		}
		d.Arch, d.Block, d.Layers, d.WidthPerGroup = "resnet", a.block, append([]int(nil), a.layers...), a.widthPerGroup
	}
	if d.Arch == "resnet" {
		d.WidthMult, d.RoundNearest, d.Setting = 0, 0, nil
		if d.WidthPerGroup == 0 {
			d.WidthPerGroup = 64
		}
		if d.Groups == 0 {
			d.Groups = 1
		}
		if d.Widths == nil {
			d.Widths = []int{64, 128, 256, 512}
		}
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}
