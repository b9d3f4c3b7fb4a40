package floatk

import "golang.org/x/sys/cpu"

var (
	gemmAVX2 = [...]func(k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32){
		gemm1_avx2, gemm2_avx2, gemm3_avx2, gemm4_avx2, gemm5_avx2, gemm6_avx2,
	}
	gemmAVX512 = [...]func(k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32){
		gemm1_avx512, gemm2_avx512, gemm3_avx512, gemm4_avx512, gemm5_avx512, gemm6_avx512,
		gemm7_avx512, gemm8_avx512, gemm9_avx512, gemm10_avx512, gemm11_avx512, gemm12_avx512,
	}
	// AVX2 is the AVX2+FMA tier (256-bit registers).
	AVX2 = &Kernels{Name: "avx2", MR: len(gemmAVX2), NR: 16, Block: 32, vw: 8,
		gemm: func(mr, k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32) {
			gemmAVX2[mr-1](k, a, b, ldb, c, ldc, bias, lo, hi)
		},
		dw: dw_avx2, add: add_avx2, minmax: minmax_avx2}
	// AVX512 is the AVX-512 F tier (512-bit registers).
	AVX512 = &Kernels{Name: "avx512", MR: len(gemmAVX512), NR: 32, Block: 64, vw: 16,
		gemm: func(mr, k int, a, b *float32, ldb int, c *float32, ldc int, bias *float32, lo, hi float32) {
			gemmAVX512[mr-1](k, a, b, ldb, c, ldc, bias, lo, hi)
		},
		dw: dw_avx512, add: add_avx512, minmax: minmax_avx512}
)

// Tiers lists the tiers this CPU runs, fastest first.
func Tiers() []*Kernels {
	var ts []*Kernels
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL {
		ts = append(ts, AVX512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ts = append(ts, AVX2)
	}
	return append(ts, Generic)
}
