package frontend

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/ir"
)

func TestWeightsErrors(t *testing.T) {
	d := smallDesc()
	g, err := ir.BuildRandom(d, 3)
	if err != nil {
		t.Fatal(err)
	}
	good := StateDict(g)
	load := func(ts []*SafeTensor) error {
		path := filepath.Join(t.TempDir(), "w.safetensors")
		if err := WriteSafeTensors(path, ts, nil); err != nil {
			t.Fatal(err)
		}
		st, err := ReadSafeTensors(path)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ir.BuildMobileNetV2(d)
		return LoadWeights(h, st)
	}
	if err := load(good); err != nil {
		t.Fatalf("good weights: %v", err)
	}
	without := func(key string) []*SafeTensor {
		var ts []*SafeTensor
		for _, s := range good {
			if s.Name != key {
				ts = append(ts, s)
			}
		}
		return ts
	}
	replace := func(key string, shape []int, v float32) []*SafeTensor {
		var ts []*SafeTensor
		for _, s := range good {
			if s.Name == key {
				n := 1
				for _, d := range shape {
					n *= d
				}
				b := make([]byte, 4*n)
				for i := 0; i < n; i++ {
					bits := math.Float32bits(v)
					b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
				}
				s = &SafeTensor{Name: key, DType: "F32", Shape: shape, Data: b}
			}
			ts = append(ts, s)
		}
		return ts
	}
	extra := append(append([]*SafeTensor(nil), good...), &SafeTensor{Name: "features.99.weight", DType: "F32", Shape: []int{1}, Data: make([]byte, 4)})
	for _, c := range []struct {
		name string
		ts   []*SafeTensor
		want string
	}{
		{"missing", without("features.1.conv.0.0.weight"), `missing key "features.1.conv.0.0.weight" (expected shape [16 1 3 3])`},
		{"shape", replace("classifier.1.weight", []int{7, 10}, 1), `key "classifier.1.weight": expected shape [7 1280], found [7 10]`},
		{"extra", extra, `unexpected key "features.99.weight"`},
		{"nan", replace("features.0.0.weight", []int{16, 3, 3, 3}, float32(math.NaN())), `key "features.0.0.weight": element 0 is NaN`},
		{"negative var", replace("features.0.1.running_var", []int{16}, -1), `channel 0 has negative variance`},
	} {
		err := load(c.ts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

// smallDesc is a quick MobileNetV2 with every block kind (t=1, expand, residual).
func smallDesc() *ir.Description {
	d := ir.DefaultDescription()
	d.NumClasses = 7
	d.WidthMult = 0.5
	d.Setting = [][]float64{{1, 16, 1, 1}, {4, 24, 2, 2}, {3, 32, 2, 1}}
	d.Input = []int{3, 20, 20}
	d.Preprocess = ir.Preprocess{}
	return d
}

// TestReadHostileFiles is issue 23's class 7 for model inputs: files read
// whole before their magic was looked at. A 20 GB sparse file under each
// reader's name is refused from its first bytes.
func TestReadHostileFiles(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, want string
		read       func(string) error
	}{
		{"w.pth", "not a torch.save zip archive (no zip signature)", func(p string) error { _, err := ReadWeights(p); return err }},
		{"w.safetensors", "not a safetensors file (first bytes 00 00", func(p string) error { _, err := ReadWeights(p); return err }},
		{"w2.safetensors", "header length 0 is too small", func(p string) error { _, err := ReadSafeTensors(p); return err }},
		{"w2.pth", "no zip signature", func(p string) error { _, err := ReadPth(p); return err }},
		{"model.json", "more than the 1048576 this kind of file may have", func(p string) error { _, err := ReadDescription(p); return err }},
	} {
		path := filepath.Join(dir, c.name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		err = f.Truncate(20 << 30)
		f.Close()
		if err != nil {
			t.Skipf("no sparse file: %v", err)
		}
		var rerr error
		n := allocated(func() { rerr = c.read(path) })
		if rerr == nil || !strings.Contains(rerr.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, rerr, c.want)
		}
		if n > 1<<20 {
			t.Errorf("%s: refusing a 20 GB sparse file allocated %d bytes", c.name, n)
		}
		os.Remove(path)
	}
}
