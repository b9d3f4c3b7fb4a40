package asmgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/ptqc/ptqc/compiler"
	"github.com/ptqc/ptqc/internal/gentest"
	"github.com/ptqc/ptqc/internal/testenv"
	"github.com/ptqc/ptqc/lower"
	"github.com/ptqc/ptqc/runtime"
)

// TestGeneratedTiers builds packages with assembly for random graphs (the
// property test's models: random MobileNetV2s and a graph of the odd layer
// kinds, qparams with zero points near 0 and 255) and checks every tier this
// CPU runs against the interpreter bit for bit, with one worker, two (images
// side by side, and one image split layer by layer) and three.
func TestGeneratedTiers(t *testing.T) {
	testGeneratedTiers(t, Generate, randomModels(0, 3), []string{runtime.TierGeneric, runtime.AVX2.Name, runtime.AVX512VNNI.Name, runtime.AVX512.Name, runtime.AMX.Name})
}

// TestGeneratedAMXEmulated is TestGeneratedTiers for the amx tier with the
// tile instructions emulated (and the other layers on the VPDPBUSD-emulating
// kernels), built as the packages' avx2 tier: the amx tier's whole data flow
// on CPUs without AMX. Where the CPU has AVX-512, the amx tier as it is but
// for the emulated tile instructions runs too, as the avx512 tier.
func TestGeneratedAMXEmulated(t *testing.T) {
	for _, c := range []struct {
		isa  Target
		tier string
	}{{amxEmulated, runtime.AVX2.Name}, {amxTilesEmulated, runtime.AVX512.Name}} {
		t.Run(c.isa.String(), func(t *testing.T) {
			if !runtime.TierNamed(c.tier).Supported() {
				t.Skipf("CPU without %s", c.tier)
			}
			tileKernels := 0
			gen := func(m *lower.Model, pkg string) (*lower.Asm, error) {
				a, err := generate(m, pkg, []Target{c.isa})
				if err == nil {
					tileKernels += strings.Count(string(a.Files["kernels_amd64.go"]), "AMX tiles (emulated).")
				}
				return a, err
			}
			testGeneratedTiers(t, gen, randomModels(1), []string{c.tier})
			if tileKernels == 0 && !testing.Short() {
				t.Error("no tile kernel in the generated packages")
			}
			t.Logf("%d emulated tile kernels in the packages", tileKernels)
		})
	}
}

// TestGeneratedVNNIEmulated is TestGeneratedTiers for the avx512vnni kernels
// with VPDPBUSD emulated, built as the packages' avx2 tier, so that the VNNI
// tier's whole data flow runs on CPUs without VNNI.
func TestGeneratedVNNIEmulated(t *testing.T) {
	gen := func(m *lower.Model, pkg string) (*lower.Asm, error) {
		return generate(m, pkg, []Target{vnniEmulated})
	}
	testGeneratedTiers(t, gen, randomModels(2), []string{runtime.AVX2.Name})
}

// TestGeneratedZMMEmulated is TestGeneratedTiers for the avx512 tier's design
// on ymm with AVX2 only (VPDPBUSD and the opmask stores emulated), built as
// the packages' avx2 tier. Where the CPU runs the avx512 tier itself,
// TestGeneratedTiers checks the real thing and this one is skipped (CI time);
// the kernel tests run the emulation everywhere.
func TestGeneratedZMMEmulated(t *testing.T) {
	if runtime.AVX512.Supported() && os.Getenv("PTQC_TEST_EMULATIONS") == "" {
		t.Skip("the avx512 tier runs here (PTQC_TEST_EMULATIONS=1 runs its emulation too)")
	}
	gen := func(m *lower.Model, pkg string) (*lower.Asm, error) {
		return generate(m, pkg, []Target{zmmEmulated})
	}
	testGeneratedTiers(t, gen, randomModels(3), []string{runtime.AVX2.Name})
}

// TestGeneratedZoo runs the zoo of every op kind of the imported families
// (tables, SE mul, concat, slice, shuffle, average and ceil-mode pools,
// convs of any window and group count: their portable kernels on every tier,
// but the square grouped conv's assembly, between the other layers' assembly)
// on every tier this CPU runs, and, as
// the avx2 tier, on the VPDPBUSD, avx512-on-ymm and AMX emulations.
func TestGeneratedZoo(t *testing.T) {
	testenv.SkipShort(t, "builds generated packages with the go command")
	ms := []*compiler.Model{gentest.ZooModel(t, "fbgemm"), gentest.ZooModel(t, "qnnpack"), gentest.ZooModel(t, "default")}
	seeds := []uint64{0, 1, 2}
	testModelEveryTier(t, ms, seeds)
}

