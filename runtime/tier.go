// Package runtime is what generated packages import: preprocessing
// (Transform), the portable requantization, the worker Team that splits a
// layer across goroutines, and the kernel tiers with the CPU dispatch
// between them. It imports nothing of ptqc, so that the compiler's packages
// (asmgen, ir/floatk) can read its tier table too.
package runtime

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/cpu"
)

// Tier is a set of kernels for one instruction set: what the generators build
// for it and what a CPU must have to run it.
type Tier struct {
	Name string
	// Lanes is the int32 lanes of the int8 kernels' vectors: 8 on ymm, 16 on
	// zmm (0: the portable Go kernels).
	Lanes int
	// VNNI: the int8 multiply-adds are VPDPBUSD.
	VNNI bool
	// ZMM: the avx512 design (column units, the int32 clamp and VPMOVUSDB
	// narrowing, opmask tails).
	ZMM bool
	// AMX: the GEMM layers that lower.Tileable admits run as tile programs,
	// every other layer on Base's kernels (whose design the fields above are).
	AMX  bool
	Base *Tier
	// Float is the tier whose float32 kernels (ir/floatk) the float path runs
	// on this tier's CPUs; nil: this one's.
	Float *Tier
	// runs says whether this CPU (and for amx, the OS) runs the tier.
	runs func() bool
}

// TierGeneric is the name of the portable Go tier, which every CPU runs.
const TierGeneric = "generic"

// The tiers, best last: each needs what the one before it needs and more.
var (
	Generic = &Tier{Name: TierGeneric, runs: func() bool { return true }}
	AVX2    = &Tier{Name: "avx2", Lanes: 8, runs: func() bool { return cpu.X86.HasAVX2 }}
	// AVX512VNNI is AVX-512 F/BW/VL + VNNI on 256-bit registers.
	AVX512VNNI = &Tier{Name: "avx512vnni", Lanes: 8, VNNI: true, Float: AVX512, runs: hasVNNI}
	// AVX512 is the same instructions on 512-bit registers, with opmask tails.
	AVX512 = &Tier{Name: "avx512", Lanes: 16, VNNI: true, ZMM: true, runs: hasVNNI}
	// AMX is AMX-INT8 tiles for the GEMM layers, the avx512 kernels for the rest.
	AMX = &Tier{Name: "amx", Lanes: 16, VNNI: true, ZMM: true, AMX: true, Base: AVX512, Float: AVX512,
		runs: func() bool { return hasVNNI() && AMXError() == nil }}
)

// Tiers are all the tiers, best last.
var Tiers = []*Tier{Generic, AVX2, AVX512VNNI, AVX512, AMX}

func hasVNNI() bool {
	return cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI
}

// Supported reports whether this CPU runs the tier.
func (t *Tier) Supported() bool { return t.runs() }

// FloatTier is the tier whose ir/floatk kernels run on t's CPUs.
func (t *Tier) FloatTier() *Tier {
	if t.Float != nil {
		return t.Float
	}
	return t
}

// TierNamed returns the tier called name, or nil.
func TierNamed(name string) *Tier {
	for _, t := range Tiers {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// TierNames are the names of the tiers, best last.
func TierNames() []string {
	n := make([]string, len(Tiers))
	for i, t := range Tiers {
		n[i] = t.Name
	}
	return n
}

// ForcedTier is the tier the environment variable PTQC_ISA names: nil when
// it is unset or empty, an error when it names none.
func ForcedTier() (*Tier, error) {
	name := os.Getenv("PTQC_ISA")
	if name == "" {
		return nil, nil
	}
	if t := TierNamed(name); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("PTQC_ISA=%s: not a tier (%s)", name, strings.Join(TierNames(), ", "))
}

// SelectTier picks the kernel tier of a package that has the tiers named in
// have (best last): the one PTQC_ISA names, which is an error if the
// package or the CPU lacks it, or else the best the CPU supports.
func SelectTier(have []string) (string, error) {
	want, err := ForcedTier()
	if err != nil {
		return "", err
	}
	if want != nil {
		for _, name := range have {
			if name != want.Name {
				continue
			}
			if !want.Supported() {
				if want.AMX && AMXError() != nil {
					return "", fmt.Errorf("PTQC_ISA=%s: %w", want.Name, AMXError())
				}
				return "", fmt.Errorf("PTQC_ISA=%s: this CPU does not support it", want.Name)
			}
			return name, nil
		}
		return "", fmt.Errorf("PTQC_ISA=%s: not one of this package's tiers %v", want.Name, have)
	}
	for i := len(have) - 1; i >= 0; i-- {
		if t := TierNamed(have[i]); t != nil && t.Supported() {
			return have[i], nil
		}
	}
	return TierGeneric, nil
}
