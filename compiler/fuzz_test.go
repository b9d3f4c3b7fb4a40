package compiler_test

import (
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/ptq"
)

func FuzzDecodeModel(f *testing.F) {
	b, err := compiler.TinyModel().Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte(compiler.Magic + "\xff\xff\xff\xff\xff\xff\xff\xff"))
	// A ResNet: max-pool and add_relu layers.
	rn, err := ptq.Quantize(ptq.Options{Model: "../testdata/resnet_bottleneck/model.json", QConfig: "fbgemm",
		Calib: "../testdata/mobilenetv2_fmnist/calib_images.npy", CalibLimit: 30})
	if err != nil {
		f.Fatal(err)
	}
	if b, err = rn.Encode(); err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	// Every kind without MACs, rectangular and grouped convs, ceil-mode pools.
	if b, err = compiler.ZooModel(f).Encode(); err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, m := range compiler.HostileModels() {
		if b, err := m.Encode(); err == nil && len(b) < 1<<16 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := compiler.DecodeModel(b)
		if err != nil {
			return
		}
		// Whatever decodes must run without panicking (when it is cheap enough to try).
		cost := m.Tensors[m.Input].Elems()
		for _, n := range m.Nodes {
			cost += m.Tensors[n.Out].Elems()
			if c := n.Conv; c != nil {
				w := c.Window()
				cost += m.Tensors[n.Out].Elems() * w.Taps() * c.InC / c.Groups
			}
		}
		if cost <= 1e6 {
			out, err := compiler.Run(m, make([]float32, m.Tensors[m.Input].Elems()), 1, nil)
			if err == nil && len(out) != m.NumClasses() {
				t.Fatalf("Run gave %d logits for %d classes", len(out), m.NumClasses())
			}
		}
	})
}