// TestGeneratedShuffle runs graphs whose channel shuffles lower folds
// (gentest.ShuffleModel: groups 2, 3 and 4; ShuffleNetV2 x1.0's graph) on
// every tier this CPU runs and as the avx2 tier on the emulations.
func TestGeneratedShuffle(t *testing.T) {
	testenv.SkipShort(t, "builds generated packages with the go command")
	seeds := []uint64{0, 1, 2, 3, 4, 5}
	var ms []*compiler.Model
	for _, i := range seeds {
		ms = append(ms, gentest.ShuffleModel(t, i, []string{"fbgemm", "qnnpack"}[i%2]))
	}
	ms, seeds = append(ms, gentest.ShuffleNetV2(t, 32, "fbgemm")), append(seeds, 6)
	testModelEveryTier(t, ms, seeds)
}

// randomModels are the seeds of the random models a test builds: all 16 in
// the long tests, else the few given (each package build takes seconds).
func randomModels(quick ...uint64) []uint64 {
	if testenv.Long() {
		return []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	}
	return quick
}

func testGeneratedTiers(t *testing.T, gen asmGen, seeds []uint64, tiers []string) {
	testenv.SkipShort(t, "builds generated packages with the go command")
	var ms []*compiler.Model
	for _, i := range seeds {
		ms = append(ms, gentest.RandomModel(t, i))
	}
	testModelTiers(t, []asmGen{gen}, ms, seeds, tiers)
}

// testModelEveryTier runs ms as testModelTiers does on every tier, then
// with the avx2 tier generated as each emulation (VPDPBUSD, avx512 on ymm,
// AMX).
func testModelEveryTier(t *testing.T, ms []*compiler.Model, seeds []uint64) {
	t.Run("tiers", func(t *testing.T) {
		testModelTiers(t, []asmGen{Generate}, ms, seeds, []string{runtime.TierGeneric, runtime.AVX2.Name, runtime.AVX512VNNI.Name, runtime.AVX512.Name, runtime.AMX.Name})
	})
	t.Run("emulated", func(t *testing.T) {
		var gens []asmGen
		for _, isa := range []Target{vnniEmulated, zmmEmulated, amxEmulated} {
			gens = append(gens, func(m *lower.Model, pkg string) (*lower.Asm, error) { return generate(m, pkg, []Target{isa}) })
		}
		testModelTiers(t, gens, ms, seeds, []string{runtime.AVX2.Name})
	})
}

