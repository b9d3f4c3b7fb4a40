package asmgen

import (
	"math"
	"os"
	"testing"

	"github.com/ptqc/ptqc/codegen"
	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/runtime"
)

// TestTrainedModels builds the trained test models (the bundled one and the
// unseen width and setting) with assembly and checks every tier this CPU runs,
// and the avx512vnni kernels with VPDPBUSD emulated (and, where the CPU lacks
// AVX-512, the avx512 design emulated), against the interpreter bit for bit on
// real test images.
func TestTrainedModels(t *testing.T) {
	if testing.Short() {
		t.Skip("calibrates and builds generated packages")
	}
	const images = 60
	root := gentest.RepoRoot(t) + "/testdata/"
	emulated := func(isa ISA) codegen.AsmGenerator {
		return func(m *compiler.Model, pkg string, name func(int, string) string) (*codegen.Asm, error) {
			return GenerateTiers(m, pkg, []ISA{isa}, name)
		}
	}
	// The real avx512 tier runs where the CPU has it: no need to build its
	// emulation there too, unless asked (PTQC_TEST_EMULATIONS=1).
	zmmEmu := !runtime.Supported(runtime.TierAVX512) || os.Getenv("PTQC_TEST_EMULATIONS") != ""
	var real, emul, emulZ []gentest.Pkg
	var ms []*compiler.Model
	var inputs [][]float32
	var inLens, outs []int
	for _, c := range []struct{ dir, qconfig, pkg string }{
		{"mobilenetv2_fmnist", "fbgemm", "main_fbgemm"},
		{"mobilenetv2_fmnist", "qnnpack", "main_qnnpack"},
		{"mobilenetv2_fmnist_alt", "onednn", "alt_onednn"},
		{"mobilenetv2_fmnist_alt", "default", "alt_default"},
		{"resnet_bottleneck", "onednn", "resnet_bottleneck_onednn"},
		{"resnet_fmnist", "fbgemm", "resnet_fmnist_fbgemm"},
	} {
		if _, err := os.Stat(root + c.dir + "/model.json"); err != nil {
			t.Fatalf("%s: %v", c.dir, err)
		}
		m, err := compiler.Quantize(compiler.Options{Model: root + c.dir + "/model.json", QConfig: c.qconfig,
			Calib: root + "mobilenetv2_fmnist/calib_images.npy"})
		if err != nil {
			t.Fatal(err)
		}
		variants := []struct {
			gen  codegen.AsmGenerator
			pkg  string
			into *[]gentest.Pkg
		}{{Generate, c.pkg, &real}, {emulated(vnniEmulated), c.pkg + "_vnniemu", &emul}}
		if zmmEmu {
			variants = append(variants, variants[1])
			variants[2].gen, variants[2].pkg, variants[2].into = emulated(zmmEmulated), c.pkg+"_zmmemu", &emulZ
		}
		for _, v := range variants {
			p, err := codegen.Generate(m, codegen.Options{Package: v.pkg, Asm: v.gen})
			if err != nil {
				t.Fatalf("%s: %v", v.pkg, err)
			}
			*v.into = append(*v.into, gentest.Pkg{Name: p.Name, Files: p.Files})
		}
		ms, inputs = append(ms, m), append(inputs, gentest.TestImages(t, m, images))
		inLens, outs = append(inLens, m.Tensors[m.Input].Elems()), append(outs, m.NumClasses())
	}
	var envs [][]string
	for _, tier := range []string{runtime.TierGeneric, runtime.TierAVX2, runtime.TierAVX512VNNI, runtime.TierAVX512} {
		if runtime.Supported(tier) {
			envs = append(envs, []string{"PTQC_ISA=" + tier, "PTQC_THREADS=2"})
		} else {
			t.Logf("tier %s: not supported by this CPU, UNVERIFIED here", tier)
		}
	}
	check := func(pkgs []gentest.Pkg, envs [][]string) {
		got := gentest.RunHarness(t, pkgs, inputs, inLens, outs, envs...)
		for i, m := range ms {
			want, err := compiler.Run(m, inputs[i], images, nil)
			if err != nil {
				t.Fatal(err)
			}
			for e, env := range envs {
				bad := 0
				for j := range want {
					if math.Float32bits(got[e][i][j]) != math.Float32bits(want[j]) {
						bad++
					}
				}
				if bad > 0 {
					t.Errorf("%s %v: %d of %d logits differ from the interpreter's", pkgs[i].Name, env, bad, len(want))
				}
			}
		}
	}
	check(real, envs)
	if runtime.Supported(runtime.TierAVX2) {
		check(emul, [][]string{{"PTQC_ISA=" + runtime.TierAVX2, "PTQC_THREADS=1"}})
		if zmmEmu {
			check(emulZ, [][]string{{"PTQC_ISA=" + runtime.TierAVX2, "PTQC_THREADS=1"}})
		}
	}
}
