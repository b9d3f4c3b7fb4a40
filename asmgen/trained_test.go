package asmgen

import (
	"math"
	"os"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/runtime"
)

// TestTrainedModels builds the trained test models (the bundled one and the
// unseen width and setting) with assembly and checks every tier this CPU runs,
// the avx512vnni kernels with VPDPBUSD emulated, the amx tier with the tile
// instructions emulated (on AVX2, and where the CPU has AVX-512 also as it is
// but for the tile instructions; where it lacks AVX-512, the avx512 design
// emulated), against the interpreter bit for bit on real test images.
func TestTrainedModels(t *testing.T) {
	testenv.SkipUnlessLong(t, "calibrates and builds generated packages")
	const images = 60
	root := gentest.RepoRoot(t) + "/testdata/"
	emulated := func(isa Target) asmGen {
		return func(m *lower.Model, pkg string) (*lower.Asm, error) {
			return generate(m, pkg, []Target{isa})
		}
	}
	// The real avx512 tier runs where the CPU has it: no need to build its
	// emulation there too, unless asked (PTQC_TEST_EMULATIONS=1).
	zmmEmu := !runtime.AVX512.Supported() || os.Getenv("PTQC_TEST_EMULATIONS") != ""
	var real, emul, emulZ, amxe, amxz []gentest.Pkg
	var ms []*compiler.Model
	var inputs [][]float32
	var inLens, outs, amxModels []int
	for i, c := range []struct {
		dir, qconfig, pkg string
		amx               bool // also the amx tier emulated (one qconfig per model: the builds take time)
	}{
		{"mobilenetv2_fmnist", "fbgemm", "main_fbgemm", true},
		{"mobilenetv2_fmnist", "qnnpack", "main_qnnpack", false},
		{"mobilenetv2_fmnist_alt", "onednn", "alt_onednn", true},
		{"mobilenetv2_fmnist_alt", "default", "alt_default", false},
		{"resnet_bottleneck", "onednn", "resnet_bottleneck_onednn", false},
		{"resnet_fmnist", "fbgemm", "resnet_fmnist_fbgemm", true},
	} {
		m := quantizeTestdata(t, root, c.dir, c.qconfig)
		type variant struct {
			gen  asmGen
			pkg  string
			into *[]gentest.Pkg
		}
		variants := []variant{{Generate, c.pkg, &real}, {emulated(vnniEmulated), c.pkg + "_vnniemu", &emul}}
		if zmmEmu {
			variants = append(variants, variant{emulated(zmmEmulated), c.pkg + "_zmmemu", &emulZ})
		}
		if c.amx {
			variants = append(variants, variant{emulated(amxEmulated), c.pkg + "_amxemu", &amxe})
			if runtime.AVX512.Supported() {
				variants = append(variants, variant{emulated(amxTilesEmulated), c.pkg + "_amxz", &amxz})
			}
			amxModels = append(amxModels, i)
		}
		for _, v := range variants {
			p, err := generatePkg(m, v.pkg, v.gen)
			if err != nil {
				t.Fatalf("%s: %v", v.pkg, err)
			}
			*v.into = append(*v.into, gentest.Pkg{Name: p.Name, Files: p.Files})
		}
		ms, inputs = append(ms, m), append(inputs, gentest.TestImages(t, m, images))
		inLens, outs = append(inLens, m.Tensors[m.Input].Elems()), append(outs, m.NumClasses())
	}
	var envs [][]string
	for _, tier := range []string{runtime.TierGeneric, runtime.AVX2.Name, runtime.AVX512VNNI.Name, runtime.AVX512.Name, runtime.AMX.Name} {
		if runtime.TierNamed(tier).Supported() {
			envs = append(envs, []string{"PTQC_ISA=" + tier, "PTQC_THREADS=2"})
		} else {
			t.Logf("tier %s: not supported by this CPU, UNVERIFIED here", tier)
		}
	}
	// check runs the packages, made for the models idx, on the tiers of envs.
	check := func(pkgs []gentest.Pkg, idx []int, envs [][]string) {
		var in [][]float32
		var il, ol []int
		for _, i := range idx {
			in, il, ol = append(in, inputs[i]), append(il, inLens[i]), append(ol, outs[i])
		}
		got := gentest.RunHarness(t, pkgs, in, il, ol, envs...)
		for k, i := range idx {
			m := ms[i]
			want, err := compiler.Run(m, inputs[i], images, nil)
			if err != nil {
				t.Fatal(err)
			}
			for e, env := range envs {
				bad := 0
				for j := range want {
					if math.Float32bits(got[e][k][j]) != math.Float32bits(want[j]) {
						bad++
					}
				}
				if bad > 0 {
					t.Errorf("%s %v: %d of %d logits differ from the interpreter's", pkgs[k].Name, env, bad, len(want))
				}
			}
		}
	}
	all := make([]int, len(ms))
	for i := range all {
		all[i] = i
	}
	check(real, all, envs)
	if runtime.AVX2.Supported() {
		check(emul, all, [][]string{{"PTQC_ISA=" + runtime.AVX2.Name, "PTQC_THREADS=1"}})
		if zmmEmu {
			check(emulZ, all, [][]string{{"PTQC_ISA=" + runtime.AVX2.Name, "PTQC_THREADS=1"}})
		}
		check(amxe, amxModels, [][]string{{"PTQC_ISA=" + runtime.AVX2.Name, "PTQC_THREADS=2"}})
	}
	if len(amxz) > 0 {
		check(amxz, amxModels, [][]string{{"PTQC_ISA=" + runtime.AVX512.Name, "PTQC_THREADS=2"}})
	}
}
