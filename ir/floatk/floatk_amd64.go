package floatk

import (
	"github.com/ptqc/ptqc/runtime"
	"golang.org/x/sys/cpu"
)

type kernel func(k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int)

type tmpKernel func(k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int, tmp *float32)

// byRows dispatches to ks[mr-1].
func byRows(ks ...kernel) gemmFunc {
	return func(mr, k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int) {
		ks[mr-1](k, a, b, ldb, c, ldc, bias, lo, hi, panels)
	}
}

// tmpByRows dispatches to ks[mr-1].
func tmpByRows(ks ...tmpKernel) tmpGemmFunc {
	return func(mr, k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int, tmp *float32) {
		ks[mr-1](k, a, b, ldb, c, ldc, bias, lo, hi, panels, tmp)
	}
}

var (
	// AVX2 is the AVX2 tier (256-bit registers).
	AVX2 = &Kernels{Name: runtime.AVX2.Name, MR: 6, MRDot: 2, NR: 16, PhasedMinM: 24, Block: 8, vw: 8,
		seq:    byRows(gemmseq1_avx2, gemmseq2_avx2, gemmseq3_avx2, gemmseq4_avx2, gemmseq5_avx2, gemmseq6_avx2),
		dot:    tmpByRows(noTmp(gemmdot1_avx2), gemmdot2_avx2),
		dotNT:  tmpByRows(noTmp(gemmdotnt1_avx2), gemmdotnt2_avx2),
		dotPh:  tmpByRows(gemmdp1_avx2, gemmdp2_avx2, gemmdp3_avx2, gemmdp4_avx2, gemmdp5_avx2, gemmdp6_avx2),
		dotPhH: tmpByRows(gemmdph1_avx2, gemmdph2_avx2, gemmdph3_avx2, gemmdph4_avx2, gemmdph5_avx2, gemmdph6_avx2),
		dotCol: tmpByRows(gemmdc1_avx2, gemmdc2_avx2, gemmdc3_avx2, gemmdc4_avx2, gemmdc5_avx2, gemmdc6_avx2),
		dw:     dw_avx2, dw3: [2]dw3Func{dw3s1_avx2, dw3s2_avx2}, add: add_avx2, minmax: minmax_avx2, histIdx: histidx_avx2, histNZ: histidxnz_avx2, histCNZ: histcellnz_avx2, count8: count8, deint: deinterleave_avx2, dotsI16: [2]func(int, *int16, *int16, int, *int32){dotsi16x1, dotsi16x4}, requant: requant_avx2, addRow: addrow_avx2,
		sig: [2]func(int, *float32, *float32){sigmoid_avx2, silu_avx2}}
	// AVX512 is the AVX-512 F+DQ+VL tier (512-bit registers).
	AVX512 = &Kernels{Name: runtime.AVX512.Name, MR: 12, MRDot: 3, NR: 32, Block: 16, vw: 16,
		seq: byRows(gemmseq1_avx512, gemmseq2_avx512, gemmseq3_avx512, gemmseq4_avx512, gemmseq5_avx512, gemmseq6_avx512,
			gemmseq7_avx512, gemmseq8_avx512, gemmseq9_avx512, gemmseq10_avx512, gemmseq11_avx512, gemmseq12_avx512),
		dot:   tmpByRows(noTmp(gemmdot1_avx512), noTmp(gemmdot2_avx512), noTmp(gemmdot3_avx512)),
		dotNT: tmpByRows(noTmp(gemmdotnt1_avx512), noTmp(gemmdotnt2_avx512), noTmp(gemmdotnt3_avx512)),
		dotPh: tmpByRows(gemmdp1_avx512, gemmdp2_avx512, gemmdp3_avx512, gemmdp4_avx512, gemmdp5_avx512, gemmdp6_avx512,
			gemmdp7_avx512, gemmdp8_avx512, gemmdp9_avx512, gemmdp10_avx512, gemmdp11_avx512, gemmdp12_avx512),
		dotPhH: tmpByRows(gemmdph1_avx512, gemmdph2_avx512, gemmdph3_avx512, gemmdph4_avx512, gemmdph5_avx512, gemmdph6_avx512,
			gemmdph7_avx512, gemmdph8_avx512, gemmdph9_avx512, gemmdph10_avx512, gemmdph11_avx512, gemmdph12_avx512),
		dotCol: tmpByRows(gemmdc1_avx512, gemmdc2_avx512, gemmdc3_avx512, gemmdc4_avx512, gemmdc5_avx512, gemmdc6_avx512,
			gemmdc7_avx512, gemmdc8_avx512, gemmdc9_avx512, gemmdc10_avx512, gemmdc11_avx512, gemmdc12_avx512),
		dw: dw_avx512, dw3: [2]dw3Func{dw3s1_avx512, dw3s2_avx512}, dw3Cold: dw3s2r_avx512, add: add_avx512, minmax: minmax_avx512, histIdx: histidx_avx512, histNZ: histidxnz_avx512, histCNZ: histcellnz_avx512, count8: count8, deint: deinterleave_avx512, dotsI16: [2]func(int, *int16, *int16, int, *int32){dotsi16x1, dotsi16x4}, requant: requant_avx2, addRow: addrow_avx2,
		sig: [2]func(int, *float32, *float32){sigmoid_avx2, silu_avx2}} // AVX2's: ymm of float64 suffice
)

// noTmp is k without scratch.
func noTmp(k kernel) tmpKernel {
	return func(kk int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32, panels int, _ *float32) {
		k(kk, a, b, ldb, c, ldc, bias, lo, hi, panels)
	}
}

// Tiers lists the tiers this CPU runs, fastest first.
func Tiers() []*Kernels {
	var ts []*Kernels
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL {
		ts = append(ts, AVX512)
	}
	if cpu.X86.HasAVX2 {
		ts = append(ts, AVX2)
	}
	return append(ts, Generic)
}

func fence() { storeFence() }
