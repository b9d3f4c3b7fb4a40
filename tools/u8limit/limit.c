// u8limit measures the int8 multiply-add limit of one core, the yardstick of issue 26:
// thread CPU time (so other jobs on the machine do not count), best of 5 rounds.
// VPDPBUSD twice: 12 independent accumulators fed from registers, as ptqc's dense
// kernels issue it (packed weights held in registers, one broadcast input a pixel:
// the instruction's own limit, "the VPDPBUSD limit"), and 8 accumulators each
// reading its 64 weight bytes from L1 (what this tool measured alone before: on
// Sapphire Rapids the loads cap it at 2/3 of the register rate), and the avx512
// tier's dense strip step with and without its next-chunk prefetches.
// AVX2: VPMADDUBSW, VPMADDWD by ones, VPADDD (ptqc's avx2 u8 path); with AVX-512 VNNI
// also VPDPBUSD on ymm and zmm. The loops are inline assembly: compiled C spilled the
// accumulators to the stack and measured the store-forwarding latency instead.
//
//   gcc -O2 -o /tmp/u8limit tools/u8limit/limit.c && /tmp/u8limit
#include <stdio.h>
#include <time.h>

static double cpu(void) {
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

enum { N = 100000000, ROUNDS = 5 };
static unsigned char w[8 * 64] __attribute__((aligned(64)));

#define AVX2_STEP(k, t, acc) \
	"vpmaddubsw " #k "*32(%1), %%ymm0, %%ymm" #t "\n\t" \
	"vpmaddwd %%ymm1, %%ymm" #t ", %%ymm" #t "\n\t" \
	"vpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t"

__attribute__((target("avx2"))) static void avx2(long n) {
	__asm__ volatile(
		"vpcmpeqb %%ymm0, %%ymm0, %%ymm0\n\t"
		"vpabsb %%ymm0, %%ymm0\n\t" // a = 1
		"vpcmpeqw %%ymm1, %%ymm1, %%ymm1\n\t"
		"vpabsw %%ymm1, %%ymm1\n\t" // ones
		"1:\n\t"
		AVX2_STEP(0, 2, 8) AVX2_STEP(1, 3, 9) AVX2_STEP(2, 4, 10) AVX2_STEP(3, 5, 11)
		AVX2_STEP(4, 6, 12) AVX2_STEP(5, 7, 13) AVX2_STEP(6, 2, 14) AVX2_STEP(7, 3, 15)
		"dec %0\n\t"
		"jnz 1b\n\t"
		"vzeroupper\n\t"
		: "+r"(n)
		: "r"(w)
		: "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

#define VNNI_STEP(k, reg, acc) "vpdpbusd " #k "*32(%1), %%" #reg "0, %%" #reg #acc "\n\t"

__attribute__((target("avx512vnni,avx512vl,avx512f"))) static void vnni256(long n) {
	__asm__ volatile(
		"vpcmpeqb %%ymm0, %%ymm0, %%ymm0\n\t"
		"1:\n\t"
		VNNI_STEP(0, ymm, 8) VNNI_STEP(1, ymm, 9) VNNI_STEP(2, ymm, 10) VNNI_STEP(3, ymm, 11)
		VNNI_STEP(4, ymm, 12) VNNI_STEP(5, ymm, 13) VNNI_STEP(6, ymm, 14) VNNI_STEP(7, ymm, 15)
		"dec %0\n\t"
		"jnz 1b\n\t"
		"vzeroupper\n\t"
		: "+r"(n)
		: "r"(w)
		: "cc", "memory", "xmm0", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

// 12 accumulators: two VPDPBUSD a cycle at a latency of up to 6 cycles.
#define REG_STEP(reg, acc) "vpdpbusd %%" #reg "1, %%" #reg "0, %%" #reg #acc "\n\t"

// REG_LOOP is the loop of n iterations of 12 steps on reg (ymm or zmm), both
// operands all ones.
#define REG_LOOP(reg, n) \
	__asm__ volatile( \
		"vpternlogd $0xff, %%" #reg "0, %%" #reg "0, %%" #reg "0\n\t" \
		"vpternlogd $0xff, %%" #reg "1, %%" #reg "1, %%" #reg "1\n\t" \
		"1:\n\t" \
		REG_STEP(reg, 4) REG_STEP(reg, 5) REG_STEP(reg, 6) REG_STEP(reg, 7) \
		REG_STEP(reg, 8) REG_STEP(reg, 9) REG_STEP(reg, 10) REG_STEP(reg, 11) \
		REG_STEP(reg, 12) REG_STEP(reg, 13) REG_STEP(reg, 14) REG_STEP(reg, 15) \
		"dec %0\n\t" \
		"jnz 1b\n\t" \
		"vzeroupper\n\t" \
		: "+r"(n) \
		: \
		: "cc", "xmm0", "xmm1", "xmm4", "xmm5", "xmm6", "xmm7", \
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15")

__attribute__((target("avx512vnni,avx512vl,avx512f"))) static void vnni256reg(long n) { REG_LOOP(ymm, n); }

__attribute__((target("avx512vnni,avx512f"))) static void vnni512reg(long n) { REG_LOOP(zmm, n); }

#define ZMM_STEP(k, acc) "vpdpbusd " #k "*64(%1), %%zmm0, %%zmm" #acc "\n\t"

__attribute__((target("avx512vnni,avx512f"))) static void vnni512(long n) {
	__asm__ volatile(
		"vpternlogd $0xff, %%zmm0, %%zmm0, %%zmm0\n\t"
		"1:\n\t"
		ZMM_STEP(0, 8) ZMM_STEP(1, 9) ZMM_STEP(2, 10) ZMM_STEP(3, 11)
		ZMM_STEP(4, 12) ZMM_STEP(5, 13) ZMM_STEP(6, 14) ZMM_STEP(7, 15)
		"dec %0\n\t"
		"jnz 1b\n\t"
		"vzeroupper\n\t"
		: "+r"(n)
		: "r"(w)
		: "cc", "memory", "xmm0", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

// strip and stripPrefetch are the quad step of the avx512 tier's dense strips
// (asmgen's denseGen.quad): four units' 64 weight bytes loaded, six pixels' 4
// input bytes broadcast, each feeding four VPDPBUSD into 24 accumulators; 32 KB
// of weights walked in a loop, as a column chunk's. stripPrefetch adds a
// PREFETCHT1 of the line 64 KB on beside each weight load, as a strip that
// prefetches the next chunk does (lines already in the cache: the cost alone).
static unsigned char sw[(64 << 10) + (32 << 10)] __attribute__((aligned(64)));
static unsigned char sx[6 * 64] __attribute__((aligned(64)));

// STRIP_W loads unit j's weights of quad q into zmm z, after pf.
#define STRIP_W(q, j, z, pf) pf(q, j) "vmovdqu32 " #q "*256+" #j "*64(%1), %%zmm" #z "\n\t"
#define NO_PF(q, j) ""
#define PF(q, j) "prefetcht1 65536+" #q "*256+" #j "*64(%1)\n\t"
// STRIP_R broadcasts pixel r's input of quad q into four accumulators a..a+3.
#define STRIP_R(q, r, a0, a1, a2, a3) \
	"vpbroadcastd " #r "*64+" #q "*4(%2), %%zmm28\n\t" \
	"vpdpbusd %%zmm24, %%zmm28, %%zmm" #a0 "\n\t" \
	"vpdpbusd %%zmm25, %%zmm28, %%zmm" #a1 "\n\t" \
	"vpdpbusd %%zmm26, %%zmm28, %%zmm" #a2 "\n\t" \
	"vpdpbusd %%zmm27, %%zmm28, %%zmm" #a3 "\n\t"
#define STRIP_QUAD(q, pf) \
	STRIP_W(q, 0, 24, pf) STRIP_W(q, 1, 25, pf) STRIP_W(q, 2, 26, pf) STRIP_W(q, 3, 27, pf) \
	STRIP_R(q, 0, 0, 1, 2, 3) STRIP_R(q, 1, 4, 5, 6, 7) STRIP_R(q, 2, 8, 9, 10, 11) \
	STRIP_R(q, 3, 12, 13, 14, 15) STRIP_R(q, 4, 16, 17, 18, 19) STRIP_R(q, 5, 20, 21, 22, 23)

// STRIP_LOOP runs n quad steps, four a loop iteration, each prefetching by pf.
#define STRIP_LOOP(n, pf) \
	unsigned char *w = sw; \
	n /= 4; \
	__asm__ volatile( \
		"lea 32768(%1), %%r9\n\t" \
		"mov %1, %%r8\n\t" \
		"1:\n\t" \
		STRIP_QUAD(0, pf) STRIP_QUAD(1, pf) STRIP_QUAD(2, pf) STRIP_QUAD(3, pf) \
		"add $1024, %1\n\t" \
		"cmp %%r9, %1\n\t" \
		"cmovae %%r8, %1\n\t" \
		"dec %0\n\t" \
		"jnz 1b\n\t" \
		"vzeroupper\n\t" \
		: "+r"(n), "+r"(w) \
		: "r"(sx) \
		: "cc", "memory", "r8", "r9", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", \
		  "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28")

__attribute__((target("avx512vnni,avx512f"))) static void strip(long n) { STRIP_LOOP(n, NO_PF); }

__attribute__((target("avx512vnni,avx512f"))) static void stripPrefetch(long n) { STRIP_LOOP(n, PF); }

// report prints the rate of the best of ROUNDS runs of N iterations of steps steps of lanes multiply-adds.
static void report(const char *name, void (*f)(long), int steps, int lanes) {
	double best = 1e9;
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = cpu();
		f(N);
		double t = cpu() - t0;
		if (t < best) best = t;
	}
	printf("%-28s %6.1f G multiply-adds/s\n", name, (double)N * steps * lanes / best / 1e9);
}

int main(void) {
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2")) {
		fprintf(stderr, "u8limit: this CPU has no AVX2\n");
		return 1;
	}
	report("avx2 VPMADDUBSW+VPMADDWD", avx2, 8, 32);
	if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) {
		report("VPDPBUSD ymm", vnni256reg, 12, 32);
		report("VPDPBUSD zmm", vnni512reg, 12, 64);
		report("VPDPBUSD ymm, weights in L1", vnni256, 8, 32);
		report("VPDPBUSD zmm, weights in L1", vnni512, 8, 64);
		report("dense strip 6x4 (zmm)", strip, 24, 64);
		report("the same, PREFETCHT1s", stripPrefetch, 24, 64);
	} else {
		printf("(no AVX-512 VNNI here: VPDPBUSD not measured)\n");
	}
	return 0;
}