// testModelTiers builds a package of every model with each of gens and runs
// them on tiers, 1, 2 and 3 workers, against the interpreter bit for bit.
func testModelTiers(t *testing.T, gens []asmGen, ms []*compiler.Model, seeds []uint64, tiers []string) {
	const images = 4
	var pkgs []gentest.Pkg
	var inputs [][]float32
	var inLens, outs []int
	for g, gen := range gens {
		for k, m := range ms {
			i := seeds[k]
			p, err := generatePkg(m, fmt.Sprintf("p%02d_%d", i, g), gen)
			if err != nil {
				t.Fatalf("model %d: %v", i, err)
			}
			r := rand.New(rand.NewPCG(i, 99))
			inLen := m.Tensors[m.Input].Elems()
			pkgs = append(pkgs, gentest.Pkg{Name: p.Name, Files: p.Files})
			inputs = append(inputs, gentest.RandomInputs(r, inLen, images, true))
			inLens, outs = append(inLens, inLen), append(outs, m.Tensors[m.Nodes[len(m.Nodes)-1].In[0]].Elems())
		}
	}
	var envs [][]string
	for _, tier := range tiers {
		if !runtime.TierNamed(tier).Supported() {
			t.Logf("tier %s: not supported by this CPU, UNVERIFIED here", tier)
			continue
		}
		for _, threads := range []string{"1", "2", "3"} {
			// The zmm designs' wide kernels (runtime.WideZMM) with two
			// workers, the 256-bit ones they stand in for with one and three.
			wide := "0"
			if threads == "2" {
				wide = "1"
			}
			envs = append(envs, []string{"PTQC_ISA=" + tier, "PTQC_THREADS=" + threads, "PTQC_WIDE=" + wide})
		}
	}
	wide := 0
	for _, p := range pkgs {
		wide += strings.Count(string(p.Files["kernels_amd64.go"]), "_wide(")
	}
	t.Logf("%d wide kernels in the packages", wide)
	got := gentest.RunHarness(t, pkgs, inputs, inLens, outs, envs...)
	for k := range pkgs {
		m, i := ms[k%len(ms)], seeds[k%len(ms)]
		want, err := compiler.Run(m, inputs[k], images, nil)
		if err != nil {
			t.Fatalf("model %d: interpreter: %v", i, err)
		}
		for e, env := range envs {
			g := got[e][k]
			bad := 0
			for j := range want {
				if math.Float32bits(g[j]) != math.Float32bits(want[j]) {
					if bad < 3 {
						t.Errorf("model %d %v: output %d = %v, interpreter %v", i, env, j, g[j], want[j])
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("model %d, package %s (%s, %d nodes) %v: %d of %d outputs differ", i, pkgs[k].Name, m.Meta.QConfig, len(m.Nodes), env, bad, len(want))
			}
		}
	}
}

// TestGenerateIsDeterministic: the same model gives the same assembly bytes.
func TestGenerateIsDeterministic(t *testing.T) {
	for seed := range uint64(4) {
		m := gentest.RandomModel(t, seed)
		var files []map[string][]byte
		for range 2 {
			p, err := generatePkg(m, "net", Generate)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, p.Files)
		}
		for name, b := range files[0] {
			if string(files[1][name]) != string(b) {
				t.Errorf("model %d: %s differs between two runs", seed, name)
			}
		}
	}
}

// TestAddEpilogueSaturating runs random MobileNetV2s whose projections
// (the convs an add epilogue follows) saturate: their multipliers and biases
// scaled up, so that the conv's clamp before the add (addEpi.inRegs) decides
// bytes, on every tier against the interpreter.
func TestAddEpilogueSaturating(t *testing.T) {
	testAddInputs(t, []uint64{0, 1}, func(m *compiler.Model, in int, p *compiler.Node) bool {
		if p == nil || p.Kind != compiler.KConv {
			return false
		}
		for c := range p.Conv.M {
			p.Conv.M[c] *= 24
			p.Conv.B[c] *= 24
		}
		return true
	})
}

// TestAddEpilogueZeroPoints runs random MobileNetV2s whose adds read
// operands with zero point 0 (as a ResNet's identity after a ReLU is), which
// the add epilogue does not subtract, on every tier against the interpreter.
func TestAddEpilogueZeroPoints(t *testing.T) {
	testAddInputs(t, []uint64{2, 3}, func(m *compiler.Model, in int, p *compiler.Node) bool {
		tz := m.Tensors[in]
		if p != nil && p.Kind == compiler.KConv && p.Conv.Lo == tz.Zero {
			p.Conv.Lo = 0 // a ReLU's floor follows the zero point
		}
		tz.Zero = 0
		return true
	})
}

// testAddInputs runs the random models of seeds, each add input in of which
// edit has changed (p its producer, nil for none; edit says whether it
// changed anything), on the avx2, avx512 and amx tiers against the
// interpreter.
func testAddInputs(t *testing.T, seeds []uint64, edit func(m *compiler.Model, in int, p *compiler.Node) bool) {
	t.Helper()
	testenv.SkipShort(t, "builds generated packages with the go command")
	var ms []*compiler.Model
	for _, i := range seeds {
		m := gentest.RandomModel(t, i)
		producer := map[int]*compiler.Node{}
		for _, nd := range m.Nodes {
			producer[nd.Out] = nd
		}
		n := 0
		for _, nd := range m.Nodes {
			if nd.Kind != compiler.KAdd {
				continue
			}
			for _, in := range nd.In {
				if edit(m, in, producer[in]) {
					n++
				}
			}
		}
		if n == 0 {
			t.Fatalf("model %d: no add input to change", i)
		}
		ms = append(ms, m)
	}
	testModelTiers(t, []asmGen{Generate}, ms, seeds, []string{runtime.AVX2.Name, runtime.AVX512.Name, runtime.AMX.Name})
}
