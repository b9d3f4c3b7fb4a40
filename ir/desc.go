package ir

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Preprocess is the input transform: resize the shorter side, center crop, zero pad.
type Preprocess struct {
	Resize int `json:"resize"`
	Crop   int `json:"crop"`
	Pad    int `json:"pad"`
}

// Description is a model description file: the constructor arguments of the
// tutorial's MobileNetV2 or of torchvision's ResNet, plus the input and its
// preprocessing.
type Description struct {
	Arch         string      `json:"arch"`
	NumClasses   int         `json:"num_classes"`
	WidthMult    float64     `json:"width_mult,omitempty"`
	RoundNearest int         `json:"round_nearest,omitempty"`
	Setting      [][]float64 `json:"inverted_residual_setting,omitempty"`
	// ResNet: block "basic" or "bottleneck", blocks per stage, the bottleneck's
	// width_per_group and groups (only 1), and Widths, the planes of
	// layer1..layer4 (torchvision's 64, 128, 256, 512; not a torchvision
	// argument: it lets small test models keep torchvision's structure).
	Block         string     `json:"block,omitempty"`
	Layers        []int      `json:"layers,omitempty"`
	WidthPerGroup int        `json:"width_per_group,omitempty"`
	Groups        int        `json:"groups,omitempty"`
	Widths        []int      `json:"widths,omitempty"`
	Input         []int      `json:"input"`
	Mean          []float32  `json:"mean"`
	Std           []float32  `json:"std"`
	Preprocess    Preprocess `json:"preprocess"`
	Weights       string     `json:"weights"`
	// Classes names the outputs, one name each (optional): generated
	// packages' Classify returns them, eval -per-class prints them.
	Classes []string `json:"classes,omitempty"`

	// Path is the file the description was read from; Weights is relative to its directory.
	Path string `json:"-"`
}

// DefaultSetting is the tutorial's inverted residual setting (t, c, n, s).
var DefaultSetting = [][]float64{
	{1, 16, 1, 1},
	{6, 24, 2, 2},
	{6, 32, 3, 2},
	{6, 64, 4, 2},
	{6, 96, 3, 1},
	{6, 160, 3, 2},
	{6, 320, 1, 1},
}

// DefaultDescription has the tutorial's defaults: ImageNet MobileNetV2 at 224x224.
func DefaultDescription() *Description {
	return &Description{
		Arch:         "mobilenetv2",
		NumClasses:   1000,
		WidthMult:    1.0,
		RoundNearest: 8,
		Setting:      cloneSetting(DefaultSetting),
		Input:        []int{3, 224, 224},
		Mean:         []float32{0.485, 0.456, 0.406},
		Std:          []float32{0.229, 0.224, 0.225},
		Preprocess:   Preprocess{Resize: 256, Crop: 224},
		Weights:      "model.safetensors",
	}
}

func cloneSetting(s [][]float64) [][]float64 {
	c := make([][]float64, len(s))
	for i, r := range s {
		c[i] = append([]float64(nil), r...)
	}
	return c
}

// Validate checks the description's fields and its arithmetic.
func (d *Description) Validate() error {
	if d.NumClasses < 1 {
		return fmt.Errorf("num_classes %d: must be positive", d.NumClasses)
	}
	var err error
	switch d.Arch {
	case "mobilenetv2":
		err = d.validateMobileNetV2()
	case "resnet":
		err = d.validateResNet()
	default:
		err = fmt.Errorf(`arch %q: want "mobilenetv2", "resnet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152" or "wide_resnet50_2"`, d.Arch)
	}
	if err != nil {
		return err
	}
	if err := d.ValidateClasses(); err != nil {
		return err
	}
	return d.validateInput()
}

// MaxClassName is the longest class name a description may give, in bytes.
const MaxClassName = 256

// ValidateClasses checks the class names: none, or one per output, each a
// non-empty line of printable text.
func (d *Description) ValidateClasses() error {
	if d.Classes == nil {
		return nil
	}
	if len(d.Classes) != d.NumClasses {
		return fmt.Errorf("classes: %d names for %d classes", len(d.Classes), d.NumClasses)
	}
	for i, c := range d.Classes {
		if c == "" || len(c) > MaxClassName || !utf8.ValidString(c) || strings.IndexFunc(c, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			return fmt.Errorf("classes: name %d (%.40q): want 1 to %d bytes of printable UTF-8", i, c, MaxClassName)
		}
	}
	return nil
}

func (d *Description) validateResNet() error {
	if d.Groups != 1 {
		return fmt.Errorf("groups %d: only groups=1 is supported (grouped ResNeXt convolutions are not)", d.Groups)
	}
	switch d.Block {
	case "basic":
		if d.WidthPerGroup != 64 {
			return fmt.Errorf("width_per_group %d: basic blocks only support 64, as in torchvision", d.WidthPerGroup)
		}
	case "bottleneck":
		if d.WidthPerGroup < 1 || d.WidthPerGroup > 1<<12 {
			return fmt.Errorf("width_per_group %d: must be positive", d.WidthPerGroup)
		}
	default:
		return fmt.Errorf(`block %q: want "basic" or "bottleneck"`, d.Block)
	}
	if len(d.Layers) != 4 {
		return fmt.Errorf("layers %v: want 4 block counts, one per stage", d.Layers)
	}
	for _, n := range d.Layers {
		if n < 1 || n > 1000 {
			return fmt.Errorf("layers %v: block counts must be positive", d.Layers)
		}
	}
	if err := checkBlocks(float64(d.Layers[0]+d.Layers[1]+d.Layers[2]+d.Layers[3]), "layers"); err != nil {
		return err
	}
	if len(d.Widths) != 4 {
		return fmt.Errorf("widths %v: want 4 plane counts, one per stage", d.Widths)
	}
	for _, w := range d.Widths {
		if w < 1 || w > 1<<14 {
			return fmt.Errorf("widths %v: must be positive", d.Widths)
		}
	}
	if d.Block == "bottleneck" {
		for _, w := range d.Widths {
			if w*d.WidthPerGroup/64 < 1 {
				return fmt.Errorf("width_per_group %d: stage of %d planes gets no bottleneck channels", d.WidthPerGroup, w)
			}
		}
	}
	return nil
}

