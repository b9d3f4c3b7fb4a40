// Command mnv2_224 writes the speed benchmark's model: the ImageNet-shaped
// MobileNetV2 of the description defaults (224x224x3, 1000 classes, width 1.0),
// or with -arch another architecture's defaults (resnet50: torchvision's
// ResNet-50), with deterministic synthetic weights, and deterministic synthetic calibration
// inputs. No pretrained weights can be downloaded here; speed does not depend
// on the values, but with random BatchNorm statistics a network's logits are
// almost constant across inputs, so each BatchNorm's running mean and variance
// are re-estimated as the batch statistics of its input on random inputs, layer
// by layer (each BN already normalised when the next one is measured). Then
// activations vary with the input and a bit-exact test on the model means
// something.
//
//	go run ./tools/mnv2_224 -o testdata/mobilenetv2_224
//	go run ./tools/mnv2_224 -arch resnet50 -o testdata/resnet50_224
//
// writes model.json, model.safetensors and calib.npy (float32 N x 3 x 224 x 224,
// already normalised: N(0, 1) per value, like the peers' torch.randn inputs).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/ptqc/ptqc/calibrate/data"
	"github.com/ptqc/ptqc/frontend"
	"github.com/ptqc/ptqc/ir"
)

func main() {
	out := flag.String("o", "testdata/mobilenetv2_224", "output directory")
	arch := flag.String("arch", "mobilenetv2", "description arch, with its defaults")
	seed := flag.Uint64("seed", 224, "weight seed")
	bnN := flag.Int("bn", 8, "random inputs for the BatchNorm statistics")
	calibN := flag.Int("calib", 16, "calibration inputs to write")
	flag.Parse()
	if err := run(*out, *arch, *seed, *bnN, *calibN); err != nil {
		fmt.Fprintln(os.Stderr, "mnv2_224:", err)
		os.Exit(1)
	}
}

// Inputs returns n deterministic N(0, 1) images of the description's input shape.
func Inputs(d *ir.Description, n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	x := make([]float32, n*d.Input[0]*d.Input[1]*d.Input[2])
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func run(dir, arch string, seed uint64, bnN, calibN int) error {
	d, err := frontend.ParseDescription([]byte(fmt.Sprintf(`{"arch": %q}`, arch)))
	if err != nil {
		return err
	}
	g, err := ir.BuildRandom(d, seed)
	if err != nil {
		return err
	}
	if err := ReestimateBN(g, Inputs(d, bnN, seed+1), bnN); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	desc, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "model.json"), append(desc, '\n'), 0o644); err != nil {
		return err
	}
	gen := fmt.Sprintf("tools/mnv2_224 -seed %d -bn %d", seed, bnN)
	if arch != "mobilenetv2" {
		gen = fmt.Sprintf("tools/mnv2_224 -arch %s -seed %d -bn %d", arch, seed, bnN)
	}
	meta := map[string]string{"generator": gen}
	if err := frontend.WriteSafeTensors(filepath.Join(dir, d.Weights), frontend.StateDict(g), meta); err != nil {
		return err
	}
	shape := []int{calibN, d.Input[0], d.Input[1], d.Input[2]}
	return data.WriteNpyF32(filepath.Join(dir, "calib.npy"), shape, Inputs(d, calibN, seed+2))
}

// ReestimateBN sets every BatchNorm's running statistics to the mean and
// (biased) variance of its input over the n samples x, in one pass: the hook
// sees each node's output before its consumers run, so a BN is set just
// before it normalises, with every earlier BN already re-estimated.
func ReestimateBN(g *ir.Graph, x []float32, n int) error {
	_, err := ir.Run(g, x, n, func(nd *ir.Node, out []float32, n int) error {
		for _, c := range g.Consumers(nd.Out) {
			if c.Op != ir.OpBatchNorm {
				continue
			}
			bn := c.BN
			hw := len(out) / n / bn.C
			for ch := 0; ch < bn.C; ch++ {
				var s, s2 float64
				for i := 0; i < n; i++ {
					for _, v := range out[(i*bn.C+ch)*hw : (i*bn.C+ch+1)*hw] {
						s += float64(v)
						s2 += float64(v) * float64(v)
					}
				}
				cnt := float64(n * hw)
				m := s / cnt
				bn.Mean[ch] = float32(m)
				bn.Var[ch] = float32(math.Max(s2/cnt-m*m, 0))
			}
		}
		return nil
	})
	return err
}