func (d *Description) validateMobileNetV2() error {
	if !(d.WidthMult > 0) || math.IsInf(d.WidthMult, 0) || d.WidthMult > 100 {
		return fmt.Errorf("width_mult %v: must be positive and finite", d.WidthMult)
	}
	if d.RoundNearest < 1 || d.RoundNearest > 1<<16 {
		return fmt.Errorf("round_nearest %d: must be positive", d.RoundNearest)
	}
	if len(d.Setting) == 0 {
		return fmt.Errorf("inverted_residual_setting should be non-empty or a 4-element list, got %v", d.Setting)
	}
	for i, r := range d.Setting {
		if len(r) != 4 {
			return fmt.Errorf("inverted_residual_setting[%d] = %v: should be a 4-element list [t, c, n, s]", i, r)
		}
		t, c, n, s := r[0], r[1], r[2], r[3]
		if !(t > 0) || t > 1000 {
			return fmt.Errorf("inverted_residual_setting[%d]: expand ratio t = %v must be positive", i, t)
		}
		for _, v := range []struct {
			name string
			v    float64
		}{{"c", c}, {"n", n}, {"s", s}} {
			if v.v != math.Trunc(v.v) || v.v < 1 || v.v > 1<<20 {
				return fmt.Errorf("inverted_residual_setting[%d]: %s = %v must be a positive integer", i, v.name, v.v)
			}
		}
		if s != 1 && s != 2 {
			return fmt.Errorf("inverted_residual_setting[%d]: stride s = %v must be 1 or 2", i, s)
		}
	}
	blocks := 0.0
	for _, r := range d.Setting {
		blocks += r[2]
	}
	return checkBlocks(blocks, "inverted_residual_setting")
}

// checkBlocks bounds the blocks a description asks for before its graph is
// built: each row's count is bounded, the number of rows is not.
func checkBlocks(blocks float64, field string) error {
	if limit := (MaxNodes - 16) / maxBlockNodes; blocks > float64(limit) {
		return fmt.Errorf("%s asks for %.0f blocks in all, more than the limit of %d (%d layers)", field, blocks, limit, MaxNodes)
	}
	return nil
}

func (d *Description) validateInput() error {
	if len(d.Input) != 3 {
		return fmt.Errorf("input %v: want [channels, height, width]", d.Input)
	}
	for _, v := range d.Input {
		if v < 1 || v > 1<<14 {
			return fmt.Errorf("input %v: dimensions must be positive", d.Input)
		}
	}
	if d.Input[0] != 1 && d.Input[0] != 3 {
		return fmt.Errorf("input %v: channels must be 1 or 3", d.Input)
	}
	if err := d.ValidateTransform(); err != nil {
		return err
	}
	if d.Weights == "" {
		return errors.New(`"weights" is empty`)
	}
	return nil
}

// ValidateTransform checks the preprocessing against the input [C, H, W]:
// one finite mean and positive std per channel, sizes in range, and a center
// crop plus padding that gives the square input.
func (d *Description) ValidateTransform() error {
	if len(d.Mean) != d.Input[0] || len(d.Std) != d.Input[0] {
		return fmt.Errorf("mean %v / std %v: want one value per input channel (%d)", d.Mean, d.Std, d.Input[0])
	}
	for c := range d.Std {
		if !(d.Std[c] > 0) || math.IsInf(float64(d.Std[c]), 0) || math.IsNaN(float64(d.Mean[c])) || math.IsInf(float64(d.Mean[c]), 0) {
			return fmt.Errorf("mean %v / std %v: std must be positive and both finite", d.Mean, d.Std)
		}
	}
	p := d.Preprocess
	if p.Resize < 0 || p.Crop < 0 || p.Pad < 0 || p.Resize > 1<<14 || p.Crop > 1<<14 || p.Pad > 1<<14 {
		return fmt.Errorf("preprocess %+v: sizes must not be negative", p)
	}
	if p.Crop > 0 && (p.Crop+2*p.Pad != d.Input[1] || d.Input[1] != d.Input[2]) {
		return fmt.Errorf("preprocess: crop %d + 2*pad %d does not give the input %dx%d", p.Crop, p.Pad, d.Input[1], d.Input[2])
	}
	return nil
}

// WeightsPath resolves the weights file relative to the description's directory.
func (d *Description) WeightsPath() string {
	if filepath.IsAbs(d.Weights) || d.Path == "" {
		return d.Weights
	}
	return filepath.Join(filepath.Dir(d.Path), d.Weights)
}

// MakeDivisible is the tutorial's _make_divisible: v rounded to a multiple of
// divisor, never below minValue (divisor if 0) nor more than 10% below v.
func MakeDivisible(v float64, divisor, minValue int) int {
	if minValue == 0 {
		minValue = divisor
	}
	newV := int(v+float64(divisor)/2) / divisor * divisor
	if newV < minValue {
		newV = minValue
	}
	if float64(newV) < 0.9*v {
		newV += divisor
	}
	return newV
}
